//! The target platform when neither `--platform` nor `[run-image.target]` gives one (platform
//! API 0.10/0.11 files): the platform the reference itself proves comes before the daemon's
//! (or this machine's) default. Pure: facts in, the next step out.
//!
//! A 0.10/0.11 restorer writes the per-arch manifest digest *of the target platform*, so a
//! reference that is one platform's manifest is evidence of the target. Cross-arch daemon
//! builds are common (Apple-silicon laptops building amd64, amd64 hosts building arm64 under
//! emulation, lifecycle#1599); taking the daemon's platform there pulled the arm64 digest "for
//! amd64" and failed with advice that did nothing (issue 19).

use super::decide::{Facts, Input, Mode, RemoteFailure};
use crate::model::digest::Digest;
use crate::model::platform::Platform;
use crate::model::policy::PullPolicy;
use crate::model::reference::{ImageRef, Reference};
use crate::model::view::RemoteView;

/// What the reference says about the target.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetStep {
    /// The reference is this platform's manifest.
    Proven(Platform),
    /// Inspect the local images of this repository: the containerd store lists the digest
    /// among an index's manifests, with its platform, even when `[run-image] image` is unset.
    RepoImages(Reference),
    /// Only the registry can say: read this reference (its manifest and, for a single
    /// manifest, its config).
    Ask(Reference),
    /// No evidence (a tag, an image ID, an index digest, `never` without a daemon proof, or a
    /// registry that could not answer): the default applies.
    Default,
}

/// The platform the daemon's answers prove the reference's digest to be, without the
/// registry: the containerd store lists the digest among an image's manifests with its
/// platform; the classic store and podman resolve `repo@digest` to one single-platform image
/// (a pull by that digest, or podman's record of the per-arch manifest it pulled). Also used when a target is given, to see
/// whether the reference contradicts it.
pub fn proven_by_daemon(inp: &Input, f: &Facts) -> Option<Platform> {
    if let ImageRef::Id(_) = &inp.reference {
        return image_id_platform(f);
    }
    let (_, d) = digest_reference(inp)?;
    let seen = || {
        (f.by_reference.found().into_iter())
            .chain(f.by_image.found())
            .chain(f.repo_images.iter().flatten())
    };
    let listed = seen()
        .filter_map(|img| img.manifest(d))
        .find(|m| !m.attestation && m.platform.is_some());
    if let Some(m) = listed {
        return m.platform.clone();
    }
    let img = f.by_reference.found()?;
    // An ID equal to the digest is the containerd store's index-or-manifest form: without its
    // manifests list it is not known which, so it proves nothing. Otherwise (classic store,
    // podman: the ID is a config digest) the daemon resolved `repo@digest` to this one image.
    // podman resolves a per-arch digest it pulled even where RepoDigests no longer show it (an
    // amd64 pull of the same tag afterwards: seen here), so RepoDigests are not required.
    let single = img.manifests.is_empty() && img.id.digest() != d;
    img.platform.clone().filter(|_| single)
}

/// An image ID names exactly one local image (what runref or lifecycle's `-daemon` wrote):
/// its platform, when it has one platform's content (the classic store and podman always; on
/// the containerd store a single-platform record, or an index with one platform present).
fn image_id_platform(f: &Facts) -> Option<Platform> {
    let img = f.by_reference.found()?;
    let mut present = img
        .manifests
        .iter()
        .filter(|m| !m.attestation && m.available)
        .filter_map(|m| m.platform.as_ref());
    match (img.manifests.is_empty(), present.next(), present.next()) {
        (true, _, _) => img.platform.clone(),
        (false, Some(p), None) => Some(p.clone()),
        _ => None,
    }
}

/// The next step in choosing the target from the reference. `asked` is the registry's answer
/// for the reference, once [`TargetStep::Ask`] was answered.
pub fn from_reference(
    inp: &Input,
    f: &Facts,
    asked: Option<&Result<RemoteView, RemoteFailure>>,
) -> TargetStep {
    if let Some(p) = proven_by_daemon(inp, f) {
        return TargetStep::Proven(p);
    }
    let Some((r, _)) = digest_reference(inp) else {
        return TargetStep::Default;
    };
    if inp.mode == Mode::Daemon && f.repo_images.is_none() {
        return TargetStep::RepoImages(r.clone());
    }
    match asked {
        Some(Ok(v)) => match v.entries.first().and_then(|e| e.config_platform.clone()) {
            Some(p) if !v.is_index => TargetStep::Proven(p),
            _ => TargetStep::Default,
        },
        Some(Err(_)) => TargetStep::Default,
        None if inp.policy == PullPolicy::Never => TargetStep::Default,
        None => TargetStep::Ask(r.clone()),
    }
}

fn digest_reference(inp: &Input) -> Option<(&Reference, &Digest)> {
    match &inp.reference {
        ImageRef::Name(r) => r.digest().map(|d| (r, d)),
        ImageRef::Id(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::reconcile::decide::Lookup;
    use crate::model::digest::ImageId;
    use crate::model::local::{LocalImage, LocalManifest};
    use crate::model::view::RemoteEntry;

    const REPO: &str = "127.0.0.1:5000/run";

    fn dg(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    }

    fn input(policy: PullPolicy, reference: &str) -> Input {
        Input {
            mode: Mode::Daemon,
            policy,
            platform: "linux/amd64".parse().unwrap(),
            reference: ImageRef::parse(reference).unwrap(),
            image: None,
            extend: false,
            platform_given: false,
            reference_platform: None,
        }
    }

    fn image(id: char, platform: &str, repo_digests: &[&str]) -> LocalImage {
        LocalImage {
            id: ImageId::parse(&id.to_string().repeat(64)).unwrap(),
            repo_tags: vec![format!("{REPO}:v1")],
            repo_digests: repo_digests.iter().map(|r| r.parse().unwrap()).collect(),
            platform: Some(platform.parse().unwrap()),
            top_layer: None,
            descriptor: None,
            manifests: vec![],
        }
    }

    fn single(config_platform: &str) -> RemoteView {
        RemoteView {
            reference: format!("{REPO}@{}", dg('a')).parse().unwrap(),
            resolved_from: None,
            digest: dg('a'),
            media_type: crate::model::manifest::OCI_MANIFEST.into(),
            is_index: false,
            entries: vec![RemoteEntry {
                digest: dg('a'),
                media_type: crate::model::manifest::OCI_MANIFEST.into(),
                size: 1,
                index_platform: None,
                platform: Some(config_platform.parse().unwrap()),
                attestation: false,
                attests: None,
                lacks_variant: false,
                config: Some(dg('c')),
                config_platform: Some(config_platform.parse().unwrap()),
                layers: vec![],
                error: None,
            }],
        }
    }

    fn per_arch() -> String {
        format!("{REPO}@{}", dg('a'))
    }

    #[test]
    fn a_tag_or_an_unknown_id_is_no_evidence() {
        let f = Facts::default();
        let tag = input(PullPolicy::IfNotPresent, &format!("{REPO}:v1"));
        assert_eq!(from_reference(&tag, &f, None), TargetStep::Default);
        let id = input(PullPolicy::IfNotPresent, &"b".repeat(64));
        assert_eq!(from_reference(&id, &f, None), TargetStep::Default);
    }

    /// A file runref already reconciled holds the image ID: a second run on a daemon of
    /// another architecture keeps that image's platform (it failed, found by the demo).
    #[test]
    fn an_image_id_the_daemon_holds_proves_its_platform() {
        let img = image('b', "linux/arm64", &[]);
        let f = Facts {
            by_reference: Lookup::Found(Box::new(img.clone())),
            ..Default::default()
        };
        let id = input(PullPolicy::Never, &"b".repeat(64));
        assert_eq!(
            from_reference(&id, &f, None),
            TargetStep::Proven("linux/arm64".parse().unwrap())
        );
        // A containerd-store index with two platforms present: no evidence.
        let mut index = img;
        index.manifests = ["linux/amd64", "linux/arm64"]
            .iter()
            .enumerate()
            .map(|(i, p)| LocalManifest {
                digest: dg(if i == 0 { 'c' } else { 'd' }),
                platform: Some(p.parse().unwrap()),
                attestation: false,
                available: true,
            })
            .collect();
        let f = Facts {
            by_reference: Lookup::Found(Box::new(index)),
            ..Default::default()
        };
        assert_eq!(from_reference(&id, &f, None), TargetStep::Default);
    }

    /// Facts after the daemon was asked everything it can be: nothing of the repository.
    fn asked_daemon() -> Facts {
        Facts {
            repo_images: Some(vec![]),
            ..Default::default()
        }
    }

    #[test]
    fn the_daemon_is_asked_before_the_registry() {
        let inp = input(PullPolicy::IfNotPresent, &per_arch());
        assert_eq!(
            from_reference(&inp, &Facts::default(), None),
            TargetStep::RepoImages(per_arch().parse().unwrap())
        );
    }

    #[test]
    fn the_registry_is_asked_only_where_the_policy_allows() {
        let f = asked_daemon();
        let inp = input(PullPolicy::IfNotPresent, &per_arch());
        assert_eq!(
            from_reference(&inp, &f, None),
            TargetStep::Ask(per_arch().parse().unwrap())
        );
        let never = input(PullPolicy::Never, &per_arch());
        assert_eq!(from_reference(&never, &f, None), TargetStep::Default);
    }

    #[test]
    fn a_single_manifest_proves_its_configs_platform_an_index_proves_nothing() {
        let f = asked_daemon();
        let inp = input(PullPolicy::Always, &per_arch());
        let arm = single("linux/arm64");
        assert_eq!(
            from_reference(&inp, &f, Some(&Ok(arm.clone()))),
            TargetStep::Proven("linux/arm64".parse().unwrap())
        );
        let mut index = arm;
        index.is_index = true;
        assert_eq!(
            from_reference(&inp, &f, Some(&Ok(index))),
            TargetStep::Default
        );
        let failed = Err(RemoteFailure {
            not_found: true,
            detail: "404".into(),
        });
        assert_eq!(from_reference(&inp, &f, Some(&failed)), TargetStep::Default);
    }

    #[test]
    fn the_containerd_stores_manifest_list_names_the_digests_platform() {
        let mut img = image('9', "linux/amd64", &[]);
        img.manifests = vec![
            LocalManifest {
                digest: dg('b'),
                platform: Some("linux/amd64".parse().unwrap()),
                attestation: false,
                available: true,
            },
            LocalManifest {
                digest: dg('a'),
                platform: Some("linux/arm64".parse().unwrap()),
                attestation: false,
                available: false,
            },
        ];
        let f = Facts {
            by_reference: Lookup::Absent,
            repo_images: Some(vec![img]),
            ..Default::default()
        };
        // Under never too: no registry needed.
        let inp = input(PullPolicy::Never, &per_arch());
        assert_eq!(
            from_reference(&inp, &f, None),
            TargetStep::Proven("linux/arm64".parse().unwrap())
        );
    }

    #[test]
    fn a_daemon_that_resolves_the_digest_to_one_image_proves_its_platform() {
        let img = image('9', "linux/arm64", &[&per_arch()]);
        let f = Facts {
            by_reference: Lookup::Found(Box::new(img.clone())),
            ..Default::default()
        };
        let inp = input(PullPolicy::Never, &per_arch());
        assert_eq!(
            from_reference(&inp, &f, None),
            TargetStep::Proven("linux/arm64".parse().unwrap())
        );
        // The containerd store's ID form (ID = the digest) without a manifests list: unknown.
        let mut cd = img;
        cd.id = ImageId::parse(&"a".repeat(64)).unwrap();
        let f = Facts {
            by_reference: Lookup::Found(Box::new(cd)),
            repo_images: Some(vec![]),
            ..Default::default()
        };
        assert_eq!(from_reference(&inp, &f, None), TargetStep::Default);
    }
}
