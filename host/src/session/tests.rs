//! The US-equity session against dates whose answers are known: a day
//! either side of the March 2024 clock change, Thanksgiving and the early
//! close after it (Alpaca's calendar lists 2024-11-29 as 09:30–13:00).

use super::*;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn calendar() -> Calendar {
    Calendar::from_alpaca_json(
        r#"[{"date":"2024-03-08","open":"09:30","close":"16:00"},
            {"date":"2024-03-11","open":"09:30","close":"16:00"},
            {"date":"2024-11-27","open":"09:30","close":"16:00"},
            {"date":"2024-11-29","open":"09:30","close":"13:00"},
            {"date":"2024-12-02","open":"09:30","close":"16:00"}]"#,
        "test",
    )
    .unwrap()
}

fn at(rfc3339: &str) -> i64 {
    rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
}

fn minutes() -> Session {
    Session::new("America/New_York", calendar(), MIN).unwrap()
}

#[test]
fn a_minute_bar_decides_only_when_it_opens_and_closes_inside_the_session() {
    let s = minutes();
    // Friday 2024-03-08, New York on EST (UTC-5): 09:30 is 14:30Z.
    assert!(!s.decides(at("2024-03-08T14:29:00Z")), "09:29, pre-market");
    assert!(!s.fills(at("2024-03-08T14:29:00Z")));
    assert!(s.decides(at("2024-03-08T14:30:00Z")), "09:30, the open");
    assert!(s.decides(at("2024-03-08T20:58:00Z")), "15:58 closes 15:59");
    assert!(
        !s.decides(at("2024-03-08T20:59:00Z")),
        "15:59 closes at 16:00: its order would reach a closed market"
    );
    assert!(
        s.fills(at("2024-03-08T20:59:00Z")),
        "but an order resting before fills on it"
    );
    assert!(!s.fills(at("2024-03-08T21:00:00Z")), "16:00, closed");
    // Monday 2024-03-11, on EDT (UTC-4): 09:30 is 13:30Z.
    assert!(s.decides(at("2024-03-11T13:30:00Z")));
    assert!(!s.decides(at("2024-03-11T20:30:00Z")), "16:30 EDT");
    assert!(!s.decides(at("2024-03-09T15:00:00Z")), "a Saturday");
}

#[test]
fn holidays_and_early_closes_come_from_the_calendar() {
    let s = minutes();
    assert!(
        !s.fills(at("2024-11-28T16:00:00Z")),
        "Thanksgiving, 11:00 New York"
    );
    assert!(!s.decides(at("2024-11-28T16:00:00Z")));
    // The day after closes at 13:00 (18:00Z on EST).
    assert!(s.decides(at("2024-11-29T17:58:00Z")));
    assert!(!s.decides(at("2024-11-29T17:59:00Z")));
    assert!(
        !s.fills(at("2024-11-29T18:30:00Z")),
        "13:30, after the early close"
    );
    assert!(
        !s.fills(at("2024-12-31T15:00:00Z")),
        "past the calendar's last day"
    );
}

#[test]
fn the_day_rolls_at_new_york_midnight_not_utc() {
    let s = minutes();
    let evening = at("2024-12-02T23:30:00Z"); // 18:30 New York
    let later = at("2024-12-03T00:30:00Z"); // 19:30 New York, a new UTC day
    assert_eq!(s.day(evening), s.day(later), "the same New York date");
    assert_ne!(evening.div_euclid(86_400_000), later.div_euclid(86_400_000));
    assert_eq!(
        s.day(at("2024-12-03T05:00:00Z")),
        s.day(later) + 1,
        "00:00 New York"
    );
}

#[test]
fn a_daily_bar_belongs_to_its_own_date_however_it_is_stamped() {
    let s = Session::new("America/New_York", calendar(), 24 * HOUR).unwrap();
    // Stamped at UTC midnight (recordings, Binance) or at New York
    // midnight (Alpaca): the same date either way.
    for stamp in ["2024-11-29T00:00:00Z", "2024-11-29T05:00:00Z"] {
        assert!(s.decides(at(stamp)), "{stamp}: a market day");
        assert!(s.fills(at(stamp)), "{stamp}");
    }
    assert_eq!(
        s.day(at("2024-11-29T00:00:00Z")),
        s.day(at("2024-11-29T05:00:00Z"))
    );
    assert!(!s.decides(at("2024-11-28T00:00:00Z")), "Thanksgiving");
    assert!(!s.fills(at("2024-11-28T05:00:00Z")));
}

#[test]
fn a_weekly_bar_trades_when_its_week_has_a_market_day() {
    let s = Session::new("America/New_York", calendar(), 7 * 24 * HOUR).unwrap();
    // The week from Monday 2024-11-25 (UTC midnight stamp) holds three
    // market days; the week from 2024-12-09 none the calendar lists.
    assert!(s.decides(at("2024-11-25T00:00:00Z")));
    assert!(s.fills(at("2024-11-25T00:00:00Z")));
    assert!(!s.decides(at("2024-12-09T00:00:00Z")));
    // A daily bar stays its own date: Thanksgiving, with the 27th before it.
    let d = Session::new("America/New_York", calendar(), 24 * HOUR).unwrap();
    assert!(!d.decides(at("2024-11-28T00:00:00Z")));
}

#[test]
fn a_calendar_that_ends_before_today_is_refused() {
    let s = minutes();
    assert!(s.covers(at("2024-12-02T15:00:00Z")).is_ok());
    let e = s
        .covers(at("2024-12-03T15:00:00Z"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("ends on 2024-12-02"), "{e}");
}

#[test]
fn a_session_spec_names_what_is_wrong() {
    let spec = |tz: &str, cal: &str, hours: Option<&str>| SessionSpec {
        timezone: tz.into(),
        calendar: cal.into(),
        hours: hours.map(str::to_string),
    };
    assert!(
        spec("America/New_York", "weekdays", Some("09:30-16:00"))
            .check()
            .is_ok()
    );
    assert!(spec("America/New_York", "venue", None).check().is_ok());
    for (s, needle) in [
        (spec("Mars/Olympus", "venue", None), "Mars/Olympus"),
        (spec("UTC", "weekdays", None), "needs hours"),
        (
            spec("UTC", "weekdays", Some("16:00-09:30")),
            "closes before it opens",
        ),
        (spec("UTC", "weekdays", Some("9-5")), "not a time"),
        (
            spec("UTC", "venue", Some("09:30-16:00")),
            "only for calendar = \"weekdays\"",
        ),
    ] {
        let e = s.check().unwrap_err().to_string();
        assert!(e.contains(needle), "{needle:?} not in {e}");
    }
    let e = spec("UTC", "/no/such/calendar.json", None)
        .local_calendar()
        .unwrap_err()
        .to_string();
    assert!(e.contains("/no/such/calendar.json"), "{e}");
}

#[test]
fn weekday_sessions_need_no_calendar_file() {
    let spec = SessionSpec {
        timezone: "Europe/London".into(),
        calendar: "weekdays".into(),
        hours: Some("08:00-16:30".into()),
    };
    let cal = spec.local_calendar().unwrap().unwrap();
    let s = Session::new(&spec.timezone, cal, MIN).unwrap();
    // 2024-07-01 is a Monday on BST (UTC+1): 08:00 is 07:00Z.
    assert!(!s.decides(at("2024-07-01T06:59:00Z")));
    assert!(s.decides(at("2024-07-01T07:00:00Z")));
    assert!(!s.decides(at("2024-07-06T10:00:00Z")), "a Saturday");
}
