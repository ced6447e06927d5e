//! The two escapers: DN values (RFC 4514) and LDAP filter values (RFC 4515).
//!
//! - Any string escaped with `escape_value` and put into `CN=<escaped>,OU=<escaped>,DC=x`
//!   parses back to exactly that string as the leaf, the other as the OU, depth 3, and the DN
//!   `Dn::child` builds is the same DN.
//! - Any bytes escaped with `escape_filter_bytes` hold nothing but `\xx` pairs (so no `*`, `(`,
//!   `)`, `\` or NUL of the value survives), decode back to the bytes, and an equality filter
//!   built from them parses (with `ldap3`'s RFC 4515 parser) to exactly those bytes. The anchor
//!   filter of any GUIDs parses and carries each GUID's bytes in AD order.
#![no_main]

use ldap3::asn1::{ASNTag, StructureTag, Tag};
use libfuzzer_sys::fuzz_target;
use samla::client::ldap::{anchor_filter, escape_filter_bytes};
use samla::model::unified::Anchor;
use samla::model::dn::{Dn, escape_value};
use samla::model::ids::ObjectGuid;

/// `leaf 0xFF ou 0xFF bytes` (0xFF never occurs in UTF-8); the GUIDs are the bytes' 16-byte chunks.
struct Input<'a> {
    leaf: String,
    ou: String,
    bytes: &'a [u8],
    guids: Vec<[u8; 16]>,
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Input<'a> {
        let mut parts = data.splitn(3, |&b| b == 0xFF);
        let mut text = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        let (leaf, ou) = (text(), text());
        let bytes = parts.next().unwrap_or_default();
        let guids = bytes.chunks_exact(16).filter_map(|c| c.try_into().ok()).collect();
        Input { leaf, ou, bytes, guids }
    }
}

/// The octet strings of a parsed filter, depth first.
fn octets(tag: StructureTag, out: &mut Vec<Vec<u8>>) {
    match tag.payload {
        ldap3::asn1::PL::P(bytes) => out.push(bytes),
        ldap3::asn1::PL::C(inner) => inner.into_iter().for_each(|t| octets(t, out)),
    }
}

fn filter_values(filter: &str) -> Vec<Vec<u8>> {
    let tag: Tag = ldap3::parse_filter(filter).unwrap_or_else(|()| panic!("filter does not parse: {filter:?}"));
    let mut out = Vec::new();
    octets(tag.into_structure(), &mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    let input = Input::new(data);
    // DN values.
    let (leaf, ou) = (escape_value(&input.leaf), escape_value(&input.ou));
    let text = format!("CN={leaf},OU={ou},DC=x");
    let dn = Dn::parse(&text).unwrap_or_else(|e| panic!("{:?} escaped as {leaf:?}: {e}", input.leaf));
    assert_eq!(dn.depth(), 3, "{text:?}");
    assert_eq!(dn.leaf_value().as_deref(), Some(input.leaf.as_str()), "{text:?}");
    assert_eq!(dn.ou_path(), vec![input.ou.as_str()], "{text:?}");
    assert_eq!(dn.to_string(), text, "escape_value is not the canonical escaping");
    let built = Dn::parse("DC=x").map(|base| base.child("OU", &input.ou).child("CN", &input.leaf));
    assert_eq!(built.as_ref().map(ToString::to_string).ok(), Some(text));

    // Filter values.
    let escaped = escape_filter_bytes(input.bytes);
    assert_eq!(escaped.len(), input.bytes.len() * 3);
    for (triple, &byte) in escaped.as_bytes().chunks(3).zip(input.bytes) {
        assert_eq!(triple[0], b'\\', "{escaped:?}");
        let hex = std::str::from_utf8(&triple[1..]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
        assert_eq!(hex, Some(byte), "{escaped:?}");
        assert!(!triple[1..].iter().any(|b| b"*()\\\0".contains(b)));
    }
    let filter = format!("(cn={escaped})");
    // `(cn=)` is a valid RFC 4515 filter, but a parser may refuse it; any other must parse.
    if !input.bytes.is_empty() || ldap3::parse_filter(&filter).is_ok() {
        assert_eq!(filter_values(&filter), vec![b"cn".to_vec(), input.bytes.to_vec()]);
    }

    // Anchor filters.
    let anchors: Vec<Anchor> =
        input.guids.iter().filter_map(|g| ObjectGuid::from_ad_bytes(g).ok()).map(Anchor).collect();
    let values = filter_values(&anchor_filter(&anchors));
    let guids: Vec<Vec<u8>> =
        values.chunks(2).filter(|p| p[0] == b"mS-DS-ConsistencyGuid").map(|p| p[1].clone()).collect();
    assert_eq!(guids, input.guids.iter().map(|g| g.to_vec()).collect::<Vec<_>>());
});
