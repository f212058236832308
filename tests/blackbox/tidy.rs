//! The layers of ARCHITECTURE.md, enforced: which folders of `src/` may name which others,
//! and that only `cli/` writes to the terminal. Read from the source, so a new `use` that
//! breaks a rule fails here with its file and line.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Each folder of `src/` and the modules of the crate it must not name.
const RULES: &[(&str, &[&str])] = &[
    // The scenario language and the assertions are the parse stage: they know nothing of
    // what runs them, of the reference server, of the load generator or of snapshots.
    (
        "scenario",
        &[
            "runner", "server", "load", "snapshot", "client", "report", "cli", "mutate",
        ],
    ),
    (
        "assert",
        &[
            "runner", "server", "load", "snapshot", "client", "report", "cli",
        ],
    ),
    // The reference server stands alone: it knows nothing of the harness that tests it.
    (
        "server",
        &[
            "scenario", "assert", "runner", "load", "snapshot", "client", "report", "cli",
            "mutate", "coverage",
        ],
    ),
];

/// What writes to the terminal; only `cli/` (and `main.rs`, which only calls it) may.
const PRINTS: &[&str] = &[
    "println!",
    "eprintln!",
    "print!(",
    "eprint!(",
    "ProgressDrawTarget",
    "io::stdout()",
    "io::stderr()",
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// `file:line: text` for every line of `files` that `bad` says breaks a rule (comments
/// are not code).
fn offending(files: &[PathBuf], bad: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).expect("source");
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if bad(code) {
                let rel = f.strip_prefix(ROOT).unwrap_or(f);
                found.push(format!("{}:{}: {}", rel.display(), i + 1, code));
            }
        }
    }
    found
}

/// Whether `code` names module `m` of the crate (`crate::m::…`, `crate::m;`, `use crate::{m, …}`).
fn names(code: &str, m: &str) -> bool {
    let direct = [
        format!("crate::{m}::"),
        format!("crate::{m};"),
        format!("crate::{m}}}"),
    ];
    if direct.iter().any(|d| code.contains(d.as_str())) {
        return true;
    }
    // A grouped import: `use crate::{a, m::b};`
    code.split("crate::{").skip(1).any(|group| {
        group
            .split(['}', ','])
            .map(str::trim)
            .any(|item| item == m || item.starts_with(&format!("{m}::")))
    })
}

#[test]
fn each_layer_names_only_the_layers_below_it() {
    let mut broken = Vec::new();
    for (folder, forbidden) in RULES {
        let files = rust_files(&Path::new(ROOT).join("src").join(folder));
        assert!(!files.is_empty(), "src/{folder} has no Rust files");
        for m in *forbidden {
            for line in offending(&files, |code| names(code, m)) {
                broken.push(format!("src/{folder} must not name `{m}`: {line}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}

/// Within `runner/`, files name one another without a cycle (`mod.rs`, which declares
/// them all, aside): each can be read knowing only those below it.
#[test]
fn runner_files_import_one_another_without_a_cycle() {
    let dir = Path::new(ROOT).join("src/runner");
    let files: Vec<PathBuf> = rust_files(&dir)
        .into_iter()
        .filter(|f| f.parent() == Some(dir.as_path()) && !f.ends_with("mod.rs"))
        .collect();
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    // Edges: the runner modules each file names (`crate::runner::m`, `super::m`).
    let edges: Vec<Vec<usize>> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let text = std::fs::read_to_string(f).expect("source");
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            names
                .iter()
                .enumerate()
                .filter(|(j, m)| {
                    *j != i
                        && (code.contains(&format!("crate::runner::{m}::"))
                            || code.contains(&format!("crate::runner::{m};"))
                            || code.contains(&format!("crate::runner::{m}}}"))
                            || code.contains(&format!("super::{m}::")))
                })
                .map(|(j, _)| j)
                .collect()
        })
        .collect();
    // Depth-first search for a back edge; the path of the first cycle found.
    fn visit(
        n: usize,
        edges: &[Vec<usize>],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[n] = 1;
        path.push(n);
        for &m in &edges[n] {
            if state[m] == 1 {
                let from = path.iter().position(|&p| p == m).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(m);
                return Some(cycle);
            }
            if state[m] == 0 {
                if let Some(c) = visit(m, edges, state, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        state[n] = 2;
        None
    }
    let mut state = vec![0u8; files.len()];
    for n in 0..files.len() {
        if state[n] == 0 {
            if let Some(cycle) = visit(n, &edges, &mut state, &mut Vec::new()) {
                let names: Vec<&str> = cycle.iter().map(|&i| names[i].as_str()).collect();
                panic!("runner/ imports in a cycle: {}", names.join(" → "));
            }
        }
    }
}

#[test]
fn only_cli_writes_to_the_terminal() {
    let src = Path::new(ROOT).join("src");
    let files: Vec<PathBuf> = rust_files(&src)
        .into_iter()
        .filter(|f| !f.starts_with(src.join("cli")) && !f.ends_with("main.rs"))
        .collect();
    let found = offending(&files, |code| PRINTS.iter().any(|p| code.contains(p)));
    assert!(
        found.is_empty(),
        "only src/cli/ writes to the terminal:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_rule_reader_sees_every_form_of_import() {
    assert!(names("use crate::server::store::Token;", "server"));
    assert!(names("let t = crate::server::token::x();", "server"));
    assert!(names(
        "use crate::{clock::Clock, server::AppState};",
        "server"
    ));
    assert!(names("use crate::{server, clock};", "server"));
    assert!(!names("use crate::serverless::X;", "server"));
    assert!(!names("use crate::oauth::s256;", "server"));
}
