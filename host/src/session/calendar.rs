//! A market's trading days and their hours, as local times in its zone.
//!
//! The format is Alpaca's `GET /v2/calendar` answer (alpaca-docs,
//! `api-references/trading-api/calendar.md` and `entities/calendar.yaml`):
//! an array of `{"date": "%Y-%m-%d", "open": "%H:%M", "close": "%H:%M"}`,
//! one per market day, "taking into account early closures"; a day that is
//! not listed (a weekend, a holiday) has no session. The same file is what
//! `sandbar` reads for a replay or a deployment whose calendar is a path,
//! so a calendar fetched once from Alpaca can be kept beside the data.
//! Other fields of an entry (`session_open`, `settlement_date`, …) are
//! ignored. The times are local to the market's zone (New York for US
//! equities), which the session names.
//!
//! A calendar covers the days it lists, from its first to its last: a bar
//! outside that range is outside every session (the least forgiving
//! reading: an unknown day is not a trading day), and a deployment refuses
//! to start past its calendar's last day (`Calendar::last_day`).

use std::collections::BTreeMap;

use jiff::civil::{Date, Time, Weekday};
use serde::Deserialize;

/// One day's session: local open and close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    /// Local time the market opens.
    pub open: Time,
    /// Local time the market closes (after `open`).
    pub close: Time,
}

/// Which days have a session, and their hours.
#[derive(Debug, Clone, PartialEq)]
pub enum Calendar {
    /// The listed days only (an exchange calendar).
    Days(BTreeMap<Date, Hours>),
    /// Every Monday to Friday, the same hours, no holidays (a market
    /// without a published calendar; say so in its config).
    Weekdays(Hours),
}

/// A calendar that cannot be read: what and where.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// Not a JSON array of days.
    #[error("{origin}: not a calendar (a JSON array of {{date, open, close}}): {why}")]
    Format { origin: String, why: String },
    /// One entry is wrong.
    #[error("{origin}: entry {index} ({date}): {why}")]
    Entry {
        origin: String,
        index: usize,
        date: String,
        why: String,
    },
    /// No day at all.
    #[error("{origin}: the calendar lists no day")]
    Empty { origin: String },
}

#[derive(Deserialize)]
struct Day {
    date: String,
    open: String,
    close: String,
}

impl Calendar {
    /// Read Alpaca's calendar format; `origin` names the source in errors.
    pub fn from_alpaca_json(text: &str, origin: &str) -> Result<Calendar, CalendarError> {
        let days: Vec<Day> = serde_json::from_str(text).map_err(|e| CalendarError::Format {
            origin: origin.into(),
            why: e.to_string(),
        })?;
        if days.is_empty() {
            return Err(CalendarError::Empty {
                origin: origin.into(),
            });
        }
        let mut out = BTreeMap::new();
        for (index, d) in days.iter().enumerate() {
            let bad = |why: String| CalendarError::Entry {
                origin: origin.into(),
                index,
                date: d.date.clone(),
                why,
            };
            let date: Date = d
                .date
                .parse()
                .map_err(|e| bad(format!("date {:?}: {e}", d.date)))?;
            let hours = Hours {
                open: parse_hm(&d.open).map_err(|e| bad(format!("open: {e}")))?,
                close: parse_hm(&d.close).map_err(|e| bad(format!("close: {e}")))?,
            };
            if hours.close <= hours.open {
                return Err(bad(format!(
                    "closes at {} before it opens at {}",
                    d.close, d.open
                )));
            }
            if out.insert(date, hours).is_some() {
                return Err(bad("the date is listed twice".into()));
            }
        }
        Ok(Calendar::Days(out))
    }

    /// The session on local date `date`, if it has one.
    pub fn hours(&self, date: Date) -> Option<Hours> {
        match self {
            Calendar::Days(days) => days.get(&date).copied(),
            Calendar::Weekdays(h) => {
                (!matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)).then_some(*h)
            }
        }
    }

    /// Days listed (0 for `Weekdays`, which lists none).
    pub fn len(&self) -> usize {
        match self {
            Calendar::Days(days) => days.len(),
            Calendar::Weekdays(_) => 0,
        }
    }

    /// Whether it lists no day.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The listed days in Alpaca's format, one per line (reads back the same).
    pub fn to_alpaca_json(&self) -> String {
        let Calendar::Days(days) = self else {
            return "[]\n".into();
        };
        let hm = |t: Time| format!("{:02}:{:02}", t.hour(), t.minute());
        let rows: Vec<String> = days
            .iter()
            .map(|(d, h)| {
                format!(
                    "{{\"date\":\"{d}\",\"open\":\"{}\",\"close\":\"{}\"}}",
                    hm(h.open),
                    hm(h.close)
                )
            })
            .collect();
        format!("[\n{}\n]\n", rows.join(",\n"))
    }

    /// The last day the calendar knows (none: it goes on for ever).
    pub fn last_day(&self) -> Option<Date> {
        match self {
            Calendar::Days(days) => days.keys().next_back().copied(),
            Calendar::Weekdays(_) => None,
        }
    }
}

/// `HH:MM`, 24-hour.
pub fn parse_hm(s: &str) -> Result<Time, String> {
    let bad = || format!("{s:?} is not a time as HH:MM");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: i8 = h.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    Time::new(h, m, 0, 0).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    #[test]
    fn alpacas_calendar_lists_market_days_with_their_early_closes() {
        let c = Calendar::from_alpaca_json(
            r#"[{"date":"2024-11-29","open":"09:30","close":"13:00","session_open":"0400"},
                {"date":"2024-12-02","open":"09:30","close":"16:00"}]"#,
            "cal.json",
        )
        .unwrap();
        assert_eq!(
            c.hours(date(2024, 11, 29)),
            Some(Hours {
                open: time(9, 30, 0, 0),
                close: time(13, 0, 0, 0)
            })
        );
        assert_eq!(
            c.hours(date(2024, 11, 28)),
            None,
            "Thanksgiving is not listed"
        );
        assert_eq!(c.hours(date(2024, 11, 30)), None, "a Saturday");
        assert_eq!(c.last_day(), Some(date(2024, 12, 2)));
        let again = Calendar::from_alpaca_json(&c.to_alpaca_json(), "again").unwrap();
        assert_eq!(again, c, "written and read back, the same days");
    }

    #[test]
    fn a_wrong_entry_is_named_by_its_index_and_date() {
        for (text, needle) in [
            (
                r#"[{"date":"2024-13-01","open":"09:30","close":"16:00"}]"#,
                "entry 0 (2024-13-01)",
            ),
            (
                r#"[{"date":"2024-12-02","open":"9:30","close":"16:00"}]"#,
                "open: \"9:30\"",
            ),
            (
                r#"[{"date":"2024-12-02","open":"16:00","close":"09:30"}]"#,
                "closes at 09:30 before it opens at 16:00",
            ),
            (
                r#"[{"date":"2024-12-02","open":"09:30","close":"16:00"},{"date":"2024-12-02","open":"09:30","close":"16:00"}]"#,
                "entry 1 (2024-12-02): the date is listed twice",
            ),
            (r#"[]"#, "lists no day"),
            (r#"{"date":"2024-12-02"}"#, "not a calendar"),
        ] {
            let e = Calendar::from_alpaca_json(text, "cal.json")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("cal.json"), "{e}");
            assert!(e.contains(needle), "{needle:?} not in {e}");
        }
    }

    #[test]
    fn weekdays_have_a_session_and_weekends_none() {
        let h = Hours {
            open: time(9, 0, 0, 0),
            close: time(17, 30, 0, 0),
        };
        let c = Calendar::Weekdays(h);
        assert_eq!(c.hours(date(2024, 12, 6)), Some(h), "a Friday");
        assert_eq!(c.hours(date(2024, 12, 7)), None, "a Saturday");
        assert_eq!(c.hours(date(2024, 12, 8)), None, "a Sunday");
        assert_eq!(c.last_day(), None);
    }
}
