//! Values that must never be printed whole: client secrets, tokens, codes, verifiers.
//!
//! [`Secret`] wraps such a value so that `Debug` and `Display` show only a redacted
//! form; reading the value takes an explicit [`Secret::expose`]. This is how oauth2-rs
//! keeps secrets out of logs, and it is the first line of defence: a stray `{:?}` in a
//! log line cannot leak what it cannot see.

use std::fmt;

/// A value whose `Debug` and `Display` are redacted.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The wrapped value. Call it only where the value goes on the wire.
    pub(crate) fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("s3cr3t-value".to_string());
        assert!(!format!("{s:?}").contains("s3cr3t"));
        assert!(!format!("{s}").contains("s3cr3t"));
        assert_eq!(s.expose(), "s3cr3t-value");
    }
}
