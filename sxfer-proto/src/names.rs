//! Remote file names (PROTOCOL.md §7.1): user-facing labels, never paths.
//!
//! A `RemoteName` is `/`-separated segments of UTF-8. Checked once, here:
//! no empty segment (so no leading, trailing or doubled `/`), no `.` or
//! `..`, no NUL, no control characters (C0, DEL, C1), no backslash, each
//! segment at most 255 bytes, the whole at most 1024 bytes.

use crate::error::{Error, Result};

pub const MAX_NAME: usize = 1024;
pub const MAX_SEGMENT: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteName(String);

impl RemoteName {
    pub fn parse(name: &str) -> Result<Self> {
        if name.is_empty() {
            return Err(Error::Malformed("file name is empty"));
        }
        if name.len() > MAX_NAME {
            return Err(Error::Malformed("file name longer than 1024 bytes"));
        }
        for segment in name.split('/') {
            check_segment(segment)?;
        }
        Ok(RemoteName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `prefix/self`, checked again as a whole.
    pub fn join(prefix: &RemoteName, rest: &str) -> Result<Self> {
        RemoteName::parse(&format!("{}/{}", prefix.0, rest))
    }

    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl std::fmt::Display for RemoteName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Control characters are impossible by construction: safe to print.
        f.write_str(&self.0)
    }
}

fn check_segment(segment: &str) -> Result<()> {
    match segment {
        "" => Err(Error::Malformed("file name has an empty segment (leading, trailing or double '/')")),
        "." | ".." => Err(Error::Malformed("file name has a '.' or '..' segment")),
        _ if segment.len() > MAX_SEGMENT => Err(Error::Malformed("file name segment longer than 255 bytes")),
        _ if segment.chars().any(|c| c.is_control()) => Err(Error::Malformed("file name has a control character")),
        _ if segment.contains('\\') => Err(Error::Malformed("file name has a backslash")),
        _ => Ok(()),
    }
}

/// Make any string safe to show on a terminal: control characters (escape
/// sequences included) become `\u{..}` escapes.
pub fn display_safe(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn battery() {
        for good in ["a", "reports/2026/q3.pdf", "x y", "ünïcode/名前", "..a", "a.."] {
            assert!(RemoteName::parse(good).is_ok(), "{good}");
        }
        let long = "a".repeat(4096);
        let long_segment = "b".repeat(256);
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../b",
            "a/./b",
            "a//b",
            "a/",
            ".",
            "..",
            "a\0b",
            "\x1b[31m",
            "a\nb",
            "a\\b",
            "\u{9b}x",
            long.as_str(),
            long_segment.as_str(),
        ] {
            assert!(RemoteName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_safe_escapes_terminal_sequences() {
        assert_eq!(display_safe("a\x1b[31mb"), "a\\u{1b}[31mb");
    }
}
