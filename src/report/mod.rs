//! The JSON contract (README, "JSON output"): one type per command report, built from the
//! model, so renaming a model field cannot change a documented field name unseen
//! (`tests/it/readme_contract.rs` compares each with README). Words come from
//! [`crate::message`].

pub mod diagnose;
pub mod reconcile;
pub mod sync;
