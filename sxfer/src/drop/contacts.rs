//! Contact pins (PROTOCOL.md §14.6): `~/.sxfer/contacts`, next to
//! `known_hosts`, one `user@host:port key` line per key seen for a user of
//! a server. The keys a server's directory hands out for a user are pinned
//! on first use; later, a key that is not pinned is refused loudly.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::client::pins;
use sxfer_proto::identity::{Fingerprint, PublicIdentity};
use sxfer_proto::msgs::Username;

pub struct Contacts {
    path: PathBuf,
}

impl Contacts {
    pub fn new(path: PathBuf) -> Contacts {
        Contacts { path }
    }

    /// The contacts file in the client's directory (`~/.sxfer/contacts`).
    pub fn in_home(home: &std::path::Path) -> Contacts {
        Contacts::new(home.join("contacts"))
    }

    /// The keys to use for `user` on `server`, given what the server's
    /// directory `listed`: on first use all of them, pinned now (their
    /// fingerprints are shown); afterwards they must all be pinned already.
    pub fn check(&self, server: &str, user: &Username, listed: &[PublicIdentity]) -> Result<Vec<PublicIdentity>> {
        let contact = format!("{user}@{server}");
        if listed.is_empty() {
            bail!("{contact} has no public key in the server's directory (they can publish one: sxfer key publish)");
        }
        let pinned = self.pinned(&contact)?;
        if pinned.is_empty() {
            for key in listed {
                self.add(&contact, key)?;
                eprintln!("pinned {contact} {} key {} on first use", key.key_type().label(), key.fingerprint());
            }
            return Ok(listed.to_vec());
        }
        if let Some(new) =
            listed.iter().find(|key| !pinned.iter().any(|(_, p)| p.fingerprint().ct_eq(&key.fingerprint())))
        {
            let lines: Vec<String> = pinned.iter().map(|(line, _)| line.to_string()).collect();
            bail!(
                "WARNING: THE SERVER HANDS OUT A DIFFERENT KEY FOR {contact} ({} {}, not pinned); this may be an attack. Nothing was sent. If {user} really has a new key, confirm its fingerprint with them and forget the old pin: sxfer contacts rm {contact} (line(s) {} of {})",
                new.key_type().label(),
                new.fingerprint(),
                lines.join(", "),
                self.path.display()
            );
        }
        Ok(listed.to_vec())
    }

    /// Pin the one key of `user` on `server` whose fingerprint is
    /// `expected` (confirmed with them out of band), from what the
    /// server's directory `listed`. Refused if the directory lists no such
    /// key, or if `user` already has other pins (a changed key: `rm` first).
    pub fn verify(
        &self,
        server: &str,
        user: &Username,
        listed: &[PublicIdentity],
        expected: &Fingerprint,
    ) -> Result<PublicIdentity> {
        let contact = format!("{user}@{server}");
        let Some(key) = listed.iter().find(|key| key.fingerprint().ct_eq(expected)) else {
            let offered: Vec<String> = listed.iter().map(|key| key.fingerprint().to_string()).collect();
            bail!(
                "the server's directory has no key {expected} for {contact} (it lists: {}); nothing pinned",
                if offered.is_empty() { "none".to_owned() } else { offered.join(", ") }
            );
        };
        let pinned = self.pinned(&contact)?;
        if pinned.iter().any(|(_, p)| p.fingerprint().ct_eq(expected)) {
            return Ok(key.clone());
        }
        if !pinned.is_empty() {
            bail!(
                "{contact} has other pinned keys; if their key really changed, forget the old pin first: sxfer contacts rm {contact}"
            );
        }
        self.add(&contact, key)?;
        Ok(key.clone())
    }

    /// The keys pinned for `user` on `server`.
    pub fn keys(&self, server: &str, user: &Username) -> Result<Vec<PublicIdentity>> {
        Ok(self.pinned(&format!("{user}@{server}"))?.into_iter().map(|(_, key)| key).collect())
    }

    /// Every pin: `(user@host:port, key)`, in file order.
    pub fn list(&self) -> Result<Vec<(String, PublicIdentity)>> {
        Ok(pins::all(&self.path)?.into_iter().map(|(_, contact, key)| (contact, key)).collect())
    }

    /// Forgets the pins of `contact` (`user@host:port`), after its key
    /// changed and the new one was confirmed out of band; returns how many.
    pub fn remove(&self, contact: &str) -> Result<usize> {
        pins::remove(&self.path, contact)
    }

    /// `(line number, key)` of every pin of `contact`.
    fn pinned(&self, contact: &str) -> Result<Vec<(usize, PublicIdentity)>> {
        pins::pinned(&self.path, contact)
    }

    fn add(&self, contact: &str, key: &PublicIdentity) -> Result<()> {
        pins::add(&self.path, contact, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;
    use sxfer_proto::identity::PrivateIdentity;

    fn key() -> PublicIdentity {
        PrivateIdentity::generate_ed25519(&mut OsRng).unwrap().public().clone()
    }

    #[test]
    fn first_use_pins_and_a_new_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let contacts = Contacts::in_home(dir.path());
        let bob = Username::parse("bob").unwrap();
        let (first, second, swapped) = (key(), key(), key());
        let listed = vec![first.clone(), second.clone()];
        assert_eq!(contacts.check("h:1", &bob, &listed).unwrap(), listed);
        assert_eq!(contacts.check("h:1", &bob, &listed).unwrap(), listed);
        assert_eq!(contacts.check("h:1", &bob, &listed[..1]).unwrap(), vec![first.clone()], "withheld: fewer keys");
        let refused = contacts.check("h:1", &bob, &[first.clone(), swapped.clone()]).unwrap_err().to_string();
        assert!(refused.contains("DIFFERENT KEY FOR bob@h:1") && refused.contains(&swapped.fingerprint().to_string()));
        // Another server's bob is another contact.
        assert_eq!(contacts.check("h:2", &bob, std::slice::from_ref(&swapped)).unwrap(), vec![swapped.clone()]);
        assert_eq!(contacts.keys("h:1", &bob).unwrap(), vec![first, second]);
        assert!(contacts.check("h:3", &bob, &[]).is_err(), "no keys: nothing to encrypt to");
        assert_eq!(contacts.list().unwrap().len(), 3);
        assert_eq!(contacts.remove("bob@h:1").unwrap(), 2);
        assert_eq!(contacts.list().unwrap().len(), 1, "bob@h:2 stays");
        let renewed = contacts.check("h:1", &bob, std::slice::from_ref(&swapped)).unwrap();
        assert_eq!(renewed, vec![swapped], "pinned anew after rm");
    }
}
