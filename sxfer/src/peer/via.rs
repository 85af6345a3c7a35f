//! Relayed peer mode (PROTOCOL.md §12, §13): pairing through an sxfer
//! server's relay with a short code.
//!
//! The creator asks the server for a nameplate, shows the code
//! `NAMEPLATE-word-word-word`, waits for the joiner, and is then the SXFR/1
//! server of a fresh handshake over the relayed stream; the joiner is its
//! client. Both authenticate with the SPAKE2 of PROTOCOL.md §4.6.3 over the
//! words alone ([`PasswordScope::WordsOnly`]): the nameplate is public,
//! since the relay pairs by it. The relay sees only ciphertext.

use std::sync::Arc;

use anyhow::{Context, Result};
use rand_core::OsRng;

use super::session::{HANDSHAKE_TIMEOUT, IDLE};
use super::Session;
use crate::client::{relay, Remote};
use crate::net::conn::{client_handshake, server_handshake, AuthDecision, ByteStream};
use crate::output::Output;
use sxfer_proto::handshake::{AuthRequest, ClientConfig, Credential, ServerConfig, ServerPin};
use sxfer_proto::msgs::Nameplate;
use sxfer_proto::pake::{self, Code, CodeWords, PakeCredential, PakePassword, PasswordScope};

/// Create a rendezvous on the server behind `remote` (`host` for
/// messages), show its code, wait for the peer and authenticate it by the
/// code's words. One guess: a wrong code ends it.
pub async fn create(
    remote: Remote,
    host: &str,
    words: CodeWords,
    config: Arc<ServerConfig>,
    output: &Output,
) -> Result<Session> {
    let rendezvous = relay::create(remote).await?;
    let nameplate = pake::Nameplate::new(rendezvous.nameplate().get())?;
    let code = Code::generate(Some(nameplate), words, &mut OsRng);
    output.code(&code.expose(), rendezvous.expires_in().as_secs());
    let stream = rendezvous.wait().await?;
    let peer = format!("the peer via {host}");
    let session = pake_accept(stream, &peer, config, code.password(PasswordScope::WordsOnly)).await?;
    output.path(Some(host));
    Ok(session)
}

/// Join the rendezvous named by `code` on the server behind `remote`.
pub async fn join(remote: Remote, host: &str, code: &Code, output: &Output) -> Result<Session> {
    let nameplate = Nameplate::new(code.nameplate().get()).context("the code's number is not a relay nameplate")?;
    let stream = relay::join(remote, nameplate).await?;
    let peer = format!("the peer via {host}");
    let session = pake_connect(stream, &peer, &code.password(PasswordScope::WordsOnly)).await?;
    output.path(Some(host));
    Ok(session)
}

/// Connector side of a code session over any stream: no pin, the PAKE
/// authenticates both sides.
pub async fn pake_connect(stream: impl ByteStream, peer: &str, password: &PakePassword) -> Result<Session> {
    let credential = || Ok(Credential::Pake(PakeCredential::new(password, &mut OsRng)));
    let session = client_handshake(stream, ClientConfig::default(), |_| Ok(ServerPin::PakeOnly), credential, IDLE)
        .await
        .with_context(|| format!("authenticating {peer} by the code"))?;
    Ok(Session { reader: session.reader, writer: session.writer, peer: peer.to_owned() })
}

/// Listener side of a code session over any stream: only a PAKE login
/// with `password` gets in.
pub async fn pake_accept(
    stream: impl ByteStream,
    peer: &str,
    config: Arc<ServerConfig>,
    password: PakePassword,
) -> Result<Session> {
    let authorize = |request: AuthRequest| async move {
        Ok(match request {
            AuthRequest::Pake => AuthDecision::AcceptPake(password, ()),
            _ => AuthDecision::Reject("this peer takes the code only".into()),
        })
    };
    let handshake = server_handshake(stream, config, || async { Ok(()) }, authorize, IDLE);
    let session = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| anyhow::anyhow!("no handshake within {} s", HANDSHAKE_TIMEOUT.as_secs()))?
        .with_context(|| format!("authenticating {peer} by the code"))?;
    Ok(Session { reader: session.reader, writer: session.writer, peer: peer.to_owned() })
}

/// The code to join with: `typed` (argv), else `SXFER_CODE`, else none
/// (this side creates the rendezvous). Errors never repeat the code.
pub fn code(typed: Option<&str>) -> Result<Option<Code>> {
    let text = match typed {
        Some(text) => zeroize::Zeroizing::new(text.to_owned()),
        None => match std::env::var("SXFER_CODE") {
            Ok(text) if !text.trim().is_empty() => zeroize::Zeroizing::new(text),
            _ => return Ok(None),
        },
    };
    Ok(Some(Code::parse(&text).context("bad code")?))
}
