//! The load run's own reports: the console summary, `summary.json` (mergeable) and
//! `summary.md`; for stress ramps, `stress.json` and `stress.md` with the knee.
//! goose writes its HTML and JSON reports beside them.

use super::profile::LoadProfile;
use super::summary::{micros, Summary};
use super::LoadOutcome;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The console text of a summary.
pub fn console(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "load {} ({}) against {}: {}, shard {}, {:.1} s",
        s.meta.profile,
        s.meta.kind,
        s.meta.target,
        who(s),
        s.meta.shard,
        s.duration_s
    );
    out.push_str(&table(s, false));
    if let Some(line) = arrivals(s) {
        let _ = writeln!(out, "{line}");
    }
    if !s.outcomes.is_empty() {
        let mix: Vec<String> = s.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "outcomes: {}", mix.join(" · "));
    }
    if !s.thresholds.is_empty() {
        out.push_str("thresholds:\n");
        let width = s.thresholds.iter().map(|v| v.rule.len()).max().unwrap_or(0);
        for v in &s.thresholds {
            let _ = writeln!(
                out,
                "  {}  {:width$}  observed {}",
                if v.passed { "PASS" } else { "FAIL" },
                v.rule,
                v.observed
            );
        }
    }
    for n in &s.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// `20 users`, or an open-model run's plan.
fn who(s: &Summary) -> String {
    match &s.arrivals {
        Some(a) => format!("arrivals {}", a.plan),
        None => format!("{} users", s.meta.users),
    }
}

/// What an open-model run asked and delivered, in one line.
fn arrivals(s: &Summary) -> Option<String> {
    let a = s.arrivals.as_ref()?;
    let lag = &a.start_lag;
    Some(format!(
        "arrivals: intended {:.1}/s, achieved {:.1}/s; {} started, {} dropped of {} due; in flight at most {} (bound {}); start lag p50 {} p99 {} max {}",
        a.intended_rate,
        a.achieved_rate,
        a.started,
        a.dropped,
        a.intended,
        a.peak_in_flight,
        a.max_in_flight,
        micros(lag.p50_us),
        micros(lag.p99_us),
        micros(lag.max_us),
    ))
}

fn table(s: &Summary, markdown: bool) -> String {
    let mut out = String::new();
    let head = [
        "request", "count", "errors", "rps", "p50", "p90", "p99", "p99.9", "max",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (name, r) in &s.requests {
        rows.push(vec![
            name.clone(),
            r.count.to_string(),
            r.errors.to_string(),
            format!("{:.1}", s.rps(r.count)),
            micros(r.p50_us),
            micros(r.p90_us),
            micros(r.p99_us),
            micros(r.p999_us),
            micros(r.max_us),
        ]);
    }
    if let Ok((h, n, e)) = s.select(|_| true) {
        if n > 0 {
            rows.push(vec![
                "all".into(),
                n.to_string(),
                e.to_string(),
                format!("{:.1}", s.rps(n)),
                micros(h.value_at_quantile(0.5)),
                micros(h.value_at_quantile(0.9)),
                micros(h.value_at_quantile(0.99)),
                micros(h.value_at_quantile(0.999)),
                micros(h.max()),
            ]);
        }
    }
    if markdown {
        let _ = writeln!(out, "| {} |", head.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
        for r in rows {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        return out;
    }
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w - c.chars().count();
            if i == 0 {
                l.push_str(c);
                l.push_str(&" ".repeat(pad));
            } else {
                l.push_str("  ");
                l.push_str(&" ".repeat(pad));
                l.push_str(c);
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(
        out,
        "{}",
        line(head.iter().map(|h| h.to_string()).collect())
    );
    for r in rows {
        let _ = writeln!(out, "{}", line(r));
    }
    out
}

/// The markdown report of a summary.
pub fn markdown(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Load: {} ({})\n", s.meta.profile, s.meta.kind);
    let _ = writeln!(
        out,
        "Target {}; {}; shard {}; {:.1} s; time scale {}.\n",
        s.meta.target,
        who(s),
        s.meta.shard,
        s.duration_s,
        s.meta.time_scale
    );
    out.push_str("Latencies from HDR histograms (3 significant figures), per request name.\n\n");
    out.push_str(&table(s, true));
    if let Some(line) = arrivals(s) {
        let _ = writeln!(out, "\n{}", line.replacen("arrivals: ", "Arrivals: ", 1));
    }
    if !s.outcomes.is_empty() {
        out.push_str("\n## Outcomes\n\n| outcome | count |\n|---|---|\n");
        for (k, v) in &s.outcomes {
            let _ = writeln!(out, "| {k} | {v} |");
        }
    }
    if !s.thresholds.is_empty() {
        out.push_str("\n## Thresholds\n\n| verdict | rule | observed |\n|---|---|---|\n");
        for v in &s.thresholds {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} |",
                if v.passed { "PASS" } else { "FAIL" },
                v.rule,
                v.observed
            );
        }
    }
    if !s.notes.is_empty() {
        out.push_str("\n## Notes\n\n");
        for n in &s.notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out
}

/// Writes `summary.json`.
pub(crate) fn write_summary(dir: &Path, s: &Summary) -> std::io::Result<PathBuf> {
    let path = dir.join("summary.json");
    let text = serde_json::to_string_pretty(s).map_err(std::io::Error::other)?;
    std::fs::write(&path, text + "\n")?;
    Ok(path)
}

/// Writes `summary.json` and `summary.md`.
pub fn write(dir: &Path, s: &Summary) -> std::io::Result<Vec<PathBuf>> {
    let json = write_summary(dir, s)?;
    let md = dir.join("summary.md");
    std::fs::write(&md, markdown(s))?;
    Ok(vec![json, md])
}

/// The console and markdown text of a stress ramp.
pub(crate) fn stress_text(p: &LoadProfile, o: &LoadOutcome, markdown: bool) -> String {
    let mut out = String::new();
    let open = o.steps.iter().any(|s| s.rate.is_some());
    let (unit, growing) = if open {
        ("arrivals", "arrival rates")
    } else {
        ("users", "users")
    };
    if markdown {
        let _ = writeln!(out, "# Stress: {}\n", p.name);
        let _ = writeln!(
            out,
            "| {unit} | requests | rps | p50 | p99 | error rate | thresholds |\n|---|---|---|---|---|---|---|"
        );
    } else {
        let _ = writeln!(out, "stress {}: steps of growing {growing}", p.name);
        let _ = writeln!(
            out,
            "{:>8}  {:>9}  {:>9}  {:>9}  {:>9}  {:>10}  thresholds",
            unit, "requests", "rps", "p50", "p99", "error rate"
        );
    }
    for step in &o.steps {
        let s = &step.summary;
        let (p50, p99, n, e) = match s.select(|_| true) {
            Ok((h, n, e)) if n > 0 => (
                micros(h.value_at_quantile(0.5)),
                micros(h.value_at_quantile(0.99)),
                n,
                e,
            ),
            _ => ("-".into(), "-".into(), 0, 0),
        };
        let rate = if n > 0 {
            e as f64 * 100.0 / n as f64
        } else {
            0.0
        };
        let broken: Vec<&str> = s
            .thresholds
            .iter()
            .filter(|v| !v.passed)
            .map(|v| v.rule.as_str())
            .collect();
        let verdict = if broken.is_empty() {
            "held".to_string()
        } else {
            format!("broke: {}", broken.join(", "))
        };
        let level = match step.rate {
            Some(r) => format!("{r:.0}/s"),
            None => step.users.to_string(),
        };
        if markdown {
            let _ = writeln!(
                out,
                "| {level} | {n} | {:.1} | {p50} | {p99} | {rate:.2}% | {verdict} |",
                s.rps(n)
            );
        } else {
            let _ = writeln!(
                out,
                "{level:>8}  {n:>9}  {:>9.1}  {p50:>9}  {p99:>9}  {:>9.2}%  {verdict}",
                s.rps(n),
                rate
            );
        }
    }
    let knee = match (o.knee, o.knee_rate) {
        (_, Some(r)) => format!("knee: thresholds first broke at {r:.0} arrivals/s"),
        (Some(k), _) => format!("knee: thresholds first broke at {k} users"),
        _ => "knee: not reached; every step held its thresholds".into(),
    };
    let _ = writeln!(out, "{}{knee}", if markdown { "\n" } else { "" });
    out
}

/// Writes `stress.json` and `stress.md`.
pub(crate) fn write_stress(
    dir: &Path,
    p: &LoadProfile,
    o: &LoadOutcome,
) -> std::io::Result<Vec<PathBuf>> {
    let json = dir.join("stress.json");
    let doc = serde_json::json!({
        "profile": p.name,
        "knee_users": o.knee,
        "knee_rate": o.knee_rate,
        "steps": o.steps,
    });
    std::fs::write(
        &json,
        serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)? + "\n",
    )?;
    let md = dir.join("stress.md");
    std::fs::write(&md, stress_text(p, o, true))?;
    Ok(vec![json, md])
}
