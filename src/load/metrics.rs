//! Live metrics of a load run, for a real engine to watch while it goes: the recorder's
//! figures as Prometheus series, served for scraping (`--metrics-addr ADDR`: `GET
//! /metrics`, the text exposition format) and pushed every few seconds with the
//! remote-write protocol (`--prometheus-remote-write URL`: a snappy-compressed protobuf
//! `WriteRequest`, Prometheus's 1.0 protocol).
//!
//! Series (every one labelled `profile` and `shard`):
//! - `oauth_harness_requests_total{request}` and `oauth_harness_request_errors_total{request}`
//! - `oauth_harness_request_latency_seconds{request, quantile}`: 0.5, 0.9, 0.99, 0.999 of
//!   every request so far (gauges; the HDR histograms behind them are exact to 3 digits)
//! - `oauth_harness_outcomes_total{outcome}`: `success`, `slow_down`, probes…

use super::summary::{Recorder, LIVE_QUANTILES};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often series are pushed by remote write.
pub(crate) const PUSH_EVERY: Duration = Duration::from_secs(2);

/// One sample of one series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// The metric name.
    pub name: &'static str,
    /// Labels besides the name, in order.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

/// What every series of this run carries.
#[derive(Debug, Clone)]
pub(crate) struct RunLabels {
    /// The profile's name.
    pub profile: String,
    /// `index/count`.
    pub shard: String,
}

/// The recorder's figures now, as series.
pub(crate) fn series(recorder: &Recorder, run: &RunLabels) -> Vec<Series> {
    let base = |more: Vec<(&'static str, String)>| {
        let mut labels = vec![
            ("profile", run.profile.clone()),
            ("shard", run.shard.clone()),
        ];
        labels.extend(more);
        labels
    };
    // One family after another: the text format wants each metric's samples together.
    let (mut counts, mut errors, mut latency) = (Vec::new(), Vec::new(), Vec::new());
    for (name, view) in recorder.views() {
        let request = || ("request", name.clone());
        counts.push(Series {
            name: "oauth_harness_requests_total",
            labels: base(vec![request()]),
            value: view.count as f64,
        });
        errors.push(Series {
            name: "oauth_harness_request_errors_total",
            labels: base(vec![request()]),
            value: view.errors as f64,
        });
        for (q, micros) in LIVE_QUANTILES.iter().zip(view.quantiles_us) {
            latency.push(Series {
                name: "oauth_harness_request_latency_seconds",
                labels: base(vec![request(), ("quantile", q.to_string())]),
                value: micros as f64 / 1e6,
            });
        }
    }
    let outcomes = recorder.outcomes().into_iter().map(|(outcome, n)| Series {
        name: "oauth_harness_outcomes_total",
        labels: base(vec![("outcome", outcome)]),
        value: n as f64,
    });
    counts
        .into_iter()
        .chain(errors)
        .chain(latency)
        .chain(outcomes)
        .collect()
}

/// The text exposition format (version 0.0.4) of `series`.
pub(crate) fn exposition(series: &[Series]) -> String {
    // Latency quantiles are gauges (labelled `quantile`): the figure over the run so far.
    let kind = |name: &str| {
        if name.ends_with("_seconds") {
            "gauge"
        } else {
            "counter"
        }
    };
    let mut out = String::new();
    let mut last = "";
    for s in series {
        if s.name != last {
            let _ = writeln!(out, "# TYPE {} {}", s.name, kind(s.name));
            last = s.name;
        }
        let labels: Vec<String> = s
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let _ = writeln!(out, "{}{{{}}} {}", s.name, labels.join(","), s.value);
    }
    out
}

/// A label value as the text format writes it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The remote-write protocol's messages (prometheus/prompb `types.proto`, `remote.proto`).
mod prompb {
    /// `prometheus.WriteRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        /// The series.
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// `prometheus.TimeSeries`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Its labels, `__name__` included, sorted by name.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// Its samples.
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
    }

    /// `prometheus.Label`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        /// The name.
        #[prost(string, tag = "1")]
        pub name: String,
        /// The value.
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `prometheus.Sample`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// The value.
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Milliseconds since the Unix epoch.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

/// The body of a remote-write request for `series` at `at_ms`: the protobuf
/// `WriteRequest`, snappy block-compressed.
pub(crate) fn write_request(series: &[Series], at_ms: i64) -> Result<Vec<u8>, snap::Error> {
    use prost::Message as _;
    let timeseries = series
        .iter()
        .map(|s| {
            let mut labels: Vec<prompb::Label> = s
                .labels
                .iter()
                .map(|(k, v)| prompb::Label {
                    name: k.to_string(),
                    value: v.clone(),
                })
                .collect();
            labels.push(prompb::Label {
                name: "__name__".into(),
                value: s.name.into(),
            });
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            prompb::TimeSeries {
                labels,
                samples: vec![prompb::Sample {
                    value: s.value,
                    timestamp: at_ms,
                }],
            }
        })
        .collect();
    let body = prompb::WriteRequest { timeseries }.encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&body)
}

/// Milliseconds since the Unix epoch, now.
fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// The series of a run, now.
pub(crate) type Source = Arc<dyn Fn() -> Vec<Series> + Send + Sync>;

/// Live metrics for one run: the scrape endpoint and the pusher, stopped by [`Live::stop`].
pub(crate) struct Live {
    server: Option<tokio::task::JoinHandle<()>>,
    pusher: Option<(tokio::task::JoinHandle<()>, Arc<Pushes>)>,
    remote: Option<(String, reqwest::Client)>,
    source: Source,
}

/// What the pusher did.
#[derive(Debug, Default)]
struct Pushes {
    sent: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
    last_error: parking_lot::Mutex<Option<String>>,
}

/// Why live metrics could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LiveError {
    /// The scrape address could not be bound.
    #[error("--metrics-addr {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl Live {
    /// Starts what was asked for: `/metrics` at `addr`, pushes to `remote`.
    pub(crate) async fn start(
        source: Source,
        addr: Option<SocketAddr>,
        remote: Option<(String, reqwest::Client)>,
    ) -> Result<Live, LiveError> {
        let server = match addr {
            None => None,
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| LiveError::Bind { addr, source })?;
                let src = source.clone();
                let app = axum::Router::new().route(
                    "/metrics",
                    axum::routing::get(move || {
                        let text = exposition(&src());
                        async move {
                            (
                                [(
                                    axum::http::header::CONTENT_TYPE,
                                    "text/plain; version=0.0.4",
                                )],
                                text,
                            )
                        }
                    }),
                );
                Some(tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                }))
            }
        };
        let pusher = remote.clone().map(|(url, http)| {
            let pushes = Arc::new(Pushes::default());
            let (src, p) = (source.clone(), pushes.clone());
            let task = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(PUSH_EVERY).await;
                    push(&http, &url, &src(), &p).await;
                }
            });
            (task, pushes)
        });
        Ok(Live {
            server,
            pusher,
            remote,
            source,
        })
    }

    /// Stops serving and pushing, after a last push of the final figures; a note on the
    /// pushes for the report, if any were asked for.
    pub(crate) async fn stop(self) -> Option<String> {
        if let Some(s) = self.server {
            s.abort();
        }
        let (task, pushes) = self.pusher?;
        task.abort();
        if let Some((url, http)) = &self.remote {
            push(http, url, &(self.source)(), &pushes).await;
        }
        let sent = pushes.sent.load(std::sync::atomic::Ordering::Relaxed);
        let failed = pushes.failed.load(std::sync::atomic::Ordering::Relaxed);
        let why = pushes
            .last_error
            .lock()
            .clone()
            .map(|e| format!(" (last: {e})"))
            .unwrap_or_default();
        Some(format!(
            "Prometheus remote write: {sent} pushes, {failed} failed{why}"
        ))
    }
}

/// Pushes `series` to `url`; counts the push, and a failure with its reason.
async fn push(http: &reqwest::Client, url: &str, series: &[Series], pushes: &Pushes) {
    use std::sync::atomic::Ordering;
    pushes.sent.fetch_add(1, Ordering::Relaxed);
    let failure = match write_request(series, now_ms()) {
        Err(e) => Some(format!("snappy: {e}")),
        Ok(body) => {
            let sent = http
                .post(url)
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .timeout(Duration::from_secs(5))
                .body(body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
                Err(e) => Some(crate::runner::http::describe_reqwest(&e)),
            }
        }
    };
    if let Some(f) = failure {
        pushes.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("Prometheus remote write to {url} failed: {f}");
        *pushes.last_error.lock() = Some(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> Recorder {
        let r = Recorder::default();
        r.request("token: success", Duration::from_micros(900), true);
        r.request("token: success", Duration::from_micros(1100), false);
        r.request("device_authorization", Duration::from_micros(300), true);
        r.count("success", 2);
        r
    }

    fn run() -> RunLabels {
        RunLabels {
            profile: "p\"q".into(),
            shard: "0/1".into(),
        }
    }

    #[test]
    fn the_exposition_has_counts_errors_quantiles_and_outcomes() {
        let text = exposition(&series(&recorder(), &run()));
        insta::assert_snapshot!(text);
    }

    #[test]
    fn the_grafana_dashboard_charts_every_series_and_no_other() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../deploy/grafana-dashboard.json"))
                .expect("the dashboard is JSON");
        let names = regex::Regex::new(r"oauth_harness_[a-z_]+").expect("regex");
        let charted: std::collections::BTreeSet<String> = dashboard["panels"]
            .as_array()
            .expect("panels")
            .iter()
            .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
            .flat_map(|t| {
                let expr = t["expr"].as_str().unwrap_or_default().to_string();
                names
                    .find_iter(&expr)
                    .map(|m| m.as_str().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let exported: std::collections::BTreeSet<String> = series(&recorder(), &run())
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        assert_eq!(charted, exported);
    }

    #[test]
    fn a_write_request_decodes_to_the_same_series_with_sorted_labels() {
        use prost::Message as _;
        let s = series(&recorder(), &run());
        let body = write_request(&s, 1_700_000_000_000).expect("compresses");
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&body)
            .expect("snappy");
        let w = prompb::WriteRequest::decode(raw.as_slice()).expect("protobuf");
        assert_eq!(w.timeseries.len(), s.len());
        let first = &w.timeseries[0];
        let names: Vec<&str> = first.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "profile", "request", "shard"]);
        assert_eq!(first.labels[0].value, "oauth_harness_requests_total");
        assert_eq!(first.labels[2].value, "device_authorization");
        assert_eq!(first.samples[0].value, 1.0);
        assert_eq!(first.samples[0].timestamp, 1_700_000_000_000);
    }
}
