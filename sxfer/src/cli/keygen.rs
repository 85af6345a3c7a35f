//! `sxfer keygen` and `sxfer fingerprint`: OpenSSH key files, written and
//! read the way `ssh-keygen` writes and reads them.
//!
//! Users get Ed25519 keys by default. Servers use RSA-3072: `sxfer serve`
//! generates one on first start ([`RSA_DEFAULT_BITS`]), and
//! `sxfer keygen -t rsa` makes the same kind of key by hand.

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, ValueEnum};
use rand_core::OsRng;
use sxfer::keys::{create_private_dir, read_key_file, write_key_file};
use sxfer_proto::identity::{KeyType, PrivateIdentity, PublicIdentity, RSA_DEFAULT_BITS};

/// Arguments of `sxfer keygen`, spelled as `ssh-keygen` spells them.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Key type. `sxfer serve` generates RSA-3072 keys for servers.
    #[arg(short = 't', long = "type", value_enum, default_value_t = TypeArg::Ed25519)]
    key_type: TypeArg,
    /// Key size in bits. RSA: 2048, 3072 (default), 4096 or 8192. Ed25519: always 256.
    #[arg(short = 'b', long = "bits", value_name = "BITS")]
    bits: Option<usize>,
    /// Private key file; the public key goes to FILE.pub.
    /// [default: ~/.sxfer/id_ed25519 or ~/.sxfer/id_rsa]
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Comment stored with the key. [default: user@host]
    #[arg(short = 'C', long = "comment", value_name = "COMMENT")]
    comment: Option<String>,
    /// Replace FILE and FILE.pub if they exist.
    #[arg(long)]
    force: bool,
}

/// Arguments of `sxfer fingerprint`.
#[derive(Args, Debug)]
pub struct FingerprintArgs {
    /// A public key (.pub, authorized_keys) or unencrypted OpenSSH private key file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TypeArg {
    Ed25519,
    Rsa,
}

impl From<TypeArg> for KeyType {
    fn from(arg: TypeArg) -> Self {
        match arg {
            TypeArg::Ed25519 => KeyType::Ed25519,
            TypeArg::Rsa => KeyType::Rsa,
        }
    }
}

const PRIVATE_KEY_MODE: u32 = 0o600;
const PUBLIC_KEY_MODE: u32 = 0o644;

/// `sxfer keygen`: writes FILE (0600) and FILE.pub (0644), then prints the
/// key's fingerprint line.
pub fn keygen(args: KeygenArgs) -> Result<()> {
    let key_type = KeyType::from(args.key_type);
    let bits = checked_bits(key_type, args.bits)?;
    let path = match args.file {
        Some(path) => path,
        None => default_key_path(key_type)?,
    };
    let public_path = public_key_path(&path);
    if !args.force {
        for existing in [&path, &public_path] {
            if fs::symlink_metadata(existing).is_ok() {
                bail!("{}: already exists; use --force to overwrite", existing.display());
            }
        }
    }

    let mut key = match key_type {
        KeyType::Ed25519 => PrivateIdentity::generate_ed25519(&mut OsRng),
        KeyType::Rsa => PrivateIdentity::generate_rsa(bits),
    }
    .map_err(plain)?;
    let comment = args.comment.unwrap_or_else(default_comment);
    if comment.chars().any(char::is_control) {
        bail!("-C: the comment must be one line without control characters");
    }
    key.set_comment(comment);
    let private_text = key.to_openssh().map_err(plain)?;
    let public_text = format!("{}\n", key.public().to_openssh());

    write_key_file(&path, private_text.as_bytes(), PRIVATE_KEY_MODE, args.force)?;
    write_key_file(&public_path, public_text.as_bytes(), PUBLIC_KEY_MODE, args.force)?;
    sxfer::say!("{}", fingerprint_line(key.public()));
    Ok(())
}

/// `sxfer fingerprint FILE`: one line per key, as `ssh-keygen -l -E sha256 -f FILE`.
pub fn fingerprint(args: FingerprintArgs) -> Result<()> {
    let path = &args.file;
    let text = read_key_file(path).with_context(|| path.display().to_string())?;
    let keys = public_keys_in(&text).with_context(|| path.display().to_string())?;
    for key in keys {
        sxfer::say!("{}", fingerprint_line(&key));
    }
    Ok(())
}

/// `3072 SHA256:… comment (RSA)`, the line `ssh-keygen -l` prints.
fn fingerprint_line(key: &PublicIdentity) -> String {
    let comment = match key.comment() {
        "" => "no comment",
        comment => comment,
    };
    format!("{} {} {} ({})", key.bits(), key.fingerprint(), comment, key.key_type().label())
}

fn checked_bits(key_type: KeyType, bits: Option<usize>) -> Result<usize> {
    match (key_type, bits) {
        (KeyType::Ed25519, None | Some(256)) => Ok(256),
        (KeyType::Ed25519, Some(other)) => {
            bail!("-b {other}: Ed25519 keys are always 256 bits")
        }
        (KeyType::Rsa, None) => Ok(RSA_DEFAULT_BITS),
        (KeyType::Rsa, Some(bits @ (2048 | 3072 | 4096 | 8192))) => Ok(bits),
        (KeyType::Rsa, Some(other)) => {
            bail!("-b {other}: RSA keys must be 2048, 3072, 4096 or 8192 bits")
        }
    }
}

/// `id_ed25519` or `id_rsa` in the client directory (`SXFER_HOME`, else
/// `~/.sxfer`), which is created 0700.
fn default_key_path(key_type: KeyType) -> Result<PathBuf> {
    let directory = sxfer::client::home().context("no place for the key; use -f FILE")?;
    create_private_dir(&directory)?;
    Ok(directory.join(format!("id_{}", key_type.name())))
}

fn public_key_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// `user@host` from the environment and the kernel, or what is known of it.
fn default_comment() -> String {
    let user = ["USER", "LOGNAME"].iter().find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()));
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| fs::read_to_string(path).ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty());
    match (user, host) {
        (Some(user), Some(host)) => format!("{user}@{host}"),
        (Some(user), None) => user,
        (None, Some(host)) => host,
        (None, None) => String::new(),
    }
}

/// The public keys in a key file: the one in an OpenSSH private key (the
/// public half of an encrypted one too, as ssh-keygen does), or one per
/// line of a `.pub` / `authorized_keys` file.
fn public_keys_in(text: &str) -> Result<Vec<PublicIdentity>> {
    if text.contains("-----BEGIN") {
        return match PrivateIdentity::from_openssh(text) {
            Ok(key) => Ok(vec![key.public().clone()]),
            Err(err) => match ssh_key::PrivateKey::from_openssh(text.trim()) {
                // The public half of an encrypted key is stored in the clear
                // (its comment is not: ssh-keygen prints "no comment" too).
                Ok(encrypted) if encrypted.is_encrypted() => {
                    let line = encrypted.public_key().to_openssh()?;
                    Ok(vec![PublicIdentity::from_openssh(&line).map_err(plain)?])
                }
                _ => Err(plain(err)),
            },
        };
    }
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = public_key_line(line).map_err(|err| {
            if keys.is_empty() && err.is::<NotAKeyLine>() {
                anyhow!("not an OpenSSH public or private key file")
            } else {
                err.context(format!("line {}", index + 1))
            }
        })?;
        keys.push(key);
    }
    if keys.is_empty() {
        bail!("no public key found");
    }
    Ok(keys)
}

/// A key error without the `key: ` prefix: the file name already says it.
fn plain(err: sxfer_proto::Error) -> anyhow::Error {
    match err {
        sxfer_proto::Error::Key(message) => anyhow!(message),
        other => other.into(),
    }
}

#[derive(Debug)]
struct NotAKeyLine;

impl std::fmt::Display for NotAKeyLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not an OpenSSH public key")
    }
}

impl std::error::Error for NotAKeyLine {}

/// One `.pub` or `authorized_keys` line (options allowed).
fn public_key_line(line: &str) -> Result<PublicIdentity> {
    match ssh_key::authorized_keys::Entry::from_str(line) {
        Ok(entry) => PublicIdentity::from_openssh(&entry.public_key().to_openssh()?).map_err(plain),
        Err(_) => {
            // Name key types we know but do not use, rather than "not a key".
            let known = ["ecdsa-sha2-", "ssh-dss", "sk-", "ssh-ed448"];
            match line.split_whitespace().find(|word| known.iter().any(|k| word.starts_with(k))) {
                Some(name) => bail!("unsupported key type {name}; sxfer uses ssh-ed25519 or ssh-rsa keys"),
                None => Err(NotAKeyLine.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_follow_ssh_keygen_rules() {
        assert_eq!(checked_bits(KeyType::Ed25519, None).ok(), Some(256));
        assert_eq!(checked_bits(KeyType::Ed25519, Some(256)).ok(), Some(256));
        assert!(checked_bits(KeyType::Ed25519, Some(3072)).is_err());
        assert_eq!(checked_bits(KeyType::Rsa, None).ok(), Some(3072));
        assert_eq!(checked_bits(KeyType::Rsa, Some(4096)).ok(), Some(4096));
        assert!(checked_bits(KeyType::Rsa, Some(1024)).is_err());
        assert!(checked_bits(KeyType::Rsa, Some(3000)).is_err());
    }

    #[test]
    fn public_key_path_appends_pub() {
        assert_eq!(public_key_path(Path::new("/a/id_rsa")), Path::new("/a/id_rsa.pub"));
        assert_eq!(public_key_path(Path::new("key")), Path::new("key.pub"));
    }

    #[test]
    fn garbage_is_not_a_key_file() {
        let err = public_keys_in("hello world\n").expect_err("not a key");
        assert_eq!(format!("{err:#}"), "not an OpenSSH public or private key file");
        let err = public_keys_in("\n# only a comment\n").expect_err("not a key");
        assert_eq!(format!("{err:#}"), "no public key found");
        let err = public_keys_in("ecdsa-sha2-nistp256 AAAA x\n").expect_err("not a key");
        assert!(format!("{err:#}").contains("unsupported key type ecdsa-sha2-nistp256"));
    }
}
