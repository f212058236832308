//! The deployment files: the Dockerfile's shape (multi-stage, a slim runtime, a non-root
//! user, the binary with the suite and its fixtures), checked here where no Docker engine
//! runs; `deploy/docker-smoke.sh` builds and runs the image where one does.

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect(path)
}

#[test]
fn the_dockerfile_builds_in_one_stage_and_runs_slim_as_a_user_in_another() {
    let text = read("Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    assert!(
        lines[froms[0]].ends_with(" AS build"),
        "{}",
        lines[froms[0]]
    );
    assert!(lines[froms[1]].contains("-slim"), "{}", lines[froms[1]]);
    let runtime = &lines[froms[1]..];
    let has = |prefix: &str| runtime.iter().any(|l| l.starts_with(prefix));
    assert!(has(
        "COPY --from=build /out/oauth-harness /usr/local/bin/oauth-harness"
    ));
    assert!(has("COPY scenarios ") && has("COPY fixtures "));
    let user = runtime
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER in the runtime stage");
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "USER {user}"
    );
    assert_eq!(runtime.last().copied(), Some("CMD [\"run\"]"));
    assert!(has("ENTRYPOINT [\"oauth-harness\"]"));
    assert!(text.contains("cargo build --release --locked"));
    // The build context leaves out what is built or written here.
    let ignore = read(".dockerignore");
    for p in ["target/", "reports/", ".git/"] {
        assert!(ignore.lines().any(|l| l == p), "{p} not in .dockerignore");
    }
}
