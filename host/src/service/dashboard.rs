//! The operator's dashboard: one page served by the service itself, on the
//! API's listener and behind its tokens, updated live over server-sent
//! events.
//!
//! Why it is built this way:
//! - **No second source of truth.** Each deployment keeps a [`Board`], fed
//!   by the same two taps the metrics use: every journal entry as the
//!   recorder writes it (fills, refusals, orders, cancels, state changes,
//!   swaps, rollbacks, pauses) and the engine's status after every bar
//!   (equity, positions). A restart re-executes the journal, which refills
//!   the board; nothing is stored twice.
//! - **Bounded.** The equity curve keeps at most [`CURVE_POINTS`] points (it
//!   halves its resolution when full, so a year of minute bars costs the
//!   same as a day); fills, refusals and marks keep the latest
//!   [`RECENT`]. A page update is a few tens of kilobytes whatever the age
//!   of the deployment.
//! - **A browser cannot send a bearer header on navigation or with
//!   `EventSource`**, so `/login` trades a valid token for a session cookie
//!   (`HttpOnly`, `SameSite=Strict`, random, kept only as a digest, expiring).
//!   A request authenticated by the cookie that changes anything must carry
//!   an `Origin` naming this listener: a page elsewhere cannot act with the
//!   operator's cookie (see [`super::api`]).
//! - **Offline.** uPlot (vendored with its MIT licence in
//!   `report/assets/uplot/`) and the page's own script are inlined: no CDN,
//!   no Node build step.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::data::market::format_time;
use crate::engine::Status;
use crate::execution::{Order, OrderKind};
use crate::risk::TradingState;
use crate::store::journal::{Entry, IntentAction};

/// Most points of a deployment's equity curve kept for the page.
pub const CURVE_POINTS: usize = 1024;
/// Most recent fills, refusals and version marks kept.
pub const RECENT: usize = 50;

/// A fill as the page lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FillRow {
    /// Bar time (RFC 3339).
    pub time: String,
    /// Symbol.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: &'static str,
    /// Quantity.
    pub quantity: f64,
    /// Price.
    pub price: f64,
    /// Commission.
    pub commission: f64,
    /// `strategy`, `stop-loss`, `take-profit`, `risk-flatten`.
    pub origin: &'static str,
}

/// An open position as the page lists it: marked at its symbol's last close.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PositionRow {
    /// Symbol.
    pub symbol: String,
    /// Quantity (negative: short).
    pub quantity: f64,
    /// Average entry price.
    pub average_price: f64,
    /// The symbol's last close.
    pub price: f64,
    /// Unrealised PnL at that price.
    pub unrealized: f64,
}

/// An intent (a signal) as the page lists it, beside the refusals: what
/// the strategy asked for, whatever the risk engine then made of it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IntentRow {
    /// Bar time it was decided on.
    pub time: String,
    /// Symbol.
    pub symbol: String,
    /// What it asked for (`weight 0.25`, `buy 2`, `limit sell 1 @ 105`, `close`).
    pub action: String,
    /// Its stop-loss and take-profit prices, when given.
    pub stop_loss: Option<f64>,
    pub take_profit: Option<f64>,
    /// The strategy's reason (cut to 256 bytes when journaled).
    pub reason: String,
}

fn action_text(a: &IntentAction) -> String {
    match a {
        IntentAction::TargetWeight(w) => format!("weight {w}"),
        IntentAction::TargetQuantity(q) => format!("quantity {q}"),
        IntentAction::Market { side: s, quantity } => format!("{} {quantity}", s.as_str()),
        IntentAction::Limit {
            side: s,
            quantity,
            price,
        } => format!("limit {} {quantity} @ {price}", s.as_str()),
        IntentAction::Close => "close".into(),
    }
}

/// Days of closes the rolling Sharpe ratio is taken over.
pub const ROLLING_DAYS: usize = 30;

/// A refusal as the page lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RefusalRow {
    /// Bar time of the refused intent.
    pub time: String,
    /// Symbol.
    pub symbol: String,
    /// Rule.
    pub rule: &'static str,
    /// The values compared.
    pub detail: String,
}

/// An open order as the page lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OrderRow {
    /// Order id.
    pub id: u64,
    /// Symbol.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: &'static str,
    /// Quantity still open.
    pub quantity: f64,
    /// `market`, `limit 101.5`, `stop-loss 95`, `take-profit 110`.
    pub kind: String,
    /// Who placed it.
    pub origin: &'static str,
}

/// Something that happened to the deployment, marked on its equity curve.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Mark {
    /// Bar time (UTC ms) it happened at (the last bar processed).
    pub time_ms: i64,
    /// `swap`, `rollback`, `pause`, `resume`, `state`, `fault`.
    pub kind: &'static str,
    /// One line: what, who, why.
    pub text: String,
}

/// One deployment's live picture.
#[derive(Debug)]
pub struct Board {
    symbols: Vec<String>,
    /// Bumped on every change; the event stream sends when it moves.
    version: u64,
    /// (bar time, equity), one point per `stride` bars.
    curve: Vec<(i64, f64)>,
    stride: u64,
    bars: u64,
    /// The latest point, whether or not the stride keeps it.
    last: Option<(i64, f64)>,
    peak: f64,
    day_start: f64,
    positions: Vec<PositionRow>,
    /// Round trips closed, won and lost.
    record: crate::portfolio::TradeRecord,
    open: BTreeMap<u64, OrderRow>,
    fills: VecDeque<FillRow>,
    fill_count: u64,
    refusals: VecDeque<RefusalRow>,
    refusal_count: u64,
    intents: VecDeque<IntentRow>,
    intent_count: u64,
    /// Equity at each UTC day's last bar: the last [`ROLLING_DAYS`] + 1
    /// (the rolling Sharpe ratio), today's changing until the day ends.
    closes: VecDeque<(i64, f64)>,
    marks: VecDeque<Mark>,
    /// Time of the last bar an entry or status spoke of.
    now_ms: i64,
}

fn kind(k: OrderKind) -> String {
    match k {
        OrderKind::Market => "market".into(),
        OrderKind::Limit(p) => format!("limit {p}"),
        OrderKind::StopLoss(p) => format!("stop-loss {p}"),
        OrderKind::TrailingStop(p, t) => format!("trailing stop from {p} ({t:?}, at the venue)"),
        OrderKind::TakeProfit(p) => format!("take-profit {p}"),
    }
}

fn push<T>(q: &mut VecDeque<T>, v: T) {
    if q.len() == RECENT {
        q.pop_front();
    }
    q.push_back(v);
}

impl Board {
    /// An empty board for a deployment trading `symbols`.
    pub fn new(symbols: Vec<String>) -> Board {
        Board {
            symbols,
            version: 0,
            curve: Vec::new(),
            stride: 1,
            bars: 0,
            last: None,
            peak: 0.0,
            day_start: 0.0,
            positions: Vec::new(),
            record: Default::default(),
            open: BTreeMap::new(),
            fills: VecDeque::new(),
            fill_count: 0,
            refusals: VecDeque::new(),
            refusal_count: 0,
            intents: VecDeque::new(),
            intent_count: 0,
            closes: VecDeque::new(),
            marks: VecDeque::new(),
            now_ms: i64::MIN,
        }
    }

    /// Changes so far (the stream compares it).
    pub fn version(&self) -> u64 {
        self.version
    }

    fn symbol(&self, id: u32) -> String {
        self.symbols
            .get(id as usize)
            .cloned()
            .unwrap_or_else(|| format!("#{id}"))
    }

    fn mark(&mut self, kind: &'static str, text: String) {
        let time_ms = self.now_ms;
        push(
            &mut self.marks,
            Mark {
                time_ms,
                kind,
                text,
            },
        );
    }

    /// A journal entry, as the recorder writes it.
    pub fn entry(&mut self, e: &Entry) {
        match e {
            Entry::Intent {
                time_ms,
                symbol,
                action,
                stop_loss,
                take_profit,
                reason,
                ..
            } => {
                self.now_ms = *time_ms;
                self.intent_count += 1;
                let row = IntentRow {
                    time: format_time(*time_ms),
                    symbol: symbol.clone(),
                    action: action_text(action),
                    stop_loss: *stop_loss,
                    take_profit: *take_profit,
                    reason: reason.clone(),
                };
                push(&mut self.intents, row);
            }
            Entry::Order { order, .. } => {
                let Order {
                    id,
                    symbol,
                    side: s,
                    quantity,
                    kind: k,
                    origin,
                    ..
                } = order;
                let row = OrderRow {
                    id: *id,
                    symbol: self.symbol(*symbol),
                    side: s.as_str(),
                    quantity: *quantity,
                    kind: kind(*k),
                    origin: origin.as_str(),
                };
                self.open.insert(*id, row);
            }
            Entry::Fill { fill, .. } => {
                self.now_ms = self.now_ms.max(fill.time_ms);
                if fill.done {
                    self.open.remove(&fill.order_id);
                } else if let Some(o) = self.open.get_mut(&fill.order_id) {
                    o.quantity -= fill.quantity;
                }
                self.fill_count += 1;
                let row = FillRow {
                    time: format_time(fill.time_ms),
                    symbol: self.symbol(fill.symbol),
                    side: fill.side.as_str(),
                    quantity: fill.quantity,
                    price: fill.price,
                    commission: fill.commission,
                    origin: fill.origin.as_str(),
                };
                push(&mut self.fills, row);
            }
            Entry::Cancel { order_id, .. } => {
                self.open.remove(order_id);
            }
            Entry::Refusal {
                symbol,
                rule,
                detail,
                ..
            } => {
                self.refusal_count += 1;
                let row = RefusalRow {
                    time: format_time(self.now_ms),
                    symbol: symbol.clone(),
                    rule: rule.as_str(),
                    detail: detail.clone(),
                };
                push(&mut self.refusals, row);
            }
            Entry::State { change, .. } => {
                let text = format!(
                    "{} → {}: {}",
                    state(change.from),
                    state(change.to),
                    change.reason
                );
                self.mark("state", text);
            }
            Entry::Swap {
                from,
                to,
                actor,
                reason,
                ..
            } => self.mark("swap", format!("{from} → {to} by {actor}: {reason}")),
            Entry::Rollback {
                from, to, cause, ..
            } => self.mark("rollback", format!("{from} → {to}: {cause}")),
            Entry::Paused { actor, reason, .. } => {
                self.mark("pause", format!("paused by {actor}: {reason}"))
            }
            Entry::Resumed { actor, reason, .. } => {
                self.mark("resume", format!("resumed by {actor}: {reason}"))
            }
            Entry::Fault { message, .. } => self.mark("fault", message.clone()),
            _ => return,
        }
        self.version += 1;
    }

    /// The engine's status after a bar, with the equity the UTC day started from.
    pub fn bar(&mut self, status: &Status, day_start: f64) {
        let point = (status.last_bar_ms, status.equity);
        self.now_ms = status.last_bar_ms;
        self.peak = self.peak.max(status.equity);
        self.day_start = day_start;
        self.positions = status
            .positions
            .iter()
            .zip(&status.marks)
            .map(
                |((symbol, quantity, average_price), &(price, unrealized))| PositionRow {
                    symbol: symbol.clone(),
                    quantity: *quantity,
                    average_price: *average_price,
                    price,
                    unrealized,
                },
            )
            .collect();
        self.record = status.record;
        let day = status.last_bar_ms.div_euclid(86_400_000);
        match self.closes.back_mut() {
            Some(c) if c.0 == day => c.1 = status.equity,
            _ => {
                if self.closes.len() > ROLLING_DAYS {
                    self.closes.pop_front();
                }
                self.closes.push_back((day, status.equity));
            }
        }
        if self.bars.is_multiple_of(self.stride) {
            match self.curve.last_mut() {
                Some(p) if p.0 == point.0 => *p = point,
                _ => self.curve.push(point),
            }
            if self.curve.len() >= CURVE_POINTS {
                // Full: keep every other point at twice the stride.
                let halved = self.curve.iter().step_by(2).copied().collect();
                self.curve = halved;
                self.stride *= 2;
            }
        }
        self.bars += 1;
        self.last = Some(point);
        self.version += 1;
    }

    /// Up to `n` equity values, evenly spread over the run, ending now.
    pub fn sparkline(&self, n: usize) -> Vec<f64> {
        let mut points: Vec<f64> = self.curve.iter().map(|p| p.1).collect();
        if let Some(l) = self.last
            && self.curve.last() != Some(&l)
        {
            points.push(l.1);
        }
        if points.len() <= n || n < 2 {
            return points;
        }
        let step = (points.len() - 1) as f64 / (n - 1) as f64;
        (0..n)
            .map(|i| points[((i as f64 * step).round() as usize).min(points.len() - 1)])
            .collect()
    }

    /// The annualised Sharpe ratio of the last [`ROLLING_DAYS`] daily
    /// closes (the day in progress counts at its latest equity).
    pub fn rolling_sharpe(&self) -> Option<f64> {
        let closes: Vec<(i64, f64)> = self.closes.iter().copied().collect();
        crate::statistic::daily_sharpe(&closes).filter(|s| s.is_finite())
    }

    /// Equity now minus at the start of the UTC day.
    pub fn today(&self, equity: f64) -> f64 {
        if self.day_start > 0.0 {
            equity - self.day_start
        } else {
            0.0
        }
    }

    /// Everything the deployment's page shows, as JSON.
    pub fn detail(&self) -> serde_json::Value {
        let mut curve = self.curve.clone();
        if let Some(l) = self.last
            && curve.last() != Some(&l)
        {
            curve.push(l);
        }
        serde_json::json!({
            "curve": {
                "t": curve.iter().map(|p| p.0 / 1000).collect::<Vec<_>>(),
                "equity": curve.iter().map(|p| p.1).collect::<Vec<_>>(),
            },
            "positions": self.positions,
            // Before the first round trip, neither figure means anything;
            // an infinite profit factor (no loss yet) is JSON's null too.
            "record": {
                "trades": self.record.trades,
                "win_rate": (self.record.trades > 0).then(|| self.record.win_rate()),
                "profit_factor": Some(self.record.profit_factor())
                    .filter(|f| self.record.trades > 0 && f.is_finite()),
                // Annualised, over the last ROLLING_DAYS daily closes (none
                // before two closes, or without any variation).
                "rolling_sharpe": self.rolling_sharpe(),
                "rolling_days": ROLLING_DAYS,
            },
            "intents": self.intents.iter().rev().collect::<Vec<_>>(),
            "intent_count": self.intent_count,
            "open_orders": self.open.values().collect::<Vec<_>>(),
            "fills": self.fills.iter().rev().collect::<Vec<_>>(),
            "fill_count": self.fill_count,
            "refusals": self.refusals.iter().rev().collect::<Vec<_>>(),
            "refusal_count": self.refusal_count,
            "marks": self.marks,
        })
    }
}

fn state(s: TradingState) -> &'static str {
    match s {
        TradingState::Active => "ACTIVE",
        TradingState::Reducing => "REDUCING",
        TradingState::Halted => "HALTED",
    }
}

/// The page: uPlot and the dashboard's script and style inlined.
pub fn page() -> String {
    const HTML: &str = include_str!("dashboard/index.html");
    const JS: &str = include_str!("dashboard/dashboard.js");
    const CSS: &str = include_str!("dashboard/dashboard.css");
    const UPLOT_JS: &str = include_str!("../report/assets/uplot/uPlot.iife.min.js");
    const UPLOT_CSS: &str = include_str!("../report/assets/uplot/uPlot.min.css");
    HTML.replace("/*STYLE*/", &format!("{UPLOT_CSS}\n{CSS}"))
        .replace("/*UPLOT*/", &UPLOT_JS.replace("</", "<\\/"))
        .replace("/*SCRIPT*/", &JS.replace("</", "<\\/"))
}

/// The sign-in page (a form that posts the token to `/login`).
pub fn login_page(failed: bool) -> String {
    const HTML: &str = include_str!("dashboard/login.html");
    HTML.replace(
        "<!--MESSAGE-->",
        if failed {
            "<p class=\"error\" id=\"login-error\">That token was refused.</p>"
        } else {
            ""
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::{FillReport, Origin, Side};

    fn status(t: i64, equity: f64) -> Status {
        Status {
            equity,
            last_bar_ms: t,
            ..Status::default()
        }
    }

    #[test]
    fn intents_are_listed_beside_the_refusals_newest_first() {
        let mut b = Board::new(vec!["X".into()]);
        let intent = |t: i64, action: IntentAction, reason: &str| Entry::Intent {
            seq: 0,
            time_ms: t,
            symbol: "X".into(),
            action,
            stop_loss: Some(95.0),
            take_profit: None,
            reason: reason.into(),
            plugin: "p@1".into(),
        };
        b.entry(&intent(
            0,
            IntentAction::TargetWeight(0.25),
            "fast above slow",
        ));
        b.entry(&intent(
            86_400_000,
            IntentAction::Limit {
                side: Side::Sell,
                quantity: 1.0,
                price: 105.0,
            },
            "take some off",
        ));
        let d = b.detail();
        assert_eq!(d["intent_count"], 2);
        assert_eq!(
            d["intents"],
            serde_json::json!([
                {"time": "1970-01-02", "symbol": "X", "action": "limit sell 1 @ 105",
                 "stop_loss": 95.0, "take_profit": null, "reason": "take some off"},
                {"time": "1970-01-01", "symbol": "X", "action": "weight 0.25",
                 "stop_loss": 95.0, "take_profit": null, "reason": "fast above slow"},
            ])
        );
    }

    #[test]
    fn the_rolling_sharpe_is_that_of_the_last_thirty_daily_closes() {
        let mut b = Board::new(vec!["X".into()]);
        assert_eq!(
            b.detail()["record"]["rolling_sharpe"],
            serde_json::Value::Null
        );
        // 40 days, four bars a day; each day closes at 100,000 × (1 + day's move).
        let close =
            |day: i64| 100_000.0 * (1.0 + 0.01 * ((day * 7) % 5) as f64 / 5.0 + day as f64 * 1e-3);
        for day in 0..40 {
            for bar in 0..4 {
                let t = day * 86_400_000 + bar * 21_600_000;
                // Intraday values that only the day's last bar leaves behind.
                let equity = if bar == 3 {
                    close(day)
                } else {
                    1.0 + bar as f64
                };
                b.bar(&status(t, equity), 100_000.0);
            }
        }
        // By hand: the returns of the closes of days 9..=39, their sample
        // mean over their sample deviation, × √365 (a close every day).
        let closes: Vec<f64> = (9..40).map(close).collect();
        let r: Vec<f64> = closes.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (r.len() - 1) as f64;
        let expected = mean / var.sqrt() * 365f64.sqrt();
        let got = b.detail()["record"]["rolling_sharpe"].as_f64().unwrap();
        assert!(
            (got - expected).abs() < 1e-9 * expected.abs(),
            "{got} vs {expected}"
        );
    }

    #[test]
    fn the_curve_stays_bounded_and_ends_at_the_last_bar() {
        let mut b = Board::new(vec!["X".into()]);
        for i in 0..100_000 {
            b.bar(&status(i * 60_000, 100.0 + i as f64), 100.0);
        }
        let d = b.detail();
        let eq = d["curve"]["equity"].as_array().unwrap();
        assert!(eq.len() <= CURVE_POINTS + 1, "{} points", eq.len());
        assert!(eq.len() > CURVE_POINTS / 2);
        assert_eq!(eq.last().unwrap().as_f64(), Some(100_099.0));
        assert_eq!(eq[0].as_f64(), Some(100.0));
        assert_eq!(b.sparkline(60).len(), 60);
        assert_eq!(b.sparkline(60).last(), Some(&100_099.0));
    }

    #[test]
    fn a_position_is_shown_at_its_mark_with_its_unrealised_pnl_and_the_round_trips_weighed() {
        let mut b = Board::new(vec!["X".into(), "Y".into()]);
        let d = b.detail();
        assert_eq!(
            d["record"]["win_rate"],
            serde_json::Value::Null,
            "no round trip yet"
        );
        let mut s = status(60_000, 101_000.0);
        s.positions = vec![("X".into(), 2.0, 100.0), ("Y".into(), -1.0, 50.0)];
        s.marks = vec![(110.0, 20.0), (55.0, -5.0)];
        s.record = crate::portfolio::TradeRecord {
            trades: 4,
            wins: 1,
            losses: 3,
            gross_profit: 30.0,
            gross_loss: 10.0,
        };
        b.bar(&s, 100_000.0);
        let d = b.detail();
        assert_eq!(
            d["positions"],
            serde_json::json!([
                {"symbol": "X", "quantity": 2.0, "average_price": 100.0, "price": 110.0, "unrealized": 20.0},
                {"symbol": "Y", "quantity": -1.0, "average_price": 50.0, "price": 55.0, "unrealized": -5.0},
            ])
        );
        assert_eq!(d["record"]["win_rate"], 0.25);
        assert_eq!(d["record"]["profit_factor"], 3.0);
        s.record.gross_loss = 0.0;
        b.bar(&s, 100_000.0);
        assert_eq!(
            b.detail()["record"]["profit_factor"],
            serde_json::Value::Null,
            "no loss yet: infinite, which JSON cannot say"
        );
    }

    #[test]
    fn orders_stay_open_until_filled_or_cancelled() {
        let mut b = Board::new(vec!["X".into()]);
        let order = |id| Entry::Order {
            order: Order {
                id,
                symbol: 0,
                side: Side::Buy,
                quantity: 10.0,
                kind: OrderKind::Limit(99.5),
                origin: Origin::Strategy,
                decided_seq: 0,
                decided_ms: 0,
                reduce_only: false,
            },
            plugin: "p@1".into(),
        };
        b.entry(&order(1));
        b.entry(&order(2));
        let fill = |done, quantity| Entry::Fill {
            seq: 1,
            fill: FillReport {
                order_id: 1,
                symbol: 0,
                side: Side::Buy,
                quantity,
                price: 99.5,
                commission: 0.0,
                slippage: 0.0,
                time_ms: 60_000,
                origin: Origin::Strategy,
                done,
            },
            plugin: "p@1".into(),
        };
        b.entry(&fill(false, 4.0));
        let d = b.detail();
        assert_eq!(d["open_orders"][0]["quantity"], 6.0);
        assert_eq!(d["open_orders"][0]["kind"], "limit 99.5");
        b.entry(&fill(true, 6.0));
        b.entry(&Entry::Cancel {
            seq: 2,
            order_id: 2,
            reason: "superseded".into(),
        });
        let d = b.detail();
        assert_eq!(d["open_orders"].as_array().unwrap().len(), 0);
        assert_eq!(d["fill_count"], 2);
        assert_eq!(d["fills"][0]["quantity"], 6.0, "newest first");
    }
}
