//! The clients of one `[[target]]` of samla.toml, connected and logged in, and the runtime
//! they run on. Every operation that reads or writes a target opens them here, once.
//!
//! A target's identity (its tenant's id and Graph URL, its shared AD's URL and base DN) is
//! recorded with every run; comparing with, running against or rolling back in a target
//! whose identity is not the one its earlier runs recorded is refused ([`same_target`]). The
//! tenant id is samla.toml's: the test tenant has no `GET /organization` to read it from.

use super::error::WaveError;
use crate::client::graph::GraphClient;
use crate::client::ldap::SharedAdClient;
use crate::config::target::TargetConfig;
use crate::error::Classified;
use crate::journal::{SharedAdIdentity, TargetIdentity, TenantIdentity};
use crate::state::State;

/// The target's clients, connected and logged in.
pub struct Connected {
    pub tenant: Option<GraphClient>,
    pub shared_ad: Option<SharedAdClient>,
}

impl Connected {
    /// Ends the shared AD's LDAP session politely (the tenant's client has none to end).
    pub async fn close(self) {
        if let Some(ad) = self.shared_ad {
            ad.unbind().await;
        }
    }
}

/// Connects to both systems the target names.
pub async fn connect(target: &TargetConfig) -> Result<Connected, WaveError> {
    fn failed<E: Classified + std::fmt::Display>(target: &TargetConfig, system: &'static str, e: E) -> WaveError {
        WaveError::Connect { target: target.name.clone(), system, message: e.to_string(), class: e.exit_class() }
    }
    let tenant = match &target.tenant {
        Some(t) => Some(GraphClient::connect(t).await.map_err(|e| failed(target, "tenant", e))?),
        None => None,
    };
    let shared_ad = match &target.shared_ad {
        Some(l) => Some(SharedAdClient::connect(l).await.map_err(|e| failed(target, "shared AD", e))?),
        None => None,
    };
    Ok(Connected { tenant, shared_ad })
}

/// The systems `target` stands for, as samla.toml names them.
pub fn identity(target: &TargetConfig) -> TargetIdentity {
    TargetIdentity {
        tenant: target
            .tenant
            .as_ref()
            .map(|t| TenantIdentity { tenant_id: t.tenant_id.trim().to_lowercase(), graph_url: t.graph_url.clone() }),
        shared_ad: target
            .shared_ad
            .as_ref()
            .map(|a| SharedAdIdentity { url: a.url.clone(), base_dn: a.base_dn.as_str().to_string() }),
    }
}

/// `target`'s identity, when it is the one the newest run against its name recorded (or no
/// run recorded one: none yet, or only runs from before samla kept identities); else refused,
/// naming both.
pub fn same_target(state: &State, target: &TargetConfig) -> Result<TargetIdentity, WaveError> {
    let current = identity(target);
    match state.recorded_identity(&target.name)? {
        Some((run, recorded)) if recorded != current => Err(WaveError::TargetChanged {
            target: target.name.clone(),
            run,
            recorded: Box::new(recorded),
            current: Box::new(current),
        }),
        _ => Ok(current),
    }
}

/// The runtime the clients run on.
pub fn runtime() -> Result<tokio::runtime::Runtime, WaveError> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(WaveError::Runtime)
}
