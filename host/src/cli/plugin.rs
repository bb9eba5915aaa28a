//! `sandbar plugin …` and `sandbar describe`: the plugin registry and what a
//! component says about itself.

use std::path::PathBuf;

use clap::Subcommand;

use super::{RegistryOpt, actor, cache_dir};
use crate::sandbox::runtime::Runtime;

#[derive(Debug, Subcommand)]
pub(super) enum PluginCmd {
    /// Validate a component and add it (content-addressed by SHA-256).
    Add {
        /// The component (.wasm).
        file: PathBuf,
        /// A note kept with the version.
        #[arg(long)]
        note: Option<String>,
    },
    /// List every registered version.
    List,
    /// Metadata, parameters, deployments and history of `name[@version]`.
    Show {
        /// `name` (newest version) or `name@version`.
        spec: String,
    },
    /// Remove a version no deployment uses.
    Remove {
        /// `name@version`.
        label: String,
    },
}

pub(super) fn run(registry: &RegistryOpt, cmd: PluginCmd) -> anyhow::Result<()> {
    let reg = registry.open()?;
    match cmd {
        PluginCmd::Add { file, note } => {
            let rt = Runtime::new(cache_dir().as_deref())?;
            let t = std::time::Instant::now();
            let (r, already) = reg.add_plugin(&rt, &file, note, &actor())?;
            if already {
                println!(
                    "{} is already registered with these bytes (sha256 {}); nothing to do",
                    r.label(),
                    r.sha256
                );
            } else {
                println!(
                    "added {} (sha256 {}, {} bytes) in {:.0?}",
                    r.label(),
                    r.sha256,
                    r.size,
                    t.elapsed()
                );
            }
        }
        PluginCmd::List => {
            for r in reg.plugins()? {
                println!(
                    "{:<32} sha256:{}  {:>8} bytes  sdk {}  {}  added {}",
                    r.label(),
                    &r.sha256[..12],
                    r.size,
                    r.sdk_version,
                    r.contract,
                    r.added_at
                );
            }
        }
        PluginCmd::Show { spec } => {
            let r = reg.plugin(&spec)?;
            println!(
                "{}
  sha256 {}
  {} bytes, sdk {}, {} delivery, {}",
                r.label(),
                r.sha256,
                r.size,
                r.sdk_version,
                r.delivery,
                r.contract
            );
            println!(
                "  added {} by {}{}",
                r.added_at,
                r.added_by,
                r.note
                    .as_ref()
                    .map(|n| format!(" — {n}"))
                    .unwrap_or_default()
            );
            println!("parameters:");
            for p in &r.params {
                let range = match (p.min, p.max) {
                    (Some(a), Some(b)) => format!(" in [{a}, {b}]"),
                    _ => String::new(),
                };
                println!(
                    "  {} ({}, default {}{range}) {}",
                    p.name, p.ty, p.default, p.doc
                );
            }
            println!("deployments:");
            for d in reg.deployments()?.iter().filter(|d| d.plugin == r.label()) {
                println!("  {} ({})", d.name, d.stage);
            }
            println!("history:");
            for e in reg.audit_trail(Some(&r.label()))? {
                println!(
                    "  {} {} {} by {}",
                    e.time,
                    e.action,
                    e.to.unwrap_or_default(),
                    e.actor
                );
            }
        }
        PluginCmd::Remove { label } => {
            reg.remove_plugin(&label, &actor())?;
            println!("removed {label}");
        }
    }
    Ok(())
}

/// `sandbar describe <file.wasm>`.
pub(super) fn describe(plugin: PathBuf) -> anyhow::Result<()> {
    let rt = Runtime::new(cache_dir().as_deref())?;
    let p = rt.load(&plugin)?;
    let mut inst = rt
        .instantiate(&p, Default::default(), 0)
        .map_err(|e| anyhow::anyhow!("plugin {}: {e}", plugin.display()))?;
    inst.init_with_defaults().map_err(|e| {
        anyhow::anyhow!(
            "plugin {}: rejects its own default parameters: {e}",
            plugin.display()
        )
    })?;
    let d = inst.description();
    println!(
        "{}@{} (sdk {}, {}, {} delivery)",
        d.name,
        d.version,
        d.sdk_version,
        p.contract(),
        crate::sandbox::runtime::delivery_name(crate::sandbox::runtime::Delivery::default_for(
            d.delivery,
            inst.exact()
        ))
    );
    println!("sha256 {}  size {} bytes", p.hash, p.size);
    for s in &d.params {
        let range = match (s.min, s.max) {
            (Some(a), Some(b)) => format!(" in [{a}, {b}]"),
            _ => String::new(),
        };
        let ty = crate::sandbox::params::type_name(s.type_);
        println!(
            "  {} ({ty}, default {}{range}) {}",
            s.name,
            crate::sandbox::params::display(&s.default),
            s.doc
        );
    }
    Ok(())
}
