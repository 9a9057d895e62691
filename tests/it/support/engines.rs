//! The engines of the test environment, and what legitimately differs between them. Every
//! end-to-end matrix runs its one scenario list over [`ENGINES`]; an expected difference is a
//! field here, never an `if` on the engine's name in a test.

use super::Env;

pub struct Engine {
    pub name: &'static str,
    pub host: fn(&Env) -> &str,
    /// The store runref must report (`store` in reconcile JSON) once it asked `/info`.
    pub store: &'static str,
    /// The store a reconcile that never needed `/info` (target given, the image found)
    /// reports: what the answers' headers and the image's `Descriptor` show, else null.
    pub store_unasked: Option<&'static str>,
    /// podman records the per-arch manifest digest in RepoDigests: the restorer's reference
    /// resolves there, and no registry is needed to prove it.
    pub holds_per_arch_digest: bool,
    /// The image ID is the pulled index's digest (containerd store), not the config digest.
    pub id_is_index: bool,
    /// The store lists per-platform manifests (API >= 1.48), so proofs and single-platform
    /// records need no registry.
    pub lists_manifests: bool,
    /// Every name gets a RepoDigest (its own digest), so whether a local image was ever
    /// pushed is for the registry to say: `always` asks it once before pulling.
    pub repo_digests_synthesized: bool,
    /// How the engine is told to pull a Docker Hub name: podman's compat API wants it
    /// qualified (short names need a prompt it cannot show).
    pub qualify_hub_names: bool,
    /// Pulling another platform of a tag drops the earlier image's names and digests (podman
    /// 5.8): the daemon alone can no longer show the earlier platform's image.
    pub forgets_replaced_pulls: bool,
    /// A lookup spelled `registry-1.docker.io/...` finds Docker Hub images (podman 4.3 does;
    /// Docker keeps it a host of its own; podman 5.8 no longer normalises it).
    pub registry1_is_hub: bool,
}

impl Engine {
    pub fn host<'a>(&self, env: &'a Env) -> &'a str {
        (self.host)(env)
    }

    /// `store_unasked` as the JSON report gives it.
    pub fn store_unasked_json(&self) -> serde_json::Value {
        self.store_unasked
            .map_or(serde_json::Value::Null, Into::into)
    }

    /// The name to pull `familiar` (a Docker Hub name as people write it) by.
    pub fn hub_pull_name(&self, familiar: &str) -> String {
        match (self.qualify_hub_names, familiar.contains('/')) {
            (false, _) => familiar.to_string(),
            (true, true) => format!("docker.io/{familiar}"),
            (true, false) => format!("docker.io/library/{familiar}"),
        }
    }
}

pub const ENGINES: &[Engine] = &[
    Engine {
        name: "docker 20.10 (classic store)",
        host: |e| &e.docker_host,
        store: "docker-classic",
        store_unasked: None,
        holds_per_arch_digest: false,
        id_is_index: false,
        lists_manifests: false,
        repo_digests_synthesized: false,
        qualify_hub_names: false,
        forgets_replaced_pulls: false,
        registry1_is_hub: false,
    },
    Engine {
        name: "docker 28.5 (containerd store)",
        host: |e| &e.docker28_host,
        store: "docker-containerd",
        store_unasked: Some("docker-containerd"),
        holds_per_arch_digest: false,
        id_is_index: true,
        lists_manifests: true,
        repo_digests_synthesized: true,
        qualify_hub_names: false,
        forgets_replaced_pulls: false,
        registry1_is_hub: false,
    },
    Engine {
        name: "docker 26.1 (containerd store)",
        host: |e| &e.docker26_host,
        store: "docker-containerd",
        store_unasked: None,
        holds_per_arch_digest: false,
        id_is_index: true,
        lists_manifests: false,
        repo_digests_synthesized: true,
        qualify_hub_names: false,
        forgets_replaced_pulls: false,
        registry1_is_hub: false,
    },
    Engine {
        name: "podman 4.3",
        host: |e| &e.podman_host,
        store: "podman",
        store_unasked: Some("podman"),
        holds_per_arch_digest: true,
        id_is_index: false,
        lists_manifests: false,
        repo_digests_synthesized: true,
        qualify_hub_names: true,
        forgets_replaced_pulls: false,
        registry1_is_hub: true,
    },
    Engine {
        name: "podman 5.8",
        host: |e| &e.podman5_host,
        store: "podman",
        store_unasked: Some("podman"),
        holds_per_arch_digest: true,
        id_is_index: false,
        lists_manifests: false,
        repo_digests_synthesized: true,
        qualify_hub_names: true,
        forgets_replaced_pulls: true,
        registry1_is_hub: false,
    },
];
