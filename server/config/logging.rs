//! The two logging settings' types, `log_level` / `raft.log_level` ([`LogLevel`]) and
//! `log_format` ([`LogFormat`]), spelled the same in the TOML file, the environment and the
//! flags. `telemetry.rs` turns them into the tracing subscriber.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Log verbosity, from most to least chatty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything, including per-message tracing.
    Trace,
    /// Diagnostic detail.
    Debug,
    /// Normal operation: startup, leadership changes, membership changes.
    Info,
    /// Something is wrong but the node carries on.
    Warn,
    /// Only failures.
    Error,
}

impl LogLevel {
    /// The lowercase name, as `tracing_subscriber::EnvFilter` directives spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl FromStr for LogLevel {
    type Err = String;

    /// Case-insensitive; `warning` is accepted for `warn`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Ok(LogLevel::Trace),
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warn" | "warning" => Ok(LogLevel::Warn),
            "error" => Ok(LogLevel::Error),
            _ => Err(format!(
                "invalid log level {s:?} (expected trace, debug, info, warn or error)"
            )),
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    /// The lowercase name used in settings.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;

    /// Case-insensitive.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("invalid log format {s:?} (expected text or json)")),
        }
    }
}

/// Serializes and deserializes a type through its `as_str` and `FromStr`, so the TOML file,
/// the environment and the flags accept the same spellings and give the same errors.
macro_rules! serde_via_str {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

serde_via_str!(LogLevel);
serde_via_str!(LogFormat);
