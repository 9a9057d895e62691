//! Every analyzed.toml shape in testdata/analyzed: it parses, its typed view is right, and a
//! rewrite of `[run-image] reference` changes exactly that one value, byte for byte.

use runref::analyzed::AnalyzedFile;
use std::path::PathBuf;

fn files() -> Vec<PathBuf> {
    let mut v: Vec<_> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/analyzed"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
    v.sort();
    assert!(v.len() >= 9, "fixtures missing: {v:?}");
    v
}

#[test]
fn each_file_has_a_description_line_and_a_run_image() {
    for p in files() {
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("# "),
            "{} must say what it represents",
            p.display()
        );
        let view = AnalyzedFile::load(&p).unwrap().view().unwrap();
        let run = view
            .run_image
            .unwrap_or_else(|| panic!("{}: no [run-image]", p.display()));
        assert!(run.reference.is_some(), "{}", p.display());
    }
}

#[test]
fn rewrite_changes_exactly_one_value() {
    const NEW: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    for p in files() {
        let text = std::fs::read_to_string(&p).unwrap();
        let mut f = AnalyzedFile::load(&p).unwrap();
        let before = f.view().unwrap();
        assert!(f.set_run_image_reference(NEW).unwrap());
        let out = f.render();
        let a: Vec<&str> = text.lines().collect();
        let b: Vec<&str> = out.lines().collect();
        assert_eq!(a.len(), b.len(), "{}: line count changed", p.display());
        let diffs: Vec<_> = a.iter().zip(&b).filter(|(x, y)| x != y).collect();
        assert_eq!(diffs.len(), 1, "{}: {diffs:?}", p.display());
        assert!(diffs[0].1.contains(NEW) && diffs[0].1.trim_start().starts_with("reference"));
        // The typed view differs only in that value.
        let mut after = AnalyzedFile::parse(&p, out.clone())
            .unwrap()
            .view()
            .unwrap();
        assert_eq!(
            after.run_image.as_ref().unwrap().reference.as_deref(),
            Some(NEW)
        );
        after.run_image.as_mut().unwrap().reference =
            before.run_image.as_ref().unwrap().reference.clone();
        assert_eq!(after, before, "{}", p.display());
        // Setting it back restores the original bytes, comments and all.
        let mut back = AnalyzedFile::parse(&p, out).unwrap();
        let orig = before.run_image.unwrap().reference.unwrap();
        back.set_run_image_reference(&orig).unwrap();
        if !text.contains("reference = '") {
            assert_eq!(back.render(), text, "{}", p.display());
        }
    }
}

#[test]
fn shapes_are_read_right() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/analyzed"));
    let v = |n: &str| AnalyzedFile::load(&dir.join(n)).unwrap().view().unwrap();
    let d = v("api-0.12-daemon.toml");
    let r = d.run_image.unwrap();
    assert_eq!(
        r.target.unwrap().platform().unwrap().to_string(),
        "linux/arm64"
    );
    assert_eq!(r.image.as_deref(), Some("localhost:5000/run:jammy"));
    let e = v("api-0.13-extend.toml");
    assert!(e.run_image.unwrap().extend);
    assert_eq!(e.metadata_run_image.unwrap().mirrors.len(), 2);
    let l = v("large-metadata.toml");
    assert!(l
        .metadata_run_image
        .unwrap()
        .top_layer
        .unwrap()
        .starts_with("sha256:9090"));
    // Platform API 0.15: `arch-variant` read (arm64/v8 normalises to arm64, as containerd).
    let n = v("api-0.15-build-image.toml");
    let r = n.run_image.unwrap();
    let t = r.target.unwrap();
    assert_eq!(t.arch_variant.as_deref(), Some("v8"));
    assert_eq!(t.platform().unwrap().to_string(), "linux/arm64");
    assert_eq!(
        r.image.as_deref(),
        Some("registry.example.com/base/run:noble")
    );
    let m = v("api-0.14-mirrors.toml");
    assert_eq!(
        m.run_image.unwrap().target.unwrap().id.as_deref(),
        Some("io.buildpacks.stacks.jammy")
    );
}

/// A reader that goes away (`runref ... | head -0`): the output ends quietly, no panic, and the
/// command's own exit code stays.
#[test]
fn a_closed_stdout_ends_quietly() {
    let (_d, path) = crate::support::analyzed_file(
        "[run-image]\n  reference = \"127.0.0.1:1/run@sha256:2222222222222222222222222222222222222222222222222222222222222222\"\n",
    );
    for format in ["text", "json"] {
        let mut child = std::process::Command::new(crate::support::runref_bin())
            .args([
                "reconcile",
                path.to_str().unwrap(),
                "--pull-policy",
                "never",
            ])
            .args(["--platform", "linux/arm64", "--dry-run", "--format", format])
            .env_remove("CNB_USE_DAEMON")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before runref writes
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{format}: {err}");
        assert!(!err.contains("Broken pipe"), "{format}: {err}");
        assert_eq!(o.status.code(), Some(0), "{format}: {err}");
    }
}
