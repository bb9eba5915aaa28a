#!/usr/bin/env python3
"""Sabotage run: break the code the way each named test says it guards
against, and require that test to fail.

Each entry below is one documented mutation: a file, an exact text in it, what
replaces it, and the test (cargo package, test binary, filter) that must fail
once it is applied. The file is restored after every entry, whatever happens.
A mutation whose text is no longer in its file is reported as stale, never
skipped. The script refuses to touch a file with uncommitted changes.

Run from the repository root: python3 tests/sabotage/sabotage.py [name ...]
It rebuilds after every mutation (the guest SDK's ones rebuild every plugin),
so it takes minutes per entry. It is run by hand before a release, not by
`.ci/run` on every submission; docs/testing.md records its last run.
"""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (name, file, exact text, replacement, [cargo test arguments]) — the test must fail.
MUTATIONS = [
    (
        "trailing-stops-are-re-placed-by-the-host-where-the-venue-trails",
        "host/src/execution/live/mod.rs",
        "                .is_some_and(|n| n.allows(side, quantity, trail, listed))",
        "                .is_some_and(|n| n.allows(side, quantity, trail, listed) && false)",
        ["-p", "sandbar", "--test", "e2e", "trailing::"],
    ),
    (
        "a-trailing-stop-the-venue-refused-is-offered-to-it-again",
        "host/src/execution/live/mod.rs",
        "                *n = NativeTrail::default();",
        "                let _ = n;",
        ["-p", "sandbar", "--lib", "execution::live::tests::a_trailing_stop_the_venue_rejects"],
    ),
    (
        "a-venues-trail-is-handed-over-below-its-best",
        "host/src/engine/protection.rs",
        "                            _ if direction * (close - t.best) >= 0.0",
        "                            _ if direction * (close - t.best) >= f64::NEG_INFINITY",
        ["-p", "sandbar", "--lib", "engine::protection::tests"],
    ),
    (
        "a-binance-trail-ignores-the-trailing-delta-filter",
        "host/src/execution/live/connector.rs",
        "                on_step(f, step) && f >= min - 1e-12 && f <= max + 1e-12",
        "                on_step(f, step)",
        ["-p", "sandbar", "--lib", "execution::live::connector::tests"],
    ),
    (
        "a-flatten-goes-out-whole-above-the-largest-market-order",
        "host/src/engine/orders.rs",
        "        let parts = match self.venue.largest_market(order.symbol) {",
        "        let parts = match self.venue.largest_market(order.symbol).filter(|_| false) {",
        ["-p", "sandbar", "--test", "e2e", "venue_rules::a_flatten_larger_than"],
    ),
    (
        "an-alpaca-stop-leg-is-forgotten-at-a-restart",
        "host/src/execution/live/courier.rs",
        "            self.connector.remember(p);",
        "            let _ = p;",
        ["-p", "sandbar", "--test", "e2e", "live::alpaca::a_positions_stop_and_take_profit_rest_as_one_oco_at_alpaca"],
    ),
    (
        "a-fractional-target-is-listed-at-alpaca",
        "host/src/execution/live/protective.rs",
        "if !self.fractional_lists && self.orders[&s].order.quantity.fract() != 0.0 {",
        "if !self.fractional_lists && self.orders[&s].order.quantity.fract() != 0.0 && false {",
        ["-p", "sandbar", "--lib", "execution::live::tests::where_lists_are_whole"],
    ),
    (
        "alpaca-take-profits-stay-in-the-host",
        "host/src/adapters/alpaca/connector.rs",
        """    fn holds_targets(&self) -> bool {
        self.config.stops_at_venue""",
        """    fn holds_targets(&self) -> bool {
        false""",
        ["-p", "sandbar", "--test", "e2e", "live::alpaca::a_positions_stop_and_take_profit_rest_as_one_oco_at_alpaca"],
    ),
    (
        "the-paper-drawdown-never-binds",
        "host/src/lifecycle/gates.rs",
        "|v| v <= g.max_paper_drawdown,",
        "|v| v <= g.max_paper_drawdown || true,",
        ["-p", "sandbar", "--lib", "lifecycle::tests::the_references_paper_criteria"],
    ),
    (
        "strategy-errors-are-counted-one-at-a-time",
        "host/src/service/recorder.rs",
        "let n = errors.count(now_ms, monitor::ERROR_WINDOW_MS) as f64;",
        "let n = { let _ = errors.count(now_ms, monitor::ERROR_WINDOW_MS); 1.0_f64 };",
        ["-p", "sandbar", "--lib", "service::recorder::tests::repeated_strategy_errors"],
    ),
    (
        "a-paper-deployment-ignores-its-paper-venue",
        "host/src/service/plan.rs",
        "            .and_then(|c| c.paper_venue.clone()));",
        "            .and_then(|c| c.paper_venue.clone().filter(|_| false)));",
        ["-p", "sandbar", "--test", "e2e", "live::alpaca::a_paper_deployment_on_alpacas"],
    ),
    (
        "a-bar-outside-the-session-trades",
        "host/src/engine/orders.rs",
        ".is_some_and(|s| !s.decides(bar.time_ms))",
        ".is_some_and(|s| !s.decides(bar.time_ms) && false)",
        ["-p", "sandbar", "--test", "invariants", "sessions::a_us_equity_run"],
    ),
    (
        "the-simulated-venue-fills-after-hours",
        "host/src/execution/simulated.rs",
        "self.session.as_ref().is_none_or(|s| s.fills(bar.time_ms))",
        "self.session.as_ref().is_none_or(|s| s.fills(bar.time_ms) || true)",
        ["-p", "sandbar", "--test", "invariants", "sessions::a_stop_crossed_after_hours"],
    ),
    (
        "the-risk-day-is-utcs-in-a-session",
        "host/src/engine/controls.rs",
        "            Some(s) => s.day(bar.time_ms),",
        "            Some(_) => bar.time_ms.div_euclid(86_400_000),",
        ["-p", "sandbar", "--test", "invariants", "sessions::orders_per_day"],
    ),
    (
        "a-service-deployment-ignores-its-session",
        "host/src/service/start.rs",
        "        if let Some(s) = session {\n            engine.set_session(s);",
        "        if let Some(s) = session.filter(|_| false) {\n            engine.set_session(s);",
        ["-p", "sandbar", "--test", "e2e", "live::alpaca::a_us_equity_deployment"],
    ),
    (
        "a-refused-flatten-is-not-alerted",
        "host/src/service/recorder.rs",
        "exits.insert(order.id, what);",
        "let _ = what;",
        ["-p", "sandbar", "--lib", "service::recorder::tests::a_flatten_or_a_stop"],
    ),
    (
        "an-idle-deployment-is-never-told",
        "host/src/service/recorder.rs",
        "if let Some(quiet) = self.quiet.silent_for(bar.time_ms, limit)",
        "if let Some(quiet) = None::<i64>.filter(|_| self.quiet.silent_for(bar.time_ms, limit).is_some())",
        ["-p", "sandbar", "--test", "e2e", "alerts::a_deployment_without_a_fill_for_idle_hours"],
    ),
    (
        "venue-errors-are-counted-one-at-a-time",
        "host/src/service/venue_health.rs",
        "let n = s.errors.count(now_ms, monitor::ERROR_WINDOW_MS) as f64;",
        "let n = { let _ = s.errors.count(now_ms, monitor::ERROR_WINDOW_MS); 1.0_f64 };",
        ["-p", "sandbar", "--test", "e2e", "venue_rules::repeated_venue_errors"],
    ),
    (
        "a-damaged-backup-is-restored",
        "host/src/store/backup.rs",
        "    let manifest = verify(from)?;\n    let journals = data_dir.join(\"journals\");",
        "    let manifest: Manifest = serde_json::from_slice(&std::fs::read(from.join(MANIFEST)).unwrap()).unwrap();\n    let journals = data_dir.join(\"journals\");",
        ["-p", "sandbar", "--lib", "store::backup::tests::a_damaged_backup_is_refused"],
    ),
    (
        "a-re-executed-bar-is-measured-by-this-machine",
        "host/src/engine/mod.rs",
        "        self.versions.serving().set_budget(budget);\n        let r = self",
        "        let _ = budget;\n        let r = self",
        ["-p", "sandbar", "--test", "invariants", "re_execution::"],
    ),
    (
        "a-decision-after-a-fault-is-not-journaled",
        "host/src/engine/after_fault.rs",
        "        self.record(Entry::Command {\n            seq,\n            action: crate::store::journal::CommandAction::AfterFault {",
        "        Ok::<_, JournalError>(Entry::Command {\n            seq,\n            action: crate::store::journal::CommandAction::AfterFault {",
        ["-p", "sandbar", "--test", "e2e", "after_fault::a_faulted_deployment_goes_on"],
    ),
    (
        "skip-delivers-the-faulting-bar-anyway",
        "host/src/engine/after_fault.rs",
        "let skip = label == self.versions.label();",
        "let skip = false;",
        ["-p", "sandbar", "--test", "e2e", "after_fault::a_faulted_deployment_goes_on"],
    ),
    (
        "a-plugin-named-in-a-comment-counts-as-run",
        "host/src/sandbox/runtime/instance.rs",
        "super::trace::first_bar(&self.hash, &label);",
        "let _ = label;",
        ["-p", "sandbar", "--test", "e2e", "sandbox::a_plugin_run_is_recorded_by_its_hash"],
    ),
    (
        "old-bars-are-traded-on",
        "host/src/service/controller.rs",
        "out.extend(self.warm_up_old_bars(status));",
        "let _ = self.warm_up_old_bars(status);",
        ["-p", "sandbar", "--test", "e2e", "freshness::old_bars_from_a_backlog"],
    ),
    (
        "a-burst-of-refusals-is-never-counted",
        "host/src/service/recorder.rs",
        "let n = refused.count(*seq, monitor::REFUSAL_WINDOW_BARS) as f64;",
        "let n = { let _ = (&refused, seq); 0.0_f64 };",
        ["-p", "sandbar", "--test", "e2e", "alerts::a_burst_of_refusals_is_alerted_once"],
    ),
    (
        "slack-gets-the-whole-alert",
        "host/src/service/monitor/channel/webhook.rs",
        'Format::Slack => serde_json::json!({"text": cut_to(&alert.message, SLACK_MAX_CHARS)}),',
        "Format::Slack => serde_json::to_value(alert).unwrap_or_default(),",
        ["-p", "sandbar", "--lib", "slack_and_discord_get_the_message_alone"],
    ),
    (
        "exits-count-against-the-daily-order-limit",
        "guest-sdk/src/risk.rs",
        "if !reduces && self.orders_today >= c.max_orders_per_day {",
        "if self.orders_today >= c.max_orders_per_day {",
        ["-p", "sandbar-sdk", "--lib", "an_order_that_only_reduces_exposure_is_never_refused"],
    ),
    (
        "the-sharpe-alarm-never-sees-a-close",
        "host/src/service/controller.rs",
        "self.daily_closes.push((day, equity));",
        "let _ = (day, equity);",
        ["-p", "sandbar", "--test", "e2e", "alerts::a_paper_sharpe_far_from_the_backtests"],
    ),
    (
        "the-cpu-budget-counts-the-wall-clock",
        "host/src/sandbox/runtime/limits.rs",
        "match cpu_time::ThreadTime::try_now() {",
        "match Err::<cpu_time::ThreadTime, ()>(()) {",
        ["-p", "sandbar", "--test", "e2e", "sandbox::a_busy_but_healthy_plugin_is_not_faulted"],
    ),
    (
        "the-python-sma-drifts-from-the-rust-one",
        "guest-sdk/python/sandbar/indicators.py",
        "        self.sum += x\n",
        "        self.sum += x * 1.0001\n",
        ["-p", "sandbar", "--test", "e2e", "python::sma_cross_in_python_writes_the_rust_journal"],
    ),
    (
        "the-python-harness-sends-a-level-from-the-entry-as-a-price",
        "guest-sdk/python/sandbar/testing.py",
        'kind = "from-entry" if isinstance(level, c.FromEntry) else "price"',
        'kind = "price"',
        ["-p", "sandbar", "--test", "e2e", "python_harness::donchian_breakout"],
    ),
    (
        "a-python-snapshot-loses-its-indicators",
        "guest-sdk/python/sandbar/state.py",
        'obj.__dict__.update(_rich(value["fields"]))',
        'obj.__dict__.update(value["fields"])',
        ["-p", "sandbar", "--test", "e2e", "python::the_python_sdk_passes_its_own_unit_tests"],
    ),
    (
        "the-python-bridge-trails-by-the-wrong-kind",
        "guest-sdk/python/sandbar/_component.py",
        "    if isinstance(t, Distance):\n        return wprot.Trail_Distance(t.value)",
        "    if isinstance(t, Fraction):\n        return wprot.Trail_Distance(t.value)",
        ["-p", "sandbar", "--test", "e2e", "python::every_change_to_protection_crosses"],
    ),
    (
        "a-nan-reconcile-tolerance-is-accepted",
        "host/src/service/config.rs",
        '            v.reconcile()\n                .check()\n                .map_err(|e| anyhow::anyhow!("venues.{name}.reconcile.{e}"))?;\n',
        "",
        ["-p", "sandbar", "--test", "invariants", "inputs::no_key_of_the_example_config"],
    ),
    (
        "a-misspelt-hardening-option-in-the-systemd-unit",
        "host/dist/sandbar.service",
        "ProtectSystem=strict",
        "ProtectSytem=strict",
        ["-p", "sandbar", "--test", "e2e", "operations::the_systemd_unit_passes"],
    ),
    (
        "the-api-serves-more-connections-than-its-cap",
        "host/src/service/api/listen.rs",
        "tokio::sync::Semaphore::new(MAX_CONNECTIONS)",
        "tokio::sync::Semaphore::new(MAX_CONNECTIONS * 4)",
        ["-p", "sandbar", "--test", "e2e", "api::connections_beyond_the_cap_wait_until_one_closes"],
    ),
    (
        "an-intent-that-only-moves-the-stop-escapes-the-risk-per-trade",
        "host/src/engine/orders.rs",
        "        if let Some(r) = self.risk.stop_risk(pos, price, stop, equity) {",
        "        if let Some(r) = self.risk.stop_risk(pos, price, stop, equity).filter(|_| false) {",
        ["-p", "sandbar", "--test", "e2e", "risk::max_risk_per_trade_weighs_the_loss_at_the_stop"],
    ),
    (
        "a-python-exception-is-only-journaled",
        "guest-sdk/python/sandbar/_component.py",
        '    whost.log(w.Level.ERROR, "panic: " + _described(e))\n    os.abort()',
        '    raise _error(e)',
        ["-p", "sandbar", "--test", "e2e", "python::a_python_exception_is_a_fault_with_its_traceback"],
    ),
]


def dirty(path: Path) -> bool:
    out = subprocess.run(["git", "status", "--porcelain", "--", str(path)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return bool(out.stdout.strip())


def run(name, file, old, new, args) -> str:
    path = ROOT / file
    original = path.read_text()
    if original.count(old) != 1:
        return f"STALE ({file} holds the text {original.count(old)} times, not once)"
    if dirty(path):
        return f"REFUSED ({file} has uncommitted changes)"
    try:
        path.write_text(original.replace(old, new))
        started = time.time()
        test = subprocess.run(["cargo", "test", *args], cwd=ROOT, capture_output=True, text=True)
        took = time.time() - started
        log = test.stdout + test.stderr
        if test.returncode == 0:
            return f"NOT CAUGHT ({took:.0f} s): the test passed with the code broken"
        if "could not compile" in log or "error[E" in log:
            return f"BROKEN ({took:.0f} s): the mutation does not compile"
        if "test result: FAILED" not in log:
            return f"NOT CAUGHT ({took:.0f} s): cargo failed without a failing test"
        return f"caught ({took:.0f} s)"
    finally:
        path.write_text(original)


def main() -> int:
    wanted = set(sys.argv[1:])
    failures = 0
    for name, file, old, new, args in MUTATIONS:
        if wanted and name not in wanted:
            continue
        verdict = run(name, file, old, new, args)
        print(f"{name}: {verdict}", flush=True)
        failures += not verdict.startswith("caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
