//! The deployment commands that act on a running service, over its HTTP API.

use super::*;

/// Commands that go to a running service.
pub(super) fn remote(cmd: &DeployCmd) -> Option<(&str, &str)> {
    use DeployCmd::*;
    match cmd {
        Pause {
            name,
            server: Some(s),
            ..
        }
        | Resume {
            name,
            server: Some(s),
            ..
        }
        | Show {
            name,
            server: Some(s),
        } => Some((name, s)),
        List { server: Some(s) } => Some(("", s)),
        Start { name, server, .. }
        | Flatten { name, server, .. }
        | Swap { name, server, .. }
        | Rollback { name, server, .. }
        | Continue { name, server, .. }
        | Shadow { name, server, .. }
        | ShadowReport { name, server }
        | PromoteShadow { name, server, .. }
        | Status { name, server }
        | Stop { name, server } => Some((name, server)),
        _ => None,
    }
}

pub(super) fn remote_cmd(cmd: DeployCmd) -> anyhow::Result<()> {
    use crate::service::api::{Client, Reason, VersionBody};
    let (name, server) = remote(&cmd)
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .expect("remote command");
    // The service records the token's holder as the actor.
    let c = Client::new(&server)?;
    let why = |reason: String| Reason { reason };
    let version = |plugin: Option<String>, reason: String| VersionBody { plugin, reason };
    let v = match cmd {
        DeployCmd::Pause { reason, .. } => {
            c.post(&name, "pause", &why(reason.unwrap_or_default()))?
        }
        DeployCmd::Resume { reason, .. } => {
            c.post(&name, "resume", &why(reason.unwrap_or_default()))?
        }
        DeployCmd::Flatten { reason, .. } => c.post(&name, "flatten", &why(reason))?,
        DeployCmd::Start {
            feed,
            symbols,
            interval,
            start,
            ..
        } => match (feed, interval) {
            (Some(feed), Some(interval)) => c.post(
                &name,
                "start",
                &crate::service::FeedSpec {
                    feed,
                    symbols,
                    interval,
                    start,
                },
            )?,
            (None, None) => c.post(&name, "start", &serde_json::Value::Null)?,
            _ => anyhow::bail!(
                "give both --feed and --interval, or neither (to use the service's configuration)"
            ),
        },
        DeployCmd::Swap { plugin, reason, .. } => {
            c.post(&name, "swap", &version(Some(plugin), reason))?
        }
        DeployCmd::Rollback { to, reason, .. } => {
            c.post(&name, "rollback", &version(to, reason))?
        }
        DeployCmd::Continue { plugin, reason, .. } => {
            c.post(&name, "continue", &version(plugin, reason))?
        }
        DeployCmd::Shadow { plugin, .. } => {
            c.post(&name, "shadow", &version(Some(plugin), String::new()))?
        }
        DeployCmd::ShadowReport { .. } => {
            let d: crate::service::shadow::Divergence =
                serde_json::from_value(c.get(&name, "/shadow")?)?;
            print!("{}", d.table());
            return Ok(());
        }
        DeployCmd::PromoteShadow { reason, .. } => c.post(&name, "promote-shadow", &why(reason))?,
        DeployCmd::Status { .. } => c.get(&name, "")?,
        DeployCmd::List { .. } => {
            let v = c.get_path("/deployments")?;
            let ds: Vec<crate::store::registry::Deployment> = v
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| serde_json::from_value(d["deployment"].clone()).ok())
                .collect();
            print_list(&ds);
            return Ok(());
        }
        DeployCmd::Show { .. } => {
            let v = c.get(&name, "/history")?;
            print_show(
                &serde_json::from_value(v["deployment"].clone())?,
                serde_json::from_value(v["audit"].clone())?,
            );
            return Ok(());
        }
        DeployCmd::Stop { .. } => c.post(&name, "stop", &serde_json::Value::Null)?,
        _ => unreachable!("not a remote command"),
    };
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}
