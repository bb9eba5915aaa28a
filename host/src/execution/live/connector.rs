//! The contract between the live venue and one exchange or broker: what an
//! order looks like on the way out ([`Placement`]), what the venue says back
//! ([`Report`], [`Outcome`]), and the calls an adapter implements
//! ([`Connector`], [`Pushes`]). Adapters live in `crate::adapters`, one
//! folder per venue; nothing here knows a venue's name.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::execution::Side;
use crate::execution::order_state::Update;
use crate::net::Backoff;
use sandbar_sdk::protection::Trail;

/// An order as the venue is asked to take it.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The deterministic client order id.
    pub client_id: String,
    /// The venue's symbol.
    pub symbol: String,
    /// Direction.
    pub side: Side,
    /// Quantity (positive).
    pub quantity: f64,
    /// Limit price; `None`: a market order.
    pub limit: Option<f64>,
    /// A stop-loss held at the venue: a market order once the market
    /// trades at this price (Binance `STOP_LOSS`); `limit` is then `None`.
    pub stop: Option<f64>,
    /// With a stop: the take-profit resting beside it as one order list,
    /// one cancelling the other (Binance `orderList/oco`): the two lock
    /// the position once, where two separate sells would each need it.
    pub target: Option<Leg>,
    /// The last close of the symbol (a market order's notional is valued at it).
    pub reference: f64,
    /// A stop the venue trails itself (Binance `trailingDelta`, Alpaca
    /// `trailing_stop`): `stop` is then `None`, the venue starting the
    /// trail from the market when it takes the order.
    pub trail: Option<Trail>,
}

/// Which trailing stops a venue trails itself for one symbol, read when it
/// connects ([`Connector::native_trail`]); the default: none.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NativeTrail {
    /// A distance in the quote currency, in steps of this (Alpaca
    /// `trail_price`, in cents); `None`: not by distance.
    pub distance_step: Option<f64>,
    /// A fraction of the best price, in steps of this (Binance: one BIPS,
    /// 0.0001); `None`: not by fraction.
    pub fraction_step: Option<f64>,
    /// The fractions a sell stop may trail by (Binance `TRAILING_DELTA`
    /// `min`/`maxTrailingBelowDelta`), inclusive.
    pub sell: (f64, f64),
    /// The fractions a buy stop may trail by (`min`/`maxTrailingAboveDelta`).
    pub buy: (f64, f64),
    /// Beside a take-profit, as the stop of one list (Binance OCO: yes;
    /// Alpaca: "supported only with single orders").
    pub listed: bool,
    /// For a fractional quantity.
    pub fractional: bool,
}

impl NativeTrail {
    /// Whether the venue trails a stop of `trail` for `quantity` on `side`
    /// (`listed`: beside a take-profit). A trail between the venue's steps
    /// is not rounded (that would move the stop): the host keeps it.
    pub fn allows(&self, side: Side, quantity: f64, trail: Trail, listed: bool) -> bool {
        let on_step = |x: f64, step: f64| {
            let n = x / step;
            n >= 1.0 && (n - n.round()).abs() < 1e-6
        };
        let fits = match trail {
            Trail::Distance(d) => self.distance_step.is_some_and(|step| on_step(d, step)),
            Trail::Fraction(f) => self.fraction_step.is_some_and(|step| {
                let (min, max) = if side == Side::Sell {
                    self.sell
                } else {
                    self.buy
                };
                on_step(f, step) && f >= min - 1e-12 && f <= max + 1e-12
            }),
        };
        fits && (self.listed || !listed) && (self.fractional || quantity.fract() == 0.0)
    }
}

/// The take-profit of a stop's one-cancels-other list: an order of its
/// own (the host's id, its client order id), looked up and cancelled like
/// any other.
#[derive(Debug, Clone, PartialEq)]
pub struct Leg {
    /// The host's order id.
    pub id: u64,
    /// Its client order id.
    pub client_id: String,
    /// The limit price it sells (buys) at.
    pub price: f64,
}

/// One execution, as the venue reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// The venue's id for it (trade id).
    pub id: String,
    /// Quantity.
    pub quantity: f64,
    /// Price.
    pub price: f64,
    /// Commission, valued in the quote currency (a fee kept in the base
    /// asset counts here at the execution's price).
    pub commission: f64,
    /// Of the base quantity received, what the venue kept as its fee
    /// (Binance without BNB takes a buy's commission in the asset bought):
    /// the account holds `quantity − fee_base` more.
    pub fee_base: f64,
}

/// Where an order stands at the venue.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Working (nothing or part filled).
    Open,
    /// Completely filled.
    Filled,
    /// Cancelled.
    Cancelled,
    /// Refused, with the venue's reason.
    Rejected(String),
    /// Expired.
    Expired,
}

/// What the venue knows of one order.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Its status.
    pub status: Status,
    /// Its executions so far.
    pub executions: Vec<Execution>,
}

impl Report {
    /// The updates this report implies, for the order's state machine.
    pub fn updates(&self) -> Vec<Update> {
        let mut out = vec![Update::Accepted];
        out.extend(self.executions.iter().map(|e| {
            if e.fee_base > 0.0 {
                Update::NetFill {
                    id: e.id.clone(),
                    quantity: e.quantity,
                    price: e.price,
                    commission: e.commission,
                    fee_base: e.fee_base,
                }
            } else {
                Update::Fill {
                    id: e.id.clone(),
                    quantity: e.quantity,
                    price: e.price,
                    commission: e.commission,
                }
            }
        }));
        match &self.status {
            Status::Open | Status::Filled => {}
            Status::Cancelled => out.push(Update::Cancelled),
            Status::Expired => out.push(Update::Expired),
            Status::Rejected(reason) => out.push(Update::Rejected {
                reason: reason.clone(),
            }),
        }
        out
    }
}

/// The typed result of one request to a venue.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// It answered.
    Done(T),
    /// It refused, for good, with its reason (the order is rejected).
    Rejected(String),
    /// Try again after this long (429, 418, a request that never left).
    Retry(Duration, String),
    /// Sent, and no answer that says what happened (a timeout, a 5xx, the
    /// connection lost): find out before resending.
    Unknown(String),
}

/// One thing an operator's check of a venue looked at (`sandbar venue
/// check`).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What was looked at (`server time`, `permissions`, `BTCUSDT rules`).
    pub item: String,
    /// Whether it is fit to trade on.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

impl Finding {
    /// A good one.
    pub fn ok(item: &str, detail: String) -> Finding {
        Finding {
            item: item.into(),
            ok: true,
            detail,
        }
    }
    /// A bad one.
    pub fn fail(item: &str, detail: String) -> Finding {
        Finding {
            item: item.into(),
            ok: false,
            detail,
        }
    }
}

/// An order at the venue, as listed among its open orders.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenOrder {
    /// Client order id.
    pub client_id: String,
    /// Symbol.
    pub symbol: String,
}

/// One venue's API, as the courier uses it. Implemented per venue
/// (`binance`); blocking: it runs on the courier's thread.
pub trait Connector: Send {
    /// Make an order valid by the venue's rules (lot, tick, notional), or
    /// say which rule refuses it.
    fn prepare(&mut self, p: Placement) -> Result<Placement, String>;
    /// Place an order.
    fn place(&mut self, p: &Placement) -> Outcome<Report>;
    /// Whether stop-losses rest at the venue ([`Placement::stop`]), so a
    /// position keeps its stop while the host is down. `false`: the host
    /// holds them and sends a market order when a closed bar trades
    /// through.
    fn holds_stops(&self) -> bool {
        false
    }
    /// Whether take-profits rest at the venue: alone as a limit order,
    /// beside a stop as one list ([`Placement::target`]). `false`: the
    /// host holds them and sends a market order when a closed bar trades
    /// through.
    fn holds_targets(&self) -> bool {
        false
    }
    /// Whether a stop and its take-profit of a fractional quantity can
    /// rest as one list (`false` at Alpaca, whose OCO orders are for whole
    /// shares): if not, the stop rests alone and the host holds the target
    /// (two separate sells would each need the whole position).
    fn lists_fractional(&self) -> bool {
        true
    }
    /// The largest quantity one market order of `symbol` may have (the
    /// venue's lot filters), and its largest notional (quote currency);
    /// `None`: no limit, or not known.
    fn largest_market(&mut self, symbol: &str) -> (Option<f64>, Option<f64>) {
        let _ = symbol;
        (None, None)
    }
    /// Which trailing stops the venue trails itself for `symbol`
    /// ([`Placement::trail`]); the default: none, the host trails them.
    fn native_trail(&mut self, symbol: &str) -> NativeTrail {
        let _ = symbol;
        NativeTrail::default()
    }
    /// An order an earlier run placed, as it was placed: a connector that
    /// names a list's legs by the venue's ids (Alpaca's OCO stop leg)
    /// learns here how to find each again after a restart.
    fn remember(&mut self, p: &Placement) {
        let _ = p;
    }
    /// Cancel an order.
    fn cancel(&mut self, symbol: &str, client_id: &str) -> Outcome<()>;
    /// Look an order up by client order id; `Done(None)`: not found.
    fn query(&mut self, symbol: &str, client_id: &str) -> Outcome<Option<Report>>;
    /// The account's open orders on these symbols.
    fn open_orders(&mut self, symbols: &[String]) -> Outcome<Vec<OpenOrder>>;
    /// What the account holds of each symbol (signed; a spot account's
    /// balance of the base asset, free and locked), for reconciliation.
    fn holdings(&mut self, symbols: &[String]) -> Outcome<Vec<(String, f64)>> {
        let _ = symbols;
        Outcome::Rejected("this venue's holdings are not read".into())
    }
    /// What the account holds of the quote asset (the cash) each symbol is
    /// traded against: (asset, balance), one per asset.
    fn cash(&mut self, symbols: &[String]) -> Outcome<Vec<(String, f64)>> {
        let _ = symbols;
        Outcome::Rejected("this venue's cash is not read".into())
    }
    /// The asset `symbol` is paid in (`USDT` for `BTCUSDT`, `USD` on Alpaca).
    fn quote_asset(&self, symbol: &str) -> Option<String> {
        let _ = symbol;
        None
    }
    /// What an operator checks before going live (`sandbar venue check`):
    /// the venue's clock against ours, whether the key may trade, each
    /// symbol's rules, the balances.
    fn check(&mut self, symbols: &[String]) -> Vec<Finding> {
        let _ = symbols;
        Vec::new()
    }
    /// A limit buy of `symbol` the venue accepts and will not fill: at
    /// `price`, or (without one) far below the venue's last price — for
    /// `sandbar venue check --place-test-order`.
    fn test_order(
        &mut self,
        symbol: &str,
        client_id: &str,
        price: Option<f64>,
    ) -> Result<Placement, String> {
        let _ = (symbol, client_id, price);
        Err("this venue does not choose a test order".into())
    }
    /// The venue's push channel for order updates, if it has one and it is
    /// configured (else the courier polls every open order).
    fn pushes(&self) -> Option<Box<dyn Pushes>> {
        None
    }
}

/// A venue's push channel for order updates (Binance's user data stream,
/// Alpaca's `trade_updates`). It only says *which* order changed: the
/// courier then looks that order up by client order id, so what is booked
/// always comes from the venue's own record of the order (every execution
/// by trade id) — a duplicate, out-of-order or missed push cannot book a
/// fill twice or lose one, and polling covers a channel that is down.
pub trait Pushes: Send {
    /// Connect, authenticate and forward to `sink` until it is stopped,
    /// reconnecting (with backoff) whenever the connection drops.
    fn run(self: Box<Self>, sink: PushSink);
}

/// Run a push channel: `session` (one connection, `Ok` once the sink is
/// stopped, `Err(why)` when it drops) on a runtime of its own, again after
/// every drop — 250 ms later, doubling to 10 s while connections keep
/// failing, back to 250 ms after one that lasted.
pub fn reconnecting(
    sink: PushSink,
    what: &str,
    mut session: impl AsyncFnMut(&PushSink) -> Result<(), String>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return sink.connected(false, &format!("no runtime: {e}")),
    };
    rt.block_on(async {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
        while !sink.stopped() {
            let began = Instant::now();
            let why = match session(&sink).await {
                Ok(()) => return,
                Err(why) => why,
            };
            tracing::warn!(%why, "{what}");
            sink.connected(false, &why);
            if began.elapsed() > Duration::from_secs(30) {
                backoff.reset();
            }
            tokio::time::sleep(backoff.next_wait()).await;
        }
    });
}

/// What a push channel tells the courier.
#[derive(Debug, Clone, PartialEq)]
pub enum Push {
    /// The order with this client order id changed.
    Changed(String),
    /// The channel is up (`true`, subscribed) or down (why).
    Connected(bool, String),
}

/// Where a push channel reports: the courier's side of the channel.
pub struct PushSink {
    pub(super) tell: Box<dyn Fn(Push) + Send>,
    pub(super) stop: Arc<AtomicBool>,
}

impl PushSink {
    /// The venue says the order with this client order id changed.
    pub fn changed(&self, client_id: &str) {
        (self.tell)(Push::Changed(client_id.to_string()));
    }

    /// The channel is up (subscribed) or down (`why`).
    pub fn connected(&self, up: bool, why: &str) {
        (self.tell)(Push::Connected(up, why.to_string()));
    }

    /// The deployment's venue is gone: stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binance's: by integral BIPS within `TRAILING_DELTA` (10 to 2,000 for
    /// a sell here, 20 to 500 for a buy), in a list too, fractional too.
    fn binance() -> NativeTrail {
        NativeTrail {
            distance_step: None,
            fraction_step: Some(1e-4),
            sell: (0.001, 0.2),
            buy: (0.002, 0.05),
            listed: true,
            fractional: true,
        }
    }

    #[test]
    fn a_venue_trails_only_the_stops_its_own_order_can_express_exactly() {
        let b = binance();
        assert!(b.allows(Side::Sell, 0.5, Trail::Fraction(0.02), true));
        assert!(b.allows(Side::Sell, 0.5, Trail::Fraction(0.001), false));
        assert!(
            !b.allows(Side::Sell, 0.5, Trail::Fraction(0.0005), false),
            "under the filter"
        );
        assert!(
            !b.allows(Side::Sell, 0.5, Trail::Fraction(0.30), false),
            "over the filter"
        );
        assert!(
            !b.allows(Side::Buy, 0.5, Trail::Fraction(0.1), false),
            "over a buy's band"
        );
        assert!(
            !b.allows(Side::Sell, 0.5, Trail::Fraction(0.01234), false),
            "between BIPS"
        );
        assert!(
            !b.allows(Side::Sell, 0.5, Trail::Distance(5.0), false),
            "no trail by price"
        );
        let whole = NativeTrail {
            fractional: false,
            listed: false,
            ..b
        };
        assert!(whole.allows(Side::Sell, 3.0, Trail::Fraction(0.02), false));
        assert!(
            !whole.allows(Side::Sell, 2.5, Trail::Fraction(0.02), false),
            "a fractional quantity only where the venue takes one"
        );
        assert!(
            !whole.allows(Side::Sell, 3.0, Trail::Fraction(0.02), true),
            "beside a take-profit only where the venue lists it"
        );
        assert!(!NativeTrail::default().allows(Side::Sell, 1.0, Trail::Fraction(0.02), false));
    }
}
