//! Metrics: `GET /metrics` on a running service says what its deployments
//! did — the same numbers as their status and journal — counts nothing
//! twice after a recovery, and has every metric the shipped Grafana
//! dashboard queries.

use std::collections::BTreeSet;

use crate::service::{Fixture, TOKEN};
use crate::util::*;

fn metrics(url: &str) -> String {
    let r = sandbar::net::tls::Tls::webpki()
        .http()
        .build()
        .unwrap()
        .get(format!("{url}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().unwrap()
}

/// The value of the sample `name{…labels…}` whose labels contain `has`.
fn sample(text: &str, name: &str, has: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(has))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// A service trading sma-cross as `s` on 40,000 generated minute bars.
fn trading() -> (Fixture, std::path::PathBuf) {
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SMA_CROSS]);
    f.paper(
        "s",
        "sma-cross@0.1.0",
        &["--param", "fast=3", "--param", "slow=8"],
    );
    let csv = f.dir.path().join("syn.csv");
    ok(&sandbar([
        "generate",
        "--bars",
        "40000",
        "--seed",
        "5",
        "--out",
        csv.to_str().unwrap(),
    ]));
    let config = f.recorded(&csv);
    f.serve(&config);
    f.start("s", "SYN");
    (f, config)
}

#[test]
fn metrics_say_what_the_deployment_did_and_count_nothing_twice_after_a_restart() {
    let (mut f, config) = trading();
    f.wait("s", "trading", |s| s["orders"].as_u64() > Some(20));
    f.ok(&["deploy", "stop", "s"]);
    let status = f.status("s");
    let text = metrics(&f.url());
    let seq = status["seq"].as_u64().unwrap() as f64;
    let orders = status["orders"].as_u64().unwrap() as f64;
    assert_eq!(
        sample(&text, "sandbar_bars_total", "deployment=\"s\""),
        Some(seq),
        "{text}"
    );
    assert_eq!(
        sample(&text, "sandbar_orders_total", "deployment=\"s\""),
        Some(orders)
    );
    let equity = sample(&text, "sandbar_equity", "deployment=\"s\"").unwrap();
    assert!((equity - status["equity"].as_f64().unwrap()).abs() < 1e-6);
    let state = status["risk_state"].as_str().unwrap();
    assert_eq!(
        sample(
            &text,
            "sandbar_trading_state",
            &format!("state=\"{state}\"")
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, "sandbar_stage", "stage=\"PAPER\""), Some(1.0));
    assert_eq!(sample(&text, "sandbar_feed_up", "feed=\"rec\""), Some(1.0));
    assert!(
        sample(
            &text,
            "sandbar_plugin_call_seconds_count",
            "deployment=\"s\""
        ) >= Some(seq)
    );
    assert!(
        sample(
            &text,
            "sandbar_journal_commit_seconds_count",
            "deployment=\"s\""
        ) >= Some(orders)
    );
    assert!(sample(&text, "sandbar_bar_seconds_count", "deployment=\"s\"") > Some(0.0));
    // sma-cross only sends market orders, each filled whole at the next
    // bar: one time-to-fill observation per fill, each the simulated
    // venue's processing of that bar (far below the 5 s warning).
    let fills = sample(&text, "sandbar_fills_total", "deployment=\"s\"").unwrap();
    assert!(fills > 0.0);
    assert_eq!(
        sample(
            &text,
            "sandbar_time_to_fill_seconds_count",
            "deployment=\"s\""
        ),
        Some(fills),
        "{text}"
    );
    let took = sample(
        &text,
        "sandbar_time_to_fill_seconds_sum",
        "deployment=\"s\"",
    )
    .unwrap();
    assert!(took / fills < 0.5, "mean time to fill {} s", took / fills);

    // A restart re-executes the journal: the counters start again from the
    // bars that arrive after it, not from the re-executed ones.
    assert!(f.terminate().success());
    f.serve(&config);
    f.ok(&[
        "deploy",
        "start",
        "s",
        "--feed",
        "rec",
        "--symbol",
        "SYN",
        "--interval",
        "1m",
    ]);
    let again = f.wait("s", "new bars", |s| {
        s["seq"].as_u64() > Some(seq as u64 + 50)
    });
    let text = metrics(&f.url());
    let bars = sample(&text, "sandbar_bars_total", "deployment=\"s\"").unwrap();
    assert!(
        bars < again["seq"].as_f64().unwrap() - seq + 100.0 && bars >= 50.0,
        "{bars} bars counted after the restart at {seq}"
    );
}

#[test]
fn every_metric_the_dashboard_queries_is_served() {
    let (f, _) = trading();
    f.wait("s", "bars", |s| s["seq"].as_u64() > Some(200));
    let text = metrics(&f.url());
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/host/monitoring/grafana-dashboard.json",
            plugins::REPO
        ))
        .unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    let mut stack = vec![&dashboard];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(o) => {
                if let Some(serde_json::Value::String(e)) = o.get("expr") {
                    exprs.push(e.clone());
                }
                if let Some(serde_json::Value::String(q)) = o.get("query") {
                    exprs.push(q.clone());
                }
                stack.extend(o.values());
            }
            serde_json::Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    let names: BTreeSet<String> = exprs
        .iter()
        .flat_map(|e| {
            e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("sandbar_"))
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(names.len() >= 18, "{names:?}");
    for name in &names {
        let base = ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        assert!(
            text.contains(&format!("# TYPE {base} ")),
            "the dashboard queries {name}, which /metrics does not serve"
        );
    }
}
