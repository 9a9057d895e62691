//! Exit codes, documented in the README. Each command's report says its own code
//! (`exit_code()`); errors before a report are `USAGE` (bad input) or `FAILED` (environment).

/// Done: reconciled (changed or not), verified, export will work.
pub const OK: u8 = 0;
/// Cannot reconcile / verification mismatch / export will fail.
pub const FAILED: u8 = 1;
/// Invalid input or usage.
pub const USAGE: u8 = 2;
/// `reconcile --check` found a needed change.
pub const CHANGE_NEEDED: u8 = 3;
/// Interrupted (Ctrl-C / SIGINT), as shells report it (128 + 2); nothing was left half-done.
pub const INTERRUPTED: u8 = 130;
