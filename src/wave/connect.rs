//! The clients of one `[[target]]` of samla.toml, connected and logged in, and the runtime
//! they run on. Every operation that reads or writes a target opens them here, once.

use super::error::WaveError;
use crate::client::graph::GraphClient;
use crate::client::ldap::SharedAdClient;
use crate::config::target::TargetConfig;

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
    let failed = |system, e: &dyn std::fmt::Display| WaveError::Connect {
        target: target.name.clone(),
        system,
        message: e.to_string(),
    };
    let tenant = match &target.tenant {
        Some(t) => Some(GraphClient::connect(t).await.map_err(|e| failed("tenant", &e))?),
        None => None,
    };
    let shared_ad = match &target.shared_ad {
        Some(l) => Some(SharedAdClient::connect(l).await.map_err(|e| failed("shared AD", &e))?),
        None => None,
    };
    Ok(Connected { tenant, shared_ad })
}

/// The runtime the clients run on.
pub fn runtime() -> Result<tokio::runtime::Runtime, WaveError> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(WaveError::Runtime)
}
