//! Request parameters from either encoding the builtin accepts (matrix §15 #1):
//! `application/x-www-form-urlencoded` (RFC 6749, RFC 8628, what client libraries send)
//! and `application/json` (Noorle's documented bodies). Both keep repeats visible, because
//! a repeated parameter is an error (RFC 6749 §3.1, §3.2; DEV-8, TOK-4), and both treat an
//! empty value as omitted (DEV-7, TOK-3).

use crate::server::error::OAuthError;
use crate::server::AppState;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::de::{Deserializer, MapAccess, Visitor};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// What a client-authenticated endpoint reads of a POST: the URI (for credentials sent in
/// the query, TOK-17), the headers and the whole body. The head is moved out of the
/// request, not copied as axum's `Uri` and `HeaderMap` extractors do, and a body that
/// arrives in one piece is kept as it is: these endpoints are the load-test targets.
pub struct Posted {
    /// The request URI.
    pub uri: Uri,
    /// The request headers.
    pub headers: HeaderMap,
    /// The body, at most the policy's `max_body_bytes`.
    pub body: Bytes,
}

/// Headers and body carry credentials: only the path and the body's length are shown.
impl fmt::Debug for Posted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Posted")
            .field("path", &self.uri.path())
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl FromRequest<Arc<AppState>> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let body = read_body(body, state.policy.max_body_bytes).await?;
        Ok(Posted {
            uri: parts.uri,
            headers: parts.headers,
            body,
        })
    }
}

/// Reads a body of at most `limit` bytes. Too long (by its `Content-Length` or by what
/// arrives) is a bare 413, which the router's `framework_errors` turns into the error
/// object every other refusal gets, as it does for axum's own extractors.
async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, Response> {
    let mut reader = BodyReader::new(limit);
    std::future::poll_fn(|cx| reader.poll_read(&mut body, cx)).await
}

/// A body being read, by polling: [`read_body`] for the extractor, and the token
/// endpoint's own future (`server::TokenRequest`), which is not boxed.
pub(crate) struct BodyReader {
    limit: usize,
    checked_hint: bool,
    whole: Option<Bytes>,
    joined: Vec<u8>,
}

/// The body may carry credentials: only how much has arrived is shown.
impl fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.whole.as_ref().map_or(0, Bytes::len) + self.joined.len();
        f.debug_struct("BodyReader")
            .field("limit", &self.limit)
            .field("held", &held)
            .finish_non_exhaustive()
    }
}

impl BodyReader {
    /// Reads at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        BodyReader {
            limit,
            checked_hint: false,
            whole: None,
            joined: Vec::new(),
        }
    }

    /// Polls `body` until it ends: the whole of it (a body that arrives in one piece is
    /// kept as it is), or the response that refuses it.
    pub(crate) fn poll_read(
        &mut self,
        body: &mut Body,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Bytes, Response>> {
        let too_large = || StatusCode::PAYLOAD_TOO_LARGE.into_response();
        if !self.checked_hint {
            self.checked_hint = true;
            if body.size_hint().lower() > self.limit as u64 {
                return Poll::Ready(Err(too_large()));
            }
        }
        // A body of known length ends with its last byte: no extra poll to learn that.
        while !body.is_end_stream() {
            let Some(frame) = ready!(Pin::new(&mut *body).poll_frame(cx)) else {
                break;
            };
            let Ok(frame) = frame else {
                return Poll::Ready(Err(OAuthError::invalid_request(
                    "The request body could not be read",
                )
                .into_response()));
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            let held = self.whole.as_ref().map_or(0, Bytes::len) + self.joined.len();
            if held + data.len() > self.limit {
                return Poll::Ready(Err(too_large()));
            }
            match self.whole.take() {
                None if self.joined.is_empty() => self.whole = Some(data),
                first => {
                    if let Some(first) = first {
                        self.joined.extend_from_slice(&first);
                    }
                    self.joined.extend_from_slice(&data);
                }
            }
        }
        let joined = std::mem::take(&mut self.joined);
        Poll::Ready(Ok(self.whole.take().unwrap_or_else(|| Bytes::from(joined))))
    }
}

/// The body encodings a request may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/json`.
    Json,
}

/// Name/value pairs; up to four are held without a heap allocation (a token request
/// has two to four).
type Pairs<'a> = SmallVec<[(Cow<'a, str>, Cow<'a, str>); 4]>;

/// Name/value pairs in request order, empty values already dropped. Form values borrow
/// from the request where no decoding was needed.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params<'a> {
    pairs: Pairs<'a>,
    last_wins: bool,
}

impl<'a> Params<'a> {
    /// Parses a form-urlencoded string (a body or a query).
    pub(crate) fn from_form(bytes: &'a [u8]) -> Params<'a> {
        // An empty pair (`a=1&&b=2`) has an empty value and goes with the other empty values.
        let pairs = match std::str::from_utf8(bytes) {
            // The usual case: checked once, then every component is a slice of the text.
            Ok(text) => form_pairs(bytes, |from, to| text_component(&text[from..to])),
            Err(_) => form_pairs(bytes, |from, to| form_component(&bytes[from..to])),
        };
        Params {
            pairs,
            last_wins: false,
        }
    }

    /// Parses a JSON object whose members are strings (numbers and booleans are taken
    /// as their text; `null` as omitted). Repeated keys are kept, so they can be refused.
    pub(crate) fn from_json<'b>(bytes: &[u8]) -> Result<Params<'b>, OAuthError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let pairs = de
            .deserialize_map(PairsVisitor)
            .and_then(|p| de.end().map(|_| p))
            .map_err(|e| OAuthError::invalid_request(format!("Malformed JSON body: {e}")))?;
        let mut out = Pairs::with_capacity(pairs.len());
        for (k, v) in pairs {
            let text = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => {
                    return Err(OAuthError::invalid_request(format!(
                        "Parameter '{k}' must be a string"
                    )))
                }
            };
            if !text.is_empty() {
                out.push((Cow::Owned(k), Cow::Owned(text)));
            }
        }
        Ok(Params {
            pairs: out,
            last_wins: false,
        })
    }

    /// Lets the last of repeated parameters win instead of refusing them
    /// (fault `accept-duplicate-params`).
    pub(crate) fn accept_duplicates(&mut self) {
        self.last_wins = true;
    }

    /// The first parameter name that appears more than once, unless repeats are accepted.
    pub fn duplicate(&self) -> Option<&str> {
        if self.last_wins {
            return None;
        }
        for (i, (k, _)) in self.pairs.iter().enumerate() {
            if self.pairs[..i].iter().any(|(k2, _)| k2 == k) {
                return Some(k);
            }
        }
        None
    }

    /// A parameter's value (empty values count as absent).
    pub fn get(&self, name: &str) -> Option<&str> {
        let mut it = self.pairs.iter().filter(|(k, _)| k == name);
        let found = if self.last_wins {
            it.next_back()
        } else {
            it.next()
        };
        found.map(|(_, v)| v.as_ref())
    }

    /// Every pair, in request order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// How many times a parameter appears with a value.
    pub(crate) fn get_all(&self, name: &str) -> usize {
        self.pairs.iter().filter(|(k, _)| k == name).count()
    }

    /// Whether the parameter is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Adds pairs from another source (query credentials under a fault).
    pub fn extend(&mut self, other: Params<'a>) {
        self.pairs.extend(other.pairs);
    }

    /// Refuses a repeated parameter with `invalid_request`.
    pub(crate) fn reject_duplicates(&self) -> Result<(), OAuthError> {
        match self.duplicate() {
            Some(name) => Err(OAuthError::invalid_request(format!(
                "Parameter '{name}' was sent more than once"
            ))),
            None => Ok(()),
        }
    }
}

/// The pairs of a form body with empty values dropped, each component made by
/// `component` from its byte range. The separators are found by memchr: a byte-at-a-time
/// search costs more than the rest of the parse on bodies this short.
fn form_pairs<'a>(bytes: &'a [u8], component: impl Fn(usize, usize) -> Cow<'a, str>) -> Pairs<'a> {
    let mut pairs = Pairs::new();
    let mut start = 0;
    while start <= bytes.len() {
        let end = find(b'&', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let (key, value) = match find(b'=', &bytes[start..end]) {
            Some(i) => (component(start, start + i), component(start + i + 1, end)),
            None => (component(start, end), Cow::Borrowed("")),
        };
        if !value.is_empty() {
            pairs.push((key, value));
        }
        start = end + 1;
    }
    pairs
}

/// Below this many bytes a plain loop finds a byte sooner than memchr, whose dispatch and
/// setup cost more than the search (callgrind: the client_credentials body's names and
/// values, and Basic credentials, are all shorter).
const SHORT: usize = 32;

/// Where `needle` first occurs in `hay`.
fn find(needle: u8, hay: &[u8]) -> Option<usize> {
    if hay.len() < SHORT {
        hay.iter().position(|b| *b == needle)
    } else {
        memchr::memchr(needle, hay)
    }
}

/// Whether `raw` has anything to form-decode (`%` or `+`).
fn has_escapes(raw: &[u8]) -> bool {
    if raw.len() < SHORT {
        raw.iter().any(|b| matches!(b, b'%' | b'+'))
    } else {
        memchr::memchr2(b'%', b'+', raw).is_some()
    }
}

/// One name or value of a form body (or of a Basic credential, RFC 6749 §2.3.1), decoded
/// as form_urlencoded decodes it: `+` is a space, `%XX` a byte (a `%` without two hex
/// digits stays as it is), invalid UTF-8 replaced. Most components have nothing to decode
/// and are borrowed as they are.
///
/// Written out rather than left to form_urlencoded because these are the token endpoint's
/// bodies, the load tests' hot path: its parser makes several passes over every byte and
/// its decoder works a byte at a time through an iterator (measured in
/// docs/performance.md). Two property tests check that this parse and form_urlencoded's
/// agree on any text and any bytes.
pub(crate) fn form_component(raw: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(text) => text_component(text),
        Err(_) => Cow::Owned(decode(raw)),
    }
}

/// [`form_component`] of a component already known to be UTF-8.
pub(crate) fn text_component(raw: &str) -> Cow<'_, str> {
    if has_escapes(raw.as_bytes()) {
        Cow::Owned(decode(raw.as_bytes()))
    } else {
        Cow::Borrowed(raw)
    }
}

/// `+` to a space, `%XX` to its byte, then UTF-8 with invalid sequences replaced.
fn decode(raw: &[u8]) -> String {
    fn hex(b: Option<&u8>) -> Option<u8> {
        match b? {
            d @ b'0'..=b'9' => Some(d - b'0'),
            d @ b'a'..=b'f' => Some(d - b'a' + 10),
            d @ b'A'..=b'F' => Some(d - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    // Runs without `%` or `+` are copied whole.
    while let Some(at) = memchr::memchr2(b'%', b'+', rest) {
        out.extend_from_slice(&rest[..at]);
        let (byte, used) = match rest[at] {
            b'+' => (b' ', 1),
            _ => match (hex(rest.get(at + 1)), hex(rest.get(at + 2))) {
                (Some(high), Some(low)) => (high * 16 + low, 3),
                _ => (b'%', 1),
            },
        };
        out.push(byte);
        rest = &rest[at + used..];
    }
    out.extend_from_slice(rest);
    match String::from_utf8(out) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

struct PairsVisitor;

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Vec<(String, serde_json::Value)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
            out.push((k, v));
        }
        Ok(out)
    }
}

/// Which encoding the `Content-Type` names, if one the builtin accepts.
pub(crate) fn encoding_of(headers: &HeaderMap) -> Option<Encoding> {
    // Compared as bytes: the names are ASCII, so a value that is not cannot match.
    let ct = headers.get(header::CONTENT_TYPE)?.as_bytes();
    let essence = memchr::memchr(b';', ct)
        .map_or(ct, |i| &ct[..i])
        .trim_ascii();
    if essence.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") {
        Some(Encoding::Form)
    } else if essence.eq_ignore_ascii_case(b"application/json") {
        Some(Encoding::Json)
    } else {
        None
    }
}

/// Parses a body by its `Content-Type`; any other type is `invalid_request` (§15 #1).
/// `allowed` lists the encodings this server accepts (faults can narrow it).
pub(crate) fn parse_body<'a>(
    headers: &HeaderMap,
    body: &'a [u8],
    allowed: &[Encoding],
) -> Result<Params<'a>, OAuthError> {
    let enc = encoding_of(headers)
        .filter(|e| allowed.contains(e))
        .ok_or_else(|| {
            OAuthError::invalid_request(
                "Content-Type must be application/x-www-form-urlencoded or application/json",
            )
        })?;
    match enc {
        Encoding::Form => Ok(Params::from_form(body)),
        Encoding::Json => Params::from_json(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_keeps_repeats_and_drops_empty_values() {
        let p = Params::from_form(b"client_id=noorle-cli&scope=&foo=bar&scope=api&scope=read");
        assert_eq!(p.get("scope"), Some("api"));
        assert_eq!(p.duplicate(), Some("scope"));
        let p = Params::from_form(b"client_id=a&scope=");
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.duplicate(), None);
        // The value runs from the first `=`.
        let p = Params::from_form(b"a==b&c=d=e");
        assert_eq!((p.get("a"), p.get("c")), (Some("=b"), Some("d=e")));
    }

    #[test]
    fn json_keeps_repeats_and_refuses_nested_values() {
        let p = Params::from_json(br#"{"client_id":"a","client_id":"b"}"#).expect("object");
        assert_eq!(p.duplicate(), Some("client_id"));
        let e = Params::from_json(br#"{"scope":["api"]}"#).expect_err("array");
        assert_eq!(e.code, crate::oauth::ErrorCode::InvalidRequest);
        assert!(Params::from_json(b"[1]").is_err());
        assert!(Params::from_json(br#"{"a":"b"} trailing"#).is_err());
        let p = Params::from_json(br#"{"n":5,"z":null}"#).expect("object");
        assert_eq!(p.get("n"), Some("5"));
        assert!(!p.has("z"));
    }

    #[test]
    fn components_are_form_decoded_and_borrowed_when_plain() {
        let plain = form_component(b"m2m-secret");
        assert!(matches!(plain, Cow::Borrowed("m2m-secret")));
        assert_eq!(form_component(b"s%3Ae%25c+r"), "s:e%c r");
        assert_eq!(form_component(b"a%2Bb"), "a+b");
        assert_eq!(form_component(b"%E2%9C%93"), "\u{2713}");
        // Not valid UTF-8 once decoded: replaced, never a panic.
        assert_eq!(form_component(b"%FF"), "\u{fffd}");
    }

    /// What form_urlencoded makes of a body, empty values dropped.
    fn reference_parse(body: &[u8]) -> Vec<(String, String)> {
        url::form_urlencoded::parse(body)
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn our_parse(body: &[u8]) -> Vec<(String, String)> {
        Params::from_form(body)
            .pairs
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    proptest::proptest! {
        /// Text bodies, dense in the characters that matter (`%XX`, `+`, `=`, `&`).
        #[test]
        fn form_bodies_parse_as_form_urlencoded_parses_them(
            body in "([a-fA-F_=&%+0-9]|%[0-9a-fA-F]{2}|\\PC){0,40}"
        ) {
            proptest::prop_assert_eq!(our_parse(body.as_bytes()), reference_parse(body.as_bytes()));
        }

        /// Any bytes, invalid UTF-8 included (decoded lossily by both).
        #[test]
        fn byte_bodies_parse_as_form_urlencoded_parses_them(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48)
        ) {
            proptest::prop_assert_eq!(our_parse(&body), reference_parse(&body));
        }

        /// Names and values on both sides of the length where the searches switch from a
        /// plain loop to memchr (`SHORT`), with escapes anywhere in them.
        #[test]
        fn long_and_short_components_parse_alike(
            pairs in proptest::collection::vec(("([a-z0-9+]|%[0-9A-F]{2}){0,45}", "([a-z0-9+]|%[0-9A-F]{2}){0,45}"), 0..4)
        ) {
            let body = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
            proptest::prop_assert_eq!(our_parse(body.as_bytes()), reference_parse(body.as_bytes()));
        }
    }

    #[test]
    fn last_wins_under_the_fault() {
        let mut p = Params::from_form(b"a=1&a=2");
        p.accept_duplicates();
        assert_eq!(p.duplicate(), None);
        assert_eq!(p.get("a"), Some("2"));
    }
}
