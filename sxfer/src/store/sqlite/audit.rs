//! The audit log in SQLite (`audit`): rows in insertion order, `id` the
//! sequence number.

use rusqlite::{params, Connection, OptionalExtension, Row};
use sxfer_proto::names::RemoteName;

use super::{from_sql_int, to_sql_int};
use crate::store::audit_chain;
use crate::store::audit_event::{AuditEvent, AuditKind};
use crate::store::error::{Result, StoreError};
use crate::store::meta::{AuditRecord, ChainedRow};

/// Inserts one row, inside whatever transaction `db` is in, with its
/// chain value under `key` (the last row's chain, or the genesis value,
/// linked to this row; callers hold the write lock, so "last" is stable).
pub(super) fn insert(db: &Connection, record: &AuditRecord, key: Option<&[u8; 32]>) -> Result<()> {
    let event = &record.event;
    let size = event.size.map(|size| to_sql_int(size, "size")).transpose()?;
    let digest = event.digest.map(|digest| digest.iter().map(|byte| format!("{byte:02x}")).collect::<String>());
    let last: Option<(i64, Option<Vec<u8>>)> = db
        .prepare_cached("SELECT id, chain FROM audit ORDER BY id DESC LIMIT 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let id = last.as_ref().map_or(1, |(id, _)| id + 1);
    let previous = match last.and_then(|(_, chain)| chain) {
        Some(chain) => {
            chain.try_into().map_err(|_| StoreError::Internal("an audit row's chain is not 32 bytes".into()))?
        }
        None => audit_chain::GENESIS,
    };
    let sequence = from_sql_int(id, "audit sequence number")?;
    let chain = key.map(|key| audit_chain::link(key, &previous, sequence, record));
    db.prepare_cached(
        "INSERT INTO audit (id, time, user, remote, kind, name, size, digest, detail, outcome, chain)
         VALUES (?10, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11)",
    )?
    .execute(params![
        record.time,
        event.user,
        event.remote.map(|remote| remote.to_string()),
        event.kind.as_str(),
        event.name.as_ref().map(RemoteName::as_str),
        size,
        digest,
        event.detail,
        event.outcome,
        id,
        chain.as_ref().map(|chain| chain.as_slice())
    ])?;
    Ok(())
}

pub(super) fn read(db: &Connection, after: u64, limit: usize) -> Result<Vec<ChainedRow>> {
    let after = to_sql_int(after, "audit sequence number")?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut statement = db.prepare_cached(
        "SELECT id, time, user, remote, kind, name, size, digest, detail, outcome, chain
         FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = statement.query_map(params![after, limit], RawAudit::read)?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(RawAudit::into_record).collect()
}

struct RawAudit {
    id: i64,
    time: i64,
    user: Option<String>,
    remote: Option<String>,
    kind: String,
    name: Option<String>,
    size: Option<i64>,
    digest: Option<String>,
    detail: Option<String>,
    outcome: String,
    chain: Option<Vec<u8>>,
}

impl RawAudit {
    fn read(row: &Row<'_>) -> rusqlite::Result<RawAudit> {
        Ok(RawAudit {
            id: row.get(0)?,
            time: row.get(1)?,
            user: row.get(2)?,
            remote: row.get(3)?,
            kind: row.get(4)?,
            name: row.get(5)?,
            size: row.get(6)?,
            digest: row.get(7)?,
            detail: row.get(8)?,
            outcome: row.get(9)?,
            chain: row.get(10)?,
        })
    }

    fn into_record(self) -> Result<ChainedRow> {
        let corrupt = |what: &str| StoreError::Internal(format!("audit row {} holds an invalid {what}", self.id));
        let kind = AuditKind::parse(&self.kind).ok_or_else(|| corrupt("kind"))?;
        let remote = self.remote.as_deref().map(|text| text.parse().map_err(|_| corrupt("address"))).transpose()?;
        let name = self.name.as_deref().map(|text| RemoteName::parse(text).map_err(|_| corrupt("name"))).transpose()?;
        let digest =
            self.digest.as_deref().map(|text| parse_digest(text).ok_or_else(|| corrupt("digest"))).transpose()?;
        let size = self.size.map(|size| from_sql_int(size, "audit size")).transpose()?;
        let event = AuditEvent {
            kind,
            user: self.user,
            remote,
            name,
            size,
            digest,
            detail: self.detail,
            outcome: self.outcome,
        };
        let chain = self.chain.map(|chain| chain.try_into().map_err(|_| corrupt("chain"))).transpose()?;
        Ok((from_sql_int(self.id, "audit sequence number")?, AuditRecord { time: self.time, event }, chain))
    }
}

/// 64 hex digits, as `insert` writes a digest.
fn parse_digest(text: &str) -> Option<[u8; 32]> {
    blake3::Hash::from_hex(text).ok().map(|hash| *hash.as_bytes())
}
