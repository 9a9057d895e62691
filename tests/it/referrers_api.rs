//! The OCI 1.1 referrers API path (issue 22), against an in-process registry that implements
//! it, since distribution 2.8 has none: `GET /v2/<name>/referrers/<digest>` answered in two
//! pages joined by `Link` (distribution-spec "Listing Referrers"), each referrer's manifest
//! read for its artifact type, a referrer of a referrer found by the API too, a loop (a
//! referrer naming itself) cut, and the request count: one per page and per subject asked,
//! one per manifest read, one tag list.

use runref::model::digest::Digest;
use runref::registry::referrers::Discovery;
use runref::registry::{Counters, HttpRegistry, RegistryOptions};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::fake_registry::{self, response, Reply};

fn artifact(artifact_type: &str, subject: &Digest, salt: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"{artifact_type}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":[],"subject":{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{subject}","size":1}},"annotations":{{"org.opencontainers.image.created":"{salt}"}}}}"#
    )
}

fn descriptor(body: &str, artifact_type: &str) -> String {
    format!(
        r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"artifactType":"{artifact_type}"}}"#,
        Digest::of(body.as_bytes()),
        body.len()
    )
}

fn index(descriptors: &[String]) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        descriptors.join(",")
    )
}

#[tokio::test]
async fn the_referrers_api_is_followed_across_pages_and_levels() {
    let subject = Digest::of(b"the image index");
    let sbom = artifact("application/spdx+json", &subject, "1");
    let bundle = artifact(
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        &subject,
        "2",
    );
    let provenance = artifact("application/vnd.in-toto+json", &subject, "3");
    let sbom_digest = Digest::of(sbom.as_bytes());
    let sbom_sig = artifact("application/vnd.example.signature", &sbom_digest, "4");
    let manifests: Vec<(Digest, String)> = [&sbom, &bundle, &provenance, &sbom_sig]
        .iter()
        .map(|b| (Digest::of(b.as_bytes()), b.to_string()))
        .collect();
    let page1 = index(&[
        descriptor(&sbom, "application/spdx+json"),
        descriptor(&bundle, "application/vnd.dev.sigstore.bundle.v0.3+json"),
    ]);
    let page2 = index(&[descriptor(&provenance, "application/vnd.in-toto+json")]);
    // The SBOM's signature names the SBOM; and the SBOM lists itself (a loop, cut).
    let of_sbom = index(&[
        descriptor(&sbom_sig, "application/vnd.example.signature"),
        descriptor(&sbom, "application/spdx+json"),
    ]);
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let (s, sd) = (subject.to_string(), sbom_digest.to_string());
    let addr = fake_registry::serve(move |req| {
        seen.fetch_add(1, Ordering::SeqCst);
        let ok = |body: &str, extra: &[(&str, &str)]| {
            let mut h = vec![("Content-Type", "application/vnd.oci.image.index.v1+json")];
            h.extend_from_slice(extra);
            Reply::Full(response("200 OK", &h, body))
        };
        let p = req.path.as_str();
        if p == format!("/v2/r/referrers/{s}") {
            let next = format!("</v2/r/referrers/{s}?last=2>; rel=\"next\"");
            return ok(&page1, &[("Link", next.as_str())]);
        }
        if p == format!("/v2/r/referrers/{s}?last=2") {
            return ok(&page2, &[]);
        }
        if p == format!("/v2/r/referrers/{sd}") {
            return ok(&of_sbom, &[]);
        }
        if p.starts_with("/v2/r/referrers/") {
            return ok(&index(&[]), &[]);
        }
        if p.starts_with("/v2/r/tags/list") {
            return ok(r#"{"name":"r","tags":["v1"]}"#, &[]);
        }
        for (d, body) in &manifests {
            if p == format!("/v2/r/manifests/{d}") {
                let h = [("Content-Type", "application/vnd.oci.image.manifest.v1+json")];
                return Reply::Full(response("200 OK", &h, body));
            }
        }
        Reply::Full(response(
            "404 Not Found",
            &[],
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#,
        ))
    })
    .await;
    let reg = HttpRegistry::new(RegistryOptions {
        plain_http: vec![addr.clone()],
        ..RegistryOptions::default()
    })
    .unwrap();
    let repo: runref::model::reference::Reference = format!("{addr}/r:v1").parse().unwrap();
    let mut d = Discovery::new(&reg, &repo);
    let found = d.of(&subject).await.unwrap();
    assert_eq!(found.via, "referrers-api");
    let types: Vec<&str> = found
        .referrers
        .iter()
        .filter_map(|r| r.artifact_type.as_deref())
        .collect();
    assert_eq!(
        types,
        [
            "application/spdx+json",
            "application/vnd.dev.sigstore.bundle.v0.3+json",
            "application/vnd.in-toto+json"
        ],
        "both pages, in order"
    );
    let under_sbom = &found.referrers[0].referrers;
    assert_eq!(under_sbom.len(), 1, "the loop is cut: {under_sbom:?}");
    assert_eq!(
        under_sbom[0].artifact_type.as_deref(),
        Some("application/vnd.example.signature")
    );
    // 2 pages + 4 referrer manifests + the referrers of each of the 4 + 1 tag list.
    assert_eq!(reg.requests(), 2 + 4 + 4 + 1);
    assert_eq!(
        count.load(Ordering::SeqCst),
        reg.requests(),
        "every request counted"
    );
}

/// `artifactType` is sent to the API (distribution-spec "Listing Referrers": filtering); a
/// registry that applies it says so in `OCI-Filters-Applied`, one that does not is filtered
/// by runref: both give only the asked type, and only the asked type's manifest is read.
#[tokio::test]
async fn an_artifact_type_filter_is_sent_and_applied_either_way() {
    let subject = Digest::of(b"the filtered index");
    let sbom = artifact("application/spdx+json", &subject, "1");
    let bundle = artifact(
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        &subject,
        "2",
    );
    for applies in [true, false] {
        let paths = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = paths.clone();
        let bundle_read = format!("/v2/r/manifests/{}", Digest::of(bundle.as_bytes()));
        let (s, sbom, bundle) = (subject.to_string(), sbom.clone(), bundle.clone());
        let addr = fake_registry::serve(move |req| {
            let p = req.path.clone();
            seen.lock().unwrap().push(p.clone());
            let all = index(&[
                descriptor(&bundle, "application/vnd.dev.sigstore.bundle.v0.3+json"),
                descriptor(&sbom, "application/spdx+json"),
            ]);
            let only = index(&[descriptor(&sbom, "application/spdx+json")]);
            let mut h = vec![("Content-Type", "application/vnd.oci.image.index.v1+json")];
            if p.starts_with(&format!("/v2/r/referrers/{s}")) {
                let filtered = p.contains("artifactType=application%2Fspdx%2Bjson");
                if applies && filtered {
                    h.push(("OCI-Filters-Applied", "artifactType"));
                    return Reply::Full(response("200 OK", &h, &only));
                }
                return Reply::Full(response("200 OK", &h, &all));
            }
            if p.starts_with("/v2/r/referrers/") {
                return Reply::Full(response("200 OK", &h, &index(&[])));
            }
            if p.starts_with("/v2/r/tags/list") {
                return Reply::Full(response("200 OK", &h, r#"{"name":"r","tags":["v1"]}"#));
            }
            for body in [&sbom, &bundle] {
                if p == format!("/v2/r/manifests/{}", Digest::of(body.as_bytes())) {
                    let h = [("Content-Type", "application/vnd.oci.image.manifest.v1+json")];
                    return Reply::Full(response("200 OK", &h, body));
                }
            }
            Reply::Full(response("404 Not Found", &[], "{}"))
        })
        .await;
        let reg = HttpRegistry::new(RegistryOptions {
            plain_http: vec![addr.clone()],
            ..RegistryOptions::default()
        })
        .unwrap();
        let repo: runref::model::reference::Reference = format!("{addr}/r:v1").parse().unwrap();
        let mut d = Discovery::new(&reg, &repo);
        d.filter = Some("application/spdx+json".into());
        let found = d.of(&subject).await.unwrap();
        assert_eq!(
            found.direct_types(),
            ["application/spdx+json"],
            "applied by the registry: {applies}"
        );
        let paths = paths.lock().unwrap();
        assert!(
            paths[0].ends_with("?artifactType=application%2Fspdx%2Bjson"),
            "{paths:?}"
        );
        assert!(!paths.contains(&bundle_read), "{paths:?}");
    }
}
