//! `sandbar backup` and `sandbar restore`: the service's data copied while
//! it runs (through its API), or a stopped one's directly; and put back
//! into an empty data directory (`crate::store::backup`).

use std::path::PathBuf;

use super::RegistryOpt;

/// `sandbar backup`.
#[derive(Debug, clap::Args)]
pub(super) struct BackupArgs {
    /// A running service (`http://127.0.0.1:7878`; the token from
    /// SANDBAR_TOKEN): it writes the backup into `backups/<name>` beside
    /// its registry.
    #[arg(long, conflicts_with_all = ["to", "journals"])]
    server: Option<String>,
    /// With --server: the backup's directory name (default: the UTC time).
    #[arg(long, requires = "server")]
    name: Option<String>,
    /// Without a service: where to write the backup of --registry (a
    /// directory that must not exist).
    #[arg(long, required_unless_present = "server")]
    to: Option<PathBuf>,
    /// Without a service: its journals directory (default: `journals/`
    /// beside the registry).
    #[arg(long)]
    journals: Option<PathBuf>,
}

/// `sandbar restore`.
#[derive(Debug, clap::Args)]
pub(super) struct RestoreArgs {
    /// The backup directory (holding `backup.json`).
    #[arg(long)]
    from: PathBuf,
    /// The data directory to restore into: its `registry.redb` and
    /// `journals/` must not exist yet.
    #[arg(long)]
    data_dir: PathBuf,
}

pub(super) fn backup(registry: &RegistryOpt, a: BackupArgs) -> anyhow::Result<()> {
    let (dir, files) = match (a.server, a.to) {
        (Some(server), _) => {
            let c = crate::service::api::Client::new(&server)?;
            let v = c.post_path("/backup", &serde_json::json!({ "name": a.name }))?;
            let files: Vec<crate::store::backup::Copied> =
                serde_json::from_value(v["files"].clone())?;
            (PathBuf::from(v["dir"].as_str().unwrap_or_default()), files)
        }
        (None, Some(to)) => {
            let reg = registry.path();
            let journals = a.journals.unwrap_or_else(|| {
                reg.parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join("journals")
            });
            let m = crate::store::backup::backup(&reg, &journals, &to)?;
            (to, m.files)
        }
        (None, None) => anyhow::bail!("say where: --server or --to"),
    };
    let bytes: u64 = files.iter().map(|c| c.bytes).sum();
    println!(
        "backup {}: {} databases, {bytes} bytes, each opened and checked",
        dir.display(),
        files.len()
    );
    for c in &files {
        println!("  {}  {} bytes  sha256 {}", c.file, c.bytes, c.sha256);
    }
    Ok(())
}

pub(super) fn restore(a: RestoreArgs) -> anyhow::Result<()> {
    let m = crate::store::backup::restore(&a.from, &a.data_dir)?;
    println!(
        "restored {} databases from {} (taken {}) into {}; start the service on it to recover",
        m.files.len(),
        a.from.display(),
        m.taken_at,
        a.data_dir.display()
    );
    Ok(())
}
