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

use super::{code as codes, session, Session};
use crate::client::{relay, Remote};
use crate::output::Output;
use sxfer_proto::handshake::ServerConfig;
use sxfer_proto::msgs::Nameplate;
use sxfer_proto::pake::{self, Code, CodeWords, PasswordScope};

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
    output.code(&code.expose());
    let stream = rendezvous.wait().await?;
    let peer = format!("the peer via {host}");
    let session = session::accept_code(stream, &peer, config, &code.password(PasswordScope::WordsOnly))
        .await
        .map_err(|e| codes::burn_on_guess(e, &peer))?;
    output.path(Some(host));
    Ok(session)
}

/// Join the rendezvous named by `code` on the server behind `remote`.
pub async fn join(remote: Remote, host: &str, code: &Code, output: &Output) -> Result<Session> {
    let nameplate = Nameplate::new(code.nameplate().get()).context("the code's number is not a relay nameplate")?;
    let stream = relay::join(remote, nameplate).await?;
    let peer = format!("the peer via {host}");
    let session = session::connect_code(stream, &peer, &code.password(PasswordScope::WordsOnly)).await?;
    output.path(Some(host));
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
