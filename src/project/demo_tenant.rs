//! The demo's local test tenant: a fresh one served from a thread of the demo's process, kept in
//! the demo folder's `state/tenant.db` on a port of 127.0.0.1, written into samla.toml as target
//! `demo`, and the command that starts it again on the same state after the demo.

use super::error::ProjectError;
use crate::config::Config;
use std::fmt::Write as _;
use std::path::Path;

/// The local test tenant, served from its own thread for as long as the demo runs.
pub struct DemoTenant {
    url: String,
    /// The tenant's state file (SQLite), so it can be started again after the demo.
    state_file: std::path::PathBuf,
    /// The client secret's file, beside the state.
    secret_file: std::path::PathBuf,
    listen: std::net::SocketAddr,
    domains: Vec<String>,
    graph_url: String,
    tenant_id: String,
    client_id: String,
    secret: crate::config::secret::Secret,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The port the demo's tenant listened on when the journal last recorded target `demo` (its
/// Graph URL): a demo run again in its folder listens there again, so that target `demo`
/// keeps its identity (a refused run otherwise: the journal's runs would be another tenant's).
pub fn recorded_port(state: &crate::state::State) -> Option<u16> {
    let (_, identity) = state.recorded_identity("demo").ok().flatten()?;
    let url = url::Url::parse(&identity.tenant?.graph_url).ok()?;
    url.port()
}

impl DemoTenant {
    /// Starts a fresh tenant kept in `dir/state/tenant.db`, on 127.0.0.1:`port` (0: a free port).
    pub fn start(domains: &[String], dir: &Path, port: u16) -> Result<DemoTenant, ProjectError> {
        let state_dir = dir.join("state");
        std::fs::create_dir_all(&state_dir).map_err(ProjectError::file(&state_dir))?;
        let state_file = state_dir.join("tenant.db");
        // A new demo starts from an empty tenant.
        for suffix in ["", "-wal", "-shm"] {
            let path = state_dir.join(format!("tenant.db{suffix}"));
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(ProjectError::file(&path)(e));
                }
                _ => {}
            }
        }
        let opts = crate::test_tenant::TenantOptions {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            state: Some(state_file.clone()),
            domains: domains.to_vec(),
            skus: DEMO_SKUS.iter().filter_map(|s| s.parse().ok()).collect(),
            ..crate::test_tenant::TenantOptions::default()
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            runtime.block_on(async move {
                match crate::test_tenant::start(opts).await {
                    Ok(t) => {
                        let info = (
                            t.url().to_string(),
                            t.graph_url(),
                            t.tenant_id().to_string(),
                            t.client_id().to_string(),
                            t.client_secret().clone(),
                        );
                        let _ = ready_tx.send(Ok(info));
                        let _ = stop_rx.await;
                        t.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                    }
                }
            });
        });
        let (url, graph_url, tenant_id, client_id, secret) =
            ready_rx.recv().map_err(|e| ProjectError::TestTenant(e.to_string()))?.map_err(ProjectError::TestTenant)?;
        let listen = url
            .trim_start_matches("http://")
            .parse()
            .map_err(|e| ProjectError::TestTenant(format!("its address {url}: {e}")))?;
        Ok(DemoTenant {
            url,
            state_file,
            secret_file: state_dir.join("demo-tenant-secret"),
            listen,
            domains: domains.to_vec(),
            graph_url,
            tenant_id,
            client_id,
            secret,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The command that starts this tenant again on its state, address and secret.
    pub fn restart_command(&self) -> String {
        let mut command = format!(
            "SAMLA_TENANT_CLIENT_SECRET=\"$(cat {})\" samla test-tenant serve --state {} --listen {}",
            self.secret_file.display(),
            self.state_file.display(),
            self.listen
        );
        for d in &self.domains {
            let _ = write!(command, " --domain {d}");
        }
        for s in DEMO_SKUS {
            let _ = write!(command, " --sku {s}");
        }
        command
    }

    /// Adds (or replaces) the `demo` target in samla.toml; the secret goes to a file beside
    /// the state, never into the config.
    pub fn add_target(&self, config_path: &Path) -> Result<Config, ProjectError> {
        let secret_file = &self.secret_file;
        crate::config::secret::write_secret_file(secret_file, &format!("{}\n", self.secret.expose()))
            .map_err(ProjectError::file(secret_file))?;
        let text = std::fs::read_to_string(config_path).map_err(ProjectError::file(config_path))?;
        let base = text.split("\n# The local test tenant").next().unwrap_or(&text).to_string();
        let toml = format!(
            "{base}\n# The local test tenant the demo started, kept in state/tenant.db; the demo printed the command\n\
             # that starts it again on this port (run from this folder): samla test-tenant serve --state state/tenant.db --listen {} ...\n[[target]]\nname = \"demo\"\n\
             [target.tenant]\ntenant_id = \"{}\"\nclient_id = \"{}\"\nclient_secret_file = \"state/demo-tenant-secret\"\n\
             graph_url = \"{}\"\nlogin_url = \"{}\"\n",
            self.listen, self.tenant_id, self.client_id, self.graph_url, self.url
        );
        std::fs::write(config_path, toml).map_err(ProjectError::file(config_path))?;
        Ok(Config::load(config_path)?)
    }

    pub fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The demo tenant's subscribed SKUs.
pub const DEMO_SKUS: [&str; 3] = ["SPE_E3=4000", "SPE_F1=1500", "M365EDU_A3_STUUSEBNFT=2500"];
