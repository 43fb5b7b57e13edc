//! LTHash, the additive ("lattice") hash of WhatsApp's app-state sync.
//!
//! The state hash is 128 bytes read as 64 little-endian `u16` lanes. Adding an item expands
//! it with HKDF-SHA256 (no salt, info `WhatsApp Patch Integrity`) to 128 bytes and adds those
//! lanes with wrap-around; removing subtracts them. Order does not matter, so a client that
//! applies the same mutations in any order reaches the same hash as the server.

/// Length of an LTHash state.
pub const LT_HASH_LEN: usize = 128;
/// The HKDF info string of app-state value MACs.
pub const PATCH_INTEGRITY_INFO: &[u8] = b"WhatsApp Patch Integrity";

/// An LTHash state: 128 bytes, 64 `u16` LE lanes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LtHash(pub [u8; LT_HASH_LEN]);

impl Default for LtHash {
    fn default() -> Self {
        Self([0; LT_HASH_LEN])
    }
}

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

fn expand(item: &[u8]) -> [u8; LT_HASH_LEN] {
    let mut out = [0u8; LT_HASH_LEN];
    crate::kdf::hkdf_sha256_into(item, b"", PATCH_INTEGRITY_INFO, &mut out)
        .expect("128 bytes is within HKDF-SHA256's output limit");
    out
}

fn lanes(state: &mut [u8; LT_HASH_LEN], other: &[u8; LT_HASH_LEN], subtract: bool) {
    for (a, b) in state.chunks_exact_mut(2).zip(other.chunks_exact(2)) {
        let x = u16::from_le_bytes([a[0], a[1]]);
        let y = u16::from_le_bytes([b[0], b[1]]);
        let r = if subtract {
            x.wrapping_sub(y)
        } else {
            x.wrapping_add(y)
        };
        a.copy_from_slice(&r.to_le_bytes());
    }
}

impl LtHash {
    /// The state of an existing 128-byte hash.
    pub fn from_bytes(bytes: [u8; LT_HASH_LEN]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; LT_HASH_LEN] {
        &self.0
    }

    /// Adds each item (an app-state value MAC) to the state.
    pub fn add<I: AsRef<[u8]>>(&mut self, items: impl IntoIterator<Item = I>) {
        for item in items {
            lanes(&mut self.0, &expand(item.as_ref()), false);
        }
    }

    /// Removes each item from the state.
    pub fn subtract<I: AsRef<[u8]>>(&mut self, items: impl IntoIterator<Item = I>) {
        for item in items {
            lanes(&mut self.0, &expand(item.as_ref()), true);
        }
    }

    /// Removes `subtract` then adds `add`, as WhatsApp applies one patch.
    pub fn subtract_then_add<S: AsRef<[u8]>, A: AsRef<[u8]>>(
        &mut self,
        subtract: impl IntoIterator<Item = S>,
        add: impl IntoIterator<Item = A>,
    ) {
        self.subtract(subtract);
        self.add(add);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(i: u8) -> [u8; 32] {
        [i; 32]
    }

    #[test]
    fn order_does_not_matter_and_subtract_undoes_add() {
        let mut a = LtHash::default();
        a.add([item(1), item(2), item(3)]);
        let mut b = LtHash::default();
        b.add([item(3), item(1)]);
        b.add([item(2)]);
        assert_eq!(a, b);
        assert_ne!(a, LtHash::default());
        a.subtract([item(2), item(1), item(3)]);
        assert_eq!(a, LtHash::default());
    }

    #[test]
    fn lanes_are_u16_le_with_wraparound() {
        let e = expand(&item(9));
        let mut h = LtHash::default();
        h.add([item(9)]);
        assert_eq!(h.0, e);
        // subtracting from zero wraps each lane to 65536 - x
        let mut z = LtHash::default();
        z.subtract([item(9)]);
        for i in 0..64 {
            let x = u16::from_le_bytes([e[2 * i], e[2 * i + 1]]);
            let y = u16::from_le_bytes([z.0[2 * i], z.0[2 * i + 1]]);
            assert_eq!(x.wrapping_add(y), 0);
        }
        let mut s = h;
        s.subtract_then_add([item(9)], [item(4)]);
        let mut d = LtHash::default();
        d.add([item(4)]);
        assert_eq!(s, d);
    }
}
