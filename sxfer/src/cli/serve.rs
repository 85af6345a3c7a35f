//! `sxfer serve`: run the file server on embedded defaults.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use tokio::net::TcpListener;

use sxfer::config::{FileConfig, RelayFileConfig, Settings};
use sxfer::logging::{self, LogFormat};
use sxfer::server::{self, Limits, LoginLimiter, RelayMode, ServerState};
use sxfer::store::{self, Store};
use sxfer_proto::handshake::ServerConfig;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML configuration file (flags and SXFER_* variables override it).
    #[arg(long, env = "SXFER_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory: host key, storage key, database, blobs.
    #[arg(long, env = "SXFER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address and port to listen on [default: 0.0.0.0:7272].
    #[arg(long, env = "SXFER_LISTEN")]
    listen: Option<String>,
    /// Most simultaneous authenticated sessions [default: 256].
    #[arg(long, env = "SXFER_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Most connections not yet authenticated; a new one over it drops the
    /// least advanced, oldest one [default: 1024].
    #[arg(long, env = "SXFER_MAX_HANDSHAKES")]
    max_handshakes: Option<usize>,
    /// Most unauthenticated connections from one IPv4 address or IPv6 /64
    /// [default: 256].
    #[arg(long, env = "SXFER_MAX_HANDSHAKES_PER_ADDRESS")]
    max_handshakes_per_address: Option<usize>,
    /// Seconds a client has to complete the handshake.
    #[arg(long, env = "SXFER_HANDSHAKE_TIMEOUT")]
    handshake_timeout: Option<u64>,
    /// Seconds of silence before a connection is dropped.
    #[arg(long, env = "SXFER_IDLE_TIMEOUT")]
    idle_timeout: Option<u64>,
    /// Seconds running transfers get to finish on shutdown.
    #[arg(long, env = "SXFER_SHUTDOWN_GRACE")]
    shutdown_grace: Option<u64>,
    /// Largest file accepted (e.g. 10G).
    #[arg(long, env = "SXFER_MAX_FILE_SIZE")]
    max_file_size: Option<String>,
    /// Default per-user quota in bytes (e.g. 50G).
    #[arg(long, env = "SXFER_QUOTA_BYTES")]
    quota_bytes: Option<String>,
    /// Default per-user quota in files.
    #[arg(long, env = "SXFER_QUOTA_FILES")]
    quota_files: Option<u64>,
    /// Let clients create their own accounts (`sxfer register`).
    #[arg(long, env = "SXFER_ALLOW_REGISTRATION")]
    allow_registration: bool,
    /// Record suites accepted, comma-separated [default: aes-256-gcm,chacha20-poly1305].
    #[arg(long, env = "SXFER_SUITES")]
    suites: Option<String>,
    /// Also write logs to this file.
    #[arg(long, env = "SXFER_LOG_FILE")]
    log_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "SXFER_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// Log level or filter (info, debug, sxfer=debug).
    #[arg(long, env = "SXFER_LOG_LEVEL")]
    log_level: Option<String>,
    /// Who may use the relay: off, accounts (logged-in users) or open
    /// (anonymous clients too) [default: accounts]. The other relay
    /// settings are in the config file's [relay] table.
    #[arg(long, env = "SXFER_RELAY")]
    relay: Option<RelayMode>,
    /// Print the effective configuration and exit.
    #[arg(long)]
    print_config: bool,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let print = args.print_config;
    let settings = settings(args)?;
    if print {
        sxfer::say!("{}", settings.to_toml().trim_end_matches('\n'));
        return Ok(());
    }
    logging::init(&settings.log_level, settings.log_format, true, settings.log_file.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(settings))
}

/// Defaults < config file < environment and flags (clap merges those two):
/// the flags are one more layer through the same `Settings::apply`.
fn settings(args: ServeArgs) -> Result<Settings> {
    let mut settings = Settings::load(args.config.as_deref())?;
    settings
        .apply(FileConfig {
            data_dir: args.data_dir,
            listen: args.listen,
            max_connections: args.max_connections,
            max_handshakes: args.max_handshakes,
            max_handshakes_per_address: args.max_handshakes_per_address,
            handshake_timeout_secs: args.handshake_timeout,
            idle_timeout_secs: args.idle_timeout,
            shutdown_grace_secs: args.shutdown_grace,
            max_file_size: args.max_file_size,
            quota_bytes: args.quota_bytes,
            quota_files: args.quota_files,
            allow_registration: args.allow_registration.then_some(true),
            suites: args.suites.map(|list| vec![list]),
            log_file: args.log_file,
            log_format: args.log_format,
            log_level: args.log_level,
            relay: args.relay.map(|mode| RelayFileConfig { mode: Some(mode), ..RelayFileConfig::default() }),
            drops: None,
        })
        .context("command-line settings")?;
    Ok(settings)
}

/// Open (or create) the data directory, bind, and serve until SIGINT/SIGTERM.
pub async fn serve(settings: Settings) -> Result<()> {
    let shutdown = shutdown_signal()?;
    survive_file_size_limit()?;
    raise_open_file_limit(settings.max_connections, settings.max_handshakes);
    let store = Store::open(&settings.data_dir).with_context(|| format!("opening {}", settings.data_dir.display()))?;
    store.set_limits(store::Limits {
        max_file_size: settings.max_file_size,
        default_quota_bytes: settings.quota_bytes,
        default_quota_files: settings.quota_files,
        max_inbox_drops: settings.max_inbox_drops,
        max_inbox_bytes: settings.max_inbox_bytes,
        max_drop_expires: settings.max_drop_expires,
    });
    let identity = sxfer::keys::load_or_create_host_key(&settings.data_dir)?;
    let fingerprint = identity.public().fingerprint();
    let listener =
        TcpListener::bind(&settings.listen).await.with_context(|| format!("listening on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let protocol = ServerConfig { suites: settings.suites.clone(), ..ServerConfig::new(Arc::new(identity)) };
    let key_type = protocol.identity.public().key_type();
    eprintln!("sxfer server listening on {address}");
    eprintln!("host key {} {fingerprint}", key_type.label());
    eprintln!("data directory {}", settings.data_dir.display());
    tracing::info!(%address, %fingerprint, data_dir = %settings.data_dir.display(), "server started");
    let state = Arc::new(ServerState {
        store: Arc::new(store),
        protocol: Arc::new(protocol),
        limits: Limits {
            max_connections: settings.max_connections,
            max_handshakes: settings.max_handshakes,
            max_handshakes_per_address: settings.max_handshakes_per_address,
            handshake_timeout: settings.handshake_timeout,
            idle_timeout: settings.idle_timeout,
            shutdown_grace: settings.shutdown_grace,
            allow_registration: settings.allow_registration,
            relay: settings.relay.clone(),
        },
        logins: LoginLimiter::default(),
    });
    let store = Arc::clone(&state.store);
    let served = server::run(listener, state, shutdown).await;
    // Every audit event queued by the sessions is in the database before
    // the process exits.
    tokio::task::spawn_blocking(move || store.flush_audit())
        .await
        .context("flushing the audit log")?
        .context("flushing the audit log")?;
    served
}

/// Each session may hold a socket, a few batches' durability watches
/// (`durable::Watch`) and the files being staged or streamed, each
/// unauthenticated connection a socket: raise the soft limit on open files
/// toward the hard one (common defaults are 1024 soft and far more hard) so
/// that the admission limits, not the descriptor limit, decide.
fn raise_open_file_limit(max_connections: usize, max_handshakes: usize) {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let wanted = (max_connections as u64).saturating_mul(16).saturating_add(max_handshakes as u64).max(4096);
        let limit = getrlimit(Resource::Nofile);
        let current = limit.current.unwrap_or(u64::MAX);
        let target = limit.maximum.map_or(wanted, |maximum| wanted.min(maximum));
        if current < target {
            if let Err(e) = setrlimit(Resource::Nofile, Rlimit { current: Some(target), maximum: limit.maximum }) {
                tracing::warn!(error = %e, current, target, "cannot raise the open file limit");
            }
        }
    }
}

/// Under a file-size limit (RLIMIT_FSIZE; systemd's `LimitFSIZE=`) a write
/// past it raises SIGXFSZ, whose default action ends the whole server.
/// With a handler registered the kernel delivers the signal to tokio
/// instead and the write fails with EFBIG: only that upload fails, with
/// its own error (PROTOCOL.md §7.4). tokio keeps the handler for the life
/// of the process, so the stream itself is not needed.
fn survive_file_size_limit() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let xfsz = SignalKind::from_raw(rustix::process::Signal::XFSZ.as_raw());
    drop(signal(xfsz).context("installing the SIGXFSZ handler")?);
    Ok(())
}

/// Register SIGINT and SIGTERM handlers now (before the server announces
/// itself), and return a future that resolves on either: a signal during
/// start-up must mean a clean shutdown, not the default kill.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("sxfer: shutting down (transfers in progress get the grace period)");
    })
}
