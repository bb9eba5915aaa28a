//! `sandbar serve`: deployments as a service, steered over HTTP.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{RegistryOpt, cache_dir};
use crate::sandbox::runtime::Runtime;
use crate::store::registry::Registry;

/// `sandbar serve`.
#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    #[command(flatten)]
    pub(super) registry: RegistryOpt,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub(super) listen: String,
    /// Write the bound address to this file once listening.
    #[arg(long)]
    pub(super) addr_file: Option<PathBuf>,
    /// Directory for the deployments' journals (default: `journals/` beside the registry).
    #[arg(long)]
    pub(super) journals: Option<PathBuf>,
    /// Drawdown from the peak at which a running deployment pauses itself.
    #[arg(long, default_value_t = 0.10)]
    pub(super) pause_drawdown: f64,
}

pub(super) fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        registry,
        listen,
        addr_file,
        journals,
        pause_drawdown,
    } = a;
    let path = registry.path();
    let journals = journals.unwrap_or_else(|| path.with_file_name("journals"));
    let service = crate::service::Service::new(
        Registry::open(&path)?,
        Runtime::new(cache_dir().as_deref())?,
        crate::service::ServiceConfig {
            journals,
            pause_drawdown,
        },
    )?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!("sandbar serving {} on http://{addr}", path.display());
        if let Some(f) = addr_file {
            std::fs::write(&f, format!("http://{addr}"))
                .with_context(|| format!("writing {}", f.display()))?;
        }
        crate::service::api::serve(std::sync::Arc::new(service), listener).await
    })
}
