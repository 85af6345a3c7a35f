//! `sxfer audit`: read and check a server's audit log, on the server
//! machine against its data directory (the server may be running).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use sxfer::config::DEFAULT_DATA_DIR;
use sxfer::output::{format_time, hex, json_string};
use sxfer::store::{AuditRecord, Store};

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Data directory of the server.
    #[arg(long, env = "SXFER_DATA_DIR", default_value = DEFAULT_DATA_DIR, global = true)]
    data_dir: PathBuf,
    /// Only events of this user.
    #[arg(long)]
    user: Option<String>,
    /// Only events newer than this: a duration ago (30m, 12h, 7d) or seconds since the epoch.
    #[arg(long, value_name = "WHEN", value_parser = since)]
    since: Option<i64>,
    /// One JSON object per event on stdout.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Option<AuditCommand>,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check the log's hash chain: report the first row that was altered,
    /// or follows a deleted or moved one, and print the head to record.
    Verify,
}

pub fn run(args: AuditArgs) -> Result<()> {
    // Reading the log must not create a new, empty server here.
    if !args.data_dir.join(sxfer::store::sqlite::DATABASE_FILE).exists() {
        bail!("no sxfer data directory at {} (no {})", args.data_dir.display(), sxfer::store::sqlite::DATABASE_FILE);
    }
    let store = Store::open(&args.data_dir).with_context(|| format!("opening {}", args.data_dir.display()))?;
    match args.command {
        Some(AuditCommand::Verify) => verify(&store),
        None => list(&store, args.user.as_deref(), args.since, args.json),
    }
}

fn verify(store: &Store) -> Result<()> {
    let found = store.verify_audit()?;
    let head = match found.head {
        Some((id, chain)) => format!("head: row {id}, chain {}", hex(&chain)),
        None => "head: none (no chained rows)".to_owned(),
    };
    if found.unchained > 0 {
        sxfer::say!("{} rows from before the chain existed are not covered", found.unchained);
    }
    match found.first_bad {
        Some(id) => bail!(
            "the audit log does not verify from row {id}: that row was altered, or a row before it was deleted or moved ({} rows read; {head})",
            found.rows
        ),
        None => {
            sxfer::say!("the audit log verifies: {} rows; {head}", found.rows);
            sxfer::say!("(rows deleted from the end leave a valid, shorter chain: compare the head with one recorded earlier)");
            Ok(())
        }
    }
}

fn list(store: &Store, user: Option<&str>, since: Option<i64>, json: bool) -> Result<()> {
    store.flush_audit()?;
    let mut after = 0;
    loop {
        let page = store.audit_log(after, 10_000)?;
        let Some(&(last, _)) = page.last() else { return Ok(()) };
        after = last;
        for (id, record) in page {
            if user.is_some_and(|user| record.event.user.as_deref() != Some(user))
                || since.is_some_and(|since| record.time < since)
            {
                continue;
            }
            print(id, &record, json);
        }
    }
}

fn print(id: u64, record: &AuditRecord, json: bool) {
    let event = &record.event;
    if json {
        let text = |value: Option<&str>| value.map_or_else(|| "null".to_owned(), json_string);
        let remote = event.remote.map(|r| r.to_string());
        sxfer::say!(
            "{{\"id\":{id},\"time\":{},\"kind\":{},\"user\":{},\"remote\":{},\"name\":{},\"size\":{},\"digest\":{},\"detail\":{},\"outcome\":{}}}",
            record.time,
            json_string(event.kind.as_str()),
            text(event.user.as_deref()),
            text(remote.as_deref()),
            text(event.name.as_ref().map(|n| n.as_str())),
            event.size.map_or_else(|| "null".to_owned(), |s| s.to_string()),
            text(event.digest.map(|d| hex(&d)).as_deref()),
            text(event.detail.as_deref()),
            json_string(&event.outcome),
        );
    } else {
        let safe = sxfer_proto::names::display_safe;
        sxfer::say!(
            "{id} {} {} user={} remote={} name={} size={} outcome={}{}",
            format_time(record.time),
            event.kind.as_str(),
            safe(event.user.as_deref().unwrap_or("-")),
            event.remote.map_or_else(|| "-".to_owned(), |r| r.to_string()),
            safe(event.name.as_ref().map_or("-", |n| n.as_str())),
            event.size.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            safe(&event.outcome),
            event.detail.as_deref().map_or_else(String::new, |d| format!(" detail={}", safe(d))),
        );
    }
}

/// `--since` (a clap value parser, so a bad value is a usage error): a
/// duration ago (`30m`, `12h`, `7d`: `duration::parse_duration`) or
/// seconds since the epoch.
fn since(text: &str) -> Result<i64, String> {
    if let Ok(epoch) = text.parse::<i64>() {
        return Ok(epoch);
    }
    let ago = sxfer::duration::parse_duration(text).map_err(|e| format!("{e} or seconds since the epoch"))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Ok(now.saturating_sub(ago) as i64)
}
