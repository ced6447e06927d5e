//! Graph's own v1.0 schema (the CSDL in `graph/v1.0-Prod.csdl`), parsed once and used to
//! check every property a client writes.
//!
//! A hand-written list of user properties would drift from Graph and, worse, agree with
//! samla's own mistakes. The CSDL is what Graph's OData layer checks against, so the tenant
//! checks against it too: a property the schema lacks is refused, one it declares (on the
//! type or a base type: `user` derives from `directoryObject` derives from `entity`) is
//! accepted if its JSON value has the declared type, recursively through complex types such
//! as `passwordProfile` and `onPremisesExtensionAttributes`. Which declared properties are
//! required or read-only the CSDL does not say; [`super::rules`] holds those rules.
//!
//! The file is embedded in the binary (`include_str!`) and parsed on first use into owned
//! tables (about 3 MB of XML; the tables keep only structured types and enums).

use super::error::GraphError;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The CSDL text, as published in microsoftgraph/msgraph-metadata (see graph/README.md).
pub static CSDL: &str = include_str!("../../graph/v1.0-Prod.csdl");

/// The qualified names of the two entity types the tenant stores.
pub const USER: &str = "microsoft.graph.user";
pub const GROUP: &str = "microsoft.graph.group";

/// An EDM primitive type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edm {
    String,
    Boolean,
    Integer {
        min: i64,
        max: i64,
    },
    Floating,
    DateTimeOffset,
    Date,
    TimeOfDay,
    Duration,
    Guid,
    Binary,
    /// Stream, geography and the rest: the tenant never accepts a write of these.
    Other(String),
}

impl Edm {
    fn parse(name: &str) -> Edm {
        match name {
            "Edm.String" => Edm::String,
            "Edm.Boolean" => Edm::Boolean,
            "Edm.Byte" => Edm::Integer { min: 0, max: 255 },
            "Edm.SByte" => Edm::Integer { min: -128, max: 127 },
            "Edm.Int16" => Edm::Integer { min: i16::MIN.into(), max: i16::MAX.into() },
            "Edm.Int32" => Edm::Integer { min: i32::MIN.into(), max: i32::MAX.into() },
            "Edm.Int64" => Edm::Integer { min: i64::MIN, max: i64::MAX },
            "Edm.Double" | "Edm.Single" | "Edm.Decimal" => Edm::Floating,
            "Edm.DateTimeOffset" => Edm::DateTimeOffset,
            "Edm.Date" => Edm::Date,
            "Edm.TimeOfDay" => Edm::TimeOfDay,
            "Edm.Duration" => Edm::Duration,
            "Edm.Guid" => Edm::Guid,
            "Edm.Binary" => Edm::Binary,
            other => Edm::Other(other.to_string()),
        }
    }
}

/// What a property's (single or item) value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemType {
    Primitive(Edm),
    Enum(String),
    Complex(String),
    Entity(String),
}

/// A property's declared type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropType {
    /// The type as the CSDL writes it (`Collection(graph.assignedLicense)`), for messages.
    pub written: String,
    pub collection: bool,
    pub item: ItemType,
    pub nullable: bool,
}

/// One declared property (structural or navigation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub name: String,
    pub ty: PropType,
    pub navigation: bool,
}

/// An entity or complex type with its own (not inherited) properties.
#[derive(Debug, Clone)]
pub struct StructuredType {
    pub name: String,
    pub base: Option<String>,
    pub open: bool,
    pub entity: bool,
    pub properties: Vec<Property>,
}

/// The parsed schema: structured types and enums by qualified name.
#[derive(Debug)]
pub struct Schema {
    types: HashMap<String, StructuredType>,
    enums: HashMap<String, Vec<String>>,
}

/// The schema could not be read (a broken embedded file: a build problem, not user input).
#[derive(Debug, Clone, thiserror::Error)]
#[error("Graph schema (graph/v1.0-Prod.csdl): {0}")]
pub struct SchemaError(pub String);

static SCHEMA: OnceLock<Result<Schema, SchemaError>> = OnceLock::new();

/// The schema of the embedded CSDL, parsed on first use.
pub fn graph_schema() -> Result<&'static Schema, SchemaError> {
    SCHEMA.get_or_init(|| Schema::parse(CSDL)).as_ref().map_err(Clone::clone)
}

impl Schema {
    /// Parses CSDL text, resolving each schema's alias (`graph.` is `microsoft.graph.`).
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        let doc = roxmltree::Document::parse(text).map_err(|e| SchemaError(e.to_string()))?;
        let schemas: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("Schema")).collect();
        let mut aliases: HashMap<String, String> = HashMap::new();
        for s in &schemas {
            if let (Some(ns), Some(alias)) = (s.attribute("Namespace"), s.attribute("Alias")) {
                aliases.insert(alias.to_string(), ns.to_string());
            }
        }
        let qualify = |name: &str| -> String {
            match name.split_once('.') {
                Some((prefix, rest)) if aliases.contains_key(prefix) => {
                    format!("{}.{rest}", aliases.get(prefix).map(String::as_str).unwrap_or(prefix))
                }
                _ => name.to_string(),
            }
        };
        let mut types = HashMap::new();
        let mut enums = HashMap::new();
        let mut raw_props: Vec<(String, String, String, bool, bool)> = Vec::new();
        for s in &schemas {
            let Some(ns) = s.attribute("Namespace") else { continue };
            for t in s.children().filter(roxmltree::Node::is_element) {
                let Some(name) = t.attribute("Name") else { continue };
                let qualified = format!("{ns}.{name}");
                match t.tag_name().name() {
                    "EnumType" => {
                        let members = t
                            .children()
                            .filter(|m| m.has_tag_name("Member"))
                            .filter_map(|m| m.attribute("Name").map(str::to_string))
                            .collect();
                        enums.insert(qualified, members);
                    }
                    kind @ ("EntityType" | "ComplexType") => {
                        for p in
                            t.children().filter(|p| p.has_tag_name("Property") || p.has_tag_name("NavigationProperty"))
                        {
                            if let (Some(pn), Some(pt)) = (p.attribute("Name"), p.attribute("Type")) {
                                raw_props.push((
                                    qualified.clone(),
                                    pn.to_string(),
                                    pt.to_string(),
                                    p.attribute("Nullable") != Some("false"),
                                    p.has_tag_name("NavigationProperty"),
                                ));
                            }
                        }
                        types.insert(
                            qualified.clone(),
                            StructuredType {
                                name: qualified,
                                base: t.attribute("BaseType").map(&qualify),
                                open: t.attribute("OpenType") == Some("true"),
                                entity: kind == "EntityType",
                                properties: Vec::new(),
                            },
                        );
                    }
                    _ => {}
                }
            }
        }
        for (owner, name, written, nullable, navigation) in raw_props {
            let (collection, inner) = match written.strip_prefix("Collection(").and_then(|r| r.strip_suffix(')')) {
                Some(inner) => (true, inner.to_string()),
                None => (false, written.clone()),
            };
            let item = if inner.starts_with("Edm.") {
                ItemType::Primitive(Edm::parse(&inner))
            } else {
                let q = qualify(&inner);
                if enums.contains_key(&q) {
                    ItemType::Enum(q)
                } else if types.get(&q).is_some_and(|t: &StructuredType| t.entity) {
                    ItemType::Entity(q)
                } else {
                    ItemType::Complex(q)
                }
            };
            let property = Property { name, ty: PropType { written, collection, item, nullable }, navigation };
            if let Some(t) = types.get_mut(&owner) {
                t.properties.push(property);
            }
        }
        let schema = Schema { types, enums };
        for required in [USER, GROUP] {
            if !schema.types.contains_key(required) {
                return Err(SchemaError(format!("entity type {required} is missing")));
            }
        }
        Ok(schema)
    }

    pub fn structured(&self, name: &str) -> Option<&StructuredType> {
        self.types.get(name)
    }

    /// The type and its base types, most derived first.
    pub fn lineage(&self, name: &str) -> Vec<&StructuredType> {
        let mut out = Vec::new();
        let mut next = self.types.get(name);
        while let Some(t) = next {
            if out.len() > 32 {
                break;
            }
            out.push(t);
            next = t.base.as_deref().and_then(|b| self.types.get(b));
        }
        out
    }

    /// A property declared on the type or inherited from a base type.
    pub fn property(&self, type_name: &str, property: &str) -> Option<&Property> {
        self.lineage(type_name).into_iter().find_map(|t| t.properties.iter().find(|p| p.name == property))
    }

    /// Whether `derived` is `base` or derives from it.
    pub fn derives_from(&self, derived: &str, base: &str) -> bool {
        self.lineage(derived).iter().any(|t| t.name == base)
    }

    /// Checks a JSON object written to an entity type: every key must be a declared
    /// structural property with a value of its type. Keys with `@` (annotations) are the
    /// caller's business and must have been removed. Navigation properties are refused.
    pub fn check_entity_write(&self, type_name: &str, body: &Map<String, Value>) -> Result<(), GraphError> {
        for (key, value) in body {
            let Some(p) = self.property(type_name, key) else {
                return Err(GraphError::unknown_property(key));
            };
            if p.navigation {
                return Err(GraphError::bad_request(format!(
                    "Property '{key}' is a navigation property and cannot be set in this request; use its $ref endpoint."
                )));
            }
            self.check_value(key, &p.ty, value)?;
        }
        Ok(())
    }

    /// Checks one value against a declared type.
    pub fn check_value(&self, name: &str, ty: &PropType, value: &Value) -> Result<(), GraphError> {
        if value.is_null() {
            if ty.nullable && !ty.collection {
                return Ok(());
            }
            let shown = if ty.collection { format!("{}[Nullable=False]", ty.written) } else { ty.written.clone() };
            return Err(GraphError::odata(format!(
                "A null value was found for the property named '{name}', which has the expected type '{shown}'. The expected type '{shown}' does not allow null values."
            )));
        }
        if ty.collection {
            let Value::Array(items) = value else {
                return Err(unexpected_node(name, value, "StartArray"));
            };
            let item_ty = PropType { collection: false, nullable: false, ..ty.clone() };
            return items.iter().try_for_each(|item| self.check_value(name, &item_ty, item));
        }
        match &ty.item {
            ItemType::Primitive(edm) => check_primitive(name, edm, value),
            ItemType::Enum(enum_name) => {
                let members = self.enums.get(enum_name).map(Vec::as_slice).unwrap_or_default();
                match value {
                    Value::String(s) if s.split(',').all(|part| members.iter().any(|m| m == part.trim())) => Ok(()),
                    Value::String(s) => Err(GraphError::odata(format!(
                        "The value '{s}' is not valid for the enum type '{enum_name}' of property '{name}'."
                    ))),
                    other => Err(unexpected_node(name, other, "PrimitiveValue")),
                }
            }
            ItemType::Complex(complex) => {
                let Value::Object(obj) = value else {
                    return Err(unexpected_node(name, value, "StartObject"));
                };
                self.check_complex(complex, obj)
            }
            ItemType::Entity(_) => Err(GraphError::bad_request(format!(
                "Property '{name}' is a navigation property and cannot be set in this request; use its $ref endpoint."
            ))),
        }
    }

    /// A complex value: an `@odata.type` may name a derived type; other keys must be declared
    /// (complex types are closed unless the CSDL marks them open).
    fn check_complex(&self, declared: &str, obj: &Map<String, Value>) -> Result<(), GraphError> {
        let mut actual = declared.to_string();
        if let Some(t) = obj.get("@odata.type") {
            let named = t.as_str().unwrap_or_default().trim_start_matches('#');
            if !self.derives_from(named, declared) {
                return Err(GraphError::odata(format!(
                    "A type named '{named}' could not be resolved by the model, or is not derived from '{declared}'."
                )));
            }
            actual = named.to_string();
        }
        let open = self.lineage(&actual).iter().any(|t| t.open);
        for (key, value) in obj.iter().filter(|(k, _)| k.as_str() != "@odata.type") {
            match self.property(&actual, key) {
                Some(p) => self.check_value(key, &p.ty, value)?,
                None if open && !key.contains('@') => {}
                None => {
                    return Err(GraphError::odata(format!(
                        "The property '{key}' does not exist on type '{actual}'. Make sure to only use property names that are defined by the type or mark the type as open type."
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The OData reader's complaint about a JSON node of the wrong kind.
fn unexpected_node(name: &str, value: &Value, expected: &str) -> GraphError {
    let found = match value {
        Value::Array(_) => "StartArray",
        Value::Object(_) => "StartObject",
        _ => "PrimitiveValue",
    };
    GraphError::odata(format!(
        "An unexpected '{found}' node was found for property named '{name}' when reading from the JSON reader. A '{expected}' node was expected."
    ))
}

fn check_primitive(name: &str, edm: &Edm, value: &Value) -> Result<(), GraphError> {
    let literal = || match value {
        Value::String(s) => s.chars().take(100).collect(),
        other => other.to_string().chars().take(100).collect::<String>(),
    };
    if matches!(value, Value::Array(_) | Value::Object(_)) {
        return Err(unexpected_node(name, value, "PrimitiveValue"));
    }
    let ok = match edm {
        Edm::String => value.is_string(),
        Edm::Boolean => value.is_boolean(),
        Edm::Integer { min, max } => value.as_i64().is_some_and(|v| (*min..=*max).contains(&v)),
        Edm::Floating => value.is_number(),
        Edm::DateTimeOffset => value.as_str().is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        Edm::Date => value.as_str().is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()),
        Edm::TimeOfDay => value.as_str().is_some_and(|s| chrono::NaiveTime::parse_from_str(s, "%H:%M:%S%.f").is_ok()),
        Edm::Duration => value.as_str().is_some_and(|s| s.trim_start_matches('-').starts_with('P')),
        Edm::Guid => value.as_str().is_some_and(|s| s.parse::<super::ids::Guid>().is_ok()),
        Edm::Binary => value.as_str().is_some_and(|s| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(s).is_ok()
        }),
        Edm::Other(_) => false,
    };
    if ok {
        return Ok(());
    }
    let expected = match edm {
        Edm::String => "Edm.String".to_string(),
        Edm::Boolean => "Edm.Boolean".to_string(),
        Edm::Integer { max, .. } if *max == i64::from(i32::MAX) => "Edm.Int32".to_string(),
        Edm::Integer { .. } => "Edm.Int64".to_string(),
        Edm::Floating => "Edm.Double".to_string(),
        Edm::DateTimeOffset => "Edm.DateTimeOffset".to_string(),
        Edm::Date => "Edm.Date".to_string(),
        Edm::TimeOfDay => "Edm.TimeOfDay".to_string(),
        Edm::Duration => "Edm.Duration".to_string(),
        Edm::Guid => "Edm.Guid".to_string(),
        Edm::Binary => "Edm.Binary".to_string(),
        Edm::Other(o) => o.clone(),
    };
    Err(GraphError::wrong_type(&literal(), &expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(type_name: &str, body: Value) -> Result<(), GraphError> {
        let schema = graph_schema().unwrap();
        schema.check_entity_write(type_name, body.as_object().unwrap())
    }

    #[test]
    fn user_inherits_from_directory_object_and_entity() {
        let schema = graph_schema().unwrap();
        let names: Vec<_> = schema.lineage(USER).iter().map(|t| t.name.clone()).collect();
        assert_eq!(names, ["microsoft.graph.user", "microsoft.graph.directoryObject", "microsoft.graph.entity"]);
        assert!(schema.property(USER, "deletedDateTime").is_some(), "inherited from directoryObject");
        assert!(schema.property(USER, "id").is_some(), "inherited from entity");
        assert!(schema.property(USER, "manager").is_some_and(|p| p.navigation));
        // The security schema also has a `user` type; aliases must not mix them up.
        assert!(schema.property("microsoft.graph.security.user", "officeLocation").is_none());
    }

    #[test]
    fn values_are_checked_against_declared_types() {
        assert!(
            check(USER, json!({"officeLocation": "Bjuv", "accountEnabled": true, "businessPhones": ["1"]})).is_ok()
        );
        assert!(check(USER, json!({"favouriteColour": "blue"})).unwrap_err().message.contains("favouriteColour"));
        assert!(check(USER, json!({"accountEnabled": "yes"})).unwrap_err().message.contains("Edm.Boolean"));
        assert!(check(USER, json!({"businessPhones": "1"})).unwrap_err().message.contains("StartArray"));
        assert!(check(USER, json!({"businessPhones": null})).is_err());
        assert!(check(USER, json!({"displayName": {"a": 1}})).is_err());
        assert!(
            check(USER, json!({"passwordProfile": {"password": "x", "forceChangePasswordNextSignIn": true}})).is_ok()
        );
        let e = check(USER, json!({"passwordProfile": {"pasword": "x"}})).unwrap_err();
        assert!(e.message.contains("microsoft.graph.passwordProfile"), "{e:?}");
        assert!(check(USER, json!({"passwordProfile": {"forceChangePasswordNextSignIn": "true"}})).is_err());
        assert!(check(USER, json!({"onPremisesExtensionAttributes": {"extensionAttribute15": "x"}})).is_ok());
        assert!(check(USER, json!({"onPremisesExtensionAttributes": {"extensionAttribute16": "x"}})).is_err());
        assert!(check(USER, json!({"employeeHireDate": "2024-01-01T00:00:00Z"})).is_ok());
        assert!(check(USER, json!({"employeeHireDate": "yesterday"})).is_err());
        assert!(check(GROUP, json!({"groupTypes": ["Unified"], "securityEnabled": false})).is_ok());
        assert!(check(GROUP, json!({"groupTypes": [1]})).is_err());
    }
}
