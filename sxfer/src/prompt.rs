//! Questions on the terminal: a host key to trust, a peer to send to, an
//! offer to accept. Only where both standard input and standard error are
//! a terminal; elsewhere the caller must have been told by a flag.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};

/// True if a question can be asked (stdin and stderr are a terminal).
pub fn is_interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Shows `question` on stderr and returns the answer line, trimmed; `None`
/// when there is no terminal to ask on.
pub fn ask(question: &str) -> Result<Option<String>> {
    if !is_interactive() {
        return Ok(None);
    }
    eprint!("{question}");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).context("reading the answer")?;
    Ok(Some(answer.trim().to_owned()))
}

/// A y/N question: true only for `y` or `yes`; `None` without a terminal.
pub fn confirm(question: &str) -> Result<Option<bool>> {
    let answer = ask(&format!("{question} [y/N] "))?;
    Ok(answer.map(|answer| matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes")))
}
