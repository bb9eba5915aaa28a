// Sandbar's dashboard. Everything arrives over one EventSource
// (/dashboard/events): each `update` holds every deployment (`overview`)
// and the selected one in full (`detail`). Text from plugins and operators is only ever set as
// textContent, never parsed as HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
const money = (x) =>
  x == null ? "–" : x.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const pct = (x) => (x == null ? "–" : (x * 100).toFixed(2) + "%");
const qty = (x) => String(Number(x.toPrecision(8)));
const signed = (x) => (x > 0 ? "pos" : x < 0 ? "neg" : "");

let selected = new URLSearchParams(location.search).get("d");
let source = null;
let charts = null;
let detail = null;
window.sandbarUpdates = 0; // how many updates the page applied (for tests)

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fill(tbody, rows, make) {
  tbody.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    make(tr, r);
    tbody.appendChild(tr);
  }
}

function sparkline(values) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 120 28");
  svg.setAttribute("preserveAspectRatio", "none");
  if (values.length > 1) {
    const lo = Math.min(...values), hi = Math.max(...values);
    const span = hi - lo || 1;
    const pts = values.map((v, i) =>
      ((i / (values.length - 1)) * 120).toFixed(1) + "," + (26 - ((v - lo) / span) * 24).toFixed(1));
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.join(" "));
    svg.appendChild(line);
  }
  svg.dataset.points = String(values.length);
  return svg;
}

function statusText(d) {
  const s = d.status;
  if (!s) return "not started";
  if (s.ended) return "ended: " + s.ended;
  if (s.recovering) return "recovering";
  if (s.paused) return "paused: " + s.paused;
  return s.feed && s.feed.stale ? "running (feed STALE)" : "running";
}

function renderOverview(list) {
  if (window.sandbarFirstRender == null) window.sandbarFirstRender = performance.now();
  $("#empty").hidden = list.length > 0;
  fill($("#deployments tbody"), list, (tr, d) => {
    const s = d.status;
    tr.dataset.deployment = d.name;
    if (d.name === selected) tr.classList.add("selected");
    cell(tr, d.name, "name");
    cell(tr, d.stage, "stage");
    cell(tr, s ? s.risk_state : "–", "state state-" + (s ? s.risk_state : ""));
    cell(tr, s ? s.serving : d.plugin, "version");
    cell(tr, s ? money(s.equity) : "–", "num equity");
    cell(tr, "", "spark-cell").appendChild(sparkline(d.spark || []));
    cell(tr, s ? pct(s.drawdown) : "–", "num drawdown");
    cell(tr, s ? money(d.today) : "–", "num today " + (s ? signed(d.today) : ""));
    cell(tr, statusText(d), "status");
    tr.addEventListener("click", () => select(d.name));
  });
  window.sandbarUpdates++;
}

function marksPlugin(getMarks) {
  // Swaps and rollbacks as vertical lines on the equity curve.
  return {
    hooks: {
      draw: (u) => {
        const ctx = u.ctx;
        for (const m of getMarks()) {
          if (m.kind !== "swap" && m.kind !== "rollback") continue;
          const x = u.valToPos(m.time_ms / 1000, "x", true);
          if (!(x >= u.bbox.left && x <= u.bbox.left + u.bbox.width)) continue;
          ctx.save();
          ctx.strokeStyle = m.kind === "swap" ? "#2f6fd0" : "#b3261e";
          ctx.setLineDash([4, 3]);
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.restore();
        }
      },
    },
  };
}

function drawdowns(equity) {
  let peak = -Infinity;
  return equity.map((e) => {
    peak = Math.max(peak, e);
    return peak > 0 ? -(1 - e / peak) * 100 : 0;
  });
}

function renderCharts(d) {
  const t = d.board.curve.t, eq = d.board.curve.equity;
  const width = Math.max(300, $("#detail").clientWidth - 10);
  const data1 = [t, eq], data2 = [t, drawdowns(eq)];
  if (!charts || charts.name !== d.name) {
    if (charts) { charts.equity.destroy(); charts.drawdown.destroy(); }
    const opts = (label, color, fillColor) => ({
      width, height: 220,
      // Bar times are UTC, as everywhere in Sandbar.
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      scales: { x: { time: true } },
      axes: [{}, { size: 80 }],
      series: [{}, { label, stroke: color, fill: fillColor, width: 1.5, points: { show: false } }],
      legend: { show: true },
    });
    const eqOpts = opts("equity", "#2f6fd0", "#2f6fd018");
    eqOpts.plugins = [marksPlugin(() => (detail ? detail.board.marks : []))];
    charts = {
      name: d.name,
      equity: new uPlot(eqOpts, data1, $("#equity-chart")),
      drawdown: new uPlot(Object.assign(opts("drawdown %", "#b3261e", "#b3261e22"), { height: 140 }), data2, $("#drawdown-chart")),
    };
  } else {
    charts.equity.setData(data1);
    charts.drawdown.setData(data2);
  }
  $("#equity-chart").dataset.points = String(t.length);
}

// Null when there is no round trip yet, or no loss to divide by (∞).
function profitFactor(r) {
  if (r.profit_factor != null) return r.profit_factor.toFixed(2);
  return r.trades > 0 && r.win_rate > 0 ? "∞" : "–";
}

function renderDetail(d) {
  detail = d;
  const s = d.status;
  $("#detail").hidden = false;
  $("#detail-name").textContent = d.name + (s ? " — " + s.serving : "");
  const cards = [
    ["Stage", d.stage],
    ["State", s ? s.risk_state : "–"],
    ["Equity", s ? money(s.equity) : "–"],
    ["PnL", s ? money(s.pnl) : "–"],
    ["Today", s ? money(d.today) : "–"],
    ["Drawdown", s ? pct(s.drawdown) : "–"],
    ["Orders sent", s ? String(s.orders) : "–"],
    ["Trades", s ? String(s.trades) : "–"],
    ["Win rate", pct(d.board.record.win_rate)],
    ["Profit factor", profitFactor(d.board.record)],
    ["Sharpe (" + d.board.record.rolling_days + " d)",
      d.board.record.rolling_sharpe == null ? "–" : d.board.record.rolling_sharpe.toFixed(2)],
    ["Last bar", s && s.last_bar ? s.last_bar : "–"],
    ["Status", statusText(d)],
  ];
  const dl = $("#cards");
  dl.replaceChildren();
  for (const [k, v] of cards) {
    const div = document.createElement("div");
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k; dd.textContent = v;
    dd.id = "card-" + k.toLowerCase().replace(/ /g, "-");
    div.append(dt, dd);
    dl.appendChild(div);
  }
  const b = d.board;
  fill($("#positions tbody"), b.positions, (tr, p) => {
    cell(tr, p.symbol); cell(tr, qty(p.quantity), "num"); cell(tr, money(p.average_price), "num");
    cell(tr, money(p.price), "num"); cell(tr, money(p.unrealized), "num " + signed(p.unrealized));
  });
  fill($("#orders tbody"), b.open_orders, (tr, o) => {
    cell(tr, String(o.id)); cell(tr, o.symbol); cell(tr, o.side);
    cell(tr, qty(o.quantity), "num"); cell(tr, o.kind); cell(tr, o.origin);
  });
  $("#fill-count").textContent = "(" + b.fill_count + " in all)";
  $("#fills").dataset.count = String(b.fill_count);
  fill($("#fills tbody"), b.fills, (tr, f) => {
    cell(tr, f.time); cell(tr, f.symbol); cell(tr, f.side, signed(f.side === "buy" ? 1 : -1));
    cell(tr, qty(f.quantity), "num"); cell(tr, money(f.price), "num");
    cell(tr, money(f.commission), "num"); cell(tr, f.origin);
  });
  $("#intent-count").textContent = "(" + b.intent_count + " in all)";
  fill($("#intents tbody"), b.intents, (tr, i) => {
    cell(tr, i.time); cell(tr, i.symbol); cell(tr, i.action);
    cell(tr, i.stop_loss == null ? "–" : money(i.stop_loss), "num");
    cell(tr, i.take_profit == null ? "–" : money(i.take_profit), "num");
    cell(tr, i.reason, "detail");
  });
  $("#refusal-count").textContent = "(" + b.refusal_count + " in all)";
  fill($("#refusals tbody"), b.refusals, (tr, r) => {
    cell(tr, r.time); cell(tr, r.symbol); cell(tr, r.rule); cell(tr, r.detail, "detail");
  });
  fill($("#alerts tbody"), d.alerts, (tr, a) => {
    cell(tr, a.time); cell(tr, a.level, "level-" + a.level); cell(tr, a.rule); cell(tr, a.message, "message");
  });
  fill($("#marks tbody"), b.marks.slice().reverse(), (tr, m) => {
    cell(tr, new Date(m.time_ms).toISOString()); cell(tr, m.kind); cell(tr, m.text, "what");
  });
  const sel = $("#swap-to");
  const current = sel.value;
  sel.replaceChildren();
  for (const v of d.swappable) {
    const o = document.createElement("option");
    o.value = v; o.textContent = v;
    sel.appendChild(o);
  }
  if (d.swappable.includes(current)) sel.value = current;
  if (d.swappable.length === 0) {
    const o = document.createElement("option");
    o.value = ""; o.textContent = "no other version registered"; o.disabled = true;
    sel.appendChild(o);
  }
  renderCharts(d);
  window.sandbarUpdates++;
}

function setConn(live) {
  const c = $("#conn");
  c.textContent = live ? "live" : "reconnecting…";
  c.className = "conn " + (live ? "live" : "down");
}

function connect() {
  if (source) source.close();
  const q = selected ? "?deployment=" + encodeURIComponent(selected) : "";
  source = new EventSource("/dashboard/events" + q);
  source.onopen = () => setConn(true);
  source.onerror = () => setConn(false);
  source.addEventListener("update", (e) => {
    const u = JSON.parse(e.data);
    if (u.error) {
      $("#action-result").textContent = "the service could not build the page: " + u.error;
      return;
    }
    renderOverview(u.overview);
    if (u.detail) renderDetail(u.detail);
    else if (!selected && u.overview.length > 0) select(u.overview[0].name);
  });
}

function select(name) {
  selected = name;
  history.replaceState(null, "", "?d=" + encodeURIComponent(name));
  for (const tr of document.querySelectorAll("#deployments tbody tr")) {
    tr.classList.toggle("selected", tr.dataset.deployment === name);
  }
  connect();
}

// Operator actions: each behind a confirmation that asks for the reason
// the journal and the audit trail record.
const WHAT = {
  pause: (n) => "Pause " + n + "? The strategy stops being called; fills and stops go on.",
  resume: (n) => "Resume " + n + "?",
  flatten: (n) => "Flatten every position of " + n + " at the next bar?",
  swap: (n, v) => "Swap " + n + " to " + v + " at the next bar boundary?",
  rollback: (n) => "Roll " + n + " back to the version before its last swap?",
};
let pending = null;

function ask(action) {
  if (!detail) return;
  const version = $("#swap-to").value;
  if (action === "swap" && !version) {
    $("#action-result").textContent = "No other registered version to swap to.";
    return;
  }
  pending = { action, name: detail.name, version };
  $("#confirm-text").textContent = WHAT[action](detail.name, version);
  $("#confirm-reason").value = "";
  $("#confirm-error").textContent = "";
  $("#confirm").showModal();
  $("#confirm-reason").focus();
}

async function confirmAction() {
  const reason = $("#confirm-reason").value.trim();
  if (!reason) {
    $("#confirm-error").textContent = "Say why: it is journaled and audited.";
    return;
  }
  const p = pending;
  $("#confirm").close();
  const body = p.action === "swap" ? { plugin: p.version, reason } : { reason };
  const r = await fetch("/deployments/" + encodeURIComponent(p.name) + "/" + p.action, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  let message = r.ok ? p.action + " sent" : "refused (" + r.status + ")";
  try {
    const j = await r.json();
    if (j && j.error) message += ": " + j.error;
  } catch (_) { /* empty body */ }
  $("#action-result").textContent = message;
  $("#action-result").dataset.ok = String(r.ok);
}

for (const b of document.querySelectorAll("[data-action]")) {
  b.addEventListener("click", () => ask(b.dataset.action));
}
$("#confirm-ok").addEventListener("click", confirmAction);
$("#confirm-cancel").addEventListener("click", () => $("#confirm").close());
$("#confirm-reason").addEventListener("keydown", (e) => {
  if (e.key === "Enter") { e.preventDefault(); confirmAction(); }
});
window.addEventListener("resize", () => {
  if (charts) {
    const w = Math.max(300, $("#detail").clientWidth - 10);
    charts.equity.setSize({ width: w, height: 220 });
    charts.drawdown.setSize({ width: w, height: 140 });
  }
});
connect();
