//! Monitoring: alert rules with WARNING and CRITICAL levels, a durable
//! outbox, and channels that are retried until they take the message.
//!
//! - `rule.rs`: the rules by name ([`Rule`]), which are conditions held back
//!   by the cooldown and which are events; thresholds ([`level_of`]);
//! - `alert.rs`: an [`Alert`] and the [`Raise`] builder every raiser uses;
//! - `config.rs`: `[alerts]` in `sandbar.toml`;
//! - `outbox.rs`: the [`Alerter`] — journaled before sent, retried with
//!   backoff, a cooldown for conditions;
//! - `window.rs`: what burst and silence rules count ([`Burst`], [`Quiet`]);
//! - `channel/`: one file per channel (webhook, e-mail, Telegram) behind
//!   the [`channel::Channel`] trait.
//!
//! Credentials (the Telegram bot token, an SMTP login) come from the
//! environment or a file, never from the config file, and are never logged.

pub mod alert;
pub mod channel;
pub mod config;
pub mod outbox;
pub mod rule;
pub mod window;

pub use alert::{Alert, Level, Raise};
pub use config::{AlertsConfig, ChannelConfig, ERROR_WINDOW_MS, REFUSAL_WINDOW_BARS, summary_time};
pub use outbox::Alerter;
pub use rule::{Rule, level_of};
pub use window::{Burst, Quiet};

/// Annualised Sharpe ratio of daily equity closes (`crate::statistic`).
pub use crate::statistic::daily_sharpe;
