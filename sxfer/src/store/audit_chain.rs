//! Tamper evidence for the audit log: a keyed hash chain.
//!
//! Each row carries `chain = BLAKE3-keyed(key, previous chain ‖ row)`,
//! where `row` is the row's sequence number and every field in a fixed,
//! length-prefixed encoding, and the first chained row's previous chain is
//! 32 zero bytes. The key is derived from the storage key (`storage.key`,
//! which is not in the database), so whoever can write the database but
//! not read that file cannot rewrite the chain to cover an edit.
//!
//! [`verify`] walks the rows in order and reports the first that does not
//! match: that row was altered, or one before it was deleted or moved.
//! Deleting rows from the end leaves a shorter valid chain; [`Verified`]
//! gives the head (last sequence number and chain), which `sxfer audit
//! verify` prints for the operator to record elsewhere and compare later.

use super::meta::{AuditRecord, ChainedRow};

/// The chain value before the first chained row.
pub const GENESIS: [u8; 32] = [0; 32];

const KEY_CONTEXT: &str = "sxfer 2026-12 audit chain v1";

/// The chain key, from the storage identity.
pub fn key_from(identity: &age::x25519::Identity) -> [u8; 32] {
    use age::secrecy::ExposeSecret;
    let secret = identity.to_string();
    blake3::derive_key(KEY_CONTEXT, secret.expose_secret().as_bytes())
}

/// The chain value of row `id` holding `record`, after `previous`.
pub fn link(key: &[u8; 32], previous: &[u8; 32], id: u64, record: &AuditRecord) -> [u8; 32] {
    let event = &record.event;
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(previous);
    hasher.update(&id.to_be_bytes());
    hasher.update(&record.time.to_be_bytes());
    let remote = event.remote.map(|remote| remote.to_string());
    let digest = event.digest.map(|digest| digest.to_vec());
    let size = event.size.map(|size| size.to_be_bytes().to_vec());
    let fields: [Option<&[u8]>; 8] = [
        Some(event.kind.as_str().as_bytes()),
        event.user.as_deref().map(str::as_bytes),
        remote.as_deref().map(str::as_bytes),
        event.name.as_ref().map(|name| name.as_str().as_bytes()),
        size.as_deref(),
        digest.as_deref(),
        event.detail.as_deref().map(str::as_bytes),
        Some(event.outcome.as_bytes()),
    ];
    for field in fields {
        match field {
            None => hasher.update(&[0]),
            Some(bytes) => hasher.update(&[1]).update(&(bytes.len() as u64).to_be_bytes()).update(bytes),
        };
    }
    *hasher.finalize().as_bytes()
}

/// What [`verify`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verified {
    /// Rows read.
    pub rows: u64,
    /// Rows from before the chain existed (no chain value), all before
    /// the first chained row.
    pub unchained: u64,
    /// The first row whose chain does not match, if any.
    pub first_bad: Option<u64>,
    /// The last row and its chain value (the head to record elsewhere).
    pub head: Option<(u64, [u8; 32])>,
}

/// Walk `rows` (sequence number, record, stored chain value) in order.
pub fn verify(key: &[u8; 32], rows: impl IntoIterator<Item = ChainedRow>) -> Verified {
    let mut found = Verified::default();
    let mut previous = GENESIS;
    let mut chained = false;
    for (id, record, stored) in rows {
        found.rows += 1;
        match stored {
            None if !chained => found.unchained += 1,
            None => {
                found.first_bad.get_or_insert(id);
            }
            Some(stored) => {
                chained = true;
                let expected = link(key, &previous, id, &record);
                let matches = aws_lc_rs::constant_time::verify_slices_are_equal(&expected, &stored).is_ok();
                if found.first_bad.is_none() && !matches {
                    found.first_bad = Some(id);
                }
                previous = stored;
                found.head = Some((id, stored));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit_event::{AuditEvent, AuditKind};

    fn row(n: u64) -> AuditRecord {
        let event = AuditEvent::new(AuditKind::Upload, "ok").size(n);
        AuditRecord { time: 1_700_000_000 + n as i64, event }
    }

    fn chain(key: &[u8; 32], n: u64) -> Vec<ChainedRow> {
        let mut previous = GENESIS;
        (1..=n)
            .map(|id| {
                let record = row(id);
                previous = link(key, &previous, id, &record);
                (id, record, Some(previous))
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_any_change_is_found_at_its_row() {
        let key = [7; 32];
        let rows = chain(&key, 6);
        let intact = verify(&key, rows.clone());
        assert_eq!((intact.rows, intact.first_bad, intact.head.map(|h| h.0)), (6, None, Some(6)));

        let mut altered = rows.clone();
        altered[2].1.event.outcome = "refused".into();
        assert_eq!(verify(&key, altered).first_bad, Some(3));

        let mut deleted = rows.clone();
        deleted.remove(3);
        assert_eq!(verify(&key, deleted).first_bad, Some(5));

        let mut swapped = rows.clone();
        swapped.swap(1, 2);
        let (a, b) = (swapped[1].0, swapped[2].0);
        swapped[1].0 = b;
        swapped[2].0 = a;
        assert_eq!(verify(&key, swapped).first_bad, Some(2));

        assert_eq!(verify(&[8; 32], rows).first_bad, Some(1), "another key does not verify");
    }

    #[test]
    fn rows_from_before_the_chain_are_counted_not_blamed() {
        let key = [1; 32];
        let mut rows = vec![(1, row(1), None), (2, row(2), None)];
        let record = row(3);
        rows.push((3, record.clone(), Some(link(&key, &GENESIS, 3, &record))));
        let found = verify(&key, rows);
        assert_eq!((found.unchained, found.first_bad), (2, None));
    }
}
