//! `samla wave ...` and `samla report rollback`: prints what the application layer
//! ([`crate::wave`]) returns, and is the operator it shows plans to and asks.

use super::output::{Failure, print_json};
use crate::report::rollback::Verification;
use crate::wave::WaveError;
use crate::wave::compare::Comparison;
use crate::wave::cutover::CutoverOutcome;
use crate::wave::dry_run::DryRun;
use crate::wave::operator::{Operator, Preview};
use crate::wave::report::ReportSummary;
use crate::wave::rollback::RollbackSummary;
use crate::wave::rollback_plan::RollbackPlan;
use crate::wave::run::RunSummary;
use crate::wave::status::RunStatus;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

/// The person at the terminal (or the script behind `--yes`, or a machine reading `--json`).
pub struct Terminal {
    pub json: bool,
    pub yes: bool,
}

impl Operator for Terminal {
    fn preview(&mut self, what: Preview<'_>) {
        if self.json {
            return;
        }
        match what {
            Preview::Run { wave, target, comparison } => {
                println!("Wave {} ({}) against target {target}:", wave.number, wave.name);
                print_comparison(comparison);
            }
            Preview::Rollback { wave, target, municipality, plan } => {
                println!(
                    "Rolling back wave {} ({}) in target {target}{}:",
                    wave.number,
                    wave.name,
                    municipality.map(|m| format!(", municipality {m}")).unwrap_or_default()
                );
                print_plan(plan);
            }
            Preview::Cutover { wave, outcome } => {
                println!("Cutover of wave {} ({}) in target {}:", wave.number, wave.name, outcome.target);
                print_cutover_table(outcome);
            }
        }
    }

    fn approve(&mut self, question: &str) -> Result<(), WaveError> {
        if self.yes {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            return Err(WaveError::NotATerminal);
        }
        print!("{question} Type yes: ");
        std::io::stdout().flush().map_err(WaveError::Terminal)?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(WaveError::Terminal)?;
        if line.trim() == "yes" { Ok(()) } else { Err(WaveError::NotConfirmed) }
    }

    fn hides_progress(&self) -> bool {
        self.json
    }
}

/// Prints a dry-run's outcome.
pub fn print_dry_run(r: &DryRun, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(r);
    }
    println!("Wave {} ({}): dry-run, nothing was written. {}\n", r.wave, r.name, r.file.display());
    println!(
        "What the wave holds, in the municipality of the person or group: people and groups to create, member\n\
         links (one per member of a group, licence groups not included; counted in the member's municipality),\n\
         manager links; then the Graph requests, the member links they add (licence groups included, in the\n\
         group's municipality, as the comparison and the run count them) and the LDAP operations rendered."
    );
    println!(
        "{:<14} {:>7} {:>7} {:>12} {:>13} {:>15} {:>12} {:>13}",
        "municipality",
        "people",
        "groups",
        "member links",
        "manager links",
        "graph requests",
        "graph links",
        "ldap changes"
    );
    for (m, c) in &r.municipalities {
        let m = if m.is_empty() { "(shared)" } else { m };
        println!(
            "{:<14} {:>7} {:>7} {:>12} {:>13} {:>15} {:>12} {:>13}",
            m,
            c.people,
            c.groups,
            c.memberships,
            c.manager_links,
            c.graph_requests,
            c.tenant_member_links,
            c.ldap_operations
        );
    }
    let g = &r.graph;
    println!(
        "\nGraph: {} writes in {} $batch requests (one request per change would take {}); at the tenant's \
         write budget (3,000 per 150 s) about {:.0} s.",
        g.writes, g.batches, g.naive, g.seconds_at_budget
    );
    println!("Shared AD: {} LDAP operations.", r.ldap_operations);
    let people: usize = r.municipalities.values().map(|c| c.people).sum();
    let enabled: usize = r.municipalities.values().map(|c| c.people_enabled).sum();
    println!(
        "Sign-in ([account_state] in target.toml): {enabled} of {people} new accounts enabled in both targets, \
         {} created disabled (changes.csv says why, per account).",
        people - enabled
    );
    let shared_ad_only: usize = r.municipalities.values().map(|c| c.shared_ad_only).sum();
    if shared_ad_only > 0 {
        println!(
            "Cloud ([cloud] in target.toml): {shared_ad_only} of {people} new accounts are of a kind that stays in \
             the shared AD only (no cloud user, licence, membership or manager link; changes.csv: \"shared AD only\")."
        );
    }
    if !r.skipped.is_empty() {
        println!("Left out ({}), see the JSON output for each:", r.skipped.len());
        let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
        for s in &r.skipped {
            *by_reason.entry(format!("{:?}", s.reason)).or_default() += 1;
        }
        for (reason, n) in by_reason {
            println!("  {reason}: {n}");
        }
    }
    println!("Written:");
    for (what, path) in &r.outputs {
        println!("  {what}: {}", path.display());
    }
    if let Some((target, c)) = &r.compared_with {
        println!("\nCompared with target {target}:");
        print_comparison(c);
    }
    for reason in r.beyond_thresholds.iter().flatten() {
        println!("`wave run` would refuse, beyond [thresholds]: {reason}");
    }
    Ok(())
}

/// Prints the comparison per system and municipality.
pub fn print_comparison(c: &Comparison) {
    println!(
        "Objects to create, restore (samla's own, deleted by a rollback), update or leave unchanged; groups\n\
         gaining members and the member links they gain (licence groups included); users given a manager;\n\
         licence assignments; in the object's (the group's) municipality."
    );
    println!(
        "{:<10} {:<14} {:>7} {:>7} {:>7} {:>10} {:>14} {:>13} {:>9} {:>9} {:>11}",
        "target",
        "municipality",
        "create",
        "restore",
        "update",
        "unchanged",
        "groups gaining",
        "member links",
        "managers",
        "licences",
        "left alone"
    );
    for ((system, m), n) in c.counts() {
        let m = if m.is_empty() { "(shared)".to_string() } else { m };
        println!(
            "{:<10} {:<14} {:>7} {:>7} {:>7} {:>10} {:>14} {:>13} {:>9} {:>9} {:>11}",
            system,
            m,
            n.create,
            n.restore,
            n.update,
            n.unchanged,
            n.add_members,
            n.member_links,
            n.set_manager,
            n.assign_licence,
            n.left_alone
        );
    }
    if c.nothing_to_do() {
        println!("Nothing to do: the target already holds this wave.");
    }
}

/// Prints a run's outcome.
pub fn print_run(s: &RunSummary, json: bool) -> Result<(), Failure> {
    if let Some(why) = &s.reports_not_written {
        eprintln!("warning: the rollback reports were not written: {why}");
    }
    if json {
        return print_json(s);
    }
    for (system, r) in [("shared AD", &s.shared_ad), ("tenant", &s.tenant)] {
        let Some(r) = r else { continue };
        println!("\n{system}: {} pass(es), {:.1} s", r.passes, r.seconds);
        println!(
            "  Objects created, restored (samla's own, deleted by a rollback), updated, unchanged; member links\n  \
             added (bound at create or added later, licence groups included, in the group's municipality) and the\n  \
             requests adding members to existing groups; managers set; licences assigned; failures, and the\n  \
             member links those failures lost."
        );
        println!(
            "  {:<14} {:>7} {:>8} {:>7} {:>10} {:>12} {:>15} {:>9} {:>9} {:>7} {:>11}",
            "municipality",
            "created",
            "restored",
            "updated",
            "unchanged",
            "member links",
            "member requests",
            "managers",
            "licences",
            "failed",
            "links lost"
        );
        for (m, t) in &r.municipalities {
            let m = if m.is_empty() { "(shared)" } else { m };
            println!(
                "  {:<14} {:>7} {:>8} {:>7} {:>10} {:>12} {:>15} {:>9} {:>9} {:>7} {:>11}",
                m,
                t.created,
                t.restored_deleted,
                t.updated,
                t.unchanged,
                t.member_links,
                t.member_additions,
                t.managers_set,
                t.licences_assigned,
                t.failed,
                t.member_links_lost
            );
        }
        if let Some(g) = &r.graph {
            println!(
                "  Graph: {} writes in {} $batch requests, {} throttled (429), {} unavailable (503), {} resent after a lost connection",
                g.writes_sent, g.batches_sent, g.throttled, g.unavailable, g.transport_retries
            );
        }
        for f in r.failures.iter().take(50) {
            println!("  FAILED {} {} {}: {}", f.municipality, f.action, f.object, f.reason);
        }
        if r.failures.len() > 50 {
            println!("  ... and {} more (samla wave status)", r.failures.len() - 50);
        }
    }
    println!("\nJournal: run {} (samla wave status {}).", s.run, s.wave);
    if let Some(first) = s.rollback_reports.first() {
        let dir = first.parent().unwrap_or(first);
        println!("Rollback reports (what this wave changed and how to undo it): {}", dir.display());
    }
    Ok(())
}

/// Prints the journal's runs of a wave.
pub fn print_status(number: u32, target: Option<&str>, runs: &[RunStatus], json: bool) -> Result<(), Failure> {
    if json {
        return print_json(&runs.iter().map(|r| &r.run).collect::<Vec<_>>());
    }
    if runs.is_empty() {
        println!("Wave {number} has not been run{}.", target.map(|t| format!(" against {t}")).unwrap_or_default());
        return Ok(());
    }
    for RunStatus { run: r, unsettled, member_links_lost } in runs {
        println!(
            "run {} of wave {} ({}) against {}: {} — started {} by {}@{}, finished {}",
            r.id,
            r.wave,
            r.wave_name,
            r.target,
            r.status,
            r.started_at,
            r.operator,
            r.host,
            r.finished_at.as_deref().unwrap_or("-")
        );
        println!("  wave file sha256 {}; command: {}", r.wave_hash, r.command);
        for (system, st, n) in &r.operations {
            println!("  {system:<10} {st:<9} {n}");
        }
        for l in member_links_lost {
            println!(
                "  {} {}: {} member link(s) could not be added (the groups were created or filled without them)",
                l.system, l.municipality, l.member_links
            );
        }
        for op in unsettled {
            println!(
                "  {} {} {} {}: {}",
                op.state,
                op.municipality,
                op.action,
                op.object,
                op.result.as_deref().unwrap_or("(in flight when the run stopped; settled by the next run)")
            );
        }
    }
    Ok(())
}

/// Prints what `samla report rollback` wrote.
pub fn print_report(s: &ReportSummary, json: bool) -> Result<(), Failure> {
    if let Some(why) = &s.unverified_because {
        eprintln!("warning: {why}; the reports are written without verification");
    }
    if let Some(first) = s.kept_verified.first() {
        let dir = first.parent().unwrap_or(first);
        eprintln!(
            "warning: the verified reports in {} are kept ({} of them, not overwritten); the unverified \
             reports are written beside them, in {}",
            dir.display(),
            s.kept_verified.len(),
            dir.join("unverified").display()
        );
    }
    if json {
        return print_json(s);
    }
    let how = if s.verified_live { "verified against the target" } else { "NOT verified (target not read)" };
    println!("Rollback reports of wave {} against {} ({how}):", s.wave, s.target);
    for (v, n) in &s.counts {
        println!("  {v:<12} {n}");
    }
    for r in &s.reports {
        println!("  {}", r.display());
    }
    Ok(())
}

/// `samla report rollback` fails (exit 1) when nothing verified could be written.
pub fn report_verified(s: &ReportSummary) -> Result<(), Failure> {
    if s.verified_live {
        return Ok(());
    }
    Err(Failure::work(format!(
        "the rollback reports of wave {} are NOT verified: target {} could not be read; \
         start it (or make it reachable) and run `samla report rollback` again",
        s.wave, s.target
    )))
}

fn print_plan(plan: &RollbackPlan) {
    println!(
        "Changes the journal holds, one per object or link (add_member: one per member link, licence groups\n\
         included, in the member's municipality), with what the target shows now:"
    );
    println!("{:<10} {:<14} {:<22} {:<20} {:>6}", "target", "municipality", "change", "verification", "count");
    let mut rows: BTreeMap<(&str, &str, &str, &str), usize> = BTreeMap::new();
    for (m, i) in plan.items() {
        let m = if m.is_empty() { "(shared)" } else { m };
        *rows.entry((i.system.as_str(), m, i.change.as_str(), i.verification.label())).or_default() += 1;
    }
    for ((s, m, c, v), n) in rows {
        println!("{s:<10} {m:<14} {c:<22} {v:<20} {n:>6}");
    }
    for (_, i) in plan.items().filter(|(_, i)| i.verification == Verification::Drifted) {
        println!("DRIFTED {} {} {}: {} (left alone)", i.system, i.change, i.object, i.note);
    }
}

/// Prints a rollback's outcome.
pub fn print_rollback(s: &RollbackSummary, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(s);
    }
    for c in &s.cascaded {
        println!("Wave {} (--cascade), rolled back before wave {}:", c.wave, s.wave);
        print_rollback(c, false)?;
        println!("\nWave {}:", s.wave);
    }
    if s.run.is_none() {
        println!("{}", if s.dry_run { "Dry run: nothing was changed." } else { "Nothing to roll back." });
    }
    if let Some(run) = s.run {
        println!("\nRollback run {run}: {} inverse(s) sent in {} pass(es).", s.sent, s.passes);
    }
    for (v, n) in &s.after {
        println!("  {v:<12} {n}");
    }
    for k in &s.kept {
        println!("  KEPT {k}");
    }
    for f in s.failures.iter().take(50) {
        println!("  FAILED {f}");
    }
    for r in &s.reports {
        println!("  report: {}", r.display());
    }
    Ok(())
}

/// Per municipality: the users, what is to be done, and (after a cutover) what was done.
fn print_cutover_table(o: &CutoverOutcome) {
    println!(
        "{:<14} {:>6} {:>7} {:>6} {:>8} {:>5} {:>6} {:>8} {:>7} {:>13} {:>9} {:>10} {:>10}",
        "municipality",
        "users",
        "enable",
        "issue",
        "replace",
        "keep",
        "close",
        "enabled",
        "issued",
        "left disabled",
        "AD enable",
        "AD enabled",
        "AD already"
    );
    for (m, c) in &o.municipalities {
        println!(
            "{m:<14} {:>6} {:>7} {:>6} {:>8} {:>5} {:>6} {:>8} {:>7} {:>13} {:>9} {:>10} {:>10}",
            c.users,
            c.enable,
            c.issue,
            c.replace,
            c.keep,
            c.close,
            c.enabled,
            c.issued,
            c.left_disabled,
            c.ad_enable,
            c.ad_enabled,
            c.ad_already_enabled
        );
    }
    println!(
        "Passes: {} minutes, {}.",
        o.tap_lifetime_minutes,
        if o.tap_usable_once { "usable once" } else { "usable more than once while valid" }
    );
}

/// Prints a cutover's outcome: never a pass (they are in the handouts only).
pub fn print_cutover(o: &CutoverOutcome, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(o);
    }
    match o.run {
        None if o.dry_run => println!("Dry run: nothing was changed."),
        None => println!("Nothing to do."),
        Some(run) => {
            println!("\nCutover run {run}:");
            print_cutover_table(o);
        }
    }
    for f in o.failures.iter().take(50) {
        println!("  FAILED {f}");
    }
    for n in &o.notes {
        println!("  NOTE {n}");
    }
    for h in &o.handouts {
        println!("  handout: {}", h.display());
    }
    Ok(())
}
