//! CRC-32 (IEEE 802.3, the zlib/PNG polynomial) for the store's snapshot trailer.
//!
//! Snapshots (`snapshot.rs`) sit below the state machine on disk and travel between nodes;
//! the checksum catches torn writes and bit rot before a corrupt image replaces a node's
//! state. A CRC-32 detects every burst error up to 32 bits (so every changed byte), which
//! is what matters here; it is not a defence against deliberate tampering. Small enough to
//! own rather than add a dependency for.

/// Reflected IEEE polynomial.
const POLYNOMIAL: u32 = 0xEDB8_8320;

/// Byte-at-a-time lookup table, built at compile time.
const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLYNOMIAL
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
}

/// A running CRC-32, fed incrementally so the snapshot never needs to be in one buffer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Crc32 {
    /// The register, pre-inverted as the algorithm requires.
    state: u32,
}

impl Crc32 {
    /// A checksum over no bytes yet.
    pub(super) fn new() -> Self {
        Self { state: !0 }
    }

    /// Adds `bytes` to the checksum.
    pub(super) fn update(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.state = TABLE[usize::from(self.state as u8 ^ byte)] ^ (self.state >> 8);
        }
    }

    /// The checksum of everything added so far.
    pub(super) fn value(&self) -> u32 {
        !self.state
    }
}

#[cfg(test)]
mod tests {
    use super::Crc32;

    fn crc(bytes: &[u8]) -> u32 {
        let mut crc = Crc32::new();
        crc.update(bytes);
        crc.value()
    }

    #[test]
    fn matches_the_standard_check_values() {
        assert_eq!(crc(b""), 0);
        assert_eq!(crc(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut split = Crc32::new();
        split.update(&data[..3]);
        split.update(&data[3..517]);
        split.update(&data[517..]);
        assert_eq!(split.value(), crc(&data));
    }
}
