//! Relayed peer mode (PROTOCOL.md §12, §13): pairing through an sxfer
//! server's relay with a short code.
//!
//! The creator asks the server for a nameplate, shows the code
//! `NAMEPLATE-word-word-word`, waits for the joiner, and is then the SXFR/1
//! server of a fresh handshake over the relayed stream; the joiner is its
//! client. Both authenticate with the SPAKE2 of PROTOCOL.md §4.6.3 over the
//! words alone ([`PasswordScope::WordsOnly`]): the nameplate is public,
//! since the relay pairs by it — or, in fingerprint mode, by keys: the
//! joiner pins the creator's (`--fingerprint`) and the creator lets in the
//! joiner's (`--allow`). The relay sees only ciphertext. Then the
//! two try to reach each other directly ([`direct::upgrade`]) unless
//! either is relay only.

use std::sync::Arc;

use anyhow::{Context, Result};
use rand_core::OsRng;

use super::{code as codes, direct, session, Session};
use crate::client::{relay, Remote};
use crate::output::Output;
use sxfer_proto::handshake::ServerConfig;
use sxfer_proto::identity::{Fingerprint, PrivateIdentity};
use sxfer_proto::msgs::Nameplate;
use sxfer_proto::pake::{self, Code, CodeWords, PasswordScope};

/// How this side pairs through the relay.
pub struct Via<'a> {
    /// The relay server, for messages.
    pub host: &'a str,
    /// This side's identity: shown by its SXFR/1 server role, logged in
    /// with in fingerprint mode.
    pub identity: Arc<PrivateIdentity>,
    /// `--relay-only`: offer no address and dial none.
    pub relay_only: bool,
    /// Fingerprint mode, joiner (`--fingerprint`): pin the creator's key
    /// and log in with this side's instead of using the code's words.
    pub pin: Option<Fingerprint>,
    /// Fingerprint mode, creator (`--allow`): also let in a joiner that
    /// logs in with one of these keys.
    pub allow: Vec<Fingerprint>,
}

/// Create a rendezvous on the server behind `remote`, show its code, wait
/// for the peer and authenticate it by the code's words (one guess: a
/// wrong code ends it), then take the direct path if there is one.
pub async fn create(remote: Remote, via: Via<'_>, words: CodeWords, output: &Output) -> Result<Session> {
    let local = local(&remote, via.relay_only);
    let host = via.host;
    let rendezvous = relay::create(remote).await?;
    let nameplate = pake::Nameplate::new(rendezvous.nameplate().get())?;
    let code = Code::generate(Some(nameplate), words, &mut OsRng);
    output.code(&code.expose());
    let stream = rendezvous.wait().await?;
    let peer = format!("the peer via {host}");
    let config = Arc::new(ServerConfig::new(via.identity.clone()));
    let password = code.password(PasswordScope::WordsOnly);
    let session = session::accept_code_or_key(stream, &peer, config, &password, &via.allow)
        .await
        .map_err(|e| codes::burn_on_guess(e, &peer))?;
    take_path(session, true, local, via, output).await
}

/// Join the rendezvous named by `code` on the server behind `remote`, then
/// take the direct path if there is one.
pub async fn join(remote: Remote, via: Via<'_>, code: &Code, output: &Output) -> Result<Session> {
    let local = local(&remote, via.relay_only);
    let nameplate = Nameplate::new(code.nameplate().get()).context("the code's number is not a relay nameplate")?;
    let stream = relay::join(remote, nameplate).await?;
    let peer = format!("the peer via {}", via.host);
    let session = match via.pin {
        Some(pin) => session::connect(stream, &peer, &via.identity, &session::Pin::Expect(pin)).await?,
        None => session::connect_code(stream, &peer, &code.password(PasswordScope::WordsOnly)).await?,
    };
    take_path(session, false, local, via, output).await
}

/// The address to offer for a direct connection: this end of the
/// connection to the relay server.
fn local(remote: &Remote, relay_only: bool) -> Option<std::net::IpAddr> {
    remote.local.filter(|_| !relay_only).map(|address| address.ip())
}

async fn take_path(
    relayed: Session,
    leader: bool,
    local: Option<std::net::IpAddr>,
    via: Via<'_>,
    output: &Output,
) -> Result<Session> {
    let how = direct::Upgrade { leader, local, config: Arc::new(ServerConfig::new(via.identity)) };
    let (session, is_direct) = direct::upgrade(relayed, how).await?;
    output.path(if is_direct { None } else { Some(via.host) });
    Ok(session)
}

/// The code to join with: `given` (argv or `--code CODE`), else
/// `$SXFER_CODE`, else none (this side creates the rendezvous).
pub fn code(given: Option<&str>) -> Result<Option<Code>> {
    if given.is_none() && std::env::var_os(codes::CODE_ENV).is_none() {
        return Ok(None);
    }
    codes::from_user(given).map(Some)
}
