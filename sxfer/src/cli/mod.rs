//! The command line: one subcommand per [`Command`] variant, each in its own
//! module with an `Args` struct and a `run` function.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};

mod audit;
mod drop;
mod keygen;
mod peer;
mod remote;
mod serve;
mod user;

/// Secure file transfer: server, client and peer mode.
#[derive(Parser, Debug)]
#[command(name = "sxfer", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a key pair (OpenSSH format, like ssh-keygen).
    Keygen(keygen::KeygenArgs),
    /// Print a key's SHA256 fingerprint (like ssh-keygen -l -E sha256 -f FILE).
    Fingerprint(keygen::FingerprintArgs),
    /// Run the file server (creates ./sxfer-data on first start).
    Serve(serve::ServeArgs),
    /// Manage accounts in a server's data directory.
    User(user::UserArgs),
    /// List a server's audit log (--user, --since, --json), or check its hash chain: audit verify.
    Audit(audit::AuditArgs),
    /// Create an account on a server that allows self-registration.
    Register(remote::RegisterArgs),
    /// Check credentials and remember user@host as the default server.
    Login(remote::LoginArgs),
    /// Upload files: sxfer upload FILE... [user@]host[:port][:dir]
    Upload(remote::UploadArgs),
    /// Download files: sxfer download [user@]host[:port]:NAME... [DIR]
    Download(remote::DownloadArgs),
    /// List files: sxfer ls [user@]host[:port][:prefix]
    Ls(remote::ListArgs),
    /// Show one file's metadata and digest.
    Stat(remote::NameArgs),
    /// Delete a file.
    Rm(remote::NameArgs),
    /// Rename a file: sxfer mv host:FROM TO
    Mv(remote::MoveArgs),
    /// Send files to a person: sxfer send FILE|DIR... HOST:PORT, or wait for them: --listen ADDR:PORT
    Send(peer::SendArgs),
    /// Receive files from a person: wait for them (--listen), or connect: sxfer receive HOST:PORT
    Receive(peer::ReceiveArgs),
    /// Send files end to end through a server: sxfer drop FILE... --to USER [user@]host[:port]; `drop status`, `drop revoke ID`.
    Drop(drop::DropArgs),
    /// List the drops waiting for you (sender, name, size, signature check); `inbox rm ID`.
    Inbox(drop::InboxArgs),
    /// Fetch, verify and decrypt a drop: sxfer fetch ID [DIR]
    Fetch(drop::FetchArgs),
    /// Your keys in a server's directory: sxfer key publish [user@]host --key FILE
    Key(drop::KeyArgs),
    /// The keys pinned for drop contacts (user@host:port); `contacts rm CONTACT`.
    Contacts(drop::ContactsArgs),
}

/// Parses `std::env::args`. Help and version go to stdout (exit 0); a usage
/// error becomes one line on stderr and exit code 2.
pub fn parse() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|err| match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
        }
        _ => {
            eprintln!("sxfer: error: {}", usage_error_line(&err.render().to_string()));
            ExitCode::from(2)
        }
    })
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen(args) => keygen::keygen(args),
        Command::Fingerprint(args) => keygen::fingerprint(args),
        Command::Serve(args) => serve::run(args),
        Command::User(args) => user::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Register(args) => remote::register(args),
        Command::Login(args) => remote::login(args),
        Command::Upload(args) => remote::upload(args),
        Command::Download(args) => remote::download(args),
        Command::Ls(args) => remote::list(args),
        Command::Stat(args) => remote::stat(args),
        Command::Rm(args) => remote::remove(args),
        Command::Mv(args) => remote::rename(args),
        Command::Send(args) => peer::send(args),
        Command::Receive(args) => peer::receive(args),
        Command::Drop(args) => drop::drop_files(args),
        Command::Inbox(args) => drop::inbox(args),
        Command::Fetch(args) => drop::fetch(args),
        Command::Key(args) => drop::key(args),
        Command::Contacts(args) => drop::contacts(args),
    }
}

/// Squeezes clap's multi-line usage error into one line: the message and any
/// `[possible values: …]`, without the usage block and the `--help` tip.
fn usage_error_line(rendered: &str) -> String {
    let mut parts = Vec::new();
    for line in rendered.lines().map(str::trim) {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() && !line.starts_with("tip:") {
            parts.push(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    let mut message = parts.join(" ");
    message.push_str(" (see `sxfer --help`)");
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_become_one_line() {
        let rendered = "error: invalid value 'dsa' for '--type <TYPE>'\n  \
                        [possible values: ed25519, rsa]\n\n\
                        For more information, try '--help'.\n";
        assert_eq!(
            usage_error_line(rendered),
            "invalid value 'dsa' for '--type <TYPE>' [possible values: ed25519, rsa] \
             (see `sxfer --help`)"
        );
    }

    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
