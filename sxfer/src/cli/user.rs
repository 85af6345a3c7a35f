//! `sxfer user …`: account administration, run on the server machine
//! against its data directory (the server may be running: SQLite WAL).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use sxfer::client::password;
use sxfer::config::{parse_size, DEFAULT_DATA_DIR};
use sxfer::output::{format_time, hex};
use sxfer::store::Store;
use sxfer_proto::identity::{Fingerprint, PublicIdentity};
use sxfer_proto::msgs::Username;

#[derive(Args, Debug)]
pub struct UserArgs {
    /// Data directory of the server.
    #[arg(long, env = "SXFER_DATA_DIR", default_value = DEFAULT_DATA_DIR, global = true)]
    data_dir: PathBuf,
    /// Read the password from this file (first line) instead of a prompt or SXFER_PASSWORD.
    #[arg(long, global = true)]
    password_file: Option<PathBuf>,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create an account (with a password unless --no-password).
    Add {
        name: String,
        /// Key-only account: no password.
        #[arg(long)]
        no_password: bool,
        /// An OpenSSH public key file to authorize at once.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Delete an account and all its files.
    Del { name: String },
    /// List accounts.
    List,
    /// Set or change a password.
    Passwd { name: String },
    /// Set quotas (omit a flag to make it unlimited).
    Quota {
        name: String,
        #[arg(long)]
        bytes: Option<String>,
        #[arg(long)]
        files: Option<u64>,
    },
    /// Make an invite token for `sxfer register --invite-file` (shown once).
    Invite {
        /// How many accounts it may create.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Days until it expires.
        #[arg(long, default_value_t = 7)]
        days: u64,
    },
    /// Manage a user's public keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Authorize the key(s) in an OpenSSH .pub / authorized_keys file.
    Add { name: String, file: PathBuf },
    /// Remove a key by fingerprint (SHA256:…).
    Del { name: String, fingerprint: String },
    /// List a user's keys.
    List { name: String },
}

pub fn run(args: UserArgs) -> Result<()> {
    let store = open(&args.data_dir)?;
    let password_file = args.password_file.as_deref();
    match args.command {
        UserCommand::Add { name, no_password, key } => {
            let name = username(&name)?;
            let keys = key.map(|path| read_public_keys(&path)).transpose()?.unwrap_or_default();
            if no_password && keys.is_empty() {
                bail!("a key-only account needs --key FILE");
            }
            let password =
                if no_password { None } else { Some(password::obtain_new(password_file, &format!("user {name}"))?) };
            let user = store.add_user(&name, password.as_ref())?;
            for key in &keys {
                store.add_key(&name, key)?;
            }
            sxfer::say!("added user {} (client id {})", user.name, user.client_id);
        }
        UserCommand::Del { name } => {
            let name = username(&name)?;
            store.delete_user(&name)?;
            sxfer::say!("deleted user {name} and their files");
        }
        UserCommand::List => {
            sxfer::say!(
                "{:<20} {:<32} {:>8} {:>5} {:>8} {:>14}  created",
                "name",
                "client id",
                "password",
                "keys",
                "files",
                "bytes"
            );
            for user in store.list_users()? {
                sxfer::say!(
                    "{:<20} {:<32} {:>8} {:>5} {:>8} {:>14}  {}",
                    user.name.as_str(),
                    hex(&user.client_id.0),
                    if user.has_password { "yes" } else { "no" },
                    user.keys,
                    user.files,
                    user.bytes,
                    format_time(user.created)
                );
            }
        }
        UserCommand::Passwd { name } => {
            let name = username(&name)?;
            let password = password::obtain_new(password_file, &format!("user {name}"))?;
            store.set_password(&name, &password)?;
            sxfer::say!("password changed for {name}");
        }
        UserCommand::Quota { name, bytes, files } => {
            let name = username(&name)?;
            let bytes = bytes.map(|b| parse_size(&b)).transpose()?;
            store.set_quota(&name, bytes, files)?;
            sxfer::say!("quota for {name}: {} bytes, {} files", show(bytes), show(files));
        }
        UserCommand::Invite { uses, days } => {
            let token = store.create_invite(uses, days.saturating_mul(86_400))?;
            sxfer::say!("{}", token.as_str());
            eprintln!("invite for {uses} registration(s), valid {days} day(s); it is shown only now");
        }
        UserCommand::Key { command } => match command {
            KeyCommand::Add { name, file } => {
                let name = username(&name)?;
                for key in read_public_keys(&file)? {
                    store.add_key(&name, &key)?;
                    sxfer::say!("authorized {} {} for {name}", key.key_type().label(), key.fingerprint());
                }
            }
            KeyCommand::Del { name, fingerprint } => {
                let name = username(&name)?;
                let fingerprint: Fingerprint = fingerprint.parse().context("bad fingerprint")?;
                store.delete_key(&name, &fingerprint)?;
                sxfer::say!("removed {fingerprint} from {name}");
            }
            KeyCommand::List { name } => {
                for key in store.list_keys(&username(&name)?)? {
                    sxfer::say!("{} {} {}", key.key_type().label(), key.fingerprint(), key.comment());
                }
            }
        },
    }
    Ok(())
}

fn open(dir: &Path) -> Result<Store> {
    Store::open(dir).with_context(|| format!("opening data directory {}", dir.display()))
}

fn username(name: &str) -> Result<Username> {
    Username::parse(name).with_context(|| format!("bad user name {name:?}"))
}

fn read_public_keys(path: &Path) -> Result<Vec<PublicIdentity>> {
    let keys = sxfer::keys::read_public_keys(path)?;
    if keys.is_empty() {
        bail!("{}: no public keys", path.display());
    }
    Ok(keys)
}

fn show(value: Option<u64>) -> String {
    value.map_or("unlimited".to_owned(), |v| v.to_string())
}
