//! A JSON POST of the alert to a URL: the whole [`Alert`] (for a service
//! of one's own), or the one message a chat service's incoming webhook
//! takes — Slack's or Discord's, each cut to that service's limit so that
//! a long alert (a plugin's panic text) is delivered cut rather than
//! refused for good.

use serde::{Deserialize, Serialize};

use super::{Channel, SendError, answered, cut_to, warning};
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
    /// What is posted (default `json`, the whole alert).
    #[serde(default)]
    pub format: Format,
}

/// What a webhook posts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// The [`Alert`] as JSON, every field.
    #[default]
    Json,
    /// `{"text": …}`: Slack's incoming webhooks ("Sending messages using
    /// incoming webhooks", api.slack.com/messaging/webhooks: a JSON payload
    /// whose `text` is the message).
    Slack,
    /// `{"content": …}`: Discord's Execute Webhook
    /// (discord.com/developers/docs/resources/webhook#execute-webhook:
    /// `content`, "the message contents (up to 2000 characters)").
    Discord,
}

/// Most characters of a Slack message's `text`: Slack truncates messages
/// "containing more than 40,000 characters" (api.slack.com/methods/chat.postMessage,
/// "Truncating content"); cut here, so the cut is marked.
pub const SLACK_MAX_CHARS: usize = 40_000;
/// Most characters of a Discord message's `content` (Execute Webhook).
pub const DISCORD_MAX_CHARS: usize = 2_000;

impl Format {
    /// The body posted for `alert`.
    pub fn body(self, alert: &Alert) -> serde_json::Value {
        match self {
            Format::Json => serde_json::to_value(alert).unwrap_or_default(),
            Format::Slack => serde_json::json!({"text": cut_to(&alert.message, SLACK_MAX_CHARS)}),
            Format::Discord => {
                serde_json::json!({"content": cut_to(&alert.message, DISCORD_MAX_CHARS)})
            }
        }
    }
}

impl WebhookConfig {
    pub(super) fn open(&self, http: &reqwest::blocking::Client) -> Webhook {
        Webhook {
            http: http.clone(),
            url: self.url.clone(),
            min: self.min_level,
            format: self.format,
        }
    }
}

/// The open channel.
pub struct Webhook {
    http: reqwest::blocking::Client,
    url: String,
    min: Level,
    format: Format,
}

impl Channel for Webhook {
    fn min_level(&self) -> Level {
        self.min
    }

    fn send(&self, alert: &Alert) -> Result<(), SendError> {
        answered(
            self.http
                .post(&self.url)
                .json(&self.format.body(alert))
                .send(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::monitor::Rule;

    fn alert(message: String) -> Alert {
        Alert {
            id: 1,
            time: "2026-12-04T00:00:00Z".into(),
            level: Level::Critical,
            deployment: "d".into(),
            version: "p@1.0.0".into(),
            rule: Rule::Fault,
            value: None,
            threshold: None,
            bar_time: None,
            message,
        }
    }

    #[test]
    fn slack_and_discord_get_the_message_alone_cut_to_their_limits() {
        let a = alert("CRITICAL d: fault".into());
        assert_eq!(
            Format::Slack.body(&a),
            serde_json::json!({"text": "CRITICAL d: fault"})
        );
        assert_eq!(
            Format::Discord.body(&a),
            serde_json::json!({"content": "CRITICAL d: fault"})
        );
        assert_eq!(Format::Json.body(&a)["rule"], "fault");
        // A panic text of 64 KiB: cut, marked, within each limit.
        let long = alert("é".repeat(65_536));
        let discord = Format::Discord.body(&long)["content"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(discord.chars().count(), DISCORD_MAX_CHARS);
        assert!(discord.ends_with("… (cut)"));
        let slack = Format::Slack.body(&long)["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(slack.chars().count(), SLACK_MAX_CHARS);
    }
}
