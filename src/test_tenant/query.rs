//! OData query options: `$select`, `$filter`, `$top`, `$skiptoken`. Pure parsing and matching.
//!
//! samla looks objects up by the properties it anchors on (onPremisesImmutableId,
//! userPrincipalName, mailNickname, employeeId), so `$filter` supports `eq`, `in` (at most 15
//! values, as Graph) and `startswith` on those and a few more, joined with `and`/`or`. A
//! filter on any other property, or with any other operator, is refused with Graph's
//! `Request_UnsupportedQuery`, even where Graph would accept it with `ConsistencyLevel:
//! eventual` (stricter than Graph: samla does not use advanced queries). String comparison is
//! case-insensitive, as in the directory. On `proxyAddresses` (users and groups) the lambda
//! `proxyAddresses/any(x:x eq 'smtp:a@b.se')` (any variable name) is supported, at most 15 of
//! them `or`-ed in one filter (Graph's limit of 15 expressions in a filter clause); other
//! operators inside the lambda, `all`, and a lambda on another property are refused.

use super::error::GraphError;
use super::rules::Kind;
use super::schema::Schema;
use serde_json::Value;

/// Graph's default page size for directory collections.
pub const DEFAULT_PAGE: usize = 100;
/// The largest `$top` for directory collections.
pub const MAX_PAGE: usize = 999;
/// The most values an `in` clause may list.
pub const MAX_IN_VALUES: usize = 15;

/// A literal in a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Bool(bool),
    Null,
}

/// A parsed `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Or(Vec<Filter>),
    And(Vec<Filter>),
    Eq(String, Literal),
    In(String, Vec<Literal>),
    StartsWith(String, String),
    /// `collection/any(x:x eq 'value')` on a collection of strings.
    Any(String, String),
}

/// The parsed query options of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub select: Option<Vec<String>>,
    pub filter: Option<Filter>,
    pub top: Option<usize>,
    pub skiptoken: Option<String>,
}

impl Query {
    /// Parses a raw query string (percent-encoded).
    pub fn parse(raw: &str) -> Result<Query, GraphError> {
        let mut q = Query::default();
        for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            match key.as_ref() {
                "$select" => {
                    let names: Vec<String> =
                        value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                    q.select = Some(names);
                }
                "$filter" => q.filter = Some(parse_filter(&value)?),
                "$top" => {
                    let n = value.trim().parse::<usize>().ok().filter(|n| (1..=MAX_PAGE).contains(n));
                    q.top = Some(n.ok_or_else(|| {
                        GraphError::bad_request(format!(
                            "Invalid page size specified: '{value}'. Must be between 1 and {MAX_PAGE} inclusive."
                        ))
                    })?);
                }
                "$skiptoken" => q.skiptoken = Some(value.into_owned()),
                "$skip" => return Err(GraphError::bad_request("'$skip' is not supported by the service.")),
                other if other.starts_with('$') => {
                    return Err(GraphError::not_supported_here(&format!("The query option '{other}'")));
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// The page size to use.
    pub fn page_size(&self) -> usize {
        self.top.unwrap_or(DEFAULT_PAGE)
    }
}

/// Checks `$select` names against the schema: structural properties of the type only.
pub fn check_select(schema: &Schema, kind: Kind, names: &[String]) -> Result<(), GraphError> {
    for name in names {
        if schema.property(kind.type_name(), name).is_none_or(|p| p.navigation) {
            return Err(GraphError::odata(format!(
                "Could not find a property named '{name}' on type '{}'.",
                kind.type_name()
            )));
        }
    }
    Ok(())
}

/// Which properties may be filtered on, and how: (name, eq/in, startswith).
fn filterable(kind: Kind) -> &'static [(&'static str, bool, bool)] {
    match kind {
        Kind::User => &[
            ("id", true, false),
            ("userPrincipalName", true, true),
            ("mailNickname", true, true),
            ("onPremisesImmutableId", true, false),
            ("employeeId", true, true),
            ("displayName", true, true),
            ("givenName", true, true),
            ("surname", true, true),
            ("mail", true, true),
            ("accountEnabled", true, false),
        ],
        Kind::Group => &[
            ("id", true, false),
            ("displayName", true, true),
            ("mailNickname", true, true),
            ("mail", true, true),
            ("securityEnabled", true, false),
            ("mailEnabled", true, false),
        ],
    }
}

/// The `any` lambdas in a filter.
fn lambdas(filter: &Filter) -> usize {
    match filter {
        Filter::Or(parts) | Filter::And(parts) => parts.iter().map(lambdas).sum(),
        Filter::Any(..) => 1,
        _ => 0,
    }
}

/// Refuses a filter on a property or with an operator the tenant does not support for `kind`.
pub fn check_filter(kind: Kind, filter: &Filter) -> Result<(), GraphError> {
    let n = lambdas(filter);
    if n > MAX_IN_VALUES {
        return Err(GraphError::bad_request(format!(
            "Too many expressions in the filter clause: {n} given, at most {MAX_IN_VALUES} are allowed."
        )));
    }
    check_clauses(kind, filter)
}

fn check_clauses(kind: Kind, filter: &Filter) -> Result<(), GraphError> {
    let unsupported = |p: &str| {
        GraphError::new(
            400,
            "Request_UnsupportedQuery",
            format!(
                "Unsupported or invalid query filter clause specified for property '{p}' of resource '{}'.",
                kind.resource()
            ),
        )
    };
    let allowed = |p: &str, starts: bool| {
        filterable(kind).iter().any(|(name, eq, sw)| *name == p && if starts { *sw } else { *eq })
    };
    match filter {
        Filter::Or(parts) | Filter::And(parts) => parts.iter().try_for_each(|f| check_clauses(kind, f)),
        Filter::Eq(p, _) | Filter::In(p, _) if allowed(p, false) => Ok(()),
        Filter::StartsWith(p, _) if allowed(p, true) => Ok(()),
        Filter::Any(p, _) if p == "proxyAddresses" => Ok(()),
        Filter::Eq(p, _) | Filter::In(p, _) | Filter::StartsWith(p, _) | Filter::Any(p, _) => Err(unsupported(p)),
    }
}

/// Whether an object (its properties read through `get`) matches a filter.
pub fn matches(filter: &Filter, get: &dyn Fn(&str) -> Option<Value>) -> bool {
    let equal = |p: &str, lit: &Literal| match (get(p), lit) {
        (None | Some(Value::Null), Literal::Null) => true,
        (Some(Value::String(s)), Literal::Str(l)) => s.to_lowercase() == l.to_lowercase(),
        (Some(Value::Bool(b)), Literal::Bool(l)) => b == *l,
        _ => false,
    };
    match filter {
        Filter::Or(parts) => parts.iter().any(|f| matches(f, get)),
        Filter::And(parts) => parts.iter().all(|f| matches(f, get)),
        Filter::Eq(p, lit) => equal(p, lit),
        Filter::In(p, lits) => lits.iter().any(|l| equal(p, l)),
        Filter::StartsWith(p, prefix) => get(p)
            .and_then(|v| v.as_str().map(str::to_lowercase))
            .is_some_and(|s| s.starts_with(&prefix.to_lowercase())),
        Filter::Any(p, value) => get(p)
            .and_then(|v| v.as_array().cloned())
            .is_some_and(|items| items.iter().any(|i| i.as_str().is_some_and(|s| s.eq_ignore_ascii_case(value)))),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Open,
    Close,
    Comma,
    Colon,
}

fn syntax(text: &str, at: usize) -> GraphError {
    GraphError::odata(format!("Invalid filter clause: Syntax error at position {at} in '{text}'."))
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, GraphError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push((i, Token::Open));
                i += 1;
            }
            ')' => {
                out.push((i, Token::Close));
                i += 1;
            }
            ',' => {
                out.push((i, Token::Comma));
                i += 1;
            }
            ':' => {
                out.push((i, Token::Colon));
                i += 1;
            }
            '\'' => {
                let start = i;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(syntax(text, start)),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push((start, Token::Str(s)));
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' || c == '/' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || "_./".contains(chars[i])) {
                    i += 1;
                }
                out.push((start, Token::Ident(chars[start..i].iter().collect())));
            }
            _ => return Err(syntax(text, i)),
        }
    }
    Ok(out)
}

/// Parses `a or b`, `a and b`, `p eq 'v'`, `p in ('v', ...)`, `startswith(p, 'v')`, with
/// parentheses. `and` binds tighter than `or`.
pub fn parse_filter(text: &str) -> Result<Filter, GraphError> {
    let tokens = tokenize(text)?;
    let mut p = Parser { text, tokens, pos: 0 };
    let f = p.or()?;
    if p.pos != p.tokens.len() {
        return Err(syntax(text, p.at()));
    }
    Ok(f)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<(usize, Token)>,
    pos: usize,
}

impl Parser<'_> {
    fn at(&self) -> usize {
        self.tokens.get(self.pos).map(|(i, _)| *i).unwrap_or(self.text.chars().count())
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, t: Token) -> Result<(), GraphError> {
        let at = self.at();
        if self.next() == Some(t) { Ok(()) } else { Err(syntax(self.text, at)) }
    }

    fn or(&mut self) -> Result<Filter, GraphError> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Filter::Or(parts) })
    }

    fn and(&mut self) -> Result<Filter, GraphError> {
        let mut parts = vec![self.term()?];
        while self.keyword("and") {
            self.pos += 1;
            parts.push(self.term()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Filter::And(parts) })
    }

    fn literal(&mut self) -> Result<Literal, GraphError> {
        let at = self.at();
        match self.next() {
            Some(Token::Str(s)) => Ok(Literal::Str(s)),
            Some(Token::Ident(w)) if w == "true" => Ok(Literal::Bool(true)),
            Some(Token::Ident(w)) if w == "false" => Ok(Literal::Bool(false)),
            Some(Token::Ident(w)) if w == "null" => Ok(Literal::Null),
            _ => Err(syntax(self.text, at)),
        }
    }

    /// `collection/any(x:x eq 'value')`; `all`, or another operator inside, is refused.
    fn lambda(&mut self, path: &str) -> Result<Filter, GraphError> {
        let unsupported = |what: &str| {
            GraphError::new(
                400,
                "Request_UnsupportedQuery",
                format!("Unsupported or invalid query filter clause specified for property '{path}' ({what})."),
            )
        };
        let Some((prop, op)) = path.split_once('/') else { return Err(syntax(self.text, self.at())) };
        if !op.eq_ignore_ascii_case("any") {
            return Err(unsupported(&format!("lambda operator '{op}'")));
        }
        self.expect(Token::Open)?;
        let at = self.at();
        let Some(Token::Ident(var)) = self.next() else { return Err(syntax(self.text, at)) };
        self.expect(Token::Colon)?;
        let at = self.at();
        if self.next() != Some(Token::Ident(var.clone())) {
            return Err(syntax(self.text, at));
        }
        let at = self.at();
        match self.next() {
            Some(Token::Ident(op)) if op == "eq" => {}
            Some(Token::Ident(op)) => return Err(unsupported(&format!("operator '{op}' in a lambda"))),
            _ => return Err(syntax(self.text, at)),
        }
        let at = self.at();
        let Some(Token::Str(value)) = self.next() else { return Err(syntax(self.text, at)) };
        self.expect(Token::Close)?;
        Ok(Filter::Any(prop.to_string(), value))
    }

    fn term(&mut self) -> Result<Filter, GraphError> {
        let at = self.at();
        match self.next() {
            Some(Token::Open) => {
                let f = self.or()?;
                self.expect(Token::Close)?;
                Ok(f)
            }
            Some(Token::Ident(f)) if f.eq_ignore_ascii_case("startswith") => {
                self.expect(Token::Open)?;
                let at = self.at();
                let Some(Token::Ident(prop)) = self.next() else { return Err(syntax(self.text, at)) };
                self.expect(Token::Comma)?;
                let at = self.at();
                let Some(Token::Str(prefix)) = self.next() else { return Err(syntax(self.text, at)) };
                self.expect(Token::Close)?;
                Ok(Filter::StartsWith(prop, prefix))
            }
            Some(Token::Ident(path)) if path.contains('/') => self.lambda(&path),
            Some(Token::Ident(prop)) => {
                let at = self.at();
                match self.next() {
                    Some(Token::Ident(op)) if op == "eq" => Ok(Filter::Eq(prop, self.literal()?)),
                    Some(Token::Ident(op)) if op == "in" => {
                        self.expect(Token::Open)?;
                        let mut values = vec![self.literal()?];
                        while self.peek() == Some(&Token::Comma) {
                            self.pos += 1;
                            values.push(self.literal()?);
                        }
                        self.expect(Token::Close)?;
                        if values.len() > MAX_IN_VALUES {
                            return Err(GraphError::bad_request(format!(
                                "Too many values in the 'in' clause: {} given, at most {MAX_IN_VALUES} are allowed.",
                                values.len()
                            )));
                        }
                        Ok(Filter::In(prop, values))
                    }
                    Some(Token::Ident(op)) if ["ne", "gt", "ge", "lt", "le", "not", "has"].contains(&op.as_str()) => {
                        Err(GraphError::new(
                            400,
                            "Request_UnsupportedQuery",
                            format!(
                                "Unsupported or invalid query filter clause specified for property '{prop}' (operator '{op}')."
                            ),
                        ))
                    }
                    _ => Err(syntax(self.text, at)),
                }
            }
            _ => Err(syntax(self.text, at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_lookups_samla_makes() {
        assert_eq!(
            parse_filter("onPremisesImmutableId eq 'AAEC+/8='").unwrap(),
            Filter::Eq("onPremisesImmutableId".into(), Literal::Str("AAEC+/8=".into()))
        );
        assert_eq!(
            parse_filter("userPrincipalName eq 'o''brien@bjuv.se'").unwrap(),
            Filter::Eq("userPrincipalName".into(), Literal::Str("o'brien@bjuv.se".into()))
        );
        let f = parse_filter("startswith(displayName,'Ås') and accountEnabled eq true or mailNickname in ('a','b')")
            .unwrap();
        assert!(matches!(f, Filter::Or(ref parts) if parts.len() == 2));
        assert!(parse_filter("displayName eq").is_err());
        assert!(parse_filter("displayName eq 'x").is_err());
        assert!(parse_filter("(displayName eq 'x'").is_err());
        assert_eq!(parse_filter("displayName ne 'x'").unwrap_err().code, "Request_UnsupportedQuery");
        let sixteen = (0..16).map(|i| format!("'{i}'")).collect::<Vec<_>>().join(",");
        assert!(parse_filter(&format!("mailNickname in ({sixteen})")).is_err());
    }

    #[test]
    fn matching_is_case_insensitive() {
        let obj = json!({"userPrincipalName": "Asa.Oberg@bjuv.se", "accountEnabled": true});
        let get = |p: &str| obj.get(p).cloned();
        assert!(matches(&parse_filter("userPrincipalName eq 'asa.oberg@BJUV.se'").unwrap(), &get));
        assert!(matches(&parse_filter("startswith(userPrincipalName,'asa.')").unwrap(), &get));
        assert!(matches(&parse_filter("employeeId eq null").unwrap(), &get));
        assert!(!matches(&parse_filter("accountEnabled eq false").unwrap(), &get));
    }

    proptest::proptest! {
        #[test]
        fn no_query_string_panics(raw in ".{0,80}", filter in "[a-zA-Z()', =%+]{0,60}") {
            let _ = Query::parse(&raw);
            let _ = Query::parse(&format!("$filter={filter}&$top={raw}&$skiptoken={raw}"));
            if let Ok(f) = parse_filter(&filter) {
                let _ = check_filter(Kind::User, &f);
                let _ = matches(&f, &|_| None);
            }
        }
    }

    #[test]
    fn an_any_lambda_on_proxy_addresses_matches_one_address_case_insensitively() {
        let f =
            parse_filter("proxyAddresses/any(x:x eq 'smtp:Asa@bjuv.se') or proxyAddresses/any(p:p eq 'smtp:b@c.se')")
                .unwrap();
        assert_eq!(
            f,
            Filter::Or(vec![
                Filter::Any("proxyAddresses".into(), "smtp:Asa@bjuv.se".into()),
                Filter::Any("proxyAddresses".into(), "smtp:b@c.se".into()),
            ])
        );
        assert!(check_filter(Kind::User, &f).is_ok() && check_filter(Kind::Group, &f).is_ok());
        let obj = json!({"proxyAddresses": ["SMTP:asa@BJUV.se", "smtp:x@y.se"]});
        assert!(matches(&f, &|p: &str| obj.get(p).cloned()));
        assert!(!matches(&parse_filter("proxyAddresses/any(x:x eq 'smtp:no@bjuv.se')").unwrap(), &|p: &str| {
            obj.get(p).cloned()
        }));
        // Graph's errors for the forms it does not take.
        assert!(parse_filter("proxyAddresses/any(x:y eq 'smtp:a@b.se')").is_err());
        assert_eq!(parse_filter("proxyAddresses/any(x:x ne 'a')").unwrap_err().code, "Request_UnsupportedQuery");
        assert_eq!(parse_filter("proxyAddresses/all(x:x eq 'a')").unwrap_err().code, "Request_UnsupportedQuery");
        let not_a_collection = parse_filter("mail/any(x:x eq 'a@b.se')").unwrap();
        assert_eq!(check_filter(Kind::User, &not_a_collection).unwrap_err().code, "Request_UnsupportedQuery");
        let sixteen = (0..16).map(|i| format!("proxyAddresses/any(x:x eq 'smtp:{i}@b.se')")).collect::<Vec<_>>();
        let e = check_filter(Kind::User, &parse_filter(&sixteen.join(" or ")).unwrap()).unwrap_err();
        assert!(e.message.contains("15"), "{}", e.message);
        assert!(check_filter(Kind::User, &parse_filter(&sixteen[..15].join(" or ")).unwrap()).is_ok());
    }

    #[test]
    fn only_supported_properties_filter() {
        let f = parse_filter("jobTitle eq 'x'").unwrap();
        assert_eq!(check_filter(Kind::User, &f).unwrap_err().code, "Request_UnsupportedQuery");
        assert!(check_filter(Kind::User, &parse_filter("employeeId eq '1'").unwrap()).is_ok());
        assert!(check_filter(Kind::User, &parse_filter("startswith(onPremisesImmutableId,'a')").unwrap()).is_err());
        let q = Query::parse("$top=1000").unwrap_err();
        assert!(q.message.contains("Invalid page size"));
        let q = Query::parse("%24select=id,displayName&%24top=5").unwrap();
        assert_eq!(q.select.unwrap(), ["id", "displayName"]);
        assert_eq!(q.top, Some(5));
    }
}
