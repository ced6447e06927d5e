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
//!   (`Karl "Lillen" Lindqvist`, CN and displayName);
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
mod specials;
mod write;

#[cfg(test)]
mod tests;

pub use clock::REFERENCE_UNIX;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Seed and size of the estate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstateOptions {
    /// Everything is derived from this seed and the municipality id.
    pub seed: u64,
    /// 1.0 gives about 7,000 users in all; 140 about a million.
    pub scale: f64,
}

impl Default for EstateOptions {
    fn default() -> EstateOptions {
        EstateOptions { seed: 2026, scale: 1.0 }
    }
}

/// The largest scale accepted (account numbering and RIDs stay in range well beyond it).
pub const MAX_SCALE: f64 = 5_000.0;

/// Which consumer the LDIF is for; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flavor {
    /// As `ldifde -f` exports it from a real Active Directory.
    Ldifde,
    /// For `ldapadd` into OpenLDAP with the ad-lite schema.
    Slapd,
    /// For `ldapadd` into a Samba AD domain controller.
    Samba,
}

/// One municipality of the cooperation and its directory's conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MunicipalitySpec {
    pub id: &'static str,
    pub display_name: &'static str,
    pub base_dn: &'static str,
    /// Domain of `mail` and (usually) `userPrincipalName`; students use `elev.<domain>`.
    pub mail_domain: &'static str,
    /// Users at scale 1.0 (before rounding the shares of each kind).
    pub base_users: u32,
    /// 1-5: first digit of employeeIDs and cost centres.
    pub number: u8,
    /// Telephone area code of `telephoneNumber`.
    pub area_code: &'static str,
    /// Schools (staff units with students in `OU=Elever`).
    pub schools: &'static [&'static str],
    /// Preschools (staff units only).
    pub preschools: &'static [&'static str],
    /// `employeeNumber` holds a personnummer (Klippan only).
    pub personnummer_in_employee_number: bool,
    /// Staff CNs are `Surname, Given` (Örkelljunga).
    pub cn_surname_first: bool,
    /// `userPrincipalName` is `<sAMAccountName>@<domain>` rather than the mail address (Perstorp).
    pub upn_is_sam: bool,
    /// "Never expires" is mostly `0` rather than `9223372036854775807`.
    pub never_expires_is_zero: bool,
    /// `extensionAttribute1` holds the unit's cost centre.
    pub cost_centre_in_extension_attribute1: bool,
}

static MUNICIPALITIES: [MunicipalitySpec; 5] = [
    MunicipalitySpec {
        id: "bjuv",
        display_name: "Bjuvs kommun",
        base_dn: "DC=bjuv,DC=test",
        mail_domain: "bjuv.se",
        base_users: 1500,
        number: 1,
        area_code: "042",
        schools: &["Varagårdsskolan", "Brogårdaskolan", "Ekebyskolan"],
        preschools: &["Förskolan Solrosen", "Förskolan Humlan"],
        personnummer_in_employee_number: false,
        cn_surname_first: false,
        upn_is_sam: false,
        never_expires_is_zero: false,
        cost_centre_in_extension_attribute1: true,
    },
    MunicipalitySpec {
        id: "klippan",
        display_name: "Klippans kommun",
        base_dn: "DC=klippan,DC=test",
        mail_domain: "klippan.se",
        base_users: 1900,
        number: 2,
        area_code: "0435",
        schools: &["Åbyskolan", "Vedby skola", "Ljungbyhedsskolan"],
        preschools: &["Förskolan Myran", "Förskolan Tallen"],
        personnummer_in_employee_number: true,
        cn_surname_first: false,
        upn_is_sam: false,
        never_expires_is_zero: true,
        cost_centre_in_extension_attribute1: true,
    },
    MunicipalitySpec {
        id: "perstorp",
        display_name: "Perstorps kommun",
        base_dn: "DC=perstorp,DC=test",
        mail_domain: "perstorp.se",
        base_users: 800,
        number: 3,
        area_code: "0435",
        schools: &["Centralskolan", "Parkskolan"],
        preschools: &["Förskolan Ängen"],
        personnummer_in_employee_number: false,
        cn_surname_first: false,
        upn_is_sam: true,
        never_expires_is_zero: false,
        cost_centre_in_extension_attribute1: false,
    },
    MunicipalitySpec {
        id: "astorp",
        display_name: "Åstorps kommun",
        base_dn: "DC=astorp,DC=test",
        mail_domain: "astorp.se",
        base_users: 1700,
        number: 4,
        area_code: "042",
        schools: &["Nyvångskolan", "Västra skolan", "Hyllinge skola"],
        preschools: &["Förskolan Björken", "Förskolan Kvidinge"],
        personnummer_in_employee_number: false,
        cn_surname_first: false,
        upn_is_sam: false,
        never_expires_is_zero: true,
        cost_centre_in_extension_attribute1: true,
    },
    MunicipalitySpec {
        id: "orkelljunga",
        display_name: "Örkelljunga kommun",
        base_dn: "DC=orkelljunga,DC=test",
        mail_domain: "orkelljunga.se",
        base_users: 1100,
        number: 5,
        area_code: "0435",
        schools: &["Skånes Fagerhults skola", "Åsljunga skola", "Lingvallskolan"],
        preschools: &["Förskolan Eket"],
        personnummer_in_employee_number: false,
        cn_surname_first: true,
        upn_is_sam: false,
        never_expires_is_zero: false,
        cost_centre_in_extension_attribute1: true,
    },
];

/// The five municipalities of the cooperation.
pub fn municipalities() -> &'static [MunicipalitySpec] {
    &MUNICIPALITIES
}

/// Users of each kind (and some of their states) written for one municipality.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KindCounts {
    pub staff: u64,
    pub students: u64,
    /// `adm-` accounts.
    pub admin: u64,
    /// `svc-` accounts.
    pub service: u64,
    /// Shared mailboxes and rooms (`rum-`, `funk-`).
    pub resource: u64,
    /// The built-in Administrator (flavours with built-ins).
    pub builtin: u64,
    /// Accounts with the ACCOUNTDISABLE bit.
    pub disabled: u64,
    /// Accounts whose lastLogonTimestamp is over a year before [`REFERENCE_UNIX`].
    pub long_unused: u64,
    /// Accounts without a lastLogonTimestamp.
    pub never_logged_on: u64,
    /// Temporary staff with an accountExpires date.
    pub temporary: u64,
}

/// What one municipality's LDIF holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EstateCounts {
    pub users: u64,
    pub groups: u64,
    pub contacts: u64,
    pub ous: u64,
    pub containers: u64,
    /// `member` values written (including the cycle's modify record).
    pub memberships: u64,
    pub kinds: KindCounts,
}

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
