//! `sandbar serve`: deployments as a service on live feeds, steered over an
//! authenticated HTTP API, stopped cleanly by SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{RegistryOpt, cache_dir};
use crate::sandbox::runtime::Runtime;
use crate::service::api::{Access, Token};
use crate::service::config::{ApiConfig, ServiceFile};
use crate::service::{Service, ServiceConfig};
use crate::store::registry::Registry;

/// `sandbar serve`.
#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Service configuration (see host/sandbar.example.toml). Flags below override it.
    #[arg(long)]
    pub(super) config: Option<PathBuf>,
    #[command(flatten)]
    pub(super) registry: RegistryOpt,
    /// Address to listen on (port 0 picks a free port; default 127.0.0.1:7878).
    #[arg(long)]
    pub(super) listen: Option<String>,
    /// Listen on a non-loopback address without TLS (behind a TLS proxy only).
    #[arg(long)]
    pub(super) insecure_listen: bool,
    /// Write the bound address to this file once listening.
    #[arg(long)]
    pub(super) addr_file: Option<PathBuf>,
    /// Directory for the deployments' journals (default: `journals/` beside the registry).
    #[arg(long)]
    pub(super) journals: Option<PathBuf>,
    /// Drawdown from the peak at which a running deployment pauses itself.
    #[arg(long)]
    pub(super) pause_drawdown: Option<f64>,
}

/// The operators' tokens: from the configuration's `[[api.tokens]]`, else
/// `SANDBAR_TOKEN` / `SANDBAR_TOKEN_FILE` for an operator called `operator`.
fn tokens(api: &ApiConfig) -> anyhow::Result<Vec<Token>> {
    if api.tokens.is_empty() {
        let secret = crate::service::api::client_token().context(
            "the API needs a token: set SANDBAR_TOKEN (or SANDBAR_TOKEN_FILE), or configure [[api.tokens]]",
        )?;
        return Ok(vec![Token::new("operator", &secret)?]);
    }
    api.tokens
        .iter()
        .map(|t| {
            let secret = match (&t.env, &t.file) {
                (Some(var), _) => std::env::var(var).with_context(|| {
                    format!(
                        "api.tokens `{}`: environment variable {var} is not set",
                        t.name
                    )
                })?,
                (_, Some(f)) => std::fs::read_to_string(f)
                    .with_context(|| format!("api.tokens `{}`: {}", t.name, f.display()))?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                _ => anyhow::bail!("api.tokens `{}`: no env or file", t.name),
            };
            Ok(Token::new(&t.name, &secret)?.with_role(t.role))
        })
        .collect()
}

pub(super) fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let file = match &a.config {
        Some(p) => Some(ServiceFile::load(p)?),
        None => None,
    };
    let mut api = file.as_ref().map(|f| f.api.clone()).unwrap_or_default();
    if let Some(l) = a.listen {
        api.listen = l;
    }
    api.insecure_listen |= a.insecure_listen;
    let path = match (&a.registry.registry, &file) {
        (None, Some(f)) => f.data_dir.join("registry.redb"),
        _ => a.registry.path(),
    };
    let journals = a
        .journals
        .or_else(|| file.as_ref().map(|f| f.data_dir.join("journals")))
        .unwrap_or_else(|| path.with_file_name("journals"));
    let mut config = ServiceConfig::new(journals);
    if let Some(f) = &file {
        config.pause_drawdown = f.pause_drawdown;
        config.snapshot_every = Duration::from_secs_f64(f.snapshot_minutes * 60.0);
        config.flatten_on_shutdown = f.flatten_on_shutdown;
        config.feeds = f.feeds.clone();
        config.deployments = f.deployments.clone();
        config.venues = f.venues.clone();
        config.ramp_up = f.ramp_up.clone();
        config.accounts = f.accounts.clone();
        config.gates = f.gates;
        if let Some(w) = f.workers {
            config.workers = w;
        }
        config.alerts = f.alerts.clone();
    }
    if let Some(p) = a.pause_drawdown {
        config.pause_drawdown = p;
    }
    let tokens = tokens(&api)?;
    let addr: std::net::SocketAddr = api
        .listen
        .parse()
        .with_context(|| format!("api.listen {:?}: expected ip:port", api.listen))?;
    if !addr.ip().is_loopback() && !api.insecure_listen {
        anyhow::bail!(
            "api.listen {addr} is not a loopback address and the API has no TLS: put it behind a TLS reverse proxy and pass --insecure-listen (or set api.insecure_listen) to accept that"
        );
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).ok();
    }
    let rt = tokio::runtime::Runtime::new()?;
    let registry = Registry::open(&path)?;
    let origin = a
        .config
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the command line".into());
    let service = Arc::new(
        Service::new(
            registry,
            Runtime::new(cache_dir().as_deref())?,
            config,
            rt.handle(),
        )
        .with_context(|| origin.clone())?,
    );
    // The listener and the kill switch first: the API answers (and
    // `/ready` says "starting") while journals re-execute, and a deployment
    // that cannot start is marked failed while the others run.
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .with_context(|| format!("listening on {addr}"))?;
    let bound = listener.local_addr()?;
    let access = Access::new(tokens, bound, &api.allowed_hosts);
    let api_task = rt.spawn(crate::service::api::serve(
        service.clone(),
        access,
        listener,
        shutdown_signal(),
    ));
    for (name, why) in service.start_configured() {
        eprintln!("sandbar: deployment `{name}` did not start (the others run): {why}");
    }
    service.start_daily_summary();
    service.start_heartbeat();
    service.start_reconciler();
    eprintln!("sandbar serving {} on http://{bound}", path.display());
    if let Some(f) = a.addr_file {
        // Written once every configured deployment has started or failed.
        std::fs::write(&f, format!("http://{bound}"))
            .with_context(|| format!("writing {}", f.display()))?;
    }
    rt.block_on(api_task)
        .map_err(|e| anyhow::anyhow!("the API task: {e}"))??;
    eprintln!(
        "sandbar: shutting down: finishing bars in flight, snapshotting, committing journals"
    );
    service.shutdown();
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `sandbar kill`.
#[derive(Debug, clap::Args)]
pub(super) struct KillArgs {
    /// The service (`http://127.0.0.1:7878`); the token from SANDBAR_TOKEN.
    #[arg(long)]
    server: String,
    /// Why (required; journaled, audited, in the alert).
    #[arg(long)]
    reason: String,
}

pub(super) fn kill(a: KillArgs) -> anyhow::Result<()> {
    let c = crate::service::api::Client::new(&a.server)?;
    let v = c.post_path("/kill", &serde_json::json!({ "reason": a.reason }))?;
    let reached: Vec<&str> = v["flattened_and_paused"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    if reached.is_empty() {
        println!("kill switch: no deployment was running");
    } else {
        println!(
            "kill switch: {} flattening and paused ({})",
            reached.len(),
            reached.join(", ")
        );
    }
    Ok(())
}
