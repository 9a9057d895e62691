//! Progress of long work (issue 23): bytes of layers scanned or copied, with a rate. The
//! library only counts through a [`Meter`]; the CLI draws it (indicatif) on a terminal only:
//! never into JSON, never when stderr is not a TTY or under CI.

use std::sync::Arc;

/// Receives the progress of one long piece of work.
pub trait Meter: Send + Sync {
    /// Work of `total` bytes (0: unknown) begins, described by `what`.
    fn begin(&self, what: &str, total: u64);
    /// `n` more bytes done.
    fn add(&self, n: u64);
    /// The work ended (the bar is cleared; the report says the rest).
    fn end(&self);
}

/// A shared meter, cheap to clone into every stream.
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Meter>);

impl Progress {
    pub fn begin(&self, what: &str, total: u64) {
        self.0.begin(what, total)
    }
    pub fn add(&self, n: u64) {
        self.0.add(n)
    }
    pub fn end(&self) {
        self.0.end()
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}
