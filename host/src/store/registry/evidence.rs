//! Evidence kept for the gates (backtests, paper runs, comparisons) and the checklist's confirmations.

use super::*;

impl Registry {
    /// Keep a backtest's figures as the deployment's evidence.
    pub fn record_backtest(
        &self,
        name: &str,
        evidence: BacktestEvidence,
        actor: &str,
    ) -> Result<(), RegistryError> {
        let summary = format!(
            "{}: {} bars, {:.2} years, Sharpe {:.2}, max drawdown {:.2}%, {} trades{}",
            evidence.plugin,
            evidence.bars,
            evidence.years,
            evidence.sharpe,
            evidence.max_drawdown * 100.0,
            evidence.trades,
            if evidence.lookahead {
                " (batched: look-ahead possible)"
            } else {
                ""
            }
        );
        self.modify(name, actor, |d| {
            d.backtest = Some(evidence);
            Ok(((), AuditLine::of("backtest", summary)))
        })
    }

    /// Keep a paper run's figures as the deployment's evidence for PAPER → LIVE.
    pub fn record_paper(
        &self,
        name: &str,
        evidence: PaperEvidence,
        actor: &str,
    ) -> Result<(), RegistryError> {
        let summary = format!(
            "{}: {:.0} days traded in PAPER, {} trades, Sharpe {:.2}, slippage {:.2} bps, {} faults{}",
            evidence.plugin,
            evidence.days,
            evidence.trades,
            evidence.sharpe,
            evidence.slippage_bps,
            evidence.faults,
            evidence
                .venue
                .as_ref()
                .map(|v| format!(", on venue {v}'s paper account"))
                .unwrap_or_default()
        );
        self.modify(name, actor, |d| {
            d.paper = Some(evidence);
            Ok(((), AuditLine::of("paper-evidence", summary)))
        })
    }

    /// Attach a paper-vs-replay comparison to the deployment's paper
    /// evidence (it must be of the same version).
    pub fn record_comparison(
        &self,
        name: &str,
        check: crate::lifecycle::Comparison,
        actor: &str,
    ) -> Result<(), RegistryError> {
        let summary = format!(
            "{}: {} bars, fills {}/{} matching {}, Sharpe deviation {:.2}%",
            check.plugin,
            check.bars,
            check.paper_fills,
            check.replay_fills,
            check.matching_fills,
            check.sharpe_deviation * 100.0
        );
        self.modify(name, actor, |d| {
            match &mut d.paper {
                Some(p) if p.plugin == check.plugin => p.replay = Some(check),
                _ => {
                    return Err(RegistryError::Refused(format!(
                        "deployment `{name}` has no paper evidence of {}: a paper run must end (stop the deployment) before its comparison is kept",
                        check.plugin
                    )));
                }
            }
            Ok(((), AuditLine::of("paper-comparison", summary)))
        })
    }

    /// An audit entry about a deployment that changes nothing stored (start, stop, shadow).
    /// A person confirms a manual item of the checklist for `version`.
    pub fn confirm_item(
        &self,
        name: &str,
        actor: &str,
        item: &str,
        version: &str,
        reason: &str,
    ) -> Result<(), RegistryError> {
        if reason.trim().is_empty() {
            return Err(RegistryError::ReasonRequired("confirming a checklist item"));
        }
        self.deployment(name)?;
        let tx = self.db.begin_write().map_err(|e| self.e(e))?;
        self.audit(
            &tx,
            actor,
            "checklist",
            name,
            Some(version.into()),
            Some(item.into()),
            Some(reason.into()),
            false,
        )?;
        tx.commit().map_err(|e| self.e(e))
    }

    /// The checklist confirmations of a deployment, oldest first.
    pub fn confirmations(&self, name: &str) -> Result<Vec<lifecycle::Confirmation>, RegistryError> {
        Ok(self
            .audit_trail(Some(name))?
            .into_iter()
            .filter(|e| e.action == "checklist")
            .map(|e| lifecycle::Confirmation {
                item: e.to.unwrap_or_default(),
                version: e.from.unwrap_or_default(),
                actor: e.actor,
                time: e.time,
                reason: e.reason.unwrap_or_default(),
            })
            .collect())
    }
}
