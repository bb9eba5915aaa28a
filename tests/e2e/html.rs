//! The HTML report (`sandbar replay --html`), as a person opens it: a single
//! file that needs no network, drawn by a real headless Chromium (Debian's
//! `chromium`: `.ci/run` installs it when missing, and so does this test
//! when it runs as root on a Debian machine without it), whose numbers are
//! the run's own.

use std::path::Path;
use std::process::Command;

use crate::util::*;

/// Render `page` in headless Chromium; the DOM after its scripts ran.
fn chromium_dom(page: &Path) -> String {
    ensure_debian("chromium", "chromium");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            // Nothing but the file itself may load: a request elsewhere fails.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (Debian's `chromium` package) must be installed; .ci/run installs it");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_html_report_is_one_offline_file_whose_charts_and_tables_show_the_runs_numbers() {
    let dir = scratch();
    let (page, equity, journal) = (
        dir.path().join("report.html"),
        dir.path().join("equity.csv"),
        dir.path().join("run.redb"),
    );
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    ok(&sandbar([
        "replay".as_ref(),
        "--plugin".as_ref(),
        plugins::SMA_CROSS.as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--html".as_ref(),
        page.as_os_str(),
        "--equity".as_ref(),
        equity.as_os_str(),
        "--journal".as_ref(),
        journal.as_os_str(),
    ]));
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: no script, style or image from anywhere else.
    for outside in ["src=\"http", "href=\"http", "@import", "src=\"//", "<link"] {
        assert!(!html.contains(outside), "{outside} in the page");
    }
    // The monthly table chains month-end equities, computed here from the
    // equity curve the same run wrote as CSV.
    let csv = std::fs::read_to_string(&equity).unwrap();
    let curve: Vec<(String, f64)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let (t, e) = l.split_once(',').unwrap();
            (t[..7].to_string(), e.parse().unwrap())
        })
        .collect();
    let mut month_end: Vec<(String, f64)> = Vec::new();
    for (m, e) in &curve {
        match month_end.last_mut() {
            Some((last, v)) if last == m => *v = *e,
            _ => month_end.push((m.clone(), *e)),
        }
    }
    let mut base = 100_000.0;
    for (m, e) in &month_end {
        let cell = format!("data-month=\"{m}\">{:.2}%</td>", (e / base - 1.0) * 100.0);
        assert!(html.contains(&cell), "{cell} not in the monthly table");
        base = *e;
    }
    assert!(month_end.len() > 100, "{} months", month_end.len());
    // Drawn by a browser: the equity chart has a point per bar time, the
    // price chart every fill of the journal.
    let fills = of_kind(&journal_entries(&journal), "fill").len();
    assert!(fills > 50, "{fills} fills");
    let dom = chromium_dom(&page);
    let expected = format!(
        "data-rendered=\"equity:{},prices:1,fills:{fills},levels:0\"",
        curve.len()
    );
    assert!(
        dom.contains(&expected),
        "{expected} not in the rendered page"
    );
    assert!(dom.matches("<canvas").count() >= 3, "three charts drawn");
    assert!(dom.contains("Sharpe"), "the statistics table");
}

#[test]
fn a_journal_gives_the_page_of_its_run_and_refuses_data_the_run_did_not_read() {
    let dir = scratch();
    let (a, b, journal) = (
        dir.path().join("replay.html"),
        dir.path().join("journal.html"),
        dir.path().join("run.redb"),
    );
    let data = plugins::shared_data("goog-daily-2004-2013.csv");
    ok(&sandbar([
        "replay".as_ref(),
        "--plugin".as_ref(),
        plugins::SMA_CROSS.as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--html".as_ref(),
        a.as_os_str(),
        "--journal".as_ref(),
        journal.as_os_str(),
    ]));
    // The books rebuilt from the journal's fills and the closes are the
    // run's own, to the byte of the page (its final entry is checked too).
    ok(&sandbar([
        "journal".as_ref(),
        journal.as_os_str(),
        "--html".as_ref(),
        b.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
    ]));
    assert!(
        std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
        "the journal's page differs from the replay's"
    );
    // A replay's journal keeps no bars: the data must be named, and be the same.
    let out = sandbar([
        "journal".as_ref(),
        journal.as_os_str(),
        "--html".as_ref(),
        b.as_os_str(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "keeps no bars: pass the data it read with --data (goog-daily-2004-2013.csv)"
        ),
        "{}",
        stderr(&out)
    );
    let other = plugins::shared_data("btcusd-monthly-2012-2024.csv");
    let out = sandbar([
        "journal".as_ref(),
        journal.as_os_str(),
        "--html".as_ref(),
        b.as_os_str(),
        "--data".as_ref(),
        other.as_os_str(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not the run's goog-daily-2004-2013.csv"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_paper_deployments_journal_gives_its_page_from_the_bars_it_kept() {
    let (mut f, csv, _) = crate::service::paper_on_btc(800);
    // Settled: the recording's last bar may come a moment after the one
    // before it (it races the warm-up), or not at all.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let s = loop {
        let before = f.status("p");
        std::thread::sleep(std::time::Duration::from_millis(500));
        let after = f.status("p");
        if after["seq"] == before["seq"] {
            break after;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never settled: {after}"
        );
    };
    assert!(s["trades"].as_u64() > Some(0), "{s}");
    let equity = s["equity"].as_f64().unwrap();
    let path = s["journal"].as_str().unwrap().to_string();
    f.terminate();
    let page = f.dir.path().join("p.html");
    ok(&sandbar([
        "journal",
        &path,
        "--html",
        page.to_str().unwrap(),
    ]));
    let html = std::fs::read_to_string(&page).unwrap();
    // The page's equity curve: one point per bar the deployment processed,
    // ending at the deployment's own equity. (Numbers cross JSON both ways
    // exactly: serde_json's `float_roundtrip`.)
    let data: serde_json::Value = serde_json::from_str(
        html.split(r#"<script id="data" type="application/json">"#)
            .nth(1)
            .and_then(|t| t.split("</script>").next())
            .expect("the page embeds its data"),
    )
    .unwrap();
    let values = data["equity"][1].as_array().expect("equity values");
    let times = data["equity"][0].as_array().expect("equity times");
    assert_eq!(values.len(), times.len());
    assert_eq!(
        values.len() as u64,
        s["seq"].as_u64().unwrap(),
        "a point per bar processed"
    );
    assert_eq!(values.last().and_then(|v| v.as_f64()), Some(equity));
    let out = sandbar([
        "journal",
        &path,
        "--html",
        page.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
    ]);
    // Bars given again to a journal that keeps its own: refused, naming why.
    assert!(
        !out.status.success(),
        "--data beside kept bars was accepted"
    );
    assert!(
        stderr(&out).contains("keeps the bars its deployment processed"),
        "{}",
        stderr(&out)
    );
}

/// The data a page embeds for its charts.
fn page_data(html: &str) -> serde_json::Value {
    let start = html
        .find("<script id=\"data\" type=\"application/json\">")
        .unwrap();
    let rest = &html[start..];
    let body = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
    serde_json::from_str(body).unwrap()
}

#[test]
fn the_price_chart_draws_the_stop_and_target_the_host_held_for_each_position() {
    // The trailing-stop scenario of `protection.rs`: bought at 100 with a
    // target at 200, trailed 5 behind; the stop goes 95, 99, 105 and fills
    // at 105 on bar 5, which ends both.
    let dir = scratch();
    let bars = TRAILING_BARS;
    let data = bars_csv(dir.path(), "X.csv", DAY, &bars);
    let page = dir.path().join("report.html");
    let journal = dir.path().join("run.redb");
    ok(&sandbar([
        "replay".as_ref(),
        "--plugin".as_ref(),
        plugins::SCRIPTED.as_ref(),
        "--param".as_ref(),
        "script=0 buy 0 10 tp=200; 1 trail 0 5".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--html".as_ref(),
        page.as_os_str(),
        "--journal".as_ref(),
        journal.as_os_str(),
    ]));
    let html = std::fs::read_to_string(&page).unwrap();
    let d = page_data(&html);
    let levels = &d["prices"][0]["levels"];
    let values = |key: &str| -> Vec<Option<f64>> {
        levels[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[1].as_f64())
            .collect()
    };
    assert_eq!(
        values("stops"),
        vec![Some(95.0), Some(99.0), Some(105.0), None]
    );
    assert_eq!(values("targets"), vec![Some(200.0), None]);
    // Both end when the stop fills, at the stop fill's time.
    let e = journal_entries(&journal);
    let stop_fill = of_kind(&e, "fill")
        .into_iter()
        .find(|f| f["fill"]["origin"] == "stop-loss")
        .unwrap()["fill"]["time_ms"]
        .clone();
    for key in ["stops", "targets"] {
        let points = levels[key].as_array().unwrap();
        assert_eq!(points.last().unwrap()[0], stop_fill, "{key}: {points:?}");
        let times: Vec<i64> = points.iter().map(|p| p[0].as_i64().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{key}: {times:?}");
    }
    // Drawn: the stop rests over bars 1–4 and the target too, read at each
    // of the chart's times (the seven closes).
    let dom = chromium_dom(&page);
    let rendered = dom
        .split("data-rendered=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let drawn: u64 = rendered.rsplit("levels:").next().unwrap().parse().unwrap();
    assert!(drawn >= 6, "{rendered}");
}
