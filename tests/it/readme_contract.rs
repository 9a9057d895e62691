//! The JSON field lists in README are a contract: each command's report, as the binary prints
//! it, has exactly the fields README names (nested objects and arrays of objects too), so a
//! renamed or added field fails here until README says so (issue 18, item 4).

use crate::support::fixture::{push_new, unique, IndexSpec};
use crate::support::*;
use std::collections::BTreeSet;

/// One documented field: its name and, for an object or an array of objects, its fields.
#[derive(Debug)]
struct Field {
    name: String,
    fields: Option<Spec>,
}

/// A documented object: its fields, and whether `...` allows others.
#[derive(Debug, Default)]
struct Spec {
    fields: Vec<Field>,
    open: bool,
}

/// Parses `a, b{c, d}, e[{f, ...}] (a comment), g` from README.
fn parse(text: &str) -> Spec {
    fn list(chars: &[char], i: &mut usize) -> Spec {
        let mut spec = Spec::default();
        loop {
            while *i < chars.len() && (chars[*i].is_whitespace() || chars[*i] == ',') {
                *i += 1;
            }
            if *i >= chars.len() || chars[*i] == '}' {
                return spec;
            }
            let start = *i;
            while *i < chars.len() && (chars[*i].is_alphanumeric() || "_.".contains(chars[*i])) {
                *i += 1;
            }
            let name: String = chars[start..*i].iter().collect();
            if name == "..." {
                spec.open = true;
                continue;
            }
            assert!(
                !name.is_empty(),
                "README field list: unexpected {:?}",
                chars[*i]
            );
            let mut fields = None;
            if chars.get(*i) == Some(&'{') {
                *i += 1;
                fields = Some(list(chars, i));
                *i += 1;
            } else if chars.get(*i) == Some(&'[') && chars.get(*i + 1) == Some(&'{') {
                *i += 2;
                fields = Some(list(chars, i));
                *i += 2;
            }
            // A comment: `(...)`, nested parentheses allowed.
            while *i < chars.len() && chars[*i] == ' ' {
                *i += 1;
            }
            if chars.get(*i) == Some(&'(') {
                let mut depth = 0;
                while *i < chars.len() {
                    match chars[*i] {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    *i += 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
            spec.fields.push(Field { name, fields });
        }
    }
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    list(&chars, &mut i)
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The backticked span that follows `anchor` in README.
fn span_after(anchor: &str) -> String {
    let text = readme();
    let at = text
        .find(anchor)
        .unwrap_or_else(|| panic!("README has no {anchor:?}"))
        + anchor.len();
    let rest = &text[at..];
    let open = rest.find('`').unwrap() + 1;
    let close = open + rest[open..].find('`').unwrap();
    rest[open..close].replace('\n', " ")
}

/// The backticked span of README that starts with `prefix`.
fn span_starting(prefix: &str) -> String {
    let text = readme();
    let at = text
        .find(&format!("`{prefix}"))
        .unwrap_or_else(|| panic!("README has no `{prefix}"))
        + 1;
    let close = at + text[at..].find('`').unwrap();
    text[at..close].replace('\n', " ")
}

/// reconcile's table: the backticked names of each row's first column.
fn reconcile_spec() -> Spec {
    let text = readme();
    let start = text.find("### reconcile JSON").unwrap();
    let end = start + text[start..].find("Errors before a decision").unwrap();
    let mut spec = Spec::default();
    for row in text[start..end].lines().filter(|l| l.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap();
        for name in first.split('`').skip(1).step_by(2) {
            spec.fields.push(Field {
                name: name.to_string(),
                fields: None,
            });
        }
    }
    spec
}

/// Differences between `v` and `spec` at `path`, recursively.
fn compare(v: &serde_json::Value, spec: &Spec, path: &str, out: &mut Vec<String>) {
    let Some(obj) = v.as_object() else {
        return;
    };
    let have: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = spec.fields.iter().map(|f| f.name.as_str()).collect();
    for missing in want.difference(&have) {
        out.push(format!("{path}{missing}: in README, not in the JSON"));
    }
    if !spec.open {
        for extra in have.difference(&want) {
            out.push(format!("{path}{extra}: in the JSON, not in README"));
        }
    }
    for f in &spec.fields {
        let (Some(sub), Some(value)) = (&f.fields, obj.get(&f.name)) else {
            continue;
        };
        match value {
            serde_json::Value::Array(items) => {
                for item in items {
                    compare(item, sub, &format!("{path}{}[].", f.name), out);
                }
            }
            other => compare(other, sub, &format!("{path}{}.", f.name), out),
        }
    }
}

fn check(command: &str, j: &serde_json::Value, spec: &Spec) {
    let mut out = Vec::new();
    compare(j, spec, "", &mut out);
    assert!(
        out.is_empty(),
        "{command} JSON and README disagree:\n  {}\n{j}",
        out.join("\n  ")
    );
}

#[test]
fn every_reports_fields_are_the_ones_readme_lists() {
    let env = Env::get();
    let (src, built) = push_new(
        "contract",
        IndexSpec::new("contract", &["linux/amd64", "linux/arm64"]).with_attestations(),
    );
    let arm = built.image("linux/arm64");
    let docker = &env.docker_host;

    crate::e2e_referrers::attach(
        &format!("{src}@{}", built.index_digest),
        "application/spdx+json",
        true,
    );
    // In the daemon too, so its side and the link are checked.
    pull(&connect(docker), &format!("{src}:v1"), "linux/arm64");
    let (_, j) = runref_json(
        docker,
        &["inspect", &format!("{src}:v1"), "--platform", "linux/arm64"],
    );
    assert!(j["daemon"].is_object() && j["link"].is_object(), "{j}");
    check("inspect", &j, &parse(&span_after("`inspect` = ")));
    assert!(!j["referrers"].as_array().unwrap().is_empty(), "{j}");
    let referrers = parse(&span_starting("referrers[{subject"));
    check(
        "inspect's referrers",
        &serde_json::json!({"referrers": j["referrers"]}),
        &referrers,
    );
    let (_, j) = runref_json(
        docker,
        &[
            "verify",
            &format!("{src}:v1"),
            "--platforms",
            "linux/amd64,linux/arm64",
            "--content",
        ],
    );
    check("verify", &j, &parse(&span_after("`verify` = ")));

    let (_dir, path) = analyzed_file(&format!(
        "[run-image]\n  reference = \"{src}@{}\"\n",
        arm.manifest_digest
    ));
    let p = path.to_str().unwrap();
    let (_, j) = runref_json(
        docker,
        &["reconcile", "--dry-run", "--platform", "linux/arm64", p],
    );
    check("reconcile", &j, &reconcile_spec());
    let (_, j) = runref_json(docker, &["diagnose", "--platform", "linux/arm64", p]);
    check("diagnose", &j, &parse(&span_after("`diagnose` =")));

    let publish = parse(&span_starting("command, target, digest"));
    let mirror = format!("{}/{}", env.registry, unique("contract-copy"));
    let (_, j) = runref_json(
        docker,
        &["copy", &format!("{src}:v1"), &format!("{mirror}:v1")],
    );
    check("copy", &j, &publish);
    let (_, j) = runref_json(
        docker,
        &[
            "index",
            "create",
            &format!("{mirror}:arm"),
            &format!("{src}:v1"),
            "--platforms",
            "linux/arm64",
        ],
    );
    check("index create", &j, &publish);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.toml");
    std::fs::write(
        &file,
        format!("[[image]]\nsource = \"{src}\"\ntags = [\"v1\"]\ntarget = \"{mirror}\"\n"),
    )
    .unwrap();
    let (_, j) = runref_json(docker, &["sync", file.to_str().unwrap()]);
    let sync = parse(&span_starting("command, file, shard"));
    check("sync", &j, &sync);
}
