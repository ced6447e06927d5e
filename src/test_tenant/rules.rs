//! The directory's write rules for users and groups: pure functions, no HTTP, no state.
//!
//! The schema ([`super::schema`]) says which properties exist and their types; this module
//! adds what the CSDL does not encode and Graph still enforces (graph/README.md): required
//! properties, read-only properties, lengths, character rules for userPrincipalName and
//! mailNickname, verified UPN domains, password complexity, the security-group versus
//! Microsoft 365 group combinations, and the 20-reference limit of `@odata.bind`.
//!
//! POST and PATCH go through the one function [`validate_write`]: a PATCH is checked as the
//! object it would produce, so no rule can be enforced on create and forgotten on update.
//! Where Graph's behaviour is not documented precisely the rule here is the stricter
//! reading; each such place is marked "stricter than Graph" and listed in the README.

use super::error::GraphError;
use super::ids::ObjectId;
use super::schema::{GROUP, Schema, USER};
use serde_json::{Map, Value};

/// Which kind of directory object a write is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    /// The CSDL type name (`microsoft.graph.user`).
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::User => USER,
            Kind::Group => GROUP,
        }
    }

    /// The resource name Graph's messages use ("User").
    pub fn resource(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }

    /// The lowercase name (`user`) used in URLs, dumps and `@odata.type`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
        }
    }

    /// The properties a POST must carry.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Kind::User => &["accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName"],
            Kind::Group => &["displayName", "mailEnabled", "mailNickname", "securityEnabled"],
        }
    }

    /// Properties that exist in the schema but a client may not write. graph/README.md lists
    /// proxyAddresses, id, createdDateTime, securityIdentifier and the onPremises* sync fields;
    /// the rest are computed by the service, set through their own endpoints (licences,
    /// mailbox settings), or not writable with application permissions (the SharePoint
    /// profile properties): stricter than Graph where Graph would take them in some setups.
    pub fn read_only(self) -> &'static [&'static str] {
        match self {
            Kind::User => &[
                "id",
                "deletedDateTime",
                "createdDateTime",
                "proxyAddresses",
                "securityIdentifier",
                "onPremisesDistinguishedName",
                "onPremisesDomainName",
                "onPremisesLastSyncDateTime",
                "onPremisesProvisioningErrors",
                "onPremisesSamAccountName",
                "onPremisesSecurityIdentifier",
                "onPremisesSyncEnabled",
                "onPremisesUserPrincipalName",
                "assignedLicenses",
                "assignedPlans",
                "provisionedPlans",
                "licenseAssignmentStates",
                "creationType",
                "externalUserState",
                "externalUserStateChangeDateTime",
                "lastPasswordChangeDateTime",
                "signInActivity",
                "signInSessionsValidFromDateTime",
                "serviceProvisioningErrors",
                "imAddresses",
                "isManagementRestricted",
                "legalAgeGroupClassification",
                "mailboxSettings",
                "customSecurityAttributes",
                "identityParentId",
                "print",
                "showInAddressList",
                "isResourceAccount",
                "aboutMe",
                "birthday",
                "hireDate",
                "interests",
                "mySite",
                "pastProjects",
                "preferredName",
                "responsibilities",
                "schools",
                "skills",
                "employeeLeaveDateTime",
                "authorizationInfo",
                "deviceEnrollmentLimit",
            ],
            Kind::Group => &[
                "id",
                "deletedDateTime",
                "createdDateTime",
                "proxyAddresses",
                "securityIdentifier",
                "mail",
                "onPremisesDomainName",
                "onPremisesExtensionAttributes",
                "onPremisesLastSyncDateTime",
                "onPremisesNetBiosName",
                "onPremisesProvisioningErrors",
                "onPremisesSamAccountName",
                "onPremisesSecurityIdentifier",
                "onPremisesSyncEnabled",
                "assignedLicenses",
                "assignedLabels",
                "hasMembersWithLicenseErrors",
                "licenseProcessingState",
                "renewedDateTime",
                "expirationDateTime",
                "serviceProvisioningErrors",
                "allowExternalSenders",
                "autoSubscribeNewMembers",
                "hideFromAddressLists",
                "hideFromOutlookClients",
                "isSubscribedByMail",
                "isFavorite",
                "isArchived",
                "isManagementRestricted",
                "unseenCount",
                "unseenConversationsCount",
                "unseenMessagesCount",
                "organizationId",
                "accessType",
                "infoCatalogs",
                "resourceBehaviorOptions",
                "resourceProvisioningOptions",
                "membershipRule",
                "membershipRuleProcessingState",
            ],
        }
    }

    /// Properties a PATCH may not change (set once on create).
    fn create_only(self) -> &'static [&'static str] {
        match self {
            Kind::User => &[],
            Kind::Group => &["groupTypes", "isAssignableToRole", "uniqueName"],
        }
    }

    /// The default properties of a GET without $select (Graph v1.0's default sets).
    pub fn default_select(self) -> &'static [&'static str] {
        match self {
            Kind::User => &[
                "businessPhones",
                "displayName",
                "givenName",
                "jobTitle",
                "mail",
                "mobilePhone",
                "officeLocation",
                "preferredLanguage",
                "surname",
                "userPrincipalName",
                "id",
            ],
            Kind::Group => &[
                "id",
                "deletedDateTime",
                "classification",
                "createdDateTime",
                "description",
                "displayName",
                "expirationDateTime",
                "groupTypes",
                "isAssignableToRole",
                "mail",
                "mailEnabled",
                "mailNickname",
                "membershipRule",
                "membershipRuleProcessingState",
                "onPremisesDomainName",
                "onPremisesLastSyncDateTime",
                "onPremisesNetBiosName",
                "onPremisesSamAccountName",
                "onPremisesSecurityIdentifier",
                "onPremisesSyncEnabled",
                "preferredDataLocation",
                "preferredLanguage",
                "proxyAddresses",
                "renewedDateTime",
                "resourceBehaviorOptions",
                "resourceProvisioningOptions",
                "securityEnabled",
                "securityIdentifier",
                "theme",
                "visibility",
                "onPremisesProvisioningErrors",
                "serviceProvisioningErrors",
            ],
        }
    }
}

/// Maximum lengths (UTF-16 code units, as .NET counts) of string properties.
/// graph/README.md gives the first group; the rest follow Microsoft's docs and AD's
/// attribute limits, and any string property not listed is held to 1024 (stricter).
fn max_length(kind: Kind, property: &str) -> usize {
    match (kind, property) {
        (_, "displayName") => 256,
        (_, "mailNickname") => 64,
        (Kind::User, "givenName" | "surname" | "department" | "companyName" | "mobilePhone" | "employeeType") => 64,
        (Kind::User, "jobTitle" | "city" | "officeLocation" | "state" | "country") => 128,
        (Kind::User, "employeeId") => 16,
        (Kind::User, "postalCode") => 40,
        (Kind::User, "usageLocation") => 2,
        (Kind::User, "userPrincipalName") => 113,
        (Kind::User, "mail") => 256,
        (Kind::Group, "description") => 1024,
        _ => 1024,
    }
}

/// Length as Graph's .NET service counts it.
fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Where an `@odata.bind` reference points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefCollection {
    DirectoryObjects,
    Users,
    Groups,
}

/// A parsed `@odata.id` / `@odata.bind` reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRef {
    pub collection: RefCollection,
    pub id: ObjectId,
}

/// Parses a reference URL: `https://graph.microsoft.com/v1.0/{directoryObjects|users|groups}/{id}`
/// or the same under the tenant's own base URL. Stricter than Graph: other hosts, other
/// versions (beta), the `directoryObjects('id')` form and non-GUID keys are refused.
pub fn parse_ref(url: &str, own_base: &str) -> Option<ObjectRef> {
    let rest = ["https://graph.microsoft.com", own_base]
        .iter()
        .find_map(|base| url.strip_prefix(base).and_then(|r| r.strip_prefix("/v1.0/")))?;
    let (collection, id) = rest.split_once('/')?;
    let collection = match collection {
        "directoryObjects" => RefCollection::DirectoryObjects,
        "users" => RefCollection::Users,
        "groups" => RefCollection::Groups,
        _ => return None,
    };
    let id = id.parse().ok()?;
    Some(ObjectRef { collection, id })
}

/// The most references one request may bind (members and owners together: stricter than
/// "20 each").
pub const MAX_BINDS: usize = 20;

/// A checked write: the properties to set (null clears) and the references to bind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Write {
    pub set: Map<String, Value>,
    pub members: Vec<ObjectRef>,
    pub owners: Vec<ObjectRef>,
}

/// What the rules need to know about the tenant.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub schema: &'a Schema,
    /// Verified domains (lowercase).
    pub domains: &'a [String],
    /// The tenant's own base URL (`http://127.0.0.1:PORT`), accepted in references.
    pub own_base: &'a str,
}

/// Checks a POST (`existing` is `None`) or PATCH body against schema and rules, and returns
/// what to store. The password is checked here and then dropped: it is never stored.
pub fn validate_write(
    kind: Kind,
    body: &Value,
    existing: Option<&Map<String, Value>>,
    ctx: &Context<'_>,
) -> Result<Write, GraphError> {
    let Value::Object(body) = body else {
        return Err(GraphError::unreadable_body());
    };
    let mut write = Write::default();
    let mut plain = Map::new();
    for (key, value) in body {
        match key.split_once('@') {
            None => {
                plain.insert(key.clone(), value.clone());
            }
            Some(("", "odata.type")) => {
                let expected = format!("#{}", kind.type_name());
                if value.as_str() != Some(expected.as_str()) {
                    return Err(GraphError::odata(format!(
                        "A type named '{}' could not be resolved by the model, or is not the type '{}'.",
                        value.as_str().unwrap_or_default(),
                        kind.type_name()
                    )));
                }
            }
            Some((rel @ ("members" | "owners"), "odata.bind")) if kind == Kind::Group => {
                let refs = parse_binds(rel, value, ctx.own_base)?;
                if rel == "members" {
                    write.members = refs;
                } else {
                    write.owners = refs;
                }
            }
            Some(_) => return Err(GraphError::unknown_property(key)),
        }
    }
    if write.members.len() + write.owners.len() > MAX_BINDS {
        return Err(GraphError::bad_request(format!(
            "The request binds {} references; at most {MAX_BINDS} are allowed in one request (members@odata.bind and owners@odata.bind together).",
            write.members.len() + write.owners.len()
        )));
    }
    ctx.schema.check_entity_write(kind.type_name(), &plain)?;
    for key in plain.keys() {
        if kind.read_only().contains(&key.as_str()) {
            return Err(GraphError::read_only(key));
        }
        if existing.is_some() && kind.create_only().contains(&key.as_str()) {
            let unchanged = existing.and_then(|e| e.get(key)) == plain.get(key);
            if !unchanged {
                return Err(GraphError::bad_request(format!(
                    "Property '{key}' cannot be changed after the {} is created.",
                    kind.name()
                )));
            }
        }
    }
    for (key, value) in &plain {
        check_property(kind, key, value, ctx)?;
    }
    let mut merged = existing.cloned().unwrap_or_default();
    for (key, value) in &plain {
        if value.is_null() {
            merged.remove(key);
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    for required in kind.required() {
        if !merged.contains_key(*required) {
            return Err(match (existing, plain.contains_key(*required)) {
                (Some(_), true) => GraphError::invalid_value(required, kind.resource()),
                _ => GraphError::required(required, kind.resource()),
            });
        }
    }
    if kind == Kind::Group {
        check_group_shape(&merged)?;
    }
    if kind == Kind::Group && existing.is_none() && !plain.contains_key("groupTypes") {
        plain.insert("groupTypes".into(), Value::Array(Vec::new()));
    }
    for (key, mut value) in plain {
        if key == "passwordProfile"
            && let Value::Object(profile) = &mut value
        {
            profile.remove("password");
        }
        write.set.insert(key, value);
    }
    Ok(write)
}

/// Parses one `x@odata.bind` array: each entry a reference URL, no duplicates.
fn parse_binds(rel: &str, value: &Value, own_base: &str) -> Result<Vec<ObjectRef>, GraphError> {
    let invalid = || GraphError::bad_request(format!("Invalid URL format specified in @odata.bind for {rel}"));
    let Value::Array(items) = value else {
        return Err(invalid());
    };
    let mut refs: Vec<ObjectRef> = Vec::with_capacity(items.len());
    for item in items {
        let r = item.as_str().and_then(|s| parse_ref(s, own_base)).ok_or_else(invalid)?;
        if refs.iter().any(|x| x.id == r.id) {
            return Err(GraphError::bad_request(format!(
                "The reference to '{}' appears more than once in {rel}@odata.bind.",
                r.id
            )));
        }
        refs.push(r);
    }
    Ok(refs)
}

/// Rules for one written property value.
fn check_property(kind: Kind, key: &str, value: &Value, ctx: &Context<'_>) -> Result<(), GraphError> {
    let invalid = || GraphError::invalid_value(key, kind.resource());
    if value.is_null() {
        return Ok(());
    }
    if let Value::String(s) = value {
        // Stricter than Graph: empty or padded strings are refused (clear with null), and so
        // are control characters.
        if s.trim().is_empty() || s.trim() != s || s.chars().any(char::is_control) {
            return Err(invalid());
        }
        if utf16_len(s) > max_length(kind, key) {
            return Err(invalid());
        }
    }
    match (kind, key) {
        (Kind::User, "userPrincipalName") => check_upn(value.as_str().unwrap_or_default(), ctx.domains),
        (_, "mailNickname") => check_mail_nickname(value.as_str().unwrap_or_default()).ok_or_else(invalid),
        (Kind::Group, "uniqueName") => check_unique_name(value.as_str().unwrap_or_default()).ok_or_else(invalid),
        (Kind::User, "passwordProfile") => {
            let password = value.get("password").and_then(Value::as_str);
            match password {
                Some(p) if password_is_complex(p) => Ok(()),
                Some(_) => Err(GraphError::bad_request(
                    "The specified password does not comply with password complexity requirements. Please provide a different password.",
                )
                .with_detail("InvalidValue", "passwordProfile")),
                None => Err(GraphError::invalid_value("passwordProfile", kind.resource())),
            }
        }
        (Kind::User, "usageLocation") => value
            .as_str()
            .filter(|s| s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()))
            .map(|_| ())
            .ok_or_else(invalid),
        (Kind::User, "onPremisesImmutableId") => match value.as_str() {
            None => Ok(()),
            Some(s) if immutable_id_is_valid(s) => Ok(()),
            Some(_) => Err(invalid()),
        },
        (Kind::User, "preferredLanguage") | (Kind::Group, "preferredLanguage") => match value.as_str() {
            None => Ok(()),
            Some(s) if language_tag_is_valid(s) => Ok(()),
            Some(_) => Err(invalid()),
        },
        (Kind::User, "businessPhones") => {
            // Graph keeps only one business phone number.
            let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
            if items.len() > 1 || items.iter().any(|p| p.as_str().is_none_or(|s| s.is_empty() || utf16_len(s) > 64)) {
                return Err(invalid());
            }
            Ok(())
        }
        (Kind::User, "mail") => match value.as_str() {
            None => Ok(()),
            Some(s) => {
                s.split_once('@').filter(|(a, d)| !a.is_empty() && d.contains('.')).map(|_| ()).ok_or_else(invalid)
            }
        },
        (Kind::Group, "visibility") => match value.as_str() {
            None | Some("Public" | "Private" | "HiddenMembership") => Ok(()),
            Some(_) => Err(invalid()),
        },
        _ => Ok(()),
    }
}

/// userPrincipalName: alias@domain, alias of A-Z a-z 0-9 ' . - _ ! # ^ ~, no "." right before
/// the "@" (and, stricter than Graph, none first and no ".."), at most 64 + 48 characters
/// (113 with the "@"), the domain one of the tenant's verified domains.
pub fn check_upn(upn: &str, domains: &[String]) -> Result<(), GraphError> {
    let invalid = || {
        GraphError::bad_request("Property userPrincipalName is invalid.")
            .with_detail("InvalidValue", "userPrincipalName")
    };
    let Some((alias, domain)) = upn.split_once('@') else {
        return Err(invalid());
    };
    let alias_ok = !alias.is_empty()
        && alias.len() <= 64
        && alias.chars().all(|c| c.is_ascii_alphanumeric() || "'.-_!#^~".contains(c))
        && !alias.starts_with('.')
        && !alias.ends_with('.')
        && !alias.contains("..");
    let domain_ok = !domain.is_empty()
        && domain.len() <= 48
        && domain.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !alias_ok || !domain_ok || upn.len() > 113 {
        return Err(invalid());
    }
    if !domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
        return Err(GraphError::bad_request(
            "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
        )
        .with_detail("InvalidValue", "userPrincipalName"));
    }
    Ok(())
}

/// A group's uniqueName (its alternate key, used in URLs as `/groups(uniqueName='x')`):
/// Microsoft documents no character set or length, so, stricter than Graph, 1-64 ASCII
/// letters, digits, `-`, `_` and `.`: nothing that needs quoting or escaping in a URL key.
pub fn check_unique_name(name: &str) -> Option<()> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    ok.then_some(())
}

/// mailNickname: 1-64 printable ASCII characters without @ ( ) \ [ ] " ; : < > , or space.
pub fn check_mail_nickname(nick: &str) -> Option<()> {
    let ok = !nick.is_empty()
        && nick.len() <= 64
        && nick.bytes().all(|b| (0x21..0x7F).contains(&b) && !b"@()\\[]\";:<>,".contains(&b));
    ok.then_some(())
}

/// Entra's password policy: 8-256 characters, three of lowercase, uppercase, digits and
/// symbols; stricter than Graph: printable ASCII only.
pub fn password_is_complex(p: &str) -> bool {
    let len = p.chars().count();
    if !(8..=256).contains(&len) || !p.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return false;
    }
    let classes = [
        p.bytes().any(|b| b.is_ascii_lowercase()),
        p.bytes().any(|b| b.is_ascii_uppercase()),
        p.bytes().any(|b| b.is_ascii_digit()),
        p.bytes().any(|b| !b.is_ascii_alphanumeric()),
    ];
    classes.iter().filter(|c| **c).count() >= 3
}

/// onPremisesImmutableId: no "$" or "_" (Graph), and (stricter) standard base64 of at most
/// 64 characters, which is what an anchor GUID becomes.
pub fn immutable_id_is_valid(s: &str) -> bool {
    use base64::Engine as _;
    !s.contains(['$', '_'])
        && s.len() <= 64
        && base64::engine::general_purpose::STANDARD.decode(s).is_ok_and(|bytes| !bytes.is_empty())
}

/// A language tag as Graph stores it: `sv` or `sv-SE` (ISO 639-1, optional ISO 3166 region).
pub fn language_tag_is_valid(s: &str) -> bool {
    let (lang, region) = match s.split_once('-') {
        Some((l, r)) => (l, Some(r)),
        None => (s, None),
    };
    lang.len() == 2
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()))
}

/// The group kinds Graph can create: a security group (groupTypes [], mailEnabled false,
/// securityEnabled true) or a Microsoft 365 group (groupTypes ["Unified"], mailEnabled
/// true). Mail-enabled security groups and distribution lists cannot be written through
/// Graph; dynamic membership is not supported by the test tenant (refused, stricter).
fn check_group_shape(group: &Map<String, Value>) -> Result<(), GraphError> {
    let types: Vec<&str> =
        group.get("groupTypes").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let unified = match types.as_slice() {
        [] => false,
        ["Unified"] => true,
        _ if types.contains(&"DynamicMembership") => {
            return Err(GraphError::not_supported_here("Dynamic membership (groupTypes 'DynamicMembership')"));
        }
        _ => return Err(GraphError::invalid_value("groupTypes", "Group")),
    };
    let mail_enabled = group.get("mailEnabled").and_then(Value::as_bool).unwrap_or(false);
    let security_enabled = group.get("securityEnabled").and_then(Value::as_bool).unwrap_or(false);
    if unified && !mail_enabled {
        return Err(GraphError::invalid_value("mailEnabled", "Group"));
    }
    if !unified && mail_enabled {
        return Err(GraphError::bad_request(
            "The service does not currently support writes of mail-enabled groups. Please ensure that the mail-enablement property is unset or set to false.",
        ));
    }
    if !unified && !security_enabled {
        return Err(GraphError::invalid_value("securityEnabled", "Group"));
    }
    if !unified && group.contains_key("visibility") {
        return Err(GraphError::invalid_value("visibility", "Group"));
    }
    Ok(())
}

/// Whether a group is a Microsoft 365 ("Unified") group.
pub fn is_unified(group: &Map<String, Value>) -> bool {
    group.get("groupTypes").and_then(Value::as_array).is_some_and(|t| t.iter().any(|v| v == "Unified"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_tenant::schema::graph_schema;
    use serde_json::json;

    fn ctx() -> Context<'static> {
        static DOMAINS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        let domains = DOMAINS.get_or_init(|| vec!["samverkan.se".to_string(), "bjuv.se".to_string()]);
        Context { schema: graph_schema().unwrap(), domains, own_base: "http://127.0.0.1:1" }
    }

    fn user() -> Value {
        json!({
            "accountEnabled": true,
            "displayName": "Åsa Öberg",
            "mailNickname": "asa.oberg",
            "userPrincipalName": "asa.oberg@bjuv.se",
            "passwordProfile": {"password": "Sommar!2024x", "forceChangePasswordNextSignIn": true}
        })
    }

    #[test]
    fn upn_rules() {
        let d = vec!["bjuv.se".to_string()];
        assert!(check_upn("asa.oberg@bjuv.se", &d).is_ok());
        assert!(check_upn("ASA.OBERG@BJUV.SE", &d).is_ok());
        for bad in ["åsa@bjuv.se", "asa.@bjuv.se", ".asa@bjuv.se", "a..b@bjuv.se", "asa", "a b@bjuv.se", "@bjuv.se"] {
            let e = check_upn(bad, &d).unwrap_err();
            assert_eq!(e.message, "Property userPrincipalName is invalid.", "{bad}");
        }
        let long = format!("{}@bjuv.se", "a".repeat(65));
        assert!(check_upn(&long, &d).is_err());
        assert!(check_upn(&format!("{}@bjuv.se", "a".repeat(64)), &d).is_ok());
        let e = check_upn("asa@klippan.se", &d).unwrap_err();
        assert!(e.message.starts_with("The domain portion of the userPrincipalName property is invalid."));
    }

    #[test]
    fn nickname_and_password_rules() {
        assert!(check_mail_nickname("asa.oberg").is_some());
        for bad in ["", "a b", "a@b", "åsa", "a;b", "a,b", &"x".repeat(65)] {
            assert!(check_mail_nickname(bad).is_none(), "{bad}");
        }
        assert!(password_is_complex("Sommar!2024"));
        assert!(!password_is_complex("sommar2024"), "two classes");
        assert!(!password_is_complex("Ab1!"), "too short");
        assert!(!password_is_complex("Sömmar!2024"), "non-ASCII");
        assert!(immutable_id_is_valid("AAECAwQFBgcICQoLDA0ODw=="));
        assert!(!immutable_id_is_valid("abc$"));
        assert!(!immutable_id_is_valid("not base64!"));
    }

    #[test]
    fn one_path_for_post_and_patch() {
        let c = ctx();
        let w = validate_write(Kind::User, &user(), None, &c).unwrap();
        assert!(w.set["passwordProfile"].get("password").is_none(), "the password is never stored");
        let mut missing = user();
        missing.as_object_mut().unwrap().remove("mailNickname");
        let e = validate_write(Kind::User, &missing, None, &c).unwrap_err();
        assert!(e.message.contains("mailNickname"));
        let stored = w.set.clone();
        // A PATCH that would break a rule is refused as the POST would be.
        assert!(validate_write(Kind::User, &json!({"displayName": "x".repeat(257)}), Some(&stored), &c).is_err());
        assert!(validate_write(Kind::User, &json!({"displayName": null}), Some(&stored), &c).is_err());
        assert!(validate_write(Kind::User, &json!({"jobTitle": "Lärare"}), Some(&stored), &c).is_ok());
        assert!(validate_write(Kind::User, &json!({"jobTitle": null}), Some(&stored), &c).is_ok());
        let e =
            validate_write(Kind::User, &json!({"proxyAddresses": ["SMTP:a@bjuv.se"]}), Some(&stored), &c).unwrap_err();
        assert_eq!(e.message, "Property 'proxyAddresses' is read-only and cannot be set.");
        assert!(validate_write(Kind::User, &json!({"givenName": ""}), Some(&stored), &c).is_err());
        assert!(validate_write(Kind::User, &json!([1]), Some(&stored), &c).is_err());
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,20}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("displayName".to_string()),
                        Just("passwordProfile".to_string()),
                        Just("members@odata.bind".to_string()),
                        Just("onPremisesExtensionAttributes".to_string()),
                        Just("businessPhones".to_string()),
                        Just("groupTypes".to_string()),
                        "[a-zA-Z@.]{1,12}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn no_body_panics(body in json_value()) {
            let c = ctx();
            for kind in [Kind::User, Kind::Group] {
                let _ = validate_write(kind, &body, None, &c);
                let existing = user().as_object().cloned();
                let _ = validate_write(kind, &body, existing.as_ref(), &c);
            }
        }
    }

    #[test]
    fn group_shapes_and_binds() {
        let c = ctx();
        let sec = json!({"displayName": "G", "mailEnabled": false, "mailNickname": "g", "securityEnabled": true});
        assert!(validate_write(Kind::Group, &sec, None, &c).is_ok());
        let m365 = json!({"displayName": "G", "mailEnabled": true, "mailNickname": "g", "securityEnabled": false, "groupTypes": ["Unified"]});
        assert!(validate_write(Kind::Group, &m365, None, &c).is_ok());
        let mail_sec = json!({"displayName": "G", "mailEnabled": true, "mailNickname": "g", "securityEnabled": true});
        assert!(validate_write(Kind::Group, &mail_sec, None, &c).unwrap_err().message.contains("mail-enabled"));
        let refs: Vec<String> = (0..21)
            .map(|i| format!("https://graph.microsoft.com/v1.0/directoryObjects/00000000-0000-4000-8000-{i:012}"))
            .collect();
        let mut many = sec.clone();
        many["members@odata.bind"] = json!(refs);
        assert!(validate_write(Kind::Group, &many, None, &c).is_err());
        many["members@odata.bind"] = json!(refs[..20]);
        assert_eq!(validate_write(Kind::Group, &many, None, &c).unwrap().members.len(), 20);
        many["members@odata.bind"] = json!(["https://example.com/v1.0/users/00000000-0000-4000-8000-000000000000"]);
        assert!(validate_write(Kind::Group, &many, None, &c).is_err());
        let mut user_bind = user();
        user_bind["members@odata.bind"] = json!([]);
        assert!(validate_write(Kind::User, &user_bind, None, &c).is_err());
    }
}
