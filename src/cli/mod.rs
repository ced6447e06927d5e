//! The command line: parses flags, loads the config, calls the library, prints, and maps
//! errors to exit codes. Nothing here decides anything a test would want to check.
//!
//! Exit codes: 0 success, 1 the work failed (a source could not be read), 2 bad usage or
//! configuration. Errors are printed once, on one line, at the top level.

mod demo;
mod init;
mod licences;
mod map;
mod plan;
pub mod rollback;
pub mod run;
pub mod wave;

use crate::config::Config;
use crate::error::Classified;
use crate::estate::{EstateOptions, Flavor};
use crate::source::{SourceOutcome, discover};
use crate::state::{SnapshotSummary, State};
use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "samla",
    version,
    about = "Consolidate municipalities' Active Directories into one shared directory and one Microsoft 365 tenant"
)]
struct Cli {
    /// The project's configuration file.
    #[arg(long, short, global = true, default_value = "samla.toml", env = "SAMLA_CONFIG")]
    config: PathBuf,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Hide progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read municipalities' directories into new snapshots (all sources unless named).
    Discover {
        /// A source name from samla.toml; repeat for several.
        #[arg(long = "source", value_name = "NAME")]
        sources: Vec<String>,
    },
    /// List the snapshots in the state.
    Snapshots,
    /// Map the newest snapshots into one unified directory and report every conflict.
    Map {
        /// Where the per-municipality reports go (default: reports/map next to samla.toml).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Plan migration waves, smallest impact first, into waves/ (keeps what people pinned or moved).
    Plan {
        /// Show how one unit's impact score was reached ("municipality/unit"); writes nothing.
        #[arg(long, value_name = "UNIT")]
        explain: Option<String>,
        /// Also write the plan report (HTML with charts, CSV) into reports/plan.
        #[arg(long)]
        report: bool,
    },
    /// List the wave files with their counts per municipality and status (planned, stale).
    Waves,
    /// Work with one wave: dry-run it (what it will send and change).
    #[command(subcommand)]
    Wave(WaveCommand),
    /// Reports for people.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Write a commented starting project (samla.toml, mappings/, waves/) into DIR.
    Init { dir: PathBuf },
    /// Run samla's whole job on the bundled sample estate of five municipalities.
    Demo {
        /// Where the demo project is written.
        #[arg(long, default_value = "samla-demo")]
        dir: PathBuf,
    },
    /// The deterministic sample estate.
    #[command(subcommand)]
    Estate(EstateCommand),
    /// A local tenant that behaves like Microsoft Graph, for rehearsals and demos.
    #[command(subcommand)]
    TestTenant(Box<TestTenantCommand>),
}

#[derive(Subcommand)]
enum TestTenantCommand {
    /// Serve the test tenant until Ctrl-C; prints its URLs as one JSON line.
    Serve(crate::test_tenant::TenantOptions),
    /// Print the canonical dump of a tenant kept in --state FILE.
    Dump(crate::test_tenant::TenantOptions),
}

#[derive(Subcommand)]
enum WaveCommand {
    /// Show exactly what a wave will send (Graph requests, LDAP changes) and change; writes nothing
    /// to any target. Exit 1 when the wave must not run (stale, blocking findings, refused names).
    DryRun {
        /// The wave: its number, name or file name (without .toml).
        wave: String,
        /// Where the requests, LDIF and CSV go (default: reports/waves/<wave file name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compare with this target of samla.toml (read only): creates, updates with old and
        /// new values, unchanged objects.
        #[arg(long)]
        target: Option<String>,
    },
    /// Execute a wave against a target of samla.toml: shows the comparison, checks the
    /// thresholds, asks for confirmation, journals every operation before it is sent.
    /// Safe to run again: finished work is seen in the target and not repeated.
    Run {
        wave: String,
        /// The `[[target]]` to run against.
        #[arg(long)]
        target: String,
        /// Do not ask for confirmation (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Undo a wave in a target: memberships, managers and licences removed, changed values
    /// restored, created groups, users and OUs deleted, in that order. What someone changed
    /// since the wave (drift) is reported and left alone. Journaled; run again to resume.
    Rollback {
        wave: String,
        #[arg(long)]
        target: String,
        /// Only this municipality's people and groups (shared groups keep the others' members).
        #[arg(long)]
        municipality: Option<String>,
        /// Show the plan and write the reports; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// The journal's runs of a wave: who ran it, when, from which wave file, what happened.
    Status {
        wave: String,
        #[arg(long)]
        target: Option<String>,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Per municipality: every change a wave made in a target, its inverse, the order the
    /// inverses run in, and whether the target still shows it or has drifted (read live when
    /// the target can be reached). CSV, JSON and HTML in reports/rollback.
    Rollback {
        wave: String,
        /// The target (default: the only one the wave ran against).
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        municipality: Option<String>,
    },
}

#[derive(Subcommand)]
enum EstateCommand {
    /// Write one LDIF file per municipality into OUT.
    Generate {
        #[arg(long, value_enum, default_value = "ldifde")]
        flavor: Flavor,
        #[arg(long)]
        out: PathBuf,
        /// 1.0 is about 7,000 users in all; 140 about a million.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
}

/// A failure with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    fn usage(message: impl ToString) -> Failure {
        Failure { code: 2, message: message.to_string() }
    }
    fn work(message: impl ToString) -> Failure {
        Failure { code: 1, message: message.to_string() }
    }
}

/// Any classified error, with the exit code of its class: lets commands use `?`.
impl<E: Classified + std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure { code: error.exit_class().code(), message: error.to_string() }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // One TLS provider for the whole process (LDAP and HTTP clients), chosen explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SAMLA_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("samla: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let progress = !cli.quiet && !cli.json && std::io::stderr().is_terminal();
    match cli.command {
        Command::Discover { sources } => {
            let config = Config::load(&cli.config).map_err(Failure::usage)?;
            let outcomes = run_discover(&config, &sources, progress)?;
            print_outcomes(&outcomes, cli.json)?;
            let failed: Vec<String> = outcomes
                .iter()
                .filter_map(|o| o.result.as_ref().err().map(|e| format!("{}: {e}", o.municipality)))
                .collect();
            match failed.len() {
                0 => Ok(()),
                _ => Err(Failure::work(failed.join("\nsamla: "))),
            }
        }
        Command::Snapshots => {
            let config = Config::load(&cli.config).map_err(Failure::usage)?;
            let state = State::open(&config.state_path).map_err(Failure::work)?;
            let list = state.snapshots().map_err(Failure::work)?;
            if cli.json { print_json(&list) } else { print_snapshot_table(&list.iter().collect::<Vec<_>>()) }
        }
        Command::Map { out } => {
            let config = Config::load(&cli.config).map_err(Failure::usage)?;
            // The process ends next: handing a million people's allocations back one by one
            // would cost seconds for nothing.
            map::run(&config, out.as_deref(), cli.json).map(std::mem::forget)
        }
        Command::Plan { explain, report } => {
            let config = Config::load(&cli.config).map_err(Failure::usage)?;
            plan::run(&config, explain.as_deref(), report, cli.json)
        }
        Command::Waves => {
            let config = Config::load(&cli.config).map_err(Failure::usage)?;
            plan::list(&config, cli.json)
        }
        Command::Wave(WaveCommand::DryRun { wave, out, target }) => {
            let config = Config::load(&cli.config).map_err(Failure::usage)?;
            wave::dry_run(&config, &wave, out.as_deref(), target.as_deref(), cli.json).map(|_| ())
        }
        Command::Wave(WaveCommand::Run { wave, target, yes }) => {
            let config = Config::load(&cli.config).map_err(Failure::usage)?;
            run::run(&config, &wave, &target, yes, cli.json).map(|_| ())
        }
        Command::Wave(WaveCommand::Rollback { wave, target, municipality, dry_run, yes }) => {
            let config = Config::load(&cli.config).map_err(Failure::usage)?;
            rollback::rollback(&config, &wave, &target, municipality.as_deref(), dry_run, yes, cli.json).map(|_| ())
        }
        Command::Report(ReportCommand::Rollback { wave, target, municipality }) => {
            let config = Config::load(&cli.config).map_err(Failure::usage)?;
            rollback::report(&config, &wave, target.as_deref(), municipality.as_deref(), cli.json)
        }
        Command::Wave(WaveCommand::Status { wave, target }) => {
            let config = Config::load(&cli.config).map_err(Failure::usage)?;
            run::status(&config, &wave, target.as_deref(), cli.json)
        }
        Command::Init { dir } => init::write_project(&dir).map_err(Failure::work),
        Command::Demo { dir } => demo::run(&dir, progress, cli.json),
        Command::TestTenant(command) => match *command {
            TestTenantCommand::Serve(opts) => {
                let runtime = tokio::runtime::Runtime::new().map_err(Failure::work)?;
                runtime.block_on(crate::test_tenant::serve(opts)).map_err(Failure::work)
            }
            TestTenantCommand::Dump(opts) => {
                print_json(&crate::test_tenant::dump_state_file(&opts).map_err(Failure::work)?)
            }
        },
        Command::Estate(EstateCommand::Generate { flavor, out, scale, seed }) => {
            if !(scale > 0.0 && scale <= 1000.0) {
                return Err(Failure::usage(format!("--scale {scale} must be above 0 and at most 1000")));
            }
            let written = crate::estate::write_all(&EstateOptions { seed, scale }, flavor, &out)
                .map_err(|e| Failure::work(format!("{}: {e}", out.display())))?;
            if cli.json {
                print_json(
                    &written.iter().map(|(p, c)| serde_json::json!({"file": p, "counts": c})).collect::<Vec<_>>(),
                )
            } else {
                for (path, counts) in written {
                    println!(
                        "{}: {} users, {} groups, {} contacts",
                        path.display(),
                        counts.users,
                        counts.groups,
                        counts.contacts
                    );
                }
                Ok(())
            }
        }
    }
}

/// Opens the state and reads the selected sources.
fn run_discover(config: &Config, names: &[String], progress: bool) -> Result<Vec<SourceOutcome>, Failure> {
    let selected = config.select(names).map_err(Failure::usage)?;
    if selected.is_empty() {
        return Err(Failure::usage(format!("{} defines no sources", config.file.display())));
    }
    let state = State::open(&config.state_path).map_err(Failure::work)?;
    discover(state, &selected, progress).map_err(Failure::work)
}

fn print_outcomes(outcomes: &[SourceOutcome], json: bool) -> Result<(), Failure> {
    if json {
        let rows: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(s) => serde_json::json!({"municipality": o.municipality, "ok": true, "snapshot": s}),
                Err(e) => serde_json::json!({"municipality": o.municipality, "ok": false, "error": e.to_string()}),
            })
            .collect();
        return print_json(&rows);
    }
    let ok: Vec<&SnapshotSummary> = outcomes.iter().filter_map(|o| o.result.as_ref().ok()).collect();
    print_snapshot_table(&ok)
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(Failure::work)?;
    writeln!(std::io::stdout(), "{text}").map_err(Failure::work)
}

fn print_snapshot_table(rows: &[&SnapshotSummary]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let mut line = |s: String| writeln!(out, "{s}").map_err(Failure::work);
    line(format!(
        "{:>4}  {:<14} {:>8} {:>7} {:>8} {:>5} {:>11}  {:<20}  {}",
        "id", "municipality", "users", "groups", "contacts", "ous", "memberships", "taken", "hash"
    ))?;
    for s in rows {
        line(format!(
            "{:>4}  {:<14} {:>8} {:>7} {:>8} {:>5} {:>11}  {:<20}  {}",
            s.id.0,
            s.municipality,
            s.users,
            s.groups,
            s.contacts,
            s.ous,
            s.memberships,
            s.finished_at,
            s.content_hash.get(..12).unwrap_or_default()
        ))?;
    }
    Ok(())
}
