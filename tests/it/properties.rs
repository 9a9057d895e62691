//! Property tests on stable (the fuzz targets in tests/fuzz check the same with cargo fuzz):
//! references and platforms round-trip, and rewriting analyzed.toml changes only the value,
//! whatever the surrounding text, line endings or BOM.

use proptest::prelude::*;
use runref::analyzed::AnalyzedFile;
use runref::model::platform::Platform;
use runref::model::reference::Reference;
use std::path::Path;

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,8}(([._]|__|-{1,3})[a-z0-9]{1,8}){0,2}"
}

fn domain() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("docker.io".to_string())),
        Just(Some("index.docker.io".to_string())),
        Just(Some("localhost:5000".to_string())),
        "[a-z][a-z0-9-]{0,8}[a-z0-9]\\.[a-z]{2,5}(:[0-9]{1,5})?".prop_map(Some),
        Just(Some("[::1]:5000".to_string())),
    ]
}

prop_compose! {
    fn reference()(
        domain in domain(),
        path in prop::collection::vec(component(), 1..4),
        tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        digest in proptest::option::of("[0-9a-f]{64}"),
    ) -> String {
        // Without a registry, a first component holding '.' is a registry host by the grammar.
        let mut path = path;
        if domain.is_none() {
            path[0] = path[0].replace('.', "-");
        }
        let mut s = domain.map(|d| format!("{d}/")).unwrap_or_default();
        s.push_str(&path.join("/"));
        if let Some(t) = tag { s.push(':'); s.push_str(&t); }
        if let Some(d) = digest { s.push_str("@sha256:"); s.push_str(&d); }
        s
    }
}

proptest! {
    #[test]
    fn references_round_trip(s in reference()) {
        // A 64-hex one-component name is an ID, not a name: skip that corner.
        prop_assume!(!runref::model::digest::ImageId::looks_like(&s));
        let r: Reference = s.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(r.to_string(), s.clone());
        let again: Reference = r.canonical().parse().unwrap();
        prop_assert!(again.same_repository(&r));
        prop_assert_eq!(again.canonical(), r.canonical());
        // Every Docker Hub spelling has the familiar name the Engine's filter matches.
        if r.is_docker_hub() {
            prop_assert!(!r.familiar_name().starts_with("docker.io/"));
        }
    }

    #[test]
    fn platforms_normalise_idempotently(
        os in prop_oneof![Just("linux"), Just("Linux"), Just("windows"), Just("darwin"), Just("macOS")],
        arch in prop_oneof![Just("amd64"), Just("x86_64"), Just("aarch64"), Just("arm64"), Just("arm"),
                            Just("armhf"), Just("armel"), Just("i386"), Just("ppc64le"), Just("s390x")],
        variant in proptest::option::of(prop_oneof![Just("v5"), Just("v6"), Just("v7"), Just("v8"),
                                                    Just("8"), Just("9"), Just("v9.0"), Just("v1")]),
    ) {
        let p = Platform::new(os, arch, variant);
        let again: Platform = p.to_string().parse().unwrap();
        prop_assert_eq!(&again, &p);
        prop_assert_eq!(Platform::new(again.os(), again.arch(), again.variant()), p);
    }

    #[test]
    fn rewriting_changes_only_the_value(
        before in prop::collection::vec("[ a-z#=\"0-9._-]{0,30}", 0..4),
        after in prop::collection::vec("[ a-z#=\"0-9._-]{0,30}", 0..4),
        old in "[a-z0-9./:@-]{1,60}",
        comment in proptest::option::of("[ a-z0-9]{0,20}"),
        crlf in any::<bool>(),
        bom in any::<bool>(),
        indent in "[ \t]{0,4}",
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        // Arbitrary lines become comments, so the document stays TOML.
        let lines = |v: &[String]| v.iter().map(|l| format!("#{l}{nl}")).collect::<String>();
        let comment = comment.map(|c| format!(" #{c}")).unwrap_or_default();
        let text = format!(
            "{}{}[run-image]{nl}{indent}reference = \"{old}\"{comment}{nl}{}[metadata]{nl}",
            if bom { "\u{feff}" } else { "" },
            lines(&before),
            lines(&after),
        );
        let new = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let mut f = AnalyzedFile::parse(Path::new("a.toml"), text.clone()).unwrap();
        let changed = f.set_run_image_reference(new).unwrap();
        prop_assert_eq!(changed, old != new);
        // Only the value's own bytes change (a comment line may hold the same text).
        let at = text.find(&format!("reference = \"{old}\"")).unwrap() + "reference = ".len();
        let want = format!("{}\"{new}\"{}", &text[..at], &text[at + old.len() + 2..]);
        prop_assert_eq!(f.render(), want);
    }
}
