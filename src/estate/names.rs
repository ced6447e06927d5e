//! Weighted name pools and the ASCII folding used for mail addresses and account names.
//!
//! Weights follow the rough shape of Swedish name statistics (Andersson and Anna are common,
//! Ängström and Łukasz are rare) with a realistic share of names from other languages, so that
//! å, ä, ö, hyphens, apostrophes and characters outside Latin-1 all turn up at every scale.
//! No name holds a space, comma or digit: that keeps "Given Surname" and "Surname, Given"
//! unambiguous, which the uniqueness of CNs relies on.

use super::specials::SPECIALS;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Given names and their weights.
pub(crate) const GIVEN: &[(&str, u32)] = &[
    ("Anna", 30),
    ("Maria", 28),
    ("Karin", 24),
    ("Eva", 22),
    ("Kristina", 18),
    ("Lena", 16),
    ("Sara", 15),
    ("Emma", 14),
    ("Kerstin", 12),
    ("Marie", 12),
    ("Ingrid", 10),
    ("Malin", 10),
    ("Jenny", 10),
    ("Hanna", 10),
    ("Linda", 10),
    ("Åsa", 10),
    ("Elin", 9),
    ("Johanna", 9),
    ("Sofia", 9),
    ("Ida", 8),
    ("Birgitta", 8),
    ("Margareta", 8),
    ("Elisabeth", 8),
    ("Helena", 8),
    ("Camilla", 7),
    ("Maja", 6),
    ("Alice", 6),
    ("Julia", 6),
    ("Jessica", 6),
    ("Ebba", 5),
    ("Ella", 5),
    ("Elsa", 5),
    ("Wilma", 5),
    ("Linnéa", 5),
    ("Gunilla", 5),
    ("Therese", 5),
    ("Frida", 5),
    ("Agnes", 4),
    ("Saga", 4),
    ("Louise", 4),
    ("Klara", 4),
    ("Märta", 3),
    ("Anna-Karin", 3),
    ("Britt-Marie", 3),
    ("Ann-Sofie", 3),
    ("Tove", 3),
    ("Fatima", 3),
    ("Lise-Lotte", 2),
    ("Signe", 2),
    ("Amira", 2),
    ("Leyla", 2),
    ("Aisha", 2),
    ("Natalia", 2),
    ("Agnieszka", 2),
    ("Zeynep", 2),
    ("Linh", 2),
    ("Ronja", 2),
    ("Zoë", 1),
    ("Chloé", 1),
    ("Małgorzata", 1),
    ("Ayşe", 1),
    ("Thảo", 1),
    ("Siobhán", 1),
    ("Renée", 1),
    ("Anders", 24),
    ("Lars", 22),
    ("Johan", 22),
    ("Erik", 22),
    ("Karl", 20),
    ("Per", 18),
    ("Mikael", 18),
    ("Jan", 18),
    ("Peter", 16),
    ("Thomas", 12),
    ("Daniel", 12),
    ("Fredrik", 11),
    ("Hans", 10),
    ("Stefan", 10),
    ("Andreas", 10),
    ("Magnus", 10),
    ("Mats", 9),
    ("Björn", 8),
    ("Göran", 8),
    ("Nils", 8),
    ("Gustav", 7),
    ("Oscar", 7),
    ("Bengt", 6),
    ("Sven", 6),
    ("Olof", 6),
    ("Axel", 6),
    ("William", 6),
    ("Hugo", 6),
    ("Oskar", 6),
    ("Liam", 5),
    ("Elias", 5),
    ("Lucas", 5),
    ("Viktor", 5),
    ("Mohammed", 5),
    ("Åke", 4),
    ("Ali", 4),
    ("Jörgen", 3),
    ("Ahmed", 3),
    ("Omar", 3),
    ("Måns", 2),
    ("Örjan", 2),
    ("Sören", 2),
    ("Hassan", 2),
    ("Yusuf", 2),
    ("José", 2),
    ("Piotr", 2),
    ("Mehmet", 2),
    ("Jan-Erik", 2),
    ("Per-Olof", 2),
    ("Carl-Johan", 2),
    ("Łukasz", 1),
    ("Tomasz", 1),
    ("Emre", 1),
    ("Minh", 1),
    ("Đức", 1),
    ("Jürgen", 1),
    ("François", 1),
    ("Seán", 1),
    ("Lars-Göran", 1),
];

/// Surnames and their weights.
pub(crate) const SURNAMES: &[(&str, u32)] = &[
    ("Andersson", 20),
    ("Johansson", 20),
    ("Karlsson", 18),
    ("Nilsson", 17),
    ("Eriksson", 16),
    ("Larsson", 15),
    ("Olsson", 15),
    ("Persson", 14),
    ("Svensson", 14),
    ("Gustafsson", 12),
    ("Pettersson", 11),
    ("Jonsson", 10),
    ("Jansson", 7),
    ("Hansson", 7),
    ("Jönsson", 6),
    ("Bengtsson", 5),
    ("Lindberg", 8),
    ("Jakobsson", 8),
    ("Magnusson", 8),
    ("Olofsson", 8),
    ("Lindström", 8),
    ("Lindqvist", 7),
    ("Lindgren", 7),
    ("Axelsson", 7),
    ("Berg", 7),
    ("Bergström", 6),
    ("Lundberg", 6),
    ("Lind", 6),
    ("Lundgren", 6),
    ("Lundqvist", 6),
    ("Mattsson", 6),
    ("Berglund", 5),
    ("Fredriksson", 5),
    ("Sandberg", 5),
    ("Henriksson", 5),
    ("Forsberg", 5),
    ("Sjöberg", 5),
    ("Håkansson", 5),
    ("Wallin", 4),
    ("Engström", 4),
    ("Eklund", 4),
    ("Danielsson", 4),
    ("Lundin", 4),
    ("Björk", 4),
    ("Bergman", 4),
    ("Gunnarsson", 4),
    ("Holm", 4),
    ("Wikström", 4),
    ("Samuelsson", 4),
    ("Isaksson", 3),
    ("Fransson", 3),
    ("Bergqvist", 3),
    ("Nyström", 3),
    ("Holmberg", 3),
    ("Arvidsson", 3),
    ("Löfgren", 3),
    ("Söderberg", 3),
    ("Nyberg", 3),
    ("Blomqvist", 3),
    ("Claesson", 3),
    ("Nordström", 3),
    ("Mårtensson", 3),
    ("Öberg", 3),
    ("Åkesson", 3),
    ("Ali", 3),
    ("Mohammed", 3),
    ("Lundström", 2),
    ("Viklund", 2),
    ("Björklund", 2),
    ("Eliasson", 2),
    ("Pålsson", 2),
    ("Berggren", 2),
    ("Sandström", 2),
    ("Lund", 2),
    ("Nordin", 2),
    ("Ström", 2),
    ("Åberg", 2),
    ("Hermansson", 2),
    ("Ekström", 2),
    ("Holmgren", 2),
    ("Sundberg", 2),
    ("Hedlund", 2),
    ("Dahlberg", 2),
    ("Hellström", 2),
    ("Sjögren", 2),
    ("Abrahamsson", 2),
    ("Falk", 2),
    ("Öhman", 2),
    ("Hussein", 2),
    ("Ahmed", 2),
    ("Hassan", 2),
    ("Nguyễn", 2),
    ("Yılmaz", 2),
    ("Nowak", 2),
    ("Ängström", 1),
    ("Östlund", 1),
    ("Trần", 1),
    ("Müller", 1),
    ("Çelik", 1),
    ("Kaya", 1),
    ("Kowalski", 1),
    ("Wiśniewska", 1),
    ("Jovanović", 1),
    ("Hodžić", 1),
    ("O'Brien", 1),
    ("D'Souza", 1),
    ("García", 1),
    ("Fernández", 1),
    ("Sjöberg-Ali", 1),
    ("Lindqvist-Öhman", 1),
    ("Al-Hassan", 1),
];

/// Every name the estate can use (both pools and the hand-made people), each folded once.
#[derive(Debug)]
pub(crate) struct NameTable {
    entries: Vec<NameEntry>,
    by_name: HashMap<&'static str, u32>,
}

#[derive(Debug)]
pub(crate) struct NameEntry {
    pub name: &'static str,
    /// [`fold`] of the name.
    pub folded: String,
    /// Equal for names that fold alike (`Jonsson`, `Jönsson`): they would share mail addresses.
    pub fold_id: u32,
}

impl NameTable {
    fn build() -> NameTable {
        let extra = SPECIALS.iter().flat_map(|s| [s.given, s.sn]);
        let all = GIVEN.iter().chain(SURNAMES).map(|&(n, _)| n).chain(extra);
        let mut table = NameTable { entries: Vec::new(), by_name: HashMap::new() };
        let mut fold_ids: HashMap<String, u32> = HashMap::new();
        for name in all {
            if table.by_name.contains_key(name) {
                continue;
            }
            let folded = fold(name);
            let next = fold_ids.len() as u32;
            let fold_id = *fold_ids.entry(folded.clone()).or_insert(next);
            table.by_name.insert(name, table.entries.len() as u32);
            table.entries.push(NameEntry { name, folded, fold_id });
        }
        table
    }

    /// The id of a name; every name in [`GIVEN`], [`SURNAMES`] and the specials has one.
    pub(crate) fn id(&self, name: &str) -> u32 {
        self.by_name.get(name).copied().unwrap_or(0)
    }

    pub(crate) fn entry(&self, id: u32) -> &NameEntry {
        static EMPTY: NameEntry = NameEntry { name: "", folded: String::new(), fold_id: u32::MAX };
        self.entries.get(id as usize).unwrap_or(&EMPTY)
    }
}

/// The process-wide name table (built once from constants, so identical in every run).
pub(crate) fn table() -> &'static NameTable {
    static TABLE: OnceLock<NameTable> = OnceLock::new();
    TABLE.get_or_init(NameTable::build)
}

/// A weighted pool laid out as consecutive "slots": a name of weight w owns w slots.
#[derive(Debug)]
pub(crate) struct Pool {
    /// Name-table ids of the pool's names.
    ids: Vec<u32>,
    /// `starts[i]` is the first slot of name `i`; one extra entry holds the total.
    starts: Vec<u64>,
}

impl Pool {
    pub(crate) fn new(names: &'static [(&'static str, u32)]) -> Pool {
        let mut starts = Vec::with_capacity(names.len() + 1);
        let mut total = 0u64;
        for &(_, w) in names {
            starts.push(total);
            total += u64::from(w.max(1));
        }
        starts.push(total);
        Pool { ids: names.iter().map(|&(n, _)| table().id(n)).collect(), starts }
    }

    pub(crate) fn slots(&self) -> u64 {
        self.starts.last().copied().unwrap_or(0)
    }

    /// The name-table id of the name owning `slot`.
    pub(crate) fn at(&self, slot: u64) -> u32 {
        let i = self.starts.partition_point(|&s| s <= slot).saturating_sub(1);
        self.ids.get(i).or(self.ids.last()).copied().unwrap_or(0)
    }
}

/// Folds a name to lower-case ASCII for mail addresses and account names: `Öberg` → `oberg`,
/// `Nguyễn` → `nguyen`, `O'Brien` → `obrien`. Hyphens stay; other characters are dropped.
pub(crate) fn fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        match c {
            'a'..='z' | '0'..='9' | '-' => out.push(c),
            '.' | ' ' | '_' => out.push(c),
            _ => out.push_str(fold_char(c)),
        }
    }
    out
}

fn fold_char(c: char) -> &'static str {
    match c {
        'å' | 'ä' | 'á' | 'à' | 'â' | 'ã' | 'ą' | 'ả' | 'ạ' | 'ầ' | 'ấ' | 'ă' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' => "c",
        'đ' | 'ð' => "d",
        'é' | 'è' | 'ê' | 'ë' | 'ę' | 'ễ' | 'ế' | 'ề' | 'ệ' | 'ě' => "e",
        'ğ' => "g",
        'í' | 'ì' | 'î' | 'ï' | 'ı' | 'ị' => "i",
        'ł' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ö' | 'ø' | 'ó' | 'ò' | 'ô' | 'õ' | 'ồ' | 'ọ' | 'ơ' | 'ố' => "o",
        'œ' => "oe",
        'ř' => "r",
        'ś' | 'š' | 'ş' => "s",
        'ß' => "ss",
        'ú' | 'ù' | 'û' | 'ü' | 'ư' | 'ứ' | 'ů' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'þ' => "th",
        _ => "",
    }
}

/// Up to `n` ASCII letters of a folded name (hyphens dropped): `("anna-karin", 3)` → `ann`.
pub(crate) fn letters(folded: &str, n: usize) -> String {
    folded.chars().filter(char::is_ascii_lowercase).take(n).collect()
}

/// Initials of every hyphen-separated part: `Anna-Karin` → `ak`.
pub(crate) fn initials(name: &str) -> String {
    fold(name).split('-').filter_map(|part| part.chars().find(char::is_ascii_lowercase)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_name_folds_to_plain_ascii_and_names_are_distinct() {
        for pool in [GIVEN, SURNAMES] {
            let mut seen = HashSet::new();
            for &(name, w) in pool {
                assert!(w > 0, "{name}");
                assert!(seen.insert(name), "duplicate {name}");
                assert!(!name.contains([' ', ',', '"']) && !name.chars().any(|c| c.is_ascii_digit()), "{name}");
                let f = fold(name);
                let expected = name.chars().filter(|c| c.is_alphabetic() || *c == '-').count();
                assert!(f.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{name} -> {f}");
                assert_eq!(f.chars().count(), expected, "{name} -> {f}: a letter was lost");
            }
        }
    }

    #[test]
    fn folding_examples() {
        assert_eq!(fold("Öberg"), "oberg");
        assert_eq!(fold("Nguyễn"), "nguyen");
        assert_eq!(fold("O'Brien"), "obrien");
        assert_eq!(fold("Łukasz"), "lukasz");
        assert_eq!(fold("Sjöberg-Ali"), "sjoberg-ali");
        assert_eq!(letters(&fold("Anna-Karin"), 5), "annak");
        assert_eq!(initials("Anna-Karin"), "ak");
    }

    #[test]
    fn pool_slots_map_back_to_names() {
        let p = Pool::new(&[("Anna", 2), ("Öberg", 3)]);
        assert_eq!(p.slots(), 5);
        let name = |slot| table().entry(p.at(slot)).name;
        assert_eq!((name(0), name(1), name(2), name(4)), ("Anna", "Anna", "Öberg", "Öberg"));
    }

    #[test]
    fn the_table_knows_every_name_and_merges_folds() {
        let t = table();
        for name in GIVEN.iter().chain(SURNAMES).map(|&(n, _)| n) {
            assert_eq!(t.entry(t.id(name)).name, name);
        }
        for s in SPECIALS {
            assert_eq!(t.entry(t.id(s.given)).name, s.given);
            assert_eq!(t.entry(t.id(s.sn)).name, s.sn);
        }
        assert_eq!(t.entry(t.id("Jonsson")).fold_id, t.entry(t.id("Jönsson")).fold_id);
        assert_ne!(t.entry(t.id("Jonsson")).fold_id, t.entry(t.id("Jansson")).fold_id);
    }
}
