//! Malformed scenario files: the corpus in `fixtures/bad-scenarios/` (each a clear error
//! naming file, line and column; exit 2; nothing run), and property tests that throw
//! arbitrary text and arbitrary YAML values at the loader (never a panic).

use oauth_harness::scenario::load_str;
use proptest::prelude::*;
use std::path::Path;
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bad-scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = format!(
                "fixtures/bad-scenarios/{}",
                p.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            );
            (name, std::fs::read(&p).expect("read"))
        })
        .collect()
}

#[test]
fn every_bad_scenario_is_refused_with_file_line_and_column() {
    let files = corpus();
    assert!(files.len() >= 30, "{} files", files.len());
    let at =
        regex::Regex::new(r"^fixtures/bad-scenarios/[0-9a-z-]+\.yaml:\d+:\d+: \S").expect("re");
    let mut out = String::new();
    for (name, bytes) in &files {
        let message = match String::from_utf8(bytes.clone()) {
            Ok(text) => match load_str(Arc::from(name.as_str()), text) {
                Ok(_) => panic!("{name} was accepted"),
                Err(e) => e.to_string(),
            },
            // Not UTF-8: the CLI's reader refuses it (checked below through the binary).
            Err(_) => continue,
        };
        assert!(at.is_match(&message), "{message}");
        out.push_str(&message);
        out.push('\n');
    }
    insta::assert_snapshot!("bad_scenarios", out);
}

#[test]
fn the_cli_refuses_the_whole_corpus_with_exit_2_and_runs_nothing() {
    let out = std::process::Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("INSTA_UPDATE", "no")
        .args(["run", "fixtures/bad-scenarios", "--report-dir"])
        .arg(tempfile::tempdir().expect("tempdir").path())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let n = corpus().len();
    assert_eq!(
        stderr.matches("error: fixtures/bad-scenarios/").count(),
        n,
        "{stderr}"
    );
    assert!(stderr.contains(&format!(
        "{n} scenario file(s) could not be used; nothing was run."
    )));
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("35-binary-garbage.yaml:1:1: cannot read the file"),
        "{stderr}"
    );
}

/// Words of the scenario language, so that random documents get past the first key.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name".to_string()),
        Just("steps".to_string()),
        Just("request".to_string()),
        Just("endpoint".to_string()),
        Just("token".to_string()),
        Just("expect".to_string()),
        Just("json".to_string()),
        Just("$.error".to_string()),
        Just("equals".to_string()),
        Just("vars".to_string()),
        Just("${x}".to_string()),
        Just("${s256(x)}".to_string()),
        Just("poll".to_string()),
        Just("capture".to_string()),
        Just("snapshot".to_string()),
        "\\PC{0,10}",
    ]
}

fn yaml_value() -> impl Strategy<Value = serde_yaml::Value> {
    let leaf = prop_oneof![
        Just(serde_yaml::Value::Null),
        any::<bool>().prop_map(serde_yaml::Value::Bool),
        any::<i64>().prop_map(|n| serde_yaml::Value::Number(n.into())),
        word().prop_map(serde_yaml::Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_yaml::Value::Sequence),
            prop::collection::vec((word(), inner), 0..6).prop_map(|kv| {
                serde_yaml::Value::Mapping(
                    kv.into_iter()
                        .map(|(k, v)| (serde_yaml::Value::String(k), v))
                        .collect(),
                )
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_the_loader(text in "\\PC{0,300}") {
        let _ = load_str(Arc::from("fuzz.yaml"), text);
    }

    #[test]
    fn arbitrary_yaml_values_never_panic_the_loader(v in yaml_value()) {
        let text = serde_yaml::to_string(&v).unwrap_or_default();
        if let Err(e) = load_str(Arc::from("fuzz.yaml"), text) {
            // Every refusal names the file, line and column.
            prop_assert!(e.to_string().starts_with("fuzz.yaml:"), "{e}");
        }
    }

    #[test]
    fn mangled_shipped_scenarios_never_panic_the_loader(cut in 0usize..4000, junk in "\\PC{0,8}") {
        let text = include_str!("../../scenarios/device/slow_down.yaml");
        let at = text
            .char_indices()
            .map(|(i, _)| i)
            .take_while(|i| *i <= cut.min(text.len()))
            .last()
            .unwrap_or(0);
        let mangled = format!("{}{junk}{}", &text[..at], &text[at..]);
        let _ = load_str(Arc::from("fuzz.yaml"), mangled);
    }
}

/// A scenario of `n` steps, each a request over two lines, whose step `k` has one more
/// line `extra` (indented as the step's own keys): the text, and the line of `extra`.
fn generated(n: usize, k: usize, extra: &str) -> (String, usize) {
    let mut text = String::from("name: generated\nsteps:\n");
    let mut line = 3;
    let mut at = 0;
    for i in 0..n {
        text.push_str("  - request:\n      path: /x\n");
        line += 2;
        if i == k {
            text.push_str(&format!("    {extra}\n"));
            at = line;
            line += 1;
        }
    }
    (text, at)
}

/// The `file:line:col` of an error, parsed back.
fn position(e: &str) -> (usize, usize) {
    let mut parts = e.splitn(4, ':');
    let _file = parts.next();
    let line = parts.next().and_then(|l| l.parse().ok()).unwrap_or(0);
    let col = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    (line, col)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// The position an error names is the culprit's, in the file: an unknown field at its
    /// own line and column, wherever it is.
    #[test]
    fn an_unknown_field_is_reported_at_its_line_and_column(n in 1usize..8, k in 0usize..8, key in "[a-z]{3,10}_x") {
        let k = k % n;
        let (text, line) = generated(n, k, &format!("{key}: 1"));
        let e = load_str(Arc::from("gen.yaml"), text.clone()).expect_err("unknown field").to_string();
        prop_assert_eq!(position(&e), (line, 5), "{}\n{}", e, text);
        prop_assert!(e.contains(&key), "{}", e);
    }

    /// An undefined variable in any step is reported inside that step.
    #[test]
    fn an_undefined_variable_is_reported_in_its_step(n in 1usize..8, k in 0usize..8, var in "[a-z]{3,10}") {
        let k = k % n;
        let (text, line) = generated(n, k, &format!("capture: [{{v: {{json: '$.${{{var}}}'}}}}]"));
        // The capture is fine; an expectation that uses an undefined variable is not.
        let text = text.replace(
            &format!("capture: [{{v: {{json: '$.${{{var}}}'}}}}]"),
            &format!("expect: [{{json: $.a, equals: \"${{{var}_undefined}}\"}}]"),
        );
        let e = load_str(Arc::from("gen.yaml"), text.clone()).expect_err("undefined").to_string();
        let (l, _) = position(&e);
        prop_assert_eq!(l, line, "{}\n{}", e, text);
        prop_assert!(e.contains("undefined variable"), "{}", e);
    }
}

/// An undefined variable in *any* interpolated field is refused at load time, at its own
/// line. `fixtures/every-interpolated-field.yaml` puts a marker in each such field; the
/// visitor that validation walks must yield exactly the marked texts (so a field the
/// visitor knows but the fixture lacks, or the reverse, fails here), and an undefined
/// variable put in each marker in turn is an error at the marker's line.
#[test]
fn an_undefined_variable_in_any_interpolated_field_is_refused_at_its_line() {
    use oauth_harness::scenario::visit;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/every-interpolated-field.yaml"
    ))
    .expect("fixture");
    let marker = regex::Regex::new(r"@(\d+)@").expect("re");
    let markers: Vec<(usize, usize)> = text
        .lines()
        .enumerate()
        .flat_map(|(i, line)| {
            marker
                .captures_iter(line)
                .map(move |c| (c[1].parse::<usize>().unwrap_or(0), i + 1))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        markers.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        (1..=markers.len()).collect::<Vec<_>>(),
        "markers are numbered 1..N in order"
    );
    // Every text the visitor yields carries one marker, and every marker is yielded.
    let plain = load_str(Arc::from("fields.yaml"), text.clone()).expect("the fixture loads");
    let mut yielded = Vec::new();
    for step in &plain.scenario.steps {
        visit::step_templates(step, &mut |_, _, t| yielded.push(t.to_string()));
    }
    let mut seen: Vec<usize> = yielded
        .iter()
        .map(|t| {
            let c = marker
                .captures(t)
                .unwrap_or_else(|| panic!("unmarked text `{t}`"));
            c[1].parse().unwrap_or(0)
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=markers.len()).collect::<Vec<_>>());
    for (n, line) in markers {
        let one = marker
            .replace_all(&text, |c: &regex::Captures| {
                if c[1].parse::<usize>().ok() == Some(n) {
                    "${nope}".to_string()
                } else {
                    String::new()
                }
            })
            .into_owned();
        let e = load_str(Arc::from("fields.yaml"), one)
            .expect_err("an undefined variable is refused")
            .to_string();
        assert!(e.contains("undefined variable `nope`"), "@{n}@: {e}");
        assert_eq!(position(&e).0, line, "@{n}@: {e}");
    }
}
