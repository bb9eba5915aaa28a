//! Accounts: several deployments trading one pot of capital. The service
//! moves cash between them on a schedule (journaled as commands, so each
//! journal still re-executes alone), and the account's own limits bound
//! them together. Checked against a hand computation from the journals and
//! the recorded bars.

use std::collections::BTreeMap;
use std::path::Path;

use crate::service::Fixture;
use crate::util::*;

/// Per deployment: its fills `(seq, signed quantity, price, commission)`
/// and the account's moves `(seq, amount, as-of day)`.
struct Books {
    fills: Vec<(u64, f64, f64, f64)>,
    moves: Vec<(u64, f64, i64)>,
}

fn books(entries: &[serde_json::Value]) -> Books {
    let fills = of_kind(entries, "fill")
        .iter()
        .map(|f| {
            let q = f["fill"]["quantity"].as_f64().unwrap();
            (
                f["seq"].as_u64().unwrap(),
                if f["fill"]["side"] == "buy" { q } else { -q },
                f["fill"]["price"].as_f64().unwrap(),
                f["fill"]["commission"].as_f64().unwrap(),
            )
        })
        .collect();
    let moves = of_kind(entries, "command")
        .iter()
        .filter_map(|c| {
            let a = c["action"].get("allocate")?;
            Some((
                c["seq"].as_u64().unwrap(),
                a["amount"].as_f64().unwrap(),
                a["as_of_ms"].as_i64().unwrap().div_euclid(DAY),
            ))
        })
        .collect();
    Books { fills, moves }
}

/// Equity after every bar (one symbol), by hand: moves before the bar's
/// fills, fills, then the close marks the position.
fn equity_curve(b: &Books, initial: f64, closes: &[f64]) -> Vec<f64> {
    let (mut cash, mut qty) = (initial, 0.0);
    closes
        .iter()
        .enumerate()
        .map(|(seq, close)| {
            let seq = seq as u64;
            cash += b
                .moves
                .iter()
                .filter(|m| m.0 == seq)
                .map(|m| m.1)
                .sum::<f64>();
            for (_, q, p, c) in b.fills.iter().filter(|f| f.0 == seq) {
                cash -= q * p + c;
                qty += q;
            }
            cash + qty * close
        })
        .collect()
}

fn sample_sd(r: &[f64]) -> f64 {
    let n = r.len() as f64;
    let mean = r.iter().sum::<f64>() / n;
    (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// The GOOG daily recording as `GOOG.csv` in `dir`: (path, day index of
/// each bar, closes).
fn goog(dir: &Path) -> (std::path::PathBuf, Vec<i64>, Vec<f64>) {
    let text = std::fs::read_to_string(plugins::shared_data("goog-daily-2004-2013.csv")).unwrap();
    let path = dir.join("GOOG.csv");
    std::fs::write(&path, &text).unwrap();
    let (mut days, mut closes) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let date = chrono_day(cols[0]);
        days.push(date);
        closes.push(cols[4].parse().unwrap());
    }
    (path, days, closes)
}

/// Days since 1970-01-01 of `YYYY-MM-DD` (civil-from-days inverse).
fn chrono_day(date: &str) -> i64 {
    let p: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (y, m, d) = (p[0] - (p[1] <= 2) as i64, p[1], p[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[test]
fn three_strategies_share_an_account_by_risk_parity_and_every_rebalance_matches_a_hand_computation()
{
    let mut f = Fixture::new();
    for p in [
        plugins::SMA_CROSS,
        plugins::DONCHIAN_BREAKOUT,
        plugins::RSI_REVERSION,
    ] {
        f.ok(&["plugin", "add", p]);
    }
    let wide = ["--risk", "max_drawdown=1", "--risk", "daily_loss_limit=1"];
    let mut sma = vec!["--param", "fast=10", "--param", "slow=30"];
    sma.extend(wide);
    f.paper("sma", "sma-cross@0.1.0", &sma);
    f.paper("donchian", "donchian-breakout@0.1.0", &wide);
    f.paper("rsi", "rsi-reversion@0.1.0", &wide);
    let (data, days, closes) = goog(f.dir.path());
    let n = closes.len();
    let mut deployments = String::new();
    for name in ["sma", "donchian", "rsi"] {
        deployments.push_str(&format!(
            "[[deployments]]\nname = \"{name}\"\nfeed = \"rec\"\nsymbols = [\"GOOG\"]\ninterval = \"1d\"\nstart = \"2004-08-19\"\naccount = \"main\"\n"
        ));
    }
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{data:?}]\ninterval = \"1d\"\nbars_per_second = 400\n\
             [accounts.main]\ncapital = 300000\nallocation = \"risk-parity\"\nlookback_days = 20\nrebalance_days = 7\ndaily_loss_limit = 1\n\
             {deployments}"
        ),
        "pause_drawdown = 1\n",
    );
    f.serve(&config);
    for name in ["sma", "donchian", "rsi"] {
        let s = f.wait(name, "the whole recording", |s| {
            s["seq"].as_u64() >= Some(n as u64)
        });
        assert_eq!(s["account"]["name"], "main", "{s}");
        assert_eq!(s["account"]["allocation"], "risk-parity", "{s}");
    }
    assert!(f.terminate().success());
    let journals = f.dir.path().join("journals");
    let all: BTreeMap<&str, (Vec<serde_json::Value>, Books)> = ["donchian", "rsi", "sma"]
        .into_iter()
        .map(|name| {
            let e = journal_entries(&journals.join(format!("{name}.redb")));
            let b = books(&e);
            (name, (e, b))
        })
        .collect();
    // Every rebalance the journals name (by as-of day) is on a Monday.
    let mut journaled: Vec<i64> = all
        .values()
        .flat_map(|(_, b)| b.moves.iter().map(|m| m.2))
        .collect();
    journaled.sort();
    journaled.dedup();
    assert!(journaled.iter().all(|d| (d + 3) % 7 == 0), "Mondays");
    // Due: the Monday starting every week that has a bar, after the first.
    let mut due: Vec<i64> = days.iter().map(|d| d - (d + 3).rem_euclid(7)).collect();
    due.dedup();
    due.remove(0);
    let curves: BTreeMap<&str, Vec<f64>> = all
        .iter()
        .map(|(n, (_, b))| (*n, equity_curve(b, 100_000.0, &closes)))
        .collect();
    let day_of = |seq: u64| days[seq as usize];
    // Every move landed on the first bar of its week, in each deployment
    // whichever ran ahead (the account holds the faster ones there until
    // the rebalance is decided): sized from the last close, it is applied
    // to that same equity.
    for (name, (_, b)) in &all {
        for &(seq, amount, as_of) in &b.moves {
            let first_bar = days.iter().position(|&d| d >= as_of).unwrap();
            assert_eq!(
                seq as usize, first_bar,
                "{name}'s move of {amount} for day {as_of} landed at bar {seq}"
            );
        }
    }
    let mut weighed = 0;
    for &first in &due {
        // By hand: each deployment's daily returns before the rebalance's
        // day, with the capital moved counted at the day it came in.
        let mut inverse_vol = BTreeMap::new();
        let mut held = BTreeMap::new();
        for (name, (_, b)) in &all {
            let curve = &curves[name];
            let (mut prev, mut r) = (100_000.0, Vec::new());
            let before: Vec<usize> = (0..n).filter(|&i| days[i] < first).collect();
            for &i in &before {
                let moved: f64 = b
                    .moves
                    .iter()
                    .filter(|m| day_of(m.0) == days[i])
                    .map(|m| m.1)
                    .sum();
                let base = prev + moved;
                r.push(if base > 0.0 {
                    (curve[i] - base) / base
                } else {
                    0.0
                });
                prev = curve[i];
            }
            let last = *before.last().unwrap();
            // Its last close before, plus moves of earlier rebalances since.
            let since: f64 = b
                .moves
                .iter()
                .filter(|m| day_of(m.0) >= first && m.2 < first)
                .map(|m| m.1)
                .sum();
            let tail = &r[r.len().saturating_sub(20)..];
            let sd = sample_sd(tail);
            // Returns that never moved (not traded yet): not weighed.
            if r.len() >= 2 && sd > 1e-12 {
                held.insert(*name, curve[last] + since);
                inverse_vol.insert(*name, 1.0 / sd);
            }
        }
        if held.is_empty() {
            // Nobody has risk to weigh by: the rebalance is skipped.
            assert!(
                !journaled.contains(&first),
                "day {first}: moved with nothing to weigh"
            );
            continue;
        }
        let equity: f64 = held.values().sum();
        // One alone to weigh holds all it has: nothing moves.
        if held.len() > 1 {
            weighed += 1;
        }
        let total: f64 = inverse_vol.values().sum();
        for (name, (_, b)) in &all {
            let want = match inverse_vol.get(name) {
                Some(iv) => iv / total * equity - held[name],
                None => 0.0,
            };
            let got: f64 = b.moves.iter().filter(|m| m.2 == first).map(|m| m.1).sum();
            assert!(
                (got - want).abs() < 1e-9 * equity,
                "rebalance of day {first}: {name} moved {got}, by hand {want}"
            );
        }
    }
    // Weeks in which some strategy held risk (sma-cross, Donchian and RSI
    // on GOOG trade rarely), every one of them rebalanced.
    assert!(weighed > 30, "{weighed} rebalances");
    assert_eq!(
        journaled.len(),
        weighed,
        "one rebalance per week that had one due"
    );
    // Money was only moved between them.
    let net_moves: f64 = all
        .values()
        .flat_map(|(_, b)| b.moves.iter().map(|m| m.1))
        .sum();
    assert!(net_moves.abs() < 1e-3, "net moved {net_moves}");
    // A smaller allocation means smaller positions, never leverage: what
    // capital left was followed by orders cutting positions back to the
    // limits, and no deployment's equity ever went below zero.
    let trims: usize = all
        .values()
        .map(|(e, _)| {
            of_kind(e, "order")
                .iter()
                .filter(|o| o["order"]["origin"] == "rebalance")
                .count()
        })
        .sum();
    assert!(trims > 0, "no position was cut back");
    for (name, c) in &curves {
        let low = c.iter().cloned().fold(f64::INFINITY, f64::min);
        assert!(low > 0.0, "{name}'s equity fell to {low}");
    }
    // Moves are audited in each deployment's history under the account.
    let h = f.ok(&["deploy", "show", "sma"]);
    assert!(h.contains("account:main") && h.contains("allocate"), "{h}");
}

/// `n` hourly bars, each at the price `at(hour)` (open = close: gaps only).
fn hourly(dir: &Path, name: &str, n: usize, at: impl Fn(usize) -> f64) -> std::path::PathBuf {
    let bars: Vec<_> = (0..n)
        .map(|i| {
            let p = at(i);
            (p, p, p, p)
        })
        .collect();
    bars_csv(dir, name, 3_600_000, &bars)
}

#[test]
fn fixed_fractions_move_capital_without_tripping_limits_and_an_account_day_loss_stops_new_risk_everywhere()
 {
    fixed_scenario(&[]);
}

#[test]
fn killed_between_rebalances_and_after_the_loss_the_account_comes_back_with_the_same_moves() {
    // SIGKILL once `a` is past the first move (bar 60), once `b` is past
    // the account's loss (bar 88): every journal re-executes, the book is
    // rebuilt from them, and the moves and limits come out as without a kill.
    fixed_scenario(&[("a", 60), ("b", 88)]);
}

/// The fixed-fraction scenario, killed (SIGKILL, then served again) once
/// each named deployment is past each bar.
fn fixed_scenario(kills: &[(&str, u64)]) {
    let mut f = Fixture::new();
    f.ok(&["plugin", "add", plugins::SCRIPTED]);
    // a: half its capital in A; b: a quarter in B, more asked late on day 3
    // and again on day 4; c: 90% in B, more than the account allows.
    f.paper("a", "scripted@0.1.0", &["--param", "script=0 weight 0 0.5"]);
    f.paper(
        "b",
        "scripted@0.1.0",
        &[
            "--param",
            "script=0 weight 0 0.25; 95 weight 0 0.5; 100 weight 0 0.5",
        ],
    );
    f.paper("c", "scripted@0.1.0", &["--param", "script=0 weight 0 0.9"]);
    // A: 100 on day 0, 160 from day 1 to the middle of day 3, then 100. B: 100.
    let a = hourly(f.dir.path(), "A.csv", 120, |h| match h {
        0..24 => 100.0,
        24..84 => 160.0,
        _ => 100.0,
    });
    let b = hourly(f.dir.path(), "B.csv", 120, |_| 100.0);
    let mut deployments = String::new();
    for (name, symbol) in [("a", "A"), ("b", "B"), ("c", "B")] {
        deployments.push_str(&format!(
            "[[deployments]]\nname = \"{name}\"\nfeed = \"rec\"\nsymbols = [\"{symbol}\"]\ninterval = \"1h\"\nstart = \"2024-01-01\"\naccount = \"main\"\n"
        ));
    }
    let config = f.config(
        &format!(
            "[feeds.rec]\nkind = \"recorded\"\nfiles = [{a:?}, {b:?}]\ninterval = \"1h\"\nbars_per_second = 40\n\
             [accounts.main]\ncapital = 100000\nallocation = \"fixed\"\nfractions = {{ a = 0.4, b = 0.4, c = 0.2 }}\nrebalance_days = 1\nmax_gross_exposure = 0.5\ndaily_loss_limit = 0.03\n\
             {deployments}"
        ),
        "",
    );
    f.serve(&config);
    for (name, seq) in kills {
        f.wait(name, "the bar to kill at", |s| {
            s["seq"].as_u64() >= Some(*seq)
        });
        f.stop_serving(); // SIGKILL
        f.serve(&config);
    }
    for name in ["a", "b", "c"] {
        f.wait(name, "the whole recording", |s| {
            s["seq"].as_u64() >= Some(120)
        });
    }
    let s = f.status("b");
    assert_eq!(s["account"]["allocation"], "fixed", "{s}");
    assert!(
        (s["account"]["weight"].as_f64().unwrap() - 0.4).abs() < 1e-12,
        "{s}"
    );
    assert!(f.terminate().success());
    // Where each kill landed, from the restarts' notes: before the end of
    // the recording (a kill after the last bar would re-execute a finished
    // run and prove nothing of a move or a limit in between), and at most a
    // second of bars (40, the feed's pace) before the bar asked for — a
    // paper journal commits bars that changed nothing durable at least once
    // a second, and the feed delivers the lost ones again.
    for (k, (name, seq)) in kills.iter().enumerate() {
        let show = f.ok(&["deploy", "show", name]);
        let recovered: Vec<u64> = show
            .split("recovering ")
            .skip(1)
            .filter_map(|t| t.split_whitespace().next()?.parse().ok())
            .collect();
        assert_eq!(
            recovered.len(),
            kills.len(),
            "one recovery per kill: {show}"
        );
        assert!(
            (seq.saturating_sub(40)..120).contains(&recovered[k]),
            "the kill of {name} landed at journaled bar {}, not between {} and the end",
            recovered[k],
            seq.saturating_sub(40),
        );
    }
    let journals = f.dir.path().join("journals");
    let e: BTreeMap<&str, Vec<serde_json::Value>> = ["a", "b", "c"]
        .into_iter()
        .map(|n| (n, journal_entries(&journals.join(format!("{n}.redb")))))
        .collect();
    let moves = |n: &str| -> Vec<(i64, f64)> {
        books(&e[n])
            .moves
            .iter()
            .map(|m| (m.2 - 19_723, m.1))
            .collect()
    };
    // By hand. Day 1 closes: a 40,000 + 200 × (160 − 100) = 52,000, b 40,000,
    // c 20,000: 112,000 → 40/40/20% = 44,800, 44,800, 22,400. Day 2: no
    // change. Day 3 closes: a lost 140 × 60 (after its cut, below) and was
    // flattened: 36,400, b 44,800, c 22,400 → 103,600 → 41,440, 41,440, 20,720.
    let close = |got: &[(i64, f64)], want: &[(i64, f64)]| {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                g.0 == w.0 && (g.1 - w.1).abs() < 1e-6,
                "{got:?} vs {want:?}"
            );
        }
    };
    // Each move landed on its day's first bar (24 hourly bars a day), in
    // every deployment whichever ran ahead: the account holds the faster
    // ones there until the rebalance is decided.
    for n in ["a", "b", "c"] {
        for (seq, amount, day) in books(&e[n]).moves {
            assert_eq!(
                seq as i64,
                (day - 19_723) * 24,
                "{n}'s move of {amount} for day {day} landed at bar {seq}"
            );
        }
    }
    close(&moves("a"), &[(2, -7_200.0), (4, 5_040.0)]);
    close(&moves("b"), &[(2, 4_800.0), (4, -3_360.0)]);
    close(&moves("c"), &[(2, 2_400.0), (4, -1_680.0)]);
    // a's withdrawal (13.8% of its equity) is not a loss: no risk state
    // changed, nothing paused, before A fell at bar 84; and its position was
    // cut to the account's gross cap of its new equity: 0.5 × 44,800 / 160
    // = 140 shares, so 60 sold.
    let before_fall = |n: &str, kind: &str| {
        of_kind(&e[n], kind)
            .iter()
            .filter(|x| x["seq"].as_u64().unwrap() < 84)
            .count()
    };
    assert_eq!(
        before_fall("a", "state"),
        0,
        "{:?}",
        of_kind(&e["a"], "state")
    );
    assert_eq!(before_fall("a", "paused"), 0);
    let cut: Vec<_> = of_kind(&e["a"], "order")
        .into_iter()
        .filter(|o| o["order"]["origin"] == "rebalance")
        .collect();
    assert_eq!(cut.len(), 1, "{cut:?}");
    assert_eq!(cut[0]["order"]["side"], "sell");
    assert!((cut[0]["order"]["quantity"].as_f64().unwrap() - 60.0).abs() < 1e-9);
    // c's 90% is refused by the account's gross cap (its own is 1.0).
    let refused = of_kind(&e["c"], "refusal");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["rule"], "max-gross-exposure");
    assert!(
        refused[0]["detail"]
            .as_str()
            .unwrap()
            .contains("0.50 × equity"),
        "{refused:?}"
    );
    // The fall at bar 84 costs the account 8,400 of 112,000 (7.5% ≥ 3%):
    // b goes REDUCING by the account's limit, its bar-95 order is refused;
    // the next day it is ACTIVE again and its bar-100 order passes.
    let states = of_kind(&e["b"], "state");
    assert!(
        states[0]["change"]["to"] == "REDUCING"
            && states[0]["change"]["reason"]
                .as_str()
                .unwrap()
                .contains("account `main` daily loss 7.50% reached its limit 3.00%"),
        "{states:?}"
    );
    assert_eq!(states[1]["change"]["to"], "ACTIVE");
    let refusals: Vec<_> = of_kind(&e["b"], "refusal")
        .iter()
        .map(|r| {
            (
                r["seq"].as_u64().unwrap(),
                r["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(refusals, vec![(95, "reducing-only".to_string())]);
    let late = of_kind(&e["b"], "order")
        .iter()
        .filter(|o| o["order"]["decided_seq"].as_u64() == Some(100))
        .count();
    assert_eq!(late, 1, "approved on the next day");
    // The limit is alerted and audited.
    let h = f.ok(&["deploy", "show", "c"]);
    assert!(h.contains("reduce") && h.contains("account:main"), "{h}");
}
