//! A real server on 127.0.0.1:0 in a temp dir, and clients for it.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

pub mod cli;
pub mod faults;
pub mod peer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand_core::OsRng;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use sxfer::client::target::Target;
use sxfer::client::{self, ClientOptions, Purpose, Remote};
use sxfer::server::{self, Limits, LoginLimiter, ServerState};
use sxfer::store::{self, Store};
use sxfer_proto::handshake::ServerConfig;
use sxfer_proto::identity::{Fingerprint, PrivateIdentity};
use sxfer_proto::msgs::Username;
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::secret::Password;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestServer {
    pub dir: TempDir,
    pub data: PathBuf,
    pub address: std::net::SocketAddr,
    pub fingerprint: Fingerprint,
    pub store: Store,
    identity: Arc<PrivateIdentity>,
    stop: Option<oneshot::Sender<()>>,
    pub handle: Option<JoinHandle<anyhow::Result<()>>>,
}

#[derive(Clone)]
pub struct Options {
    pub limits: Limits,
    pub store_limits: store::Limits,
    /// Accept all five suites, not only the defaults.
    pub all_suites: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: Limits { shutdown_grace: Duration::from_secs(2), ..Limits::default() },
            store_limits: store::Limits::default(),
            all_suites: false,
        }
    }
}

impl TestServer {
    pub async fn start(options: Options) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let identity = Arc::new(PrivateIdentity::generate_ed25519(&mut OsRng).expect("key"));
        let (store, address, stop, handle) = launch(&data, identity.clone(), options).await;
        TestServer {
            dir,
            data,
            address,
            fingerprint: identity.public().fingerprint(),
            store,
            identity,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// (Re)start on the same data directory, as after a crash.
    pub async fn restart_with(&mut self, options: Options) {
        let (store, address, stop, handle) = launch(&self.data, self.identity.clone(), options).await;
        (self.store, self.address, self.stop, self.handle) = (store, address, Some(stop), Some(handle));
    }

    /// Graceful shutdown (SIGTERM path).
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("join").expect("server");
        }
    }

    /// Like a crash: the task and all its connections vanish at once.
    pub async fn kill(&mut self) {
        self.stop.take();
        if let Some(handle) = self.handle.take() {
            handle.abort();
            handle.await.ok();
        }
    }

    pub fn add_user(&self, name: &str) {
        let name = Username::parse(name).expect("name");
        self.store.add_user(&name, Some(&Password::new(PASSWORD.into()))).expect("add user");
    }

    /// What the server has committed under `user`'s `name`.
    pub fn stat(&self, user: &str, name: &str) -> Option<sxfer_proto::msgs::FileEntry> {
        let user = self.store.user(&Username::parse(user).expect("name")).expect("user").expect("exists");
        let name = sxfer_proto::names::RemoteName::parse(name).expect("name");
        self.store.stat(user.id, &name).expect("stat")
    }

    /// Rows in the audit table: every authentication attempt leaves one.
    pub fn audit_count(&self) -> i64 {
        self.store.flush_audit().expect("audit events written");
        let db = rusqlite::Connection::open(self.data.join("sxfer.db")).expect("db");
        db.query_row("SELECT COUNT(*) FROM audit", [], |row| row.get(0)).expect("count")
    }

    pub fn target(&self, user: &str, path: &str) -> Target {
        Target::parse(&format!("{user}@127.0.0.1:{}:{path}", self.address.port())).expect("target")
    }

    /// Client options for a fresh client home with the right pin.
    pub fn client_options(&self, home: &Path, password: &str) -> ClientOptions {
        let password_file = home.join("password");
        std::fs::create_dir_all(home).expect("home");
        std::fs::write(&password_file, password).expect("password file");
        ClientOptions {
            home: home.to_path_buf(),
            identity_file: None,
            password_file: Some(password_file),
            fingerprint: Some(self.fingerprint),
            idle_timeout: Some(Duration::from_secs(30)),
            suites: None,
        }
    }

    pub async fn connect(&self, user: &str) -> Remote {
        let home = self.dir.path().join(format!("home-{user}"));
        let options = self.client_options(&home, PASSWORD);
        client::connect(&self.target(user, ""), &options, Purpose::Login).await.expect("connect")
    }
}

type Launched = (Store, std::net::SocketAddr, oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>);

async fn launch(data: &Path, identity: Arc<PrivateIdentity>, options: Options) -> Launched {
    let store = Store::open(data).expect("store");
    store.set_password_hashing_for_testing_only(64, 1).expect("fast argon2 for tests");
    store.set_limits(options.store_limits);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr");
    let state = Arc::new(ServerState {
        store: Arc::new(store.clone()),
        protocol: Arc::new(ServerConfig {
            suites: if options.all_suites { SuiteId::ALL.to_vec() } else { SuiteId::DEFAULT.to_vec() },
            ..ServerConfig::new(identity)
        }),
        limits: options.limits,
        logins: LoginLimiter::default(),
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(server::run(listener, state, async {
        stopped.await.ok();
    }));
    (store, address, stop, handle)
}

pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

pub fn blobs_under(data: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for fan in std::fs::read_dir(data.join("blobs")).expect("blobs").flatten() {
        for blob in std::fs::read_dir(fan.path()).expect("fan").flatten() {
            found.push(blob.path());
        }
    }
    found
}
