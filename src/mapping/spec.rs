//! The mapping files: `mappings/target.toml` (the shared target) and one
//! `mappings/<municipality>.toml` per municipality (how its attributes flow into the shared
//! schema, how its people's units and kinds are derived, what is in scope).
//!
//! They are read like `samla.toml`: serde reads the shape and refuses unknown keys with their
//! line, then [`load`] checks what serde cannot (an attribute that does not exist, a template
//! naming one, a lookup table that is not defined, a kind or licence class not declared) and
//! reports each with file, line and column, so a mistake is found before anything is mapped.

use super::privacy::PrivacyPolicy;
use super::transform::{Template, Transform, parse_template};
use crate::error::{Classified, ExitClass};
use crate::model::AccountKind;
use crate::model::convert::extension_attribute_number;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The source attributes a flow, template or rule may read (AD names, case as AD writes them),
/// besides `extensionAttribute1` to `extensionAttribute15` (see [`is_source_attribute`]).
pub const SOURCE_ATTRIBUTES: &[&str] = &[
    "cn",
    "sAMAccountName",
    "userPrincipalName",
    "givenName",
    "sn",
    "displayName",
    "mail",
    "department",
    "company",
    "title",
    "description",
    "employeeID",
    "employeeNumber",
];

/// The shared schema's attributes a flow may write (Graph's names for a user; the shared AD
/// gets the same values under its own names), besides `extensionAttribute1` to `15`.
pub const TARGET_ATTRIBUTES: &[&str] = &[
    "givenName",
    "surname",
    "displayName",
    "jobTitle",
    "department",
    "companyName",
    "employeeId",
    "employeeType",
    "officeLocation",
    "mail",
];

pub fn is_source_attribute(name: &str) -> bool {
    SOURCE_ATTRIBUTES.contains(&name) || extension_attribute_number(name).is_some()
}

pub fn is_target_attribute(name: &str) -> bool {
    TARGET_ATTRIBUTES.contains(&name) || extension_attribute_number(name).is_some()
}

/// What to do with same-named groups of several municipalities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupPolicy {
    /// One group in the target with everyone's members.
    Merge,
    /// One group per municipality, named with the municipality's prefix.
    Prefix,
    /// One group per municipality under its own name; name collisions get suffixes.
    Separate,
}

/// mappings/target.toml, validated.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    pub file: PathBuf,
    pub verified_domains: Vec<String>,
    /// The UPN domain per account kind; `default` otherwise.
    pub upn_domain: BTreeMap<AccountKind, String>,
    pub default_upn_domain: String,
    /// `[names]`: the templates of every kind that has none of its own.
    pub names: NameTemplates,
    /// `[names.by_kind.<kind>]` over the defaults: a kind's own templates.
    pub names_by_kind: BTreeMap<AccountKind, NameTemplates>,
    /// Appended to a colliding name: `{n}` is the counter (2, 3, ...), `{municipality}` the name.
    pub collision_suffix: String,
    /// Municipalities in priority order: the first keeps the plain name in a collision.
    pub priority: Vec<String>,
    pub match_keys: Vec<String>,
    pub overrides: Option<PathBuf>,
    pub group_default: GroupPolicy,
    pub group_rules: BTreeMap<String, GroupPolicy>,
    pub privacy_policy: PrivacyPolicy,
    pub hash_key_env: Option<String>,
    /// Attribute -> why it may go to the cloud.
    pub allowed: BTreeMap<String, String>,
    pub usage_location: String,
    /// Licence class -> SKU part number (`none` needs no entry).
    pub licences: BTreeMap<String, String>,
    /// What a wave becomes for the targets: licence groups, Microsoft 365 groups, the shared AD.
    pub targets: crate::model::settings::TargetSettings,
}

impl TargetSpec {
    /// A municipality's place in [`TargetSpec::priority`] (0 first); those not listed come
    /// after every listed one.
    pub fn priority_of(&self, municipality: &str) -> usize {
        self.priority.iter().position(|p| p == municipality).unwrap_or(self.priority.len())
    }

    /// The name templates of accounts of `kind`.
    pub fn names_for(&self, kind: AccountKind) -> &NameTemplates {
        self.names_by_kind.get(&kind).unwrap_or(&self.names)
    }
}

/// How an account's three names are made.
#[derive(Debug, Clone)]
pub struct NameTemplates {
    pub upn: Template,
    pub mail_nickname: Template,
    pub sam_account_name: Template,
}

/// The template that keeps an account's own name.
const ACCOUNT_NAME: &str = "{sAMAccountName}";

/// Whether accounts of `kind` keep their account name in all three names unless
/// `[names.by_kind]` says otherwise: admin, service and resource accounts (`adm-anan`,
/// `svc-backup`, `rum-aulan`), most of which have no givenName, and an admin account must
/// not take its owner's personal name. People and students are named by `[names]`.
pub fn keeps_account_name(kind: AccountKind) -> bool {
    matches!(kind, AccountKind::Admin | AccountKind::Service | AccountKind::Resource)
}

/// One attribute flow: read `from` (or nothing), apply the transforms in order.
#[derive(Debug, Clone)]
pub struct Flow {
    pub from: Option<String>,
    pub transforms: Vec<Transform>,
}

/// How a person's unit is derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitRule {
    /// The first `depth` OU names below the base, joined with `/`.
    OuPath { depth: usize },
    /// The value of an attribute (usually `department`).
    Attribute(String),
}

/// How to recognise an account kind; the first rule that matches wins, `person` otherwise.
#[derive(Debug, Clone)]
pub struct KindRule {
    pub kind: AccountKind,
    pub ou: Option<String>,
    pub name_pattern: Option<regex::Regex>,
    pub attribute: Option<(String, regex::Regex)>,
}

/// Which licence class an account gets; the first rule that matches wins.
#[derive(Debug, Clone)]
pub struct LicenceRule {
    pub class: String,
    pub kinds: Vec<AccountKind>,
    /// Unit names (as the unit rule derives them); any when empty.
    pub units: Vec<String>,
}

/// mappings/<municipality>.toml, validated.
#[derive(Debug, Clone)]
pub struct MunicipalityMapping {
    pub file: PathBuf,
    pub municipality: String,
    /// Used by the `prefix` group policy.
    pub group_prefix: String,
    pub unit: UnitRule,
    /// When not empty, only accounts below one of these OUs are in scope.
    pub include_ous: Vec<String>,
    pub exclude_ous: Vec<String>,
    /// Accounts whose attribute matches are out of scope (test accounts, say).
    pub exclude_filters: Vec<(String, regex::Regex)>,
    pub include_disabled: bool,
    pub unused_days: Option<u32>,
    pub kinds: Vec<KindRule>,
    pub licences: Vec<LicenceRule>,
    /// Keyed by the target attribute's name, shared by every person's [`super::attributes::Attributes`].
    pub flows: BTreeMap<std::sync::Arc<str>, Flow>,
    pub lookups: BTreeMap<String, BTreeMap<String, String>>,
}

/// All mapping files of a project.
#[derive(Debug, Clone)]
pub struct Mappings {
    pub target: TargetSpec,
    pub municipalities: BTreeMap<String, MunicipalityMapping>,
    /// SHA-256 over the files' bytes, in name order: a plan records it.
    pub hash: String,
}

/// A mistake in a mapping file, with its place.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{}: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: {message}", file.display())]
    At { file: PathBuf, line: usize, column: usize, message: String },
    #[error("{}: {message}", dir.display())]
    Missing { dir: PathBuf, message: String },
}

impl Classified for SpecError {
    /// A mapping file cannot be read or says something wrong.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Usage
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    domains: RawDomains,
    names: RawNames,
    collisions: RawCollisions,
    #[serde(default)]
    matching: RawMatching,
    groups: RawGroups,
    privacy: RawPrivacy,
    tenant: RawTenant,
    #[serde(default)]
    licences: BTreeMap<String, String>,
    #[serde(default)]
    licence_groups: BTreeMap<Spanned<String>, String>,
    shared_ad: Option<RawSharedAd>,
    /// Per account kind, whether its new accounts may sign in.
    #[serde(default)]
    account_state: BTreeMap<Spanned<AccountKind>, crate::model::settings::AccountStateRule>,
    /// Per account kind, whether it goes to the tenant as well as the shared AD.
    #[serde(default)]
    cloud: BTreeMap<AccountKind, bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSharedAd {
    base_dn: Spanned<String>,
    people_ou: Spanned<String>,
    groups_ou: Spanned<String>,
    new_accounts: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomains {
    verified: Vec<String>,
    upn: Spanned<String>,
    #[serde(default)]
    upn_by_kind: BTreeMap<AccountKind, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNames {
    upn: Spanned<String>,
    mail_nickname: Spanned<String>,
    sam_account_name: Spanned<String>,
    collision_suffix: Spanned<String>,
    /// `[names.by_kind.<kind>]`: a kind's own templates.
    #[serde(default)]
    by_kind: BTreeMap<AccountKind, RawKindNames>,
}

/// A kind's own name templates; a key left out is the kind's default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKindNames {
    upn: Option<Spanned<String>>,
    mail_nickname: Option<Spanned<String>>,
    sam_account_name: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollisions {
    priority: Spanned<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMatching {
    #[serde(default)]
    keys: Vec<Spanned<String>>,
    overrides: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroups {
    default: GroupPolicy,
    #[serde(default)]
    merge: Vec<String>,
    #[serde(default)]
    prefix: Vec<String>,
    #[serde(default)]
    separate: Vec<String>,
    #[serde(default)]
    microsoft365: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrivacy {
    policy: PrivacyPolicy,
    hash_key_env: Option<String>,
    allow: BTreeMap<Spanned<String>, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    usage_location: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMunicipality {
    municipality: Spanned<String>,
    group_prefix: String,
    unit: RawUnit,
    #[serde(default)]
    scope: RawScope,
    #[serde(default)]
    kinds: Vec<RawKind>,
    #[serde(default)]
    licences: Vec<RawLicence>,
    flows: BTreeMap<Spanned<String>, Spanned<RawFlow>>,
    #[serde(default)]
    lookups: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnit {
    from: Spanned<String>,
    depth: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawScope {
    #[serde(default)]
    include_ous: Vec<String>,
    #[serde(default)]
    exclude_ous: Vec<String>,
    #[serde(default)]
    exclude: Vec<RawFilter>,
    #[serde(default)]
    include_disabled: bool,
    unused_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    attribute: Spanned<String>,
    matches: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKind {
    #[serde(rename = "kind")]
    kind_span: Spanned<AccountKind>,
    ou: Option<String>,
    name_pattern: Option<Spanned<String>>,
    attribute: Option<Spanned<String>>,
    matches: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLicence {
    class: Spanned<String>,
    #[serde(default)]
    kinds: Vec<AccountKind>,
    #[serde(default)]
    units: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    from: Option<Spanned<String>>,
    #[serde(default)]
    transforms: Vec<Spanned<Transform>>,
}

/// Reads `dir/target.toml` and `dir/<name>.toml` for each municipality name.
pub fn load(dir: &Path, municipalities: &[String]) -> Result<Mappings, SpecError> {
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    let mut read = |name: &str| -> Result<(PathBuf, String), SpecError> {
        let file = dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&file).map_err(|source| SpecError::Read { file: file.clone(), source })?;
        sha2::Digest::update(&mut hasher, name.as_bytes());
        sha2::Digest::update(&mut hasher, [0]);
        sha2::Digest::update(&mut hasher, text.as_bytes());
        Ok((file, text))
    };
    let (file, text) = read("target")?;
    let target = parse_target(&file, &text)?;
    let mut out = BTreeMap::new();
    for name in municipalities {
        let (file, text) = read(name)?;
        let mapping = parse_municipality(&file, &text, &target)?;
        if &mapping.municipality != name {
            return Err(SpecError::Missing {
                dir: file,
                message: format!("says municipality = {:?}, expected {name:?}", mapping.municipality),
            });
        }
        out.insert(name.clone(), mapping);
    }
    for name in &target.priority {
        if !municipalities.contains(name) {
            return Err(SpecError::Missing {
                dir: target.file.clone(),
                message: format!("collisions.priority names {name:?}, which is not a source in samla.toml"),
            });
        }
    }
    let hash = hex::encode(sha2::Digest::finalize(hasher));
    Ok(Mappings { target, municipalities: out, hash })
}

/// Positions in one file's text.
struct Place<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Place<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> SpecError {
        let (line, column) = crate::config::line_col(self.text, span.start);
        SpecError::At { file: self.file.to_path_buf(), line, column, message: message.into() }
    }

    fn toml<T: serde::de::DeserializeOwned>(&self) -> Result<T, SpecError> {
        toml::from_str(self.text).map_err(|e| self.err(e.span().unwrap_or(0..0), e.message()))
    }

    /// A template whose `{attributes}` must be among `known`; errors point into the string.
    fn template(&self, s: &Spanned<String>, known: &dyn Fn(&str) -> bool) -> Result<Template, SpecError> {
        // The value starts after the opening quote.
        let at = |offset: usize| s.span().start + 1 + offset;
        parse_template(s.get_ref(), known).map_err(|e| self.err(at(e.offset)..at(e.offset), e.reason))
    }

    fn source_attribute(&self, s: &Spanned<String>) -> Result<(), SpecError> {
        if is_source_attribute(s.get_ref()) {
            Ok(())
        } else {
            Err(self.err(s.span(), format!("{:?} is not a source attribute", s.get_ref())))
        }
    }

    fn regex(&self, s: &Spanned<String>) -> Result<regex::Regex, SpecError> {
        regex::Regex::new(s.get_ref()).map_err(|e| self.err(s.span(), format!("bad regex: {e}")))
    }
}

fn parse_target(file: &Path, text: &str) -> Result<TargetSpec, SpecError> {
    let place = Place { file, text };
    let raw: RawTarget = place.toml()?;
    let verified: Vec<String> = raw.domains.verified.iter().map(|d| d.to_ascii_lowercase()).collect();
    let domain = |d: &Spanned<String>| {
        let lower = d.get_ref().to_ascii_lowercase();
        if verified.contains(&lower) {
            Ok(lower)
        } else {
            Err(place.err(d.span(), format!("{:?} is not among domains.verified", d.get_ref())))
        }
    };
    let default_upn_domain = domain(&raw.domains.upn)?;
    let mut upn_domain = BTreeMap::new();
    for (kind, d) in &raw.domains.upn_by_kind {
        upn_domain.insert(*kind, domain(d)?);
    }
    let name_attrs = |a: &str| is_target_attribute(a) || a == "sAMAccountName" || a == "municipality";
    let suffix = raw.names.collision_suffix.get_ref();
    if !suffix.contains("{n}") {
        return Err(place.err(raw.names.collision_suffix.span(), "collision_suffix must contain {n}"));
    }
    let mut group_rules = BTreeMap::new();
    for (names, policy) in [
        (&raw.groups.merge, GroupPolicy::Merge),
        (&raw.groups.prefix, GroupPolicy::Prefix),
        (&raw.groups.separate, GroupPolicy::Separate),
    ] {
        for n in names {
            group_rules.insert(n.to_lowercase(), policy);
        }
    }
    let mut allowed = BTreeMap::new();
    for (attr, why) in raw.privacy.allow {
        if !is_target_attribute(attr.get_ref()) {
            return Err(place.err(
                attr.span(),
                format!("privacy.allow names {:?}, which is not a target attribute", attr.get_ref()),
            ));
        }
        if why.trim().is_empty() {
            return Err(place.err(attr.span(), "every allowed attribute needs its reason"));
        }
        allowed.insert(attr.into_inner(), why);
    }
    let usage = raw.tenant.usage_location.get_ref();
    if usage.len() != 2 || !usage.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(
            place.err(raw.tenant.usage_location.span(), "usage_location must be an ISO 3166 country code like \"SE\"")
        );
    }
    let mut match_keys = Vec::new();
    for k in &raw.matching.keys {
        if !is_source_attribute(k.get_ref()) {
            return Err(place.err(k.span(), format!("matching key {:?} is not a source attribute", k.get_ref())));
        }
        match_keys.push(k.get_ref().clone());
    }
    let mut licence_groups = BTreeMap::new();
    for (class, group) in raw.licence_groups {
        if !raw.licences.contains_key(class.get_ref()) {
            return Err(place.err(class.span(), format!("licence class {:?} is not in [licences]", class.get_ref())));
        }
        licence_groups.insert(class.into_inner(), group);
    }
    let shared_ad = match &raw.shared_ad {
        None => crate::model::settings::SharedAd::default(),
        Some(ad) => {
            let dn = |s: &Spanned<String>| {
                crate::model::Dn::parse(s.get_ref())
                    .map(|d| d.as_str().to_string())
                    .map_err(|e| place.err(s.span(), format!("not a DN: {e}")))
            };
            let new_accounts = match ad.new_accounts.get_ref().as_str() {
                "disabled" => crate::model::settings::NewAccounts::Disabled,
                "random-password" => crate::model::settings::NewAccounts::RandomPassword,
                other => {
                    return Err(place.err(
                        ad.new_accounts.span(),
                        format!("new_accounts is \"disabled\" or \"random-password\", not {other:?}"),
                    ));
                }
            };
            crate::model::settings::SharedAd {
                base_dn: dn(&ad.base_dn)?,
                people_ou: dn(&ad.people_ou)?,
                groups_ou: dn(&ad.groups_ou)?,
                new_accounts,
            }
        }
    };
    // The shared AD enables an account only where it sets its first password: a kind enabled
    // in the tenant while its shared-AD account stays disabled would make the targets disagree.
    let mut account_state = BTreeMap::new();
    for (kind, rule) in raw.account_state {
        if rule == crate::model::settings::AccountStateRule::AsInSource
            && raw.shared_ad.is_some()
            && shared_ad.new_accounts != crate::model::settings::NewAccounts::RandomPassword
        {
            return Err(place.err(
                kind.span(),
                format!(
                    "account_state.{} = \"as_in_source\" needs [shared_ad] new_accounts = \"random-password\": \
                     the shared AD enables an account only when it sets its first password, and both targets \
                     must agree on who may sign in",
                    kind.get_ref().as_str()
                ),
            ));
        }
        account_state.insert(kind.into_inner(), rule);
    }
    let names = NameTemplates {
        upn: place.template(&raw.names.upn, &name_attrs)?,
        mail_nickname: place.template(&raw.names.mail_nickname, &name_attrs)?,
        sam_account_name: place.template(&raw.names.sam_account_name, &name_attrs)?,
    };
    let account_name = parse_template(ACCOUNT_NAME, &name_attrs).map_err(|e| place.err(0..0, e.reason))?;
    let mut names_by_kind = BTreeMap::new();
    for kind in AccountKind::ALL {
        let own = raw.names.by_kind.get(&kind);
        let keeps = keeps_account_name(kind);
        if own.is_none() && !keeps {
            continue;
        }
        let pick = |stated: Option<&Spanned<String>>, from_names: &Template| match stated {
            Some(t) => place.template(t, &name_attrs),
            None => Ok(if keeps { account_name.clone() } else { from_names.clone() }),
        };
        let templates = NameTemplates {
            upn: pick(own.and_then(|o| o.upn.as_ref()), &names.upn)?,
            mail_nickname: pick(own.and_then(|o| o.mail_nickname.as_ref()), &names.mail_nickname)?,
            sam_account_name: pick(own.and_then(|o| o.sam_account_name.as_ref()), &names.sam_account_name)?,
        };
        names_by_kind.insert(kind, templates);
    }
    let dir = file.parent().unwrap_or(Path::new("."));
    Ok(TargetSpec {
        file: file.to_path_buf(),
        verified_domains: verified.clone(),
        upn_domain,
        default_upn_domain,
        names,
        names_by_kind,
        collision_suffix: suffix.clone(),
        priority: raw.collisions.priority.into_inner(),
        match_keys,
        overrides: raw.matching.overrides.map(|p| dir.join(p)),
        group_default: raw.groups.default,
        group_rules,
        privacy_policy: raw.privacy.policy,
        hash_key_env: raw.privacy.hash_key_env,
        allowed,
        usage_location: usage.clone(),
        targets: crate::model::settings::TargetSettings {
            usage_location: usage.clone(),
            skus: raw.licences.clone(),
            licence_groups,
            microsoft365_groups: raw.groups.microsoft365.iter().map(|n| n.to_lowercase()).collect(),
            shared_ad,
            account_state: crate::model::settings::AccountStates(account_state),
            cloud: crate::model::settings::CloudKinds(raw.cloud),
        },
        licences: raw.licences,
    })
}

fn parse_municipality(file: &Path, text: &str, target: &TargetSpec) -> Result<MunicipalityMapping, SpecError> {
    let place = Place { file, text };
    let raw: RawMunicipality = place.toml()?;
    let unit = match raw.unit.from.get_ref().as_str() {
        "ou" => UnitRule::OuPath { depth: raw.unit.depth.unwrap_or(2).max(1) },
        attr if is_source_attribute(attr) => UnitRule::Attribute(attr.to_string()),
        other => {
            return Err(place
                .err(raw.unit.from.span(), format!("unit.from must be \"ou\" or a source attribute, not {other:?}")));
        }
    };
    let mut exclude_filters = Vec::new();
    for f in &raw.scope.exclude {
        place.source_attribute(&f.attribute)?;
        exclude_filters.push((f.attribute.get_ref().clone(), place.regex(&f.matches)?));
    }
    let mut kinds = Vec::new();
    for k in raw.kinds {
        let attribute = match (&k.attribute, &k.matches) {
            (Some(a), Some(m)) => {
                place.source_attribute(a)?;
                Some((a.get_ref().clone(), place.regex(m)?))
            }
            (Some(a), None) => return Err(place.err(a.span(), "attribute needs `matches` (a regex)")),
            (None, Some(m)) => return Err(place.err(m.span(), "matches needs `attribute`")),
            (None, None) => None,
        };
        let name_pattern = k.name_pattern.as_ref().map(|p| place.regex(p)).transpose()?;
        if k.ou.is_none() && name_pattern.is_none() && attribute.is_none() {
            return Err(place.err(k.kind_span.span(), "a kind rule needs ou, name_pattern or attribute + matches"));
        }
        kinds.push(KindRule { kind: *k.kind_span.get_ref(), ou: k.ou, name_pattern, attribute });
    }
    let mut licences = Vec::new();
    for l in raw.licences {
        let class = l.class.get_ref();
        if class != "none" && !target.licences.contains_key(class) {
            return Err(place.err(l.class.span(), format!("licence class {class:?} is not in target.toml [licences]")));
        }
        licences.push(LicenceRule { class: class.clone(), kinds: l.kinds, units: l.units });
    }
    let mut flows = BTreeMap::new();
    for (target_attr, flow) in raw.flows {
        if !is_target_attribute(target_attr.get_ref()) {
            return Err(place.err(
                target_attr.span(),
                format!(
                    "{:?} is not a target attribute (known: {}, extensionAttribute1-15)",
                    target_attr.get_ref(),
                    TARGET_ATTRIBUTES.join(", ")
                ),
            ));
        }
        let flow_span = flow.span();
        let flow = flow.into_inner();
        if let Some(from) = &flow.from {
            place.source_attribute(from)?;
        }
        let mut transforms = Vec::new();
        for t in flow.transforms {
            let span = t.span();
            let t = t.into_inner();
            t.check(&is_source_attribute, &|table: &str| raw.lookups.contains_key(table))
                .map_err(|e| place.err(span, e.to_string()))?;
            transforms.push(t);
        }
        if flow.from.is_none() && transforms.is_empty() {
            return Err(place.err(flow_span, "a flow needs `from` or at least one transform"));
        }
        flows.insert(target_attr.into_inner().into(), Flow { from: flow.from.map(Spanned::into_inner), transforms });
    }
    let municipality = raw.municipality.get_ref().clone();
    Ok(MunicipalityMapping {
        file: file.to_path_buf(),
        municipality,
        group_prefix: raw.group_prefix,
        unit,
        exclude_ous: raw.scope.exclude_ous,
        include_disabled: raw.scope.include_disabled,
        include_ous: raw.scope.include_ous,
        exclude_filters,
        unused_days: raw.scope.unused_days,
        kinds,
        licences,
        flows,
        lookups: raw.lookups,
    })
}

/// The kind a `DirectoryObject` of kind user is, by the first matching rule.
pub fn kind_of(
    rules: &[KindRule],
    obj: &crate::model::DirectoryObject,
    value_of: &dyn Fn(&str) -> Option<String>,
) -> AccountKind {
    let ous = obj.dn.ou_path();
    let sam = obj.sam_account_name.as_deref().unwrap_or_default();
    rules
        .iter()
        .find(|r| {
            r.ou.as_ref().is_none_or(|ou| ous.iter().any(|o| o.eq_ignore_ascii_case(ou)))
                && r.name_pattern.as_ref().is_none_or(|p| p.is_match(sam))
                && r.attribute.as_ref().is_none_or(|(a, m)| value_of(a).is_some_and(|v| m.is_match(&v)))
        })
        .map_or(AccountKind::Person, |r| r.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::settings::{AccountStateRule, CloudKinds, NewAccounts};

    fn repo_target() -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/target.toml")).unwrap()
    }

    fn parse(text: &str) -> Result<TargetSpec, SpecError> {
        parse_target(Path::new("target.toml"), text)
    }

    /// `[account_state]`: one rule per account kind, "disabled_until_cutover" unless stated;
    /// "as_in_source" needs the shared AD to set first passwords (the only way it enables an
    /// account), so that both targets agree; a wrong value names its place.
    #[test]
    fn account_state_is_one_rule_per_kind_that_both_targets_can_follow() {
        let repo = repo_target();
        let states = parse(&repo).unwrap().targets.account_state;
        for kind in [AccountKind::Person, AccountKind::Student, AccountKind::Admin, AccountKind::Service] {
            assert_eq!(states.rule(kind), AccountStateRule::DisabledUntilCutover, "{kind:?}");
        }
        let with = |new_accounts: &str, table: &str| {
            let text = repo.replace("new_accounts = \"disabled\"", &format!("new_accounts = \"{new_accounts}\""));
            assert!(text.contains(&format!("new_accounts = \"{new_accounts}\"")));
            // The repository's table is the file's last: replaced by `table`.
            let head = text.split("\n[account_state]").next().unwrap();
            parse(&format!("{head}\n[account_state]\n{table}\n"))
        };
        let err = with("disabled", "person = \"as_in_source\"").unwrap_err().to_string();
        assert!(err.starts_with("target.toml:"), "{err}");
        assert!(err.contains("account_state.person = \"as_in_source\" needs [shared_ad] new_accounts"), "{err}");
        let t = with("random-password", "person = \"as_in_source\"\nstudent = \"disabled_until_cutover\"").unwrap();
        assert_eq!(t.targets.shared_ad.new_accounts, NewAccounts::RandomPassword);
        assert_eq!(t.targets.account_state.rule(AccountKind::Person), AccountStateRule::AsInSource);
        assert_eq!(t.targets.account_state.rule(AccountKind::Student), AccountStateRule::DisabledUntilCutover);
        let err = with("random-password", "person = \"enabled\"").unwrap_err().to_string();
        assert!(err.contains("target.toml:") && err.contains("enabled"), "{err}");
        let err = with("random-password", "robot = \"as_in_source\"").unwrap_err().to_string();
        assert!(err.contains("robot"), "{err}");
    }

    /// `[cloud]`: per kind, whether its accounts go to the tenant as well as the shared AD;
    /// person, student and resource do unless stated, admin and service do not. A kind
    /// that is not one, or a value that is not true or false, is refused with its place.
    #[test]
    fn each_kind_goes_to_the_cloud_or_not() {
        let repo = repo_target();
        let cloud = parse(&repo).unwrap().targets.cloud;
        for kind in [AccountKind::Person, AccountKind::Student, AccountKind::Resource] {
            assert!(cloud.goes(kind), "{kind:?}");
        }
        assert!(!cloud.goes(AccountKind::Admin) && !cloud.goes(AccountKind::Service));
        // The defaults hold without the table too (a project's own target.toml from before).
        for kind in AccountKind::ALL {
            assert_eq!(CloudKinds::default().goes(kind), cloud.goes(kind), "{kind:?}");
        }
        let head = repo.split("\n[cloud]").next().unwrap();
        let t = parse(&format!("{head}\n[cloud]\nadmin = true\nresource = false\n")).unwrap().targets.cloud;
        assert!(t.goes(AccountKind::Admin) && !t.goes(AccountKind::Resource) && !t.goes(AccountKind::Service));
        let err = parse(&format!("{head}\n[cloud]\nrobot = true\n")).unwrap_err().to_string();
        assert!(err.starts_with("target.toml:") && err.contains("robot"), "{err}");
        let err = parse(&format!("{head}\n[cloud]\nadmin = \"yes\"\n")).unwrap_err().to_string();
        assert!(err.starts_with("target.toml:") && err.contains("bool"), "{err}");
    }

    /// `[names.by_kind.<kind>]`: a kind's own templates; admin, service and resource accounts
    /// keep their account name unless stated, people and students use `[names]`; a key left
    /// out is the kind's default. An unknown key or kind is refused with line and column.
    #[test]
    fn each_kind_has_its_own_name_templates() {
        let repo = repo_target();
        let t = parse(&repo).unwrap();
        let sources = |t: &TargetSpec, kind| {
            let n = t.names_for(kind);
            [n.upn.source().to_string(), n.mail_nickname.source().to_string(), n.sam_account_name.source().to_string()]
        };
        for kind in [AccountKind::Admin, AccountKind::Service, AccountKind::Resource] {
            assert_eq!(sources(&t, kind), ["{sAMAccountName}"; 3], "{kind:?}");
        }
        for kind in [AccountKind::Person, AccountKind::Student] {
            assert_eq!(sources(&t, kind)[0], "{givenName}.{surname}", "{kind:?}");
        }
        // Stated for one kind, one key: the others keep their defaults (the repository's
        // tables, which state the defaults, left out).
        let (head, tail) = repo.split_once("\n[collisions]").unwrap();
        let head = head.split("\n[names.by_kind.").next().unwrap();
        assert_eq!(
            sources(&parse(&format!("{head}\n[collisions]{tail}")).unwrap(), AccountKind::Service)[0],
            ACCOUNT_NAME
        );
        let with = |table: &str| parse(&format!("{head}\n{table}\n[collisions]{tail}"));
        let t = with("[names.by_kind.service]\nupn = \"svc.{sAMAccountName}\"").unwrap();
        assert_eq!(sources(&t, AccountKind::Service), ["svc.{sAMAccountName}", "{sAMAccountName}", "{sAMAccountName}"]);
        let t = with("[names.by_kind.resource]\nmail_nickname = \"rum.{sAMAccountName}\"").unwrap();
        assert_eq!(sources(&t, AccountKind::Resource)[1], "rum.{sAMAccountName}");
        assert_eq!(sources(&t, AccountKind::Resource)[0], "{sAMAccountName}");
        let t = with("[names.by_kind.student]\nupn = \"{sAMAccountName}\"").unwrap();
        assert_eq!(sources(&t, AccountKind::Student)[0], "{sAMAccountName}");
        assert_eq!(sources(&t, AccountKind::Student)[1], "{givenName}.{surname}");
        let err = with("[names.by_kind.service]\ndisplay = \"x\"").unwrap_err().to_string();
        assert!(err.starts_with("target.toml:") && err.contains("display"), "{err}");
        let err = with("[names.by_kind.robot]\nupn = \"x\"").unwrap_err().to_string();
        assert!(err.starts_with("target.toml:") && err.contains("robot"), "{err}");
        let err = with("[names.by_kind.service]\nupn = \"{nope}\"").unwrap_err().to_string();
        assert!(err.starts_with("target.toml:") && err.contains("nope"), "{err}");
    }
}
