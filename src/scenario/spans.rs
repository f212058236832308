//! Where each node of a scenario file stands: serde_yaml's values carry no spans, so the
//! file is read a second time with marked-yaml, whose nodes do, and every path into the
//! document (`steps[2].expect[0]`) can be turned into a line and column for diagnostics.

use marked_yaml::Node;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// A place in a scenario file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Loc {
    /// The file, as given on the command line.
    pub file: Arc<str>,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// One step of a path into the document.
#[derive(Clone, Copy, Debug)]
pub enum Seg<'a> {
    /// A mapping key.
    Key(&'a str),
    /// A sequence index.
    Index(usize),
}

/// The span-aware view of one file.
#[derive(Debug)]
pub struct SpanIndex {
    file: Arc<str>,
    root: Option<Node>,
}

/// `text` with each anchor (`&name`) blanked and each alias (`*name`) replaced by `~`
/// and blanks, every other character where it was; `None` when it has neither, or does
/// not scan.
fn without_anchors(text: &str) -> Option<String> {
    use yaml_rust2::scanner::{Scanner, TokenType};
    let mut chars: Vec<char> = text.chars().collect();
    let mut changed = false;
    let mut scanner = Scanner::new(text.chars());
    for yaml_rust2::scanner::Token(mark, token) in scanner.by_ref() {
        let (name, null) = match token {
            TokenType::Anchor(name) => (name, false),
            TokenType::Alias(name) => (name, true),
            _ => continue,
        };
        let at = mark.index();
        let end = (at + 1 + name.chars().count()).min(chars.len());
        for (i, c) in chars[at..end].iter_mut().enumerate() {
            *c = if null && i == 0 { '~' } else { ' ' };
        }
        changed = true;
    }
    (changed && scanner.get_error().is_none()).then(|| chars.into_iter().collect())
}

impl SpanIndex {
    /// Reads `text`. marked-yaml takes no anchors or aliases (`&x`, `*x`, `<<: *x`), which
    /// serde_yaml resolves: such a file is indexed with each anchor blanked and each alias
    /// read as a null of the same width, so every other node keeps its place and a path
    /// into an alias's content points at the alias. If marked-yaml still cannot read it (it
    /// is stricter than serde_yaml in places), locations fall back to the top of the file.
    pub fn new(file: Arc<str>, text: &str) -> Self {
        let root = marked_yaml::parse_yaml(0, text)
            .ok()
            .or_else(|| marked_yaml::parse_yaml(0, without_anchors(text)?).ok());
        SpanIndex { file, root }
    }

    /// The location of the node at `path`, or of its nearest ancestor that exists.
    pub fn loc(&self, path: &[Seg<'_>]) -> Loc {
        let mut best = (1, 1);
        let mut node = self.root.as_ref();
        if let Some(n) = node {
            best = start_of(n).unwrap_or(best);
        }
        for seg in path {
            let next = match (node, seg) {
                (Some(Node::Mapping(m)), Seg::Key(k)) => m.get_node(k),
                (Some(Node::Sequence(s)), Seg::Index(i)) => s.get_node(*i),
                _ => None,
            };
            match next {
                Some(n) => {
                    best = start_of(n).unwrap_or(best);
                    node = Some(n);
                }
                None => break,
            }
        }
        Loc {
            file: self.file.clone(),
            line: best.0,
            col: best.1,
        }
    }
}

fn start_of(n: &Node) -> Option<(usize, usize)> {
    // A block mapping's own span starts at its first `:`; its first key is where a
    // reader's eye goes.
    if let Node::Mapping(m) = n {
        if let Some(start) = m.iter().next().and_then(|(k, _)| k.span().start()) {
            return Some((start.line(), start.column()));
        }
    }
    n.span().start().map(|m| (m.line(), m.column()))
}

/// Where a key first repeats in `text` (serde_yaml reports a repeated field at the top of
/// the document; marked-yaml knows the second key's place).
pub(crate) fn duplicate_key(text: &str) -> Option<(usize, usize)> {
    let options = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(true);
    match marked_yaml::parse_yaml_with_options(0, text, options) {
        Err(marked_yaml::LoadError::DuplicateKey(d)) => {
            d.key.span().start().map(|m| (m.line(), m.column()))
        }
        _ => None,
    }
}

/// Where and what a serde_yaml error is: `(line, column, message)`, the message without
/// serde_yaml's own " at line L column C". serde_yaml places some errors at the top of the
/// document (a repeated key, a field's own parser refusing a value such as a time span);
/// those are found in the text instead: the second key, or the value the message quotes.
pub(crate) fn yaml_error(e: &serde_yaml::Error, text: &str) -> (usize, usize, String) {
    let msg = e.to_string();
    let (line, col) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .filter(|at| *at != (1, 1))
        .or_else(|| duplicate_key(text))
        // A missing field quotes a name, not a value: the top of the document is right.
        .or_else(|| {
            (!msg.starts_with("missing field"))
                .then(|| quoted(&msg).and_then(|v| find_value(text, v)))
                .flatten()
        })
        .unwrap_or((1, 1));
    let msg = match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    (line, col, msg)
}

/// The first text in backticks.
fn quoted(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

/// Line and column (from 1) of `value` where it stands as a scalar.
fn find_value(text: &str, value: &str) -> Option<(usize, usize)> {
    if value.is_empty() {
        return None;
    }
    text.lines().enumerate().find_map(|(i, line)| {
        line.match_indices(value).find_map(|(at, _)| {
            let before = line[..at].trim_end().chars().last();
            let after = line[at + value.len()..].trim_start().chars().next();
            let starts = matches!(before, Some(':' | '-' | '{' | '[' | ',' | '"' | '\''));
            let ends = matches!(after, None | Some(',' | '}' | ']' | '#' | '"' | '\''));
            (starts && ends).then_some((i + 1, at + 1))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_lines_and_columns() {
        let text =
            "name: x\nsteps:\n  - request:\n      path: /a\n    expect:\n      - status: 200\n";
        let idx = SpanIndex::new(Arc::from("f.yaml"), text);
        let l = idx.loc(&[
            Seg::Key("steps"),
            Seg::Index(0),
            Seg::Key("expect"),
            Seg::Index(0),
        ]);
        assert_eq!((l.line, l.col), (6, 9));
        // A path that does not exist stops at the deepest ancestor that does.
        let l = idx.loc(&[Seg::Key("steps"), Seg::Index(7)]);
        assert_eq!(l.line, 3);
    }

    #[test]
    fn a_file_with_anchors_and_aliases_keeps_its_locations() {
        let text = "name: é\nsteps:\n  - request: &req\n      path: /a\n    expect:\n      - status: 200\n  - request: *req\n    expect:\n      - {<<: *x, status: 201}\nx: &x {json: $.a}\n";
        let idx = SpanIndex::new(Arc::from("f.yaml"), text);
        let at = |path: &[Seg<'_>]| {
            let l = idx.loc(path);
            (l.line, l.col)
        };
        let second = [Seg::Key("steps"), Seg::Index(1)];
        assert_eq!(
            at(&[
                Seg::Key("steps"),
                Seg::Index(0),
                Seg::Key("request"),
                Seg::Key("path")
            ]),
            (4, 13)
        );
        // Into an alias's content: the alias.
        assert_eq!(
            at(&[&second[..], &[Seg::Key("request"), Seg::Key("path")]].concat()),
            (7, 14)
        );
        let status = [
            &second[..],
            &[Seg::Key("expect"), Seg::Index(0), Seg::Key("status")],
        ]
        .concat();
        assert_eq!(at(&status), (9, 26));
        assert_eq!(at(&[Seg::Key("x"), Seg::Key("json")]), (10, 14));
    }
}
