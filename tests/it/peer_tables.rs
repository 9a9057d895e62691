//! The reference implementations' own test tables, transcribed as data (testdata/peers/, each
//! file names its repository, commit and test function), run against runref's `reference` and
//! `platform` modules. A case runref decides differently fails here.

use runref::model::digest::ImageId;
use runref::model::platform::Platform;
use runref::model::reference::{is_valid_registry_host, Reference};
use serde_json::Value;

fn table(file: &str) -> Value {
    let path = format!("{}/testdata/peers/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn cases<'a>(t: &'a Value, name: &str) -> &'a Vec<Value> {
    t[name]["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("table {name}"))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn opt(v: &Value) -> Option<&str> {
    v.as_str().filter(|x| !x.is_empty())
}

/// Collects every disagreement, so one run lists them all.
#[derive(Default)]
struct Check {
    cases: usize,
    failures: Vec<String>,
}

impl Check {
    fn case(&mut self, table: &str, input: &str, ok: bool, detail: impl FnOnce() -> String) {
        self.cases += 1;
        if !ok {
            self.failures
                .push(format!("{table} {input:?}: {}", detail()));
        }
    }

    fn finish(self, min_cases: usize) {
        assert!(
            self.failures.is_empty(),
            "{} of {} cases disagree:\n{}",
            self.failures.len(),
            self.cases,
            self.failures.join("\n")
        );
        assert!(self.cases >= min_cases, "only {} cases ran", self.cases);
    }
}

fn parse(input: &str) -> Result<Reference, String> {
    input.parse::<Reference>().map_err(|e| e.to_string())
}

#[test]
fn distribution_reference_tables() {
    let t = table("distribution-reference.json");
    let mut c = Check::default();

    // Parse: domain there is the raw regexp split (`a/b` has domain `a`); runref splits as
    // ParseNormalizedNamed does, so the name as written, tag, digest and failure are compared.
    for case in cases(&t, "reference_parse") {
        let input = s(&case["input"]);
        let got = parse(input);
        let want_err = !case["err"].is_null();
        match (&got, want_err) {
            (Err(_), true) => c.case("reference_parse", input, true, String::new),
            (Ok(_), true) => c.case("reference_parse", input, false, || {
                format!("accepted, want {}", case["err"])
            }),
            (Err(e), false) => c.case("reference_parse", input, false, || e.clone()),
            (Ok(r), false) => c.case(
                "reference_parse",
                input,
                r.name() == s(&case["repository"])
                    && r.tag() == opt(&case["tag"])
                    && r.digest().map(|d| d.to_string()).as_deref() == opt(&case["digest"]),
                || {
                    format!(
                        "got name {} tag {:?} digest {:?}",
                        r.name(),
                        r.tag(),
                        r.digest()
                    )
                },
            ),
        }
    }

    for (name, valid) in [
        ("valid_reference_names", true),
        ("invalid_reference_names", false),
        ("valid_remote_names", true),
        ("invalid_remote_names", false),
    ] {
        for case in cases(&t, name) {
            let input = s(case);
            let got = parse(input);
            c.case(name, input, got.is_ok() == valid, || format!("{got:?}"));
        }
    }

    for case in cases(&t, "repository_info") {
        for key in ["FamiliarName", "FullName", "AmbiguousName"] {
            let input = s(&case[key]);
            if input.is_empty() {
                continue;
            }
            match parse(input) {
                Ok(r) => c.case(
                    "repository_info",
                    input,
                    {
                        r.familiar_name() == s(&case["FamiliarName"])
                            && r.canonical_name() == s(&case["FullName"])
                            && r.registry() == s(&case["Domain"])
                            && r.repository() == s(&case["RemoteName"])
                    },
                    || {
                        format!(
                            "familiar {} full {} domain {} path {}",
                            r.familiar_name(),
                            r.canonical_name(),
                            r.registry(),
                            r.repository()
                        )
                    },
                ),
                Err(e) => c.case("repository_info", input, false, || e),
            }
        }
    }

    for case in cases(&t, "split_hostname") {
        let input = s(&case["input"]);
        match parse(input) {
            Ok(r) => c.case(
                "split_hostname",
                input,
                r.registry() == s(&case["domain"]) && r.repository() == s(&case["path"]),
                || format!("{} {}", r.registry(), r.repository()),
            ),
            Err(e) => c.case("split_hostname", input, false, || e),
        }
    }

    for case in cases(&t, "docker_ref") {
        let input = s(&case["input"]);
        match parse(input) {
            Ok(r) => c.case(
                "docker_ref",
                input,
                r.canonical() == s(&case["expected"]),
                || r.canonical(),
            ),
            Err(e) => c.case("docker_ref", input, false, || e),
        }
    }

    for case in cases(&t, "domain_regexp") {
        let input = s(&case["input"]);
        let want = case["match"].as_bool().unwrap();
        c.case(
            "domain_regexp",
            input,
            is_valid_registry_host(input) == want,
            || format!("want match={want}"),
        );
    }

    // The name regexp: a match is a name with neither tag nor digest; the regexp's
    // [domain, path] joined is the name as written. The regexp has no length limit (Parse
    // applies it after), so a name refused only for its length matched the grammar.
    for case in cases(&t, "full_name_regexp") {
        let input = s(&case["input"]);
        let want = case["match"].as_bool().unwrap();
        let got = match parse(input) {
            Err(e) if e.contains("at most 255") => Some(input.to_string()),
            Err(_) => None,
            Ok(r) => Some(r)
                .filter(|r| r.tag().is_none() && r.digest().is_none())
                .map(|r| r.name()),
        };
        let joined = case["subs"].as_array().map(|subs| {
            let (d, p) = (s(&subs[0]), s(&subs[1]));
            if d.is_empty() {
                p.to_string()
            } else {
                format!("{d}/{p}")
            }
        });
        let ok = match (&got, want) {
            (Some(name), true) => joined.is_none_or(|j| *name == j),
            (None, false) => true,
            _ => false,
        };
        c.case("full_name_regexp", input, ok, || {
            format!("want match={want}, got {got:?}")
        });
    }

    for case in cases(&t, "reference_regexp") {
        let input = s(&case["input"]);
        let want = case["match"].as_bool().unwrap();
        let got = parse(input);
        let ok = match (&got, want) {
            (Ok(r), true) => {
                let subs = &case["subs"];
                r.name() == s(&subs[0])
                    && r.tag() == opt(&subs[1])
                    && r.digest().map(|d| d.to_string()).as_deref() == opt(&subs[2])
            }
            (Err(_), false) => true,
            _ => false,
        };
        c.case("reference_regexp", input, ok, || {
            format!("want match={want}, got {got:?}")
        });
    }

    // The identifier regexp is a bare 64-hex ID; runref also takes the `sha256:` form.
    for case in cases(&t, "identifier_regexp") {
        let input = s(&case["input"]);
        let want = case["match"].as_bool().unwrap();
        let got = ImageId::looks_like(input) && !input.starts_with("sha256:");
        c.case("identifier_regexp", input, got == want, || {
            format!("want {want}")
        });
    }

    c.finish(262);
}

fn peer_platform(v: &Value) -> Platform {
    let host = Platform::host();
    let field = |k: &str| match s(&v[k]) {
        "<host-os>" => host.os().to_string(),
        "<host-arch>" => host.arch().to_string(),
        x => x.to_string(),
    };
    let variant = field("Variant");
    Platform::new(
        &field("OS"),
        &field("Architecture"),
        Some(&variant).filter(|v| !v.is_empty()).map(|v| v.as_str()),
    )
}

#[test]
fn containerd_platforms_tables() {
    let t = table("containerd-platforms.json");
    let host = Platform::host();
    let mut c = Check::default();
    let mut skipped = 0;
    for case in cases(&t, "parse_selector") {
        // `os(version+features)` selectors: runref platforms are os/arch/variant only (spec-notes).
        if case["v2_format"].as_bool() == Some(true) {
            skipped += 1;
            continue;
        }
        let input = s(&case["input"]);
        let got = match input.parse::<Platform>() {
            Ok(p) => p,
            Err(e) => {
                c.case("parse_selector", input, false, || e.to_string());
                continue;
            }
        };
        let want = peer_platform(&case["expected"]);
        c.case("parse_selector", input, got == want, || {
            format!("got {got}, want {want}")
        });
        for m in case["matches"].as_array().unwrap() {
            let m = peer_platform(m);
            c.case("parse_selector matches", input, got.matches(&m), || {
                format!("{got} vs {m}")
            });
        }
        let formatted = s(&case["formatted"])
            .replace("<host-os>", host.os())
            .replace("<host-arch>", host.arch());
        let again = formatted.parse::<Platform>();
        c.case(
            "parse_selector formatted",
            input,
            again.as_ref() == Ok(&got),
            || format!("{formatted} parses as {again:?}"),
        );
    }
    for case in cases(&t, "parse_selector_invalid") {
        let input = s(case);
        let got = input.parse::<Platform>();
        c.case("parse_selector_invalid", input, got.is_err(), || {
            format!("{got:?}")
        });
    }
    assert_eq!(skipped, 9, "the os(version+features) cases left out");
    c.finish(40);
}

/// containerd's Windows matcher and comparer, regclient's Windows compare rows: which image
/// build a wanted `os.version` accepts, and which of several it prefers.
#[test]
fn windows_os_version_tables() {
    let t = table("windows-platforms.json");
    let mut c = Check::default();
    let p = |v: &Value| s(v).parse::<Platform>().unwrap();
    for case in cases(&t, "host_compat") {
        let (host, ctr) = (s(&case["host"]), s(&case["ctr"]));
        let got = runref::model::platform::windows_compatible(host, ctr);
        let want = case["run"].as_bool().unwrap();
        c.case("host_compat", s(&case["name"]), got == want, || {
            format!("{host} runs {ctr}: got {got}")
        });
    }
    for case in cases(&t, "match") {
        let (want, cand) = (p(&case["want"]), p(&case["candidate"]));
        let got = want.matches(&cand);
        c.case(
            "match",
            s(&case["name"]),
            got == case["match"].as_bool().unwrap(),
            || format!("{want} vs {cand}: got {got}"),
        );
    }
    for case in cases(&t, "order") {
        let want = p(&case["want"]);
        let mut cands: Vec<Platform> = case["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(p)
            .collect();
        // containerd's comparer: matches first, the better (higher os.version) first.
        cands.sort_by(|a, b| {
            use std::cmp::Ordering;
            match (want.matches(a), want.matches(b)) {
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                (true, true) if Platform::better(a, b) => Ordering::Less,
                (true, true) if Platform::better(b, a) => Ordering::Greater,
                _ => Ordering::Equal,
            }
        });
        let got: Vec<String> = cands.iter().map(Platform::to_string).collect();
        if let Some(sorted) = case["sorted"].as_array() {
            let expect: Vec<&str> = sorted.iter().map(s).collect();
            c.case("order", s(&case["name"]), got == expect, || {
                format!("{got:?}")
            });
        }
        if let Some(first) = case.get("first") {
            c.case("order", s(&case["name"]), got[0] == s(first), || {
                format!("{got:?}")
            });
        }
    }
    c.finish(32);
}
