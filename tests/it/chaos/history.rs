//! What the fault suite records while it runs: every client call as a checker operation,
//! every read's node and index (for the per-node monotonic-index check), every unique-key
//! insert (for the lost-write check), and the nemesis's kills and restarts.
//!
//! ```text
//!  clients (workload.rs) ──► Recorder::op / read / insert ──┐
//!  nemesis (nemesis.rs)  ──► Recorder::event ───────────────┤
//!  rounds  (run.rs)      ◄── take_round / reads / inserts ──┘ ──► checks.rs
//! ```
//!
//! Times are nanoseconds of the monotonic clock since the recorder was made.

use std::sync::Mutex;

use konsul_lincheck::{Input, Op, Output};
use tokio::time::Instant;

/// A read that says which node served it at which applied index.
#[derive(Clone, Debug)]
pub struct IndexedRead {
    /// Index of the serving node.
    pub node: usize,
    /// The applied index the answer reflected.
    pub index: u64,
    /// When it was sent.
    pub call: u64,
    /// When it was answered.
    pub ret: u64,
    /// Who asked, for reports.
    pub note: String,
}

/// A put of a key no other call touches: acknowledged ones must all survive.
#[derive(Clone, Debug)]
pub struct Insert {
    /// The key.
    pub key: String,
    /// Its value.
    pub value: u64,
    /// True when the put was acknowledged.
    pub acked: bool,
}

/// A node's process stopped (kill) at this time: indices may restart lower after it.
#[derive(Clone, Copy, Debug)]
pub struct Restart {
    /// The node.
    pub node: usize,
    /// When it was killed.
    pub at: u64,
}

#[derive(Default)]
struct Inner {
    ops: Vec<Op>,
    reads: Vec<IndexedRead>,
    inserts: Vec<Insert>,
    restarts: Vec<Restart>,
}

/// The shared record of one run.
pub struct Recorder {
    start: Instant,
    inner: Mutex<Inner>,
}

impl Recorder {
    /// An empty record whose clock starts now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            inner: Mutex::default(),
        }
    }

    /// Nanoseconds since the start.
    pub fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records one finished call. `ret`/`output` `None`: its outcome is unknown.
    pub fn op(
        &self,
        client: u32,
        call: u64,
        ret: Option<u64>,
        input: Input,
        output: Option<Output>,
        note: String,
    ) {
        let ret = output.as_ref().and(ret);
        self.inner.lock().unwrap().ops.push(Op {
            client,
            call,
            ret,
            input,
            output,
            note,
        });
    }

    /// Records a read's node and index.
    pub fn read(&self, read: IndexedRead) {
        self.inner.lock().unwrap().reads.push(read);
    }

    /// Records an insert.
    pub fn insert(&self, insert: Insert) {
        self.inner.lock().unwrap().inserts.push(insert);
    }

    /// Records that `node` was killed now.
    pub fn killed(&self, node: usize) {
        let at = self.now();
        self.inner
            .lock()
            .unwrap()
            .restarts
            .push(Restart { node, at });
    }

    /// Takes the operations recorded since the last call (one round's history).
    pub fn take_round(&self) -> Vec<Op> {
        std::mem::take(&mut self.inner.lock().unwrap().ops)
    }

    /// Every indexed read and every kill so far.
    pub fn reads(&self) -> (Vec<IndexedRead>, Vec<Restart>) {
        let inner = self.inner.lock().unwrap();
        (inner.reads.clone(), inner.restarts.clone())
    }

    /// Every insert so far.
    pub fn inserts(&self) -> Vec<Insert> {
        self.inner.lock().unwrap().inserts.clone()
    }
}
