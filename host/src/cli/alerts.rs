//! `sandbar alerts`: a running service's alert history, newest first, from
//! its durable outbox (`GET /alerts`), for an operator at a terminal.

use clap::Args;

/// `sandbar alerts`.
#[derive(Debug, Args)]
pub(super) struct AlertsArgs {
    /// The service (`http://127.0.0.1:7878`); the token from SANDBAR_TOKEN.
    #[arg(long)]
    server: String,
    /// Only this deployment's alerts.
    #[arg(long)]
    deployment: Option<String>,
    /// Only at or above this level: INFO, WARNING or CRITICAL.
    #[arg(long, value_parser = ["INFO", "WARNING", "CRITICAL"])]
    level: Option<String>,
    /// Most alerts shown (1 to 1,000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
    /// Print the JSON the service answered instead of one line per alert.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(a: AlertsArgs) -> anyhow::Result<()> {
    let c = crate::service::api::Client::new(&a.server)?;
    let mut query = format!("/alerts?limit={}", a.limit);
    if let Some(d) = &a.deployment {
        query.push_str(&format!("&deployment={}", urlencode(d)));
    }
    if let Some(l) = &a.level {
        query.push_str(&format!("&level={l}"));
    }
    let v = c.get_path(&query)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
    if alerts.is_empty() {
        println!("no alerts");
    }
    for x in alerts {
        println!(
            "{}  {:<8}  {}",
            x["time"].as_str().unwrap_or_default(),
            x["level"].as_str().unwrap_or_default(),
            x["message"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

/// A deployment name in a query string (names are letters, digits, `-`,
/// `_` and `.`; anything else is escaped rather than trusted).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
