//! Short codes on the command line (PROTOCOL.md §4.6.3, §13.2): where a
//! connector's code comes from, and the listener's one-guess rule.

use anyhow::{bail, Result};

use crate::net::conn::is_wrong_code;
use crate::prompt;
use sxfer_proto::pake::Code;

/// The environment variable a code may come from (argv is visible to
/// other local users while the command runs; the environment is not).
pub const CODE_ENV: &str = "SXFER_CODE";

/// The connector's code: `--code CODE` if given a value, else
/// `$SXFER_CODE`, else a question on the terminal.
pub fn from_user(given: Option<&str>) -> Result<Code> {
    if let Some(text) = given {
        return Code::parse(text).map_err(|e| anyhow::anyhow!("bad --code: {e}"));
    }
    if let Ok(text) = std::env::var(CODE_ENV) {
        return Code::parse(&text).map_err(|e| anyhow::anyhow!("bad {CODE_ENV}: {e}"));
    }
    match prompt::ask("Code from the other side: ")? {
        Some(text) => Code::parse(&text).map_err(|e| anyhow::anyhow!("bad code: {e}")),
        None => bail!("no code: pass --code CODE, set {CODE_ENV}, or run on a terminal to type it"),
    }
}

/// How a listener takes a failed attempt in code mode: a spent guess
/// (anything after its PAKE answer went out) burns the code and ends the
/// listener; an earlier failure (a port scan, a cut hello) does not.
pub fn burn_on_guess(error: anyhow::Error, from: &str) -> anyhow::Error {
    if is_wrong_code(&error) {
        tracing::info!(peer = %from, "code mode: {error:#}");
        return super::listen::EndsListening(format!(
            "wrong code from {from}: the code is burnt, start again for a new one"
        ))
        .into();
    }
    error
}
