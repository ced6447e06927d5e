//! Building the unified directory: the people and groups the shared AD and the joint tenant
//! will both hold, and every conflict the team must see first.
//!
//! Pure and deterministic: the same snapshots, mappings, overrides and name book give the
//! byte-identical result whatever order entries were read in, because every collection is
//! sorted by a stable key (municipality priority, creation time, anchor) before anything
//! order-dependent (name assignment, primary affiliation) happens. Names once assigned live in
//! the [`NameBook`] (kept in the state), so a later run or a new colleague with the same name
//! never reshuffles them.
//!
//! Work that depends on one account alone (scope, flows, wanted names, building a person,
//! the privacy check, looking up a membership) runs in parallel and is gathered in input
//! order; what depends on every earlier person (giving out names and CNs) runs in priority
//! order, one namespace per thread. Parallelism never changes the result.
//!
//! Memory is held to what the next step needs, since at a million users it is the limit
//! before time is: each user object is consumed as it is judged (a candidate keeps its DN,
//! manager and mapped values, an excluded account its DN); a person takes over its accounts'
//! DNs, units and attributes rather than copying them; the candidates are gone before the
//! groups are unified, which look members up by the DNs the people now hold.

use super::overrides::Overrides;
use super::privacy::{PrivacyPolicy, contains_personnummer, keyed_hash};
use super::spec::{GroupPolicy, Mappings, MunicipalityMapping, UnitRule, kind_of};
use super::transform::TransformContext;
use crate::model::attributes::Attributes;
use crate::model::names;
use crate::model::time::AdTime;
use crate::model::unified::{
    AccountKind, Affiliation, Anchor, Finding, Group, Member, NameBook, Namespace, Outbound, Person, Severity, Shelf,
    SourceState, Summary, UnifiedDirectory,
};
use crate::model::{DirectoryObject, Dn, ObjectGuid, ObjectKind};
use chrono::{DateTime, Duration, Utc};
use compact_str::CompactString;
use rayon::prelude::*;
// FxHash: the keys are our own names and DNs, not attacker-chosen; SipHash's protection
// is not needed and its cost showed in profiles of a million users.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::{BTreeMap, BTreeSet};

/// Everything mapping reads besides the snapshots (which [`unify`] consumes).
pub struct Inputs<'a> {
    pub mappings: &'a Mappings,
    pub overrides: &'a Overrides,
    /// The key for `hash` privacy policy.
    pub hash_key: Option<&'a [u8]>,
    /// "Now" for the unused-days rule: the time of the newest snapshot, so that the same
    /// snapshots always map the same way.
    pub now: DateTime<Utc>,
}

/// Something per source object, by (municipality, DN; DNs compare without case): how members
/// and managers, which are DNs in their own municipality, are resolved.
type ByDn<'a, T> = HashMap<(&'a str, &'a Dn), T>;

/// A user account in scope, before matching: what was mapped from its snapshot object, and
/// what later steps still need of it.
struct Candidate<'a> {
    municipality: &'a str,
    priority: usize,
    guid: ObjectGuid,
    dn: Dn,
    manager: Option<Dn>,
    when_created: Option<AdTime>,
    /// Enabled, disabled or expired in its directory at map time.
    state: SourceState,
    /// The values of the configured match keys (trimmed, lower case), in key order.
    keys: Vec<Option<String>>,
    kind: AccountKind,
    unit: String,
    licence: String,
    attrs: Attributes,
    /// The names it asks for (UPN alias, mailNickname, sAMAccountName) before collisions:
    /// rendered with the rest, in parallel, so naming itself only consults the name book.
    wanted: [String; 3],
    /// Its OU in the shared AD (`municipality/unit`, lower-cased), where its CN must be unique.
    ou_key: String,
}

impl<'a> Candidate<'a> {
    /// The order accounts are named in, and so who keeps a contested name: municipality
    /// priority, then creation time, then GUID. Unique: a GUID is unique in its municipality.
    fn priority_key(&self) -> (usize, Option<AdTime>, ObjectGuid, &'a str) {
        (self.priority, self.when_created, self.guid, self.municipality)
    }
}

/// One municipality's snapshot, or a part of it, judged object by object as it is read (see
/// [`Judge`]): its accounts in scope, those left out (each also a finding), and its objects
/// that are not accounts. [`unify`] takes any number of them per municipality.
pub struct Judged<'a> {
    municipality: &'a str,
    /// Boxed: a candidate is a few hundred bytes, and sorting the parts and merging them in
    /// priority order then moves pointers. Moving the candidates themselves into one vector
    /// was most of a second on one core at a million users, half of it first touching the
    /// quarter gigabyte that vector took.
    #[allow(clippy::vec_box)]
    candidates: Vec<Box<Candidate<'a>>>,
    excluded: Vec<Excluded<'a>>,
    findings: Findings,
    others: Vec<DirectoryObject>,
}

/// Judges one municipality's snapshot objects one at a time, so that a reader can hand each
/// object over as soon as it is decoded: a user object is consumed where it is judged, and
/// the million objects of a large estate are never all in memory at once (holding them made
/// up half of mapping's memory, and first touching that memory a quarter of loading's time).
/// Judging depends on the object alone, so the order objects arrive in does not matter:
/// [`unify`] sorts what it needs.
pub struct Judge<'i, 'a> {
    inputs: &'i Inputs<'a>,
    mapping: &'a MunicipalityMapping,
    priority: usize,
    judged: Judged<'a>,
}

impl<'i, 'a> Judge<'i, 'a> {
    /// A judge for `municipality`'s objects; `None` when the mappings have no such municipality.
    pub fn new(inputs: &'i Inputs<'a>, municipality: &str) -> Option<Judge<'i, 'a>> {
        let (municipality, mapping) = inputs.mappings.municipalities.get_key_value(municipality)?;
        let priority = inputs.mappings.target.priority_of(municipality);
        let judged = Judged {
            municipality,
            candidates: Vec::new(),
            excluded: Vec::new(),
            findings: Findings::default(),
            others: Vec::new(),
        };
        Some(Judge { inputs, mapping, priority, judged })
    }

    /// Judges one object: an account in scope becomes a candidate, one left out keeps its DN
    /// and the reason, any other object is kept as it is.
    pub fn take(&mut self, obj: DirectoryObject) {
        let judged = &mut self.judged;
        if obj.kind != ObjectKind::User {
            judged.others.push(obj);
            return;
        }
        match out_of_scope(&obj, self.mapping, self.inputs.now) {
            Some(reason) => {
                judged.findings.push(judged.municipality, Severity::Info, "excluded", &obj.dn, &reason, "not migrated");
                judged.excluded.push(Excluded { municipality: judged.municipality, dn: obj.dn, reason });
            }
            None => {
                let c = candidate(self.inputs, judged.municipality, self.mapping, self.priority, obj);
                judged.candidates.push(Box::new(c));
            }
        }
    }

    /// The judged part, its candidates in priority order (sorted here, on the reader's
    /// thread, so that [`unify`] gathers the parts by merging them).
    pub fn finish(mut self) -> Judged<'a> {
        self.judged.candidates.sort_by_cached_key(|c| c.priority_key());
        self.judged
    }
}

/// Judges whole snapshots held in memory, in the order given: for callers that already hold
/// them (tests, tools); `samla map` judges each object as its reader decodes it. Snapshots of
/// municipalities without a mapping are left out, as [`Judge::new`] does.
pub fn judge_all<'a>(
    inputs: &Inputs<'a>,
    snapshots: impl IntoIterator<Item = (impl AsRef<str>, Vec<DirectoryObject>)>,
) -> Vec<Judged<'a>> {
    snapshots
        .into_iter()
        .filter_map(|(municipality, objects)| {
            let mut judge = Judge::new(inputs, municipality.as_ref())?;
            objects.into_iter().for_each(|o| judge.take(o));
            Some(judge.finish())
        })
        .collect()
}

/// Maps the municipalities' judged snapshots into the unified directory, updating `book`
/// with new names. The snapshots are consumed, and each step frees what later steps no
/// longer need.
pub fn unify(inputs: &Inputs<'_>, judged: Vec<Judged<'_>>, book: &mut NameBook) -> UnifiedDirectory {
    let phase = crate::model::stopwatch::Stopwatch::start("unify");
    let mut out = Findings::default();
    let (mut candidates, excluded, snapshots) = in_priority_order(judged, &mut out);
    phase.lap("accounts in order");
    let sets = match_people(&candidates, &inputs.mappings.target.match_keys, inputs.overrides, &mut out);
    phase.lap("matched");
    book.reserve(candidates.len());
    // Each person is privacy-checked as it is built, while its attributes are in cache.
    let (mut people, checked) =
        name_people(inputs, &mut candidates, &sets, book, &mut out, |person| guard_privacy(inputs, person));
    phase.lap("named and privacy-checked");
    // Of the candidates, only the primaries' managers are needed again.
    let managers: Vec<Option<Dn>> = sets.iter().map(|members| candidates[members[0]].manager.take()).collect();
    drop((candidates, sets));
    // Three maps built side by side: what leaves the premises, every account's anchor (by the
    // DN its person's affiliation took over) and why each account left out was left out (by
    // its DN). The last two are built on one core each, and one after the other they were
    // most of a second at a million people.
    let (outbound, (anchor_of, excluded_by_dn)) = rayon::join(
        || leaving_premises(inputs, &people, checked, &mut out),
        || {
            rayon::join(
                || anchors(&people),
                || -> ByDn<'_, &str> {
                    excluded.iter().map(|e| ((e.municipality, &e.dn), e.reason.as_str())).collect()
                },
            )
        },
    );
    phase.lap("privacy counted and anchors");
    let manager_links = link_managers(&people, &managers, &anchor_of, &mut out);
    phase.lap("managers linked");
    let groups = unify_groups(inputs, &snapshots, &anchor_of, &excluded_by_dn, book, &mut out);
    drop((anchor_of, excluded_by_dn));
    for (person, manager) in people.iter_mut().zip(manager_links) {
        person.manager = manager;
    }
    phase.lap("groups");
    let summaries = summarize(&snapshots, &people, &groups, &out.0);
    phase.lap("summarized");
    let mut findings = out.0;
    // Every field in the key: findings equal in all of them are identical, so the faster
    // unstable sort still gives one order.
    fn order(f: &Finding) -> (&str, Severity, &str, &str, &str, &str) {
        (&f.municipality, f.severity, f.category, &f.object, &f.detail, f.resolution)
    }
    // What is left of the snapshots (the groups with their member DNs: millions of small
    // allocations) and the accounts left out are freed on one thread while the other sorts:
    // freed after the sorts, they kept one core alone busy for most of a second at a million
    // users.
    rayon::join(
        move || drop((snapshots, excluded)),
        || {
            // Anchors are unique: the unstable sort gives one order.
            people.par_sort_unstable_by_key(|p| p.anchor);
            findings.par_sort_unstable_by(|a, b| order(a).cmp(&order(b)));
        },
    );
    phase.lap("sorted");
    UnifiedDirectory { people, groups, findings, summaries, outbound }
}

/// The objects that are not accounts, by municipality.
type OthersByMunicipality = BTreeMap<String, Vec<DirectoryObject>>;

/// The judged snapshots gathered: the accounts in scope in priority order (municipality
/// priority, then creation time, then GUID), whatever order they were read in; the accounts
/// left out, with their findings; and the other objects by municipality, in GUID order.
fn in_priority_order<'a>(
    judged: Vec<Judged<'a>>,
    out: &mut Findings,
) -> (Vec<Box<Candidate<'a>>>, Vec<Excluded<'a>>, OthersByMunicipality) {
    let mut parts = Vec::with_capacity(judged.len());
    let mut excluded = Vec::with_capacity(judged.iter().map(|j| j.excluded.len()).sum());
    let mut others = BTreeMap::new();
    for mut j in judged {
        out.0.append(&mut j.findings.0);
        parts.push(j.candidates);
        excluded.append(&mut j.excluded);
        others.entry(j.municipality.to_string()).or_insert_with(Vec::new).append(&mut j.others);
    }
    // A municipality may come in several parts (see `samla map`'s readers).
    for objects in others.values_mut() {
        objects.sort_by_key(|o| o.guid);
    }
    (merge_in_priority_order(parts), excluded, others)
}

/// One vector of the parts' candidates in priority order, each part already in that order
/// ([`Judge::finish`]): each candidate is taken once, in order, and each part is freed when
/// it runs out. Gathering by appending the parts and then sorting the whole was a second on
/// one core at a million users, most of it moving candidates twice through memory.
fn merge_in_priority_order(parts: Vec<Vec<Box<Candidate<'_>>>>) -> Vec<Box<Candidate<'_>>> {
    use std::cmp::Reverse;
    let mut merged = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    let mut parts: Vec<_> = parts.into_iter().map(|p| p.into_iter().peekable()).collect();
    // The next candidate of each part that has one; keys are unique, so the order is one.
    let mut next: std::collections::BinaryHeap<_> = parts
        .iter_mut()
        .enumerate()
        .filter_map(|(i, part)| part.peek().map(|c| Reverse((c.priority_key(), i))))
        .collect();
    while let Some(Reverse((_, i))) = next.pop() {
        let part = &mut parts[i];
        merged.extend(part.next());
        match part.peek() {
            Some(c) => next.push(Reverse((c.priority_key(), i))),
            None => *part = Vec::new().into_iter().peekable(),
        }
    }
    merged
}

/// A user account left out of the migration, and why.
struct Excluded<'a> {
    municipality: &'a str,
    dn: Dn,
    reason: String,
}

/// An account in scope: its kind, unit, licence class, mapped attributes and wanted names,
/// and what later steps need of its snapshot object (moved out of it).
fn candidate<'a>(
    inputs: &Inputs<'a>,
    municipality: &'a str,
    mapping: &MunicipalityMapping,
    priority: usize,
    obj: DirectoryObject,
) -> Candidate<'a> {
    let target = &inputs.mappings.target;
    let ctx = SourceContext { obj: &obj, mapping };
    let kind = kind_of(&mapping.kinds, &obj, &|a| ctx.attribute(a));
    let unit = unit_of(&obj, mapping);
    let licence = mapping
        .licences
        .iter()
        .find(|l| (l.kinds.is_empty() || l.kinds.contains(&kind)) && (l.units.is_empty() || l.units.contains(&unit)))
        .map_or_else(|| "none".to_string(), |l| l.class.clone());
    let attrs: Attributes = mapping
        .flows
        .iter()
        .filter_map(|(name, flow)| {
            let start = flow.from.as_deref().and_then(|f| ctx.attribute(f));
            flow.transforms.iter().fold(start, |v, t| t.apply(v, &ctx)).map(|v| (name.clone(), v))
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let name_ctx = NameContext { attrs: &attrs, obj: &obj, municipality };
    let rendered = |t: &super::transform::Template| t.render(&|a| name_ctx.value(a));
    let fallback = || names::fallback_alias(&obj.guid.to_string());
    let templates = target.names_for(kind);
    let alias = rendered(&templates.upn).and_then(|c| names::upn_alias(&c)).unwrap_or_else(fallback);
    let nick = rendered(&templates.mail_nickname).and_then(|c| names::mail_nickname(&c)).unwrap_or_else(fallback);
    let sam = rendered(&templates.sam_account_name)
        .and_then(|c| names::sam_account_name(&c))
        .unwrap_or_else(|| names::with_suffix(&fallback().replace('.', ""), "", 20));
    let ou_key = format!("{municipality}/{unit}").to_lowercase();
    let keys = target.match_keys.iter().map(|k| source_value(&obj, k).map(|v| v.trim().to_lowercase())).collect();
    let state = SourceState::of(&obj, inputs.now);
    Candidate {
        municipality,
        priority,
        guid: obj.guid,
        when_created: obj.when_created,
        state,
        keys,
        kind,
        unit,
        licence,
        attrs,
        wanted: [alias, nick, sam],
        ou_key,
        dn: obj.dn,
        manager: obj.manager,
    }
}

/// The names one person was given.
struct Names {
    alias: String,
    nick: String,
    sam: String,
    cn: String,
}

/// One person per set of matched accounts, named in priority order, in `sets` order, each
/// with what `check` returns for it once built. Giving out names depends on every earlier
/// person, so it runs in order; building the people from their names does not, and runs in
/// parallel. The accounts' DNs, units and mapped attributes move to their people.
fn name_people<C: Send>(
    inputs: &Inputs<'_>,
    candidates: &mut [Box<Candidate<'_>>],
    sets: &[Vec<usize>],
    book: &mut NameBook,
    out: &mut Findings,
    check: impl Fn(&mut Person) -> C + Sync,
) -> (Vec<Person>, Vec<C>) {
    let target = &inputs.mappings.target;
    let step = crate::model::stopwatch::Stopwatch::start("naming");
    // Each namespace in priority order, the three at once (they share no names). The UPN
    // aliases come with the CNs, which fall back to the alias when there is no displayName.
    let [upn_shelf, nick_shelf, sam_shelf] = book.people_shelves();
    // Each municipality's collision suffix, as configured and without dots (sAMAccountName).
    let suffixes: HashMap<&str, [String; 2]> = (inputs.mappings.municipalities.keys())
        .map(|m| {
            let suffix = target.collision_suffix.replace("{municipality}", m);
            let dotless = suffix.replace('.', "");
            (m.as_str(), [suffix, dotless])
        })
        .collect();
    let give = |shelf: &mut Shelf, which: usize, max: usize, dotless: bool| -> Vec<(String, bool)> {
        sets.iter()
            .map(|members| {
                let primary = &candidates[members[0]];
                let suffix = &suffixes[primary.municipality][usize::from(dotless)];
                shelf.assign(Anchor(primary.guid), &primary.wanted[which], suffix, max)
            })
            .collect()
    };
    let ((aliases, cns), (nicks, sams)) = rayon::join(
        || {
            let aliases = give(upn_shelf, 0, 64, false);
            let cns = common_names(candidates, sets, &aliases);
            (aliases, cns)
        },
        || rayon::join(|| give(nick_shelf, 1, 64, false), || give(sam_shelf, 2, 20, true)),
    );
    step.lap("names given");
    let collisions: Vec<Finding> = (aliases.par_iter().zip(&nicks).zip(&sams).zip(sets))
        .filter(|(((alias, nick), sam), _)| alias.1 || nick.1 || sam.1)
        .map(|(((alias, nick), sam), members)| {
            let primary = &candidates[members[0]];
            let taken: Vec<String> = [("UPN", alias.1), ("mailNickname", nick.1), ("sAMAccountName", sam.1)]
                .iter()
                .zip(&primary.wanted)
                .filter(|((_, collided), _)| *collided)
                .map(|((label, _), wanted)| format!("{wanted} ({label})"))
                .collect();
            let (alias, nick, sam) = (&alias.0, &nick.0, &sam.0);
            let detail = format!(
                "{} taken; given {alias} (UPN), {nick} (mailNickname), {sam} (sAMAccountName)",
                taken.join(" and ")
            );
            let resolution = "suffix by policy; kept from now on";
            finding(primary.municipality, Severity::Review, "name collision", &primary.dn, detail, resolution)
        })
        .collect();
    out.0.extend(collisions);
    step.lap("collisions reported");
    let named = aliases.into_par_iter().zip(nicks).zip(sams).zip(cns).map(|(((alias, nick), sam), cn)| Names {
        alias: alias.0,
        nick: nick.0,
        sam: sam.0,
        cn,
    });
    // Named: the wanted names and match keys are not needed again, and at a million people
    // freeing them before the people are built lowers the peak.
    candidates.par_iter_mut().for_each(|c| {
        (c.wanted, c.ou_key, c.keys) = Default::default();
    });
    step.lap("wanted names freed");
    // What a person takes over from its accounts is moved, not copied: each account's DN and
    // unit (as its affiliation), the primary's mapped attributes and licence class.
    let taken: Vec<(Vec<Affiliation>, Attributes, String)> = sets
        .iter()
        .map(|members| {
            let affiliations = members
                .iter()
                .map(|&i| {
                    let c = &mut candidates[i];
                    Affiliation {
                        municipality: c.municipality.to_string(),
                        guid: c.guid,
                        dn: std::mem::take(&mut c.dn),
                        kind: c.kind,
                        unit: std::mem::take(&mut c.unit),
                        enabled: c.state.is_enabled(),
                    }
                })
                .collect();
            let primary = &mut candidates[members[0]];
            (affiliations, std::mem::take(&mut primary.attrs), std::mem::take(&mut primary.licence))
        })
        .collect();
    step.lap("accounts moved");
    let candidates = &*candidates;
    sets.par_iter()
        .zip(named)
        .zip(taken)
        .map(|((members, names), (affiliations, on_premises, licence))| {
            let primary = &candidates[members[0]];
            let anchor = Anchor(primary.guid);
            let domain = target.upn_domain.get(&primary.kind).unwrap_or(&target.default_upn_domain);
            let mut person = Person {
                anchor,
                immutable_id: anchor.immutable_id(),
                display_name: on_premises.get("displayName").cloned().unwrap_or_else(|| names.alias.clone()),
                user_principal_name: format!("{}@{domain}", names.alias),
                mail_nickname: names.nick,
                sam_account_name: names.sam,
                cn: names.cn,
                kind: primary.kind,
                licence,
                usage_location: target.usage_location.clone(),
                cloud: Attributes::new(),
                on_premises,
                affiliations,
                manager: None,
                source_state: source_state(members.iter().map(|&i| candidates[i].state)),
            };
            let checked = check(&mut person);
            (person, checked)
        })
        .unzip()
}

/// A person's source state from its accounts' (primary first): enabled when any account is,
/// otherwise the primary's.
fn source_state(mut states: impl Iterator<Item = SourceState>) -> SourceState {
    let primary = states.next().unwrap_or_default();
    if primary.is_enabled() || states.any(SourceState::is_enabled) { SourceState::Enabled } else { primary }
}

/// The anchor of every account in scope, by (municipality, DN): its person's.
fn anchors(people: &[Person]) -> ByDn<'_, Anchor> {
    let mut anchor_of = HashMap::default();
    anchor_of.reserve(people.len());
    for person in people {
        for a in &person.affiliations {
            anchor_of.insert((a.municipality.as_str(), &a.dn), person.anchor);
        }
    }
    anchor_of
}

/// Each person's CN, unique in its OU of the shared AD (municipality/unit), in priority
/// order: the displayName, or `aliases`' name without one, within AD's 64 characters (cut at
/// a separator, [`names::rdn_value`]); a taken CN gets a counter, the name cut to make room. The
/// counter per name makes the thousandth "Anna Andersson" of a unit one lookup, not a thousand.
fn common_names(candidates: &[Box<Candidate<'_>>], sets: &[Vec<usize>], aliases: &[(String, bool)]) -> Vec<String> {
    // Inline names (see `Shelf`): one lookup, no allocation per person.
    let mut cns: HashSet<(&str, CompactString)> = HashSet::default();
    let mut cn_counters: HashMap<(&str, CompactString), u32> = HashMap::default();
    cns.reserve(sets.len());
    sets.iter()
        .zip(aliases)
        .map(|(members, (alias, _))| {
            let primary = &candidates[members[0]];
            let wanted = primary.attrs.get("displayName").unwrap_or(alias);
            // Within AD's 64 characters, cut at a separator, before uniqueness is decided.
            let display_name = names::rdn_value(wanted);
            let display_name = if display_name.is_empty() { alias.clone() } else { display_name };
            let ou_key = primary.ou_key.as_str();
            let lower = CompactString::from(display_name.to_lowercase());
            let mut cn = display_name.clone();
            if !cns.insert((ou_key, lower.clone())) {
                let counter = cn_counters.entry((ou_key, lower)).or_insert(1);
                loop {
                    *counter += 1;
                    cn = names::with_suffix(&display_name, &format!(" {counter}"), names::MAX_RDN);
                    if cns.insert((ou_key, cn.to_lowercase().into())) {
                        break;
                    }
                }
            }
            cn
        })
        .collect()
}

/// Each person's manager link (`managers`: the primary account's manager DN, per person),
/// once every person has an anchor; a manager outside the migration is reported.
fn link_managers(
    people: &[Person],
    managers: &[Option<Dn>],
    anchor_of: &ByDn<'_, Anchor>,
    out: &mut Findings,
) -> Vec<Option<Anchor>> {
    // Looked up in parallel; the few findings (boxed, so a million links stay small) are
    // gathered in people order.
    let (links, findings): (Vec<Option<Anchor>>, Vec<Option<Box<Finding>>>) = people
        .par_iter()
        .zip(managers)
        .map(|(person, manager)| {
            let Some((primary, m)) = person.affiliations.first().zip(manager.as_ref()) else { return (None, None) };
            match anchor_of.get(&(primary.municipality.as_str(), m)) {
                Some(a) if *a != person.anchor => (Some(*a), None),
                Some(_) => (None, None),
                None => {
                    let detail = format!("manager {m} is not migrated");
                    let f = finding(
                        &primary.municipality,
                        Severity::Review,
                        "manager",
                        &primary.dn,
                        detail,
                        "no manager link",
                    );
                    (None, Some(Box::new(f)))
                }
            }
        })
        .unzip();
    out.0.extend(findings.into_iter().flatten().map(|f| *f));
    links
}

/// Moves the person's allow-listed attributes to `cloud`, applying the privacy policy to any
/// value that looks like a personnummer (reported at its primary account), checks the names
/// bound for the cloud, and returns the findings. What is then in `cloud` is exactly what
/// leaves the premises ([`leaving_premises`] counts it).
fn guard_privacy(inputs: &Inputs<'_>, person: &mut Person) -> Vec<Finding> {
    let target = &inputs.mappings.target;
    let mut findings = Vec::new();
    // Reported at the primary account.
    let primary = person.affiliations.first();
    let mut violation = |what: &str, severity: Severity, resolution: &'static str| {
        let detail = format!("{what} holds a personnummer");
        if let Some(a) = primary {
            let f = finding(&a.municipality, severity, "privacy violation", &a.dn, &detail, resolution);
            findings.push(f);
        }
    };
    // The mapped attributes become the cloud set in place (most of them leave, and a new set
    // per person was a few hundred megabytes at a million), and what stays moves out of it.
    let mut kept = Attributes::new();
    person.cloud = std::mem::take(&mut person.on_premises);
    person.cloud.retain_mut(|attr, value| {
        if !target.allowed.contains_key(&**attr) {
            kept.insert(attr.clone(), std::mem::take(value));
            return false;
        }
        if !contains_personnummer(value) {
            return true;
        }
        let sent = match (target.privacy_policy, inputs.hash_key) {
            (PrivacyPolicy::Hash, Some(key)) => {
                violation(attr, Severity::Review, "replaced by a keyed hash");
                Some(keyed_hash(key, value))
            }
            (PrivacyPolicy::Drop, _) => {
                violation(attr, Severity::Review, "dropped: stays on-premises");
                None
            }
            (PrivacyPolicy::Hash, None) | (PrivacyPolicy::Refuse, _) => {
                violation(attr, Severity::Blocking, "refused: nothing is sent until it is fixed");
                None
            }
        };
        let leaves = sent.is_some();
        let original = std::mem::replace(value, sent.unwrap_or_default());
        kept.insert(attr.clone(), original);
        leaves
    });
    person.on_premises = kept;
    for (what, name) in [("displayName", &person.display_name), ("userPrincipalName", &person.user_principal_name)] {
        if contains_personnummer(name) {
            violation(what, Severity::Blocking, "refused");
        }
    }
    findings
}

/// Counts what leaves the premises (each person's `cloud` set, after [`guard_privacy`]) per
/// municipality and attribute, with the rule that lets it; the checks' findings join `out`.
fn leaving_premises(
    inputs: &Inputs<'_>,
    people: &[Person],
    checked: Vec<Vec<Finding>>,
    out: &mut Findings,
) -> BTreeMap<String, Vec<Outbound>> {
    let target = &inputs.mappings.target;
    out.0.extend(checked.into_iter().flatten());
    // Counted in parallel by (municipality, attribute): eight million counts at a million.
    let counts: HashMap<(&str, &str), usize> = people
        .par_iter()
        .fold(HashMap::default, |mut counts, person| {
            if let Some(primary) = person.affiliations.first() {
                for (attr, _) in person.cloud.iter() {
                    *counts.entry((primary.municipality.as_str(), attr)).or_default() += 1;
                }
            }
            counts
        })
        .reduce(HashMap::default, |mut all, part| {
            for (key, n) in part {
                *all.entry(key).or_default() += n;
            }
            all
        });
    let mut leaving: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for ((municipality, attr), n) in counts {
        leaving.entry(municipality.to_string()).or_default().insert(attr.to_string(), n);
    }
    leaving
        .into_iter()
        .map(|(m, attrs)| {
            let list = attrs
                .into_iter()
                .map(|(attribute, values)| Outbound {
                    rule: target.allowed.get(&attribute).cloned().unwrap_or_default(),
                    attribute,
                    values,
                })
                .collect();
            (m, list)
        })
        .collect()
}

/// The per-municipality counts of the terminal summary.
fn summarize(
    snapshots: &BTreeMap<String, Vec<DirectoryObject>>,
    people: &[Person],
    groups: &[Group],
    findings: &[Finding],
) -> BTreeMap<String, Summary> {
    let mut summaries: BTreeMap<String, Summary> = snapshots.keys().map(|m| (m.clone(), Summary::default())).collect();
    for a in people.iter().flat_map(|p| &p.affiliations) {
        summaries.entry(a.municipality.clone()).or_default().people += 1;
    }
    for (m, _, _) in groups.iter().flat_map(|g| &g.sources) {
        summaries.entry(m.clone()).or_default().groups += 1;
    }
    for f in findings {
        let s = summaries.entry(f.municipality.clone()).or_default();
        match f.category {
            "excluded" => s.excluded += 1,
            "name collision" | "group name collision" => s.collisions += 1,
            "same person" => s.matches += 1,
            "merged groups" => s.merges += 1,
            "privacy violation" => s.violations += 1,
            _ => {}
        }
        if f.severity == Severity::Blocking {
            s.blocking += 1;
        }
    }
    summaries
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn push(
        &mut self,
        municipality: &str,
        severity: Severity,
        category: &'static str,
        dn: &Dn,
        detail: impl Into<String>,
        resolution: &'static str,
    ) {
        self.0.push(finding(municipality, severity, category, dn, detail, resolution));
    }

    fn push_dn(
        &mut self,
        municipality: &str,
        severity: Severity,
        category: &'static str,
        object: &str,
        detail: impl Into<String>,
        resolution: &'static str,
    ) {
        self.0.push(finding_at(municipality, severity, category, object.to_string(), detail, resolution));
    }
}

/// A finding about a source object, named by its DN.
fn finding(
    municipality: &str,
    severity: Severity,
    category: &'static str,
    dn: &Dn,
    detail: impl Into<String>,
    resolution: &'static str,
) -> Finding {
    finding_at(municipality, severity, category, dn.as_str().to_owned(), detail, resolution)
}

/// A finding about `object` (a DN, as the reports show it).
fn finding_at(
    municipality: &str,
    severity: Severity,
    category: &'static str,
    object: String,
    detail: impl Into<String>,
    resolution: &'static str,
) -> Finding {
    Finding { municipality: municipality.to_string(), severity, category, object, detail: detail.into(), resolution }
}

/// Why an account is out of scope, if it is.
fn out_of_scope(obj: &DirectoryObject, mapping: &MunicipalityMapping, now: DateTime<Utc>) -> Option<String> {
    if obj.is_builtin() {
        return Some("built-in account".into());
    }
    let ous = obj.dn.ou_path();
    let below = |x: &String| ous.iter().any(|o| o.eq_ignore_ascii_case(x));
    if !mapping.include_ous.is_empty() && !mapping.include_ous.iter().any(below) {
        return Some(format!("outside the included OUs ({})", mapping.include_ous.join(", ")));
    }
    if let Some(ou) = mapping.exclude_ous.iter().find(|x| below(x)) {
        return Some(format!("in excluded OU {ou}"));
    }
    if let Some((attr, re)) =
        mapping.exclude_filters.iter().find(|(a, re)| source_value(obj, a).is_some_and(|v| re.is_match(&v)))
    {
        return Some(format!("{attr} matches the exclusion filter {}", re.as_str()));
    }
    // An expired account (accountExpires passed, an ended consultant) is treated as disabled.
    let state = SourceState::of(obj, now);
    match state {
        SourceState::Disabled if !mapping.include_disabled => return Some("disabled".into()),
        SourceState::Expired(on) if !mapping.include_disabled => {
            return Some(format!("expired on {on} (accountExpires), treated as disabled"));
        }
        _ => {}
    }
    // Last used: the last logon, or for an account that never logged on, its creation (a new
    // colleague who has not logged on yet is not unused). Neither known: not judged unused.
    let last_used = || obj.last_logon_timestamp.and_then(|t| t.at()).or_else(|| obj.when_created.and_then(|t| t.at()));
    if let Some(days) = mapping.unused_days
        && state.is_enabled()
        && last_used().is_some_and(|t| now - t > Duration::days(i64::from(days)))
    {
        return Some(format!("not used for {days} days"));
    }
    None
}

fn unit_of(obj: &DirectoryObject, mapping: &MunicipalityMapping) -> String {
    match &mapping.unit {
        UnitRule::OuPath { depth } => {
            let path = obj.dn.ou_path();
            let parts: Vec<&str> = path.iter().take(*depth).map(|c| c.as_ref()).collect();
            if parts.is_empty() { "(no unit)".to_string() } else { parts.join("/") }
        }
        UnitRule::Attribute(a) => {
            SourceContext { obj, mapping }.attribute(a).unwrap_or_else(|| "(no unit)".to_string())
        }
    }
}

/// Reads source attributes and lookup tables for transforms.
struct SourceContext<'a> {
    obj: &'a DirectoryObject,
    mapping: &'a MunicipalityMapping,
}

impl TransformContext for SourceContext<'_> {
    fn attribute(&self, name: &str) -> Option<String> {
        source_attribute(self.obj, name)
    }

    fn lookup(&self, table: &str, key: &str) -> Option<String> {
        self.mapping.lookups.get(table).and_then(|t| t.get(key)).cloned()
    }
}

/// A source attribute of an object by its AD name (see [`super::spec::SOURCE_ATTRIBUTES`]).
pub fn source_attribute(obj: &DirectoryObject, name: &str) -> Option<String> {
    source_value(obj, name).map(std::borrow::Cow::into_owned)
}

/// [`source_attribute`], borrowed from the object where it can be: for the steps that only
/// look at a value (scope filters, match keys), a million accounts then copy nothing.
fn source_value<'o>(obj: &'o DirectoryObject, name: &str) -> Option<std::borrow::Cow<'o, str>> {
    let v = match name {
        "cn" => return obj.cn.as_deref().map(Into::into).or_else(|| obj.dn.leaf_value()).filter(|s| !s.is_empty()),
        "sAMAccountName" => &obj.sam_account_name,
        "userPrincipalName" => &obj.user_principal_name,
        "givenName" => &obj.given_name,
        "sn" => &obj.surname,
        "displayName" => &obj.display_name,
        "mail" => &obj.mail,
        "department" => &obj.department,
        "company" => &obj.company,
        "title" => &obj.title,
        "description" => &obj.description,
        "employeeID" => &obj.employee_id,
        "employeeNumber" => &obj.employee_number,
        other => {
            let n = crate::model::convert::extension_attribute_number(other)?;
            return obj.extension_attributes.get(&n).filter(|s| !s.is_empty()).map(|s| s.as_str().into());
        }
    };
    v.as_deref().filter(|s| !s.is_empty()).map(Into::into)
}

/// Values for the name templates: mapped target attributes, then `sAMAccountName` and `municipality`.
struct NameContext<'a> {
    attrs: &'a Attributes,
    obj: &'a DirectoryObject,
    municipality: &'a str,
}

impl NameContext<'_> {
    fn value(&self, name: &str) -> Option<String> {
        match name {
            "municipality" => Some(self.municipality.to_string()),
            "sAMAccountName" => self.obj.sam_account_name.clone(),
            other => self.attrs.get(other).cloned(),
        }
    }
}

/// Groups the candidates into people: each inner list holds candidate indexes, the first being
/// the primary (highest priority). Only `person` accounts in different municipalities match.
fn match_people(
    candidates: &[Box<Candidate<'_>>],
    keys: &[String],
    overrides: &Overrides,
    out: &mut Findings,
) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..candidates.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    // The accounts sharing a key value, found by sorting (key number, value, account) on the
    // value's hash first, in parallel: equal values sit side by side, and comparing hashes
    // rarely reaches the strings. A hash map of a few million keys, each with its own list,
    // was built on one core. Only the pairs need an order, and they are sorted below.
    let hasher = rustc_hash::FxBuildHasher;
    let mut keyed: Vec<(u64, usize, &str, usize)> = (candidates.par_iter().enumerate())
        .filter(|(_, c)| c.kind == AccountKind::Person)
        .flat_map_iter(|(i, c)| {
            let values = c.keys.iter().enumerate().filter_map(|(k, v)| Some((k, v.as_deref()?)));
            values.map(move |(k, v)| (std::hash::BuildHasher::hash_one(&hasher, (k, v)), k, v, i))
        })
        .collect();
    keyed.par_sort_unstable();
    let mut pairs: BTreeSet<(usize, usize)> = BTreeSet::new();
    for same in keyed.chunk_by(|a, b| (a.0, a.1, a.2) == (b.0, b.1, b.2)) {
        for (x, &(.., a)) in same.iter().enumerate() {
            for &(.., b) in &same[x + 1..] {
                if candidates[a].municipality != candidates[b].municipality {
                    pairs.insert((a.min(b), a.max(b)));
                }
            }
        }
    }
    for (a, b) in pairs {
        let (ca, cb) = (&candidates[a], &candidates[b]);
        let (va, vb) = (&ca.keys, &cb.keys);
        let disagree: Vec<&str> = keys
            .iter()
            .zip(va.iter().zip(vb))
            .filter(|(_, (x, y))| x.is_some() && y.is_some() && x != y)
            .map(|(k, _)| k.as_str())
            .collect();
        let detail = format!("{} in {} and {} in {}", ca.dn, ca.municipality, cb.dn, cb.municipality);
        match overrides.decision(ca.guid, cb.guid) {
            Some(true) => {
                out.push(
                    ca.municipality,
                    Severity::Info,
                    "same person",
                    &ca.dn,
                    &detail,
                    "one person (overrides file)",
                );
                out.push(
                    cb.municipality,
                    Severity::Info,
                    "same person",
                    &cb.dn,
                    &detail,
                    "one person (overrides file)",
                );
            }
            Some(false) => continue,
            None if disagree.is_empty() => {
                out.push(
                    ca.municipality,
                    Severity::Review,
                    "same person",
                    &ca.dn,
                    &detail,
                    "one person with two affiliations",
                );
                out.push(
                    cb.municipality,
                    Severity::Review,
                    "same person",
                    &cb.dn,
                    &detail,
                    "one person with two affiliations",
                );
            }
            None => {
                let why = format!("{detail}: keys agree on some values but {} differ", disagree.join(", "));
                let fix = "decide in the overrides file ([[same_person]] or [[different_people]])";
                out.push(ca.municipality, Severity::Blocking, "undecided match", &ca.dn, &why, fix);
                out.push(cb.municipality, Severity::Blocking, "undecided match", &cb.dn, &why, fix);
                continue;
            }
        }
        let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
        // The lower index sorts first (priority order), so it stays the root and the primary.
        parent[ra.max(rb)] = ra.min(rb);
    }
    let mut sets: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..candidates.len() {
        let r = root(&mut parent, i);
        sets.entry(r).or_default().push(i);
    }
    sets.into_values().collect()
}

fn unify_groups(
    inputs: &Inputs<'_>,
    snapshots: &BTreeMap<String, Vec<DirectoryObject>>,
    person_of: &ByDn<'_, Anchor>,
    excluded: &ByDn<'_, &str>,
    book: &mut NameBook,
    out: &mut Findings,
) -> Vec<Group> {
    let target = &inputs.mappings.target;
    // Source groups in priority order, keyed by their unified name.
    let mut sources: Vec<(&str, &DirectoryObject)> = Vec::new();
    for (m, objects) in snapshots {
        if !inputs.mappings.municipalities.contains_key(m) {
            continue;
        }
        for g in objects.iter().filter(|o| o.kind == ObjectKind::Group) {
            if g.is_builtin() {
                out.push(m, Severity::Info, "excluded", &g.dn, "built-in group", "not migrated");
            } else {
                sources.push((m.as_str(), g));
            }
        }
    }
    sources.sort_by_key(|(m, g)| (target.priority_of(m), g.guid));
    let mut by_key: BTreeMap<String, Vec<(&str, &DirectoryObject)>> = BTreeMap::new();
    for (m, g) in &sources {
        let name = g.dn.leaf_value().map(|c| c.into_owned()).unwrap_or_default();
        let policy = target.group_rules.get(&name.to_lowercase()).copied().unwrap_or(target.group_default);
        let key = match policy {
            GroupPolicy::Merge => format!("merge:{}", name.to_lowercase()),
            _ => format!("{m}:{}", g.guid),
        };
        by_key.entry(key).or_default().push((m, g));
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut group_anchor: ByDn<'_, Anchor> = HashMap::default();
    let mut ordered: Vec<Vec<(&str, &DirectoryObject)>> = by_key.into_values().collect();
    ordered.sort_by_key(|v| (target.priority_of(v[0].0), v[0].1.guid));
    for members in &ordered {
        let (m0, g0) = members[0];
        let anchor = Anchor(g0.guid);
        for (m, g) in members {
            group_anchor.insert((*m, &g.dn), anchor);
        }
        let name = g0.dn.leaf_value().map(|c| c.into_owned()).unwrap_or_default();
        let policy = target.group_rules.get(&name.to_lowercase()).copied().unwrap_or(target.group_default);
        let mapping = &inputs.mappings.municipalities[m0];
        let wanted = match policy {
            GroupPolicy::Prefix => format!("{}-{name}", mapping.group_prefix),
            _ => name.clone(),
        };
        // The name is the group's cn in the shared AD too: within AD's 64 characters, cut at a
        // separator, and so is the name with a collision suffix.
        let wanted = names::rdn_value(&wanted);
        let (final_name, collided) =
            book.assign(Namespace::GroupName, anchor, &wanted, &format!(" ({m0})"), names::MAX_RDN);
        if collided {
            out.push(
                m0,
                Severity::Review,
                "group name collision",
                &g0.dn,
                format!("{wanted} is taken; named {final_name}"),
                "suffix by policy",
            );
        }
        // A group's name goes to the cloud as its displayName and mailNickname; there is no
        // other name to send instead, so a personnummer in it blocks until it is renamed.
        if contains_personnummer(&final_name) {
            let detail = format!("group name {final_name:?} holds a personnummer");
            out.push(m0, Severity::Blocking, "privacy violation", &g0.dn, &detail, "refused: rename the group");
        }
        let nick_base =
            names::mail_nickname(&final_name).unwrap_or_else(|| names::fallback_alias(&g0.guid.to_string()));
        let (nick, _) = book.assign(Namespace::MailNickname, anchor, &nick_base, &target.collision_suffix, 64);
        groups.push(Group {
            anchor,
            name: final_name,
            mail_nickname: nick,
            security: g0.group_type.is_none_or(|t| t.is_security()),
            sources: members.iter().map(|(m, g)| (m.to_string(), g.guid, g.dn.clone())).collect(),
            members: Vec::new(),
        });
        if members.len() > 1 {
            let preview: Vec<String> = members.iter().map(|(m, g)| format!("{m} {}", g.members.len())).collect();
            for (m, g) in members {
                out.push(
                    m,
                    Severity::Review,
                    "merged groups",
                    &g.dn,
                    format!("{name}: members {}", preview.join(", ")),
                    "one group",
                );
            }
        }
    }
    // Members, now that every group has its anchor. Members left out are reported once per
    // group and reason, with a count and the first few DNs, not once per membership.
    // Each membership is looked up on its own, in parallel (a group of all staff has a member
    // per person); the outcomes are gathered in member order.
    enum Resolved<'a> {
        Member(Member),
        LeftOut(Severity, &'static str, &'a str, &'a Dn),
    }
    const UNRESOLVED: &str = "not a migrated user or group (a contact, or outside the snapshot)";
    for (group, members) in groups.iter_mut().zip(&ordered) {
        let mut resolved = Vec::new();
        for &(m, g) in members {
            let outcomes: Vec<Resolved<'_>> = g
                .members
                .par_iter()
                .map(|dn| {
                    let key = (m, dn);
                    if let Some(a) = person_of.get(&key) {
                        Resolved::Member(Member::Person(*a))
                    } else if let Some(a) = group_anchor.get(&key) {
                        Resolved::Member(Member::Group(*a))
                    } else if let Some(reason) = excluded.get(&key) {
                        Resolved::LeftOut(Severity::Info, "members not migrated", reason, dn)
                    } else {
                        Resolved::LeftOut(Severity::Review, "unresolved members", UNRESOLVED, dn)
                    }
                })
                .collect();
            let mut left_out: BTreeMap<(Severity, &str, &str), Vec<&Dn>> = BTreeMap::new();
            for outcome in outcomes {
                match outcome {
                    Resolved::Member(member) => resolved.push(member),
                    Resolved::LeftOut(severity, category, reason, dn) => {
                        left_out.entry((severity, category, reason)).or_default().push(dn)
                    }
                }
            }
            for ((severity, category, reason), dns) in left_out {
                let examples: Vec<String> = dns.iter().take(3).map(|d| d.to_string()).collect();
                let more = if dns.len() > 3 { format!(" and {} more", dns.len() - 3) } else { String::new() };
                let detail = format!("{} member(s) {reason}: {}{more}", dns.len(), examples.join("; "));
                out.push(m, severity, category, &g.dn, &detail, "membership left out");
            }
        }
        resolved.par_sort_unstable();
        resolved.dedup();
        group.members = resolved;
    }
    report_cycles(&groups, out);
    groups.sort_by_key(|g| g.anchor);
    groups
}

/// Reports every nesting cycle once (kept: AD allows them, and dropping an edge would change
/// someone's access), naming the groups in it.
fn report_cycles(groups: &[Group], out: &mut Findings) {
    let index: HashMap<Anchor, usize> = groups.iter().enumerate().map(|(i, g)| (g.anchor, i)).collect();
    let edges: Vec<Vec<usize>> = groups
        .iter()
        .map(|g| {
            g.members
                .iter()
                .filter_map(|m| match m {
                    Member::Group(a) => index.get(a).copied(),
                    Member::Person(_) => None,
                })
                .collect()
        })
        .collect();
    for component in strongly_connected(&edges) {
        if component.len() > 1 || edges[component[0]].contains(&component[0]) {
            let names: Vec<&str> = component.iter().map(|&i| groups[i].name.as_str()).collect();
            let first = &groups[component[0]];
            let (m, _, dn) = &first.sources[0];
            out.push_dn(
                m,
                Severity::Review,
                "nesting cycle",
                &dn.to_string(),
                names.join(" -> "),
                "kept as in AD; check before writing",
            );
        }
    }
}

/// Tarjan's strongly connected components, iteratively (no recursion on deep nesting).
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let (mut index, mut low, mut on_stack) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
    let (mut stack, mut out, mut next) = (Vec::new(), Vec::new(), 0);
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        let mut work = vec![(start, 0usize)];
        while let Some(&mut (v, ref mut child)) = work.last_mut() {
            if *child == 0 {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges[v].get(*child) {
                *child += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                component.sort_unstable();
                out.push(component);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::unified::ContentHash;

    use crate::mapping::spec;
    use crate::model::time::AdTime;
    use proptest::prelude::*;

    const MUNICIPALITIES: [&str; 3] = ["bjuv", "klippan", "perstorp"];

    proptest! {
        /// The content hash is the SHA-256 of `kind NUL key NUL json NEWLINE` per line,
        /// whatever the lines hold (no tab, no final newline, empty lines).
        #[test]
        fn the_content_hash_is_over_kind_key_and_data_of_every_line(
            lines in proptest::collection::vec("[a-z0-9\t]{0,12}", 0..8),
            final_newline: bool,
        ) {
            use sha2::Digest;
            let mut text = lines.join("\n");
            if final_newline && !text.is_empty() {
                text.push('\n');
            }
            let mut hash = ContentHash::default();
            hash.add_lines("person", text.as_bytes());
            let mut expected = sha2::Sha256::new();
            for line in text.split_inclusive('\n') {
                let (key, data) = line.split_once('\t').unwrap_or(("", line.get(1..).unwrap_or_default()));
                expected.update(format!("person\0{key}\0{data}"));
            }
            prop_assert_eq!(hash.finish(), hex::encode(expected.finalize()));
        }
    }

    /// The repository's own mapping files, so the tests exercise what the demo ships.
    fn repo_mappings() -> Mappings {
        let names: Vec<String> = ["bjuv", "klippan", "perstorp", "astorp", "orkelljunga"].map(String::from).to_vec();
        spec::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings"), &names).unwrap()
    }

    fn now() -> DateTime<Utc> {
        AdTime::from_generalized("20261101000000.0Z").unwrap().at().unwrap()
    }

    /// An enabled staff account in Hemtjänst, logged on recently.
    fn person(municipality: &str, n: u16, given: &str, surname: &str, created_day: u8) -> DirectoryObject {
        let cn = format!("{given} {surname} {n}");
        let dn = Dn::parse(&format!("OU=Socialförvaltningen,DC={municipality},DC=test"))
            .unwrap()
            .child("OU", "Hemtjänst")
            .child("CN", &cn);
        let mut guid = [0u8; 16];
        guid[..2].copy_from_slice(&n.to_le_bytes());
        guid[2] = MUNICIPALITIES.iter().position(|m| *m == municipality).unwrap() as u8 + 1;
        let mut o = DirectoryObject::new(ObjectKind::User, dn, ObjectGuid::from_ad_bytes(&guid).unwrap());
        o.given_name = Some(given.into());
        o.surname = Some(surname.into());
        o.display_name = Some(format!("{given} {surname}"));
        o.sam_account_name = Some(format!("u{n}"));
        o.user_account_control = Some(crate::model::uac::UserAccountControl(512));
        o.last_logon_timestamp = AdTime::from_generalized("20261020000000.0Z").ok();
        o.when_created = AdTime::from_generalized(&format!("202401{:02}000000.0Z", created_day % 28 + 1)).ok();
        o
    }

    fn run(
        mappings: &Mappings,
        snapshots: &BTreeMap<String, Vec<DirectoryObject>>,
        book: &mut NameBook,
    ) -> UnifiedDirectory {
        run_judged_in(mappings, snapshots.clone(), book)
    }

    /// Judges the snapshots in the order `snapshots` gives, as the readers of `samla map`
    /// hand them over, and unifies them.
    fn run_judged_in(
        mappings: &Mappings,
        snapshots: impl IntoIterator<Item = (String, Vec<DirectoryObject>)>,
        book: &mut NameBook,
    ) -> UnifiedDirectory {
        let overrides = Overrides::default();
        let inputs = Inputs { mappings, overrides: &overrides, hash_key: None, now: now() };
        let judged = judge_all(&inputs, snapshots);
        unify(&inputs, judged, book)
    }

    /// The hidden estate's 84-character name, three times in one unit (two differ only after
    /// AD's 64 characters): three CNs within 64, cut at a separator, unique in their OU; the
    /// UPN alias is cut at a separator too.
    #[test]
    fn long_names_fit_the_shared_ad_and_stay_unique_in_their_ou() {
        const LONG: &str = "Anna-Karin Margareta Charlotta Eleonora Lindqvist-Öhrström-von Essen af Wachtmeister";
        let mappings = repo_mappings();
        let mut snapshots: BTreeMap<String, Vec<DirectoryObject>> = BTreeMap::new();
        let people = [LONG.to_string(), LONG.to_string(), format!("{LONG}-Bonde")].into_iter().enumerate();
        let objects = people.map(|(i, display)| {
            let mut o = person("bjuv", i as u16 + 1, "Anna-Karin", "Lindqvist", 1);
            o.display_name = Some(display);
            o
        });
        snapshots.insert("bjuv".into(), objects.collect());
        let unified = run(&mappings, &snapshots, &mut NameBook::default());
        let mut cns: Vec<&str> = unified.people.iter().map(|p| p.cn.as_str()).collect();
        cns.sort();
        let base = "Anna-Karin Margareta Charlotta Eleonora Lindqvist-Öhrström-von";
        assert_eq!(cns, [base.to_string(), format!("{base} 2"), format!("{base} 3")]);
        for p in &unified.people {
            names::validate_rdn_value(names::NameKind::Cn, &p.cn).unwrap();
            assert!(!p.user_principal_name.contains("-von.e@"), "{}", p.user_principal_name);
        }
    }

    /// A service account without givenName is named after its account name, never
    /// `user.<hex>`; an admin account too, though it has a person's name; a person keeps
    /// `[names]`. A name given by an earlier run is kept (the name book), whatever the
    /// kind's templates say now.
    #[test]
    fn service_and_admin_accounts_keep_their_account_names() {
        let mappings = repo_mappings();
        let base = Dn::parse("DC=bjuv,DC=test").unwrap();
        let mut svc = person("bjuv", 1, "x", "x", 1);
        svc.dn = base.child("OU", "Servicekonton").child("CN", "svc-backup");
        (svc.given_name, svc.surname, svc.display_name) = (None, None, None);
        svc.sam_account_name = Some("svc-backup".into());
        let mut adm = person("bjuv", 2, "Anna", "Andersson", 1);
        adm.sam_account_name = Some("adm-anan".into());
        let anna = person("bjuv", 3, "Anna", "Andersson", 1);
        let snapshots: BTreeMap<String, Vec<DirectoryObject>> =
            [("bjuv".to_string(), vec![svc.clone(), adm.clone(), anna.clone()])].into();
        let unified = run(&mappings, &snapshots, &mut NameBook::default());
        let by = |o: &DirectoryObject| unified.people.iter().find(|p| p.anchor == Anchor(o.guid)).unwrap();
        assert_eq!(by(&svc).kind, AccountKind::Service);
        assert_eq!(by(&adm).kind, AccountKind::Admin);
        let names = |p: &Person| (p.user_principal_name.clone(), p.mail_nickname.clone(), p.sam_account_name.clone());
        assert_eq!(names(by(&svc)), ("svc-backup@samverkan.se".into(), "svc-backup".into(), "svc-backup".into()));
        assert_eq!(names(by(&adm)), ("adm-anan@samverkan.se".into(), "adm-anan".into(), "adm-anan".into()));
        assert_eq!(names(by(&anna)), ("anna.andersson@samverkan.se".into(), "anna.andersson".into(), "annand".into()));
        // An earlier run named the service account by the fallback: it keeps that name.
        let mut book = NameBook::default();
        let old = names::fallback_alias(&svc.guid.to_string());
        for ns in [Namespace::UpnAlias, Namespace::MailNickname, Namespace::SamAccountName] {
            book.insert_existing(ns, &old, Anchor(svc.guid));
        }
        let unified = run(&mappings, &snapshots, &mut book);
        let kept = unified.people.iter().find(|p| p.anchor == Anchor(svc.guid)).unwrap();
        assert_eq!(kept.user_principal_name, format!("{old}@samverkan.se"));
    }

    /// A group's name is its cn in the shared AD: a long one is cut at a separator.
    #[test]
    fn long_group_names_fit_the_shared_ad() {
        let mappings = repo_mappings();
        let long = "Hemtjänstens gemensamma arbetsgrupp för nattpatrull och larmmottagning i norra distriktet";
        let dn = Dn::parse("OU=Grupper,DC=bjuv,DC=test").unwrap().child("CN", long);
        let mut g = DirectoryObject::new(ObjectKind::Group, dn, ObjectGuid::from_ad_bytes(&[9u8; 16]).unwrap());
        g.cn = Some(long.into());
        let member = person("bjuv", 1, "Anna", "Andersson", 1);
        g.members = vec![member.dn.clone()];
        let snapshots: BTreeMap<String, Vec<DirectoryObject>> = [("bjuv".to_string(), vec![member, g])].into();
        let unified = run(&mappings, &snapshots, &mut NameBook::default());
        assert_eq!(unified.groups.len(), 1);
        let name = &unified.groups[0].name;
        names::validate_rdn_value(names::NameKind::Cn, name).unwrap();
        // The municipality's prefix, then the name up to a whole word.
        let (_, rest) = name.split_once('-').unwrap();
        assert!(long.starts_with(&format!("{rest} ")), "{name}");
    }

    #[test]
    fn only_municipalities_with_a_mapping_are_judged() {
        let mappings = repo_mappings();
        let overrides = Overrides::default();
        let inputs = Inputs { mappings: &mappings, overrides: &overrides, hash_key: None, now: now() };
        assert!(Judge::new(&inputs, "bjuv").is_some());
        assert!(Judge::new(&inputs, "lund").is_none());
    }

    fn upns(u: &UnifiedDirectory) -> BTreeMap<Anchor, (String, String, String)> {
        u.people
            .iter()
            .map(|p| (p.anchor, (p.user_principal_name.clone(), p.mail_nickname.clone(), p.sam_account_name.clone())))
            .collect()
    }

    fn estate() -> impl Strategy<Value = Vec<(usize, usize, usize, u8)>> {
        proptest::collection::vec((0..3usize, 0..3usize, 0..3usize, any::<u8>()), 1..25)
    }

    fn build(spec: &[(usize, usize, usize, u8)]) -> BTreeMap<String, Vec<DirectoryObject>> {
        const GIVEN: [&str; 3] = ["Anna", "Åsa", "Zoë"];
        const SURNAME: [&str; 3] = ["Andersson", "Öberg", "Nguyễn"];
        let mut out: BTreeMap<String, Vec<DirectoryObject>> =
            MUNICIPALITIES.iter().map(|m| (m.to_string(), Vec::new())).collect();
        for (i, (m, g, s, day)) in spec.iter().enumerate() {
            let m = MUNICIPALITIES[*m];
            out.get_mut(m).unwrap().push(person(m, i as u16, GIVEN[*g], SURNAME[*s], *day));
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The same people in any read order give the byte-identical unified directory.
        #[test]
        fn input_order_never_changes_the_result(spec in estate(), seed in any::<u64>()) {
            let mappings = repo_mappings();
            let snapshots = build(&spec);
            let first = run(&mappings, &snapshots, &mut NameBook::default()).canonical().unwrap();
            let mut shuffled = snapshots.clone();
            let mut state = seed;
            for objects in shuffled.values_mut() {
                for i in (1..objects.len()).rev() {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    objects.swap(i, (state >> 33) as usize % (i + 1));
                }
            }
            // Handed over as `samla map`'s readers may: in parts, municipalities in reverse,
            // each also with an empty part (as `samla map` gives every municipality, so that
            // one with an empty snapshot is still summarised).
            let parts = shuffled.into_iter().rev().flat_map(|(municipality, objects)| {
                let parts = std::iter::once(Vec::new()).chain(objects.chunks(3).map(<[_]>::to_vec));
                parts.map(|part| (municipality.clone(), part)).collect::<Vec<_>>()
            });
            let second = run_judged_in(&mappings, parts, &mut NameBook::default()).canonical().unwrap();
            prop_assert_eq!(first, second);
        }

        /// A new colleague with a colliding name never takes anyone's name, even with the
        /// highest priority and the oldest account.
        #[test]
        fn names_once_given_are_kept(spec in estate(), g in 0..3usize, s in 0..3usize) {
            let mappings = repo_mappings();
            let mut snapshots = build(&spec);
            let mut book = NameBook::default();
            let before = upns(&run(&mappings, &snapshots, &mut book));
            let mut saved = NameBook::default();
            for (ns, name, anchor) in book.added() {
                saved.insert_existing(ns, name, anchor);
            }
            const GIVEN: [&str; 3] = ["Anna", "Åsa", "Zoë"];
            const SURNAME: [&str; 3] = ["Andersson", "Öberg", "Nguyễn"];
            snapshots.get_mut("klippan").unwrap().push(person("klippan", 999, GIVEN[g], SURNAME[s], 0));
            let after = upns(&run(&mappings, &snapshots, &mut saved));
            for (anchor, names) in &before {
                prop_assert_eq!(after.get(anchor), Some(names));
            }
            let all: BTreeSet<&String> = after.values().map(|n| &n.0).collect();
            prop_assert_eq!(all.len(), after.len(), "UPNs are unique");
        }
    }

    /// Pinned by the Samba test directory, where no account has logged on: an account that
    /// never logged on is unused only when it was created longer ago than `unused_days`.
    #[test]
    fn an_account_that_never_logged_on_is_judged_by_its_creation() {
        let mappings = repo_mappings();
        let mut recent = person("bjuv", 1, "Ny", "Kollega", 1);
        recent.last_logon_timestamp = None;
        recent.when_created = AdTime::from_generalized("20261015000000.0Z").ok();
        let mut old = person("bjuv", 2, "Gammal", "Mall", 2);
        old.last_logon_timestamp = None;
        let mut unknown = person("bjuv", 3, "Okänd", "Tid", 3);
        unknown.last_logon_timestamp = None;
        unknown.when_created = None;
        let snapshots: BTreeMap<String, Vec<DirectoryObject>> =
            [("bjuv".to_string(), vec![recent, old, unknown])].into();
        let dir = run(&mappings, &snapshots, &mut NameBook::default());
        let names: Vec<&str> = dir.people.iter().map(|p| p.display_name.as_str()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&"Ny Kollega") && names.contains(&"Okänd Tid"), "{names:?}");
        assert!(dir.findings.iter().any(|f| f.object.contains("Gammal Mall") && f.detail.contains("not used")));
    }

    /// An account whose accountExpires has passed at map time is out of scope like a disabled
    /// one, reported with the date; brought over with `include_disabled`, the person carries
    /// the source state (expired with its date, disabled) so that no target enables it. An
    /// expiry still ahead is an enabled account.
    #[test]
    fn an_expired_account_is_treated_as_disabled_and_the_person_carries_the_source_state() {
        let mut mappings = repo_mappings();
        let mut expired = person("bjuv", 1, "Konsult", "Slut", 1);
        expired.account_expires = AdTime::from_generalized("20261015000000.0Z").ok();
        let mut later = person("bjuv", 2, "Konsult", "Kvar", 2);
        later.account_expires = AdTime::from_generalized("20271015000000.0Z").ok();
        let mut disabled = person("bjuv", 3, "Av", "Stängd", 3);
        disabled.user_account_control = Some(crate::model::uac::UserAccountControl(514));
        let enabled = person("bjuv", 4, "På", "Slagen", 4);
        let snapshots: BTreeMap<String, Vec<DirectoryObject>> =
            [("bjuv".to_string(), vec![expired, later, disabled, enabled])].into();
        let dir = run(&mappings, &snapshots, &mut NameBook::default());
        let names: BTreeSet<&str> = dir.people.iter().map(|p| p.display_name.as_str()).collect();
        assert_eq!(names, BTreeSet::from(["Konsult Kvar", "På Slagen"]));
        let finding = dir.findings.iter().find(|f| f.object.contains("Konsult Slut")).unwrap();
        assert_eq!(finding.detail, "expired on 2026-10-15 (accountExpires), treated as disabled");

        mappings.municipalities.get_mut("bjuv").unwrap().include_disabled = true;
        let dir = run(&mappings, &snapshots, &mut NameBook::default());
        let states: BTreeMap<&str, SourceState> =
            dir.people.iter().map(|p| (p.display_name.as_str(), p.source_state)).collect();
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(
            states,
            BTreeMap::from([
                ("Konsult Slut", SourceState::Expired(day(2026, 10, 15))),
                ("Konsult Kvar", SourceState::Enabled),
                ("Av Stängd", SourceState::Disabled),
                ("På Slagen", SourceState::Enabled),
            ])
        );
    }

    /// A person matched from several accounts is enabled when any of them is.
    #[test]
    fn a_person_is_enabled_when_any_of_its_accounts_is() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let of = |v: &[SourceState]| source_state(v.iter().copied());
        assert_eq!(of(&[SourceState::Disabled, SourceState::Enabled]), SourceState::Enabled);
        assert_eq!(of(&[SourceState::Expired(day), SourceState::Disabled]), SourceState::Expired(day));
        assert_eq!(of(&[SourceState::Disabled]), SourceState::Disabled);
    }

    /// Only what the allow-list names leaves, and is counted as leaving: an attribute it does
    /// not name stays in the shared AD, and so does an allow-listed value holding a
    /// personnummer (refused, by the repo's policy).
    #[test]
    fn only_allow_listed_attributes_leave_and_a_personnummer_stays_home() {
        let mut mappings = repo_mappings();
        let bjuv = mappings.municipalities.get_mut("bjuv").unwrap();
        let constant = |value: &str| spec::Flow {
            from: None,
            transforms: vec![crate::mapping::transform::Transform::Constant(value.into())],
        };
        bjuv.flows.insert("physicalDeliveryOfficeName".into(), constant("Storgatan 1"));
        bjuv.flows.insert("employeeId".into(), constant("19121212-1212"));
        let snapshots: BTreeMap<String, Vec<DirectoryObject>> =
            [("bjuv".to_string(), vec![person("bjuv", 1, "Åsa", "Öberg", 1)])].into();
        let dir = run(&mappings, &snapshots, &mut NameBook::default());
        let p = &dir.people[0];
        assert_eq!(p.cloud.get("givenName").map(String::as_str), Some("Åsa"));
        assert_eq!(p.cloud.get("physicalDeliveryOfficeName"), None);
        assert_eq!(p.cloud.get("employeeId"), None);
        assert_eq!(p.on_premises.get("physicalDeliveryOfficeName").map(String::as_str), Some("Storgatan 1"));
        assert_eq!(p.on_premises.get("employeeId").map(String::as_str), Some("19121212-1212"));
        assert_eq!(p.on_premises.get("givenName"), None, "what leaves is not kept twice");
        let leaving: Vec<(&str, usize)> =
            dir.outbound["bjuv"].iter().map(|o| (o.attribute.as_str(), o.values)).collect();
        assert!(leaving.contains(&("givenName", 1)), "{leaving:?}");
        assert!(leaving.iter().all(|(a, _)| !["physicalDeliveryOfficeName", "employeeId"].contains(a)), "{leaving:?}");
        let violations: Vec<&Finding> = dir.findings.iter().filter(|f| f.category == "privacy violation").collect();
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(
            (violations[0].severity, violations[0].detail.as_str()),
            (Severity::Blocking, "employeeId holds a personnummer")
        );
    }

    /// A group's name is its displayName in the cloud: a personnummer there blocks.
    #[test]
    fn a_personnummer_in_a_group_name_blocks() {
        let mappings = repo_mappings();
        let member = person("bjuv", 1, "Anna", "Andersson", 1);
        let group = |n: u8, name: &str| {
            let dn = Dn::parse("OU=Grupper,DC=bjuv,DC=test").unwrap().child("CN", name);
            let mut g = DirectoryObject::new(ObjectKind::Group, dn, ObjectGuid::from_ad_bytes(&[n; 16]).unwrap());
            g.members = vec![member.dn.clone()];
            g
        };
        let snapshots: BTreeMap<String, Vec<DirectoryObject>> = [(
            "bjuv".to_string(),
            vec![member.clone(), group(7, "Elevhälsa 19121212-1212"), group(8, "Elevhälsa 19121212-1213")],
        )]
        .into();
        let dir = run(&mappings, &snapshots, &mut NameBook::default());
        let violations: Vec<&Finding> = dir.findings.iter().filter(|f| f.category == "privacy violation").collect();
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].severity, Severity::Blocking);
        assert!(violations[0].object.contains("19121212-1212"), "{violations:?}");
        assert_eq!(dir.summaries["bjuv"].blocking, 1);
    }

    #[test]
    fn tarjan_finds_cycles_and_self_loops() {
        let edges = vec![vec![1], vec![2], vec![0], vec![3], vec![]];
        let mut sccs = strongly_connected(&edges);
        sccs.sort();
        assert_eq!(sccs, vec![vec![0, 1, 2], vec![3], vec![4]]);
    }

    #[test]
    fn a_name_once_given_is_kept_and_new_people_get_suffixes() {
        let a = Anchor(ObjectGuid::from_ad_bytes(&[1; 16]).unwrap());
        let b = Anchor(ObjectGuid::from_ad_bytes(&[2; 16]).unwrap());
        let mut book = NameBook::default();
        book.insert_existing(Namespace::UpnAlias, "anna.andersson", a);
        assert_eq!(
            book.assign(Namespace::UpnAlias, b, "anna.andersson", "{n}", 64),
            ("anna.andersson2".to_string(), true)
        );
        assert_eq!(book.assign(Namespace::UpnAlias, a, "anything", "{n}", 64), ("anna.andersson".to_string(), true));
        assert_eq!(
            book.assign(Namespace::UpnAlias, b, "anna.andersson", "{n}", 64),
            ("anna.andersson2".to_string(), true)
        );
        assert_eq!(book.added_count(), 1);
    }
}
