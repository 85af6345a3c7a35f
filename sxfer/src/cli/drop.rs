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
use sxfer::drop::{self as drops, fetch, inbox, send, status, Party};
use sxfer::output::{format_time, Output};
use sxfer_proto::msgs::{DropId, Username};
use sxfer_proto::names::display_safe;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct DropArgs {
    #[command(subcommand)]
    command: Option<DropCommand>,
    /// Files to drop (one drop each), then the server [user@]host[:port].
    #[arg(required = true, num_args = 1..)]
    paths: Vec<String>,
    /// A recipient on that server (repeat for several: one ciphertext for all).
    #[arg(long = "to", required = true)]
    to: Vec<String>,
    /// Delete the drop this long after the server stores it (30m, 12h, 7d;
    /// the server's limit, by default 30d) [default: never].
    #[arg(long, value_name = "DURATION", value_parser = parse_expires)]
    expires: Option<u32>,
    #[command(flatten)]
    flags: ClientFlags,
}

#[derive(Subcommand, Debug)]
enum DropCommand {
    /// The drops you sent: waiting, fetched (with a verified receipt), revoked, expired.
    Status {
        /// [user@]host[:port]; omit for the saved profile.
        target: Option<String>,
        #[command(flatten)]
        flags: ClientFlags,
    },
    /// Withdraw a drop you sent from every inbox; the server deletes it.
    Revoke {
        id: String,
        /// [user@]host[:port]; omit for the saved profile.
        target: Option<String>,
        #[command(flatten)]
        flags: ClientFlags,
    },
}

fn parse_expires(text: &str) -> Result<u32, String> {
    let seconds = sxfer::duration::parse_duration(text).map_err(|e| e.to_string())?;
    u32::try_from(seconds).map_err(|_| format!("duration {text:?} is too long"))
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
    /// Pin USER's key on a server only if its fingerprint is the one they
    /// told you (instead of trusting the first key the server hands out).
    Verify {
        /// The contact's account on that server.
        user: String,
        /// [user@]host[:port] of the server (you log in as usual); omit for the saved profile.
        target: Option<String>,
        /// The contact's key fingerprint (SHA256:…), as they read it to you.
        #[arg(long, value_name = "FP")]
        key_fingerprint: String,
        #[command(flatten)]
        flags: ClientFlags,
    },
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
    match args.command {
        Some(DropCommand::Status { target, flags }) => return status(target.as_deref(), &flags),
        Some(DropCommand::Revoke { id, target, flags }) => {
            let id = parse_id(&id)?;
            let session = Session::open(target.as_deref().unwrap_or(":"), &flags)?;
            return session.run(|mut remote, _, _, output| async move {
                let revoked = status::revoke(&mut remote, id).await;
                remote.close().await.ok();
                revoked?;
                output.done("revoked", &id.to_string());
                Ok(())
            });
        }
        None => {}
    }
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
    let expires_in_secs = args.expires.unwrap_or(0);
    session.run(|mut remote, party, options, output| async move {
        let staging = options.home.join("drops");
        let plan = send::Plan { identity, to: &to, expires_in_secs, staging: &staging };
        let sent = send::send(&mut remote, &party, plan, &jobs, &output).await;
        remote.close().await.ok();
        sent.map(|_| ())
    })
}

fn status(target: Option<&str>, flags: &ClientFlags) -> Result<()> {
    let session = Session::open(target.unwrap_or(":"), flags)?;
    session.run(|mut remote, party, _, output| async move {
        let sent = status::show(&mut remote, &party).await;
        remote.close().await.ok();
        for item in sent? {
            print_sent(&output, &item);
        }
        Ok(())
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
        Some(ContactsCommand::Verify { user, target, key_fingerprint, flags }) => {
            let user = Username::parse(&user).with_context(|| format!("bad user name {user:?}"))?;
            let expected: sxfer_proto::identity::Fingerprint =
                key_fingerprint.parse().with_context(|| format!("bad --key-fingerprint {key_fingerprint:?}"))?;
            let session = Session::open(target.as_deref().unwrap_or(":"), &flags)?;
            session.run(|mut remote, party, _, output| async move {
                let listed = drops::lookup(&mut remote, &user).await;
                remote.close().await.ok();
                let key = party.contacts.verify(party.server, &user, &listed?, &expected)?;
                output.done("verified", &format!("{user}@{} {} {}", party.server, key.key_type().label(), expected));
                Ok(())
            })?;
        }
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

/// One sent drop: a line for the drop, one per recipient.
fn print_sent(output: &Output, item: &status::Sent) {
    let (drop, content) = (&item.drop, item.drop.header.content());
    let expires = if drop.expires == 0 { String::new() } else { format!(" expires {}", format_time(drop.expires)) };
    if output.json {
        let recipients: Vec<String> = item
            .recipients
            .iter()
            .map(|(user, delivery)| {
                format!(
                    "{{\"user\":\"{user}\",\"fetched\":{},\"state\":{}}}",
                    matches!(delivery, status::Delivery::Fetched(_)),
                    sxfer::output::json_string(&delivery.label())
                )
            })
            .collect();
        sxfer::say!(
            "{{\"event\":\"sent\",\"id\":\"{}\",\"name\":{},\"state\":\"{}\",\"received\":{},\"expires\":{},\"recipients\":[{}]}}",
            drop.id,
            sxfer::output::json_string(content.name.as_str()),
            drop.state.label(),
            drop.received,
            drop.expires,
            recipients.join(",")
        );
        return;
    }
    sxfer::say!(
        "{} {} {:>12} {} {}{expires}",
        drop.id,
        drop.state.label(),
        content.meta.size,
        format_time(drop.received),
        display_safe(content.name.as_str()),
    );
    for (user, delivery) in &item.recipients {
        sxfer::say!("  {user}: {}", display_safe(&delivery.label()));
    }
}
