//! Streaming snapshot encoding of the store. (skeleton: filled in by the store work)

impl super::Store {
    /// Writes the whole store to `w` in the snapshot format, entry by entry.
    pub fn write_snapshot<W: std::io::Write>(&self, w: W) -> std::io::Result<()> {
        let _ = w;
        todo!("store work")
    }

    /// Reads a store written by [`Self::write_snapshot`]; corruption is an `InvalidData` error.
    pub fn read_snapshot<R: std::io::Read>(r: R) -> std::io::Result<Self> {
        let _ = r;
        todo!("store work")
    }
}
