//! `sandbar harness`: the SDK's test harness served over standard input
//! and output, for the Python SDK's `sandbar.testing.Harness`.
//!
//! Why a process and not a Python copy: the harness executes intents the
//! way the host does (sizing, supersession, fills at the next open, limits,
//! stops and targets, the trading states) because it runs the host's own
//! rules (`sandbar_sdk::testing`, held to the engine by
//! `tests/invariants/parity.rs`). A second implementation in Python would
//! be a second copy of every rule, free to drift. Here the Python strategy
//! runs natively in its own process and this one runs the rules: one copy.
//!
//! The protocol is JSON lines. The client sends `{"symbols": [...],
//! "risk": null | {key: value, ...}, "costs": {...}}` once. Then, any
//! number of times, it sends `{"run": [bar, ...]}`. For every bar the
//! harness asks `{"call": {"bar", "events", "portfolio", "protection"}}`,
//! and the client answers `{"intents": [...], "amends": [...]}`. After the
//! last bar the harness answers `{"ran": {"fills", "refusals", "positions",
//! "protection", "state", "state_changes"}}`. A malformed line ends the
//! process with an error naming it. Nothing here touches files or the
//! network, and its one client is the test process that started it (it
//! crosses no trust boundary), so lines are read whole, unbounded.

use std::cell::RefCell;
use std::io::{BufRead, Write};

use anyhow::{Context, bail};
use sandbar_sdk::protection::Trail;
use sandbar_sdk::risk::RiskConfig;
use sandbar_sdk::testing::{Costs, Harness};
use sandbar_sdk::{Bar, Ctx, Description, Event, Side, Strategy};
use serde_json::{Value, json};

/// The two ends of the conversation, for the strategy stand-in.
struct Wire {
    input: Box<dyn BufRead>,
    output: Box<dyn Write>,
    /// The first protocol error, reported after the harness returns.
    error: Option<anyhow::Error>,
}

thread_local! {
    static WIRE: RefCell<Option<Wire>> = const { RefCell::new(None) };
}

fn send(w: &mut Wire, v: &Value) -> anyhow::Result<()> {
    writeln!(w.output, "{v}")?;
    w.output.flush()?;
    Ok(())
}

fn receive(w: &mut Wire) -> anyhow::Result<Option<Value>> {
    let mut line = String::new();
    if w.input.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    serde_json::from_str(&line)
        .map(Some)
        .with_context(|| format!("a line that is not JSON: {:?}", line.trim_end()))
}

/// The strategy the harness runs: it hands every call to the client.
#[derive(Default)]
struct Remote {
    events: Vec<Event>,
}

fn event_json(e: &Event) -> Value {
    match e {
        Event::Filled(f) => json!({"filled": f}),
        Event::Rejected(r) => json!({"rejected": r}),
        Event::Cancelled(id) => json!({"cancelled": id}),
    }
}

fn num(v: &Value, key: &str) -> anyhow::Result<f64> {
    v[key]
        .as_f64()
        .with_context(|| format!("`{key}` is not a number in {v}"))
}

fn symbol(v: &Value) -> anyhow::Result<u32> {
    v["symbol"]
        .as_u64()
        .and_then(|s| u32::try_from(s).ok())
        .with_context(|| format!("`symbol` is not a symbol id in {v}"))
}

/// An intent the client decided, placed through the SDK's own `Ctx`.
fn place(ctx: &mut Ctx<'_>, i: &Value) -> anyhow::Result<()> {
    let s = symbol(i)?;
    let a = &i["action"];
    let side = |a: &Value| match a["side"].as_str() {
        Some("buy") => Ok(Side::Buy),
        Some("sell") => Ok(Side::Sell),
        _ => bail!("`side` is neither buy nor sell in {a}"),
    };
    let mut b = match a["kind"].as_str() {
        Some("target-weight") => ctx.target_weight(s, num(a, "value")?),
        Some("target-quantity") => ctx.target_quantity(s, num(a, "value")?),
        Some("market") if side(a)? == Side::Buy => ctx.buy(s, num(a, "quantity")?),
        Some("market") => ctx.sell(s, num(a, "quantity")?),
        Some("limit") if side(a)? == Side::Buy => {
            ctx.buy_limit(s, num(a, "quantity")?, num(a, "price")?)
        }
        Some("limit") => ctx.sell_limit(s, num(a, "quantity")?, num(a, "price")?),
        Some("close") => ctx.close(s),
        _ => bail!("an action of no known kind: {a}"),
    };
    for (key, stop) in [("stop_loss", true), ("take_profit", false)] {
        let level = &i[key];
        if level.is_null() {
            continue;
        }
        let value = num(level, "value")?;
        b = match (level["kind"].as_str(), stop) {
            (Some("price"), true) => b.stop_loss(value),
            (Some("price"), false) => b.take_profit(value),
            (Some("from-entry"), true) => b.stop_loss_from_entry(value),
            (Some("from-entry"), false) => b.take_profit_from_entry(value),
            _ => bail!("a level of no known kind: {level}"),
        };
    }
    b.reason(i["reason"].as_str().unwrap_or_default());
    Ok(())
}

/// A change to protection alone, through the SDK's own `Ctx`.
fn amend(ctx: &mut Ctx<'_>, a: &Value) -> anyhow::Result<()> {
    let s = symbol(a)?;
    match a["kind"].as_str() {
        Some("stop-loss") if a["from_entry"] == true => {
            ctx.move_stop_from_entry(s, num(a, "value")?)
        }
        Some("stop-loss") => ctx.move_stop(s, num(a, "value")?),
        Some("take-profit") if a["from_entry"] == true => {
            ctx.move_take_profit_from_entry(s, num(a, "value")?)
        }
        Some("take-profit") => ctx.move_take_profit(s, num(a, "value")?),
        Some("trail-distance") => ctx.trail_stop(s, Trail::Distance(num(a, "value")?)),
        Some("trail-fraction") => ctx.trail_stop(s, Trail::Fraction(num(a, "value")?)),
        Some("cancel-stop-loss") => ctx.cancel_stop(s),
        Some("cancel-take-profit") => ctx.cancel_take_profit(s),
        _ => bail!("a change of no known kind: {a}"),
    }
    Ok(())
}

impl Remote {
    fn call(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
        let protection: Vec<Value> = (0..ctx.symbols().len() as u32)
            .map(|s| json!(ctx.protection(s)))
            .collect();
        let question = json!({"call": {
            "bar": bar,
            "events": self.events.drain(..).map(|e| event_json(&e)).collect::<Vec<_>>(),
            "portfolio": ctx.portfolio(),
            "protection": protection,
        }});
        let answer = WIRE.with_borrow_mut(|w| -> anyhow::Result<Value> {
            let w = w.as_mut().context("no client")?;
            send(w, &question)?;
            receive(w)?.context("the client went away in the middle of a run")
        })?;
        for i in answer["intents"].as_array().into_iter().flatten() {
            place(ctx, i)?;
        }
        for a in answer["amends"].as_array().into_iter().flatten() {
            amend(ctx, a)?;
        }
        Ok(())
    }
}

impl Strategy for Remote {
    fn describe() -> Description {
        Description::new("remote", "0.1.0")
    }
    fn on_event(&mut self, event: &Event, _ctx: &mut Ctx<'_>) {
        self.events.push(event.clone());
    }
    fn on_bar(&mut self, bar: &Bar, ctx: &mut Ctx<'_>) {
        if WIRE.with_borrow(|w| w.as_ref().is_some_and(|w| w.error.is_some())) {
            return;
        }
        if let Err(e) = self.call(bar, ctx) {
            WIRE.with_borrow_mut(|w| {
                if let Some(w) = w.as_mut() {
                    w.error.get_or_insert(e);
                }
            });
        }
    }
}

/// The `[risk]` limits a client named (`null`: every limit off; `{}`: the
/// host's defaults), read as the host reads its TOML.
fn risk(v: &Value) -> anyhow::Result<RiskConfig> {
    let Some(map) = v.as_object() else {
        return Ok(RiskConfig::off());
    };
    let text: String = map.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
    toml::from_str(&text).with_context(|| format!("risk limits {v}"))
}

fn costs(v: &Value) -> Costs {
    let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
    Costs {
        slippage_bps: f("slippage_bps"),
        commission_percent: f("commission_percent"),
        commission_per_unit: f("commission_per_unit"),
        commission_minimum: f("commission_minimum"),
    }
}

fn bar(v: &Value) -> anyhow::Result<Bar> {
    serde_json::from_value(v.clone()).with_context(|| format!("not a bar: {v}"))
}

/// What the harness holds after a run, for the client's assertions.
fn ran(h: &Harness<Remote>, symbols: usize) -> Value {
    let ids = 0..symbols as u32;
    json!({"ran": {
        "fills": h.fills(),
        "refusals": h.refusals(),
        "positions": ids.clone().map(|s| h.position(s)).collect::<Vec<_>>(),
        "protection": ids.map(|s| h.protection(s)).collect::<Vec<_>>(),
        "state": format!("{:?}", h.trading_state()),
        "state_changes": h.state_changes().iter().map(|(t, c)| json!([t, format!("{c:?}")])).collect::<Vec<_>>(),
    }})
}

/// Serve one client on these streams until it closes them.
pub(super) fn serve(input: Box<dyn BufRead>, output: Box<dyn Write>) -> anyhow::Result<()> {
    WIRE.with_borrow_mut(|w| {
        *w = Some(Wire {
            input,
            output,
            error: None,
        })
    });
    let hello = WIRE
        .with_borrow_mut(|w| receive(w.as_mut().expect("set above")))?
        .context("the client sent nothing")?;
    let symbols: Vec<String> = serde_json::from_value(hello["symbols"].clone())
        .with_context(|| format!("`symbols` is not a list of names in {hello}"))?;
    let n = symbols.len();
    let mut h = Harness::<Remote>::with_symbols(&[], symbols)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_risk(risk(&hello["risk"])?)
        .with_costs(costs(&hello["costs"]));
    loop {
        let Some(msg) = WIRE.with_borrow_mut(|w| receive(w.as_mut().expect("set")))? else {
            return Ok(());
        };
        let bars = msg["run"]
            .as_array()
            .with_context(|| format!("expected {{\"run\": [bars]}}, got {msg}"))?
            .iter()
            .map(bar)
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let Some(b) = bars.iter().find(|b| b.symbol as usize >= n) {
            bail!(
                "a bar at {} has symbol id {}; the harness has {n} symbols",
                b.time_ms,
                b.symbol
            );
        }
        h.run(&bars);
        WIRE.with_borrow_mut(|w| -> anyhow::Result<()> {
            let w = w.as_mut().expect("set");
            if let Some(e) = w.error.take() {
                return Err(e);
            }
            send(w, &ran(&h, n))
        })?;
    }
}

pub(super) fn run() -> anyhow::Result<()> {
    let input = Box::new(std::io::BufReader::new(std::io::stdin()));
    serve(input, Box::new(std::io::stdout()))
}
