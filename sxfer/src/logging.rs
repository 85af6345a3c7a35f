//! Logs: tracing to stderr and/or a file, as text or JSON lines. Secrets
//! never reach a log: they are newtypes without Debug/Display output.

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Install the global subscriber. `level` is an EnvFilter directive
/// (`info`, `sxfer=debug`); `RUST_LOG` overrides it.
pub fn init(level: &str, format: LogFormat, stderr: bool, file: Option<&Path>) -> Result<()> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let ansi = std::io::stderr().is_terminal();
    let stderr_layer = stderr.then(|| match format {
        LogFormat::Text => fmt::layer().with_ansi(ansi).with_writer(std::io::stderr).with_filter(filter()).boxed(),
        LogFormat::Json => fmt::layer().json().with_writer(std::io::stderr).with_filter(filter()).boxed(),
    });
    let file_layer = match file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).ok();
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening log file {}", path.display()))?;
            let writer = Mutex::new(file);
            Some(match format {
                LogFormat::Text => fmt::layer().with_ansi(false).with_writer(writer).with_filter(filter()).boxed(),
                LogFormat::Json => fmt::layer().json().with_writer(writer).with_filter(filter()).boxed(),
            })
        }
        None => None,
    };
    tracing_subscriber::registry().with(stderr_layer).with(file_layer).try_init().ok();
    Ok(())
}
