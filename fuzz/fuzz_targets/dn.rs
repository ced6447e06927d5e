//! The RFC 4514 DN parser: any text either fails with an offset inside it, or parses to a DN
//! whose canonical form is a fixed point (prints the same, parses equal), whose case-folded
//! form is the same DN with the same key and hash, and whose parents and child agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use samla::model::dn::Dn;
use std::hash::{BuildHasher, Hash, Hasher};

fn hashes(a: &Dn, b: &Dn) -> (u64, u64) {
    let s = std::collections::hash_map::RandomState::new();
    let (mut ha, mut hb) = (s.build_hasher(), s.build_hasher());
    a.hash(&mut ha);
    b.hash(&mut hb);
    (ha.finish(), hb.finish())
}

fuzz_target!(|text: &str| {
    let dn = match Dn::parse(text) {
        Ok(dn) => dn,
        Err(e) => {
            assert!(e.offset <= text.len(), "offset {} outside {text:?}", e.offset);
            assert_eq!(e.input, text);
            return;
        }
    };
    let canonical = dn.to_string();
    let again = Dn::parse(&canonical).unwrap_or_else(|e| panic!("{text:?} printed as {canonical:?}: {e}"));
    assert_eq!(again.to_string(), canonical, "canonical form of {text:?} is not a fixed point");
    assert_eq!(again, dn);
    assert_eq!(again.key(), dn.key());
    assert_eq!(again.depth(), dn.depth());
    assert_eq!(again.leaf_value(), dn.leaf_value());
    assert_eq!(again.ou_path(), dn.ou_path());

    // Comparison ignores case: the same DN folded to lower case is equal, with the same key and hash.
    let folded: String = canonical.chars().flat_map(char::to_lowercase).collect();
    let lower = Dn::parse(&folded).unwrap_or_else(|e| panic!("{canonical:?} folded to {folded:?}: {e}"));
    assert_eq!(lower, dn, "{canonical:?} vs {folded:?}");
    assert_eq!(lower.cmp(&dn), std::cmp::Ordering::Equal);
    assert_eq!(lower.key(), dn.key(), "{canonical:?} vs {folded:?}");
    let (a, b) = hashes(&lower, &dn);
    assert_eq!(a, b, "hash of {canonical:?} vs {folded:?}");

    // Walking up: every parent prints as a DN that parses to itself and contains `dn`.
    let mut up = dn.clone();
    while !up.is_root() {
        let parent = up.parent();
        assert_eq!(parent.depth() + 1, up.depth(), "{up:?} -> {parent:?}");
        assert!(up.is_within(&parent), "{up:?} not within {parent:?}");
        assert!(dn.is_within(&parent), "{dn:?} not within {parent:?}");
        assert_eq!(Dn::parse(&parent.to_string()).ok().as_ref(), Some(&parent));
        assert!(canonical.ends_with(parent.as_str()));
        up = parent;
    }

    // A child built from the leaf's value is the DN parsed from its string.
    if let Some(value) = dn.leaf_value() {
        let child = dn.child("CN", &value);
        let parsed = Dn::parse(&child.to_string()).unwrap_or_else(|e| panic!("child {child:?}: {e}"));
        assert_eq!(parsed.to_string(), child.to_string());
        assert_eq!(parsed.leaf_value().as_deref(), Some(&*value));
        assert_eq!(child.parent(), dn);
        assert_eq!(child.depth(), dn.depth() + 1);
    }
});
