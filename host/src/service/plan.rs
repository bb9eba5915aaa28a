//! A deployment's plan: what its start decides before anything is opened —
//! whether it trades on paper or live, where its real orders go, which feed,
//! symbols and interval it runs on, which journal is its, and whether that
//! journal can be continued as asked. Pure: from the registry's record, the
//! configuration and what the journal fixed, so each decision is
//! unit-tested here and the start ([`super::start`]) only carries it out.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::FeedSpec;
use super::config::DeploymentConfig;
use super::run::Fixed;
use crate::lifecycle::Stage;
use crate::store::registry::Deployment;

/// Whether `d` trades live (`true`) or on paper; any other stage is refused.
pub(super) fn is_live(d: &Deployment) -> anyhow::Result<bool> {
    Ok(match d.stage {
        Stage::Paper => false,
        Stage::Paused if d.paused_from == Some(Stage::Paper) => false,
        Stage::Live => true,
        Stage::Paused if d.paused_from == Some(Stage::Live) => true,
        other => bail!(
            "deployment `{}` is {other}; only PAPER and LIVE deployments run (promote it first)",
            d.name
        ),
    })
}

/// Where a deployment's orders go: the configuration file's decision
/// alone (an API request cannot redirect them). LIVE: its `venue`. PAPER:
/// its `paper_venue` (a broker's paper account) if it names one, else
/// `None`, the simulated venue.
pub(super) fn venue(
    name: &str,
    live: bool,
    configured: &[DeploymentConfig],
) -> anyhow::Result<Option<String>> {
    if !live {
        return Ok(configured
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.paper_venue.clone()));
    }
    configured
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.venue.clone())
        .map(Some)
        .with_context(|| {
            format!(
                "deployment `{name}` is LIVE and names no venue: give it `venue = \"…\"` in the configuration's [[deployments]] (a [venues] name)"
            )
        })
}

/// The feed, symbols, interval and start it runs on: the request's, else
/// the configuration's entry.
pub(super) fn feed(
    name: &str,
    asked: Option<FeedSpec>,
    configured: &[DeploymentConfig],
) -> anyhow::Result<FeedSpec> {
    if let Some(s) = asked {
        return Ok(s);
    }
    let c = configured.iter().find(|c| c.name == name).with_context(|| {
        format!(
            "deployment `{name}` is not in the configuration; name a feed, symbols and interval to start it"
        )
    })?;
    Ok(FeedSpec {
        feed: c.feed.clone(),
        symbols: c.symbols.clone(),
        interval: c.interval.clone(),
        start: c.start.clone(),
    })
}

/// The open time of the first bar to trade, if the spec names one.
pub(super) fn start_ms(spec: &FeedSpec) -> anyhow::Result<Option<i64>> {
    spec.start
        .as_deref()
        .map(|s| {
            crate::data::market::parse_time(s)
                .ok_or_else(|| anyhow::anyhow!("start {s:?}: expected RFC 3339 or YYYY-MM-DD"))
        })
        .transpose()
}

/// Its symbols, upper-case: the feed spec's, else the deployment's own.
pub(super) fn symbols(d: &Deployment, spec: &FeedSpec) -> anyhow::Result<Vec<String>> {
    let from = if spec.symbols.is_empty() {
        &d.symbols
    } else {
        &spec.symbols
    };
    let symbols: Vec<String> = from.iter().map(|s| s.to_uppercase()).collect();
    if symbols.is_empty() {
        bail!(
            "deployment `{}` has no symbols: name them in the configuration or the request",
            d.name
        );
    }
    Ok(symbols)
}

/// Its journal: a LIVE run has its own, so the paper run's stays its
/// evidence.
pub(super) fn journal_path(journals: &Path, name: &str, live: bool) -> PathBuf {
    journals.join(if live {
        format!("{name}-live.redb")
    } else {
        format!("{name}.redb")
    })
}

/// The market's sessions a run trades in (`crate::session`): as its
/// journal fixed them, the calendar read now — from the file, the hours,
/// or the deployment's venue (`calendar = "venue"`: the days from ten
/// before its first bar, `first_ms`, to a year from now). `None`: it
/// trades 24/7. Refused when the calendar ends before today. Not pure: the
/// venue may be asked.
pub(super) fn session(
    name: &str,
    fixed: &Fixed,
    step_ms: i64,
    first_ms: Option<i64>,
    config: &super::ServiceConfig,
) -> anyhow::Result<Option<crate::session::Session>> {
    let (configured, venues) = (&config.deployments, &config.venues);
    let now_ms = crate::data::market::now_ms();
    let from_ms = first_ms.unwrap_or(now_ms);
    let Some(spec) = &fixed.session else {
        return Ok(None);
    };
    let at = format!("deployment `{name}`'s session");
    let calendar = match spec.local_calendar().with_context(|| at.clone())? {
        Some(c) => c,
        None => {
            let venue = configured
                .iter()
                .find(|c| c.name == name)
                .and_then(|c| c.venue.clone())
                .with_context(|| {
                    format!("{at}: calendar = \"venue\" and the deployment names no venue")
                })?;
            let v = venues
                .get(&venue)
                .with_context(|| format!("{at}: no venue named `{venue}`"))?;
            let day =
                |ms: i64| crate::data::market::format_time(ms.div_euclid(86_400_000) * 86_400_000);
            let start = day(from_ms.min(now_ms) - 10 * 86_400_000);
            let end = day(now_ms + 366 * 86_400_000);
            v.adapter()
                .calendar(&venue, &start, &end)
                .with_context(|| at.clone())?
        }
    };
    let session = crate::session::Session::new(&spec.timezone, calendar, step_ms)
        .with_context(|| at.clone())?;
    session.covers(now_ms).with_context(|| at.clone())?;
    Ok(Some(session))
}

/// Whether a journal written for `journaled` can be continued as `now`
/// asks: a journal keeps its inputs (feed, symbols, interval), its capital
/// (account) and its venue.
pub(super) fn check_continuation(name: &str, journaled: &Fixed, now: &Fixed) -> anyhow::Result<()> {
    if journaled.feed.feed != now.feed.feed
        || journaled.symbols != now.symbols
        || journaled.feed.interval != now.feed.interval
    {
        bail!(
            "deployment `{name}`'s journal was written for feed `{}` {} {} and is asked to run on `{}` {} {}; a journal keeps its inputs — create a new deployment to trade something else",
            journaled.feed.feed,
            journaled.symbols.join(","),
            journaled.feed.interval,
            now.feed.feed,
            now.symbols.join(","),
            now.feed.interval
        );
    }
    if journaled.account != now.account {
        bail!(
            "deployment `{name}`'s journal was written for account {:?} and is asked to trade {:?}'s capital; a journal keeps its capital — create a new deployment to change accounts",
            journaled.account,
            now.account
        );
    }
    if journaled.session != now.session {
        bail!(
            "deployment `{name}`'s journal was written for session {:?} and is asked to trade in {:?}; a journal keeps its sessions — create a new deployment to change them",
            journaled.session,
            now.session
        );
    }
    if journaled.venue != now.venue {
        bail!(
            "deployment `{name}`'s journal was written for venue {:?} and is asked to trade on {:?}; a journal keeps its venue — create a new deployment to trade elsewhere",
            journaled.venue,
            now.venue
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(stage: Stage, paused_from: Option<Stage>) -> Deployment {
        Deployment {
            name: "d".into(),
            plugin: "p@1.0.0".into(),
            params: vec![],
            symbols: vec!["btcusdt".into()],
            capital: 1000.0,
            risk: vec![],
            stage,
            paused_from,
            stage_since: "2024-01-01T00:00:00Z".into(),
            backtest: None,
            paper: None,
        }
    }

    fn configured(venue: Option<&str>) -> Vec<DeploymentConfig> {
        vec![DeploymentConfig {
            name: "d".into(),
            feed: "binance".into(),
            symbols: vec![],
            interval: "1m".into(),
            start: None,
            venue: venue.map(String::from),
            account: None,
            session: None,
            paper_venue: Some("paper".into()),
        }]
    }

    fn fixed(feed: &str, venue: Option<&str>) -> Fixed {
        Fixed {
            run: Default::default(),
            pause_drawdown: 0.1,
            feed: FeedSpec {
                feed: feed.into(),
                symbols: vec![],
                interval: "1m".into(),
                start: None,
            },
            symbols: vec!["BTCUSDT".into()],
            venue: venue.map(String::from),
            run_id: None,
            ramp_up: None,
            account: None,
            session: None,
        }
    }

    #[test]
    fn only_paper_and_live_run_and_a_pause_keeps_its_mode() {
        assert!(!is_live(&deployment(Stage::Paper, None)).unwrap());
        assert!(is_live(&deployment(Stage::Live, None)).unwrap());
        assert!(is_live(&deployment(Stage::Paused, Some(Stage::Live))).unwrap());
        assert!(!is_live(&deployment(Stage::Paused, Some(Stage::Paper))).unwrap());
        let e = is_live(&deployment(Stage::Testing, None)).unwrap_err();
        assert!(e.to_string().contains("is TESTING"), "{e}");
    }

    #[test]
    fn a_deployment_trades_only_where_the_file_says() {
        assert_eq!(
            venue("d", false, &configured(Some("bx"))).unwrap(),
            Some("paper".into()),
            "PAPER on its paper_venue"
        );
        assert_eq!(
            venue("other", false, &configured(Some("bx"))).unwrap(),
            None
        );
        assert_eq!(
            venue("d", true, &configured(Some("bx"))).unwrap(),
            Some("bx".into())
        );
        let e = venue("d", true, &configured(None)).unwrap_err();
        assert!(e.to_string().contains("names no venue"), "{e}");
        assert!(venue("other", true, &configured(Some("bx"))).is_err());
    }

    #[test]
    fn the_request_names_the_feed_else_the_file_does_and_symbols_are_upper_case() {
        let spec = feed("d", None, &configured(None)).unwrap();
        assert_eq!(
            (spec.feed.as_str(), spec.interval.as_str()),
            ("binance", "1m")
        );
        assert!(feed("nobody", None, &configured(None)).is_err());
        let d = deployment(Stage::Paper, None);
        assert_eq!(symbols(&d, &spec).unwrap(), vec!["BTCUSDT".to_string()]);
        let mut none = d.clone();
        none.symbols.clear();
        assert!(symbols(&none, &spec).is_err());
    }

    #[test]
    fn a_live_run_keeps_a_journal_of_its_own() {
        let j = Path::new("/j");
        assert_eq!(journal_path(j, "d", false), Path::new("/j/d.redb"));
        assert_eq!(journal_path(j, "d", true), Path::new("/j/d-live.redb"));
    }

    #[test]
    fn a_journal_continues_only_on_its_inputs_capital_venue_and_sessions() {
        let was = fixed("binance", Some("bx"));
        assert!(check_continuation("d", &was, &was.clone()).is_ok());
        let e = check_continuation("d", &was, &fixed("alpaca", Some("bx"))).unwrap_err();
        assert!(e.to_string().contains("keeps its inputs"), "{e}");
        let e = check_continuation("d", &was, &fixed("binance", Some("other"))).unwrap_err();
        assert!(e.to_string().contains("keeps its venue"), "{e}");
        let mut other_account = was.clone();
        other_account.account = Some("acct".into());
        let e = check_continuation("d", &was, &other_account).unwrap_err();
        assert!(e.to_string().contains("keeps its capital"), "{e}");
        let mut in_session = was.clone();
        in_session.session = Some(crate::session::SessionSpec {
            timezone: "America/New_York".into(),
            calendar: "venue".into(),
            hours: None,
        });
        let e = check_continuation("d", &was, &in_session).unwrap_err();
        assert!(e.to_string().contains("keeps its sessions"), "{e}");
    }
}
