//! Logging: human-readable or JSON lines, filtered by `RUST_LOG` (default `info`).
//! Colours only on a terminal: a log written to a file or a pipe is plain text.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}
