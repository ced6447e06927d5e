//! samla's integration tests: one binary, one module per area. Server tests need the real
//! servers that `bash tests/run.sh` starts.

mod ad_range_server;
mod cli;
mod errors;
mod map;
mod plan;
mod plan_report;
mod ranged;
mod samba;
mod slapd;
mod support;
mod tenant;
