//! `[user@]host[:port][:path]` — the scp/sftp addressing users know.
//!
//! After the host, a `:`-separated part made only of digits is the port
//! (`alice@srv:7272:reports/`); anything else is the path. A path that is
//! all digits needs the port spelled out (`srv:7272:2026`). IPv6 hosts go
//! in brackets: `[::1]:7272:file`.

use anyhow::{bail, Context, Result};

use sxfer_proto::msgs::Username;

pub const DEFAULT_PORT: u16 = 7272;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: Option<Username>,
    pub host: String,
    pub port: u16,
    /// The remote path, if one was given (may be empty after a trailing ':').
    pub path: Option<String>,
}

impl Target {
    pub fn parse(text: &str) -> Result<Self> {
        let (user, rest) = match text.rsplit_once('@') {
            Some((user, rest)) if !user.contains(':') && !user.contains('/') => {
                (Some(Username::parse(user).with_context(|| format!("bad user name in {text:?}"))?), rest)
            }
            _ => (None, text),
        };
        let (host, rest) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').context("unclosed '[' in the host")?;
            (host.to_owned(), after.strip_prefix(':'))
        } else {
            match rest.split_once(':') {
                Some((host, after)) => (host.to_owned(), Some(after)),
                None => (rest.to_owned(), None),
            }
        };
        if host.is_empty() {
            bail!("no host in {text:?} (expected [user@]host[:port][:path])");
        }
        let (port, path) = match rest {
            None => (DEFAULT_PORT, None),
            Some(after) => {
                let (first, remainder) = match after.split_once(':') {
                    Some((first, remainder)) => (first, Some(remainder)),
                    None => (after, None),
                };
                if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
                    let port = first.parse::<u16>().with_context(|| format!("bad port {first:?}"))?;
                    (port, remainder.map(str::to_owned))
                } else {
                    (DEFAULT_PORT, Some(after.to_owned()))
                }
            }
        };
        Ok(Target { user, host, port, path })
    }

    /// `host:port`, as used for connecting and in known_hosts.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Target {
        Target::parse(text).expect(text)
    }

    #[test]
    fn forms() {
        assert_eq!(t("srv"), Target { user: None, host: "srv".into(), port: 7272, path: None });
        let x = t("alice@srv:7000:reports/q3.pdf");
        assert_eq!((x.user.unwrap().as_str(), x.port, x.path.as_deref()), ("alice", 7000, Some("reports/q3.pdf")));
        assert_eq!(t("srv:docs/a").path.as_deref(), Some("docs/a"));
        assert_eq!(t("srv:7000").port, 7000);
        assert_eq!(t("srv:").path.as_deref(), Some(""));
        assert_eq!(t("[::1]:9:x").address(), "[::1]:9");
        assert!(Target::parse("@srv").is_err());
        assert!(Target::parse("alice@:x").is_err());
        assert!(Target::parse("srv:99999:x").is_err());
    }
}
