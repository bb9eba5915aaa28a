//! Where alerts go: one file per channel, each behind [`Channel`]. A new
//! channel is a file here, a variant of [`ChannelConfig`] and its arm in
//! [`ChannelConfig::open`].

use serde::{Deserialize, Serialize};

use super::{Alert, Level};

pub mod email;
pub mod telegram;
pub mod webhook;

/// A channel ready to send (its secrets read).
pub trait Channel: Send {
    /// The lowest level it is sent.
    fn min_level(&self) -> Level;
    /// Send one alert; the error says why (never a secret).
    fn send(&self, alert: &Alert) -> Result<(), SendError>;
}

/// Why a channel did not take an alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Unreachable, busy or failing (a network error, a 5xx, a 429, an
    /// SMTP 4xx): tried again, for as long as it takes.
    #[error("down: {0}")]
    Down(String),
    /// Refused for this alert (an HTTP 4xx, an SMTP 5xx): sending it again
    /// will not help; after a few tries it is given up on this channel and
    /// reported on the others.
    #[error("refused: {0}")]
    Refused(String),
}

/// `[[alerts.channels]]`, by `kind`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ChannelConfig {
    /// A JSON POST of the [`Alert`].
    Webhook(webhook::WebhookConfig),
    /// E-mail over SMTP.
    Email(email::EmailConfig),
    /// Telegram bot `sendMessage`.
    Telegram(telegram::TelegramConfig),
}

impl ChannelConfig {
    /// Refuse settings that cannot work.
    pub fn check(&self) -> anyhow::Result<()> {
        match self {
            ChannelConfig::Telegram(t) => t.check(),
            ChannelConfig::Email(e) => e.check(),
            ChannelConfig::Webhook(_) => Ok(()),
        }
    }

    /// The channel, its secrets read now (an error names what is missing).
    pub fn open(&self, http: &reqwest::blocking::Client) -> anyhow::Result<Box<dyn Channel>> {
        Ok(match self {
            ChannelConfig::Webhook(c) => Box::new(c.open(http)),
            ChannelConfig::Email(c) => Box::new(c.open()?),
            ChannelConfig::Telegram(c) => Box::new(c.open(http)?),
        })
    }
}

/// `message` cut to at most `max` characters (a service's limit on a
/// message's text), saying so at the end.
pub fn cut_to(message: &str, max: usize) -> String {
    if message.chars().count() <= max {
        return message.to_string();
    }
    const MARK: &str = "… (cut)";
    let keep = max.saturating_sub(MARK.chars().count());
    let mut out: String = message.chars().take(keep).collect();
    out.push_str(MARK);
    out
}

/// Lowest level sent, by default.
pub(crate) fn warning() -> Level {
    Level::Warning
}

/// An HTTP answer as a channel reports it: any success is taken; a 4xx
/// other than 408 and 429 refuses this alert, anything else is the channel
/// being down. The error never prints the URL (a Telegram URL holds the
/// bot token).
pub(crate) fn answered(r: reqwest::Result<reqwest::blocking::Response>) -> Result<(), SendError> {
    match r {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => {
            let status = r.status();
            // The reason the service gives, short (Telegram says which
            // limit in `description`).
            let body = crate::sandbox::runtime::cut(r.text().unwrap_or_default(), 200);
            let why = format!("{status} {}", body.trim());
            if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
                Err(SendError::Refused(why))
            } else {
                Err(SendError::Down(why))
            }
        }
        Err(e) => Err(SendError::Down(crate::net::chain(&e.without_url()))),
    }
}
