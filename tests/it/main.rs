//! The one test binary: every suite is a module, sharing one build of `support`.
//!
//! - fast, no daemon: `decide_table`, `peer_tables`, `analyzed_files`, `registry_faults`,
//!   `registry_auth`, `diagnose_containerd`, `inproc` (inspect/verify/resolve against OCI layouts),
//!   `golden` (every command's text output);
//! - end to end against the real engines and registry of `scripts/test-env`: `e2e_*`.

mod support;

mod analyzed_files;
mod cli_inputs;
mod daemon_faults;
mod decide_table;
mod diagnose_containerd;
mod e2e_buildkit;
mod e2e_contexts;
mod e2e_daemon_requests;
mod e2e_docker_hub;
mod e2e_environment;
mod e2e_first_run;
mod e2e_image;
mod e2e_inspect_verify_diagnose;
mod e2e_layouts;
mod e2e_matrix;
mod e2e_publish;
mod e2e_reconcile;
mod e2e_referrers;
mod e2e_registry_tls;
mod e2e_ssh;
mod e2e_sync;
mod e2e_tls_daemon;
mod golden;
mod inproc;
mod peer_tables;
mod properties;
mod publish_inproc;
mod readme_contract;
mod referrers_api;
mod registry_auth;
mod registry_faults;
mod resource_bounds;
