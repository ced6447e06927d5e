//! samla's integration tests: one binary, one module per area. Server tests need the real
//! servers that `bash tests/run.sh` starts.

mod account_state;
mod ad_range_server;
mod cert_login;
mod cli;
mod cutover;
mod cutover_samba;
mod dry_run;
mod errors;
mod execute;
mod graph_client;
mod graph_requests;
mod kinds;
mod layout;
mod lost_responses;
mod map;
mod plan;
mod plan_report;
mod preflight;
mod ranged;
mod restore;
mod rollback;
mod safe_wave;
mod samba;
mod security;
mod shared_ad;
mod shared_ad_client;
mod slapd;
mod snapshot_guard;
mod source_input;
mod state_safety;
mod support;
mod tap;
mod tenant;
