//! `runref index create` and `runref copy` against the real registry, the results pulled per
//! platform by the real engines, and beside `docker manifest create` and `docker buildx
//! imagetools create` on the same sources. Request counts come from the registry's access log.

use crate::support::fixture::{build_single, push, push_new, unique, ImageSpec, IndexSpec};
use crate::support::*;
use serde_json::Value;

const NO_DAEMON: &str = "unix:///nonexistent.sock";

/// Pushes a single-platform image (no index) as `<registry>/<unique name>:v1`.
fn push_single(name: &str, platform: &str) -> (String, crate::support::fixture::BuiltIndex) {
    let repo = format!("{}/{}", Env::get().registry, unique(name));
    let built = build_single(&ImageSpec::new(platform), &unique(name), "v1");
    push(&built, "v1", &format!("{repo}:v1"));
    (repo, built)
}

/// The registry's access-log lines (method and path) for `repo`, in order.
fn log_lines(repo: &str) -> Vec<String> {
    let path = repo.split_once('/').map_or(repo, |(_, p)| p);
    let needle = format!("/v2/{path}/");
    std::fs::read_to_string(&Env::get().registry_log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("HTTP/1.1\"") && l.contains(&needle))
        .filter_map(|l| {
            let start = l.find('"')? + 1;
            let rest = &l[start..];
            let end = rest.find(" HTTP/1.1")?;
            Some(rest[..end].to_string())
        })
        .collect()
}

/// `docker` CLI 28 with the test environment's config (buildx plugin).
fn docker_cli(args: &[&str]) -> std::process::Output {
    let env = Env::get();
    std::process::Command::new(&env.docker_cli)
        .env("DOCKER_CONFIG", &env.docker_config)
        .env("DOCKER_HOST", &env.docker28_host)
        .args(args)
        .output()
        .expect("docker CLI runs")
}

fn entry_digests(index: &Value) -> Vec<String> {
    let mut v: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn get_manifest(reference: &str) -> Value {
    let (repo, digest) = reference.split_once('@').unwrap();
    let (host, path) = repo.split_once('/').unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sf", "-H"])
        .arg(format!(
            "Accept: {}, {}",
            runref::model::manifest::OCI_INDEX,
            runref::model::manifest::DOCKER_LIST
        ))
        .arg(format!("http://{host}/v2/{path}/manifests/{digest}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "GET {reference}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Each platform of `reference` pulled by Docker 20.10, Docker 28.5 (containerd store) and
/// podman: the engine's image is that platform.
fn pulled_by_every_engine(reference: &str, platforms: &[&str]) {
    let env = Env::get();
    for (name, host) in [
        ("docker 20.10", &env.docker_host),
        ("docker 28.5 containerd", &env.docker28_host),
        ("podman", &env.podman_host),
    ] {
        let d = connect(host);
        for p in platforms {
            pull(&d, reference, p);
            if name.starts_with("docker 28") {
                // The containerd store keeps the index: ask for the platform's own manifest.
                continue;
            }
            let got = exporter_lookup(host, reference).unwrap_or_default();
            assert_eq!(&got, p, "{name}: pulled {reference} for {p}");
            // A classic store keeps one image per index digest ("Cannot overwrite digest").
            rt().block_on(async {
                let opts = bollard::query_parameters::RemoveImageOptionsBuilder::default()
                    .force(true)
                    .build();
                d.remove_image(reference, Some(opts), None).await.ok();
            });
        }
    }
}

#[test]
fn index_create_from_two_single_arch_images_in_other_repositories() {
    let env = Env::get();
    let (a, _) = push_single("pub-amd64", "linux/amd64");
    let (b, built_b) = push_single("pub-arm64", "linux/arm64/v8");
    let target = format!("{}/{}", env.registry, unique("pub-app"));
    let (before_a, before_b) = (log_lines(&a).len(), log_lines(&b).len());
    let create = || {
        let (t, sa, sb) = (format!("{target}:1"), format!("{a}:v1"), format!("{b}:v1"));
        // The request figures below are the index's own; referrers: e2e_referrers.
        let args = [
            "index", "create", &t, &sa, &sb, "--tag", "1.2", "--tag", "latest",
        ];
        runref_json(NO_DAEMON, &[&args[..], &["--referrers", "none"]].concat())
    };
    let (o, j) = create();
    assert_eq!(o.status.code(), Some(0), "{j}\n{}", stderr(&o));
    assert_eq!(j["verified"], true, "{j}");
    assert_eq!(j["pushed"], true);
    assert_eq!(j["media_type"], runref::model::manifest::OCI_INDEX);
    let entries = j["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[1]["index_platform"]["variant"], "v8",
        "from the config"
    );
    assert_eq!(entries[1]["digest"], built_b.index_digest.to_string());
    // Two configs and two layers, each one mount; two manifests and the index put.
    assert_eq!(j["summary"]["mounted"], 4, "{j}");
    assert_eq!(j["summary"]["copied"], 0);
    assert_eq!(j["summary"]["manifests_pushed"], 2);
    // Sources: read once each (manifest by tag, config), nothing fetched twice.
    assert_eq!(log_lines(&a).len() - before_a, 2, "{:?}", log_lines(&a));
    assert_eq!(log_lines(&b).len() - before_b, 2, "{:?}", log_lines(&b));
    let t = log_lines(&target);
    let mounts = t
        .iter()
        .filter(|l| l.starts_with("POST") && l.contains("mount="))
        .count();
    assert_eq!(mounts, 4, "{t:?}");
    assert!(
        !t.iter().any(|l| l.starts_with("PATCH")),
        "no chunked upload: {t:?}"
    );
    // Pushed by digest first, then the tags in the order given.
    let digest = j["digest"].as_str().unwrap();
    let puts: Vec<&String> = t
        .iter()
        .filter(|l| l.starts_with("PUT") && l.contains("/manifests/"))
        .collect();
    let tails: Vec<&str> = puts.iter().map(|l| l.rsplit('/').next().unwrap()).collect();
    assert_eq!(&tails[2..], [digest, "1", "1.2", "latest"], "{puts:?}");
    // Target: 4 mounts, 2 manifests, 1 index + 3 tags, read back: index + 2 x (manifest, config).
    // (And first one HEAD of the first tag: is the planned index there already?)
    assert_eq!(t.len(), 1 + 4 + 2 + 4 + 5, "{t:?}");
    assert_eq!(registry_saw(&j), 2 + 2 + 16);
    // Run again: the sources are read to plan it, then one HEAD per tag; nothing written.
    let t0 = log_lines(&target).len();
    let (o, again) = create();
    assert_eq!(o.status.code(), Some(0), "{again}");
    assert_eq!(
        (again["up_to_date"].as_bool(), again["digest"].as_str()),
        (Some(true), j["digest"].as_str()),
        "{again}"
    );
    let t = &log_lines(&target)[t0..];
    assert_eq!(t.len(), 3, "one HEAD per tag: {t:?}");
    assert!(t.iter().all(|l| l.starts_with("HEAD ")), "{t:?}");
    assert_eq!(registry_saw(&again), 2 + 2 + 3, "{again}");
    let reference = format!("{target}@{digest}");
    pulled_by_every_engine(&reference, &["linux/amd64", "linux/arm64"]);
    let (o, v) = runref_json(
        NO_DAEMON,
        &[
            "verify",
            &reference,
            "--platforms",
            "linux/amd64,linux/arm64",
            "--content",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{v}");
}

#[test]
fn attested_per_arch_indexes_where_docker_manifest_fails_and_imagetools_agrees() {
    let env = Env::get();
    let (a, built_a) = push_new(
        "pub-att-amd64",
        IndexSpec::new("pub-att-amd64", &["linux/amd64"]).with_attestations(),
    );
    let mut arm = IndexSpec::new("pub-att-arm64", &["linux/arm64/v8"]).with_attestations();
    arm.images[0].entry_without_variant = true;
    let (b, built_b) = push_new("pub-att-arm64", arm);
    let sources = [format!("{a}:v1"), format!("{b}:v1")];
    // docker manifest create refuses an index as a source.
    let dm_target = format!("{}/{}:1", env.registry, unique("pub-dm"));
    let o = docker_cli(&[
        "manifest",
        "create",
        "--insecure",
        &dm_target,
        &sources[0],
        &sources[1],
    ]);
    assert!(
        !o.status.success(),
        "docker manifest create accepted indexes"
    );
    assert!(stderr(&o).contains("is a manifest list"), "{}", stderr(&o));
    // runref: both images and both attestations, the arm64 variant filled from its config.
    let target = format!("{}/{}", env.registry, unique("pub-att"));
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "index",
            "create",
            &format!("{target}:1"),
            &sources[0],
            &sources[1],
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{j}\n{}", stderr(&o));
    let index = get_manifest(j["reference"].as_str().unwrap());
    let m = index["manifests"].as_array().unwrap();
    assert_eq!(m.len(), 4, "{index}");
    assert_eq!(m[1]["platform"]["variant"], "v8", "{index}");
    assert_eq!(j["entries"][1]["variant_filled"], true);
    for att in &m[2..] {
        let subject = att["annotations"]["vnd.docker.reference.digest"]
            .as_str()
            .unwrap();
        assert!(m[..2].iter().any(|e| e["digest"] == subject), "{index}");
    }
    let want: Vec<String> = [
        &built_a.images[0].manifest_digest,
        &built_b.images[0].manifest_digest,
        &built_a.attestation_digests[0],
        &built_b.attestation_digests[0],
    ]
    .iter()
    .map(|d| d.to_string())
    .collect();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(entry_digests(&index), want_sorted);
    // imagetools create on the same sources: the same set of entries.
    // buildx 0.29's imagetools create can race its own child-manifest copies within one
    // registry (seen once in CI: "blob unknown to registry" on the index PUT): the peer is
    // asked up to three times; runref's own assertions above are not retried.
    let it_target = format!("{}/{}:1", env.registry, unique("pub-it"));
    let mut o = None;
    for _ in 0..3 {
        let run = docker_cli(&[
            "buildx",
            "imagetools",
            "create",
            "-t",
            &it_target,
            &sources[0],
            &sources[1],
        ]);
        let ok = run.status.success();
        o = Some(run);
        if ok {
            break;
        }
    }
    let o = o.unwrap();
    assert!(o.status.success(), "imagetools create: {}", stderr(&o));
    let o = docker_cli(&["buildx", "imagetools", "inspect", "--raw", &it_target]);
    assert!(o.status.success(), "imagetools inspect: {}", stderr(&o));
    let it_index: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(entry_digests(&it_index), want_sorted, "{it_index}");
    // A second amd64 image: imagetools keeps both without a word; runref refuses, naming both.
    let (c, _) = push_new(
        "pub-att-amd64b",
        IndexSpec::new("pub-att-amd64b", &["linux/amd64"]),
    );
    let dup = format!("{c}:v1");
    let o = docker_cli(&[
        "buildx",
        "imagetools",
        "create",
        "-t",
        &it_target,
        &sources[0],
        &dup,
    ]);
    assert!(
        o.status.success(),
        "imagetools create let the duplicate through: {}",
        stderr(&o)
    );
    let (o, j) = runref_json(
        NO_DAEMON,
        &["index", "create", &format!("{target}:2"), &sources[0], &dup],
    );
    assert_eq!(o.status.code(), Some(1), "{j}");
    let e = j["error"].as_str().unwrap();
    assert!(
        e.contains("linux/amd64") && e.contains(&sources[0]) && e.contains(&dup),
        "{e}"
    );
    // Nothing was pushed under the refused tag.
    assert!(!log_lines(&target)
        .iter()
        .any(|l| l.starts_with("PUT") && l.ends_with("/manifests/2")));
}

#[test]
fn copy_all_keeps_the_digest_a_subset_is_a_new_index_another_registry_is_streamed() {
    let env = Env::get();
    let (src, built) = push_new(
        "pub-copy-src",
        IndexSpec::new(
            "pub-copy-src",
            &["linux/amd64", "linux/arm64", "linux/s390x"],
        )
        .with_attestations(),
    );
    // Full copy within the registry: byte-identical, every blob mounted.
    let t1 = format!("{}/{}", env.registry, unique("pub-copy-all"));
    let (o, j) = runref_json(NO_DAEMON, &["copy", &format!("{src}:v1"), &t1, "--content"]);
    assert_eq!(o.status.code(), Some(0), "{j}\n{}", stderr(&o));
    assert_eq!(j["digest_preserved"], true);
    assert_eq!(j["digest"], built.index_digest.to_string());
    assert_eq!(j["tags"][0], "v1", "the source's tag");
    // 3 images (config + layer) and 3 attestations (config + statement); attestation configs
    // are the same `{}` blob: 3*2 + 1 + 3 = 10 distinct blobs.
    assert_eq!(j["summary"]["mounted"], 10, "{j}");
    let lines = log_lines(&t1);
    let mounts = lines.iter().filter(|l| l.contains("mount=")).count();
    assert_eq!(mounts, 10, "one request per blob: {lines:?}");
    // A subset: arm64 and its attestation, a new index.
    let t2 = format!("{}/{}", env.registry, unique("pub-copy-arm64"));
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "copy",
            &format!("{src}:v1"),
            &format!("{t2}:arm64"),
            "--platforms",
            "linux/arm64",
            "--content",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{j}\n{}", stderr(&o));
    assert_eq!(j["digest_preserved"], false);
    let index = get_manifest(j["reference"].as_str().unwrap());
    let digests = entry_digests(&index);
    let mut want = vec![
        built.image("linux/arm64").manifest_digest.to_string(),
        built.attestation_digests[1].to_string(),
    ];
    want.sort();
    assert_eq!(digests, want);
    pulled_by_every_engine(j["reference"].as_str().unwrap(), &["linux/arm64"]);
    // Another registry (the same one under another name): HEAD, then streamed uploads.
    let port = env.registry.rsplit(':').next().unwrap();
    let t3 = format!("localhost:{port}/{}", unique("pub-copy-far"));
    let source = format!("{src}:v1");
    let copy_far = || {
        runref_json(
            NO_DAEMON,
            &[
                "copy",
                &source,
                &t3,
                "--platforms",
                "linux/amd64,linux/s390x",
                "--attestations",
                "drop",
            ],
        )
    };
    let (o, j) = copy_far();
    assert_eq!(o.status.code(), Some(0), "{j}\n{}", stderr(&o));
    assert_eq!(j["summary"]["copied"], 4, "{j}");
    assert_eq!(j["summary"]["mounted"], 0);
    assert_eq!(j["attestations_dropped"], 3);
    let far = j["reference"]
        .as_str()
        .unwrap()
        .replace("localhost:", "127.0.0.1:");
    let (o, v) = runref_json(
        NO_DAEMON,
        &[
            "verify",
            &far,
            "--platforms",
            "linux/amd64,linux/s390x",
            "--content",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{v}");
    // Again: the tag already names the planned index, so no blob is asked or copied (issue
    // 24; before, every blob was HEADed again).
    let (o, j) = copy_far();
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["up_to_date"], true, "{j}");
    assert_eq!(j["summary"]["copied"], 0, "{j}");
}

#[test]
fn dry_run_reads_and_pushes_nothing() {
    let env = Env::get();
    let (a, _) = push_single("pub-dry-amd64", "linux/amd64");
    let (b, _) = push_single("pub-dry-arm", "linux/arm/v7");
    let target = format!("{}/{}", env.registry, unique("pub-dry"));
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "index",
            "create",
            &format!("{target}:1"),
            &format!("{a}:v1"),
            &format!("{b}:v1"),
            "--dry-run",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["pushed"], false);
    assert_eq!(j["index"]["manifests"][1]["platform"]["variant"], "v7");
    assert_eq!(j["summary"]["mounted"], 4);
    assert!(log_lines(&target).is_empty(), "{:?}", log_lines(&target));
    let o = runref(
        NO_DAEMON,
        &[
            "index",
            "create",
            &format!("{target}:1"),
            &format!("{a}:v1"),
            "--dry-run",
        ],
    );
    assert!(stdout(&o).contains("would push"), "{}", stdout(&o));
}

/// A source registry whose layer bytes are not the layer's digest: the copy fails naming the
/// blob, and the target gets no manifest and no tag.
#[test]
fn a_lying_source_blob_is_never_published() {
    use crate::support::fake_registry::{self, response, Reply};
    use runref::model::digest::Digest;
    let env = Env::get();
    let layer = b"the real layer bytes".to_vec();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let (ld, cd) = (Digest::of(&layer), Digest::of(&config));
    let ld_hex = ld.hex().to_string();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": runref::model::manifest::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld.to_string(), "size": layer.len()}],
    })
    .to_string();
    let md = Digest::of(manifest.as_bytes()).to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = rt.block_on(fake_registry::serve(move |req| {
        let lie = "the fake layer bytes".to_string();
        if req.path.ends_with("/manifests/v1") {
            Reply::Full(response(
                "200 OK",
                &[
                    ("Content-Type", runref::model::manifest::OCI_MANIFEST),
                    ("Docker-Content-Digest", &md),
                ],
                &manifest,
            ))
        } else if req.path.ends_with(&cd.to_string()) {
            Reply::Full(response(
                "200 OK",
                &[],
                std::str::from_utf8(&config).unwrap(),
            ))
        } else if req.path.ends_with(&ld.to_string()) {
            Reply::Full(response("200 OK", &[], &lie))
        } else {
            Reply::Full(response("404 Not Found", &[], ""))
        }
    }));
    let target = format!("{}/{}", env.registry, unique("pub-lie"));
    let o = runref(
        NO_DAEMON,
        &["copy", &format!("{addr}/src:v1"), &format!("{target}:v1")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&ld_hex[..12]),
        "names the blob: {}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("copy from the source failed: content does not match its digest"),
        "the source is named as the cause, before the target saw a whole blob: {}",
        stderr(&o)
    );
    let lines = log_lines(&target);
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("PUT") && l.contains("/manifests/")),
        "nothing published: {lines:?}"
    );
    drop(rt);
}

/// A registry that answers every cross-repository mount with 202 (allowed by the distribution
/// spec: "the registry may fall back to a regular upload"): runref finishes each blob through
/// the upload the refusal opened (config from the bytes it holds, the layer streamed from the
/// source), then pushes the manifest and tag, and reads the result back. The real registry
/// always mounts, so this in-process one stands in; it keeps what it is sent and checks
/// every upload against its digest.
#[test]
fn a_refused_mount_is_finished_as_an_upload() {
    use crate::support::fake_registry::{self, response, Reply};
    use runref::model::digest::Digest;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let layer = b"layer bytes, not a tar: copy does not read them".to_vec();
    let config =
        br#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let (ld, cd) = (Digest::of(&layer), Digest::of(&config));
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": runref::model::manifest::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld.to_string(), "size": layer.len()}],
    })
    .to_string();
    let md = Digest::of(manifest.as_bytes());
    // repo => blobs and manifests (by tag and by digest); every request line kept.
    type Store = HashMap<String, Vec<u8>>;
    let store: Arc<Mutex<Store>> = Arc::default();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let mut s = store.lock().unwrap();
        s.insert(format!("src/blobs/{ld}"), layer.clone());
        s.insert(format!("src/blobs/{cd}"), config.clone());
        s.insert("src/manifests/v1".into(), manifest.clone().into_bytes());
        s.insert(format!("src/manifests/{md}"), manifest.clone().into_bytes());
    }
    let (st, log) = (store.clone(), seen.clone());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = rt.block_on(fake_registry::serve(move |req| {
        log.lock()
            .unwrap()
            .push(format!("{} {}", req.method, req.path));
        let path = req.path.trim_start_matches("/v2/");
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let param = |k: &str| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string())
        };
        let mut s = st.lock().unwrap();
        let ok_manifest = |body: &[u8], head: bool| {
            let d = Digest::of(body).to_string();
            let text = if head {
                ""
            } else {
                std::str::from_utf8(body).unwrap()
            };
            Reply::Full(response(
                "200 OK",
                &[
                    ("Content-Type", runref::model::manifest::OCI_MANIFEST),
                    ("Docker-Content-Digest", &d),
                ],
                text,
            ))
        };
        match (req.method.as_str(), path.split_once("/blobs/uploads/")) {
            // Every mount (and every plain start) opens an upload instead.
            ("POST", Some((repo, _))) => Reply::Full(response(
                "202 Accepted",
                &[(
                    "Location",
                    &format!("/v2/{repo}/blobs/uploads/u{}", s.len()),
                )],
                "",
            )),
            ("PUT", Some((repo, _))) => {
                let digest = param("digest").unwrap_or_default();
                if Digest::of(&req.body).to_string() != digest {
                    return Reply::Full(response("400 Bad Request", &[], "DIGEST_INVALID"));
                }
                s.insert(format!("{repo}/blobs/{digest}"), req.body.clone());
                Reply::Full(response(
                    "201 Created",
                    &[("Docker-Content-Digest", &digest)],
                    "",
                ))
            }
            _ => {
                let Some((repo, rest)) = path
                    .split_once("/manifests/")
                    .map(|(r, t)| (r, format!("manifests/{t}")))
                    .or_else(|| {
                        path.split_once("/blobs/")
                            .map(|(r, d)| (r, format!("blobs/{d}")))
                    })
                else {
                    return Reply::Full(response("404 Not Found", &[], ""));
                };
                let key = format!("{repo}/{rest}");
                match req.method.as_str() {
                    "PUT" => {
                        let d = Digest::of(&req.body);
                        s.insert(key, req.body.clone());
                        s.insert(format!("{repo}/manifests/{d}"), req.body.clone());
                        Reply::Full(response(
                            "201 Created",
                            &[("Docker-Content-Digest", &d.to_string())],
                            "",
                        ))
                    }
                    m => match (s.get(&key), rest.starts_with("manifests/")) {
                        (Some(b), true) => ok_manifest(b, m == "HEAD"),
                        (Some(b), false) => {
                            Reply::Full(response("200 OK", &[], std::str::from_utf8(b).unwrap()))
                        }
                        (None, _) => Reply::Full(response("404 Not Found", &[], "")),
                    },
                }
            }
        }
    }));
    let o = runref(
        NO_DAEMON,
        &[
            "copy",
            &format!("{addr}/src:v1"),
            &format!("{addr}/dst:v1"),
            "--format",
            "json",
        ],
    );
    let j = json_of(&o);
    assert_eq!(o.status.code(), Some(0), "{}: {j}", stderr(&o));
    assert_eq!(j["digest"], md.to_string(), "{j}");
    assert_eq!(j["digest_preserved"], true, "{j}");
    assert_eq!(j["summary"]["mounted"], 0, "{j}");
    assert_eq!(j["summary"]["copied"], 2, "{j}");
    assert_eq!(j["verified"], true, "{j}");
    let s = store.lock().unwrap();
    assert_eq!(
        s.get(&format!("dst/blobs/{ld}")),
        Some(&layer),
        "layer uploaded whole"
    );
    assert_eq!(
        s.get(&format!("dst/blobs/{cd}")),
        Some(&config),
        "config uploaded whole"
    );
    assert_eq!(
        s.get("dst/manifests/v1").map(|b| Digest::of(b)),
        Some(md.clone()),
        "the tag holds the same manifest bytes"
    );
    let lines = seen.lock().unwrap().clone();
    let mounts = lines
        .iter()
        .filter(|l| l.starts_with("POST") && l.contains("mount="))
        .count();
    assert_eq!(mounts, 2, "each blob asked to mount once: {lines:?}");
    let uploads = lines
        .iter()
        .filter(|l| l.starts_with("PUT") && l.contains("/blobs/uploads/"))
        .count();
    assert_eq!(
        uploads, 2,
        "then finished through the opened upload: {lines:?}"
    );
    assert_eq!(
        Some(registry_saw(&j) as usize),
        Some(lines.len()),
        "every request counted: {lines:?}"
    );
    drop(s);
    drop(rt);
}

/// Issue 21: a Windows image whose base layer is foreign (Docker's foreign type with `urls`,
/// in no registry). `verify --content` proves the platform from the layers the registry has
/// and never asks for the foreign one; `copy` leaves it out as crane and skopeo do (the
/// manifests, digest kept, still name it and its URL), and the copy verifies.
#[test]
fn foreign_layers_are_left_out_and_never_fetched() {
    let env = Env::get();
    let mut amd = ImageSpec::windows("windows/amd64", "10.0.20348.2849");
    amd.foreign_base = true;
    let mut arm = ImageSpec::windows("windows/arm64", "10.0.20348.2849");
    arm.foreign_base = true;
    let (src, built) = push_new(
        "pub-foreign",
        IndexSpec {
            images: vec![amd, arm],
            ..IndexSpec::new("foreign", &[])
        }
        .docker(),
    );
    let at = format!("{src}@{}", built.index_digest);
    let before = log_lines(&src).len();
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "verify",
            &at,
            "--platforms",
            "windows/amd64,windows/arm64",
            "--content",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    for p in j["platforms"].as_array().unwrap() {
        assert_eq!(p["content"]["verdict"], "proven", "{p}");
        assert_eq!(p["content"]["foreign_layers"], 1, "{p}");
        assert_eq!(p["content"]["pe_files"], 1, "{p}");
    }
    assert!(
        p_starts(
            &j["platforms"][0]["platform"],
            "windows/amd64:10.0.20348.2849"
        ),
        "os.version shown: {j}"
    );
    let asked: Vec<String> = log_lines(&src)[before..].to_vec();
    assert_eq!(
        asked.len(),
        1 + 2 + 2 + 2,
        "index, 2 manifests, 2 configs, 2 own layers: {asked:?}"
    );
    let target = format!("{}/{}", env.registry, unique("pub-foreign-copy"));
    let (o, j) = runref_json(
        NO_DAEMON,
        &["copy", &at, &format!("{target}:v1"), "--content"],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["digest_preserved"], true, "{j}");
    // The two platforms share their base layer (as Windows images do): one distinct blob.
    assert_eq!(j["summary"]["foreign_left_out"], 1, "{j}");
    assert_eq!(j["readback"]["verified"], true, "{j}");
}

fn p_starts(v: &Value, prefix: &str) -> bool {
    v.as_str().is_some_and(|s| s.starts_with(prefix))
}

/// Issue 24 (item 1): a copy run again, the target already holding the source's digest under
/// every tag, costs only HEADs: the source's tag and each target tag (the access log, both
/// repositories), nothing read or written. A moved source tag, or a missing target tag, runs
/// the whole copy again (its proof included).
#[test]
fn a_copy_run_again_costs_only_heads() {
    let env = Env::get();
    let (src, built) = push_new(
        "pub-rerun",
        IndexSpec::new("pub-rerun", &["linux/amd64", "linux/arm64"]).with_attestations(),
    );
    let target = format!("{}/{}", env.registry, unique("pub-rerun-copy"));
    // Without referrers (--referrers none): HEADs only. With them (the default), the source's
    // referrers are asked too (below).
    let copy_with = |referrers: &str| {
        runref_json(
            NO_DAEMON,
            &[
                "copy",
                &format!("{src}:v1"),
                &format!("{target}:v1"),
                "--tag",
                "latest",
                "--referrers",
                referrers,
            ],
        )
    };
    let copy = || copy_with("none");
    let (o, j) = copy();
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["up_to_date"], false);
    let (s0, t0) = (log_lines(&src).len(), log_lines(&target).len());
    let (o, j) = copy();
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["up_to_date"], true, "{j}");
    assert_eq!(j["verified"], true);
    assert_eq!(j["digest"], built.index_digest.to_string());
    // The media type the target's HEAD gave (it was empty: newcomer pass).
    assert_eq!(
        j["media_type"], "application/vnd.oci.image.index.v1+json",
        "{j}"
    );
    let (s, t) = (&log_lines(&src)[s0..], &log_lines(&target)[t0..]);
    assert_eq!(
        s.len() + t.len(),
        3,
        "source tag + 2 target tags: {s:?} {t:?}"
    );
    assert!(
        s.iter().chain(t).all(|l| l.starts_with("HEAD ")),
        "{s:?} {t:?}"
    );
    assert_eq!(registry_saw(&j), 3, "{j}");
    // Referrers carried: the API's 404 and the source's tag list, which has no `sha256-`
    // tag, so there is nothing to carry and the target's index is not read for its entries.
    let (s0, t0) = (log_lines(&src).len(), log_lines(&target).len());
    let (o, j) = copy_with("all");
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(registry_saw(&j), 3 + 2, "{j}");
    let t = &log_lines(&target)[t0..];
    assert!(t.iter().all(|l| l.starts_with("HEAD ")), "{t:?}");
    let s = &log_lines(&src)[s0..];
    assert!(
        s.iter().any(|l| l.contains("/referrers/")) && s.iter().any(|l| l.contains("/tags/list")),
        "{s:?}"
    );
    // A platform subset (a new index): re-run, the sources' manifests and configs are read to
    // plan it, then one HEAD of the tag; no blob mount, no manifest PUT.
    let sub = format!("{}/{}", env.registry, unique("pub-rerun-sub"));
    let subset = || {
        runref_json(
            NO_DAEMON,
            &[
                "copy",
                &format!("{src}:v1"),
                &format!("{sub}:arm"),
                "--platforms",
                "linux/arm64",
                "--referrers",
                "none",
            ],
        )
    };
    let (o, j) = subset();
    assert_eq!(
        (o.status.code(), j["up_to_date"].as_bool()),
        (Some(0), Some(false)),
        "{j}"
    );
    let (s0, t0) = (log_lines(&src).len(), log_lines(&sub).len());
    let (o, j) = subset();
    assert_eq!(
        (o.status.code(), j["up_to_date"].as_bool()),
        (Some(0), Some(true)),
        "{j}"
    );
    let (s, t) = (&log_lines(&src)[s0..], &log_lines(&sub)[t0..]);
    assert!(
        s.iter()
            .chain(t)
            .all(|l| l.starts_with("GET ") || l.starts_with("HEAD ")),
        "reads only: {s:?} {t:?}"
    );
    assert_eq!(t.len(), 1, "one HEAD of the target tag: {t:?}");
    // A tag the target lacks: the whole copy again, which re-proves and tags.
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "copy",
            &format!("{src}:v1"),
            &format!("{target}:v1"),
            "--tag",
            "newer",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["up_to_date"], false, "{j}");
    assert_eq!(j["tags_moved"], true, "{j}");
}

/// Issue 21: `--allow-nondistributable` reads a foreign layer from its URL when the registry
/// does not have it (one GET, no registry credentials, verified against the digest), so a
/// Windows image whose executables are all in its base layer is proven; without the flag the
/// layer is left unread and the platform unproven, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_nondistributable_reads_a_foreign_layer_from_its_url() {
    use crate::support::fake_registry::{self, Reply};
    let served = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let s = served.clone();
    let gets = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let g = gets.clone();
    let addr = fake_registry::serve(move |req| {
        g.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert!(req.authorization.is_none(), "no credentials to a layer URL");
        let body = s.lock().unwrap().clone();
        Reply::Stream {
            head: format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()),
            chunk: body.clone(),
            every: std::time::Duration::ZERO,
            total: body.len(),
        }
    })
    .await;
    let mut spec = ImageSpec::windows("windows/amd64", "10.0.20348.2849");
    spec.foreign_base = true;
    spec.no_elf = true;
    spec.foreign_url = Some(format!("http://{addr}/servercore/base.tar.gz"));
    let spec = IndexSpec {
        images: vec![spec],
        ..IndexSpec::new("foreign-url", &[])
    }
    .docker();
    let (src, built) = tokio::task::spawn_blocking(move || push_new("pub-foreign-url", spec))
        .await
        .unwrap();
    *served.lock().unwrap() = built.images[0].foreign_layer.clone().unwrap();
    let at = format!("{src}@{}", built.index_digest);
    let run = |extra: &'static [&'static str]| {
        let at = at.clone();
        tokio::task::spawn_blocking(move || {
            let mut args = vec!["verify", at.as_str(), "--content"];
            args.extend_from_slice(extra);
            runref_json(NO_DAEMON, &args)
        })
    };
    let (o, j) = run(&[]).await.unwrap();
    assert_eq!(o.status.code(), Some(1), "{j}");
    assert!(
        j["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("foreign layer(s) were not read"),
        "{j}"
    );
    assert_eq!(
        gets.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "never fetched without the flag"
    );
    let (o, j) = run(&["--allow-nondistributable"]).await.unwrap();
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["platforms"][0]["content"]["verdict"], "proven", "{j}");
    assert_eq!(j["platforms"][0]["content"]["pe_files"], 1, "{j}");
    assert_eq!(
        gets.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "one GET of the URL"
    );
}
