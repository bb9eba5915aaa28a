//! Backups (issue 26, item 7), as a drill: a PAPER deployment is backed up
//! while it trades, the machine is lost (`kill -9`, its data left behind),
//! the backup is restored into another data directory and the service
//! started on it: the deployment recovers and ends with exactly the books
//! and the journal of a run that was never interrupted.

use std::time::{Duration, Instant};

use crate::recovery::{binance, config_on, deployed, journal_of};
use crate::service::Fixture;
use crate::util::*;

#[test]
fn a_backup_taken_while_trading_restores_elsewhere_and_recovers_the_same_books() {
    const BARS: usize = 1500;
    const RATE: f64 = 80.0;
    // Two identical markets: one for the run never interrupted, one for the drill.
    let calm_market = binance(BARS, RATE);
    let drill_market = binance(BARS, RATE);
    let (mut calm, calm_config) = deployed(&calm_market);
    let (mut drill, drill_config) = deployed(&drill_market);
    calm.serve(&calm_config);
    drill.serve(&drill_config);
    drill.wait("d", "a few orders", |s| s["orders"].as_u64() >= Some(2));

    // A stopped service's copy is refused while the service holds the files.
    let busy = sandbar([
        "backup".as_ref(),
        "--registry".as_ref(),
        drill.registry().as_os_str(),
        "--to".as_ref(),
        drill.dir.path().join("direct").as_os_str(),
    ]);
    assert!(!busy.status.success());
    assert!(
        stderr(&busy).contains("is open in another process: back up through the service"),
        "{}",
        stderr(&busy)
    );
    assert!(
        !drill.dir.path().join("direct").exists(),
        "nothing half-written"
    );

    // Through the service, while it trades.
    let url = drill.url();
    let out = drill.ok(&["backup", "--server", &url, "--name", "drill"]);
    assert!(out.contains("each opened and checked"), "{out}");
    let taken = drill.dir.path().join("backups/drill");
    for file in ["registry.redb", "journals/d.redb"] {
        assert!(out.contains(file), "{file} is not in the backup: {out}");
    }
    let again = drill.cmd(&["backup", "--server", &url, "--name", "drill"]);
    assert!(!again.status.success(), "a name is used once");
    assert!(
        stderr(&again).contains("never overwrites"),
        "{}",
        stderr(&again)
    );
    // What the backup holds is the middle of the run, not its start or end.
    let backed_up = journal_entries(&taken.join("journals/d.redb"));
    let orders_then = of_kind(&backed_up, "order").len();
    assert!(orders_then >= 2, "{orders_then} orders in the backup");
    let bars_then = of_kind(&backed_up, "bars").len();
    assert!(bars_then < BARS, "the backup ends mid-run");

    // The machine is lost.
    drill.stop_serving();

    // Restored on another machine: a fresh data directory.
    let mut elsewhere = Fixture::new();
    let restored = sandbar([
        "restore".as_ref(),
        "--from".as_ref(),
        taken.as_os_str(),
        "--data-dir".as_ref(),
        elsewhere.dir.path().as_os_str(),
    ]);
    ok(&restored);
    let twice = sandbar([
        "restore".as_ref(),
        "--from".as_ref(),
        taken.as_os_str(),
        "--data-dir".as_ref(),
        elsewhere.dir.path().as_os_str(),
    ]);
    assert!(
        stderr(&twice).contains("never overwrites a database"),
        "{}",
        stderr(&twice)
    );
    let config = config_on(&elsewhere, &drill_market);
    elsewhere.serve(&config);

    let done = |s: &serde_json::Value| s["seq"].as_u64() == Some(BARS as u64);
    let deadline = Instant::now() + Duration::from_secs(120);
    let (calm_status, restored_status) = loop {
        let (a, b) = (calm.status("d"), elsewhere.status("d"));
        if done(&a) && done(&b) {
            break (a, b);
        }
        assert!(Instant::now() < deadline, "runs did not finish: {a} / {b}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(calm.terminate().success());
    assert!(elsewhere.terminate().success());
    for key in [
        "equity",
        "cash",
        "positions",
        "orders",
        "open_orders",
        "risk_state",
    ] {
        assert_eq!(calm_status[key], restored_status[key], "{key}");
    }
    let a = journal_entries(&journal_of(&calm));
    let b = journal_entries(&journal_of(&elsewhere));
    assert_eq!(a.len(), b.len(), "journal lengths");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "entry {i}");
    }
    assert_eq!(
        b[..backed_up.len()],
        backed_up[..],
        "the backup is a prefix of the run"
    );
    assert!(
        of_kind(&a, "order").len() > orders_then,
        "it traded on after the restore"
    );
}
