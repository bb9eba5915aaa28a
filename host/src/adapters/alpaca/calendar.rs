//! Alpaca's market calendar, `GET /v2/calendar` (alpaca-docs,
//! `api-references/trading-api/calendar.md`): "the full list of market
//! days from 1970 to 2029 … the specific open and close times for the
//! market days, taking into account early closures", narrowed by `start`
//! and `end` (both inclusive). Read once when a deployment whose session
//! says `calendar = "venue"` starts; the answer is parsed by the session's
//! own reader (`crate::session::calendar`), so a file saved from it reads
//! the same.

use std::time::Duration;

use super::AlpacaConfig;
use crate::session::Calendar;

/// The market days from `start` to `end` (`YYYY-MM-DD`, inclusive), asked
/// of venue `name` with its key.
pub fn fetch(
    config: &AlpacaConfig,
    name: &str,
    start: &str,
    end: &str,
) -> anyhow::Result<Calendar> {
    let c = config.credentials(name)?;
    let tls = crate::net::tls::Tls::new(config.ca_file.as_deref())?;
    let http = tls
        .http()
        .timeout(Duration::from_millis(config.timeout_ms))
        .build()?;
    let url = format!("{}/v2/calendar", config.rest_url);
    let origin = format!("venues.{name}: GET /v2/calendar");
    let mut last = String::new();
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(500));
        }
        let r = http
            .get(&url)
            .query(&[("start", start), ("end", end)])
            .header("APCA-API-KEY-ID", &c.key)
            .header("APCA-API-SECRET-KEY", &c.secret)
            .send();
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                last = crate::net::chain(&e);
                continue;
            }
        };
        let status = r.status().as_u16();
        let body = r.text().unwrap_or_default();
        match status {
            200 => return Ok(Calendar::from_alpaca_json(&body, &origin)?),
            429 | 500.. => last = format!("HTTP {status}"),
            _ => anyhow::bail!(
                "{origin}: HTTP {status}: {}",
                body.chars().take(200).collect::<String>()
            ),
        }
    }
    anyhow::bail!("{origin}: {last}")
}
