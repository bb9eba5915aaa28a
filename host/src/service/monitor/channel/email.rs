//! E-mail over SMTP (the `lettre` crate), to a relay that takes plain SMTP
//! (a local MTA; TLS to a remote server is not built in).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Channel, SendError, warning};
use crate::service::monitor::{Alert, Level};

/// `kind = "email"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP host.
    pub host: String,
    /// Port (default 25).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Environment variable holding `user:password`, if the relay wants a login.
    #[serde(default)]
    pub credentials_env: Option<String>,
    /// Lowest level sent (default WARNING).
    #[serde(default = "warning")]
    pub min_level: Level,
}

fn default_port() -> u16 {
    25
}

impl EmailConfig {
    pub(super) fn open(&self) -> anyhow::Result<Email> {
        let parse = |a: &str| {
            a.parse::<lettre::message::Mailbox>()
                .map_err(|e| anyhow::anyhow!("address {a:?}: {e}"))
        };
        let mut b = lettre::SmtpTransport::builder_dangerous(self.host.as_str())
            .port(self.port)
            .timeout(Some(Duration::from_secs(10)));
        if let Some(v) = &self.credentials_env {
            let c = std::env::var(v)
                .map_err(|_| anyhow::anyhow!("environment variable {v} is not set"))?;
            let (user, pass) = c
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("{v} must hold user:password"))?;
            b = b.credentials(lettre::transport::smtp::authentication::Credentials::new(
                user.into(),
                pass.into(),
            ));
        }
        Ok(Email {
            transport: b.build(),
            from: parse(&self.from)?,
            to: self
                .to
                .iter()
                .map(|t| parse(t))
                .collect::<anyhow::Result<_>>()?,
            min: self.min_level,
        })
    }
}

/// The open channel.
pub struct Email {
    transport: lettre::SmtpTransport,
    from: lettre::message::Mailbox,
    to: Vec<lettre::message::Mailbox>,
    min: Level,
}

impl Channel for Email {
    fn min_level(&self) -> Level {
        self.min
    }

    fn send(&self, a: &Alert) -> Result<(), SendError> {
        use lettre::Transport;
        let mut m = lettre::Message::builder()
            .from(self.from.clone())
            .subject(format!("[sandbar] {} {} {}", a.level, a.deployment, a.rule));
        for t in &self.to {
            m = m.to(t.clone());
        }
        let body = format!(
            "{}\n\n{}\n",
            a.message,
            serde_json::to_string_pretty(a).unwrap_or_default()
        );
        let m = m
            .body(body)
            .map_err(|e| SendError::Refused(e.to_string()))?;
        // A permanent SMTP answer (5xx) refuses this message; anything
        // else (a 4xx, the connection) is the server being down.
        self.transport.send(&m).map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                SendError::Refused(e.to_string())
            } else {
                SendError::Down(e.to_string())
            }
        })
    }
}
