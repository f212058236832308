//! `report.html` (and `run --report-html FILE`) in a real browser: Debian's headless
//! Chromium loads the file, its DOM must hold one matrix row per requirement with the
//! verdicts the run gave (a FAILED row, an expected failure, passes, rows not covered),
//! the same counts as the page's summary, no script and nothing fetched from elsewhere;
//! and the browser takes a screenshot (docs/report-html.png is one, of the whole suite:
//! the command is in README.md).
//!
//! Without a `chromium` binary the page is checked as written and the test says so;
//! `OAUTH_HARNESS_REQUIRE_CHROMIUM=1` (set by `.ci/run`, which installs it) makes the
//! browser required.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Flags that keep Chromium off the network and out of the machine's state.
fn chromium(profile: &Path) -> Command {
    let mut c = Command::new("chromium");
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[test]
fn the_html_report_shows_each_row_and_its_verdict_in_a_real_browser() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let expected = tmp.path().join("expected.yaml");
    std::fs::write(
        &expected,
        "- {scenario: code/reused_code.yaml, requirement: TOK-22, reason: the example's known deviation}\n",
    )
    .expect("expected failures");
    let html = tmp.path().join("page/report.html");
    let reports = tmp.path().join("r");
    // A MUST broken in several scenarios (TOK-6) and a SHOULD listed as a known deviation
    // (TOK-22).
    crate::common::run_failing(&[
        "--requirement".as_ref(),
        "TOK-21".as_ref(),
        "--requirement".as_ref(),
        "TOK-6".as_ref(),
        "--fault".as_ref(),
        "no-cache-headers".as_ref(),
        "--fault".as_ref(),
        "no-revoke-on-code-reuse".as_ref(),
        "--expected-failures".as_ref(),
        expected.as_os_str(),
        "--report-dir".as_ref(),
        reports.as_os_str(),
        "--report-html".as_ref(),
        html.as_os_str(),
    ]);
    let text = crate::common::same_report(&html, &tmp.path().join("r/report.html"));
    // One file: no script, nothing loaded from anywhere (links are to its own anchors).
    assert!(!text.contains("<script"), "the page needs no JavaScript");
    for attr in ["src=", "href=\"http", "url(", "@import"] {
        assert!(!text.contains(attr), "the page fetches something: {attr}");
    }

    // The page as the browser built it; without a browser, as written.
    let present = Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let required = std::env::var("OAUTH_HARNESS_REQUIRE_CHROMIUM").as_deref() == Ok("1");
    assert!(
        present || !required,
        "chromium is required here but not installed"
    );
    let url = format!("file://{}", html.display());
    let dom = if present {
        let dom = chromium(&tmp.path().join("profile-dom"))
            .arg("--dump-dom")
            .arg(&url)
            .output()
            .expect("chromium --dump-dom");
        assert!(
            dom.status.success(),
            "{}",
            String::from_utf8_lossy(&dom.stderr)
        );
        String::from_utf8_lossy(&dom.stdout).into_owned()
    } else {
        eprintln!("no chromium (apt-get install chromium): the page is checked as written");
        text.clone()
    };
    let row = regex::Regex::new(
        r#"<tr class="row [a-z-]+" id="row-([A-Z][A-Z0-9]*-\d+)" data-verdict="([a-z-]+)""#,
    )
    .expect("regex");
    let rows: BTreeMap<String, String> = row
        .captures_iter(&dom)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    let requirements = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/requirements.yaml"),
    )
    .expect("requirements");
    let ids = requirements
        .lines()
        .filter(|l| l.starts_with("- id: "))
        .count();
    assert_eq!(rows.len(), ids, "one row per requirement of the matrix");
    assert_eq!(rows["TOK-6"], "failed", "no Cache-Control: no-store");
    assert_eq!(rows["TOK-21"], "passed");
    assert_eq!(
        rows["TOK-22"], "xfail",
        "listed in the expected-failures file"
    );
    assert_eq!(rows["AUTHZ-2"], "passed");
    assert_eq!(
        rows["DEV-19"], "not-run",
        "device scenarios were not selected"
    );
    assert_eq!(rows["CLIENT-1"], "harness");
    // The summary's counts are the rows' counts.
    let count =
        regex::Regex::new(r#"<tr data-verdict="([a-z-]+)" data-count="(\d+)""#).expect("regex");
    for c in count.captures_iter(&dom) {
        let n: usize = c[2].parse().expect("count");
        let seen = rows.values().filter(|v| **v == c[1]).count();
        assert_eq!(seen, n, "{} rows", &c[1]);
    }
    // The failing row's finding: its diagnostic at its line, redacted, and its exchange.
    assert!(
        dom.contains("pkce_happy_path.yaml:60:9"),
        "the diagnostic's place"
    );
    assert!(dom.contains("[code_verifier]") && dom.contains("POST http://127.0.0.1:"));

    if !present {
        return;
    }
    let png = tmp.path().join("report.png");
    let shot = chromium(&tmp.path().join("profile-shot"))
        .arg("--window-size=1280,1100")
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .expect("chromium --screenshot");
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).expect("the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{} bytes",
        bytes.len()
    );
}

/// The findings of a failed run, as the page shows them (ports blanked).
#[test]
fn the_html_findings_of_a_failed_run_read_as_shown() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let reports = crate::common::reused_code_reports(tmp.path());
    let text = &reports["report.html"];
    let start = text.find("<section id=\"findings\">").expect("findings");
    let end = start + text[start..].find("</section>").expect("its end");
    insta::assert_snapshot!(
        "html_findings",
        text[start..end].replace("</div>", "</div>\n")
    );
}
