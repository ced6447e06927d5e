//! The sample estate: five municipalities' directories as LDIF, deterministic and seeded.
//!
//! The demo, the integration tests and the benchmarks all need directories that look like
//! the ones samla will meet: Bjuv, Klippan, Perstorp, Åstorp and Örkelljunga, about 7,000
//! users in all at scale 1.0. This module writes them, one LDIF file per municipality, in
//! three flavours (see [`Flavor`]).
//!
//! # Why it looks the way it does
//!
//! **Realistic proportions.** Each municipality has its administrations as OUs
//! (Kommunledningskontoret, Socialförvaltningen, Barn- och utbildningsförvaltningen with its
//! schools and `OU=Elever`, Tekniska förvaltningen, and IT as the smallest) with units below
//! them, plus `OU=Admins`, `OU=Servicekonton`, `OU=Resurser`, `OU=Grupper` and `OU=Kontakter`.
//! About 60 % of the accounts are staff, 30 % students, the rest `adm-<initials>` accounts for
//! most IT staff, `svc-<system>` service accounts and shared mailboxes and rooms (`rum-...`,
//! `funk-...`, mostly disabled as Exchange wants them). About 4 % of staff are disabled, some
//! accounts have not logged on for over a year (stale service accounts most often), temps have
//! an `accountExpires` date (some already passed), students' accounts expire when they leave
//! year 9, and "never expires" is written both as `0` and as `9223372036854775807`, as real
//! estates mix them.
//!
//! **The awkward cases real estates have**, at every scale, because a migration tool breaks
//! exactly on them:
//! - names with å, ä, ö and beyond Latin-1 (`Nguyễn`, `Łukasz`, `Çelik`), hyphens
//!   (`Anna-Karin Sjöberg-Ali`), apostrophes (`Seán O'Brien`) and a quoted nickname
//!   (`Karl "Lillen" Lindqvist`, CN and displayName) and a displayName of 84 characters
//!   (`Anna-Karin Margareta Charlotta Eleonora Lindqvist-Öhrström-von Essen af Wachtmeister`,
//!   whose CN drops the middle given names to stay within AD's 64);
//! - CNs in the `Surname, Given` form (all of Örkelljunga's staff, and about 4 % legacy
//!   accounts elsewhere) so DNs hold escaped commas: `CN=Öberg\, Åsa,OU=...`;
//! - the same name in several municipalities (`anna.andersson@` in all five) and repeated names
//!   inside one (`anna.andersson2@`, `Anna Andersson 2`);
//! - the same person employed in two municipalities with the same `employeeID` and two
//!   different accounts (Märta Ängström in Bjuv and Åstorp, Björn Åkesson in Klippan and
//!   Örkelljunga);
//! - personnummer-shaped `employeeNumber` values (`YYYYMMDD-NNNC`, valid Luhn digit, born
//!   1950-2005, synthetic) in exactly one municipality, Klippan;
//! - a `userPrincipalName` that differs from `mail` (Perstorp uses `<sAMAccountName>@`),
//!   students on a mail subdomain (`@elev.<domain>`), `extensionAttribute1` as cost centre
//!   in four municipalities out of five;
//! - a contact in each municipality for a neighbouring municipality's employee (same name and
//!   mail as that employee's account: a consolidation conflict);
//! - groups: one per unit and administration, unit groups nested in administration groups,
//!   domain-local groups (AGDLP), distribution groups with mail and contacts as members, role
//!   groups for Treserva, Viva, Procapita, Heroma and the financial system, a flat licensing
//!   group "Licens Microsoft 365" (all staff and students: over 1,500 members whenever the
//!   municipality has that many, for instance Klippan and Åstorp at scale 1.0), a nesting cycle
//!   (`Chefer` ∋ `Ledningsgrupp` ∋ `Chefer`), same-named groups in every municipality
//!   ("IT-avdelningen", "Alla medarbetare"), and built-ins (`Administrators` and `Users` in
//!   `CN=Builtin`, `Domain Admins` and `Domain Users` in `CN=Users`, with
//!   `isCriticalSystemObject`; `Domain Users` has no `member` values, as in AD, where
//!   membership comes from `primaryGroupID`).
//!
//! **Streaming for scale.** Any scale works, from 0.01 to about a million users in all
//! (scale 140) and beyond. Nothing holds the users: an account is a pure function of
//! `(seed, municipality, index)`, and a group is a few index ranges with predicates, so groups
//! are written after the users by recomputing their members' DNs, and `memberOf` comes from
//! the same predicates. The one thing a DN needs from other accounts is how many earlier
//! namesakes share the OU (`Anna Andersson 2`); a counter replays the OU's names in index
//! order, which every writer walks anyway, and holds one entry per distinct name. Memory is a
//! few small tables per municipality (about 20 MB of RSS for a million users);
//! `write_all` writes the five files on parallel threads.
//!
//! **Determinism.** Randomness comes only from a SplitMix64 written in this module (no
//! crate whose output could change with an upgrade), keyed by the seed and the municipality
//! id. Times are offsets from a fixed reference date, [`REFERENCE_UNIX`] (2026-03-01), never
//! the wall clock. The same seed and scale give byte-identical files.
//!
//! # Flavours
//!
//! All flavours write parents before children, users before contacts before groups, and
//! member groups before the groups holding them, so `ldapadd` finds every referenced DN
//! (`member`, `manager`, `managedBy`). The one edge of the nesting cycle that no order can
//! satisfy is added by a final `changetype: modify` record in the slapd and Samba flavours.
//!
//! - [`Flavor::Ldifde`]: what `ldifde -f x.ldf` exports from a real AD. `changetype: add`
//!   on each entry, `objectGUID::`/`objectSid::` base64, `memberOf` back-links, built-ins,
//!   operational attributes (`distinguishedName`, `instanceType`, `whenCreated`,
//!   `whenChanged`, `uSNCreated`, `uSNChanged`, `name`, `objectCategory`), every non-ASCII
//!   value base64 (`sn:: w5ZiZXJn`), lines folded at 78 columns. No modify records: the
//!   groups carry their full member lists. No base DN entry.
//! - [`Flavor::Slapd`]: for OpenLDAP with the ad-lite schema, loaded with `ldapadd` into a
//!   server that already has `dc=<id>,dc=test`. Raw UTF-8 values, binary `objectGUID` and
//!   `objectSid`, no `memberOf` (the memberof overlay computes it), no passwords.
//! - [`Flavor::Samba`]: for a Samba AD DC loaded with `ldapadd`. The server owns identity and
//!   bookkeeping, so no `objectGUID`, `objectSid`, `whenCreated`, `whenChanged`, `memberOf`,
//!   `lastLogonTimestamp`, `pwdLastSet`, `primaryGroupID`, `sAMAccountType`,
//!   `isCriticalSystemObject`, no built-ins and no `CN=Users`/`CN=Builtin` entries (Samba has
//!   its own). `userAccountControl` is 514 for disabled accounts and 544
//!   (NORMAL_ACCOUNT|PASSWD_NOTREQD) otherwise, since no password is set.
//!   `extensionAttribute1`, `2` and `15` are written as in the other flavours: they belong to
//!   the Exchange schema extension, which hybrid municipal ADs have and a freshly provisioned
//!   Samba does not, so the DC needs that extension first (`tests/directory/samba.sh` adds it).
//!   At scale 1.0 Bjuv and Klippan load into Samba 4.17 DCs so extended without an error.
//!
//! ## Exactly what the slapd flavour uses (for the schema owner)
//!
//! Object classes:
//! - `organizationalUnit` + `adObject` (OUs): `ou`, `description`, `objectGUID`,
//!   `whenCreated`, `whenChanged`.
//! - `container` + `adObject` (`CN=Users`, `CN=Builtin`; **`container`**):
//!   `cn`, `description`, `objectGUID`, `whenCreated`, `whenChanged`.
//! - `user`: `cn`, `sn` (always present; the CN when the account has no surname),
//!   `givenName`, `displayName`, `description`, `title`, `department`, `company`,
//!   `telephoneNumber`, `mobile`, `employeeID`, `employeeNumber`, `employeeType`, `manager`,
//!   `mail`, `proxyAddresses`, **`extensionAttribute1`, `extensionAttribute2`,
//!   `extensionAttribute15`** (the generator uses these three; add all fifteen),
//!   `sAMAccountName`, `userPrincipalName`, `userAccountControl`, `accountExpires`,
//!   `pwdLastSet`, `lastLogonTimestamp`, `primaryGroupID`, `sAMAccountType`,
//!   **`isCriticalSystemObject`** (on `CN=Administrator` only), `objectGUID`, `objectSid`,
//!   `whenCreated`, `whenChanged`.
//! - **`contact`** (`SUP organizationalPerson`, so `cn` and `sn` are required): `cn`, `sn`, `givenName`, `displayName`, `description`, `company`,
//!   `telephoneNumber`, `mail`, `objectGUID`, `whenCreated`, `whenChanged`.
//! - `group`: `cn`, `description`, `sAMAccountName`, `groupType`, `sAMAccountType`, `mail`,
//!   `proxyAddresses`, `managedBy`, `member`, **`isCriticalSystemObject`** (built-ins),
//!   `objectGUID`, `objectSid`, `whenCreated`, `whenChanged`.
//!
//! Bold items are not in the reference `ad-lite.schema`; the project's copy in
//! `tests/directory/` has them, and the slapd flavour at scale 1.0 loads into it with `ldapadd`
//! without an error. `title`, `telephoneNumber`, `description`, `mobile` and
//! `employeeNumber`/`employeeType` come from core, cosine and inetorgperson.

mod clock;
mod groups;
mod ldif;
mod names;
mod plan;
mod rng;
mod spec;
mod specials;
mod write;

#[cfg(test)]
mod tests;

pub use clock::REFERENCE_UNIX;
pub use spec::{EstateCounts, EstateOptions, Flavor, KindCounts, MAX_SCALE, MunicipalitySpec, municipalities};

use std::io::{self, Write};
use std::path::{Path, PathBuf};

fn check(opts: &EstateOptions) -> io::Result<()> {
    if opts.scale.is_finite() && (0.0..=MAX_SCALE).contains(&opts.scale) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("estate scale must be between 0 and {MAX_SCALE}, not {}", opts.scale),
        ))
    }
}

/// Writes one municipality's LDIF; returns counts.
pub fn write_municipality(
    opts: &EstateOptions,
    muni: &MunicipalitySpec,
    flavor: Flavor,
    out: &mut dyn Write,
) -> io::Result<EstateCounts> {
    check(opts)?;
    let plan = plan::Plan::new(opts, muni, flavor);
    write::write(&plan, out)
}

/// Writes `<dir>/<id>.ldif` for all five (in parallel); returns (path, counts) per municipality.
pub fn write_all(opts: &EstateOptions, flavor: Flavor, dir: &Path) -> io::Result<Vec<(PathBuf, EstateCounts)>> {
    check(opts)?;
    std::fs::create_dir_all(dir)?;
    let results: Vec<io::Result<(PathBuf, EstateCounts)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = municipalities()
            .iter()
            .map(|muni| {
                let path = dir.join(format!("{}.ldif", muni.id));
                scope.spawn(move || -> io::Result<(PathBuf, EstateCounts)> {
                    let mut file = std::fs::File::create(&path)?;
                    let counts = write_municipality(opts, muni, flavor, &mut file)?;
                    Ok((path, counts))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("estate writer thread panicked"))))
            .collect()
    });
    results.into_iter().collect()
}
