//! The estate's only source of randomness: SplitMix64, a keyed hash built from its mixer,
//! and a Feistel permutation for values that must be distinct without a lookup table.
//!
//! Written here rather than taken from a crate so that the output can never change with a
//! dependency upgrade: the same seed gives the same bytes for as long as this file is unchanged.

/// The SplitMix64 increment (the golden ratio in 64 bits).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective 64-bit mixer with good avalanche.
pub(crate) const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A child key: `derive(parent, tag)` for the object, attribute or purpose `tag`.
pub(crate) const fn derive(parent: u64, tag: u64) -> u64 {
    mix(parent ^ mix(tag.wrapping_add(GOLDEN)))
}

/// FNV-1a of a string, for turning names (`"bjuv"`, `"guid"`) into tags.
pub(crate) const fn tag(s: &str) -> u64 {
    let bytes = s.as_bytes();
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
        i += 1;
    }
    h
}

/// Sebastiano Vigna's SplitMix64 generator.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix(self.state)
    }

    /// Uniform in `0..n` (0 when `n` is 0), by multiply-high: no modulo bias worth noting.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi.abs_diff(lo) + 1) as i64
    }

    /// True with probability `permille / 1000`.
    pub(crate) fn chance(&mut self, permille: u64) -> bool {
        self.below(1000) < permille
    }

    /// One element of a non-empty slice (the first when it is empty-safe called on one element).
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }
}

/// True with probability `permille / 1000` for the key alone: membership predicates that must
/// give the same answer when a user is written and when a group lists its members.
pub(crate) fn keyed_chance(key: u64, permille: u64) -> bool {
    SplitMix64::new(key).chance(permille)
}

/// A keyed pseudo-random permutation of `0..n` (a balanced Feistel network with cycle walking).
///
/// It maps an index to a distinct slot without storing anything: Klippan's personnummer are
/// `permutation(staff index)` decoded as (birth date, serial), unique without a lookup table.
#[derive(Debug, Clone)]
pub(crate) struct Permutation {
    n: u64,
    half_bits: u32,
    mask: u64,
    keys: [u64; 4],
}

impl Permutation {
    pub(crate) fn new(n: u64, key: u64) -> Permutation {
        let bits = 64 - n.saturating_sub(1).max(1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let mask = (1u64 << half_bits) - 1;
        let mut rng = SplitMix64::new(key);
        let keys = [rng.next_u64(), rng.next_u64(), rng.next_u64(), rng.next_u64()];
        Permutation { n, half_bits, mask, keys }
    }

    fn encrypt(&self, x: u64) -> u64 {
        let mut left = x >> self.half_bits;
        let mut right = x & self.mask;
        for k in self.keys {
            let next = left ^ (mix(right ^ k) & self.mask);
            left = right;
            right = next;
        }
        (left << self.half_bits) | right
    }

    /// The image of `i`; `i` must be below `n` (larger values are reduced modulo `n`).
    pub(crate) fn apply(&self, i: u64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let mut x = i % self.n;
        loop {
            x = self.encrypt(x);
            if x < self.n {
                return x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_vector() {
        // First outputs of the reference C implementation for seed 1234567.
        let mut r = SplitMix64::new(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(r.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn permutation_is_a_bijection() {
        for n in [1u64, 2, 3, 7, 100, 1000, 4097] {
            let p = Permutation::new(n, 42);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let x = p.apply(i) as usize;
                assert!(!seen[x], "n={n}: {i} maps to a taken slot {x}");
                seen[x] = true;
            }
        }
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = SplitMix64::new(7);
        for n in [1u64, 2, 10, 1000] {
            for _ in 0..1000 {
                assert!(r.below(n) < n);
            }
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.between(5, 5), 5);
    }
}
