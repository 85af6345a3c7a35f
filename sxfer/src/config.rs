//! Server configuration: defaults, then a TOML file (`--config`), then
//! `SXFER_*` environment variables, then flags — the later wins.
//! `sxfer serve --print-config` shows the effective values.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::duration::{format_duration, parse_duration};
use crate::logging::LogFormat;
use crate::server::{RelayLimits, RelayMode};
use sxfer_proto::record::suite::SuiteId;

pub const DEFAULT_DATA_DIR: &str = "sxfer-data";
pub const DEFAULT_LISTEN: &str = "0.0.0.0:7272";

/// The TOML file. Every key optional; unknown keys are an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub max_connections: Option<usize>,
    pub max_handshakes: Option<usize>,
    pub max_handshakes_per_address: Option<usize>,
    pub handshake_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
    pub max_file_size: Option<String>,
    pub quota_bytes: Option<String>,
    pub quota_files: Option<u64>,
    pub allow_registration: Option<bool>,
    pub suites: Option<Vec<String>>,
    pub log_file: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub relay: Option<RelayFileConfig>,
    pub drops: Option<DropsFileConfig>,
}

/// The `[drops]` table (PROTOCOL.md §14.8).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropsFileConfig {
    /// Drops one account's inbox holds at most.
    pub max_inbox_drops: Option<u64>,
    /// Ciphertext bytes one account's inbox holds at most (e.g. `10G`).
    pub max_inbox_bytes: Option<String>,
    /// The longest `--expires` a drop may ask for (e.g. `30d`).
    pub max_expires: Option<String>,
}

/// The `[relay]` table (rendezvous and relay, PROTOCOL.md §12).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayFileConfig {
    /// `off`, `accounts` (logged-in users) or `open` (anonymous clients too).
    pub mode: Option<RelayMode>,
    pub max_relays: Option<usize>,
    /// Per relay, both directions together (e.g. `64G`).
    pub max_bytes: Option<String>,
    pub idle_timeout_secs: Option<u64>,
    pub total_timeout_secs: Option<u64>,
    pub nameplate_ttl_secs: Option<u64>,
    /// Nameplates one source may create or try to join per minute.
    pub claims_per_minute: Option<u32>,
}

/// The effective server settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: String,
    pub max_connections: usize,
    pub max_handshakes: usize,
    pub max_handshakes_per_address: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
    pub max_file_size: u64,
    pub quota_bytes: Option<u64>,
    pub quota_files: Option<u64>,
    pub allow_registration: bool,
    pub suites: Vec<SuiteId>,
    pub log_file: Option<PathBuf>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub relay: RelayLimits,
    pub max_inbox_drops: u64,
    pub max_inbox_bytes: u64,
    /// Seconds.
    pub max_drop_expires: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            listen: DEFAULT_LISTEN.to_owned(),
            max_connections: 256,
            max_handshakes: 1024,
            max_handshakes_per_address: 256,
            handshake_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(30),
            max_file_size: 1 << 40,
            quota_bytes: None,
            quota_files: None,
            allow_registration: false,
            suites: SuiteId::DEFAULT.to_vec(),
            log_file: None,
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
            relay: RelayLimits::default(),
            max_inbox_drops: 1000,
            max_inbox_bytes: 10 << 30,
            max_drop_expires: MAX_DROP_EXPIRES_DEFAULT,
        }
    }
}

impl Settings {
    /// Defaults overlaid with the file at `path`, if any.
    pub fn load(path: Option<&Path>) -> Result<Settings> {
        let mut settings = Settings::default();
        if let Some(path) = path {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
            let file: FileConfig =
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
            settings.apply(file)?;
        }
        Ok(settings)
    }

    pub fn apply(&mut self, file: FileConfig) -> Result<()> {
        let secs = Duration::from_secs;
        if let Some(v) = file.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = file.listen {
            self.listen = v;
        }
        if let Some(v) = file.max_connections {
            self.max_connections = v;
        }
        if let Some(v) = file.max_handshakes {
            self.max_handshakes = v;
        }
        if let Some(v) = file.max_handshakes_per_address {
            self.max_handshakes_per_address = v;
        }
        if let Some(v) = file.handshake_timeout_secs {
            self.handshake_timeout = secs(v);
        }
        if let Some(v) = file.idle_timeout_secs {
            self.idle_timeout = secs(v);
        }
        if let Some(v) = file.shutdown_grace_secs {
            self.shutdown_grace = secs(v);
        }
        if let Some(v) = file.max_file_size {
            self.max_file_size = parse_size(&v)?;
        }
        if let Some(v) = file.quota_bytes {
            self.quota_bytes = Some(parse_size(&v)?);
        }
        if let Some(v) = file.quota_files {
            self.quota_files = Some(v);
        }
        if let Some(v) = file.allow_registration {
            self.allow_registration = v;
        }
        if let Some(v) = file.suites {
            self.suites = parse_suites(&v.join(","))?;
        }
        if let Some(v) = file.log_file {
            self.log_file = Some(v);
        }
        if let Some(v) = file.log_format {
            self.log_format = v;
        }
        if let Some(v) = file.log_level {
            self.log_level = v;
        }
        if let Some(relay) = file.relay {
            self.apply_relay(relay)?;
        }
        if let Some(drops) = file.drops {
            if let Some(v) = drops.max_inbox_drops {
                self.max_inbox_drops = v;
            }
            if let Some(v) = drops.max_inbox_bytes {
                self.max_inbox_bytes = parse_size(&v)?;
            }
            if let Some(v) = drops.max_expires {
                self.max_drop_expires = parse_duration(&v)?;
            }
        }
        for (name, value) in [
            ("max_connections", self.max_connections),
            ("max_handshakes", self.max_handshakes),
            ("max_handshakes_per_address", self.max_handshakes_per_address),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
            // Each is a semaphore's permit count, which has a ceiling; far
            // below it, more than a million sessions is a typo.
            if value > MAX_LIMIT {
                bail!("{name} must be at most {MAX_LIMIT}");
            }
        }
        Ok(())
    }

    fn apply_relay(&mut self, file: RelayFileConfig) -> Result<()> {
        let relay = &mut self.relay;
        if let Some(v) = file.mode {
            relay.mode = v;
        }
        if let Some(v) = file.max_relays {
            relay.max_relays = v;
        }
        if let Some(v) = file.max_bytes {
            relay.max_bytes = parse_size(&v)?;
        }
        for (value, setting) in [
            (file.idle_timeout_secs, &mut relay.idle_timeout),
            (file.total_timeout_secs, &mut relay.total_timeout),
            (file.nameplate_ttl_secs, &mut relay.nameplate_ttl),
        ] {
            if let Some(v) = value {
                *setting = Duration::from_secs(v);
            }
        }
        if let Some(v) = file.claims_per_minute {
            relay.claims_per_minute = v;
        }
        for (name, value) in [
            ("relay.max_relays", relay.max_relays as u64),
            ("relay.max_bytes", relay.max_bytes),
            ("relay.idle_timeout_secs", relay.idle_timeout.as_secs()),
            ("relay.total_timeout_secs", relay.total_timeout.as_secs()),
            ("relay.nameplate_ttl_secs", relay.nameplate_ttl.as_secs()),
            ("relay.claims_per_minute", u64::from(relay.claims_per_minute)),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1 (mode = \"off\" turns the relay off)");
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML (what `--print-config` prints;
    /// a valid config file, unset options as comments).
    pub fn to_toml(&self) -> String {
        let quoted = |v: Option<u64>| v.map(|v| format!("\"{v}\""));
        let suites: Vec<String> = self.suites.iter().map(|s| format!("\"{}\"", s.name())).collect();
        let log_format = match self.log_format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        let lines: [(&str, Option<String>, &str); 16] = [
            ("data_dir", Some(format!("{:?}", self.data_dir.display().to_string())), ""),
            ("listen", Some(format!("{:?}", self.listen)), ""),
            ("max_connections", Some(self.max_connections.to_string()), ""),
            ("max_handshakes", Some(self.max_handshakes.to_string()), ""),
            ("max_handshakes_per_address", Some(self.max_handshakes_per_address.to_string()), ""),
            ("handshake_timeout_secs", Some(self.handshake_timeout.as_secs().to_string()), ""),
            ("idle_timeout_secs", Some(self.idle_timeout.as_secs().to_string()), ""),
            ("shutdown_grace_secs", Some(self.shutdown_grace.as_secs().to_string()), ""),
            ("max_file_size", quoted(Some(self.max_file_size)), ""),
            ("quota_bytes", quoted(self.quota_bytes), "unlimited"),
            ("quota_files", self.quota_files.map(|v| v.to_string()), "unlimited"),
            ("allow_registration", Some(self.allow_registration.to_string()), ""),
            ("suites", Some(format!("[{}]", suites.join(", "))), ""),
            ("log_file", self.log_file.as_ref().map(|p| format!("{:?}", p.display().to_string())), "none"),
            ("log_format", Some(format!("\"{log_format}\"")), ""),
            ("log_level", Some(format!("{:?}", self.log_level)), ""),
        ];
        let relay = &self.relay;
        let relay_lines = [
            ("mode", format!("\"{}\"", relay.mode.as_str())),
            ("max_relays", relay.max_relays.to_string()),
            ("max_bytes", format!("\"{}\"", relay.max_bytes)),
            ("idle_timeout_secs", relay.idle_timeout.as_secs().to_string()),
            ("total_timeout_secs", relay.total_timeout.as_secs().to_string()),
            ("nameplate_ttl_secs", relay.nameplate_ttl.as_secs().to_string()),
            ("claims_per_minute", relay.claims_per_minute.to_string()),
        ];
        let top: String = lines
            .iter()
            .map(|(key, value, unset)| match value {
                Some(value) => format!("{key} = {value}\n"),
                None => format!("# {key} ({unset})\n"),
            })
            .collect();
        let table: String = relay_lines.iter().map(|(key, value)| format!("{key} = {value}\n")).collect();
        let drops = format!(
            "max_inbox_drops = {}\nmax_inbox_bytes = \"{}\"\nmax_expires = \"{}\"\n",
            self.max_inbox_drops,
            self.max_inbox_bytes,
            format_duration(self.max_drop_expires)
        );
        format!("{top}\n[relay]\n{table}\n[drops]\n{drops}")
    }
}

/// `1048576`, `512K`, `10M`, `2G`, `1T` (binary multiples).
pub fn parse_size(text: &str) -> Result<u64> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((i, 'K' | 'k')) => (&text[..i], 10),
        Some((i, 'M' | 'm')) => (&text[..i], 20),
        Some((i, 'G' | 'g')) => (&text[..i], 30),
        Some((i, 'T' | 't')) => (&text[..i], 40),
        _ => (text, 0),
    };
    let value: u64 = digits.parse().with_context(|| format!("bad size {text:?} (e.g. 1048576, 512K, 10M, 2G)"))?;
    value.checked_mul(1 << shift).with_context(|| format!("size {text:?} is too large"))
}

/// The default longest drop expiry: 30 days.
pub const MAX_DROP_EXPIRES_DEFAULT: u64 = 30 * 86_400;

/// A comma-separated list of suite names.
pub fn parse_suites(text: &str) -> Result<Vec<SuiteId>> {
    let mut suites = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let suite = SuiteId::from_name(name).with_context(|| {
            let known: Vec<_> = SuiteId::ALL.iter().map(|s| s.name()).collect();
            format!("unknown suite {name:?} (known: {})", known.join(", "))
        })?;
        if !suites.contains(&suite) {
            suites.push(suite);
        }
    }
    if suites.is_empty() {
        bail!("no suites given");
    }
    Ok(suites)
}

/// The largest connection or handshake limit accepted.
const MAX_LIMIT: usize = 1_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_suites() {
        assert_eq!(parse_size("10M").unwrap(), 10 << 20);
        assert_eq!(parse_size("7").unwrap(), 7);
        assert!(parse_size("x").is_err());
        assert!(parse_size("99999999999T").is_err());
        assert_eq!(parse_suites("aes-256-gcm, hmac-sha256-ctr").unwrap().len(), 2);
        assert!(parse_suites("rot13").is_err());
    }

    #[test]
    fn file_overrides_defaults_and_rejects_unknown_keys() {
        let file: FileConfig = toml::from_str("listen = \"127.0.0.1:1\"\nquota_files = 3").unwrap();
        let mut settings = Settings::default();
        settings.apply(file).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:1");
        assert_eq!(settings.quota_files, Some(3));
        assert!(toml::from_str::<FileConfig>("lisen = 1").is_err());
        let file: FileConfig = toml::from_str("max_handshakes = 9\nmax_handshakes_per_address = 3").unwrap();
        settings.apply(file).unwrap();
        assert_eq!((settings.max_handshakes, settings.max_handshakes_per_address), (9, 3));
        let printed: FileConfig = toml::from_str(&settings.to_toml()).unwrap();
        assert_eq!((printed.max_handshakes, printed.max_handshakes_per_address), (Some(9), Some(3)));
        let zero: FileConfig = toml::from_str("max_handshakes_per_address = 0").unwrap();
        assert!(settings.apply(zero).is_err());
        // A semaphore of this many permits would panic at startup.
        let huge: FileConfig = toml::from_str("max_connections = 9223372036854775807").unwrap();
        let error = settings.apply(huge).unwrap_err().to_string();
        assert!(error.contains("max_connections must be at most"), "{error}");
    }

    #[test]
    fn the_relay_table() {
        let mut settings = Settings::default();
        assert_eq!(settings.relay.mode, RelayMode::Accounts, "accounts only unless told");
        let text = "[relay]\nmode = \"open\"\nmax_relays = 3\nmax_bytes = \"1M\"\nidle_timeout_secs = 7\n\
                    total_timeout_secs = 8\nnameplate_ttl_secs = 9\nclaims_per_minute = 4";
        settings.apply(toml::from_str(text).unwrap()).unwrap();
        let relay = &settings.relay;
        assert_eq!((relay.mode, relay.max_relays, relay.max_bytes), (RelayMode::Open, 3, 1 << 20));
        assert_eq!(
            (relay.idle_timeout, relay.total_timeout, relay.nameplate_ttl, relay.claims_per_minute),
            (Duration::from_secs(7), Duration::from_secs(8), Duration::from_secs(9), 4)
        );
        let printed: FileConfig = toml::from_str(&settings.to_toml()).unwrap();
        let mut again = Settings::default();
        again.apply(printed).unwrap();
        assert_eq!(format!("{:?}", again.relay), format!("{:?}", settings.relay), "--print-config round-trips");
        for bad in ["[relay]\nmode = \"public\"", "[relay]\nmax_relay = 1", "[relay]\nclaims_per_minute = 0"] {
            let parsed = toml::from_str::<FileConfig>(bad).map_err(anyhow::Error::from);
            assert!(parsed.and_then(|file| settings.apply(file)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_drops_table() {
        let mut settings = Settings::default();
        assert_eq!((settings.max_inbox_drops, settings.max_inbox_bytes), (1000, 10 << 30));
        settings.apply(toml::from_str("[drops]\nmax_inbox_drops = 5\nmax_inbox_bytes = \"2M\"").unwrap()).unwrap();
        assert_eq!((settings.max_inbox_drops, settings.max_inbox_bytes), (5, 2 << 20));
        let printed: FileConfig = toml::from_str(&settings.to_toml()).unwrap();
        let mut again = Settings::default();
        again.apply(printed).unwrap();
        assert_eq!((again.max_inbox_drops, again.max_inbox_bytes), (5, 2 << 20), "--print-config round-trips");
        assert!(toml::from_str::<FileConfig>("[drops]\nmax_inbox = 1").is_err());
        assert_eq!(settings.max_drop_expires, 30 * 86_400);
        settings.apply(toml::from_str("[drops]\nmax_expires = \"36h\"").unwrap()).unwrap();
        assert_eq!(settings.max_drop_expires, 36 * 3600);
        let mut again = Settings::default();
        again.apply(toml::from_str(&settings.to_toml()).unwrap()).unwrap();
        assert_eq!(again.max_drop_expires, 36 * 3600, "max_expires round-trips");
        assert!(Settings::default().apply(toml::from_str("[drops]\nmax_expires = \"7 days\"").unwrap()).is_err());
    }
}
