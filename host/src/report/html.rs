//! The HTML report: one self-contained file — the uPlot chart library
//! (vendored in `assets/uplot/` with its MIT licence) and the run's data
//! inlined, nothing fetched when it is opened — with the equity curve, the
//! drawdown, the trades marked on price, a table of monthly returns and the
//! statistics of the text report. `sandbar replay --html report.html`
//! writes it.
//!
//! Everything a reader sees is computed here, in Rust, and tested; the page
//! only draws. Once drawn it records what it drew on `<body>`
//! (`data-rendered`), so a headless browser can check the charts have
//! points.

use chrono::Datelike;
use serde::Serialize;

use super::Report;

const UPLOT_JS: &str = include_str!("assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("assets/uplot/uPlot.min.css");

/// Price points kept per symbol (the last close of each time bucket).
pub const MAX_PRICE_POINTS: usize = 4000;

/// One symbol's closes, thinned to at most [`MAX_PRICE_POINTS`].
#[derive(Debug, Clone, Serialize)]
pub struct PriceSeries {
    /// Symbol.
    pub symbol: String,
    /// (time ms, close).
    pub points: Vec<(i64, f64)>,
    /// The stop-loss and take-profit resting on it over time (step
    /// functions; see [`super::levels`]).
    pub levels: super::levels::Levels,
}

/// A fill to mark on its symbol's price.
#[derive(Debug, Clone, Serialize)]
pub struct FillMark {
    /// Symbol.
    pub symbol: String,
    /// When.
    pub time_ms: i64,
    /// At what price.
    pub price: f64,
    /// A buy (else a sell).
    pub buy: bool,
    /// `strategy`, `stop-loss`, `take-profit`, `risk-flatten`.
    pub origin: String,
}

/// What the page shows.
pub struct HtmlInput<'a> {
    /// Heading: plugin and data.
    pub title: String,
    /// The statistics.
    pub report: &'a Report,
    /// Starting equity.
    pub initial_equity: f64,
    /// (time ms, equity) after each bar time.
    pub equity: &'a [(i64, f64)],
    /// Prices of the symbols traded.
    pub prices: Vec<PriceSeries>,
    /// Every fill.
    pub fills: Vec<FillMark>,
}

/// Thins (time, close) pairs to at most `max` by keeping the last close of
/// each of `max` equal time buckets (the last point always stays).
#[derive(Debug, Default)]
pub struct Thinner {
    points: Vec<(i64, f64)>,
}

impl Thinner {
    /// Add a close (in time order).
    pub fn push(&mut self, time_ms: i64, close: f64) {
        self.points.push((time_ms, close));
    }

    /// At most `max` points.
    pub fn finish(self, max: usize) -> Vec<(i64, f64)> {
        let p = self.points;
        if p.len() <= max || max < 2 {
            return p;
        }
        let (t0, t1) = (p[0].0, p[p.len() - 1].0);
        let width = ((t1 - t0) as f64 / max as f64).max(1.0);
        let mut out: Vec<(i64, f64)> = Vec::with_capacity(max + 1);
        let mut bucket = i64::MIN;
        for &(t, c) in &p {
            let b = ((t - t0) as f64 / width) as i64;
            if b == bucket
                && let Some(last) = out.last_mut()
            {
                *last = (t, c);
            } else {
                bucket = b;
                out.push((t, c));
            }
        }
        out
    }
}

/// A month's return: equity at the month's last bar over the equity at the
/// previous month's last bar (the first month: over the initial equity).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthlyReturn {
    /// Year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Return as a fraction.
    pub ret: f64,
}

/// Monthly returns of an equity curve, in order; months without a bar are
/// absent.
pub fn monthly_returns(equity: &[(i64, f64)], initial: f64) -> Vec<MonthlyReturn> {
    let mut out = Vec::new();
    let mut base = initial;
    let mut current: Option<(i32, u32, f64)> = None;
    for &(t, e) in equity {
        let Some(d) = chrono::DateTime::from_timestamp_millis(t) else {
            continue;
        };
        let key = (d.year(), d.month());
        match current {
            Some((y, m, last)) if (y, m) != key => {
                out.push(MonthlyReturn {
                    year: y,
                    month: m,
                    ret: last / base - 1.0,
                });
                base = last;
                current = Some((key.0, key.1, e));
            }
            _ => current = Some((key.0, key.1, e)),
        }
    }
    if let Some((y, m, last)) = current {
        out.push(MonthlyReturn {
            year: y,
            month: m,
            ret: last / base - 1.0,
        });
    }
    out
}

/// Drawdown from the running peak, as a negative fraction, per point.
pub fn drawdowns(equity: &[(i64, f64)]) -> Vec<f64> {
    crate::statistic::drawdown::series(equity)
}

/// Escape text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JSON for a `<script>` block: `</` cannot end the block early.
fn script_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "null".into())
        .replace("</", "<\\/")
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// The monthly returns as a year × month table.
fn monthly_table(months: &[MonthlyReturn]) -> String {
    let mut html = String::from(
        "<table class=\"months\"><thead><tr><th>Year</th>\
         <th>Jan</th><th>Feb</th><th>Mar</th><th>Apr</th><th>May</th><th>Jun</th>\
         <th>Jul</th><th>Aug</th><th>Sep</th><th>Oct</th><th>Nov</th><th>Dec</th>\
         <th>Year</th></tr></thead><tbody>",
    );
    let mut years: Vec<i32> = months.iter().map(|m| m.year).collect();
    years.dedup();
    for y in years {
        html.push_str(&format!("<tr><th>{y}</th>"));
        let mut compound = 1.0;
        for month in 1..=12 {
            match months.iter().find(|m| m.year == y && m.month == month) {
                Some(m) => {
                    compound *= 1.0 + m.ret;
                    let class = if m.ret >= 0.0 { "up" } else { "down" };
                    html.push_str(&format!(
                        "<td class=\"{class}\" data-month=\"{y}-{month:02}\">{}</td>",
                        pct(m.ret)
                    ));
                }
                None => html.push_str("<td></td>"),
            }
        }
        html.push_str(&format!(
            "<td class=\"year\" data-year=\"{y}\">{}</td></tr>",
            pct(compound - 1.0)
        ));
    }
    html.push_str("</tbody></table>");
    html
}

/// Render the page.
pub fn render(input: &HtmlInput) -> String {
    let r = input.report;
    let months = monthly_returns(input.equity, input.initial_equity);
    let dd = drawdowns(input.equity);
    let times: Vec<f64> = input.equity.iter().map(|&(t, _)| t as f64 / 1e3).collect();
    let values: Vec<f64> = input.equity.iter().map(|&(_, e)| e).collect();
    let data = serde_json::json!({
        "equity": [times, values],
        "drawdown": dd.iter().map(|d| d * 100.0).collect::<Vec<f64>>(),
        "prices": input.prices,
        "fills": input.fills,
    });
    let stats: String = r
        .rows()
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v)))
        .collect();
    let refusals: String = r
        .refusals_by_rule
        .iter()
        .map(|c| {
            format!(
                "<li><b>{} ×{}</b> (entries {}, exits {}): {}</li>",
                esc(c.rule.as_str()),
                c.count,
                c.count - c.exits,
                c.exits,
                esc(&c.first)
            )
        })
        .collect();
    let states: String = r
        .risk_states
        .iter()
        .map(|s| {
            format!(
                "<li><b>{}</b> at {}: {}</li>",
                esc(&s.state),
                esc(&s.time),
                esc(&s.reason)
            )
        })
        .collect();
    let warning = if r.lookahead {
        "<p class=\"warn\">Batched delivery: the strategy could read bars after the one it \
         decided on. These figures may contain look-ahead and are no evidence for a gate.</p>"
    } else if r.intents > 0 && r.approved == 0 {
        "<p class=\"warn\">The strategy asked, and no intent was approved: see the refusals.</p>"
    } else {
        ""
    };
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{UPLOT_CSS}</style>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} h2 {{ font-size: 16px; margin: 24px 0 8px; }}
.grid {{ display: grid; grid-template-columns: minmax(260px, 340px) 1fr; gap: 24px; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 2px 8px; text-align: right; }}
table.stats th {{ text-align: left; font-weight: normal; color: #555; }}
table.months td.up {{ color: #0a7a2f; }} table.months td.down {{ color: #b3261e; }}
table.months td.year {{ font-weight: bold; }} .warn {{ background: #fff3cd; padding: 8px; }}
.chart {{ margin-bottom: 12px; }}
</style></head>
<body>
<h1>{title}</h1>
<p>{period}</p>
{warning}
<div class="grid">
<div><h2>Statistics</h2><table class="stats">{stats}</table></div>
<div><h2>Equity</h2><div id="equity" class="chart"></div>
<h2>Drawdown</h2><div id="drawdown" class="chart"></div></div>
</div>
<h2>Trades on price</h2><div id="prices"></div>
<h2>Monthly returns</h2>{monthly}
<h2>Refusals by rule</h2><ul id="refusals">{refusals}</ul>
<h2>Risk states</h2><ul id="states">{states}</ul>
<script>{UPLOT_JS}</script>
<script id="data" type="application/json">{data}</script>
<script>
(function () {{
  const d = JSON.parse(document.getElementById("data").textContent);
  const width = () => Math.max(480, Math.min(1100, window.innerWidth - 420));
  const money = (u, v) => v == null ? "" : v.toFixed(2);
  const drawn = {{}};
  const axes = [{{}}, {{ size: 80 }}];
  const eq = new uPlot({{ width: width(), height: 260, scales: {{ x: {{ time: true }} }}, axes,
    series: [{{}}, {{ label: "equity", stroke: "#1f6feb", width: 1.5, value: money }}] }},
    d.equity, document.getElementById("equity"));
  drawn.equity = eq.data[1].length;
  new uPlot({{ width: width(), height: 160, scales: {{ x: {{ time: true }} }}, axes,
    series: [{{}}, {{ label: "drawdown %", stroke: "#b3261e", fill: "rgba(179,38,30,0.12)",
      value: (u, v) => v == null ? "" : v.toFixed(2) + "%" }}] }},
    [d.equity[0], d.drawdown], document.getElementById("drawdown"));
  let marks = 0, levels = 0;
  for (const p of d.prices) {{
    const el = document.createElement("div");
    el.className = "chart";
    el.dataset.symbol = p.symbol;
    document.getElementById("prices").appendChild(el);
    // The fills of this symbol, on a time axis merged with the prices'.
    const fills = d.fills.filter(f => f.symbol === p.symbol);
    const times = [...new Set(p.points.map(x => x[0]).concat(fills.map(f => f.time_ms)))]
      .sort((a, b) => a - b);
    const at = new Map(times.map((t, i) => [t, i]));
    const close = new Array(times.length).fill(null);
    const buys = new Array(times.length).fill(null);
    const sells = new Array(times.length).fill(null);
    for (const [t, c] of p.points) close[at.get(t)] = c;
    for (const f of fills) (f.buy ? buys : sells)[at.get(f.time_ms)] = f.price;
    marks += fills.length;
    // The resting stop and target: step functions read at every time shown.
    const step = (changes) => {{
      let k = -1;
      const out = times.map(t => {{ while (k + 1 < changes.length && changes[k + 1][0] <= t) k++;
        return k >= 0 ? changes[k][1] : null; }});
      levels += out.filter(v => v != null).length; return out; }};
    const stops = step(p.levels.stops), targets = step(p.levels.targets);
    const dots = (color) => ({{ stroke: color, fill: color, paths: () => null,
      points: {{ show: true, size: 8 }}, value: money }});
    new uPlot({{ width: width() + 340, height: 300, title: p.symbol,
      scales: {{ x: {{ time: true }} }}, axes,
      series: [{{}}, {{ label: "close", stroke: "#555", width: 1, spanGaps: true, value: money }},
        Object.assign({{ label: "buy" }}, dots("#0a7a2f")),
        Object.assign({{ label: "sell" }}, dots("#b3261e")),
        {{ label: "stop", stroke: "#b3261e", dash: [6, 4], width: 1, value: money }},
        {{ label: "target", stroke: "#0a7a2f", dash: [6, 4], width: 1, value: money }}] }},
      [times.map(t => t / 1000), close, buys, sells, stops, targets], el);
  }}
  drawn.prices = d.prices.length;
  drawn.fills = marks;
  drawn.levels = levels;
  document.body.dataset.rendered = "equity:" + drawn.equity + ",prices:" + drawn.prices +
    ",fills:" + drawn.fills + ",levels:" + drawn.levels;
}})();
</script>
</body></html>
"##,
        title = esc(&input.title),
        period = esc(&format!(
            "{} → {}, {} bars, {} trades",
            r.start, r.end, r.bars, r.trades
        )),
        monthly = monthly_table(&months),
        data = script_json(&data),
    )
}

/// Calls its argument on every bar a run read, in order.
pub type EachBar<'a> =
    dyn FnMut(&mut dyn FnMut(&crate::data::market::Bar)) -> anyhow::Result<()> + 'a;

/// The page of a run: its meta, outcome and journal entries, with the
/// closes of the (at most eight) most traded symbols from `bars`, which
/// calls its argument on every bar the run read, in order.
pub fn run_page(
    meta: &crate::store::journal::RunMeta,
    outcome: &crate::engine::RunOutcome,
    entries: &[crate::store::journal::Entry],
    bars: &mut EachBar<'_>,
) -> anyhow::Result<String> {
    use crate::store::journal::Entry;
    let symbols = &meta.symbols;
    let fills: Vec<FillMark> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Fill { fill, .. } => Some(FillMark {
                symbol: symbols
                    .get(fill.symbol as usize)
                    .cloned()
                    .unwrap_or_default(),
                time_ms: fill.time_ms,
                price: fill.price,
                buy: fill.side == crate::execution::Side::Buy,
                origin: fill.origin.as_str().into(),
            }),
            _ => None,
        })
        .collect();
    // The most traded symbols (at most eight), else the first one.
    let mut traded: Vec<(usize, usize)> = (0..symbols.len())
        .map(|i| (fills.iter().filter(|f| f.symbol == symbols[i]).count(), i))
        .filter(|(n, _)| *n > 0)
        .collect();
    traded.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut shown: Vec<usize> = traded.iter().take(8).map(|(_, i)| *i).collect();
    if shown.is_empty() && !symbols.is_empty() {
        shown.push(0);
    }
    let mut thinners: Vec<Option<Thinner>> = (0..symbols.len())
        .map(|i| shown.contains(&i).then(Thinner::default))
        .collect();
    let mut bar_times: Vec<i64> = Vec::new();
    bars(&mut |b| {
        bar_times.push(b.time_ms);
        if let Some(Some(t)) = thinners.get_mut(b.symbol as usize) {
            t.push(b.time_ms, b.close);
        }
    })?;
    let mut levels = super::levels::protection_levels(entries, &bar_times, symbols.len());
    let prices = shown
        .iter()
        .filter_map(|&i| {
            let t = thinners.get_mut(i)?.take()?;
            Some(PriceSeries {
                symbol: symbols[i].clone(),
                points: t.finish(MAX_PRICE_POINTS),
                levels: std::mem::take(levels.get_mut(i)?),
            })
        })
        .collect();
    Ok(render(&HtmlInput {
        title: format!(
            "{}@{} on {}",
            meta.plugin_name,
            meta.plugin_version,
            symbols.join(", ")
        ),
        report: &Report::new(outcome),
        initial_equity: meta.initial_cash,
        equity: &outcome.equity_curve,
        prices,
        fills,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn monthly_returns_chain_month_end_equities_from_the_initial_equity() {
        // 2024-01-01 … : January ends at 110, February at 99, March at 99.
        let jan = 1_704_067_200_000;
        let equity = [
            (jan, 100.0),
            (jan + 30 * DAY, 110.0),
            (jan + 31 * DAY, 105.0),
            (jan + 59 * DAY, 99.0),
            (jan + 60 * DAY, 99.0),
        ];
        let m = monthly_returns(&equity, 100.0);
        let got: Vec<(i32, u32, String)> = m
            .iter()
            .map(|m| (m.year, m.month, format!("{:.4}", m.ret)))
            .collect();
        assert_eq!(
            got,
            vec![
                (2024, 1, "0.1000".into()),
                (2024, 2, "-0.1000".into()),
                (2024, 3, "0.0000".into())
            ]
        );
    }

    #[test]
    fn drawdown_is_measured_from_the_running_peak() {
        let dd = drawdowns(&[(0, 100.0), (1, 120.0), (2, 90.0), (3, 130.0)]);
        assert_eq!(dd, vec![0.0, 0.0, -0.25, 0.0]);
    }

    #[test]
    fn thinning_keeps_the_last_close_of_each_bucket_and_the_last_point() {
        let mut t = Thinner::default();
        for i in 0..10_000 {
            t.push(i, i as f64);
        }
        let p = t.finish(100);
        assert!(p.len() <= 101, "{}", p.len());
        assert_eq!(p.last(), Some(&(9_999, 9_999.0)));
        assert!(p.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn text_cannot_break_out_of_the_page() {
        assert_eq!(esc("<script>&\""), "&lt;script&gt;&amp;&quot;");
        assert!(!script_json(&"</script><b>").contains("</script>"));
    }
}
