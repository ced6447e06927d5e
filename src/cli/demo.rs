//! `samla demo`: the whole job on the bundled sample estate, with nothing to set up.
//!
//! It writes the sample estate's five `ldifde` exports and a samla.toml into the demo folder,
//! then runs the same commands a team would: discover, map, plan, dry-run, run wave 1 against
//! the local test tenant, compare again, and end with the rollback reports (a rollback dry run).
//!
//! The folder is a real project afterwards: the tenant keeps its directory in
//! `state/tenant.db` and listens on the port samla.toml's target `demo` names, and the demo
//! ends with the command that starts it again there (`samla test-tenant serve --state ...`).
//!
//! The mapping files are the repository's `mappings/`, compiled in, so the demo maps the
//! sample estate exactly as the committed, reviewed files say.

use super::discover::run_discover;
use super::output::{Failure, print_outcomes};
use super::{map, plan, wave};
use crate::config::Config;
use crate::estate::{self, EstateOptions, Flavor};
use crate::project::demo_tenant::DemoTenant;
use crate::project::licences::Capacity;
use crate::project::{lock_state, open_state_for_writing};
use crate::report::overview::Overview;
use crate::wave::cutover::CutoverRequest;
use crate::wave::dry_run::DryRunRequest;
use crate::wave::rollback::RollbackRequest;
use std::fmt::Write as _;
use std::path::Path;

pub fn run(dir: &Path, tenant_port: u16, progress: bool, json: bool) -> Result<(), Failure> {
    let estate_dir = dir.join("estate");
    let written = estate::write_all(&EstateOptions::default(), Flavor::Ldifde, &estate_dir)
        .map_err(|e| Failure::work(format!("{}: {e}", estate_dir.display())))?;
    let mut toml = String::from(
        "# Written by `samla demo`: the bundled sample estate as ldifde exports.\n[state]\npath = \"state/samla.db\"\n",
    );
    for (spec, (path, _)) in estate::municipalities().iter().zip(&written) {
        let file = path.strip_prefix(dir).unwrap_or(path);
        let _ = write!(
            toml,
            "\n[[source]]\nname = \"{}\"\ndisplay_name = \"{}\"\nldif = \"{}\"\n",
            spec.id,
            spec.display_name,
            file.display()
        );
    }
    let config_path = dir.join("samla.toml");
    std::fs::write(&config_path, toml).map_err(|e| Failure::work(format!("{}: {e}", config_path.display())))?;
    let config = Config::load(&config_path)?;
    let lock = lock_state(&config, "demo")?;

    if !json {
        println!(
            "samla demo: five municipalities' directories, read from their ldifde exports in {}\n",
            estate_dir.display()
        );
    }
    let outcomes = run_discover(&config, &lock, &[], false, progress)?;
    print_outcomes(&outcomes, json)?;
    let state = open_state_for_writing(&config, &lock)?;
    for outcome in &outcomes {
        if let Some(why) = outcome.failure() {
            return Err(Failure::work(format!("{}: {why}", outcome.municipality)));
        }
        let Ok(summary) = &outcome.result else { continue };
        if json {
            continue;
        }
        let objects = state.snapshot_objects(summary.id)?;
        println!("\n{}", Overview::of(&objects).render(&outcome.municipality));
    }
    drop(state);
    let mappings = dir.join("mappings");
    std::fs::create_dir_all(&mappings).map_err(|e| Failure::work(format!("{}: {e}", mappings.display())))?;
    for (name, text) in SAMPLE_MAPPINGS {
        let path = mappings.join(name);
        std::fs::write(&path, text).map_err(|e| Failure::work(format!("{}: {e}", path.display())))?;
    }
    if !json {
        println!("\nMapping into one shared directory (mappings in {}):\n", mappings.display());
    }
    let crate::project::map::Mapped { mappings: mapped, unified, .. } = map::run(&config, &lock, None, json)?;
    let capacity = crate::project::licences::check_against_test_tenant(&mapped.target, &unified)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&capacity).map_err(Failure::work)?);
    } else {
        println!("\nThe local test tenant (Graph over HTTP, client-credentials login): every UPN domain is verified;");
        println!("{}", render_capacity(&capacity));
    }
    if !json {
        println!(
            "\nPlanning migration waves, smallest impact first (weights in {}):\n",
            mappings.join("plan.toml").display()
        );
    }
    plan::run(&config, None, true, json)?;
    if !json {
        println!("\nDry-run of wave 1: the exact Graph requests and shared-AD changes, nothing written:\n");
    }
    let mut state = open_state_for_writing(&config, &lock)?;
    let dry_run = |state: &crate::state::State, config: &Config, target| {
        let request = DryRunRequest { wave: "1", out: None, target };
        wave::print_dry_run(&crate::wave::dry_run::dry_run(config, state, request)?, json)
    };
    dry_run(&state, &config, None)?;
    // Where target `demo` was before (when no port is asked for), else a free port.
    let domains = &mapped.target.verified_domains;
    let tenant = match crate::project::demo_tenant::recorded_port(&state).filter(|_| tenant_port == 0) {
        Some(port) => DemoTenant::start(domains, dir, port).or_else(|_| DemoTenant::start(domains, dir, 0))?,
        None => DemoTenant::start(domains, dir, tenant_port)?,
    };
    let config = tenant.add_target(&config_path)?;
    if !json {
        println!("\nRunning wave 1 against the local test tenant (target \"demo\" in {}):\n", config_path.display());
    }
    let mut operator = wave::Terminal { json, yes: true };
    let summary = crate::wave::run::run(&config, &mut state, "1", "demo", &mut operator)?;
    wave::print_run(&summary, json)?;
    summary.completed()?;
    if !json {
        println!("\nComparing again: the tenant now holds the wave.\n");
    }
    dry_run(&state, &config, Some("demo"))?;
    if !json {
        println!("\nThe rollback reports: what wave 1 changed per municipality and how it would be undone");
        println!("(a dry run of `samla wave rollback 1 --target demo`: nothing is changed).\n");
    }
    let request = RollbackRequest { wave: "1", target: "demo", municipality: None, dry_run: true, cascade: &[] };
    wave::print_rollback(&crate::wave::rollback::rollback(&config, &mut state, request, &mut operator)?, json)?;
    if !json {
        println!("\nCutover of wave 1: its accounts enabled in the tenant, a Temporary Access Pass each, and the");
        println!("service desk's handout per municipality (readable by its owner only).\n");
    }
    let request = CutoverRequest { wave: "1", target: "demo", municipality: None, dry_run: false };
    let outcome = crate::wave::cutover::cutover(&config, &mut state, request, &mut operator)?;
    wave::print_cutover(&outcome, json)?;
    outcome.completed()?;
    let restart = tenant.restart_command();
    tenant.stop();
    if json {
        eprintln!("The demo's test tenant is stopped; to start it again on its state: {restart}");
    } else {
        println!(
            "\nState: {} (inspect with sqlite3). Next: `samla snapshots -c {}`.",
            config.state_path.display(),
            config_path.display()
        );
        println!(
            "\nThe test tenant is stopped; it keeps its directory in its state file. To use target \"demo\" again\n\
             (`samla -c {} wave dry-run 1 --target demo`), start it on the same state and port with:\n\n  {restart}",
            config_path.display()
        );
    }
    Ok(())
}

/// The repository's mappings for the sample estate.
const SAMPLE_MAPPINGS: [(&str, &str); 8] = [
    ("target.toml", include_str!("../../mappings/target.toml")),
    ("plan.toml", include_str!("../../mappings/plan.toml")),
    ("overrides.toml", include_str!("../../mappings/overrides.toml")),
    ("bjuv.toml", include_str!("../../mappings/bjuv.toml")),
    ("klippan.toml", include_str!("../../mappings/klippan.toml")),
    ("perstorp.toml", include_str!("../../mappings/perstorp.toml")),
    ("astorp.toml", include_str!("../../mappings/astorp.toml")),
    ("orkelljunga.toml", include_str!("../../mappings/orkelljunga.toml")),
];

/// The licence check's lines for the terminal.
fn render_capacity(capacity: &[Capacity]) -> String {
    capacity
        .iter()
        .map(|c| {
            let verdict = match c.available {
                Some(a) if a >= c.needed => format!("{a} available: enough"),
                Some(a) => format!("{a} available: {} short", c.needed - a),
                None => "not subscribed".to_string(),
            };
            format!("  licence class {} ({}): {} needed, {verdict}", c.class, c.sku, c.needed)
        })
        .collect::<Vec<_>>()
        .join("\n")
}
