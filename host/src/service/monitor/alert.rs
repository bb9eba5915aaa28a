//! An alert: its level, what it is about, and the builder every raiser uses.

use serde::{Deserialize, Serialize};

use super::Rule;

/// How serious.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// For the record.
    Info,
    /// Look soon.
    Warning,
    /// Look now.
    Critical,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
        })
    }
}

/// One alert, as kept in the outbox and sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Outbox id.
    pub id: u64,
    /// When it was raised (UTC, RFC 3339, wall clock).
    pub time: String,
    /// Level.
    pub level: Level,
    /// Deployment.
    pub deployment: String,
    /// `name@version` serving.
    pub version: String,
    /// What it is about.
    pub rule: Rule,
    /// The value that crossed, when there is one.
    pub value: Option<f64>,
    /// The threshold it crossed.
    pub threshold: Option<f64>,
    /// Bar time of the event (RFC 3339), when there is one.
    pub bar_time: Option<String>,
    /// One line saying all of the above.
    pub message: String,
}

/// An alert being raised: `Raise::new(level, rule, deployment, version, what)`
/// then, where they apply, `.value(v)`, `.threshold(t)`, `.at_bar(time)`;
/// handed to [`super::Alerter::raise`].
#[derive(Debug, Clone, PartialEq)]
pub struct Raise {
    pub(super) level: Level,
    pub(super) rule: Rule,
    pub(super) deployment: String,
    pub(super) version: String,
    pub(super) what: String,
    pub(super) value: Option<f64>,
    pub(super) threshold: Option<f64>,
    pub(super) bar_time: Option<String>,
}

impl Raise {
    /// An alert of `level` about `rule` for `deployment` serving `version`,
    /// saying `what`.
    pub fn new(
        level: Level,
        rule: Rule,
        deployment: &str,
        version: &str,
        what: impl Into<String>,
    ) -> Raise {
        Raise {
            level,
            rule,
            deployment: deployment.into(),
            version: version.into(),
            what: what.into(),
            value: None,
            threshold: None,
            bar_time: None,
        }
    }

    /// The value that crossed, if there is one.
    pub fn value(mut self, v: impl Into<Option<f64>>) -> Raise {
        self.value = v.into();
        self
    }

    /// The threshold it crossed, if there is one.
    pub fn threshold(mut self, t: impl Into<Option<f64>>) -> Raise {
        self.threshold = t.into();
        self
    }

    /// The bar (RFC 3339 time) it happened at, if any.
    pub fn at_bar(mut self, time: impl Into<Option<String>>) -> Raise {
        self.bar_time = time.into();
        self
    }
}
