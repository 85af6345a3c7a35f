//! Accounts: users, password hashes, public keys, quotas, invites, over the
//! [`MetaStore`](super::MetaStore).
//!
//! Passwords are stored as argon2id PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`): a 16-byte random salt
//! per hash and the parameters recorded, so they can be raised later
//! without invalidating old hashes. Hashing and verification happen here,
//! never inside a metadata store call (so never under its lock).

use std::cell::RefCell;
use std::sync::{Arc, OnceLock, PoisonError};

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::{OsRng, RngCore};
use sxfer_proto::identity::{Fingerprint, PublicIdentity};
use sxfer_proto::msgs::{ClientId, Username};
use sxfer_proto::secret::Password;
use zeroize::Zeroizing;

use super::blob::BlobState;
use super::error::{Result, StoreError};
use super::meta::{NewUser, UserInfo};
use super::{now, Store};

impl Store {
    /// Creates an account, with or without a password (a password-less
    /// account logs in with keys only). Fails with `Exists` if the name is
    /// taken.
    pub fn add_user(&self, name: &Username, password: Option<&Password>) -> Result<UserInfo> {
        self.create_user(name, password, None, None)
    }

    /// Self-registration: like [`add_user`](Self::add_user) with a password,
    /// a key, or both (at least one).
    pub fn register(
        &self,
        name: &Username,
        password: Option<&Password>,
        key: Option<&PublicIdentity>,
    ) -> Result<UserInfo> {
        if password.is_none() && key.is_none() {
            return Err(StoreError::Invalid("registration needs a password or a public key".into()));
        }
        self.create_user(name, password, key, None)
    }

    /// Registration with an operator's invite token: the token is used up
    /// (one of its uses) in the same transaction that creates the account,
    /// so a token can never admit more accounts than it allows. An unknown,
    /// used-up or expired token is one error, whichever it was.
    pub fn register_with_invite(
        &self,
        name: &Username,
        password: Option<&Password>,
        key: Option<&PublicIdentity>,
        token: &[u8],
    ) -> Result<UserInfo> {
        if password.is_none() && key.is_none() {
            return Err(StoreError::Invalid("registration needs a password or a public key".into()));
        }
        self.create_user(name, password, key, Some(*blake3::hash(token).as_bytes()))
    }

    /// A new invite token for `uses` registrations within `valid_secs`.
    /// Only its hash is stored; show the returned token once.
    pub fn create_invite(&self, uses: u32, valid_secs: u64) -> Result<Zeroizing<String>> {
        if uses == 0 {
            return Err(StoreError::Invalid("an invite needs at least one use".into()));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(secret.as_mut());
        let token: Zeroizing<String> =
            Zeroizing::new(format!("sxfer-invite-{}", secret.iter().map(|b| format!("{b:02x}")).collect::<String>()));
        let now = now();
        let expires = now.saturating_add(i64::try_from(valid_secs).unwrap_or(i64::MAX));
        self.inner.meta.create_invite(blake3::hash(token.as_bytes()).as_bytes(), uses, expires, now)?;
        Ok(token)
    }

    /// Deletes an account with its keys, files and partial uploads: rows
    /// first (one transaction), then the blobs.
    pub fn delete_user(&self, name: &Username) -> Result<()> {
        let deleted = self.inner.meta.delete_user(name)?;
        for id in &deleted.files {
            self.inner.remove_blob(id, BlobState::Committed);
        }
        for id in &deleted.partials {
            self.inner.remove_blob(id, BlobState::Staged);
        }
        tracing::info!(user = %name, files = deleted.files.len(), partials = deleted.partials.len(), "deleted user");
        Ok(())
    }

    /// One account, if it exists.
    pub fn user(&self, name: &Username) -> Result<Option<UserInfo>> {
        Ok(self.inner.meta.account(name)?.map(|account| account.info))
    }

    /// Every account, sorted by name.
    pub fn list_users(&self) -> Result<Vec<UserInfo>> {
        self.inner.meta.list_users()
    }

    /// Sets or replaces the password.
    pub fn set_password(&self, name: &Username, password: &Password) -> Result<()> {
        let hash = self.inner.hashing().hash(password)?;
        self.inner.meta.set_password_hash(name, &hash)
    }

    /// Sets the account's quotas; `None` means the server default.
    pub fn set_quota(&self, name: &Username, bytes: Option<u64>, files: Option<u64>) -> Result<()> {
        self.inner.meta.set_quota(name, bytes, files)
    }

    /// Allows `key` to log in as `name`. `Exists` if it already may.
    pub fn add_key(&self, name: &Username, key: &PublicIdentity) -> Result<()> {
        self.inner.meta.add_key(name, key, now())
    }

    pub fn delete_key(&self, name: &Username, fingerprint: &Fingerprint) -> Result<()> {
        self.inner.meta.delete_key(name, fingerprint)
    }

    /// The user's keys, oldest first, with the comments they were added with.
    pub fn list_keys(&self, name: &Username) -> Result<Vec<PublicIdentity>> {
        self.inner.meta.list_keys(name)
    }

    /// Checks a password. `Some(user)` only if the account exists, has a
    /// password, and it matches. When the account does not exist or has no
    /// password, one argon2 verification still runs (against a dummy hash
    /// with the current parameters), so the time taken does not reveal
    /// which accounts exist.
    pub fn verify_password(&self, name: &Username, password: &Password) -> Result<Option<UserInfo>> {
        let found = self.inner.meta.account(name)?;
        let hashing = self.inner.hashing();
        match found {
            Some(super::meta::Account { info, password_hash: Some(hash) }) => {
                Ok(verify(&hash, password).then_some(info))
            }
            _ => {
                verify(hashing.dummy_hash()?, password);
                Ok(None)
            }
        }
    }

    /// `Some(user)` if `key` is registered for `name`. The caller has
    /// already checked the signature proving possession of the key.
    pub fn key_login(&self, name: &Username, key: &PublicIdentity) -> Result<Option<UserInfo>> {
        let Some(account) = self.inner.meta.account(name)? else {
            return Ok(None);
        };
        let stored = self.inner.meta.key_wire(account.info.id, &key.fingerprint())?;
        Ok(stored.is_some_and(|wire| wire == key.to_wire()).then_some(account.info))
    }

    /// Lowers the argon2 cost so tests run fast. Never call it in production:
    /// hashes made with these parameters are cheap to brute-force.
    pub fn set_password_hashing_for_testing_only(&self, memory_kib: u32, iterations: u32) -> Result<()> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|err| StoreError::Invalid(format!("argon2 parameters: {err}")))?;
        *self.inner.hashing.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(PasswordHashing { params, dummy: OnceLock::new() });
        Ok(())
    }

    fn create_user(
        &self,
        name: &Username,
        password: Option<&Password>,
        key: Option<&PublicIdentity>,
        invite: Option<[u8; 32]>,
    ) -> Result<UserInfo> {
        let hash = password.map(|password| self.inner.hashing().hash(password)).transpose()?;
        let mut client_id = [0u8; 16];
        OsRng.fill_bytes(&mut client_id);
        let info = self.inner.meta.create_user(&NewUser {
            name,
            client_id: ClientId(client_id),
            password_hash: hash.as_deref(),
            key,
            invite,
            now: now(),
        })?;
        tracing::info!(user = %name, client_id = %info.client_id, "created user");
        Ok(info)
    }
}

/// How passwords are hashed: argon2id with `params`, and a dummy hash with
/// the same parameters for unknown users (computed on first use).
pub(super) struct PasswordHashing {
    params: Params,
    dummy: OnceLock<String>,
}

impl PasswordHashing {
    /// The argon2 crate's defaults: m=19456 KiB, t=2, p=1 (OWASP's minimum).
    pub(super) fn production() -> Self {
        PasswordHashing { params: Params::default(), dummy: OnceLock::new() }
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash(&self, password: &Password) -> Result<String> {
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|err| StoreError::Internal(format!("salt: {err}")))?;
        let hash = self
            .argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .map_err(|err| StoreError::Internal(format!("argon2: {err}")))?;
        Ok(hash.to_string())
    }

    fn dummy_hash(&self) -> Result<&str> {
        if let Some(hash) = self.dummy.get() {
            return Ok(hash);
        }
        let mut random = [0u8; 24];
        OsRng.fill_bytes(&mut random);
        let password: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
        let hash = self.hash(&Password::new(password))?;
        Ok(self.dummy.get_or_init(|| hash))
    }
}

thread_local! {
    /// argon2 working memory (19 MiB with the default parameters), kept by
    /// each thread that checks passwords. Allocating and freeing it per
    /// login left the allocator holding 58 MiB per arena: 188–394 MiB of
    /// idle server RSS after a few dozen logins. Zeroed after every use.
    static ARGON2_MEMORY: RefCell<Vec<argon2::Block>> = const { RefCell::new(Vec::new()) };
}

/// Verifies against a stored PHC string, with the parameters recorded in
/// it. Anything but a well-formed argon2id hash fails. This is what
/// `PasswordVerifier::verify_password` does (same parameters, salt
/// decoding and output length, constant-time comparison), with working
/// memory reused across calls.
fn verify(hash: &str, password: &Password) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let (Some(salt), Some(expected), Ok(params)) = (parsed.salt, parsed.hash, Params::try_from(&parsed)) else {
        return false;
    };
    let Ok(version) = parsed.version.map_or(Ok(Version::V0x13), Version::try_from) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut computed = Zeroizing::new(vec![0u8; expected.len()]);
    let argon2 = Argon2::new(Algorithm::Argon2id, version, params.clone());
    let hashed = ARGON2_MEMORY.with_borrow_mut(|memory| {
        memory.resize(params.block_count(), argon2::Block::default());
        let hashed =
            argon2.hash_password_into_with_memory(password.expose().as_bytes(), salt, &mut computed, &mut memory[..]);
        memory.fill(argon2::Block::default());
        hashed
    });
    hashed.is_ok() && aws_lc_rs::constant_time::verify_slices_are_equal(&computed, expected.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHashing {
        PasswordHashing { params: Params::new(64, 1, 1, None).unwrap_or_default(), dummy: OnceLock::new() }
    }

    /// `verify` (reused memory) agrees with the argon2 crate's own verifier
    /// on every case, including other parameters and output lengths.
    #[test]
    fn verify_agrees_with_the_argon2_verifier() -> Result<()> {
        use argon2::password_hash::PasswordVerifier;
        let right = Password::new("correct horse".into());
        let wrong = Password::new("correct horsf".into());
        let mut hashes = Vec::new();
        for (memory, iterations, output) in [(64, 1, 32), (256, 3, 32), (128, 2, 16), (64, 1, 64)] {
            let params =
                Params::new(memory, iterations, 1, Some(output)).map_err(|e| StoreError::Internal(e.to_string()))?;
            hashes.push(PasswordHashing { params, dummy: OnceLock::new() }.hash(&right)?);
        }
        let old_version =
            Argon2::new(Algorithm::Argon2id, Version::V0x10, Params::new(64, 1, 1, None).unwrap_or_default())
                .hash_password(
                    b"correct horse",
                    &SaltString::encode_b64(&[7; 16]).map_err(|e| StoreError::Internal(e.to_string()))?,
                )
                .map_err(|e| StoreError::Internal(e.to_string()))?
                .to_string();
        hashes.push(old_version);
        for hash in &hashes {
            let parsed = PasswordHash::new(hash).map_err(|e| StoreError::Internal(e.to_string()))?;
            for password in [&right, &wrong] {
                let reference = Argon2::default().verify_password(password.expose().as_bytes(), &parsed).is_ok();
                assert_eq!(verify(hash, password), reference, "{hash}");
            }
            assert!(verify(hash, &right), "{hash}");
        }
        // Tampered hashes, salts and algorithms fail.
        let good = &hashes[0];
        // One full 6-bit character in the middle of the hash: a real bit
        // change that still parses, so the comparison itself must refuse it.
        let at = good.rfind('$').map_or(0, |i| i + 10);
        let flipped = if &good[at..=at] == "A" { "B" } else { "A" };
        let tampered = format!("{}{flipped}{}", &good[..at], &good[at + 1..]);
        assert!(PasswordHash::new(&tampered).is_ok(), "{tampered}");
        assert!(!verify(&tampered, &right));
        assert!(!verify(&good.replace("argon2id", "argon2i"), &right));
        assert!(!verify("not a hash", &right));
        Ok(())
    }

    #[test]
    fn hashes_are_salted_argon2id_phc_strings() -> Result<()> {
        let hashing = fast();
        let password = Password::new("correct horse".into());
        let first = hashing.hash(&password)?;
        let second = hashing.hash(&password)?;
        assert!(first.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{first}");
        assert_ne!(first, second, "salts must differ");
        assert!(verify(&first, &password));
        assert!(!verify(&first, &Password::new("wrong".into())));
        Ok(())
    }

    #[test]
    fn only_argon2id_hashes_verify() -> Result<()> {
        let password = Password::new("pw".into());
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::new(64, 1, 1, None).unwrap_or_default());
        let salt = SaltString::encode_b64(&[7u8; 16]).map_err(|err| StoreError::Internal(err.to_string()))?;
        let hash = argon2i.hash_password(b"pw", &salt).map_err(|err| StoreError::Internal(err.to_string()))?;
        assert!(!verify(&hash.to_string(), &password));
        assert!(!verify("not a hash", &password));
        Ok(())
    }

    #[test]
    fn the_dummy_hash_is_made_once_with_current_parameters() -> Result<()> {
        let hashing = fast();
        let first = hashing.dummy_hash()?.to_owned();
        assert!(first.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(hashing.dummy_hash()?, first);
        Ok(())
    }

    #[test]
    fn production_parameters_are_the_argon2_defaults() {
        let params = PasswordHashing::production().params;
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), (19456, 2, 1));
    }
}
