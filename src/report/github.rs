//! GitHub Actions workflow commands: one `::error` per FAILED assertion or ERROR step and
//! one `::warning` per WARNING, each at the scenario's YAML line, so that a pull request
//! shows the verdict beside the line that made it. Messages are the results' own text,
//! already redacted.

use crate::runner::result::{RunResult, Status};
use crate::scenario::spans::Loc;

/// Every annotation of the run, one workflow command per line.
pub fn annotations(run: &RunResult) -> String {
    let mut out = String::new();
    for s in &run.scenarios {
        for st in &s.steps {
            if let Some(e) = &st.error {
                let title = format!("ERROR {}", s.name);
                out.push_str(&command(
                    "error",
                    &st.loc,
                    &title,
                    &format!("step {}: {e}", st.name),
                ));
            }
            for a in &st.assertions {
                let level = match a.status {
                    Status::Failed => "error",
                    Status::Warning => "warning",
                    _ => continue,
                };
                let title = match &a.requirement {
                    Some(r) => format!("[{r}] {}", s.name),
                    None => s.name.clone(),
                };
                let message = format!(
                    "{}: expected {}, actual {}",
                    a.description, a.expected, a.actual
                );
                out.push_str(&command(level, &a.loc, &title, &message));
            }
        }
    }
    for u in &run.unmet_expectations {
        out.push_str(&format!(
            "::error title=expected failure did not happen::{}\n",
            data(u)
        ));
    }
    out
}

/// `::level file=…,line=…,col=…,title=…::message`.
fn command(level: &str, at: &Loc, title: &str, message: &str) -> String {
    format!(
        "::{level} file={},line={},col={},title={}::{}\n",
        property(&at.file),
        at.line,
        at.col,
        property(title),
        data(message)
    )
}

/// A message as a workflow command carries it (`%`, CR and LF escaped).
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value: as [`data`], and `:` and `,` too.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_as_github_reads_them() {
        assert_eq!(data("a%b\nc\r"), "a%25b%0Ac%0D");
        assert_eq!(property("x: y, z"), "x%3A y%2C z");
    }
}
