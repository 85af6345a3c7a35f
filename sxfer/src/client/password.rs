//! Where a password comes from: `SXFER_PASSWORD`, `--password-file`, or a
//! prompt on the terminal. Never the command line.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context, Result};

use sxfer_proto::secret::Password;

pub const PASSWORD_ENV: &str = "SXFER_PASSWORD";

pub fn obtain(file: Option<&Path>, prompt: &str) -> Result<Password> {
    if let Some(path) = file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("reading password file {}", path.display()))?,
        );
        let line = text.lines().next().unwrap_or_default();
        return nonempty(line.to_owned());
    }
    if let Ok(value) = std::env::var(PASSWORD_ENV) {
        return nonempty(value);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password: set {PASSWORD_ENV}, use --password-file, or run on a terminal");
    }
    nonempty(rpassword::prompt_password(prompt).context("reading the password")?)
}

/// Ask twice on a terminal (new passwords); env and file are taken as is.
pub fn obtain_new(file: Option<&Path>, what: &str) -> Result<Password> {
    if file.is_some() || std::env::var(PASSWORD_ENV).is_ok() || !std::io::stdin().is_terminal() {
        return obtain(file, what);
    }
    let first = obtain(None, &format!("New password for {what}: "))?;
    let second = obtain(None, "Retype the new password: ")?;
    if first != second {
        bail!("the passwords do not match");
    }
    Ok(first)
}

fn nonempty(password: String) -> Result<Password> {
    let password = Password::new(password);
    if password.expose().is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}
