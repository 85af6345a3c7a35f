//! Fingerprint mode (PROTOCOL.md §13.2): making a [`Session`] over any
//! byte stream.
//!
//! The listener is the SXFR/1 server and shows its identity key; the
//! connector holds it to a pin (`--fingerprint`, or a question on the
//! terminal) before it sends anything, then logs in with ClientAuth
//! public key as user `peer` with its own key, which the listener may hold
//! to an allow list (`--allow`) or ask about.
//!
//! Code mode (PROTOCOL.md §4.6.3, §13.2): [`connect_code`] and
//! [`accept_code`] run the SPAKE2 exchange inside the handshake instead;
//! the listener's key is not pinned (it may be a one-time key), the code
//! authenticates both sides. A relay (§12) only supplies the stream.
//! Everything after the [`Session`] is shared.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};

use super::Session;
use crate::net::conn::{client_handshake, server_handshake, AuthDecision, ByteStream};
use crate::prompt;
use sxfer_proto::handshake::{AuthRequest, ClientConfig, Credential, ServerConfig, ServerPin};
use sxfer_proto::identity::{Fingerprint, PrivateIdentity, PublicIdentity};
use sxfer_proto::msgs::{ClientId, Username};
use sxfer_proto::pake::{PakeCredential, PakePassword};

/// The user name a connector logs in with.
pub const PEER_USER: &str = "peer";

/// How long a peer may be silent before the session fails.
pub const IDLE: Duration = Duration::from_secs(300);
/// How long a connection has to finish the handshake, unless the
/// listener's user is asked about it.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// What the connector holds the listener's key to.
#[derive(Debug, Clone)]
pub enum Pin {
    /// `--fingerprint`: only this key.
    Expect(Fingerprint),
    /// Show the key on the terminal and ask; refuse without one.
    Ask,
}

/// Whom the listener lets in.
#[derive(Debug, Clone)]
pub enum Allow {
    /// Any key (a listening receiver, which still sees and accepts the offer).
    Anyone,
    /// `--allow`: only these keys.
    Only(Vec<Fingerprint>),
    /// Show each connector's key on the terminal and ask (a listening
    /// sender without `--allow`).
    Ask,
}

/// Connector over TCP: dials `address` (`HOST:PORT`), then [`connect`].
pub async fn dial(address: &str, identity: &PrivateIdentity, pin: &Pin) -> Result<Session> {
    let stream = crate::client::dial(address).await?;
    connect(stream, address, identity, pin).await
}

/// Connector: the handshake over `stream` to the listener at `address`.
/// Nothing is sent after the ClientHello unless the listener's key passes
/// `pin`.
pub async fn connect(stream: impl ByteStream, address: &str, identity: &PrivateIdentity, pin: &Pin) -> Result<Session> {
    let mut shown = None;
    let decide = |presented: &PublicIdentity| {
        let fingerprint = presented.fingerprint();
        shown = Some(fingerprint);
        check_pin(address, &fingerprint, pin)
    };
    let username = Username::parse(PEER_USER)?;
    let credential = || Ok(Credential::PublicKey { username, key: identity });
    let session = client_handshake(stream, ClientConfig::default(), decide, credential, IDLE).await?;
    let peer = match shown {
        Some(fingerprint) => format!("{address} ({fingerprint})"),
        None => address.to_owned(),
    };
    Ok(Session { reader: session.reader, writer: session.writer, peer, exporter: session.exporter })
}

/// Listener: the handshake over `stream` from `address`, letting in only a
/// key login that `allow` admits.
pub async fn accept(
    stream: impl ByteStream,
    address: &str,
    config: Arc<ServerConfig>,
    allow: &Allow,
) -> Result<Session> {
    let limit = if matches!(allow, Allow::Ask) { IDLE } else { HANDSHAKE_TIMEOUT };
    let authorize = |request: AuthRequest| admit(request, address.to_owned(), allow.clone());
    let handshake = server_handshake(stream, config, || async { Ok(()) }, authorize, IDLE);
    let session = tokio::time::timeout(limit, handshake)
        .await
        .map_err(|_| anyhow::anyhow!("no handshake within {} s", limit.as_secs()))??;
    let peer = format!("{address} ({})", session.user);
    Ok(Session { reader: session.reader, writer: session.writer, peer, exporter: session.exporter })
}

/// Connector in code mode: the handshake over `stream` with the PAKE over
/// `password` (the whole code direct, the words through a relay). A wrong
/// code fails here ([`crate::net::conn::is_wrong_code`]), before any
/// application message.
pub async fn connect_code(stream: impl ByteStream, address: &str, password: &PakePassword) -> Result<Session> {
    let credential = || Ok(Credential::Pake(PakeCredential::new(password, &mut rand_core::OsRng)));
    let session =
        client_handshake(stream, ClientConfig::default(), |_| Ok(ServerPin::PakeOnly), credential, IDLE).await?;
    let peer = format!("{address} (code)");
    Ok(Session { reader: session.reader, writer: session.writer, peer, exporter: session.exporter })
}

/// Listener in code mode: takes only a PAKE login over `password`. Any
/// failure after the listener's PAKE answer went out is a spent guess
/// ([`crate::net::conn::is_wrong_code`]): the caller burns the code.
pub async fn accept_code(
    stream: impl ByteStream,
    address: &str,
    config: Arc<ServerConfig>,
    password: &PakePassword,
) -> Result<Session> {
    accept_code_within(stream, address, config, password, &[], HANDSHAKE_TIMEOUT).await
}

/// [`accept_code`] that also lets in a key login (fingerprint mode) by one
/// of `keys`: a relay's creator pairs with a joiner that pins its key
/// instead of using the code's words (PROTOCOL.md §13.9).
pub async fn accept_code_or_key(
    stream: impl ByteStream,
    address: &str,
    config: Arc<ServerConfig>,
    password: &PakePassword,
    keys: &[Fingerprint],
) -> Result<Session> {
    accept_code_within(stream, address, config, password, keys, HANDSHAKE_TIMEOUT).await
}

async fn accept_code_within(
    stream: impl ByteStream,
    address: &str,
    config: Arc<ServerConfig>,
    password: &PakePassword,
    keys: &[Fingerprint],
    deadline: Duration,
) -> Result<Session> {
    // Set once the connector's PAKE message is in: from then on a timeout
    // (a connector that got our answer, tested its guess and stalls) spends
    // the code like any other failure.
    let guessing = AtomicBool::new(false);
    let authorize = |request: AuthRequest| {
        let password = password.clone();
        let guessing = &guessing;
        let keys = keys.to_vec();
        async move {
            Ok(match request {
                AuthRequest::Pake => {
                    guessing.store(true, Ordering::SeqCst);
                    AuthDecision::AcceptPake(password, None)
                }
                request @ AuthRequest::PublicKey { .. } if !keys.is_empty() => {
                    match admit(request, address.to_owned(), Allow::Only(keys)).await? {
                        AuthDecision::Accept(id, key) => AuthDecision::Accept(id, Some(key)),
                        AuthDecision::AcceptPake(password, key) => AuthDecision::AcceptPake(password, Some(key)),
                        AuthDecision::Reject(why) => AuthDecision::Reject(why),
                    }
                }
                _ => AuthDecision::Reject("this peer takes a code (sxfer … --code CODE)".into()),
            })
        }
    };
    let handshake = server_handshake(stream, config, || async { Ok(()) }, authorize, IDLE);
    let session = tokio::time::timeout(deadline, handshake).await.map_err(|_| {
        let timeout = format!("no handshake within {} s", deadline.as_secs());
        match guessing.load(Ordering::SeqCst) {
            true => anyhow::anyhow!(sxfer_proto::Error::WrongCode).context(timeout),
            false => anyhow::anyhow!(timeout),
        }
    })??;
    let peer = match session.user {
        Some(key) => format!("{address} ({key})"),
        None => format!("{address} (code)"),
    };
    Ok(Session { reader: session.reader, writer: session.writer, peer, exporter: session.exporter })
}

fn check_pin(address: &str, fingerprint: &Fingerprint, pin: &Pin) -> Result<ServerPin> {
    match pin {
        Pin::Expect(expected) if expected.ct_eq(fingerprint) => {}
        Pin::Expect(expected) => {
            bail!("the peer at {address} presented {fingerprint}, not the expected {expected}; nothing was sent")
        }
        Pin::Ask => {
            let question = format!(
                "The peer at {address} has the key fingerprint {fingerprint}.\nIs that the fingerprint the other side shows?"
            );
            match prompt::confirm(&question)? {
                Some(true) => {}
                Some(false) => bail!("the peer at {address} is not trusted; nothing was sent"),
                None => bail!(
                    "the peer at {address} presented {fingerprint}; pass --fingerprint {fingerprint} after checking it with the other side"
                ),
            }
        }
    }
    Ok(ServerPin::Fingerprint(*fingerprint))
}

/// The listener's decision on a credential: the connector's fingerprint
/// if it is let in.
async fn admit(request: AuthRequest, address: String, allow: Allow) -> Result<AuthDecision<Fingerprint>> {
    let AuthRequest::PublicKey { username, key } = request else {
        return Ok(AuthDecision::Reject("peer mode takes a key login".into()));
    };
    if username.as_str() != PEER_USER {
        return Ok(AuthDecision::Reject(format!("peer mode takes the user name {PEER_USER}")));
    }
    let fingerprint = key.fingerprint();
    let admitted = match allow {
        Allow::Anyone => true,
        Allow::Only(allowed) => allowed.iter().any(|allowed| allowed.ct_eq(&fingerprint)),
        Allow::Ask => {
            let question = format!("{address} connects with the key {fingerprint}.\nSend the files to it?");
            tokio::task::spawn_blocking(move || prompt::confirm(&question))
                .await
                .map_err(|e| anyhow::anyhow!("the prompt failed: {e}"))??
                .unwrap_or(false)
        }
    };
    if !admitted {
        tracing::info!(peer = %address, key = %fingerprint, "refused a peer key");
        return Ok(AuthDecision::Reject("this key is not allowed here".into()));
    }
    let mut client_id = [0; 16];
    client_id.copy_from_slice(&fingerprint.as_bytes()[..16]);
    Ok(AuthDecision::Accept(ClientId(client_id), fingerprint))
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

    use super::*;
    use crate::net::conn::is_wrong_code;
    use sxfer_proto::pake::{Code, CodeWords, PasswordScope};

    /// A connector's stream whose third write (the PakeConfirm, after the
    /// ClientHello and the ClientAuth) never goes out: a connector that
    /// read the listener's PAKE answer, tested its guess, and stalls.
    struct StallsThirdWrite {
        inner: DuplexStream,
        writes: usize,
    }

    impl AsyncRead for StallsThirdWrite {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for StallsThirdWrite {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
            if self.writes == 2 {
                return Poll::Pending;
            }
            self.writes += 1;
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    fn listener_config() -> Arc<ServerConfig> {
        let identity = PrivateIdentity::generate_ed25519(&mut rand_core::OsRng).unwrap();
        Arc::new(ServerConfig::new(Arc::new(identity)))
    }

    fn new_password() -> PakePassword {
        let code = Code::generate(None, CodeWords::new(3).unwrap(), &mut rand_core::OsRng);
        code.password(PasswordScope::WholeCode)
    }

    #[tokio::test]
    async fn a_connector_stalling_after_the_pake_answer_spends_the_code() {
        let password = new_password();
        let (near, far) = tokio::io::duplex(1 << 20);
        let stalling = StallsThirdWrite { inner: near, writes: 0 };
        let connector = connect_code(stalling, "listener", &password);
        let listener = accept_code_within(far, "connector", listener_config(), &password, &[], Duration::from_secs(2));
        tokio::pin!(connector);
        let accepted = tokio::select! {
            accepted = listener => accepted,
            connected = &mut connector => panic!("the connector finished without its confirm: {:?}", connected.err()),
        };
        let error = accepted.err().expect("the listener cannot finish without the connector's confirm");
        assert!(format!("{error:#}").contains("no handshake within"), "{error:#}");
        assert!(is_wrong_code(&error), "the deadline after a guess burns the code: {error:#}");
    }

    #[tokio::test]
    async fn a_deadline_before_any_pake_message_does_not_spend_the_code() {
        let (_near, far) = tokio::io::duplex(1 << 20);
        let deadline = Duration::from_millis(200);
        let error = accept_code_within(far, "silent", listener_config(), &new_password(), &[], deadline).await.err();
        let error = error.expect("nothing was said");
        assert!(!is_wrong_code(&error), "{error:#}");
    }
}
