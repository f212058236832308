//! Templates: a text with `${…}` placeholders, parsed once when the file loads.
//!
//! A placeholder holds an expression: a variable (`${interval}`, `${client.web.id}`), an
//! environment variable (`${env.X}`), a target's secret (`${secret.X}`), or a helper call
//! whose arguments are expressions or literals (`${add(min(ttl, 600), 1)}`, `${s256('x')}`).
//! Quotes and nested braces inside a placeholder are read as such, so `${f('}')}` is one
//! placeholder. Every later use walks the parsed form; nothing is parsed twice.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// A text with placeholders.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Text taken as it is.
    Text(String),
    /// A placeholder: its expression and its byte range in the template (`${` to `}`).
    Ref(Expr, Range<usize>),
}

/// What a placeholder says.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A scenario variable, a capture, or a value the target provides.
    Var(String),
    /// `env.NAME`.
    Env(String),
    /// `secret.NAME`.
    Secret(String),
    /// A whole number written in place (a helper's argument).
    Int(i64),
    /// A quoted text written in place (a helper's argument).
    Str(String),
    /// A helper call.
    Call(Helper, Vec<Expr>),
}

/// The helpers a placeholder may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Helper {
    /// A fresh RFC 7636 code verifier (43 characters).
    PkceVerifier,
    /// The S256 challenge of a verifier.
    S256,
    /// A fresh random token.
    Random,
    /// A fresh UUID.
    Uuid,
    /// Sum of two numbers.
    Add,
    /// Difference of two numbers.
    Sub,
    /// The smaller of two numbers.
    Min,
    /// The larger of two numbers.
    Max,
    /// The public JWK Set (RFC 7517 §5) of a key the harness holds: `jwks('K2')`.
    Jwks,
    /// The RFC 7638 thumbprint of a key the harness holds, base64url: `thumbprint('J')`
    /// (a `dpop_jkt`, RFC 9449 §10).
    Thumbprint,
    /// RFC 9449's `ath` of an access token: base64url of its SHA-256.
    Ath,
    /// RFC 6749 §2.3.1's Basic credentials of an id and a secret (each form-urlencoded,
    /// joined by `:`, base64): the text after `Basic ` (redacted).
    Basic,
}

impl Helper {
    /// Every helper.
    pub fn all() -> &'static [Helper] {
        <Helper as clap::ValueEnum>::value_variants()
    }

    /// Its name in a file.
    pub fn name(self) -> &'static str {
        match self {
            Helper::PkceVerifier => "pkce_verifier",
            Helper::S256 => "s256",
            Helper::Random => "random",
            Helper::Uuid => "uuid",
            Helper::Add => "add",
            Helper::Sub => "sub",
            Helper::Min => "min",
            Helper::Max => "max",
            Helper::Basic => "basic",
            Helper::Jwks => "jwks",
            Helper::Thumbprint => "thumbprint",
            Helper::Ath => "ath",
        }
    }

    /// How many arguments it takes.
    pub fn arity(self) -> usize {
        match self {
            Helper::PkceVerifier | Helper::Random | Helper::Uuid => 0,
            Helper::S256 | Helper::Jwks | Helper::Thumbprint | Helper::Ath => 1,
            Helper::Add | Helper::Sub | Helper::Min | Helper::Max | Helper::Basic => 2,
        }
    }

    fn by_name(name: &str) -> Option<Helper> {
        Helper::all().iter().copied().find(|h| h.name() == name)
    }

    /// The helpers as a file writes them: `pkce_verifier(), s256(x), …`.
    pub fn listing() -> String {
        let args = ["", "x", "x, y"];
        Helper::all()
            .iter()
            .map(|h| format!("{}({})", h.name(), args[h.arity()]))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A template that does not parse: what is wrong, at which byte of its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// Byte offset in the template's text.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

impl Template {
    /// Parses a text.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = 0;
        while let Some(found) = source[rest..].find("${") {
            let start = rest + found;
            if start > rest {
                parts.push(Part::Text(source[rest..start].to_string()));
            }
            let end = closing_brace(source, start + 2).ok_or_else(|| TemplateError {
                at: start,
                message: format!(
                    "`${{` at character {} is never closed by `}}`",
                    source[..start].chars().count() + 1
                ),
            })?;
            let inner = &source[start + 2..end];
            let expr = Parser::new(inner, start + 2).whole()?;
            parts.push(Part::Ref(expr, start..end + 1));
            rest = end + 1;
        }
        if rest < source.len() {
            parts.push(Part::Text(source[rest..].to_string()));
        }
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    }

    /// A text taken as it is, placeholders and all (a YAML key that is no string).
    pub fn literal(text: impl Into<String>) -> Template {
        let source = text.into();
        let parts = if source.is_empty() {
            vec![]
        } else {
            vec![Part::Text(source.clone())]
        };
        Template { source, parts }
    }

    /// The template of one placeholder (`${client.web.id}` for `auth: {role: web}`).
    pub fn from_expr(expr: Expr) -> Template {
        let source = format!("${{{expr}}}");
        let span = 0..source.len();
        Template {
            source,
            parts: vec![Part::Ref(expr, span)],
        }
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Its pieces, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Its placeholders' expressions.
    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.parts.iter().filter_map(|p| match p {
            Part::Ref(e, _) => Some(e),
            Part::Text(_) => None,
        })
    }

    /// The expression when the template is one placeholder and nothing else but blanks:
    /// its value keeps its JSON type (`${expires_in}` stays a number).
    pub fn single(&self) -> Option<&Expr> {
        let mut refs = self.parts.iter().filter(|p| match p {
            Part::Text(t) => !t.trim().is_empty(),
            Part::Ref(..) => true,
        });
        match (refs.next(), refs.next()) {
            (Some(Part::Ref(e, _)), None) => Some(e),
            _ => None,
        }
    }

    /// The variables its placeholders need (helpers' arguments included).
    pub fn names_needed(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.exprs().for_each(|e| e.names_needed(&mut out));
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Expr {
    /// Adds the variables this needs to `out` (not `env.` or `secret.` names).
    pub fn names_needed<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Var(n) => out.push(n),
            Expr::Call(_, args) => args.iter().for_each(|a| a.names_needed(out)),
            Expr::Env(_) | Expr::Secret(_) | Expr::Int(_) | Expr::Str(_) => {}
        }
    }

    /// Adds the target's secrets this names to `out`.
    pub fn secrets<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Secret(n) => out.push(n),
            Expr::Call(_, args) => args.iter().for_each(|a| a.secrets(out)),
            Expr::Var(_) | Expr::Env(_) | Expr::Int(_) | Expr::Str(_) => {}
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Var(n) => f.write_str(n),
            Expr::Env(n) => write!(f, "env.{n}"),
            Expr::Secret(n) => write!(f, "secret.{n}"),
            Expr::Int(n) => write!(f, "{n}"),
            Expr::Str(s) => write!(f, "'{s}'"),
            Expr::Call(h, args) => {
                write!(f, "{}(", h.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// The `}` that closes a placeholder whose expression starts at `from`: braces nest, and
/// quoted text is skipped.
fn closing_brace(s: &str, from: usize) -> Option<usize> {
    let (mut depth, mut quote) = (0usize, None);
    for (i, c) in s[from..].char_indices() {
        match (c, quote) {
            (q, Some(open)) if q == open => quote = None,
            (_, Some(_)) => {}
            ('\'' | '"', None) => quote = Some(c),
            ('{', None) => depth += 1,
            ('}', None) if depth == 0 => return Some(from + i),
            ('}', None) => depth -= 1,
            _ => {}
        }
    }
    None
}

/// A recursive-descent reader of one placeholder's expression.
struct Parser<'s> {
    s: &'s str,
    pos: usize,
    /// Where `s` starts in the template.
    base: usize,
}

impl<'s> Parser<'s> {
    fn new(s: &'s str, base: usize) -> Self {
        Parser { s, pos: 0, base }
    }

    fn fail<T>(&self, message: String) -> Result<T, TemplateError> {
        Err(TemplateError {
            at: self.base + self.pos,
            message,
        })
    }

    fn blanks(&mut self) {
        let rest = &self.s[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn whole(mut self) -> Result<Expr, TemplateError> {
        self.blanks();
        if self.pos == self.s.len() {
            return self.fail("`${}` is empty: write a variable or a helper inside".into());
        }
        let e = self.expr()?;
        self.blanks();
        if self.pos < self.s.len() {
            let s = self.s;
            return self.fail(format!(
                "`{}` is not understood after `{}` in `${{{s}}}`",
                &s[self.pos..],
                s[..self.pos].trim()
            ));
        }
        Ok(e)
    }

    fn expr(&mut self) -> Result<Expr, TemplateError> {
        self.blanks();
        match self.peek() {
            Some(q @ ('\'' | '"')) => {
                let start = self.pos + 1;
                match self.s[start..].find(q) {
                    Some(len) => {
                        self.pos = start + len + 1;
                        Ok(Expr::Str(self.s[start..start + len].to_string()))
                    }
                    None => self.fail(format!("a text opened with {q} is never closed")),
                }
            }
            Some(c) if c.is_ascii_digit() || c == '-' => {
                let start = self.pos;
                self.pos += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let text = &self.s[start..self.pos];
                match text.parse::<i64>() {
                    Ok(n) => Ok(Expr::Int(n)),
                    Err(_) => self.fail(format!("`{text}` is not a whole number")),
                }
            }
            _ => self.name_or_call(),
        }
    }

    fn name_or_call(&mut self) -> Result<Expr, TemplateError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            self.pos += self.peek().map_or(1, char::len_utf8);
        }
        let name = &self.s[start..self.pos];
        if name.is_empty() {
            let c = self.peek().unwrap_or(' ');
            return self.fail(format!(
                "`{c}` cannot start a name: write a variable (`${{state}}`), `env.X`, `secret.X` or a helper ({})",
                Helper::listing()
            ));
        }
        self.blanks();
        if self.peek() != Some('(') {
            return Ok(if let Some(n) = name.strip_prefix("env.") {
                Expr::Env(n.to_string())
            } else if let Some(n) = name.strip_prefix("secret.") {
                Expr::Secret(n.to_string())
            } else {
                Expr::Var(name.to_string())
            });
        }
        let Some(helper) = Helper::by_name(name) else {
            self.pos = start;
            return self.fail(format!(
                "unknown helper `{name}()` (helpers: {})",
                Helper::listing()
            ));
        };
        self.pos += 1;
        let mut args = Vec::new();
        self.blanks();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                args.push(self.expr()?);
                self.blanks();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return self.fail(format!("`{name}(` is not closed by `)`")),
                }
            }
        }
        if args.len() != helper.arity() {
            let written = &self.s[start..self.pos];
            self.pos = start;
            return self.fail(format!(
                "helper `{name}` takes {} argument(s), `{written}` gives {}",
                helper.arity(),
                args.len()
            ));
        }
        Ok(Expr::Call(helper, args))
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Template::parse(&text).map_err(|e| de::Error::custom(format!("`{text}`: {e}")))
    }
}

impl JsonSchema for Template {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        String::schema_name()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        String::json_schema(g)
    }
}

/// A YAML value whose strings (keys too) are templates: a JSON body, an expected value.
#[derive(Debug, Clone, PartialEq)]
pub enum Tree {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(serde_json::Number),
    /// A string.
    Text(Template),
    /// A sequence.
    List(Vec<Tree>),
    /// A mapping, in the file's order.
    Map(Vec<(Template, Tree)>),
}

impl Tree {
    /// The tree of a YAML value; a string that does not parse is an error.
    pub fn from_yaml(v: &serde_yaml::Value) -> Result<Tree, TemplateError> {
        Ok(match v {
            serde_yaml::Value::Null => Tree::Null,
            serde_yaml::Value::Bool(b) => Tree::Bool(*b),
            serde_yaml::Value::Number(n) => match serde_json::to_value(n) {
                Ok(serde_json::Value::Number(n)) => Tree::Number(n),
                _ => Tree::Null,
            },
            serde_yaml::Value::String(s) => Tree::Text(Template::parse(s)?),
            serde_yaml::Value::Sequence(items) => Tree::List(
                items
                    .iter()
                    .map(Tree::from_yaml)
                    .collect::<Result<_, _>>()?,
            ),
            serde_yaml::Value::Mapping(m) => Tree::Map(
                m.iter()
                    .map(|(k, v)| {
                        let key = match k {
                            serde_yaml::Value::String(s) => Template::parse(s)?,
                            other => Template::literal(
                                serde_yaml::to_string(other)
                                    .unwrap_or_default()
                                    .trim()
                                    .to_string(),
                            ),
                        };
                        Ok((key, Tree::from_yaml(v)?))
                    })
                    .collect::<Result<_, TemplateError>>()?,
            ),
            serde_yaml::Value::Tagged(t) => Tree::from_yaml(&t.value)?,
        })
    }

    /// Whether it is a number or a string.
    pub fn is_scalar(&self) -> bool {
        matches!(self, Tree::Number(_) | Tree::Text(_))
    }

    /// The whole number it is, if it is one (a literal status code).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Tree::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// Whether it is a mapping.
    pub fn is_map(&self) -> bool {
        matches!(self, Tree::Map(_))
    }

    /// Whether it is a mapping with the key `name` written literally.
    pub fn has_key(&self, name: &str) -> bool {
        match self {
            Tree::Map(m) => m.iter().any(|(k, _)| k.as_str() == name),
            _ => false,
        }
    }

    /// Every template in it, keys included, in the file's order.
    pub fn templates(&self) -> Vec<&Template> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Template>) {
        match self {
            Tree::Text(t) => out.push(t),
            Tree::List(items) => items.iter().for_each(|i| i.collect(out)),
            Tree::Map(m) => m.iter().for_each(|(k, v)| {
                out.push(k);
                v.collect(out);
            }),
            Tree::Null | Tree::Bool(_) | Tree::Number(_) => {}
        }
    }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_yaml::Value::deserialize(d)?;
        Tree::from_yaml(&v).map_err(de::Error::custom)
    }
}

impl JsonSchema for Tree {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        serde_json::Value::schema_name()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        serde_json::Value::json_schema(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(s: &str) -> Vec<String> {
        Template::parse(s)
            .map(|t| t.exprs().map(|e| e.to_string()).collect())
            .unwrap_or_else(|e| vec![format!("error at {}: {e}", e.at)])
    }

    #[test]
    fn placeholders_parse_with_nesting_quotes_and_spans() {
        assert_eq!(refs("plain"), Vec::<String>::new());
        assert_eq!(
            refs("a ${x} b ${client.noorle-cli.id}"),
            ["x", "client.noorle-cli.id"]
        );
        assert_eq!(refs("${add(min(ttl, 600), 1)}"), ["add(min(ttl, 600), 1)"]);
        assert_eq!(refs("${s256('a}b')}!"), ["s256('a}b')"]);
        assert_eq!(refs("${ env.HOME }"), ["env.HOME"]);
        assert_eq!(refs("${sub(x, -3)}"), ["sub(x, -3)"]);
        let t = Template::parse("at ${x}.").unwrap_or_default();
        assert_eq!(
            t.parts(),
            [
                Part::Text("at ".into()),
                Part::Ref(Expr::Var("x".into()), 3..7),
                Part::Text(".".into())
            ]
        );
        assert!(t.single().is_none());
        let one = Template::parse(" ${n} ").unwrap_or_default();
        assert_eq!(one.single(), Some(&Expr::Var("n".into())));
        assert_eq!(
            Template::parse("${add(a, s256(b))}")
                .unwrap_or_default()
                .names_needed(),
            ["a", "b"]
        );
    }

    #[test]
    fn a_broken_placeholder_is_an_error_at_its_place() {
        for (text, at, says) in [
            ("ab ${x", 3, "never closed"),
            ("${}", 2, "is empty"),
            ("${frob()}", 2, "unknown helper `frob()`"),
            ("${s256()}", 2, "takes 1 argument(s), `s256()` gives 0"),
            ("${add(a 1)}", 8, "is not closed by `)`"),
            ("${a b}", 4, "`b` is not understood after `a`"),
            ("${'open}", 0, "never closed"),
            ("${(x)}", 2, "cannot start a name"),
        ] {
            match Template::parse(text) {
                Err(e) => {
                    assert_eq!(e.at, at, "{text}: {e}");
                    assert!(e.message.contains(says), "{text}: {e}");
                }
                Ok(t) => panic!("{text} parsed as {t:?}"),
            }
        }
    }

    #[test]
    fn every_helper_is_named_and_listed() {
        for h in Helper::all() {
            assert_eq!(Helper::by_name(h.name()), Some(*h));
            assert!(Helper::listing().contains(h.name()));
        }
    }
}
