//! Remote file names (PROTOCOL.md §7.1): user-facing labels, never paths.
//!
//! A `RemoteName` is `/`-separated segments of UTF-8. Checked once, here:
//! no empty segment (so no leading, trailing or doubled `/`), no `.` or
//! `..`, no NUL, no control characters (C0, DEL, C1), no backslash, each
//! segment at most 255 bytes, the whole at most 1024 bytes.
//!
//! Everything else is a legal name, bidirectional controls included (a
//! U+202E can make `gpj.exe` look like `exe.jpg`), so names are shown on a
//! terminal only through [`display_safe`] or `Display`, which escape them.

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

/// Shows the name as [`display_safe`] does: bidirectional controls, legal
/// in a name, are escaped.
impl std::fmt::Display for RemoteName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_safe(&self.0, f)
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
/// sequences included) and the bidirectional controls (which reorder what
/// follows them, so `a\u{202e}gpj.exe` would show as `aexe.jpg`) become
/// `\u{..}` escapes.
pub fn display_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Writing into a String cannot fail.
    let _ = write_safe(text, &mut out);
    out
}

/// The Unicode `Bidi_Control` characters: the marks ALM (U+061C), LRM
/// (U+200E) and RLM (U+200F), the embeddings and overrides U+202A–U+202E,
/// and the isolates U+2066–U+2069. They are format characters (category
/// Cf), not control characters, so `char::is_control` misses them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn write_safe(text: &str, out: &mut impl std::fmt::Write) -> std::fmt::Result {
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| c.is_control() || is_bidi_control(c)) {
        out.write_str(&rest[..at])?;
        let mut chars = rest[at..].chars();
        if let Some(unsafe_char) = chars.next() {
            write!(out, "{}", unsafe_char.escape_unicode())?;
        }
        rest = chars.as_str();
    }
    out.write_str(rest)
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
        assert_eq!(display_safe("plain ünïcode/名前"), "plain ünïcode/名前");
    }

    #[test]
    fn bidirectional_controls_are_escaped_in_names_and_text() {
        let bidi = [
            '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}',
            '\u{2067}', '\u{2068}', '\u{2069}',
        ];
        for c in bidi {
            let name = RemoteName::parse(&format!("invoice{c}fdp.exe")).expect("a legal name");
            let escaped = format!("invoice\\u{{{:x}}}fdp.exe", c as u32);
            assert_eq!(name.to_string(), escaped, "{:#x}", c as u32);
            assert_eq!(display_safe(name.as_str()), escaped, "{:#x}", c as u32);
            assert_eq!(name.as_str().chars().nth(7), Some(c), "the name itself is unchanged");
        }
        // Neighbours of the ranges are ordinary text.
        for c in ['\u{061b}', '\u{200d}', '\u{2029}', '\u{202f}', '\u{2065}', '\u{206a}'] {
            assert_eq!(display_safe(&format!("a{c}b")), format!("a{c}b"), "{:#x}", c as u32);
        }
    }
}
