//! The commands: each gathers facts through the adapters ([`crate::daemon`],
//! [`crate::registry`], [`crate::layout`]), decides on the model, acts, and returns a report
//! (worded by [`crate::message`], JSON in [`crate::report`]).

pub mod assemble;
pub mod diagnose;
pub mod inspect;
pub mod publish;
pub mod reconcile;
pub mod sync;
pub mod verify;
