//! How deployments, their gates and their checklist are printed.

use super::*;

/// Gate thresholds from a TOML file, else the defaults.
pub(super) fn load_gates(
    path: Option<&std::path::Path>,
) -> anyhow::Result<crate::lifecycle::GateConfig> {
    Ok(match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let gates: crate::lifecycle::GateConfig =
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("gates {}: {e}", p.display()))?;
            gates
                .check()
                .map_err(|e| anyhow::anyhow!("gates {}: {e}", p.display()))?;
            gates
        }
        None => crate::lifecycle::GateConfig::default(),
    })
}

/// `deploy show`: the deployment, its evidence and its history.
pub(super) fn print_show(
    d: &crate::store::registry::Deployment,
    trail: Vec<crate::store::registry::AuditEntry>,
) {
    println!(
        "{} ({}) since {}
  plugin {}
  params {}
  symbols {}
  capital {}",
        d.name,
        d.stage,
        d.stage_since,
        d.plugin,
        d.params.join(" "),
        d.symbols.join(" "),
        d.capital
    );
    if let Some(b) = &d.backtest {
        println!(
            "  backtest: {} bars, {:.2} years, Sharpe {:.2}, max drawdown {:.2}%, {} trades",
            b.bars,
            b.years,
            b.sharpe,
            b.max_drawdown * 100.0,
            b.trades
        );
        if let Some(w) = &b.walk_forward {
            println!(
                "  walk-forward {} over {} windows ({}): out-of-sample Sharpe {:.2}, efficiency {:.3}",
                w.spans,
                w.windows,
                w.grid.join(" "),
                w.sharpe,
                w.efficiency
            );
        }
        if let Some(m) = &b.monte_carlo {
            println!(
                "  Monte Carlo: {} paths ({}, seed {}), 95th-percentile drawdown {:.2}%",
                m.runs,
                m.method,
                m.seed,
                m.p95_drawdown * 100.0
            );
        }
    }
    if let Some(p) = &d.paper {
        println!(
            "  paper: {:.2} days, {} trades, Sharpe {:.2}, slippage {:.2} bps, {} faults",
            p.days, p.trades, p.sharpe, p.slippage_bps, p.faults
        );
    }
    println!("history:");
    for e in trail {
        println!(
            "  {} {} {} → {} by {}{}{}",
            e.time,
            e.action,
            e.from.unwrap_or_default(),
            e.to.unwrap_or_default(),
            e.actor,
            if e.forced { " FORCED" } else { "" },
            e.reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
    }
}

/// `deploy list`.
pub(super) fn print_list(ds: &[crate::store::registry::Deployment]) {
    for d in ds {
        println!(
            "{:<24} {:<10} {:<28} since {}",
            d.name,
            d.stage.to_string(),
            d.plugin,
            d.stage_since
        );
    }
}

/// `deploy checklist`: confirm an item a person confirms, then print every
/// item of the pre-live checklist; open items make the command fail.
pub(super) fn checklist_cmd(reg: &Registry, who: &str, cmd: DeployCmd) -> anyhow::Result<()> {
    let DeployCmd::Checklist {
        name,
        confirm,
        reason,
        gates,
    } = cmd
    else {
        unreachable!("checklist_cmd is given `deploy checklist`")
    };
    use crate::lifecycle::MANUAL_ITEMS;
    let d = reg.deployment(&name)?;
    if let Some(item) = &confirm {
        if !MANUAL_ITEMS.iter().any(|(id, _)| id == item) {
            let ids: Vec<&str> = MANUAL_ITEMS.iter().map(|(id, _)| *id).collect();
            anyhow::bail!(
                "`{item}` is not an item a person confirms (those are: {}); the others are measured",
                ids.join(", ")
            );
        }
        reg.confirm_item(
            &name,
            who,
            item,
            &d.plugin,
            reason.as_deref().unwrap_or_default(),
        )?;
    }
    let g = load_gates(gates.as_deref())?;
    // The registry's own list: the one `promote` to LIVE is held to.
    let items = reg.checklist(&name, &g)?;
    println!("pre-live checklist of {name} ({}, {}):", d.plugin, d.stage);
    for i in &items {
        println!(
            "  [{}] {:<24} {}\n  {:>6} {:<24} {}",
            match (i.done, i.manual) {
                (true, _) => "done",
                (false, true) => "todo",
                (false, false) => "FAIL",
            },
            i.id,
            i.what,
            "",
            if i.manual {
                "(a person confirms)"
            } else {
                "(measured)"
            },
            i.value
        );
    }
    let open: Vec<&str> = items.iter().filter(|i| !i.done).map(|i| i.id).collect();
    if !open.is_empty() {
        return Err(super::super::Exit {
            code: 1,
            message: format!(
                "{} of {} items done; open: {}",
                items.len() - open.len(),
                items.len(),
                open.join(", ")
            ),
        }
        .into());
    }
    println!("every item done ({})", items.len());
    Ok(())
}
