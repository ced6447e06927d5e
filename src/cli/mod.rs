//! The command line: parses flags, loads the config, calls the library, prints, and maps
//! errors to exit codes. Nothing here decides anything a test would want to check.
//!
//! Exit codes: 0 success, 1 the work failed (a source could not be read), 2 bad usage or
//! configuration. Errors are printed once, on one line, at the top level.

mod demo;
mod discover;
mod init;
mod map;
mod output;
mod plan;
mod wave;

use crate::config::Config;
use crate::estate::{EstateOptions, Flavor};
use crate::project::{lock_state, open_state_for_reading, open_state_for_writing};
use crate::state::{State, WriterLock};
use crate::wave::cutover::CutoverRequest;
use crate::wave::dry_run::DryRunRequest;
use crate::wave::rollback::RollbackRequest;
use clap::{Parser, Subcommand};
use discover::run_discover;
pub use output::Failure;
use output::{print_json, print_outcomes, print_snapshot_table};
use std::io::IsTerminal;
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
        /// Accept a snapshot that shrank beyond its source's max_shrink at once, instead of
        /// holding it for `samla snapshots accept`.
        #[arg(long)]
        accept_shrink: bool,
    },
    /// List the snapshots in the state, each accepted or held (see `samla snapshots accept`).
    Snapshots {
        #[command(subcommand)]
        command: Option<SnapshotsCommand>,
    },
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
    /// Work with one wave: dry-run it (what it will send and change), run it against a target,
    /// roll it back, and show its runs (status).
    #[command(subcommand)]
    Wave(WaveCommand),
    /// Reports for people.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Write a commented starting project (samla.toml, mappings/ with templates, waves/) into DIR.
    Init {
        /// The project folder (created when missing; an existing samla.toml is never overwritten).
        dir: PathBuf,
    },
    /// Run samla's whole job on the bundled sample estate of five municipalities.
    Demo {
        /// Where the demo project is written.
        #[arg(long, default_value = "samla-demo")]
        dir: PathBuf,
        /// The port on 127.0.0.1 the demo's test tenant listens on, recorded in samla.toml's
        /// target "demo" (default: a free one).
        #[arg(long, default_value_t = 0)]
        tenant_port: u16,
    },
    /// Check or back up the state file.
    #[command(subcommand)]
    State(StateCommand),
    /// The deterministic sample estate.
    #[command(subcommand)]
    Estate(EstateCommand),
    /// A local tenant that behaves like Microsoft Graph, for rehearsals and demos.
    #[command(subcommand)]
    TestTenant(Box<TestTenantCommand>),
}

#[derive(Subcommand)]
enum SnapshotsCommand {
    /// Accept a held snapshot (one that shrank beyond its source's max_shrink): map, plan and
    /// the waves use it from now on. Records who accepted it and when.
    Accept {
        /// The snapshot's id, as `samla snapshots` lists it.
        id: i64,
    },
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
        /// Where the requests, LDIF and CSV go (default: reports/waves/<wave file name>, with
        /// --target its folder against-<target> in there).
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
        /// The wave: its number, name or file name (without .toml).
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
        /// The wave: its number, name or file name (without .toml).
        wave: String,
        /// The `[[target]]` of samla.toml to undo the wave in.
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
        /// Later waves that refer to this wave's objects (by number, comma-separated): rolled
        /// back first, newest first. Without them such a rollback is refused.
        #[arg(long, value_delimiter = ',', value_name = "WAVES")]
        cascade: Vec<u32>,
    },
    /// Cutover day: enable the accounts a wave created in the tenant and give each person a
    /// Temporary Access Pass ([cutover] in samla.toml); writes the service desk's handout per
    /// municipality (CSV and HTML, readable by their owner only). Journaled; run again to
    /// resume: nobody ends with a second pass or none.
    Cutover {
        /// The wave: its number, name or file name (without .toml).
        wave: String,
        /// The `[[target]]` of samla.toml the wave ran against.
        #[arg(long)]
        target: String,
        /// Only this municipality's people.
        #[arg(long)]
        municipality: Option<String>,
        /// Show per municipality what it would enable and issue; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// The journal's runs of a wave: who ran it, when, from which wave file, what happened.
    Status {
        /// The wave: its number, name or file name (without .toml).
        wave: String,
        /// Only the runs against this `[[target]]` of samla.toml (default: all targets).
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
        /// The wave: its number, name or file name (without .toml).
        wave: String,
        /// The target (default: the only one the wave ran against).
        #[arg(long)]
        target: Option<String>,
        /// Only this municipality's changes (default: every municipality the wave touched).
        #[arg(long)]
        municipality: Option<String>,
    },
}

#[derive(Subcommand)]
enum StateCommand {
    /// SQLite's full integrity check, then every stored content hash recomputed (snapshots,
    /// unified directories, the name book). Reads only; exit 1 on any finding.
    Check,
    /// Copy the state, as of one moment, into state/backups/<name>-<UTC time>.db (also done
    /// before every wave run and rollback), keeping the newest N.
    Backup {
        /// How many backups to keep (default: samla.toml's `[state] backups`, else 10).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        keep: Option<u32>,
    },
}

#[derive(Subcommand)]
enum EstateCommand {
    /// Write one LDIF file per municipality into OUT.
    Generate {
        /// Which consumer the LDIF is for: ldifde (an AD export), slapd or samba (for ldapadd).
        #[arg(long, value_enum, default_value = "ldifde")]
        flavor: Flavor,
        /// The folder the LDIF files are written into (created when missing).
        #[arg(long)]
        out: PathBuf,
        /// 1.0 is about 7,000 users in all; 140 about a million.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// The seed: the same seed and scale give the same estate, byte for byte.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
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
        Command::Discover { sources, accept_shrink } => {
            let config = Config::load(&cli.config)?;
            let lock = lock_state(&config, &command_line())?;
            let outcomes = run_discover(&config, &lock, &sources, accept_shrink, progress)?;
            print_outcomes(&outcomes, cli.json)?;
            Failure::all(outcomes.iter().filter_map(output::discover_failure).collect())
        }
        Command::Snapshots { command: None } => {
            let (_, state) = open_read(&cli.config)?;
            let list = state.snapshots()?;
            if cli.json { print_json(&list) } else { print_snapshot_table(&list.iter().collect::<Vec<_>>()) }
        }
        Command::Snapshots { command: Some(SnapshotsCommand::Accept { id }) } => {
            let (_, _lock, mut state) = open_write(&cli.config)?;
            let accepted = discover::accept(&mut state, id)?;
            if cli.json { print_json(&accepted) } else { print_snapshot_table(&[&accepted]) }
        }
        Command::Map { out } => {
            let config = Config::load(&cli.config)?;
            let lock = lock_state(&config, &command_line())?;
            // The process ends next: handing a million people's allocations back one by one
            // would cost seconds for nothing.
            map::run(&config, &lock, out.as_deref(), cli.json).map(std::mem::forget)
        }
        Command::Plan { explain, report } => {
            let config = Config::load(&cli.config)?;
            plan::run(&config, explain.as_deref(), report, cli.json)
        }
        Command::Waves => {
            let config = Config::load(&cli.config)?;
            plan::list(&config, cli.json)
        }
        Command::Wave(WaveCommand::DryRun { wave, out, target }) => {
            let (config, state) = open_read(&cli.config)?;
            let request = DryRunRequest { wave: &wave, out: out.as_deref(), target: target.as_deref() };
            let dry_run = crate::wave::dry_run::dry_run(&config, &state, request)?;
            wave::print_dry_run(&dry_run, cli.json)?;
            Ok(dry_run.target_can_take_it()?)
        }
        Command::Wave(WaveCommand::Run { wave, target, yes }) => {
            let (config, _lock, mut state) = open_write(&cli.config)?;
            let mut operator = wave::Terminal { json: cli.json, yes };
            let summary = crate::wave::run::run(&config, &mut state, &wave, &target, &mut operator)?;
            wave::print_run(&summary, cli.json)?;
            summary.completed().map(drop).map_err(Failure::from)
        }
        Command::Wave(WaveCommand::Rollback { wave, target, municipality, dry_run, yes, cascade }) => {
            // A dry run writes nothing: it reads the state like `wave status`.
            let (config, _lock, mut state) = match dry_run {
                true => open_read(&cli.config).map(|(config, state)| (config, None, state))?,
                false => open_write(&cli.config).map(|(config, lock, state)| (config, Some(lock), state))?,
            };
            let mut operator = wave::Terminal { json: cli.json, yes };
            let municipality = municipality.as_deref();
            let request = RollbackRequest { wave: &wave, target: &target, municipality, dry_run, cascade: &cascade };
            let summary = crate::wave::rollback::rollback(&config, &mut state, request, &mut operator)?;
            wave::print_rollback(&summary, cli.json)?;
            summary.completed().map(drop).map_err(Failure::from)
        }
        Command::Wave(WaveCommand::Cutover { wave, target, municipality, dry_run, yes }) => {
            let (config, _lock, mut state) = match dry_run {
                true => open_read(&cli.config).map(|(config, state)| (config, None, state))?,
                false => open_write(&cli.config).map(|(config, lock, state)| (config, Some(lock), state))?,
            };
            let mut operator = wave::Terminal { json: cli.json, yes };
            let request =
                CutoverRequest { wave: &wave, target: &target, municipality: municipality.as_deref(), dry_run };
            let outcome = crate::wave::cutover::cutover(&config, &mut state, request, &mut operator)?;
            wave::print_cutover(&outcome, cli.json)?;
            outcome.completed().map(drop).map_err(Failure::from)
        }
        Command::Report(ReportCommand::Rollback { wave, target, municipality }) => {
            let (config, state) = open_read(&cli.config)?;
            let summary =
                crate::wave::report::report(&config, &state, &wave, target.as_deref(), municipality.as_deref())?;
            wave::print_report(&summary, cli.json)?;
            wave::report_verified(&summary)
        }
        Command::Wave(WaveCommand::Status { wave, target }) => {
            let (config, state) = open_read(&cli.config)?;
            let (number, runs) = crate::wave::status::status(&config, &state, &wave, target.as_deref())?;
            wave::print_status(number, target.as_deref(), &runs, cli.json)
        }
        Command::State(StateCommand::Check) => {
            let (_, state) = open_existing(&cli.config)?;
            let report = state.check();
            output::print_check(&report, cli.json)?;
            match report.ok() {
                true => Ok(()),
                false => Err(Failure::work(format!(
                    "state file {} has findings (above); restore the newest backup as README (\"Backups\") says",
                    report.path.display()
                ))),
            }
        }
        Command::State(StateCommand::Backup { keep }) => {
            let (config, state) = open_existing(&cli.config)?;
            let keep = keep.map_or(config.state_backups, |k| k as usize);
            let made = state.backup(keep)?;
            if cli.json {
                print_json(&made)
            } else {
                println!("backup {} ({} bytes)", made.file.display(), made.bytes);
                for old in &made.removed {
                    println!("removed {} (keeping the newest {keep})", old.display());
                }
                Ok(())
            }
        }
        Command::Init { dir } => Ok(init::write_project(&dir)?),
        Command::Demo { dir, tenant_port } => demo::run(&dir, tenant_port, progress, cli.json),
        Command::TestTenant(command) => match *command {
            TestTenantCommand::Serve(opts) => {
                let runtime = tokio::runtime::Runtime::new().map_err(Failure::work)?;
                Ok(runtime.block_on(crate::test_tenant::serve(opts))?)
            }
            TestTenantCommand::Dump(opts) => print_json(&crate::test_tenant::dump_state_file(&opts)?),
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

/// Loads samla.toml and opens its state read-only, once per command that only reads.
fn open_read(config: &std::path::Path) -> Result<(Config, State), Failure> {
    let config = Config::load(config)?;
    let state = open_state_for_reading(&config)?;
    Ok((config, state))
}

/// [`open_read`] for commands about the state file itself, which must exist.
fn open_existing(config: &std::path::Path) -> Result<(Config, State), Failure> {
    let (config, state) = open_read(config)?;
    match config.state_path.exists() {
        true => Ok((config, state)),
        false => Err(Failure::work(format!("there is no state file {}", config.state_path.display()))),
    }
}

/// Loads samla.toml, takes the state's writer lock (held until the returned lock drops, at
/// the command's end) and opens the state for writing, once per command that writes.
fn open_write(config: &std::path::Path) -> Result<(Config, WriterLock, State), Failure> {
    let config = Config::load(config)?;
    let lock = lock_state(&config, &command_line())?;
    let state = open_state_for_writing(&config, &lock)?;
    Ok((config, lock, state))
}

/// The command as typed, for the lock file (who holds the state).
fn command_line() -> String {
    std::env::args().skip(1).collect::<Vec<_>>().join(" ")
}
