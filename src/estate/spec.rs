//! What the sample estate is made of: the options (seed, scale), the export flavours, the five
//! municipalities and their proportions, and the counts a written estate reports. The planner
//! and the writers read these; the estate's entry points in `mod.rs` run them.

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
    /// Accounts whose lastLogonTimestamp is over a year before [`crate::estate::REFERENCE_UNIX`].
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
