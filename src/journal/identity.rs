//! Which systems a target name stood for when a run was made: the tenant (its id and Graph
//! URL) and the shared AD (its URL and base DN). Recorded with every run (`wave_runs.identity`,
//! JSON of [`TargetIdentity`]), so that a target name pointed at another tenant or domain is
//! noticed instead of mixing two targets' runs in one journal.

use serde::{Deserialize, Serialize};

/// A target's systems as a run saw them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetIdentity {
    pub tenant: Option<TenantIdentity>,
    pub shared_ad: Option<SharedAdIdentity>,
}

/// The tenant: its directory id (lower case) and the Graph root it was reached at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantIdentity {
    pub tenant_id: String,
    pub graph_url: String,
}

/// The shared AD: the server's URL and the base DN written below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedAdIdentity {
    pub url: String,
    pub base_dn: String,
}

impl std::fmt::Display for TargetIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.tenant {
            Some(t) => write!(f, "tenant {} at {}", t.tenant_id, t.graph_url)?,
            None => write!(f, "no tenant")?,
        }
        match &self.shared_ad {
            Some(a) => write!(f, ", shared AD {} base DN {}", a.url, a.base_dn),
            None => write!(f, ", no shared AD"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_names_both_systems_and_reads_back_from_its_json() {
        let id = TargetIdentity {
            tenant: Some(TenantIdentity { tenant_id: "1111".into(), graph_url: "http://127.0.0.1:1/v1.0".into() }),
            shared_ad: Some(SharedAdIdentity { url: "ldaps://dc".into(), base_dn: "DC=x".into() }),
        };
        assert_eq!(id.to_string(), "tenant 1111 at http://127.0.0.1:1/v1.0, shared AD ldaps://dc base DN DC=x");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<TargetIdentity>(&json).unwrap(), id);
        let none = TargetIdentity { tenant: None, shared_ad: None };
        assert_eq!(none.to_string(), "no tenant, no shared AD");
    }
}
