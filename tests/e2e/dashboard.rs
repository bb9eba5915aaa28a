//! The dashboard as an operator uses it and as an attacker meets it.
//!
//! The operator: a real headless Chromium (Debian's `chromium`, driven over
//! WebDriver by `chromedriver` from `chromium-driver`; `.ci/run` installs
//! both, and so does this test as root on Debian) signs in, sees every
//! deployment with the service's own numbers, watches a deployment on a
//! paced recording of real BTCUSDT minute bars fill without a reload, and
//! pauses it with a click. `SANDBAR_SCREENSHOT=<file.png>` saves what the
//! browser showed (the README's screenshot is made this way).
//!
//! The attacker: no session, a forged cookie, a wrong token, another site's
//! page posting with the operator's cookie, a rebinding Host, an event
//! stream held open through a shutdown.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::service::{Fixture, TOKEN};
use crate::util::*;

/// The first `n` bars of the real BTCUSDT January 2024 recording (all of
/// it for `None`) as `dir/BTCUSDT.csv`.
fn btc(dir: &Path, n: Option<usize>) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let all =
        std::fs::read_to_string(plugins::shared_data("binance-btcusdt-1m-2024-01.csv")).unwrap();
    let text: String = match n {
        Some(n) => all.lines().take(n).map(|l| format!("{l}\n")).collect(),
        None => all,
    };
    let path = dir.join("BTCUSDT.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// Two deployments of sma-cross (3/8): `done` on 600 bars served at once
/// (its numbers no longer move), `live` on the month at 15 bars a second.
fn two_deployments() -> Fixture {
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SMA_CROSS]);
    for name in ["done", "live"] {
        f.paper(
            name,
            "sma-cross@0.1.0",
            &["--param", "fast=3", "--param", "slow=8"],
        );
    }
    let short = btc(&f.dir.path().join("short"), Some(600));
    let month = btc(&f.dir.path().join("month"), None);
    let feeds = format!(
        "[feeds.short]\nkind = \"recorded\"\nfiles = [{short:?}]\ninterval = \"1m\"\nbars_per_second = 100000\n\
         [feeds.month]\nkind = \"recorded\"\nfiles = [{month:?}]\ninterval = \"1m\"\nbars_per_second = 15\n"
    );
    let config = f.config(&feeds, "");
    f.serve(&config);
    for (name, feed) in [("done", "short"), ("live", "month")] {
        f.ok(&[
            "deploy",
            "start",
            name,
            "--feed",
            feed,
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1m",
            "--start",
            "2024-01-01",
        ]);
    }
    f
}

/// `chromedriver` on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    ensure_debian("chromium", "chromium");
    ensure_debian("chromedriver", "chromium-driver");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver) must be installed");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver { child, url }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1800",
                // Only the service answers: a page that needed a CDN would break.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session through chromedriver")
}

/// Evaluate `js` (a function body returning a value) until `ok` holds for
/// its value, at most `secs` seconds; the last value.
async fn until(
    c: &Client,
    what: &str,
    js: &str,
    secs: u64,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = c.execute(js, vec![]).await.unwrap();
        if ok(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: last {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Money as the page prints it: en-US grouping, two decimals.
fn money(x: f64) -> String {
    let s = format!("{:.2}", x.abs());
    let (int, frac) = s.split_once('.').unwrap();
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{}{grouped}.{frac}", if x < 0.0 { "-" } else { "" })
}

fn row_text(name: &str, class: &str) -> String {
    format!(
        "const r = document.querySelector('tr[data-deployment=\"{name}\"] td.{class}'); return r ? r.textContent : null;"
    )
}

#[test]
fn the_dashboard_shows_the_services_numbers_updates_live_and_pauses_from_the_page() {
    let mut f = two_deployments();
    // `done` has processed its short feed (599 or 600 bars, as the last one
    // races the warm-up) and stays put.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let done = loop {
        let before = f.wait("done", "the short feed consumed", |s| {
            s["seq"].as_u64() >= Some(599)
        });
        std::thread::sleep(Duration::from_millis(500));
        let again = f.status("done");
        if again["seq"] == before["seq"] {
            break again;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the short feed is never exhausted: {again}"
        );
    };
    assert!(done["trades"].as_u64().unwrap() > 0, "{done}");
    let driver = chromedriver();
    let url = f.url();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let shown = rt.block_on(async {
        let c = browser(&driver).await;
        // Without a session the dashboard sends the browser to sign in.
        c.goto(&format!("{url}/dashboard")).await.unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/login");
        c.find(Locator::Id("token")).await.unwrap().send_keys(TOKEN).await.unwrap();
        c.find(Locator::Id("sign-in")).await.unwrap().click().await.unwrap();
        // The form's navigation may still be under way when the click returns.
        until(&c, "the dashboard after signing in", "return location.pathname", 15, |v| {
            v.as_str() == Some("/dashboard")
        })
        .await;

        // The list shows each deployment with the service's own numbers.
        for (class, want) in [
            ("stage", "PAPER".to_string()),
            ("state", done["risk_state"].as_str().unwrap().to_string()),
            ("version", "sma-cross@0.1.0".to_string()),
            ("equity", money(done["equity"].as_f64().unwrap())),
            ("drawdown", format!("{:.2}%", done["drawdown"].as_f64().unwrap() * 100.0)),
        ] {
            until(&c, &format!("done's {class} to read {want}"), &row_text("done", class), 15, |v| {
                v.as_str() == Some(want.as_str())
            })
            .await;
        }
        until(&c, "live's row", &row_text("live", "status"), 15, |v| {
            v.as_str().is_some_and(|s| s.starts_with("running"))
        })
        .await;
        let spark = "return document.querySelector('tr[data-deployment=\"done\"] svg.spark').dataset.points";
        let points: usize = c.execute(spark, vec![]).await.unwrap().as_str().unwrap().parse().unwrap();
        assert!(points > 10, "the sparkline has {points} points");

        // `done` in detail: its round trips weighed as the report of its
        // journal weighs them (checked once the service has stopped).
        c.execute("document.querySelector('tr[data-deployment=\"done\"]').click()", vec![])
            .await
            .unwrap();
        let card = |id: &'static str| format!("return document.querySelector('#card-{id}').textContent;");
        let shown_win_rate = until(&c, "done's win rate", &card("win-rate"), 15, |v| {
            v.as_str().is_some_and(|t| t.ends_with('%'))
        })
        .await;
        let shown_factor = c.execute(&card("profit-factor"), vec![]).await.unwrap();
        // Its signals beside its refusals: what the strategy asked for.
        until(&c, "done's signals", "const r = document.querySelector('#intents tbody tr'); return r ? r.children[2].textContent : null;", 15, |v| {
            // sma-cross asks for a weight on a cross up, to close on a cross down.
            v.as_str().is_some_and(|t| t.starts_with("weight ") || t == "close")
        })
        .await;

        // One deployment in detail: its curve has points, and a new fill
        // appears without a reload.
        // The rows are redrawn on every update: click in one script, not
        // find-then-click (the element found may be replaced in between).
        c.execute(
            "document.querySelector('tr[data-deployment=\"live\"]').click()",
            vec![],
        )
        .await
        .unwrap();
        until(&c, "live's equity curve", "const e = document.querySelector('#equity-chart'); return e.dataset.points && document.querySelector('#equity-chart canvas') ? Number(e.dataset.points) : 0;", 15, |v| {
            v.as_u64() > Some(1)
        })
        .await;
        c.execute("window.sandbarMarker = 'same page';", vec![]).await.unwrap();
        let count = "const t = document.querySelector('#fills'); return t.dataset.count ? Number(t.dataset.count) : -1;";
        let before = until(&c, "live's fills to be listed", count, 15, |v| v.as_i64() >= Some(0)).await;
        let before = before.as_i64().unwrap();
        until(&c, "a new fill", count, 30, |v| v.as_i64() > Some(before)).await;
        let rows = "return document.querySelectorAll('#fills tbody tr').length";
        assert!(c.execute(rows, vec![]).await.unwrap().as_u64() > Some(0));
        let marker = c.execute("return window.sandbarMarker || null;", vec![]).await.unwrap();
        assert_eq!(marker, "same page", "the page was not reloaded");

        if let Ok(path) = std::env::var("SANDBAR_SCREENSHOT") {
            std::fs::write(&path, c.screenshot().await.unwrap()).unwrap();
            eprintln!("screenshot: {path}");
        }

        // A pause clicked in the page, behind its confirmation, pauses the deployment.
        c.find(Locator::Id("act-pause")).await.unwrap().click().await.unwrap();
        until(&c, "the confirmation", "return document.querySelector('#confirm').open", 5, |v| v == true).await;
        c.find(Locator::Id("confirm-ok")).await.unwrap().click().await.unwrap();
        // Without a reason nothing is sent.
        until(&c, "the reason to be asked for", "return document.querySelector('#confirm-error').textContent", 5, |v| {
            v.as_str().is_some_and(|s| s.contains("Say why"))
        })
        .await;
        assert!(f.status("live")["paused"].is_null());
        c.find(Locator::Id("confirm-reason")).await.unwrap().send_keys("checking the page").await.unwrap();
        c.find(Locator::Id("confirm-ok")).await.unwrap().click().await.unwrap();
        until(&c, "the pause to be accepted", "return document.querySelector('#action-result').dataset.ok || null", 10, |v| {
            v.as_str() == Some("true")
        })
        .await;
        let s = f.wait("live", "paused", |s| !s["paused"].is_null());
        assert!(s["paused"].as_str().unwrap().contains("checking the page"), "{s}");
        until(&c, "the page to show the pause", &row_text("live", "status"), 10, |v| {
            v.as_str().is_some_and(|s| s.starts_with("paused") && s.contains("checking the page"))
        })
        .await;
        // Audited under the signed-in token's holder.
        let audit = f.ok(&["deploy", "show", "live", "--server", &url]);
        assert!(audit.contains("operator"), "{audit}");
        c.close().await.unwrap();
        (shown_win_rate, shown_factor)
    });
    let (shown_win_rate, shown_factor) = shown;
    // The report of `done`'s journal says the same.
    assert!(f.terminate().success());
    let page = f.dir.path().join("done.html");
    ok(&sandbar([
        "journal".as_ref(),
        f.dir.path().join("journals/done.redb").as_os_str(),
        "--html".as_ref(),
        page.as_os_str(),
    ]));
    let html = std::fs::read_to_string(&page).unwrap();
    let stat = |k: &str| {
        html.split(&format!("<tr><th>{k}</th><td>"))
            .nth(1)
            .and_then(|t| t.split("</td>").next())
            .unwrap_or_else(|| panic!("no {k} in the report"))
            .to_string()
    };
    assert_eq!(shown_win_rate.as_str(), Some(stat("Win rate").as_str()));
    assert_eq!(shown_factor.as_str(), Some(stat("Profit factor").as_str()));
}

#[test]
fn the_dashboard_is_one_offline_page_that_draws_its_first_update() {
    // An offline page (nothing fetched from elsewhere) that signs in and
    // draws the first update of both deployments. The figures it prints
    // (page weight, time to the first update in headless Chromium) are a
    // measurement for the docs, not a pass mark: timings are not asserted
    // in tests.
    let f = two_deployments();
    f.wait("done", "bars", |s| s["seq"].as_u64() >= Some(599));
    let http = sandbar::net::tls::Tls::webpki()
        .http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = f.url();
    let page = http
        .get(format!("{url}/dashboard"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .text()
        .unwrap();
    for outside in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!page.contains(outside), "the page loads {outside}…");
    }
    assert!(page.contains("uPlot"), "uPlot is inlined");
    let driver = chromedriver();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = browser(&driver).await;
        c.goto(&format!("{url}/login")).await.unwrap();
        c.find(Locator::Id("token")).await.unwrap().send_keys(TOKEN).await.unwrap();
        c.find(Locator::Id("sign-in")).await.unwrap().click().await.unwrap();
        let first = until(&c, "the first update", "return window.sandbarFirstRender == null ? null : window.sandbarFirstRender - performance.getEntriesByType('navigation')[0].startTime;", 15, |v| v.is_number()).await;
        let ms = first.as_f64().unwrap();
        assert!(ms.is_finite() && ms >= 0.0, "first render at {ms} ms");
        let drawn = until(&c, "both deployments drawn", "return document.body.innerText;", 15, |v| {
            v.as_str().is_some_and(|t| t.contains("done") && t.contains("live"))
        })
        .await;
        assert!(drawn.as_str().is_some(), "{drawn}");
        eprintln!(
            "dashboard: {} bytes; first update rendered {:.0} ms after navigation",
            page.len(),
            first.as_f64().unwrap()
        );
        c.close().await.unwrap();
    });
}

#[test]
fn without_a_session_or_from_another_site_the_dashboard_does_nothing() {
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::COUNTER_V1]);
    f.paper("c", "counter@1.0.0", &[]);
    let data = bars_csv(f.dir.path(), "X.csv", MINUTE, &flat(200_000, 100.0));
    let config = f.recorded(&data);
    f.serve(&config);
    f.start("c", "X");
    let url = f.url();
    let host = url.trim_start_matches("http://").to_string();
    let http = sandbar::net::tls::Tls::webpki()
        .http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // No session: the page sends you to sign in; everything else is a bare 401.
    let r = http.get(format!("{url}/dashboard")).send().unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");
    for path in ["/dashboard/events", "/deployments"] {
        let r = http.get(format!("{url}{path}")).send().unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = http
        .get(format!("{url}/deployments"))
        .header(
            "Cookie",
            "sandbar_session=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 401, "a forged session");

    // A wrong token gets the form again and no cookie.
    let r = http
        .post(format!("{url}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("token={}", "wrong-token-0123456789abcdef"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().unwrap().contains("That token was refused"));

    // A rebinding Host is refused before the form is even looked at.
    let r = http
        .post(format!("{url}/login"))
        .header("Host", "attacker.example")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("token={}", TOKEN))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);

    // The right token: a session cookie that is not the token and that
    // scripts and other sites cannot use.
    let r = http
        .post(format!("{url}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("token={}", TOKEN))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/dashboard");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(!set.contains(TOKEN), "the cookie is not the token: {set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let with = |r: reqwest::blocking::RequestBuilder| r.header("Cookie", &cookie);
    assert_eq!(
        with(http.get(format!("{url}/dashboard")))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        with(http.get(format!("{url}/deployments")))
            .send()
            .unwrap()
            .status(),
        200
    );

    // An event stream with the session: the first update names the deployment.
    let mut events = with(http.get(format!("{url}/dashboard/events?deployment=c")))
        .send()
        .unwrap();
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut first = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&first).contains("\n\n") {
        let n = events.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended");
        first.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&first);
    assert!(text.starts_with("event: update\ndata: "), "{text}");
    let update: serde_json::Value =
        serde_json::from_str(text.lines().nth(1).unwrap().trim_start_matches("data: ")).unwrap();
    assert_eq!(update["overview"][0]["name"], "c");
    assert_eq!(update["detail"]["name"], "c");

    // Changing anything with the cookie needs a request from this listener's own page.
    let pause = |origin: Option<&str>| {
        let mut r = with(http.post(format!("{url}/deployments/c/pause")))
            .header("Content-Type", "application/json")
            .body("{\"reason\": \"from a page\"}");
        if let Some(o) = origin {
            r = r.header("Origin", o);
        }
        r.send().unwrap().status()
    };
    assert_eq!(pause(None), 403, "no Origin");
    assert_eq!(pause(Some("http://attacker.example")), 403, "another site");
    assert_eq!(pause(Some("null")), 403, "a sandboxed frame");
    assert_eq!(
        pause(Some("https://attacker.example")),
        403,
        "another site over TLS"
    );
    assert_eq!(
        pause(Some(&format!("http://{host}.attacker.example"))),
        403,
        "a look-alike"
    );
    assert!(f.status("c")["paused"].is_null(), "nothing was paused");
    assert_eq!(
        pause(Some(&format!("http://{host}"))),
        200,
        "the dashboard itself"
    );
    f.wait("c", "paused", |s| !s["paused"].is_null());

    // Signing out ends the session for good.
    let r = with(http.post(format!("{url}/logout")))
        .header("Origin", format!("http://{host}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        with(http.get(format!("{url}/deployments")))
            .send()
            .unwrap()
            .status(),
        401
    );

    // An open event stream does not keep the service from shutting down.
    let status = f.terminate();
    assert!(status.success(), "serve exited with {status}");
    drop(events);
}
