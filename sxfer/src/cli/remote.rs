//! Client commands: register, login, upload, download, ls, stat, rm, mv.
//!
//! Targets are `[user@]host[:port][:path]`; after `sxfer login`, a target
//! starting with `:` (or no target for `ls`) means the saved profile.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};

use sxfer::client::target::Target;
use sxfer::client::{self, commands, download, upload, ClientOptions, Purpose};
use sxfer::logging::{self, LogFormat};
use sxfer::output::Output;
use sxfer_proto::identity::Fingerprint;
use sxfer_proto::msgs::Username;
use sxfer_proto::names::RemoteName;
use sxfer_proto::secret::SecretBytes;

/// Options every client command takes.
#[derive(Args, Debug, Clone)]
pub struct ClientFlags {
    /// Log in with this OpenSSH private key instead of a password.
    #[arg(short = 'i', long = "identity")]
    identity: Option<PathBuf>,
    /// Read the password from this file (first line); or set SXFER_PASSWORD.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// The server's fingerprint (SHA256:…) for first contact, as its operator gave it.
    #[arg(long)]
    fingerprint: Option<String>,
    /// One JSON object per line on stdout.
    #[arg(long)]
    json: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    /// Record suites to offer, comma-separated, most preferred first
    /// [default: aes-256-gcm,chacha20-poly1305].
    #[arg(long, env = "SXFER_SUITES")]
    suites: Option<String>,
    /// Client log file [default: ~/.sxfer/client.log].
    #[arg(long, env = "SXFER_LOG_FILE")]
    log_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// user@host[:port] to create.
    target: String,
    /// Register only the -i key, no password.
    #[arg(long)]
    no_password: bool,
    /// Read an invite token (from the server's operator) from this file; or
    /// set SXFER_INVITE. Needed where the server has no open registration.
    #[arg(long)]
    invite_file: Option<PathBuf>,
    #[command(flatten)]
    flags: ClientFlags,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// user@host[:port] to remember as the default server.
    target: String,
    #[command(flatten)]
    flags: ClientFlags,
}

#[derive(Args, Debug)]
pub struct UploadArgs {
    /// Local files (and directories with -r), then the target [user@]host[:port][:dir].
    #[arg(required = true, num_args = 2..)]
    paths: Vec<String>,
    /// Upload directories recursively.
    #[arg(short, long)]
    recursive: bool,
    #[command(flatten)]
    flags: ClientFlags,
}

#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// Remote files [user@]host[:port]:NAME (several allowed), then optionally a local directory.
    #[arg(required = true, num_args = 1..)]
    paths: Vec<String>,
    /// Download everything under the given names (prefixes).
    #[arg(short, long)]
    recursive: bool,
    /// Overwrite existing local files.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    flags: ClientFlags,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// [user@]host[:port][:prefix]; omit to use the saved profile.
    target: Option<String>,
    #[command(flatten)]
    flags: ClientFlags,
}

#[derive(Args, Debug)]
pub struct NameArgs {
    /// [user@]host[:port]:NAME
    target: String,
    #[command(flatten)]
    flags: ClientFlags,
}

#[derive(Args, Debug)]
pub struct MoveArgs {
    /// [user@]host[:port]:FROM
    from: String,
    /// New name (on the same server).
    to: String,
    #[command(flatten)]
    flags: ClientFlags,
}

pub fn register(args: RegisterArgs) -> Result<()> {
    let (target, options, output) = setup(&args.target, &args.flags)?;
    if args.no_password && args.flags.identity.is_none() {
        bail!("--no-password needs -i KEY");
    }
    let invite = invite_token(args.invite_file.as_deref())?;
    block_on(async {
        let purpose = Purpose::Register { with_password: !args.no_password, invite };
        let remote = client::connect(&target, &options, purpose).await?;
        let id = remote.client_id;
        remote.close().await?;
        output.done("registered", &format!("{} (client id {id})", target.user.as_ref().map_or("", |u| u.as_str())));
        Ok(())
    })
}

pub fn login(args: LoginArgs) -> Result<()> {
    let (target, options, output) = setup(&args.target, &args.flags)?;
    let user = target.user.clone().context("give the user: sxfer login user@host")?;
    block_on(async {
        let remote = client::connect(&target, &options, Purpose::Login).await?;
        remote.close().await?;
        Ok(())
    })?;
    let profile = Profile {
        server: target.address(),
        user: user.as_str().to_owned(),
        identity: args.flags.identity.as_ref().map(|p| absolute(p)),
    };
    profile.save(&options.home)?;
    output.done("logged in", &format!("{}@{} (saved as the default server)", profile.user, profile.server));
    Ok(())
}

pub fn upload(args: UploadArgs) -> Result<()> {
    let (target_text, sources) = args.paths.split_last().context("no target")?;
    let (target, options, output) = setup(target_text, &args.flags)?;
    let sources: Vec<PathBuf> = sources.iter().map(PathBuf::from).collect();
    let jobs = upload::plan(&sources, target.path.as_deref(), args.recursive)?;
    block_on(async {
        let mut remote = client::connect(&target, &options, Purpose::Login).await?;
        let result = upload::run(&mut remote, &jobs, &output).await;
        remote.close().await.ok();
        result.map(|_| ())
    })
}

pub fn download(args: DownloadArgs) -> Result<()> {
    let (dest, sources) = match args.paths.as_slice() {
        [only] => (PathBuf::from("."), std::slice::from_ref(only)),
        [sources @ .., last] if !looks_remote(last) => (PathBuf::from(last), sources),
        all => (PathBuf::from("."), all),
    };
    if sources.is_empty() {
        bail!("nothing to download");
    }
    let (target, options, output) = setup(&sources[0], &args.flags)?;
    let mut names = Vec::new();
    for source in sources {
        let other = resolve(source, &options.home)?;
        if other.address() != target.address() || other.user != target.user {
            bail!("all sources must be on the same server as the first");
        }
        let path = other.path.unwrap_or_default();
        if path.is_empty() && !args.recursive {
            bail!("{source}: no file name (host:NAME)");
        }
        names.push(path);
    }
    std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    block_on(async {
        let mut remote = client::connect(&target, &options, Purpose::Login).await?;
        let mut jobs = Vec::new();
        for name in &names {
            if args.recursive {
                let prefix = name.trim_end_matches('/');
                let keep_from = prefix.rsplit_once('/').map_or(0, |(parent, _)| parent.split('/').count());
                let listing = commands::list(&mut remote, prefix).await?;
                let matching = listing.into_iter().filter(|e| {
                    prefix.is_empty() || e.name.as_str() == prefix || e.name.as_str().starts_with(&format!("{prefix}/"))
                });
                for entry in matching {
                    let local = download::local_path(&dest, &entry.name, keep_from)?;
                    jobs.push(download::Job { remote: entry.name.clone(), local, listed: Some(entry) });
                }
            } else {
                let name = RemoteName::parse(name).with_context(|| format!("bad remote name {name:?}"))?;
                let last = name.segments().count() - 1;
                let local = download::local_path(&dest, &name, last)?;
                jobs.push(download::Job { remote: name, local, listed: None });
            }
        }
        if jobs.is_empty() {
            bail!("nothing matched");
        }
        let result = download::run(&mut remote, &jobs, &dest, args.force, &output).await;
        remote.close().await.ok();
        result.map(|_| ())
    })
}

pub fn list(args: ListArgs) -> Result<()> {
    let text = args.target.unwrap_or_else(|| ":".to_owned());
    let (target, options, output) = setup(&text, &args.flags)?;
    block_on(async {
        let mut remote = client::connect(&target, &options, Purpose::Login).await?;
        let entries = commands::list(&mut remote, target.path.as_deref().unwrap_or("")).await?;
        remote.close().await.ok();
        for entry in &entries {
            output.entry(entry);
        }
        Ok(())
    })
}

pub fn stat(args: NameArgs) -> Result<()> {
    let (target, options, output) = setup(&args.target, &args.flags)?;
    let name = remote_name(&target)?;
    block_on(async {
        let mut remote = client::connect(&target, &options, Purpose::Login).await?;
        let entry = commands::stat(&mut remote, &name).await;
        remote.close().await.ok();
        output.stat(&entry?);
        Ok(())
    })
}

pub fn remove(args: NameArgs) -> Result<()> {
    let (target, options, output) = setup(&args.target, &args.flags)?;
    let name = remote_name(&target)?;
    block_on(async {
        let mut remote = client::connect(&target, &options, Purpose::Login).await?;
        let result = commands::remove(&mut remote, &name).await;
        remote.close().await.ok();
        result?;
        output.done("removed", name.as_str());
        Ok(())
    })
}

pub fn rename(args: MoveArgs) -> Result<()> {
    let (target, options, output) = setup(&args.from, &args.flags)?;
    let from = remote_name(&target)?;
    let to =
        RemoteName::parse(args.to.trim_start_matches(':')).with_context(|| format!("bad new name {:?}", args.to))?;
    block_on(async {
        let mut remote = client::connect(&target, &options, Purpose::Login).await?;
        let result = commands::rename(&mut remote, &from, &to).await;
        remote.close().await.ok();
        result?;
        output.done("renamed", &format!("{from} -> {to}"));
        Ok(())
    })
}

/// An invite token from `--invite-file` or `SXFER_INVITE` (never argv).
fn invite_token(file: Option<&Path>) -> Result<Option<SecretBytes>> {
    let text = match file {
        Some(path) => zeroize::Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("reading invite file {}", path.display()))?,
        ),
        None => match std::env::var("SXFER_INVITE") {
            Ok(value) => zeroize::Zeroizing::new(value),
            Err(_) => return Ok(None),
        },
    };
    let token = text.trim();
    if token.is_empty() || token.len() > sxfer_proto::msgs::auth::MAX_INVITE {
        bail!("the invite token must be 1 to 128 characters");
    }
    Ok(Some(SecretBytes::new(token.as_bytes().to_vec())))
}

/// The saved default server (`sxfer login`).
#[derive(Debug, Serialize, Deserialize)]
struct Profile {
    server: String,
    user: String,
    identity: Option<PathBuf>,
}

impl Profile {
    fn path(home: &Path) -> PathBuf {
        home.join("profile.toml")
    }

    fn load(home: &Path) -> Result<Option<Profile>> {
        match std::fs::read_to_string(Self::path(home)) {
            Ok(text) => Ok(Some(
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {}", Self::path(home).display(), e.message()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).context("reading the profile"),
        }
    }

    fn save(&self, home: &Path) -> Result<()> {
        sxfer::keys::create_private_dir(home)?;
        let text = toml::to_string(self).context("encoding the profile")?;
        std::fs::write(Self::path(home), text).context("writing the profile")
    }
}

/// Parse a target, filling in the profile for `:path` forms.
fn resolve(text: &str, home: &Path) -> Result<Target> {
    if let Some(path) = text.strip_prefix(':') {
        let profile =
            Profile::load(home)?.context("no default server: run `sxfer login user@host` or give user@host")?;
        let mut target = Target::parse(&format!("{}@{}", profile.user, profile.server))?;
        target.path = Some(path.to_owned());
        return Ok(target);
    }
    Target::parse(text)
}

pub(super) fn setup(target: &str, flags: &ClientFlags) -> Result<(Target, ClientOptions, Output)> {
    let home = client::home()?;
    let log_file = flags.log_file.clone().unwrap_or_else(|| home.join("client.log"));
    logging::init("info", LogFormat::Text, false, Some(&log_file)).ok();
    let target = resolve(target, &home)?;
    let profile = Profile::load(&home).ok().flatten();
    let identity = flags.identity.clone().or_else(|| {
        profile
            .filter(|p| {
                p.server == target.address() && Some(p.user.as_str()) == target.user.as_ref().map(Username::as_str)
            })
            .and_then(|p| p.identity)
    });
    let fingerprint = flags
        .fingerprint
        .as_deref()
        .map(|f| f.parse::<Fingerprint>().with_context(|| format!("bad --fingerprint {f:?}")))
        .transpose()?;
    let options = ClientOptions {
        home,
        identity_file: identity,
        password_file: flags.password_file.clone(),
        fingerprint,
        idle_timeout: None,
        suites: flags.suites.as_deref().map(sxfer::config::parse_suites).transpose().context("--suites")?,
    };
    Ok((target, options, Output { quiet: flags.quiet, json: flags.json, peer: false }))
}

/// Logging in to a relay server for peer mode (`--via [user@]host[:port]`):
/// the same options and known_hosts pinning as every server command. A
/// target without a user logs in anonymously (a server with an open relay).
pub(super) async fn relay_login(text: &str, fingerprint: Option<String>, json: bool) -> Result<client::Remote> {
    let flags = ClientFlags {
        identity: None,
        password_file: None,
        fingerprint,
        json,
        quiet: false,
        suites: None,
        log_file: None,
    };
    let (target, options, _) = setup(text, &flags)?;
    let purpose = if target.user.is_some() { Purpose::Login } else { Purpose::Anonymous };
    client::connect(&target, &options, purpose).await
}

fn remote_name(target: &Target) -> Result<RemoteName> {
    let path = target.path.as_deref().unwrap_or("");
    RemoteName::parse(path).with_context(|| format!("bad remote name {path:?} (expected host:NAME)"))
}

fn looks_remote(text: &str) -> bool {
    text.starts_with(':') || (text.contains(':') && !Path::new(text).exists())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

pub(super) fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(future)
}
