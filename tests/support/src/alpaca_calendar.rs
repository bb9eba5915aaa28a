//! Alpaca's `GET /v2/calendar` on the test server, as alpaca-docs
//! (`api-references/trading-api/calendar.md`, `entities/calendar.yaml`)
//! describe it: "the full list of market days from 1970 to 2029", each
//! `{"date": "%Y-%m-%d", "open": "%H:%M", "close": "%H:%M"}` with early
//! closes, narrowed by `start` and `end` (inclusive). The key headers are
//! checked as on every route.
//!
//! The days: Monday to Friday, 09:30–16:00, less the NYSE holidays of
//! 2024–2026 and with their early closes at 13:00 (the NYSE's published
//! holiday calendar); other years are weekdays only. Dates are computed
//! here by hand (days from the civil date), independently of the host's
//! time-zone library.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::alpaca::Inner;
use crate::alpaca_trading::{gate, msg};

/// NYSE full-day holidays, 2024–2026.
const HOLIDAYS: &[&str] = &[
    "2024-01-01",
    "2024-01-15",
    "2024-02-19",
    "2024-03-29",
    "2024-05-27",
    "2024-06-19",
    "2024-07-04",
    "2024-09-02",
    "2024-11-28",
    "2024-12-25",
    "2025-01-01",
    "2025-01-09",
    "2025-01-20",
    "2025-02-17",
    "2025-04-18",
    "2025-05-26",
    "2025-06-19",
    "2025-07-04",
    "2025-09-01",
    "2025-11-27",
    "2025-12-25",
    "2026-01-01",
    "2026-01-19",
    "2026-02-16",
    "2026-04-03",
    "2026-05-25",
    "2026-06-19",
    "2026-07-03",
    "2026-09-07",
    "2026-11-26",
    "2026-12-25",
];

/// NYSE early closes (13:00), 2024–2026.
const EARLY: &[&str] = &[
    "2024-07-03",
    "2024-11-29",
    "2024-12-24",
    "2025-07-03",
    "2025-11-28",
    "2025-12-24",
    "2026-11-27",
    "2026-12-24",
];

/// (year, month, day) of days since 1970-01-01 (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Every market day from 1970 to 2029, as Alpaca lists them.
pub fn market_days() -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    // 1970-01-01 was a Thursday (weekday 3, Monday = 0).
    for days in 0.. {
        let (y, m, d) = civil(days);
        if y >= 2030 {
            break;
        }
        if (days + 3).rem_euclid(7) >= 5 {
            continue;
        }
        let date = format!("{y:04}-{m:02}-{d:02}");
        if HOLIDAYS.contains(&date.as_str()) {
            continue;
        }
        let close = if EARLY.contains(&date.as_str()) {
            "13:00"
        } else {
            "16:00"
        };
        out.push(json!({"date": date, "open": "09:30", "close": close}));
    }
    out
}

/// `GET /v2/calendar?start&end`.
pub(crate) async fn calendar(
    State(s): State<Arc<Inner>>,
    h: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&s, &h) {
        return *r;
    }
    s.trading.calendar_asks.lock().unwrap().push(format!(
        "{:?}-{:?}",
        q.get("start"),
        q.get("end")
    ));
    for key in ["start", "end"] {
        if let Some(v) = q.get(key)
            && (v.len() != 10 || v.as_bytes()[4] != b'-' || v.as_bytes()[7] != b'-')
        {
            return msg(
                StatusCode::UNPROCESSABLE_ENTITY,
                42210000,
                &format!("invalid {key}"),
            );
        }
    }
    let (start, end) = (q.get("start"), q.get("end"));
    let days: Vec<_> = market_days()
        .into_iter()
        .filter(|d| {
            let date = d["date"].as_str().unwrap_or_default();
            start.is_none_or(|s| date >= s.as_str()) && end.is_none_or(|e| date <= e.as_str())
        })
        .collect();
    axum::Json(days).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_days_are_weekdays_less_the_holidays() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_723), (2024, 1, 1));
        let days = market_days();
        let dates: Vec<&str> = days.iter().map(|d| d["date"].as_str().unwrap()).collect();
        assert!(!dates.contains(&"2024-01-01") && !dates.contains(&"2024-01-06"));
        assert!(dates.contains(&"2024-01-02") && dates.contains(&"2029-12-31"));
        let nov29 = days.iter().find(|d| d["date"] == "2024-11-29").unwrap();
        assert_eq!(nov29["close"], "13:00");
    }
}
