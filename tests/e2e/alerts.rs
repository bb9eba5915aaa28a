//! Alerts: a rule fires once, at the right level, with the deployment,
//! version, value, threshold and time in its text; it is journaled in the
//! outbox before it is sent, and a channel that is down gets it once it is
//! back. A local webhook receiver and a local server speaking Telegram's
//! `sendMessage` stand in for the real channels.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};

use crate::service::Fixture;
use crate::util::*;

#[derive(Default)]
pub(crate) struct Received {
    pub(crate) hooks: Mutex<Vec<serde_json::Value>>,
    telegram: Mutex<Vec<(String, serde_json::Value)>>,
    /// Refuse this many webhook requests first (the channel is down).
    refuse: AtomicUsize,
    refused: AtomicUsize,
    /// Heartbeats requested.
    pings: AtomicUsize,
}

async fn ping(State(r): State<Arc<Received>>) -> StatusCode {
    r.pings.fetch_add(1, Ordering::SeqCst);
    StatusCode::OK
}

async fn hook(State(r): State<Arc<Received>>, Json(v): Json<serde_json::Value>) -> StatusCode {
    if r.refuse.load(Ordering::SeqCst) > 0 {
        r.refuse.fetch_sub(1, Ordering::SeqCst);
        r.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    r.hooks.lock().unwrap().push(v);
    StatusCode::OK
}

async fn telegram(
    State(r): State<Arc<Received>>,
    Path(bot): Path<String>,
    Json(v): Json<serde_json::Value>,
) -> Json<serde_json::Value> {
    r.telegram.lock().unwrap().push((bot, v));
    Json(serde_json::json!({"ok": true, "result": {"message_id": 1}}))
}

/// A small SMTP server on 127.0.0.1 (enough of RFC 5321 for one client):
/// returns its port and the messages it received (DATA, as text).
fn smtp_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails: Arc<Mutex<Vec<String>>> = Arc::default();
    let m = mails.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut w) = stream else { continue };
            let mut r = BufReader::new(w.try_clone().unwrap());
            let _ = w.write_all(b"220 localhost ESMTP test\r\n");
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let cmd = line.trim_end().to_ascii_uppercase();
                let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                    b"250 localhost\r\n"
                } else if cmd.starts_with("DATA") {
                    let _ = w.write_all(b"354 end with <CRLF>.<CRLF>\r\n");
                    let mut body = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 || line.trim_end() == "." {
                            break;
                        }
                        body.push_str(&line);
                    }
                    m.lock().unwrap().push(body);
                    b"250 OK queued\r\n"
                } else if cmd.starts_with("QUIT") {
                    let _ = w.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 OK\r\n"
                };
                let _ = w.write_all(reply);
            }
        }
    });
    (port, mails)
}

/// Channels on 127.0.0.1: `(url, state, runtime)`.
pub(crate) fn receivers() -> (String, Arc<Received>, tokio::runtime::Runtime) {
    let r = Arc::new(Received::default());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(hook))
        .route("/ping", axum::routing::get(ping))
        .route("/{bot}/sendMessage", post(telegram))
        .with_state(r.clone());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, r, rt)
}

#[test]
fn a_drawdown_alert_fires_once_at_its_level_and_reaches_a_channel_that_was_down() {
    let (url, received, _rt) = receivers();
    let (smtp, mails) = smtp_server();
    received.refuse.store(3, Ordering::SeqCst);
    let mut f = Fixture::new();
    f.env
        .push(("SANDBAR_TELEGRAM_TOKEN".into(), "123:secret".into()));
    f.ok(&["plugin", "add", plugins::SCRIPTED]);
    f.paper(
        "dd",
        "scripted@0.1.0",
        &[
            "--param",
            "script=0 weight 0 1",
            "--risk",
            "max_drawdown=1",
            "--risk",
            "daily_loss_limit=1",
        ],
    );
    // Flat, then a 15% drop held for a long time: one CRITICAL, not one per bar.
    let mut bars = flat(50, 100.0);
    bars.push((100.0, 100.0, 85.0, 85.0));
    bars.extend(flat(3_000, 85.0));
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &bars);
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1m\"\nbars_per_second = 2000\n"
        ),
        &format!(
            "[alerts]\n\
             [[alerts.channels]]\nkind = \"webhook\"\nurl = \"{url}/hook\"\nmin_level = \"WARNING\"\n\
             [[alerts.channels]]\nkind = \"telegram\"\napi_url = \"{url}\"\ntoken_env = \"SANDBAR_TELEGRAM_TOKEN\"\nchat_id = \"42\"\nmin_level = \"CRITICAL\"\n\
             [[alerts.channels]]\nkind = \"email\"\nhost = \"127.0.0.1\"\nport = {smtp}\nfrom = \"sandbar@example.com\"\nto = [\"ops@example.com\"]\nmin_level = \"CRITICAL\"\n"
        ),
    );
    f.serve(&config);
    f.start("dd", "X");
    f.wait("dd", "the whole feed", |s| s["seq"].as_u64() >= Some(3_000));
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.hooks.lock().unwrap().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "webhook got {:?}",
            received.hooks.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let hooks = received.hooks.lock().unwrap().clone();
    assert!(
        received.refused.load(Ordering::SeqCst) >= 3,
        "the channel was down first"
    );
    let drawdown: Vec<_> = hooks.iter().filter(|h| h["rule"] == "drawdown").collect();
    assert_eq!(drawdown.len(), 1, "once, not once per bar: {hooks:?}");
    let d = drawdown[0];
    assert_eq!(d["level"], "CRITICAL");
    assert_eq!(d["deployment"], "dd");
    assert_eq!(d["version"], "scripted@0.1.0");
    assert!((d["value"].as_f64().unwrap() - 0.15).abs() < 1e-6, "{d}");
    assert_eq!(d["threshold"].as_f64(), Some(0.10));
    let text = d["message"].as_str().unwrap();
    assert!(
        text.starts_with("CRITICAL dd (scripted@0.1.0): drawdown from the peak 15.00% reached the CRITICAL threshold 10.00% at bar 2024-01-01T00:50:00"),
        "{text}"
    );
    // The day's loss crossed its CRITICAL threshold on the same bar.
    assert_eq!(
        hooks
            .iter()
            .filter(|h| h["rule"] == "daily-loss" && h["level"] == "CRITICAL")
            .count(),
        1,
        "{hooks:?}"
    );
    // Telegram takes CRITICAL only, with the token in the path and the text as message.
    let tg = received.telegram.lock().unwrap().clone();
    assert_eq!(tg.len(), 2, "{tg:?}");
    assert!(
        tg.iter()
            .all(|(bot, v)| bot == "bot123:secret" && v["chat_id"] == "42")
    );
    assert!(tg.iter().any(|(_, v)| v["text"] == text));
    // And by e-mail, subject and body.
    let deadline = Instant::now() + Duration::from_secs(10);
    while mails.lock().unwrap().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "mails: {:?}",
            mails.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mails = mails.lock().unwrap().clone();
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Subject: [sandbar] CRITICAL dd drawdown")
                && m.contains("drawdown from the peak 15.00%")
                && m.contains("To: ops@example.com")),
        "{mails:?}"
    );
    // The history, from the outbox: through the API, newest first, and at
    // a terminal.
    let history = |query: &str| -> Vec<serde_json::Value> {
        let r = sandbar::net::tls::Tls::webpki()
            .http()
            .build()
            .unwrap()
            .get(format!("{}/alerts{query}", f.url()))
            .bearer_auth(crate::service::TOKEN)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<serde_json::Value>().unwrap()["alerts"]
            .as_array()
            .unwrap()
            .clone()
    };
    let all = history("");
    let ids: Vec<u64> = all.iter().map(|a| a["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let critical = history("?level=CRITICAL&deployment=dd");
    assert_eq!(critical.len(), 2, "{critical:?}");
    assert!(critical.iter().any(|a| a["message"] == text));
    assert_eq!(history("?limit=1").len(), 1);
    assert!(history("?deployment=nobody").is_empty());
    let cli = std::process::Command::new(SANDBAR)
        .args([
            "alerts",
            "--server",
            &f.url(),
            "--level",
            "CRITICAL",
            "--deployment",
            "dd",
        ])
        .env("SANDBAR_TOKEN", crate::service::TOKEN)
        .output()
        .unwrap();
    ok(&cli);
    assert_eq!(stdout(&cli).lines().count(), 2, "{}", stdout(&cli));
    assert!(stdout(&cli).contains(text), "{}", stdout(&cli));
}

#[test]
fn an_alert_raised_while_its_channel_is_down_is_delivered_after_a_restart() {
    let (url, received, _rt) = receivers();
    // Down for longer than this service will live.
    received.refuse.store(usize::MAX / 2, Ordering::SeqCst);
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SCRIPTED]);
    f.paper(
        "dd",
        "scripted@0.1.0",
        &[
            "--param",
            "script=0 weight 0 1",
            "--risk",
            "max_drawdown=1",
            "--risk",
            "daily_loss_limit=1",
        ],
    );
    let mut bars = flat(50, 100.0);
    bars.push((100.0, 100.0, 85.0, 85.0));
    bars.extend(flat(500, 85.0));
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &bars);
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1m\"\nbars_per_second = 2000\n"
        ),
        &format!("[alerts]\n[[alerts.channels]]\nkind = \"webhook\"\nurl = \"{url}/hook\"\n"),
    );
    f.serve(&config);
    f.start("dd", "X");
    f.wait("dd", "the drop", |s| s["seq"].as_u64() >= Some(500));
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.refused.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no delivery was attempted");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(f.terminate().success());
    assert!(received.hooks.lock().unwrap().is_empty());
    // The channel is back; so is the service, which finds the alert in its outbox.
    received.refuse.store(0, Ordering::SeqCst);
    f.serve(&config);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hooks = received.hooks.lock().unwrap().clone();
        if hooks.iter().any(|h| h["rule"] == "drawdown") {
            assert_eq!(hooks.iter().filter(|h| h["rule"] == "drawdown").count(), 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered after the restart: {hooks:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Issue 26: a dead man's switch. The service requests the heartbeat URL
/// while it lives; once it is gone the requests stop, which is what the
/// monitor at the other end alerts on.
#[test]
fn a_heartbeat_is_requested_while_the_service_lives_and_stops_when_it_is_gone() {
    let (url, received, _rt) = receivers();
    let mut f = Fixture::new();
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &flat(10, 100.0));
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1m\"\nbars_per_second = 10\n"
        ),
        &format!("[alerts]\nheartbeat_url = \"{url}/ping\"\nheartbeat_secs = 0.2\n"),
    );
    f.serve(&config);
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.pings.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "no heartbeat");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(f.terminate().success());
    let after = received.pings.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        received.pings.load(Ordering::SeqCst),
        after,
        "silence once the service is gone"
    );
}

#[test]
fn a_heartbeat_off_loopback_must_be_https_and_its_period_a_number() {
    let f = Fixture::new();
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &flat(10, 100.0));
    let feeds = format!(
        "[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1m\"\nbars_per_second = 10\n"
    );
    for (alerts, says) in [
        (
            "heartbeat_url = \"http://hc.example.com/ping\"",
            "alerts.heartbeat_url",
        ),
        (
            "heartbeat_url = \"https://hc.example.com/ping\"\nheartbeat_secs = nan",
            "alerts.heartbeat_secs",
        ),
    ] {
        let config = f.config(&feeds, &format!("[alerts]\n{alerts}\n"));
        let text = std::fs::read_to_string(&config).unwrap();
        let e = sandbar::service::config::ServiceFile::parse(&text, "sandbar.toml").unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
}

#[test]
fn the_daily_summary_arrives_at_its_time_with_the_days_figures() {
    let (url, received, _rt) = receivers();
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SCRIPTED]);
    f.paper(
        "dd",
        "scripted@0.1.0",
        &[
            "--param",
            "script=0 weight 0 1",
            "--risk",
            "max_drawdown=1",
            "--risk",
            "daily_loss_limit=1",
        ],
    );
    let mut bars = flat(50, 100.0);
    bars.push((100.0, 100.0, 85.0, 85.0));
    bars.extend(flat(100_000, 85.0));
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &bars);
    // Far enough ahead that a slow start (a loaded machine) is still before
    // it — a time already past waits for tomorrow — and near enough to wait.
    let due = chrono::Utc::now() + chrono::Duration::seconds(15);
    let at = due.format("%H:%M:%S");
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1m\"\nbars_per_second = 500\n"
        ),
        &format!(
            "[alerts]\ndaily_summary_utc = \"{at}\"\n[[alerts.channels]]\nkind = \"webhook\"\nurl = \"{url}/hook\"\nmin_level = \"INFO\"\n"
        ),
    );
    f.serve(&config);
    f.start("dd", "X");
    let deadline = Instant::now() + Duration::from_secs(60);
    let summary = loop {
        let hooks = received.hooks.lock().unwrap().clone();
        if let Some(h) = hooks.iter().find(|h| h["rule"] == "daily-summary") {
            // Not early: seen (within a poll) no sooner than the configured
            // second, which `at` truncates `due` to.
            let seen = chrono::Utc::now();
            assert!(
                seen >= due - chrono::Duration::seconds(1),
                "the summary came at {seen}, before {at}"
            );
            break h.clone();
        }
        assert!(Instant::now() < deadline, "no summary by {at}: {hooks:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(summary["level"], "INFO");
    let text = summary["message"].as_str().unwrap();
    assert!(
        text.starts_with("INFO dd (scripted@0.1.0): daily summary: PnL today ")
            && text.contains("drawdown 15.00%")
            && text.contains("PAUSED")
            && text.contains("alerts today: 2"),
        "{text}"
    );
}

#[test]
fn fills_and_promotions_are_told_at_info_each_one_without_a_cooldown() {
    let (url, received, _rt) = receivers();
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SCRIPTED]);
    f.paper(
        "ev",
        "scripted@0.1.0",
        &["--param", "script=0 buy 0 10;2 sell 0 10;4 buy 0 5"],
    );
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &flat(100_000, 100.0));
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1m\"\nbars_per_second = 500\n"
        ),
        &format!(
            "[alerts]\ncooldown_secs = 3600\n[[alerts.channels]]\nkind = \"webhook\"\nurl = \"{url}/hook\"\nmin_level = \"INFO\"\n"
        ),
    );
    f.serve(&config);
    f.start("ev", "X");
    let r = sandbar::net::tls::Tls::webpki()
        .http()
        .build()
        .unwrap()
        .post(format!("{}/deployments/ev/promote", f.url()))
        .bearer_auth(crate::service::TOKEN)
        .body("{\"reason\": \"ready for money\", \"force\": true}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let hooks = loop {
        let hooks = received.hooks.lock().unwrap().clone();
        let fills = hooks.iter().filter(|h| h["rule"] == "fill").count();
        if fills >= 3 && hooks.iter().any(|h| h["rule"] == "promotion") {
            break hooks;
        }
        assert!(Instant::now() < deadline, "not all delivered: {hooks:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let fills: Vec<&str> = hooks
        .iter()
        .filter(|h| h["rule"] == "fill")
        .map(|h| h["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        fills.len(),
        3,
        "each fill once, none held back by the cooldown: {fills:?}"
    );
    assert!(
        fills[0].starts_with(
            "INFO ev (scripted@0.1.0): bought 10 X at 100 (strategy, order 1) at bar "
        ),
        "{}",
        fills[0]
    );
    assert!(fills[1].contains("sold 10 X at 100"), "{}", fills[1]);
    let promotion = hooks.iter().find(|h| h["rule"] == "promotion").unwrap();
    assert_eq!(promotion["level"], "INFO");
    assert_eq!(
        promotion["message"],
        "INFO ev (scripted@0.1.0): promoted from PAPER to LIVE by operator (gates overridden): ready for money"
    );
}

#[test]
fn the_kill_switch_flattens_and_pauses_every_deployment_and_says_so() {
    let (url, received, _rt) = receivers();
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SCRIPTED]);
    for name in ["k1", "k2"] {
        f.paper(name, "scripted@0.1.0", &["--param", "script=0 buy 0 10"]);
    }
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &flat(100_000, 100.0));
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1m\"\nbars_per_second = 200\n"
        ),
        &format!(
            "[alerts]\n[[alerts.channels]]\nkind = \"webhook\"\nurl = \"{url}/hook\"\nmin_level = \"CRITICAL\"\n"
        ),
    );
    f.serve(&config);
    for name in ["k1", "k2"] {
        f.start(name, "X");
        f.wait(name, "a position", |s| {
            !s["positions"].as_array().unwrap().is_empty()
        });
    }
    // A reason is required.
    let r = sandbar::net::tls::Tls::webpki()
        .http()
        .build()
        .unwrap()
        .post(format!("{}/kill", f.url()))
        .bearer_auth(crate::service::TOKEN)
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let out = std::process::Command::new(SANDBAR)
        .args(["kill", "--server", &f.url(), "--reason", "venue incident"])
        .env("SANDBAR_TOKEN", crate::service::TOKEN)
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stdout(&out).contains("kill switch: 2 flattening and paused (k1, k2)"),
        "{}",
        stdout(&out)
    );
    for name in ["k1", "k2"] {
        let s = f.wait(name, "flat and paused", |s| {
            s["positions"].as_array().unwrap().is_empty() && !s["paused"].is_null()
        });
        assert!(
            s["paused"]
                .as_str()
                .unwrap()
                .contains("kill switch: venue incident"),
            "{s}"
        );
        assert_eq!(f.status(name)["stage"], "PAUSED");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let hooks = received.hooks.lock().unwrap().clone();
        let kills: Vec<&serde_json::Value> = hooks
            .iter()
            .filter(|h| h["rule"] == "kill-switch")
            .collect();
        if kills.len() == 2 {
            assert!(kills.iter().all(|h| h["level"] == "CRITICAL"));
            assert!(
                kills[0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("kill switch by operator: venue incident"),
                "{}",
                kills[0]
            );
            break;
        }
        assert!(Instant::now() < deadline, "kill-switch alerts: {hooks:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_paper_sharpe_far_from_the_backtests_is_alerted_once_on_the_day_of_its_21st_close() {
    let (url, received, _rt) = receivers();
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SCRIPTED]);
    f.paper(
        "sp",
        "scripted@0.1.0",
        &[
            "--param",
            "script=0 weight 0 1",
            "--risk",
            "max_drawdown=1",
            "--risk",
            "daily_loss_limit=1",
        ],
    );
    // The backtest: up 1% a day with a little noise, a Sharpe ratio far
    // above 1. The paper feed: up and down 2% on alternate days, about 0.
    let steady: Vec<(f64, f64, f64, f64)> = (0..60)
        .map(|i| {
            let c = 100.0 * 1.01f64.powi(i) * (1.0 + 0.002 * if i % 2 == 0 { 1.0 } else { -1.0 });
            (c, c, c, c)
        })
        .collect();
    let backtest = bars_csv(f.dir.path(), "BT.csv", DAY, &steady);
    f.ok(&[
        "deploy",
        "backtest",
        "sp",
        "--data",
        backtest.to_str().unwrap(),
        "--monte-carlo-runs",
        "0",
    ]);
    let mut c = 100.0;
    let choppy: Vec<(f64, f64, f64, f64)> = (0..40)
        .map(|i| {
            c *= if i % 2 == 0 { 1.02 } else { 0.98 };
            (c, c, c, c)
        })
        .collect();
    let data = bars_csv(f.dir.path(), "X.csv", DAY, &choppy);
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1d\"\nbars_per_second = 200\n"
        ),
        &format!(
            "[alerts]\n[[alerts.channels]]\nkind = \"webhook\"\nurl = \"{url}/hook\"\nmin_level = \"WARNING\"\n"
        ),
    );
    f.serve(&config);
    f.ok(&[
        "deploy",
        "start",
        "sp",
        "--feed",
        "rec",
        "--symbol",
        "X",
        "--interval",
        "1d",
        "--start",
        "2024-01-01",
    ]);
    f.wait("sp", "the whole feed", |s| s["seq"].as_u64() >= Some(39));
    let deadline = Instant::now() + Duration::from_secs(20);
    let sharpe = || -> Vec<serde_json::Value> {
        received
            .hooks
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h["rule"] == "sharpe-deviation")
            .cloned()
            .collect()
    };
    while sharpe().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no sharpe-deviation alert: {:?}",
            received.hooks.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let alerts = sharpe();
    assert_eq!(alerts.len(), 1, "entered once: {alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["level"], "CRITICAL");
    assert_eq!(a["threshold"].as_f64(), Some(0.5));
    // Day 20 closes at the first bar of day 21 (2024-01-22): 21 closes.
    let text = a["message"].as_str().unwrap();
    assert!(
        text.contains("paper Sharpe ratio off the backtest's by")
            && text.contains("at bar 2024-01-22"),
        "{text}"
    );
    f.terminate();
    // By hand: the equity at each day's close from the journal's fills and
    // the closes, its 20 daily returns' Sharpe ratio (a close every day:
    // √365 a year), against the backtest's as the registry keeps it.
    let entries = journal_entries(&f.dir.path().join("journals/sp.redb"));
    let (mut cash, mut qty) = (100_000.0, 0.0);
    let mut closes = Vec::new();
    for (i, bar) in choppy.iter().enumerate().take(21) {
        for fill in of_kind(&entries, "fill") {
            if fill["seq"].as_u64() == Some(i as u64) {
                let q = fill["fill"]["quantity"].as_f64().unwrap();
                let q = if fill["fill"]["side"] == "buy" { q } else { -q };
                cash -= q * fill["fill"]["price"].as_f64().unwrap()
                    + fill["fill"]["commission"].as_f64().unwrap();
                qty += q;
            }
        }
        closes.push(cash + qty * bar.3);
    }
    let r: Vec<f64> = closes.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    let mean = r.iter().sum::<f64>() / r.len() as f64;
    let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (r.len() - 1) as f64).sqrt();
    let paper = mean / sd * 365f64.sqrt();
    let reg = sandbar::store::registry::Registry::open(&f.registry()).unwrap();
    let bt = reg.deployment("sp").unwrap().backtest.unwrap().sharpe;
    let want = (paper - bt).abs() / bt.abs();
    let got = a["value"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-9, "alerted {got}, by hand {want}");
}

#[test]
fn a_burst_of_refusals_is_alerted_once_at_its_level() {
    let (url, received, _rt) = receivers();
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SCRIPTED]);
    // Twelve orders of 100,000 against a limit of 1,000 a order, one a bar,
    // then quiet: the tenth refusal in 100 bars crosses the WARNING
    // threshold, the next two stay under the cooldown.
    let script = (1..=12)
        .map(|b| format!("{b} buy 0 1000"))
        .collect::<Vec<_>>()
        .join("; ");
    f.paper(
        "rf",
        "scripted@0.1.0",
        &[
            "--param",
            &format!("script={script}"),
            "--risk",
            "max_order_notional=1000",
        ],
    );
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &flat(400, 100.0));
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1m\"\nbars_per_second = 2000\n"
        ),
        &format!(
            "[alerts]\n[[alerts.channels]]\nkind = \"webhook\"\nurl = \"{url}/hook\"\nmin_level = \"WARNING\"\n"
        ),
    );
    f.serve(&config);
    f.start("rf", "X");
    f.wait("rf", "the whole feed", |s| s["seq"].as_u64() >= Some(399));
    let deadline = Instant::now() + Duration::from_secs(20);
    let burst = loop {
        let hooks = received.hooks.lock().unwrap().clone();
        let burst: Vec<_> = hooks
            .into_iter()
            .filter(|h| h["rule"] == "refusals")
            .collect();
        if !burst.is_empty() || Instant::now() > deadline {
            break burst;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(f.terminate().success());
    let entries = journal_entries(&f.dir.path().join("journals/rf.redb"));
    assert_eq!(refusal_rules(&entries).len(), 12, "every order refused");
    assert_eq!(burst.len(), 1, "once, held back by the cooldown: {burst:?}");
    let b = &burst[0];
    assert_eq!(b["level"], "WARNING");
    assert_eq!(
        (b["value"].as_f64(), b["threshold"].as_f64()),
        (Some(10.0), Some(10.0))
    );
    let text = b["message"].as_str().unwrap();
    assert!(
        text.starts_with("WARNING rf (scripted@0.1.0): 10 refusals in the last 100 bars, over the WARNING threshold 10 (latest: max-order-notional"),
        "{text}"
    );
}

#[test]
fn a_deployment_without_a_fill_for_idle_hours_of_bars_is_told_once_per_silence() {
    // Issue 26, item 6: a strategy that has stopped trading (or cannot) is
    // noticed. One buy at bar 0 (filled at bar 1), another at bar 400; two
    // hours of minute bars without a fill are told once each time.
    let (url, received, _rt) = receivers();
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SCRIPTED]);
    f.paper(
        "quiet",
        "scripted@0.1.0",
        &["--param", "script=0 buy 0 1; 400 buy 0 1"],
    );
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &flat(700, 100.0));
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1m\"\nbars_per_second = 2000\n"
        ),
        &format!(
            "[alerts]\nidle_hours = 2\n[[alerts.channels]]\nkind = \"webhook\"\nurl = \"{url}/hook\"\nmin_level = \"WARNING\"\n"
        ),
    );
    f.serve(&config);
    f.start("quiet", "X");
    f.wait("quiet", "the whole feed", |s| {
        s["seq"].as_u64() >= Some(700)
    });
    let idle = |received: &Received| -> Vec<serde_json::Value> {
        received
            .hooks
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h["rule"] == "idle")
            .cloned()
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while idle(&received).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "idle alerts: {:?}",
            received.hooks.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let told = idle(&received);
    // Fills at bars 1 and 401: silent from 00:01 to 02:01 (told), then from
    // 06:41 to 08:41 (told) — and never again within one silence.
    let at: Vec<&str> = told
        .iter()
        .map(|h| h["bar_time"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(
        at,
        ["2024-01-01T02:01:00.000Z", "2024-01-01T08:41:00.000Z"],
        "{told:?}"
    );
    assert!(told.iter().all(|h| h["level"] == "WARNING"), "{told:?}");
    assert!(
        told[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("WARNING quiet (scripted@0.1.0): no fill for 2.0 h of bars"),
        "{told:?} {at:?}"
    );
    assert!(f.terminate().success());
}
