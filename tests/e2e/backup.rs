//! Backups (issue 26, item 7), as a drill: a PAPER deployment is backed up
//! while it trades, the machine is lost (`kill -9`, its data left behind),
//! the backup is restored into another data directory and the service
//! started on it: the deployment recovers and ends with exactly the books
//! and the journal of a run that was never interrupted.

use crate::recovery::{binance, config_on, deployed, ends_alike};
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
    // A name is a directory under backups/, never a path.
    let escape = drill.cmd(&["backup", "--server", &url, "--name", "../escape"]);
    assert!(!escape.status.success());
    assert!(stderr(&escape).contains("name"), "{}", stderr(&escape));
    assert!(!drill.dir.path().join("escape").exists());
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

    // The same books and journal as the run never interrupted.
    let b = ends_alike(&mut calm, &mut elsewhere, BARS as u64);
    assert_eq!(
        b[..backed_up.len()],
        backed_up[..],
        "the backup is a prefix of the run"
    );
    assert!(
        of_kind(&b, "order").len() > orders_then,
        "it traded on after the restore"
    );
}
