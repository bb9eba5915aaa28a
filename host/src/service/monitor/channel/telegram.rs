//! Telegram's bot API `sendMessage`. The bot token comes from the
//! environment or a file, never from the config file, and is never logged.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Channel, SendError, answered, warning};
use crate::service::monitor::{Alert, Level};

/// `kind = "telegram"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// API base (default `https://api.telegram.org`).
    #[serde(default = "default_api")]
    pub api_url: String,
    /// Environment variable holding the bot token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Or a file holding it.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Chat to write to.
    pub chat_id: String,
    /// Lowest level sent (default WARNING).
    #[serde(default = "warning")]
    pub min_level: Level,
}

fn default_api() -> String {
    "https://api.telegram.org".into()
}

impl TelegramConfig {
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if self.token_env.is_some() == self.token_file.is_some() {
            anyhow::bail!("give exactly one of `token_env` or `token_file`");
        }
        Ok(())
    }

    pub(super) fn open(&self, http: &reqwest::blocking::Client) -> anyhow::Result<Telegram> {
        let token = match (&self.token_env, &self.token_file) {
            (Some(v), _) => std::env::var(v)
                .map_err(|_| anyhow::anyhow!("environment variable {v} is not set"))?,
            (_, Some(f)) => std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?
                .trim()
                .to_string(),
            _ => anyhow::bail!("no token"),
        };
        Ok(Telegram {
            http: http.clone(),
            url: format!(
                "{}/bot{token}/sendMessage",
                self.api_url.trim_end_matches('/')
            ),
            chat: self.chat_id.clone(),
            min: self.min_level,
        })
    }
}

/// Most characters of a message's text: `sendMessage` takes "1-4096
/// characters after entities parsing" (Telegram Bot API, sendMessage); no
/// `parse_mode` is sent, so no entities are parsed.
pub const MAX_TEXT_CHARS: usize = 4096;

/// An alert's text as Telegram takes it: cut to [`MAX_TEXT_CHARS`]
/// characters, saying so.
pub fn text(message: &str) -> String {
    super::cut_to(message, MAX_TEXT_CHARS)
}

/// The open channel.
pub struct Telegram {
    http: reqwest::blocking::Client,
    url: String,
    chat: String,
    min: Level,
}

impl Channel for Telegram {
    fn min_level(&self) -> Level {
        self.min
    }

    fn send(&self, alert: &Alert) -> Result<(), SendError> {
        let body = serde_json::json!({"chat_id": self.chat, "text": text(&alert.message)});
        answered(self.http.post(&self.url).json(&body).send())
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn a_text_over_telegrams_limit_is_cut_to_it_in_characters() {
        let long = "ü".repeat(10_000);
        let t = text(&long);
        assert_eq!(t.chars().count(), MAX_TEXT_CHARS);
        assert!(t.ends_with("… (cut)"));
        let fits = "ü".repeat(MAX_TEXT_CHARS);
        assert_eq!(text(&fits), fits);
    }
}
