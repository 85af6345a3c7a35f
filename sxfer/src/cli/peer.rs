//! `sxfer send` and `sxfer receive`: person to person, either side
//! listening, the listener's key pinned by its fingerprint.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args};

use sxfer::logging::{self, LogFormat};
use sxfer::output::Output;
use sxfer::peer::identity::{self, Origin};
use sxfer::peer::receive::ReceiveOptions;
use sxfer::peer::session::{self, Allow, Pin};
use sxfer::peer::{self, code, listen, offer, receive, send, via};
use sxfer::{client, prompt};
use sxfer_proto::handshake::ServerConfig;
use sxfer_proto::identity::{Fingerprint, PrivateIdentity};
use sxfer_proto::pake::{Code, CodeWords, PakePassword, PasswordScope, DEFAULT_WORDS};

use super::remote::block_on;

/// Where a listener waits unless told otherwise.
const DEFAULT_LISTEN: &str = "0.0.0.0:7273";

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("by_code").args(["code", "via"]).multiple(true)))]
pub struct SendArgs {
    /// Files and directories to send, then (without --listen) the receiver's HOST:PORT.
    // Not required by clap: in `--listen --code FILE` the first path is
    // parsed as the value of --code and moved back here.
    #[arg(value_name = "FILE|DIR")]
    paths: Vec<String>,
    /// Wait on ADDR:PORT for the receiver to connect, instead of connecting.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// The listening receiver's key fingerprint (SHA256:…), as it printed it.
    /// With --via and a code: pin the creating receiver's key instead of
    /// using the code's words.
    #[arg(long, value_name = "FP", conflicts_with = "listen")]
    fingerprint: Option<String>,
    /// With --listen: only a receiver with this key may connect (SHA256:…;
    /// repeatable). Without it each connecting key is asked about on the terminal.
    /// With --via (creating): also let in a receiver with this key instead of the code.
    #[arg(long, value_name = "FP")]
    allow: Vec<String>,
    #[command(flatten)]
    code: CodeFlags,
    #[command(flatten)]
    common: PeerFlags,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("by_code").args(["code", "via"]).multiple(true)))]
pub struct ReceiveArgs {
    /// Connect to a sender listening at HOST:PORT, instead of waiting for one.
    #[arg(value_name = "HOST:PORT", conflicts_with_all = ["listen", "allow"])]
    peer: Option<String>,
    /// Address and port to wait on for a sender [default: 0.0.0.0:7273].
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Directory the files land in [default: the current directory].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Accept the offer without asking (needed without a terminal).
    #[arg(short, long)]
    yes: bool,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
    /// The listening sender's key fingerprint (SHA256:…), as it printed it.
    /// With --via and a code: pin the creating sender's key instead of using
    /// the code's words.
    #[arg(long, value_name = "FP", requires = "peer")]
    fingerprint: Option<String>,
    /// When listening, or creating with --via: only a sender with this key
    /// may connect (SHA256:…; repeatable).
    #[arg(long, value_name = "FP")]
    allow: Vec<String>,
    #[command(flatten)]
    code: CodeFlags,
    #[command(flatten)]
    common: PeerFlags,
}

/// Short-code pairing (instead of fingerprints).
#[derive(Args, Debug)]
pub struct CodeFlags {
    /// Pair by a one-time code instead of a fingerprint. Listening: print a
    /// new code (one wrong guess burns it). Connecting: --code CODE, or
    /// --code alone to read it from $SXFER_CODE or a prompt (argv is visible
    /// to other local users).
    #[arg(long, value_name = "CODE", num_args = 0..=1, conflicts_with_all = ["fingerprint", "allow"])]
    code: Option<Option<String>>,
    /// Words in a new code, 8 bits of secret each [default: 3, 24 bits].
    #[arg(long, value_name = "N", requires = "by_code")]
    code_words: Option<usize>,
}

/// Options both sides take.
#[derive(Args, Debug)]
pub struct PeerFlags {
    /// This side's OpenSSH private key [default: ~/.sxfer/id_ed25519, else
    /// ~/.ssh/id_ed25519, else a one-time key].
    #[arg(short = 'i', long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// One JSON object per line on stdout.
    #[arg(long)]
    json: bool,
    /// Pair through the relay of the sxfer server [user@]host[:port] with a
    /// short code: without a code this side shows one; with one (`receive
    /// CODE`, `send FILE... CODE`, or SXFER_CODE) it joins. The two then
    /// move the files directly if they can reach each other, else through
    /// the relay (which cannot read them).
    #[arg(long, value_name = "[USER@]HOST[:PORT]", conflicts_with = "listen")]
    via: Option<String>,
    /// With --via: the relay server's fingerprint (SHA256:…) for first contact.
    #[arg(long, value_name = "FP", requires = "via")]
    server_fingerprint: Option<String>,
    /// With --via: keep the transfer on the relay; offer the peer no
    /// address of this side and try no direct connection.
    #[arg(long, requires = "via")]
    relay_only: bool,
}

pub fn send(mut args: SendArgs) -> Result<()> {
    let output = setup(&args.common);
    if let Some(host) = args.common.via.clone() {
        let (sources, code) = via_sources(&args.paths, &args.code)?;
        let plan = Arc::new(offer::plan(&sources)?);
        let keys = Keys { pin: args.fingerprint.as_deref(), allow: &args.allow };
        let session = via_session(&args.common, &args.code, &host, code, keys, &output)?;
        return block_on(async move { send::send(session.await?, &plan, &output).await });
    }
    if !args.allow.is_empty() && args.listen.is_none() {
        bail!("--allow is for a listening sender (--listen) or one that creates a code (--via)");
    }
    take_code_value_as_path(&mut args);
    let (sources, address) = match &args.listen {
        Some(_) if args.paths.is_empty() => bail!("give the files to send (sxfer send --listen ADDR:PORT FILE…)"),
        Some(listen) => (&args.paths[..], listen.clone()),
        None => match args.paths.split_last() {
            Some((address, sources)) if !sources.is_empty() => (sources, peer::address(address)?),
            _ => bail!("give the files to send and then the receiver's HOST:PORT (or --listen ADDR:PORT)"),
        },
    };
    let sources: Vec<PathBuf> = sources.iter().map(PathBuf::from).collect();
    let plan = Arc::new(offer::plan(&sources)?);
    let allow = allow_list(&args.allow)?;
    let pairing = pairing(&args.code, args.listen.is_some())?;
    if args.listen.is_some() && allow.is_empty() && pairing.is_none() && !prompt::is_interactive() {
        bail!("a listening sender needs --allow SHA256:… (the receiver's key) when there is no terminal to ask on");
    }
    let (identity, origin) = identity::load(args.common.identity.as_deref())?;
    if pairing.is_none() || args.listen.is_some() {
        note_identity(&origin, &identity, &output);
    }
    block_on(async move {
        if args.listen.is_none() {
            let session = match &pairing {
                Some(password) => dial_code(&address, password).await?,
                None => session::dial(&address, &identity, &pin(args.fingerprint.as_deref())?).await?,
            };
            return send::send(session, &plan, &output).await;
        }
        let allow = if allow.is_empty() { Allow::Ask } else { Allow::Only(allow) };
        let (config, listener) = listener(identity, &address, &output).await?;
        announce(&pairing, &output);
        listen::serve(&listener, &output, |stream, from| {
            let (config, allow, plan, pairing) = (config.clone(), allow.clone(), plan.clone(), pairing.clone());
            async move {
                let session = accept(stream, &from.to_string(), config, &allow, &pairing).await?;
                send::send(session, &plan, &output).await
            }
        })
        .await
    })
}

pub fn receive(args: ReceiveArgs) -> Result<()> {
    let output = setup(&args.common);
    if !args.yes && !prompt::is_interactive() {
        bail!("no terminal to confirm the offer on: pass --yes to accept it");
    }
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let options = ReceiveOptions { out, force: args.force };
    let allow = allow_list(&args.allow)?;
    let pairing = pairing(&args.code, args.peer.is_none())?;
    let (identity, origin) = identity::load(args.common.identity.as_deref())?;
    if pairing.is_none() || args.peer.is_none() {
        note_identity(&origin, &identity, &output);
    }
    let yes = args.yes;
    let decide = move |manifest: &sxfer_proto::manifest::Manifest, peer: &str| -> Result<bool> {
        if yes {
            return Ok(true);
        }
        let question = format!(
            "Receive {} files ({} bytes) from {}?",
            manifest.file_count(),
            manifest.total_bytes(),
            sxfer_proto::names::display_safe(peer)
        );
        Ok(prompt::confirm(&question)?.unwrap_or(false))
    };
    if let Some(host) = args.common.via.clone() {
        let given = args.peer.as_deref().or(args.code.code.as_ref().and_then(|c| c.as_deref()));
        let code = via::code(given)?;
        let keys = Keys { pin: args.fingerprint.as_deref(), allow: &args.allow };
        let session = via_session(&args.common, &args.code, &host, code, keys, &output)?;
        return block_on(async move { receive::receive(session.await?, &options, decide, &output).await });
    }
    block_on(async move {
        if let Some(address) = &args.peer {
            let address = peer::address(address)?;
            let session = match &pairing {
                Some(password) => dial_code(&address, password).await?,
                None => session::dial(&address, &identity, &pin(args.fingerprint.as_deref())?).await?,
            };
            return receive::receive(session, &options, decide, &output).await;
        }
        let allow = if allow.is_empty() { Allow::Anyone } else { Allow::Only(allow) };
        let address = args.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let (config, listener) = listener(identity, &address, &output).await?;
        announce(&pairing, &output);
        listen::serve(&listener, &output, |stream, from| {
            let (config, allow, options, pairing) = (config.clone(), allow.clone(), options.clone(), pairing.clone());
            async move {
                let session = accept(stream, &from.to_string(), config, &allow, &pairing).await?;
                receive::receive(session, &options, decide, &output).await
            }
        })
        .await
    })
}

/// `--fingerprint` and `--allow` as given.
struct Keys<'a> {
    pin: Option<&'a str>,
    allow: &'a [String],
}

/// `--via`: the files, and the code to join with if the last argument is
/// one (and not a file) or SXFER_CODE is set.
fn via_sources(paths: &[String], flags: &CodeFlags) -> Result<(Vec<PathBuf>, Option<Code>)> {
    let (sources, code) = match paths.split_last() {
        Some((last, rest)) if !rest.is_empty() && !std::path::Path::new(last).exists() => match Code::parse(last) {
            Ok(code) => (rest, Some(code)),
            Err(_) => (paths, None),
        },
        _ => (paths, None),
    };
    let code = match code {
        Some(code) => Some(code),
        None => via::code(flags.code.as_ref().and_then(|c| c.as_deref()))?,
    };
    Ok((sources.iter().map(PathBuf::from).collect(), code))
}

/// Log in to the relay server and create (no code) or join (a code) a
/// rendezvous; the future yields the PAKE-authenticated session.
fn via_session(
    flags: &PeerFlags,
    code_flags: &CodeFlags,
    host: &str,
    code: Option<Code>,
    keys: Keys<'_>,
    output: &Output,
) -> Result<impl std::future::Future<Output = Result<peer::Session>>> {
    let pin = keys.pin.map(|text| parse_fingerprint(text, "--fingerprint")).transpose()?;
    let allow = allow_list(keys.allow)?;
    match (&code, &pin, allow.is_empty()) {
        (None, Some(_), _) => bail!("--fingerprint with --via pins the creator's key: give the code it showed too"),
        (Some(_), _, false) => bail!("--allow with --via is for the side that creates the code"),
        _ => {}
    }
    let words = CodeWords::new(code_flags.code_words.unwrap_or(DEFAULT_WORDS))
        .map_err(|e| anyhow::anyhow!("bad --code-words: {e}"))?;
    let (identity, origin) = identity::load(flags.identity.as_deref())?;
    if code.is_none() || pin.is_some() {
        note_identity(&origin, &identity, output);
    }
    let (host, fingerprint, json, output) = (host.to_owned(), flags.server_fingerprint.clone(), flags.json, *output);
    let relay_only = flags.relay_only;
    Ok(async move {
        let remote = super::remote::relay_login(&host, fingerprint, json).await?;
        let via = via::Via { host: &host, identity: Arc::new(identity), relay_only, pin, allow };
        match code {
            Some(code) => via::join(remote, via, &code, &output).await,
            None => via::create(remote, via, words, &output).await,
        }
    })
}

fn setup(flags: &PeerFlags) -> Output {
    if let Ok(home) = client::home() {
        logging::init("info", LogFormat::Text, false, Some(&home.join("client.log"))).ok();
    }
    Output { quiet: false, json: flags.json, peer: true }
}

async fn listener(
    identity: PrivateIdentity,
    address: &str,
    output: &Output,
) -> Result<(Arc<ServerConfig>, tokio::net::TcpListener)> {
    let fingerprint = identity.public().fingerprint();
    let config = Arc::new(ServerConfig::new(Arc::new(identity)));
    let listener = listen::bind(address, &fingerprint, output).await?;
    Ok((config, listener))
}

/// Code mode (`--code`): a listener's new code, to show, or the code a
/// connector was given; either way the PAKE password (the whole code,
/// direct).
#[derive(Clone)]
struct Pairing {
    shown: Option<String>,
    password: PakePassword,
}

fn pairing(flags: &CodeFlags, listening: bool) -> Result<Option<Pairing>> {
    let Some(given) = &flags.code else { return Ok(None) };
    if !listening {
        if flags.code_words.is_some() {
            bail!("--code-words is for the listening side, which makes the code");
        }
        let code = code::from_user(given.as_deref())?;
        return Ok(Some(Pairing { shown: None, password: code.password(PasswordScope::WholeCode) }));
    }
    if given.is_some() {
        bail!("a listener makes its own code: pass --code without a value (the value would be taken for a file)");
    }
    let words = CodeWords::new(flags.code_words.unwrap_or(sxfer_proto::pake::DEFAULT_WORDS))
        .map_err(|e| anyhow::anyhow!("bad --code-words: {e}"))?;
    let code = Code::generate(None, words, &mut rand_core::OsRng);
    Ok(Some(Pairing { shown: Some(code.expose().to_string()), password: code.password(PasswordScope::WholeCode) }))
}

/// `send --listen ADDR --code FILE…`: clap hands the first path to
/// `--code` (it takes an optional value). A listener makes its own code,
/// so a value that names an existing file or directory is a path to send.
fn take_code_value_as_path(args: &mut SendArgs) {
    if args.listen.is_none() {
        return;
    }
    if let Some(Some(value)) = &args.code.code {
        if std::path::Path::new(value).symlink_metadata().is_ok() {
            let path = value.clone();
            args.paths.insert(0, path);
            args.code.code = Some(None);
        }
    }
}

fn announce(pairing: &Option<Pairing>, output: &Output) {
    if let Some(Pairing { shown: Some(code), .. }) = pairing {
        output.code(code);
    }
}

async fn dial_code(address: &str, pairing: &Pairing) -> Result<peer::Session> {
    let stream = client::dial(address).await?;
    session::connect_code(stream, address, &pairing.password).await
}

/// The listener's handshake with one connection: code mode burns the
/// code on a spent guess, fingerprint mode lets `allow` decide.
async fn accept(
    stream: tokio::net::TcpStream,
    from: &str,
    config: Arc<ServerConfig>,
    allow: &Allow,
    pairing: &Option<Pairing>,
) -> Result<peer::Session> {
    match pairing {
        Some(pairing) => session::accept_code(stream, from, config, &pairing.password)
            .await
            .map_err(|e| code::burn_on_guess(e, from)),
        None => session::accept(stream, from, config, allow).await,
    }
}

fn pin(fingerprint: Option<&str>) -> Result<Pin> {
    match fingerprint {
        Some(text) => Ok(Pin::Expect(parse_fingerprint(text, "--fingerprint")?)),
        None if prompt::is_interactive() => Ok(Pin::Ask),
        None => bail!("pass --fingerprint SHA256:… (the listener prints it) when there is no terminal to ask on"),
    }
}

fn allow_list(texts: &[String]) -> Result<Vec<Fingerprint>> {
    texts.iter().map(|text| parse_fingerprint(text, "--allow")).collect()
}

fn parse_fingerprint(text: &str, flag: &str) -> Result<Fingerprint> {
    text.parse::<Fingerprint>().with_context(|| format!("bad {flag} {text:?}"))
}

/// Says which key this side shows (its fingerprint is what the other
/// side's `--allow` or `--fingerprint` names).
fn note_identity(origin: &Origin, identity: &PrivateIdentity, output: &Output) {
    let fingerprint = identity.public().fingerprint();
    match origin {
        Origin::File(path) => output.note(&format!("using the key {} ({fingerprint})", path.display())),
        Origin::OneTime => output.note(&format!(
            "using a one-time key {fingerprint} (no ~/.sxfer/id_ed25519 or ~/.ssh/id_ed25519; -i FILE for a lasting one)"
        )),
    }
}
