//! What the user sees: progress bars on a terminal, one JSON object per
//! line with `--json`, nothing but errors with `-q`; and logging setup.

use std::io::{IsTerminal, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use sxfer_proto::identity::Fingerprint;
use sxfer_proto::manifest::Manifest;
use sxfer_proto::msgs::{EntryKind, FileEntry};
use sxfer_proto::names::display_safe;

/// Prints one line on standard output. A closed pipe (`sxfer ls | head`)
/// is not an error: the rest of the output is dropped and the command
/// carries on, so its exit status still says whether it worked. Any other
/// write failure ends the command with a one-line error.
pub fn say(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("sxfer: error: cannot write to standard output: {e}");
            std::process::exit(1);
        }
    }
}

/// `println!` for command output; see [`say`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::say(format_args!($($arg)*))
    };
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    pub quiet: bool,
    pub json: bool,
    /// Peer mode: a file the upload path moved was *sent* to a person, not
    /// uploaded to a server (the words and JSON events say so).
    pub peer: bool,
}

pub struct Progress(Option<ProgressBar>);

impl Output {
    pub fn progress(&self, total: u64, label: &str) -> Progress {
        if self.quiet || self.json || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{msg:30!} {bytes:>10}/{total_bytes:10} {binary_bytes_per_sec:>12} eta {eta:>4} [{bar:30}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(label.to_owned());
        Progress(Some(bar))
    }

    pub fn uploaded(&self, entry: &FileEntry) {
        self.entry_line(if self.peer { "sent" } else { "uploaded" }, entry, None);
    }

    pub fn downloaded(&self, entry: &FileEntry, local: &Path) {
        self.entry_line("downloaded", entry, Some(local));
    }

    /// Peer mode: a file verified and in place.
    pub fn received(&self, entry: &FileEntry, local: &Path) {
        self.entry_line("received", entry, Some(local));
    }

    /// Peer mode: a listener's key and address, on stderr (stdout with
    /// `--json`), whatever `quiet` says: the other side needs both.
    pub fn listening(&self, fingerprint: &Fingerprint, address: &str) {
        if self.json {
            crate::say!("{{\"event\":\"fingerprint\",\"fingerprint\":\"{fingerprint}\"}}");
            crate::say!("{{\"event\":\"listening\",\"address\":{}}}", json_string(address));
        } else {
            eprintln!("fingerprint {fingerprint}");
            eprintln!("listening on {address}");
        }
    }

    /// Peer mode: the one-time code a listener waits for, on stderr
    /// (stdout with `--json`), whatever `quiet` says.
    pub fn code(&self, code: &str) {
        if self.json {
            crate::say!("{{\"event\":\"code\",\"code\":{}}}", json_string(code));
        } else {
            eprintln!("code {code}");
        }
    }

    /// Peer mode: how the session runs, `direct` or `relayed via HOST`.
    pub fn path(&self, via: Option<&str>) {
        match (self.json, via) {
            (true, Some(host)) => crate::say!("{{\"event\":\"relayed\",\"via\":{}}}", json_string(host)),
            (true, None) => crate::say!("{{\"event\":\"direct\"}}"),
            (false, Some(host)) => eprintln!("relayed via {}", display_safe(host)),
            (false, None) => eprintln!("direct"),
        }
    }

    /// Peer mode: a connection to a listener failed or was refused; it
    /// goes on waiting.
    pub fn connection_failed(&self, peer: &str, message: &str) {
        if self.json {
            crate::say!(
                "{{\"event\":\"connection_failed\",\"peer\":{},\"message\":{}}}",
                json_string(peer),
                json_string(message)
            );
        } else {
            eprintln!("sxfer: connection from {peer} failed: {}; still listening", display_safe(message));
        }
    }

    /// Peer mode: what a sender offers, shown before the receiver decides.
    pub fn offer(&self, manifest: &Manifest, peer: &str) {
        let (files, total) = (manifest.file_count(), manifest.total_bytes());
        let directories = manifest.entries().len() - files;
        if self.json {
            crate::say!(
                "{{\"event\":\"offer\",\"peer\":{},\"files\":{files},\"directories\":{directories},\"bytes\":{total}}}",
                json_string(peer)
            );
            for entry in manifest.entries() {
                crate::say!(
                    "{{\"event\":\"offered\",\"name\":{},\"kind\":\"{}\",\"size\":{},\"mode\":{},\"mtime\":{}}}",
                    json_string(entry.name.as_str()),
                    kind_name(entry.kind),
                    entry.meta.size,
                    entry.meta.mode,
                    entry.meta.mtime
                );
            }
            return;
        }
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        eprintln!(
            "{} offers {} and {}, {} ({total} bytes):",
            display_safe(peer),
            plural(files, "file", "files"),
            plural(directories, "directory", "directories"),
            indicatif::HumanBytes(total)
        );
        for entry in manifest.entries().iter().take(OFFER_SHOWN) {
            eprintln!("  {:<9} {:>12}  {}", kind_name(entry.kind), entry.meta.size, entry.name);
        }
        if manifest.entries().len() > OFFER_SHOWN {
            eprintln!("  … and {} more", manifest.entries().len() - OFFER_SHOWN);
        }
    }

    pub fn entry(&self, entry: &FileEntry) {
        if self.json {
            crate::say!("{}", entry_json("entry", entry, None));
        } else {
            crate::say!(
                "{:>04o} {:>12} {} {}",
                entry.meta.mode,
                entry.meta.size,
                format_time(entry.meta.mtime),
                sxfer_proto::names::display_safe(entry.name.as_str())
            );
        }
    }

    pub fn stat(&self, entry: &FileEntry) {
        if self.json {
            crate::say!("{}", entry_json("stat", entry, None));
        } else {
            crate::say!("name:   {}", sxfer_proto::names::display_safe(entry.name.as_str()));
            crate::say!("size:   {}", entry.meta.size);
            crate::say!("mode:   {:04o}", entry.meta.mode);
            crate::say!("mtime:  {}", format_time(entry.meta.mtime));
            crate::say!("stored: {}", format_time(entry.stored));
            crate::say!("blake3: {}", hex(&entry.digest));
        }
    }

    /// A drop the server stored (`sxfer drop`).
    pub fn dropped(&self, name: &str, id: &str) {
        if self.json {
            crate::say!("{{\"event\":\"dropped\",\"name\":{},\"id\":{}}}", json_string(name), json_string(id));
        } else if !self.quiet {
            crate::say!("dropped {} as {id}", sxfer_proto::names::display_safe(name));
        }
    }

    pub fn note(&self, text: &str) {
        if !self.quiet && !self.json {
            eprintln!("{text}");
        }
    }

    pub fn failure(&self, text: &str) {
        if self.json {
            crate::say!("{{\"event\":\"error\",\"message\":{}}}", json_string(text));
        }
        tracing::warn!("{text}");
    }

    pub fn done(&self, event: &str, name: &str) {
        if self.json {
            crate::say!("{{\"event\":{},\"name\":{}}}", json_string(event), json_string(name));
        } else if !self.quiet {
            crate::say!("{event} {}", sxfer_proto::names::display_safe(name));
        }
    }

    fn entry_line(&self, event: &str, entry: &FileEntry, local: Option<&Path>) {
        if self.json {
            crate::say!("{}", entry_json(event, entry, local));
        } else if !self.quiet {
            crate::say!(
                "{event} {} ({} bytes)",
                sxfer_proto::names::display_safe(entry.name.as_str()),
                entry.meta.size
            );
        }
    }
}

impl Progress {
    pub fn inc(&self, bytes: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(bytes);
        }
    }

    pub fn set_message(&self, text: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(sxfer_proto::names::display_safe(text));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Entries of an offer listed on a terminal (all of them with `--json`).
const OFFER_SHOWN: usize = 50;

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Directory => "directory",
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn entry_json(event: &str, entry: &FileEntry, local: Option<&Path>) -> String {
    let mut text = format!(
        "{{\"event\":{},\"name\":{},\"size\":{},\"mode\":{},\"mtime\":{},\"stored\":{},\"blake3\":\"{}\"",
        json_string(event),
        json_string(entry.name.as_str()),
        entry.meta.size,
        entry.meta.mode,
        entry.meta.mtime,
        entry.stored,
        hex(&entry.digest)
    );
    if let Some(local) = local {
        text.push_str(&format!(",\"local\":{}", json_string(&local.to_string_lossy())));
    }
    text.push('}');
    text
}

/// A JSON string literal (RFC 8259 escaping).
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            // Escaped, though JSON needs it only below 0x20, so that
            // output read on a terminal is as safe as `display_safe`.
            c if c.is_control() || sxfer_proto::names::is_bidi_control(c) => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `YYYY-MM-DD HH:MM:SS` UTC, without a date crate (civil-from-days).
pub fn format_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_json() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(json_string("a\"b\\\n\x1b"), "\"a\\\"b\\\\\\u000a\\u001b\"");
        // Lossless for a JSON reader, inert on a terminal.
        assert_eq!(json_string("a\u{202e}b\u{9b}c"), "\"a\\u202eb\\u009bc\"");
    }
}
