//! Trading sessions: when a market trades, and which trading day a bar
//! belongs to.
//!
//! Crypto trades every minute of every day and a deployment without a
//! session keeps that world: its risk day (daily loss, orders per day, the
//! losing streak) rolls at UTC midnight and every bar may trade. A US
//! equity does not: its day is New York's, it trades 09:30–16:00 on the
//! exchange's market days, 13:00 on early closes, never on holidays. A
//! deployment with a [`SessionSpec`] gets a [`Session`], and then:
//!
//! - **its risk day is the session's**: a bar belongs to the local date
//!   (in the session's zone) of its last millisecond, so a daily bar
//!   stamped at UTC midnight and one stamped at New York midnight both
//!   belong to their own date, and a minute bar to the date it trades on;
//! - **it decides only inside the session** ([`Session::decides`]): what a
//!   strategy decides on a bar outside it (pre-market, after hours, a
//!   holiday, a weekend) is warm-up, never an order, exactly as a bar too
//!   old to trade on (`data/live/freshness.rs`). An intraday bar decides
//!   when it opens at or after the open and closes strictly before the
//!   close: an order decided at its close must reach an open market. A bar
//!   of a day or longer decides when it spans a market day (its order rests
//!   until the next session, as a daily strategy's does on every venue);
//! - **the simulated venue fills only inside it** ([`Session::fills`]):
//!   intraday, on bars opening in `[open, close)`; daily, on market days.
//!   Host-held stops are checked only on bars that decide.
//!
//! Time zones come from the tz database bundled in the binary (jiff's
//! `tzdb-bundle-always`), never the machine's, so a journal re-executes the
//! same on every machine. The calendar is Alpaca's (`calendar.rs`), from
//! the venue or a file; a session fixed in a run's journal cannot change
//! under it (`service/plan.rs`).

pub mod calendar;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

pub use calendar::{Calendar, CalendarError, Hours};

/// How a deployment names its session in config (`[deployments.session]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpec {
    /// The market's time zone, an IANA name (`America/New_York`).
    pub timezone: String,
    /// Where the market days come from: `venue` (the calendar of the
    /// deployment's venue, read at start: Alpaca's `/v2/calendar`),
    /// `weekdays` (Monday to Friday at `hours`, no holidays), or the path
    /// of a calendar file in Alpaca's format.
    pub calendar: String,
    /// With `calendar = "weekdays"`: the local hours, `HH:MM-HH:MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
}

impl SessionSpec {
    /// The calendar is a file (not `venue` or `weekdays`).
    pub fn file(&self) -> Option<&str> {
        (!matches!(self.calendar.as_str(), "venue" | "weekdays")).then_some(&self.calendar)
    }

    /// The calendar is the venue's.
    pub fn from_venue(&self) -> bool {
        self.calendar == "venue"
    }

    /// Check what can be checked without the calendar: the zone, the hours.
    pub fn check(&self) -> Result<(), SessionError> {
        zone(&self.timezone)?;
        match (self.calendar.as_str(), &self.hours) {
            ("weekdays", Some(h)) => parse_hours(h).map(|_| ()),
            ("weekdays", None) => Err(SessionError::Hours(
                "calendar = \"weekdays\" needs hours = \"HH:MM-HH:MM\"".into(),
            )),
            (_, Some(_)) => Err(SessionError::Hours(format!(
                "hours is only for calendar = \"weekdays\" (calendar {:?} gives each day's hours)",
                self.calendar
            ))),
            (_, None) => Ok(()),
        }
    }

    /// The calendar, read from a file or built from `hours`; `None` for
    /// `venue` (the venue is asked: `VenueAdapter::calendar`).
    pub fn local_calendar(&self) -> Result<Option<Calendar>, SessionError> {
        self.check()?;
        if self.calendar == "weekdays" {
            let h = parse_hours(self.hours.as_deref().unwrap_or_default())?;
            return Ok(Some(Calendar::Weekdays(h)));
        }
        let Some(path) = self.file() else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| SessionError::Calendar(format!("calendar {path}: {e}")))?;
        Calendar::from_alpaca_json(&text, path)
            .map(Some)
            .map_err(|e| SessionError::Calendar(e.to_string()))
    }
}

/// A session that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The zone is not in the tz database.
    #[error("timezone {0:?} is not in the tz database (an IANA name such as America/New_York)")]
    Zone(String),
    /// `hours` is wrong or misplaced.
    #[error("session hours: {0}")]
    Hours(String),
    /// The calendar cannot be read.
    #[error("{0}")]
    Calendar(String),
}

fn zone(name: &str) -> Result<TimeZone, SessionError> {
    jiff::tz::db()
        .get(name)
        .map_err(|_| SessionError::Zone(name.into()))
}

fn parse_hours(s: &str) -> Result<Hours, SessionError> {
    let (o, c) = s
        .split_once('-')
        .ok_or_else(|| SessionError::Hours(format!("{s:?} is not HH:MM-HH:MM")))?;
    let open = calendar::parse_hm(o.trim()).map_err(SessionError::Hours)?;
    let close = calendar::parse_hm(c.trim()).map_err(SessionError::Hours)?;
    if close <= open {
        return Err(SessionError::Hours(format!("{s:?} closes before it opens")));
    }
    Ok(Hours { open, close })
}

const DAY_MS: i64 = 86_400_000;

/// A market's sessions for bars of one interval.
#[derive(Debug, Clone)]
pub struct Session {
    tz: TimeZone,
    calendar: Calendar,
    interval_ms: i64,
}

impl Session {
    /// The sessions of `calendar` in zone `timezone`, for bars `interval_ms` long.
    pub fn new(
        timezone: &str,
        calendar: Calendar,
        interval_ms: i64,
    ) -> Result<Session, SessionError> {
        Ok(Session {
            tz: zone(timezone)?,
            calendar,
            interval_ms: interval_ms.max(1),
        })
    }

    /// Local date of an instant (UTC ms).
    fn date(&self, ms: i64) -> Option<Date> {
        let t = Timestamp::from_millisecond(ms).ok()?;
        Some(self.tz.to_datetime(t).date())
    }

    /// UTC ms of a local date and time (the earlier of two in a repeated
    /// hour, the later edge of a skipped one: jiff's "compatible").
    fn instant(&self, date: Date, time: jiff::civil::Time) -> Option<i64> {
        let t = self
            .tz
            .to_ambiguous_timestamp(date.to_datetime(time))
            .compatible()
            .ok()?;
        Some(t.as_millisecond())
    }

    /// The session around local date `date`: (open, close) in UTC ms.
    fn bounds(&self, date: Date) -> Option<(i64, i64)> {
        let h = self.calendar.hours(date)?;
        Some((self.instant(date, h.open)?, self.instant(date, h.close)?))
    }

    /// The date a bar opening at `open_ms` belongs to: the local date of
    /// its last millisecond.
    fn bar_date(&self, open_ms: i64) -> Option<Date> {
        self.date(open_ms.saturating_add(self.interval_ms - 1))
    }

    /// The trading day of the bar opening at `open_ms`, as a day number
    /// (days from 1970-01-01 of its local date): the risk engine's day.
    pub fn day(&self, open_ms: i64) -> i64 {
        match self.bar_date(open_ms) {
            Some(d) => {
                let epoch = jiff::civil::date(1970, 1, 1);
                i64::from((d - epoch).get_days())
            }
            None => open_ms.div_euclid(DAY_MS),
        }
    }

    /// A bar of a day or longer: whether one of the days it spans is a
    /// market day (a daily bar: its own date; a weekly one: any of its
    /// seven, counted back from its last).
    fn spans_a_market_day(&self, open_ms: i64) -> bool {
        let Some(last) = self.bar_date(open_ms) else {
            return false;
        };
        let days = (self.interval_ms / DAY_MS).clamp(1, 400);
        (0..days).any(|back| {
            last.checked_sub(jiff::Span::new().days(back))
                .is_ok_and(|d| self.calendar.hours(d).is_some())
        })
    }

    /// Whether what is decided on the bar opening at `open_ms` may trade.
    pub fn decides(&self, open_ms: i64) -> bool {
        if self.interval_ms >= DAY_MS {
            return self.spans_a_market_day(open_ms);
        }
        let Some(day) = self.date(open_ms) else {
            return false;
        };
        self.bounds(day).is_some_and(|(open, close)| {
            open_ms >= open && open_ms.saturating_add(self.interval_ms) < close
        })
    }

    /// Whether the simulated venue executes orders on the bar opening at
    /// `open_ms`.
    pub fn fills(&self, open_ms: i64) -> bool {
        if self.interval_ms >= DAY_MS {
            return self.spans_a_market_day(open_ms);
        }
        self.date(open_ms)
            .and_then(|d| self.bounds(d))
            .is_some_and(|(open, close)| open_ms >= open && open_ms < close)
    }

    /// An error when the calendar ends before the day of `now_ms` (a
    /// deployment would see every bar from there as closed).
    pub fn covers(&self, now_ms: i64) -> Result<(), SessionError> {
        match (self.calendar.last_day(), self.date(now_ms)) {
            (Some(last), Some(today)) if last < today => Err(SessionError::Calendar(format!(
                "the calendar ends on {last}, before today ({today}): fetch a newer one"
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
