//! The HTTP control API of `sandbar serve`: a thin JSON layer over
//! [`Service`]. Every handler runs the service call on a blocking thread
//! (they touch redb and compile components) and answers `{"error": …}` with
//! status 400 when the service refuses. The API listens on loopback by
//! default and has no authentication yet, so a caller's `actor` is a claim,
//! not an identity: what the journal and the audit trail record is that claim
//! marked as unverified, with the address it came from
//! (`alice (unverified, from 127.0.0.1)`), never the claim alone.

use std::sync::Arc;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::service::{Service, StartRequest};

/// Body of commands that only need an actor and a reason.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Act {
    /// Who asks.
    pub actor: String,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// Body of `swap`, `rollback` and `shadow`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct VersionAct {
    /// `name@version` (for rollback: optional target).
    #[serde(default)]
    pub plugin: Option<String>,
    /// Data for a shadow's feed.
    #[serde(default)]
    pub data: Vec<std::path::PathBuf>,
    /// Who asks.
    pub actor: String,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

type Shared = Arc<Service>;

/// Who the journal and the audit trail say acted: the caller's claim, marked
/// unverified, with its address. A missing claim is refused.
pub fn attributed(claimed: &str, peer: SocketAddr) -> anyhow::Result<String> {
    let claimed = claimed.trim();
    if claimed.is_empty() {
        anyhow::bail!("the request names no actor");
    }
    Ok(format!("{claimed} (unverified, from {})", peer.ip()))
}

/// The connection's peer address.
type Peer = ConnectInfo<SocketAddr>;

async fn blocking<T: Serialize + Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": format!("{e:#}") })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

async fn status(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    blocking(move || s.status(&name)).await
}

async fn start(
    State(s): State<Shared>,
    ConnectInfo(peer): Peer,
    Path(name): Path<String>,
    Json(req): Json<(StartRequest, Act)>,
) -> Response {
    blocking(move || s.start(&name, &req.0, &attributed(&req.1.actor, peer)?)).await
}

async fn swap(
    State(s): State<Shared>,
    ConnectInfo(peer): Peer,
    Path(name): Path<String>,
    Json(a): Json<VersionAct>,
) -> Response {
    blocking(move || {
        let plugin = a
            .plugin
            .ok_or_else(|| anyhow::anyhow!("swap needs a plugin name@version"))?;
        s.swap(&name, &plugin, &attributed(&a.actor, peer)?, &a.reason)?;
        s.status(&name)
    })
    .await
}

async fn rollback(
    State(s): State<Shared>,
    ConnectInfo(peer): Peer,
    Path(name): Path<String>,
    Json(a): Json<VersionAct>,
) -> Response {
    blocking(move || {
        s.rollback(
            &name,
            a.plugin.as_deref(),
            &attributed(&a.actor, peer)?,
            &a.reason,
        )?;
        s.status(&name)
    })
    .await
}

async fn pause(
    State(s): State<Shared>,
    ConnectInfo(peer): Peer,
    Path(name): Path<String>,
    Json(a): Json<Act>,
) -> Response {
    blocking(move || {
        s.pause(&name, false, &attributed(&a.actor, peer)?, &a.reason)
            .map(|st| st.to_string())
    })
    .await
}

async fn resume(
    State(s): State<Shared>,
    ConnectInfo(peer): Peer,
    Path(name): Path<String>,
    Json(a): Json<Act>,
) -> Response {
    blocking(move || {
        s.pause(&name, true, &attributed(&a.actor, peer)?, &a.reason)
            .map(|st| st.to_string())
    })
    .await
}

async fn shadow_start(
    State(s): State<Shared>,
    ConnectInfo(peer): Peer,
    Path(name): Path<String>,
    Json(a): Json<VersionAct>,
) -> Response {
    blocking(move || {
        let plugin = a
            .plugin
            .ok_or_else(|| anyhow::anyhow!("shadow needs a plugin name@version"))?;
        s.start_shadow(&name, &plugin, &a.data, &attributed(&a.actor, peer)?)?;
        s.status(&name)
    })
    .await
}

async fn shadow_report(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    blocking(move || s.shadow_report(&name)).await
}

async fn promote_shadow(
    State(s): State<Shared>,
    ConnectInfo(peer): Peer,
    Path(name): Path<String>,
    Json(a): Json<Act>,
) -> Response {
    blocking(move || s.promote_shadow(&name, &attributed(&a.actor, peer)?, &a.reason)).await
}

async fn stop(
    State(s): State<Shared>,
    ConnectInfo(peer): Peer,
    Path(name): Path<String>,
    Json(a): Json<Act>,
) -> Response {
    blocking(move || s.stop(&name, &attributed(&a.actor, peer)?)).await
}

/// The router.
pub fn router(service: Shared) -> Router {
    Router::new()
        .route("/deployments/{name}", get(status))
        .route("/deployments/{name}/start", post(start))
        .route("/deployments/{name}/swap", post(swap))
        .route("/deployments/{name}/rollback", post(rollback))
        .route("/deployments/{name}/pause", post(pause))
        .route("/deployments/{name}/resume", post(resume))
        .route(
            "/deployments/{name}/shadow",
            post(shadow_start).get(shadow_report),
        )
        .route("/deployments/{name}/promote-shadow", post(promote_shadow))
        .route("/deployments/{name}/stop", post(stop))
        .with_state(service)
}

/// Serve until the process is interrupted.
pub async fn serve(service: Shared, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    axum::serve(
        listener,
        router(service).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// A blocking client for the CLI.
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client of the service at `base` (`http://127.0.0.1:7878`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').into(),
            http: reqwest::blocking::Client::new(),
        }
    }

    fn answer(
        &self,
        r: reqwest::Result<reqwest::blocking::Response>,
    ) -> anyhow::Result<serde_json::Value> {
        let r = r.map_err(|e| anyhow::anyhow!("service at {}: {e}", self.base))?;
        let ok = r.status().is_success();
        let v: serde_json::Value = r
            .json()
            .map_err(|e| anyhow::anyhow!("service at {}: {e}", self.base))?;
        if ok {
            Ok(v)
        } else {
            Err(anyhow::anyhow!(
                "{}",
                v["error"].as_str().unwrap_or("request refused")
            ))
        }
    }

    /// `POST /deployments/{name}/{verb}` with a JSON body.
    pub fn post(
        &self,
        name: &str,
        verb: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<serde_json::Value> {
        self.answer(
            self.http
                .post(format!("{}/deployments/{name}/{verb}", self.base))
                .json(body)
                .send(),
        )
    }

    /// `GET /deployments/{name}{suffix}`.
    pub fn get(&self, name: &str, suffix: &str) -> anyhow::Result<serde_json::Value> {
        self.answer(
            self.http
                .get(format!("{}/deployments/{name}{suffix}", self.base))
                .send(),
        )
    }
}
