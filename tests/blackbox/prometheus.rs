//! Live load metrics into a real Prometheus (issue #19): Debian's `prometheus` on
//! loopback, with its remote-write receiver on and a scrape job for the run's `/metrics`;
//! a short device-polling run pushes and is scraped; Prometheus's HTTP API must then hold
//! the series, the pushed ones with the run's final figures.
//!
//! Without a `prometheus` binary the test says so and passes, unless
//! `OAUTH_HARNESS_REQUIRE_PROMETHEUS=1` (set by `.ci/run`, which installs it).

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_oauth-harness");

/// A device-polling run of about three seconds (server clock ×50).
const PROFILE: &str = "\
kind: device-polling
users: 10
increase_rate: 400
time_scale: 50
device:
  approve: 1
  delay: {min: 100s, max: 140s}
server:
  device_code_ttl: 600
";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn prometheus_binary() -> Option<String> {
    ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| p.to_string())
}

/// Kills Prometheus when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn query(http: &reqwest::Client, base: &str, promql: &str) -> Vec<Value> {
    let url = url::Url::parse_with_params(&format!("{base}/api/v1/query"), [("query", promql)])
        .expect("a query URL");
    let r = http.get(url).send().await.expect("Prometheus answers");
    let v: Value = r.json().await.expect("JSON");
    assert_eq!(v["status"], "success", "{v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn value_of(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_run_streams_its_figures_into_a_real_prometheus() {
    let Some(prometheus) = prometheus_binary() else {
        let required = std::env::var("OAUTH_HARNESS_REQUIRE_PROMETHEUS").as_deref() == Ok("1");
        assert!(!required, "prometheus is required here but not installed");
        eprintln!("skipped: no prometheus binary (apt-get install prometheus)");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (prom_port, metrics_port) = (free_port(), free_port());
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: harness\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
    );
    std::fs::write(tmp.path().join("prometheus.yml"), config).expect("config");
    let child = Command::new(&prometheus)
        .arg(format!(
            "--config.file={}",
            tmp.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            tmp.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .arg("--web.enable-remote-write-receiver")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _running = Running(child);
    let base = format!("http://127.0.0.1:{prom_port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http.get(format!("{base}/-/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "prometheus did not become ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Prometheus hands discovered targets to its scrapers every 5 s: wait until the
    // (still absent) harness target has been scraped once, so the run is seen from its
    // start.
    while query(&http, &base, "up{job=\"harness\"}").await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "prometheus never scraped the target"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let profile = tmp.path().join("live.yaml");
    std::fs::write(&profile, PROFILE).expect("profile");
    let reports = tmp.path().join("r");
    let out = Command::new(BIN)
        .current_dir(tmp.path())
        .args(["load", &profile.display().to_string(), "--no-progress"])
        .args(["--report-dir", &reports.display().to_string()])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .args(["--prometheus-remote-write", &format!("{base}/api/v1/write")])
        .output()
        .expect("run the load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Prometheus remote write:") && stdout.contains(" 0 failed"),
        "{stdout}"
    );
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("summary.json")).expect("summary"),
    )
    .expect("JSON");
    let success = summary["outcomes"]["success"].as_f64().expect("successes");
    assert_eq!(success, 10.0, "{summary:#}");

    // Pushed (no job label): the last push holds the final figures.
    let pushed = query(
        &http,
        &base,
        "oauth_harness_outcomes_total{outcome=\"success\",job=\"\"}",
    )
    .await;
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert_eq!(value_of(&pushed[0]), success, "{pushed:?}");
    let polls = query(
        &http,
        &base,
        "oauth_harness_requests_total{request=\"token: authorization_pending\",job=\"\"}",
    )
    .await;
    let sent = summary["requests"]["token: authorization_pending"]["count"].as_f64();
    assert_eq!(polls.first().map(value_of), sent, "{polls:?}");
    let p99 = query(
        &http,
        &base,
        "oauth_harness_request_latency_seconds{quantile=\"0.99\",job=\"\"}",
    )
    .await;
    assert!(
        !p99.is_empty() && p99.iter().all(|s| value_of(s) > 0.0),
        "{p99:?}"
    );
    // Scraped while the run went.
    let scraped = query(
        &http,
        &base,
        // The target is gone once the run ended, and its series stale: look back.
        "max_over_time(oauth_harness_requests_total{job=\"harness\"}[5m])",
    )
    .await;
    let up = query(&http, &base, "max_over_time(up{job=\"harness\"}[5m])").await;
    assert!(!scraped.is_empty(), "no scraped series; up: {up:?}");
    // Every query of the shipped Grafana dashboard runs on these series.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana-dashboard.json"),
        )
        .expect("the dashboard"),
    )
    .expect("JSON");
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"]
                .as_str()
                .expect("expr")
                .replace("$profile", "live");
            let result = query(&http, &base, &expr).await;
            // Violations exist only where a rule broke; every other panel has data.
            let may_be_empty = expr.contains("protocol: ");
            assert!(
                may_be_empty || !result.is_empty(),
                "{}: no data for {expr}",
                panel["title"]
            );
        }
    }
    assert!(
        scraped.iter().all(|s| s["metric"]["profile"] == "live"),
        "{scraped:?}"
    );
}
