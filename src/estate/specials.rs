//! The hand-made people of the sample estate: the awkward names and cross-municipality cases
//! that must appear at every scale. The plan places them; the name table knows their names.

/// Hand-made people who must appear at every scale: the awkward cases.
#[derive(Debug)]
pub(crate) struct Special {
    pub munis: &'static [&'static str],
    pub given: &'static str,
    pub sn: &'static str,
    /// A CN and displayName that differ from the usual form (quotes).
    pub display: Option<&'static str>,
    pub surname_first: bool,
    /// An employeeID shared by every municipality that employs this person.
    pub employee_id: Option<&'static str>,
}

pub(crate) const SPECIALS: &[Special] = &[
    Special {
        munis: &["bjuv", "klippan", "perstorp", "astorp", "orkelljunga"],
        given: "Anna",
        sn: "Andersson",
        display: None,
        surname_first: false,
        employee_id: None,
    },
    Special { munis: &["bjuv"], given: "Åsa", sn: "Öberg", display: None, surname_first: true, employee_id: None },
    Special {
        munis: &["klippan"],
        given: "Karl",
        sn: "Lindqvist",
        display: Some("Karl \"Lillen\" Lindqvist"),
        surname_first: false,
        employee_id: None,
    },
    Special {
        munis: &["bjuv", "astorp"],
        given: "Märta",
        sn: "Ängström",
        display: None,
        surname_first: false,
        employee_id: Some("19000001"),
    },
    Special {
        munis: &["klippan", "orkelljunga"],
        given: "Björn",
        sn: "Åkesson",
        display: None,
        surname_first: false,
        employee_id: Some("29000001"),
    },
    Special {
        munis: &["perstorp"],
        given: "Seán",
        sn: "O'Brien",
        display: None,
        surname_first: false,
        employee_id: None,
    },
    Special {
        munis: &["bjuv"],
        given: "Anna-Karin",
        sn: "Sjöberg-Ali",
        display: None,
        surname_first: false,
        employee_id: None,
    },
    Special {
        munis: &["klippan"],
        given: "Łukasz",
        sn: "Nguyễn",
        display: None,
        surname_first: false,
        employee_id: None,
    },
    Special {
        munis: &["astorp"], given: "José", sn: "Çelik", display: None, surname_first: false, employee_id: None
    },
    // 84 characters as `Given Surname`: beyond AD's 64 for cn, and for a UPN alias and
    // mailNickname once cleaned; every target must cut it at a separator, not mid-word.
    Special {
        munis: &["perstorp"],
        given: "Anna-Karin Margareta Charlotta Eleonora",
        sn: "Lindqvist-Öhrström-von Essen af Wachtmeister",
        display: None,
        surname_first: false,
        employee_id: None,
    },
    Special {
        munis: &["orkelljunga"],
        given: "Zoë",
        sn: "Müller",
        display: None,
        surname_first: false,
        employee_id: None,
    },
];
