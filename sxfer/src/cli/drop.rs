//! Drops (PROTOCOL.md §14): `sxfer drop`, `sxfer inbox [rm]`, `sxfer fetch`,
//! `sxfer key publish`. Targets are `[user@]host[:port]`, or the saved
//! profile (`sxfer login`) when omitted. Drops need `-i KEY`: the key
//! that logs in signs what is sent and decrypts what is fetched.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use super::remote::{block_on, setup, ClientFlags};
use sxfer::client::target::Target;
use sxfer::client::{self, ClientOptions, Purpose, Remote};
use sxfer::drop::contacts::Contacts;
use sxfer::drop::{self as drops, fetch, inbox, send, Party};
use sxfer::output::{format_time, Output};
use sxfer_proto::msgs::{DropId, Username};
use sxfer_proto::names::display_safe;

#[derive(Args, Debug)]
pub struct DropArgs {
    /// Files to drop (one drop each), then the server [user@]host[:port].
    #[arg(required = true, num_args = 1..)]
    paths: Vec<String>,
    /// A recipient on that server (repeat for several: one ciphertext for all).
    #[arg(long = "to", required = true)]
    to: Vec<String>,
    #[command(flatten)]
    flags: ClientFlags,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InboxArgs {
    #[command(subcommand)]
    command: Option<InboxCommand>,
    /// [user@]host[:port]; omit for the saved profile.
    target: Option<String>,
    #[command(flatten)]
    flags: ClientFlags,
}

#[derive(Subcommand, Debug)]
enum InboxCommand {
    /// Take a drop out of your inbox.
    Rm {
        id: String,
        /// [user@]host[:port]; omit for the saved profile.
        target: Option<String>,
        #[command(flatten)]
        flags: ClientFlags,
    },
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// The drop's id (from `sxfer inbox`).
    id: String,
    /// Directory to put the file in [default: .].
    dest: Option<PathBuf>,
    /// The server [user@]host[:port]; omit for the saved profile.
    #[arg(long)]
    server: Option<String>,
    /// Overwrite an existing local file.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    flags: ClientFlags,
}

#[derive(Args, Debug)]
pub struct ContactsArgs {
    #[command(subcommand)]
    command: Option<ContactsCommand>,
}

#[derive(Subcommand, Debug)]
enum ContactsCommand {
    /// Forget the pinned keys of user@host:port (after confirming their new key out of band).
    Rm { contact: String },
}

#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Add a key to your account's keys in the server's directory (a login
    /// key too); you log in as usual (password, or -i).
    Publish {
        /// [user@]host[:port]; omit for the saved profile.
        target: Option<String>,
        /// The OpenSSH private key to publish (it signs the proof) [default: the -i key].
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        flags: ClientFlags,
    },
}

pub fn drop_files(args: DropArgs) -> Result<()> {
    let (target_text, files) = match args.paths.split_last() {
        Some((target, files)) if !files.is_empty() => (target, files),
        _ => anyhow::bail!("give the files, then the server: sxfer drop FILE... --to USER [user@]host[:port]"),
    };
    let session = Session::open(target_text, &args.flags)?;
    let to = args
        .to
        .iter()
        .map(|name| Username::parse(name).with_context(|| format!("bad recipient {name:?}")))
        .collect::<Result<Vec<_>>>()?;
    let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    let jobs = send::plan(&files)?;
    let identity = Arc::new(client::load_identity(session.identity()?)?);
    session.run(|mut remote, party, options, output| async move {
        let staging = options.home.join("drops");
        let sent = send::send(&mut remote, &party, identity, &to, &jobs, &staging, &output).await;
        remote.close().await.ok();
        sent.map(|_| ())
    })
}

pub fn inbox(args: InboxArgs) -> Result<()> {
    match args.command {
        Some(InboxCommand::Rm { id, target, flags }) => {
            let id = parse_id(&id)?;
            let session = Session::open(target.as_deref().unwrap_or(":"), &flags)?;
            session.run(|mut remote, _, _, output| async move {
                let removed = inbox::remove(&mut remote, id).await;
                remote.close().await.ok();
                removed?;
                output.done("removed", &id.to_string());
                Ok(())
            })
        }
        None => {
            let session = Session::open(args.target.as_deref().unwrap_or(":"), &args.flags)?;
            session.run(|mut remote, party, _, output| async move {
                let listed = inbox::show(&mut remote, &party).await;
                remote.close().await.ok();
                for item in listed? {
                    print_entry(&output, &item);
                }
                Ok(())
            })
        }
    }
}

pub fn fetch(args: FetchArgs) -> Result<()> {
    let id = parse_id(&args.id)?;
    let dest = args.dest.unwrap_or_else(|| PathBuf::from("."));
    let session = Session::open(args.server.as_deref().unwrap_or(":"), &args.flags)?;
    let key = session.identity()?.to_path_buf();
    std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    session.run(|mut remote, party, options, output| async move {
        let staging = options.home.join("drops");
        let fetched = fetch::fetch(&mut remote, &party, &key, id, &dest, args.force, &staging, &output).await;
        remote.close().await.ok();
        output.done("fetched", &fetched?.display().to_string());
        Ok(())
    })
}

pub fn key(args: KeyArgs) -> Result<()> {
    let KeyCommand::Publish { target, key, flags } = args.command;
    let session = Session::open(target.as_deref().unwrap_or(":"), &flags)?;
    let path = match key {
        Some(path) => path,
        None => session.identity()?.to_path_buf(),
    };
    session.run(|mut remote, party, _, output| async move {
        let published = drops::publish(&mut remote, party.user, &path).await;
        remote.close().await.ok();
        let key = published?;
        output.done("published", &format!("{} key {}", key.key_type().label(), key.fingerprint()));
        Ok(())
    })
}

pub fn contacts(args: ContactsArgs) -> Result<()> {
    let contacts = Contacts::in_home(&client::home()?);
    match args.command {
        None => {
            for (contact, key) in contacts.list()? {
                sxfer::say!("{contact} {} {}", key.key_type().label(), key.fingerprint());
            }
        }
        Some(ContactsCommand::Rm { contact }) => match contacts.remove(&contact)? {
            0 => anyhow::bail!("no pinned key for {contact}"),
            n => eprintln!("forgot {n} key(s) of {contact}; the next drop to or from them pins anew"),
        },
    }
    Ok(())
}

/// What every drop command needs: the target, its options, the key it
/// logs in with, and the contacts file.
struct Session {
    target: Target,
    /// The server's address, which contact pins are bound to.
    server: String,
    options: ClientOptions,
    output: Output,
    user: Username,
    /// The `-i` key (or the profile's): it logs in, signs and decrypts.
    identity: Option<PathBuf>,
    contacts: Contacts,
}

impl Session {
    fn open(target: &str, flags: &ClientFlags) -> Result<Session> {
        let (mut target, options, output) = setup(target, flags)?;
        let user = match &target.user {
            Some(user) => user.clone(),
            None => Username::parse(&std::env::var("USER").unwrap_or_default()).context("give the user: user@host")?,
        };
        target.user = Some(user.clone());
        let server = target.address();
        let identity = options.identity_file.clone();
        let contacts = Contacts::in_home(&options.home);
        Ok(Session { target, server, options, output, user, identity, contacts })
    }

    fn identity(&self) -> Result<&std::path::Path> {
        self.identity.as_deref().context("drops need -i KEY: the key you log in with signs and decrypts them")
    }

    /// Connects and runs `command` with the session and who is asking.
    fn run<'s, F, Fut>(&'s self, command: F) -> Result<()>
    where
        F: FnOnce(Remote, Party<'s>, ClientOptions, Output) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        block_on(async {
            let remote = client::connect(&self.target, &self.options, Purpose::Login).await?;
            let party = Party { user: &self.user, server: &self.server, contacts: &self.contacts };
            command(remote, party, self.options.clone(), self.output).await
        })
    }
}

fn parse_id(text: &str) -> Result<DropId> {
    text.parse().with_context(|| format!("bad drop id {text:?} (32 hex digits, from sxfer inbox)"))
}

fn print_entry(output: &Output, item: &inbox::Listed) {
    let content = item.entry.header.content();
    let verified = match &item.verified {
        Ok(()) => "verified".to_owned(),
        Err(why) => format!("NOT VERIFIED: {}", display_safe(why)),
    };
    if output.json {
        sxfer::say!(
            "{{\"event\":\"drop\",\"id\":\"{}\",\"sender\":\"{}\",\"name\":{},\"size\":{},\"received\":{},\"verified\":{}}}",
            item.entry.id,
            content.sender,
            sxfer::output::json_string(content.name.as_str()),
            content.meta.size,
            item.entry.received,
            item.verified.is_ok()
        );
    } else {
        sxfer::say!(
            "{} {} {:>12} {} {} [{verified}]",
            item.entry.id,
            content.sender,
            content.meta.size,
            format_time(item.entry.received),
            display_safe(content.name.as_str()),
        );
    }
}
