//! `sxfer`: secure file transfer. Parses the command line, runs one command,
//! and turns any error into a single line on stderr.
//!
//! Exit codes: 0 success, 1 the command failed, 2 the command line was wrong.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` joins the context chain with ": ".
            let message = format!("{err:#}");
            eprintln!("sxfer: error: {}", one_line(&message));
            ExitCode::FAILURE
        }
    }
}

/// Error text as one line, whatever the underlying errors contain; control
/// characters (terminal escapes from a hostile peer) are shown escaped.
fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    sxfer_proto::names::display_safe(&line)
}
