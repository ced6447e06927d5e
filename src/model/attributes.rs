//! A person's mapped attributes (target attribute name -> value), sorted by name.
//!
//! Every person carries a handful of them, twice over while mapping (as a candidate's mapped
//! attributes, then as the person's cloud and on-premises sets). A `BTreeMap<String, String>`
//! spent a node of eleven slots and one allocation per name on each: a gigabyte at a million
//! people. Here the entries are one sorted vector and the names are shared (`Arc<str>`, one
//! per mapping flow), so a person's attributes cost one allocation plus their values.
//! Written and read as a JSON object in name order, exactly as the map it replaces.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Arc;

/// Attribute name -> value, unique names in name order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes(Vec<(Arc<str>, String)>);

impl Attributes {
    pub fn new() -> Attributes {
        Attributes::default()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&String> {
        self.position(name).ok().and_then(|i| self.0.get(i)).map(|(_, v)| v)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets `name`, returning the value it replaced.
    pub fn insert(&mut self, name: impl Into<Arc<str>>, value: String) -> Option<String> {
        let name = name.into();
        match self.position(&name) {
            Ok(i) => self.0.get_mut(i).map(|slot| std::mem::replace(&mut slot.1, value)),
            Err(i) => {
                self.0.insert(i, (name, value));
                None
            }
        }
    }

    /// Keeps the entries for which `keep` returns true, in name order; `keep` may change the
    /// value of any entry it sees.
    pub fn retain_mut(&mut self, mut keep: impl FnMut(&Arc<str>, &mut String) -> bool) {
        self.0.retain_mut(|(name, value)| keep(name, value));
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.position(name).ok().map(|i| self.0.remove(i).1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &String)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }
}

impl<K: Into<Arc<str>>> FromIterator<(K, String)> for Attributes {
    /// Later values win over earlier ones of the same name, as in a map.
    fn from_iter<I: IntoIterator<Item = (K, String)>>(items: I) -> Attributes {
        let mut entries: Vec<(Arc<str>, String)> = items.into_iter().map(|(k, v)| (k.into(), v)).collect();
        // Stable: equal names keep their order, and the last of them is kept.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Arc<str>, String)> = Vec::with_capacity(entries.len());
        for entry in entries {
            match out.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => out.push(entry),
            }
        }
        Attributes(out)
    }
}

impl<K: Into<Arc<str>>, const N: usize> From<[(K, String); N]> for Attributes {
    fn from(items: [(K, String); N]) -> Attributes {
        items.into_iter().collect()
    }
}

impl IntoIterator for Attributes {
    type Item = (Arc<str>, String);
    type IntoIter = std::vec::IntoIter<(Arc<str>, String)>;

    /// In name order.
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a str, &'a String);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (Arc<str>, String)>, fn(&'a (Arc<str>, String)) -> (&'a str, &'a String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (&**k, v))
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(&**k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Attributes, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Attributes;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of attribute names to text values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Attributes, A::Error> {
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0));
                while let Some((k, v)) = access.next_entry::<String, String>()? {
                    entries.push((k, v));
                }
                Ok(entries.into_iter().collect())
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// Whatever the order of insertion, the attributes behave, print and read back as
        /// the map they replace.
        #[test]
        fn behave_like_a_sorted_map(entries in proptest::collection::vec(("[a-d]{1,2}", "[a-zåäö]{0,3}"), 0..12)) {
            let mut map = BTreeMap::new();
            let mut attrs = Attributes::new();
            for (k, v) in &entries {
                prop_assert_eq!(attrs.insert(k.as_str(), v.clone()), map.insert(k.clone(), v.clone()));
            }
            let collected: Attributes = entries.iter().cloned().collect();
            prop_assert_eq!(&collected, &attrs);
            prop_assert_eq!(attrs.len(), map.len());
            prop_assert!(attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).eq(map.clone()));
            let json = serde_json::to_string(&attrs).unwrap();
            prop_assert_eq!(&json, &serde_json::to_string(&map).unwrap());
            prop_assert_eq!(serde_json::from_str::<Attributes>(&json).unwrap(), attrs.clone());
            if let Some((k, _)) = entries.first() {
                prop_assert_eq!(attrs.remove(k), map.remove(k));
                prop_assert_eq!(attrs.get(k), None);
                prop_assert!(!attrs.contains_key(k));
            }
        }
    }
}
