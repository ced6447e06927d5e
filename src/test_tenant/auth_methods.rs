//! Temporary Access Passes: the tenant's policy for them and a user's pass, with Graph's
//! rules (pure: no state, no HTTP).
//!
//! The cutover day hands each person a first sign-in, and Graph's rules for passes decide
//! whether a resumed cutover leaves a person with a pass, none, or one the service desk never
//! saw. So the tenant follows what Microsoft documents for
//! `temporaryAccessPassAuthenticationMethodConfiguration` and
//! `temporaryAccessPassAuthenticationMethod`:
//! - the policy: `state` enabled or disabled, lifetimes between 10 and 43,200 minutes with
//!   minimum <= default <= maximum, a default length of 8 to 48 characters, `isUsableOnce`;
//!   Microsoft's defaults (60, 60, 480 minutes, length 8, reusable). A new test tenant starts
//!   with it enabled (a real tenant's is off until an admin switches it on), unless started
//!   with `--tap-disabled`;
//! - a create is refused while the policy is disabled (the message Entra gives), with a
//!   lifetime outside the policy's minimum and maximum (Graph's message), or multi-use while
//!   the policy says one-time; unset lifetime and one-time use take the policy's defaults;
//! - a user has at most one pass: creating one deletes the current one (Graph's create page);
//! - the pass itself is in the create response only; reads return it as null.
//!
//! Stricter than Graph, where Microsoft says nothing: a `startDateTime` more than five minutes
//! in the past is refused, and so is a pass for a disabled account (enable first); the
//! policy's `includeTargets` and `excludeTargets` are shown as all users and cannot be
//! written. The pass is never kept: not hashed, not in the state file, not in a dump.

use super::error::GraphError;
use super::ids::Guid;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The policy's id under `/policies/authenticationMethodsPolicy/authenticationMethodConfigurations`.
pub const POLICY_ID: &str = "TemporaryAccessPass";
/// Graph's bounds of every lifetime in the policy and on a pass (minutes; 30 days).
pub const LIFETIME_BOUNDS: (u32, u32) = (10, 43_200);
/// Graph's bounds of a pass's length (characters).
pub const LENGTH_BOUNDS: (u32, u32) = (8, 48);
/// How far in the past a `startDateTime` may lie (clock skew).
const START_SKEW_MINUTES: i64 = 5;
/// The characters of a pass. Graph's own example pass starts with `+`: a handout written as
/// CSV must not let a spreadsheet read a pass as a formula, so passes here may start with
/// `+`, `-`, `=` or `@` too.
const PASS_CHARACTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789+-=@#%&*!?";
/// Entra's refusal of a pass while the policy does not allow them (as tenants report it).
pub const POLICY_REFUSAL: &str = "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthMethodType [TemporaryAccessPass].";

/// The tenant's Temporary Access Pass policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapPolicy {
    pub enabled: bool,
    pub default_lifetime: u32,
    pub minimum_lifetime: u32,
    pub maximum_lifetime: u32,
    pub usable_once: bool,
    pub default_length: u32,
}

impl Default for TapPolicy {
    /// Microsoft's defaults, enabled.
    fn default() -> TapPolicy {
        TapPolicy {
            enabled: true,
            default_lifetime: 60,
            minimum_lifetime: 60,
            maximum_lifetime: 480,
            usable_once: false,
            default_length: 8,
        }
    }
}

/// 400 `badRequest`, the lower-case code Graph's authentication-method APIs answer with.
fn bad(message: impl Into<String>) -> GraphError {
    GraphError::new(400, "badRequest", message)
}

/// A property's value as a whole number within `bounds`.
fn number_in(name: &str, v: &Value, bounds: (u32, u32)) -> Result<u32, GraphError> {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|n| (bounds.0..=bounds.1).contains(n)).ok_or_else(|| {
        bad(format!("Invalid value for '{name}': a whole number from {} to {} is expected.", bounds.0, bounds.1))
    })
}

fn boolean(name: &str, v: &Value) -> Result<bool, GraphError> {
    v.as_bool().ok_or_else(|| bad(format!("Invalid value for '{name}': true or false is expected.")))
}

/// The `@odata.type` a body may name, if it names one.
fn check_type(v: &Value, expected: &str) -> Result<(), GraphError> {
    match v.as_str() {
        Some(t) if t.trim_start_matches('#') == expected.trim_start_matches('#') => Ok(()),
        _ => Err(bad(format!("Invalid value for '@odata.type': {expected} is expected."))),
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl TapPolicy {
    /// The policy a new tenant starts with.
    pub fn initial(disabled: bool) -> TapPolicy {
        TapPolicy { enabled: !disabled, ..TapPolicy::default() }
    }

    /// The policy as Graph shows it.
    pub fn render(&self) -> Value {
        json!({
            "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
            "id": POLICY_ID,
            "state": if self.enabled { "enabled" } else { "disabled" },
            "defaultLifetimeInMinutes": self.default_lifetime,
            "defaultLength": self.default_length,
            "minimumLifetimeInMinutes": self.minimum_lifetime,
            "maximumLifetimeInMinutes": self.maximum_lifetime,
            "isUsableOnce": self.usable_once,
            "excludeTargets": [],
            "includeTargets": [{"targetType": "group", "id": "all_users", "isRegistrationRequired": false}],
        })
    }

    /// The policy after a PATCH with `body`, all checked; `self` is untouched on refusal.
    pub fn patched(&self, body: &Value) -> Result<TapPolicy, GraphError> {
        let Value::Object(map) = body else { return Err(GraphError::unreadable_body()) };
        let mut next = *self;
        for (name, v) in map {
            match name.as_str() {
                "@odata.type" => {
                    check_type(v, "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration")?
                }
                "id" if v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(POLICY_ID)) => {}
                "state" => {
                    next.enabled = match v.as_str() {
                        Some("enabled") => true,
                        Some("disabled") => false,
                        _ => return Err(bad("Invalid value for 'state': 'enabled' or 'disabled' is expected.")),
                    }
                }
                "defaultLifetimeInMinutes" => next.default_lifetime = number_in(name, v, LIFETIME_BOUNDS)?,
                "minimumLifetimeInMinutes" => next.minimum_lifetime = number_in(name, v, LIFETIME_BOUNDS)?,
                "maximumLifetimeInMinutes" => next.maximum_lifetime = number_in(name, v, LIFETIME_BOUNDS)?,
                "defaultLength" => next.default_length = number_in(name, v, LENGTH_BOUNDS)?,
                "isUsableOnce" => next.usable_once = boolean(name, v)?,
                "includeTargets" | "excludeTargets" => {
                    return Err(GraphError::not_supported_here(&format!("Writing the policy's '{name}'")));
                }
                _ => return Err(GraphError::unknown_property(name)),
            }
        }
        if next.minimum_lifetime > next.maximum_lifetime {
            return Err(bad(format!(
                "Invalid value for 'minimumLifetimeInMinutes': {} is above maximumLifetimeInMinutes {}.",
                next.minimum_lifetime, next.maximum_lifetime
            )));
        }
        if !(next.minimum_lifetime..=next.maximum_lifetime).contains(&next.default_lifetime) {
            return Err(bad(format!(
                "Invalid value for 'defaultLifetimeInMinutes': {} is not between minimumLifetimeInMinutes {} and maximumLifetimeInMinutes {}.",
                next.default_lifetime, next.minimum_lifetime, next.maximum_lifetime
            )));
        }
        Ok(next)
    }

    /// A create's body checked against this policy: the pass to make.
    pub fn admit(&self, body: &Value, now: DateTime<Utc>) -> Result<TapRequest, GraphError> {
        if !self.enabled {
            return Err(bad(POLICY_REFUSAL));
        }
        let Value::Object(map) = body else { return Err(GraphError::unreadable_body()) };
        let mut lifetime = None;
        let mut once = None;
        let mut start = None;
        for (name, v) in map {
            match name.as_str() {
                "@odata.type" => check_type(v, "#microsoft.graph.temporaryAccessPassAuthenticationMethod")?,
                "lifetimeInMinutes" => {
                    let n = v.as_i64().ok_or_else(|| GraphError::wrong_type(&v.to_string(), "Edm.Int32"))?;
                    lifetime = Some(n);
                }
                "isUsableOnce" => {
                    once = Some(v.as_bool().ok_or_else(|| GraphError::wrong_type(&v.to_string(), "Edm.Boolean"))?)
                }
                "startDateTime" => {
                    let t = v
                        .as_str()
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                        .ok_or_else(|| GraphError::wrong_type(&v.to_string(), "Edm.DateTimeOffset"))?
                        .with_timezone(&Utc);
                    if t < now - Duration::minutes(START_SKEW_MINUTES) {
                        return Err(bad(format!(
                            "Invalid StartDateTime specified: {} is in the past (the samla test tenant is stricter than Graph here).",
                            rfc3339(t)
                        )));
                    }
                    start = Some(t);
                }
                "temporaryAccessPass" | "isUsable" | "methodUsabilityReason" | "createdDateTime" | "id" => {
                    return Err(GraphError::read_only(name));
                }
                _ => return Err(GraphError::unknown_property(name)),
            }
        }
        let lifetime = lifetime.unwrap_or(i64::from(self.default_lifetime));
        let lifetime = u32::try_from(lifetime)
            .ok()
            .filter(|l| (self.minimum_lifetime..=self.maximum_lifetime).contains(l))
            .ok_or_else(|| {
                bad(format!(
                    "Invalid LifetimeInMinutes specified. The valid range between {} and {}.",
                    self.minimum_lifetime, self.maximum_lifetime
                ))
            })?;
        let usable_once = once.unwrap_or(self.usable_once);
        if self.usable_once && !usable_once {
            return Err(bad(
                "The Temporary Access Pass policy allows one-time passes only (isUsableOnce must be true).",
            ));
        }
        Ok(TapRequest { start: start.unwrap_or(now), lifetime, usable_once })
    }
}

/// A checked create: when the pass starts, for how long, whether once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapRequest {
    pub start: DateTime<Utc>,
    pub lifetime: u32,
    pub usable_once: bool,
}

/// A user's pass as the tenant keeps it: everything but the pass itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapMethod {
    pub id: Guid,
    pub created: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub lifetime: u32,
    pub usable_once: bool,
}

impl TapMethod {
    pub fn new(id: Guid, request: TapRequest, created: DateTime<Utc>) -> TapMethod {
        TapMethod { id, created, start: request.start, lifetime: request.lifetime, usable_once: request.usable_once }
    }

    /// Whether it can be used now, and why (Graph's `methodUsabilityReason`). No sign-in is
    /// served, so a one-time pass is never `OneTimeUsed`.
    pub fn usability(&self, policy: &TapPolicy, now: DateTime<Utc>) -> (bool, &'static str) {
        if !policy.enabled {
            (false, "DisabledByPolicy")
        } else if now < self.start {
            (false, "NotYetValid")
        } else if now >= self.start + Duration::minutes(i64::from(self.lifetime)) {
            (false, "Expired")
        } else {
            (true, "EnabledByPolicy")
        }
    }

    /// As Graph shows it: with the pass in the create response, null in reads.
    pub fn render(&self, policy: &TapPolicy, now: DateTime<Utc>, pass: Option<&str>) -> Value {
        let (usable, reason) = self.usability(policy, now);
        json!({
            "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
            "id": self.id,
            "temporaryAccessPass": pass,
            "createdDateTime": rfc3339(self.created),
            "startDateTime": rfc3339(self.start),
            "lifetimeInMinutes": self.lifetime,
            "isUsableOnce": self.usable_once,
            "isUsable": usable,
            "methodUsabilityReason": reason,
        })
    }

    /// In the tenant's canonical dump: no times, no pass.
    pub fn dump(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("lifetimeInMinutes".into(), json!(self.lifetime));
        m.insert("isUsableOnce".into(), json!(self.usable_once));
        Value::Object(m)
    }
}

/// A new pass of `length` characters from the system's random source (never the seeded id
/// stream: two tenants with one seed must not hand out the same passes).
pub fn new_pass(length: u32) -> Result<String, GraphError> {
    let n = PASS_CHARACTERS.len();
    // Bytes at or above the largest multiple of n are skipped, so every character is as likely.
    let limit = 256 - 256 % n;
    let mut out = String::with_capacity(length as usize);
    let mut bytes = [0u8; 64];
    while out.len() < length as usize {
        getrandom::getrandom(&mut bytes)
            .map_err(|_| GraphError::new(500, "generalException", "The tenant has no random source."))?;
        for b in bytes.iter().map(|b| usize::from(*b)).filter(|b| *b < limit) {
            if out.len() == length as usize {
                break;
            }
            out.push(char::from(PASS_CHARACTERS[b % n]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-07T06:00:00Z".parse().unwrap()
    }

    #[test]
    fn the_policy_starts_with_microsofts_defaults_and_patches_are_checked_whole() {
        let p = TapPolicy::default();
        assert_eq!((p.minimum_lifetime, p.default_lifetime, p.maximum_lifetime), (60, 60, 480));
        assert!(!TapPolicy::initial(true).enabled && TapPolicy::initial(false).enabled);
        let wider = p.patched(&json!({"maximumLifetimeInMinutes": 43_200, "minimumLifetimeInMinutes": 10})).unwrap();
        assert_eq!((wider.minimum_lifetime, wider.maximum_lifetime), (10, 43_200));
        for bad in [
            json!({"defaultLength": 7}),
            json!({"defaultLength": 48.5}),
            json!({"maximumLifetimeInMinutes": 9}),
            json!({"minimumLifetimeInMinutes": 500}),
            json!({"state": "Enabled"}),
            json!({"includeTargets": []}),
            json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration"}),
            json!([]),
        ] {
            assert!(p.patched(&bad).is_err(), "{bad}");
        }
        assert_eq!(p.patched(&json!({"state": "disabled"})).unwrap(), TapPolicy::initial(true));
    }

    #[test]
    fn a_create_takes_the_policys_defaults_and_bounds() {
        let p = TapPolicy::default();
        let r = p.admit(&json!({}), now()).unwrap();
        assert_eq!(r, TapRequest { start: now(), lifetime: 60, usable_once: false });
        assert_eq!(p.admit(&json!({"lifetimeInMinutes": 480, "isUsableOnce": true}), now()).unwrap().lifetime, 480);
        for lifetime in [59_i64, 481, -1, 5_000_000_000] {
            let e = p.admit(&json!({"lifetimeInMinutes": lifetime}), now()).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (400, "badRequest"));
            assert_eq!(e.message, "Invalid LifetimeInMinutes specified. The valid range between 60 and 480.");
        }
        let off = TapPolicy::initial(true).admit(&json!({}), now()).unwrap_err();
        assert_eq!(off.message, POLICY_REFUSAL);
        let once = TapPolicy { usable_once: true, ..p };
        assert!(once.admit(&json!({}), now()).unwrap().usable_once);
        assert!(once.admit(&json!({"isUsableOnce": false}), now()).is_err());
        assert!(p.admit(&json!({"startDateTime": "2026-12-07T05:50:00Z"}), now()).is_err(), "past");
        assert!(p.admit(&json!({"startDateTime": "2026-12-07T05:58:00Z"}), now()).is_ok(), "skew");
        assert!(p.admit(&json!({"temporaryAccessPass": "x"}), now()).is_err());
    }

    #[test]
    fn usability_follows_the_policy_and_the_clock_and_reads_hide_the_pass() {
        let p = TapPolicy::default();
        let m = TapMethod::new(Guid::from_words(1, 2), p.admit(&json!({}), now()).unwrap(), now());
        assert_eq!(m.usability(&p, now()), (true, "EnabledByPolicy"));
        assert_eq!(m.usability(&p, now() - Duration::minutes(1)), (false, "NotYetValid"));
        assert_eq!(m.usability(&p, now() + Duration::minutes(60)), (false, "Expired"));
        assert_eq!(m.usability(&TapPolicy::initial(true), now()), (false, "DisabledByPolicy"));
        assert_eq!(m.render(&p, now(), None)["temporaryAccessPass"], Value::Null);
        assert_eq!(m.render(&p, now(), Some("abc"))["temporaryAccessPass"], "abc");
        let stored = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<TapMethod>(&stored).unwrap(), m);
    }

    #[test]
    fn passes_are_random_of_the_asked_length() {
        let a = new_pass(8).unwrap();
        let b = new_pass(48).unwrap();
        assert_eq!((a.chars().count(), b.chars().count()), (8, 48));
        assert!(b.bytes().all(|c| PASS_CHARACTERS.contains(&c)));
        assert_ne!(new_pass(16).unwrap(), new_pass(16).unwrap());
    }
}
