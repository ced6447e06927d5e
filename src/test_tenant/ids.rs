//! Typed identifiers of the test tenant and the seeded generator that makes them.
//!
//! Everything in a directory is named by a GUID, but a user id, a SKU id and a request id
//! are not interchangeable: passing one where another is meant is a bug the compiler should
//! catch, so each gets its own type over one [`Guid`] representation.
//!
//! Ids come from a seeded SplitMix64 stream (not the OS's randomness) so that two tenants
//! started with the same seed and sent the same requests in the same order hand out the
//! same ids: a rehearsal can be replayed and its dumps compared.

use std::fmt;
use std::str::FromStr;

/// The SplitMix64 increment (the golden ratio in 64 bits).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective 64-bit mixer with good avalanche.
pub(crate) const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A keyed hash of a sequence of words: the same inputs always give the same output.
pub(crate) fn hash_words(seed: u64, words: &[u64]) -> u64 {
    words.iter().fold(mix(seed ^ GOLDEN), |h, w| mix(h ^ mix(w.wrapping_add(GOLDEN))))
}

/// FNV-1a of bytes, for turning strings into words for [`hash_words`].
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3))
}

/// A 128-bit GUID, shown in the lowercase hyphenated form Graph uses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Guid([u8; 16]);

impl Guid {
    pub const fn from_bytes(bytes: [u8; 16]) -> Guid {
        Guid(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A version-4-shaped GUID from two 64-bit words.
    pub fn from_words(hi: u64, lo: u64) -> Guid {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&hi.to_be_bytes());
        b[8..].copy_from_slice(&lo.to_be_bytes());
        b[6] = (b[6] & 0x0F) | 0x40;
        b[8] = (b[8] & 0x3F) | 0x80;
        Guid(b)
    }

    /// A GUID derived from a name (stable across runs), for SKUs the tenant does not know.
    pub fn from_name(namespace: &str, name: &str) -> Guid {
        let h = fnv(name.as_bytes());
        let n = fnv(namespace.as_bytes());
        Guid::from_words(hash_words(n, &[h, 1]), hash_words(n, &[h, 2]))
    }

    /// The 32 hex digits without hyphens (how a deleted user's mangled UPN starts).
    pub fn simple(&self) -> String {
        hex::encode(self.0)
    }

    /// The four little-endian 32-bit words Entra builds a cloud object's SID from
    /// (`S-1-12-1-a-b-c-d`).
    pub fn sid(&self) -> String {
        let w = |i: usize| u32::from_le_bytes([self.0[i], self.0[i + 1], self.0[i + 2], self.0[i + 3]]);
        format!("S-1-12-1-{}-{}-{}-{}", w(0), w(4), w(8), w(12))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = hex::encode(self.0);
        write!(f, "{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A string that is not a hyphenated GUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a GUID (expected 8-4-4-4-12 hex digits)")]
pub struct NotAGuid(pub String);

impl FromStr for Guid {
    type Err = NotAGuid;

    /// Parses the 36-character hyphenated form, in either case.
    fn from_str(s: &str) -> Result<Guid, NotAGuid> {
        let err = || NotAGuid(s.chars().take(80).collect());
        let b = s.as_bytes();
        if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return Err(err());
        }
        let digits: String = s.chars().filter(|c| *c != '-').collect();
        let mut out = [0u8; 16];
        hex::decode_to_slice(&digits, &mut out).map_err(|_| err())?;
        Ok(Guid(out))
    }
}

impl serde::Serialize for Guid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Guid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Guid, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Declares a GUID-backed id type with Display, FromStr and serde as its GUID.
macro_rules! guid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Guid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = NotAGuid;
            fn from_str(s: &str) -> Result<$name, NotAGuid> {
                s.parse().map($name)
            }
        }
    };
}

guid_id!(
    /// A directory object's id (user or group): the `id` Graph returns and URLs name.
    ObjectId
);
guid_id!(
    /// A subscribed SKU's `skuId`.
    SkuId
);
guid_id!(
    /// A service plan inside a SKU (what `disabledPlans` lists).
    PlanId
);
guid_id!(
    /// The tenant (directory) id: the `{tenant}` of the token URL and the token's `tid`.
    TenantId
);
guid_id!(
    /// An application's client id (`appid` in its tokens); throttling budgets are per app.
    ClientId
);
guid_id!(
    /// The id of one request, returned as the `request-id` header and in error bodies.
    RequestId
);

/// A seeded stream of GUIDs: object ids and request ids each come from their own stream.
#[derive(Debug, Clone)]
pub struct IdStream {
    seed: u64,
    counter: u64,
}

impl IdStream {
    pub fn new(seed: u64, purpose: &str, counter: u64) -> IdStream {
        IdStream { seed: hash_words(seed, &[fnv(purpose.as_bytes())]), counter }
    }

    /// How many ids were handed out (persisted so a restarted tenant does not repeat them).
    pub fn counter(&self) -> u64 {
        self.counter
    }

    pub fn next_guid(&mut self) -> Guid {
        self.counter += 1;
        Guid::from_words(hash_words(self.seed, &[self.counter, 1]), hash_words(self.seed, &[self.counter, 2]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_round_trips_in_graph_form() {
        let g: Guid = "05E9A617-0261-4CEE-BB44-138D3EF5D965".parse().unwrap();
        assert_eq!(g.to_string(), "05e9a617-0261-4cee-bb44-138d3ef5d965");
        assert_eq!(g.simple(), "05e9a61702614ceebb44138d3ef5d965");
        for bad in ["", "05e9a617", "05e9a617-0261-4cee-bb44-138d3ef5d96g", "05e9a6170-261-4cee-bb44-138d3ef5d965"] {
            assert!(bad.parse::<Guid>().is_err(), "{bad}");
        }
    }

    #[test]
    fn id_streams_are_reproducible_and_distinct() {
        let mut a = IdStream::new(7, "objects", 0);
        let mut b = IdStream::new(7, "objects", 0);
        let mut c = IdStream::new(7, "requests", 0);
        let (x, y, z) = (a.next_guid(), b.next_guid(), c.next_guid());
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(a.next_guid(), x);
        assert_eq!(x.to_string().as_bytes()[14], b'4', "version 4 shape");
    }

    #[test]
    fn sid_uses_little_endian_words() {
        let g = Guid::from_bytes([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0]);
        assert_eq!(g.sid(), "S-1-12-1-1-2-3-4");
    }
}
