//! Docker contexts as the docker CLI makes and resolves them (issue 23): contexts created with
//! the real docker CLI (28.5) pointing at each engine of the matrix; runref reaches the engine
//! through `docker context use`, `DOCKER_CONTEXT` and `--context`, and DOCKER_HOST wins over
//! a context as in the CLI.

use crate::support::engines::ENGINES;
use crate::support::fixture::{docker_archive, unique, ImageSpec};
use crate::support::*;

fn docker_cli(config: &std::path::Path, args: &[&str]) {
    let env = Env::get();
    let o = std::process::Command::new(&env.docker_cli)
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .args(args)
        .output()
        .expect("the docker CLI runs");
    assert!(
        o.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn docker_contexts_reach_every_engine() {
    let env = Env::get();
    let config = tempfile::tempdir().unwrap();
    let cfg = config.path().to_str().unwrap();
    docker_cli(
        config.path(),
        &[
            "context",
            "create",
            "nowhere",
            "--docker",
            "host=unix:///nonexistent/docker.sock",
        ],
    );
    for (i, engine) in ENGINES.iter().enumerate() {
        let host = engine.host(env);
        let what = engine.name;
        let name = format!("ctx-{i}");
        docker_cli(
            config.path(),
            &[
                "context",
                "create",
                &name,
                "--docker",
                &format!("host={host}"),
            ],
        );
        let image = format!("{}/{}:1.0", env.registry, unique("ctx"));
        let (archive, _) = docker_archive(&ImageSpec::new("linux/amd64"), &unique("c"), &[&image]);
        load(&connect(host), archive);
        let inspect = |envs: &[(&str, &str)], extra: &[&str]| {
            let mut args = vec!["inspect", image.as_str(), "--format", "json"];
            args.extend_from_slice(extra);
            let mut all = vec![("DOCKER_CONFIG", cfg), ("DOCKER_HOST", "")];
            all.extend_from_slice(envs);
            let o = runref_with("", &all, &args);
            (o.status.code(), json_of(&o))
        };
        // `docker context use`: the config's currentContext.
        docker_cli(config.path(), &["context", "use", &name]);
        let (code, j) = inspect(&[], &[]);
        assert_eq!(code, Some(0), "{what}: {j}");
        assert_eq!(j["docker_context"], name.as_str(), "{what}: {j}");
        assert_eq!(j["daemon"]["store"], engine.store, "{what}: {j}");
        // DOCKER_CONTEXT beats the config; --context beats DOCKER_CONTEXT and DOCKER_HOST.
        docker_cli(config.path(), &["context", "use", "nowhere"]);
        let (code, j) = inspect(&[("DOCKER_CONTEXT", &name)], &[]);
        assert_eq!(
            (code, &j["docker_context"]),
            (Some(0), &name.as_str().into()),
            "{what}: {j}"
        );
        let (code, j) = inspect(
            &[("DOCKER_HOST", "unix:///nonexistent.sock")],
            &["--context", &name],
        );
        assert_eq!(
            (code, &j["docker_context"]),
            (Some(0), &name.as_str().into()),
            "{what}: {j}"
        );
        // DOCKER_HOST beats DOCKER_CONTEXT and the config, as in the CLI.
        let (code, j) = inspect(&[("DOCKER_HOST", host), ("DOCKER_CONTEXT", "nowhere")], &[]);
        assert_eq!(code, Some(0), "{what}: {j}");
        assert!(j["docker_context"].is_null(), "{what}: {j}");
        assert_eq!(j["daemon"]["store"], engine.store, "{what}: {j}");
    }
    // A context that does not exist is an error naming it, not the default socket.
    let (_d, path) = analyzed_file("[run-image]\n  reference = \"run:1\"\n");
    let o = runref_with(
        "",
        &[("DOCKER_CONFIG", cfg), ("DOCKER_HOST", "")],
        &[
            "reconcile",
            path.to_str().unwrap(),
            "--daemon",
            "--context",
            "typo",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("\"typo\" not found"), "{}", stderr(&o));
    // --docker-host with --context: a conflict, as in the CLI.
    let o = runref_with(
        "",
        &[("DOCKER_CONFIG", cfg)],
        &[
            "reconcile",
            path.to_str().unwrap(),
            "--daemon",
            "--context",
            "ctx-0",
            "--docker-host",
            "unix:///x.sock",
        ],
    );
    assert!(stderr(&o).contains("conflict"), "{}", stderr(&o));
}
