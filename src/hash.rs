//! FNV-1a, 64 bits: one stable, dependency-free hash for the places that need the same number
//! in every run and on every machine (which users an incident picks, the model's version, the
//! lab bundle's source check). It is no defence against tampering, and needs none;
//! `lab/build.mjs` computes the same in JavaScript.

/// FNV-1a's starting value.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Continues an FNV-1a hash `hash` over `bytes` (start from [`FNV_OFFSET`]).
pub(crate) fn fnv1a64(bytes: &[u8], mut hash: u64) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The FNV-1a hash of `bytes`.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a64(bytes, FNV_OFFSET)
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_published_test_vectors() {
        assert_eq!(super::fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
