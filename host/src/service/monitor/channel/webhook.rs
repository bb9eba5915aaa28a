//! A JSON POST of the alert to a URL.

use serde::{Deserialize, Serialize};

use super::{Channel, SendError, answered, warning};
use crate::service::monitor::{Alert, Level};

/// `kind = "webhook"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// URL.
    pub url: String,
    /// Lowest level sent (default WARNING).
    #[serde(default = "warning")]
    pub min_level: Level,
}

impl WebhookConfig {
    pub(super) fn open(&self, http: &reqwest::blocking::Client) -> Webhook {
        Webhook {
            http: http.clone(),
            url: self.url.clone(),
            min: self.min_level,
        }
    }
}

/// The open channel.
pub struct Webhook {
    http: reqwest::blocking::Client,
    url: String,
    min: Level,
}

impl Channel for Webhook {
    fn min_level(&self) -> Level {
        self.min
    }

    fn send(&self, alert: &Alert) -> Result<(), SendError> {
        answered(self.http.post(&self.url).json(alert).send())
    }
}
