//! The HTTP control API of `sandbar serve`: a thin JSON layer over
//! [`Service`].
//!
//! Who may call it: every route is behind a bearer token. Tokens come from
//! environment variables or files (never from the config file, never
//! logged); only their SHA-256 digests are kept, and a presented token is
//! compared with every digest in constant time. The token's holder is the
//! *actor* recorded in the journal and the audit trail — a request cannot
//! name someone else. A missing or wrong token gets `401` and an empty body.
//!
//! The `Host` header must name this listener (`127.0.0.1:port`,
//! `localhost:port`, `[::1]:port`, or a configured host): a web page that
//! rebinds its own DNS name to 127.0.0.1 is refused before the token is even
//! looked at.
//!
//! Request bodies are named JSON objects; a malformed one gets `400` with a
//! JSON error naming the field. `GET /openapi.json` describes every route
//! (a test checks the description against the router).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::service::{FeedSpec, Service};

/// An operator's token, as kept: its holder and its digest.
#[derive(Clone)]
pub struct Token {
    name: String,
    digest: [u8; 32],
}

impl Token {
    /// A token held by `name`.
    pub fn new(name: &str, secret: &str) -> anyhow::Result<Token> {
        let secret = secret.trim();
        if secret.len() < 16 {
            anyhow::bail!(
                "the API token of `{name}` is shorter than 16 characters; use a long random one"
            );
        }
        Ok(Token {
            name: name.into(),
            digest: Sha256::digest(secret.as_bytes()).into(),
        })
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}, <secret>)", self.name)
    }
}

/// Who may call, and under which names the listener may be addressed.
#[derive(Debug, Clone)]
pub struct Access {
    tokens: Vec<Token>,
    hosts: Vec<String>,
}

impl Access {
    /// Access for `tokens`, on a listener bound to `addr`, plus `extra_hosts`.
    pub fn new(tokens: Vec<Token>, addr: SocketAddr, extra_hosts: &[String]) -> Access {
        let port = addr.port();
        let mut hosts = vec![
            addr.to_string(),
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ];
        hosts.extend(extra_hosts.iter().cloned());
        Access { tokens, hosts }
    }

    /// The holder of the presented token, if it is one of ours.
    fn holder(&self, presented: &str) -> Option<String> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        // Every digest is compared, whichever matches.
        for t in &self.tokens {
            if bool::from(t.digest.ct_eq(&digest)) {
                found = Some(t.name.clone());
            }
        }
        found
    }
}

/// The caller, as its token says.
#[derive(Debug, Clone)]
pub struct Operator(pub String);

async fn guard(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !access.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    match access.holder(presented) {
        Some(name) => {
            req.extensions_mut().insert(Operator(name));
            next.run(req).await
        }
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// Body of commands that need a reason.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Why (recorded in the journal and the audit trail).
    #[serde(default)]
    pub reason: String,
}

/// Body of `swap`, `rollback` and `shadow`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VersionBody {
    /// `name@version` (for rollback: an optional target).
    #[serde(default)]
    pub plugin: Option<String>,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// Journal query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalQuery {
    /// First entry index (default 0).
    #[serde(default)]
    pub offset: u64,
    /// Most entries (default 1,000, at most 10,000).
    #[serde(default)]
    pub limit: Option<u64>,
    /// Only entries of bars at or after this time (RFC 3339 or YYYY-MM-DD).
    #[serde(default)]
    pub from: Option<String>,
    /// Only entries of bars before this time.
    #[serde(default)]
    pub to: Option<String>,
}

type Shared = Arc<Service>;

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": message.to_string() })),
    )
        .into_response()
}

/// A malformed request: 400 with its message.
struct Bad(String);

impl IntoResponse for Bad {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.0)
    }
}

/// A JSON body, or 400 naming what is wrong with it.
fn body<T: serde::de::DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, Bad> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            Bad(format!("request body: {}", e.inner()))
        } else {
            Bad(format!("request body: field `{path}`: {}", e.inner()))
        }
    })
}

async fn blocking<T: Serialize + Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => {
            let message = format!("{e:#}");
            let status = if message.contains("has not been started")
                || message.contains("no deployment named")
                || message.contains("unknown deployment")
            {
                StatusCode::NOT_FOUND
            } else if message.contains("already running") {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            error(status, message)
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn metrics(State(s): State<Shared>) -> Response {
    match tokio::task::spawn_blocking(move || s.metrics_text()).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn health() -> Response {
    Json(serde_json::json!({"status": "alive"})).into_response()
}

async fn ready(State(s): State<Shared>) -> Response {
    let feeds = s.feeds();
    let journals = s.journals_writable();
    let feeds_ok = feeds.values().all(|f| f.connection == "live");
    let body = serde_json::json!({
        "ready": feeds_ok && journals.is_ok(),
        "feeds": feeds,
        "journals": journals.as_ref().map(|_| "writable".to_string()).unwrap_or_else(|e| e.to_string()),
    });
    let status = if feeds_ok && journals.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn list(State(s): State<Shared>) -> Response {
    blocking(move || s.list()).await
}

async fn history(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    blocking(move || s.history(&name)).await
}

async fn create(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    bytes: Bytes,
) -> Response {
    let c: crate::service::CreateRequest = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    blocking(move || s.create(&c, &op.0)).await
}

async fn status(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    blocking(move || s.status(&name)).await
}

async fn start(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    // The feed to run on; an empty body uses the configuration's entry.
    let b: Option<FeedSpec> = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    blocking(move || s.start(&name, b, &op.0)).await
}

async fn swap(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    let a: VersionBody = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let Some(plugin) = a.plugin else {
        return error(
            StatusCode::BAD_REQUEST,
            "request body: missing field `plugin` (name@version)",
        );
    };
    blocking(move || {
        s.swap(&name, &plugin, &op.0, &a.reason)?;
        s.status(&name)
    })
    .await
}

async fn rollback(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    let a: VersionBody = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    blocking(move || {
        s.rollback(&name, a.plugin.as_deref(), &op.0, &a.reason)?;
        s.status(&name)
    })
    .await
}

async fn pause_or_resume(
    s: Shared,
    op: Operator,
    name: String,
    bytes: Bytes,
    resume: bool,
) -> Response {
    let a: Reason = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    blocking(move || {
        s.pause(&name, resume, &op.0, &a.reason)
            .map(|st| st.to_string())
    })
    .await
}

async fn pause(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    pause_or_resume(s, op, name, bytes, false).await
}

async fn resume(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    pause_or_resume(s, op, name, bytes, true).await
}

async fn flatten(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    let a: Reason = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    blocking(move || {
        s.flatten(&name, &op.0, &a.reason)?;
        s.status(&name)
    })
    .await
}

async fn promote(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Promote {
        #[serde(default)]
        reason: String,
        #[serde(default)]
        force: bool,
    }
    let a: Promote = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    blocking(move || s.promote(&name, a.force, &op.0, &a.reason)).await
}

async fn shadow_start(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    let a: VersionBody = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let Some(plugin) = a.plugin else {
        return error(
            StatusCode::BAD_REQUEST,
            "request body: missing field `plugin` (name@version)",
        );
    };
    blocking(move || {
        s.start_shadow(&name, &plugin, &op.0)?;
        s.status(&name)
    })
    .await
}

async fn shadow_report(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    blocking(move || s.shadow_report(&name)).await
}

async fn promote_shadow(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    let a: Reason = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    blocking(move || s.promote_shadow(&name, &op.0, &a.reason)).await
}

async fn stop(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
) -> Response {
    blocking(move || {
        s.stop(&name, &op.0)?;
        s.status(&name)
    })
    .await
}

async fn journal(
    State(s): State<Shared>,
    Path(name): Path<String>,
    Query(q): Query<JournalQuery>,
) -> Response {
    let limit = q.limit.unwrap_or(1000).min(10_000);
    let parse = |v: &Option<String>, what: &str| -> Result<Option<i64>, Bad> {
        v.as_deref()
            .map(|t| {
                crate::data::market::parse_time(t).ok_or_else(|| {
                    Bad(format!(
                        "query `{what}`: {t:?} is not RFC 3339 or YYYY-MM-DD"
                    ))
                })
            })
            .transpose()
    };
    let (from, to) = match (parse(&q.from, "from"), parse(&q.to, "to")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    match tokio::task::spawn_blocking(move || s.journal_lines(&name, q.offset, limit, from, to))
        .await
    {
        Ok(Ok(lines)) => ([(header::CONTENT_TYPE, "application/x-ndjson")], lines).into_response(),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn plugins(State(s): State<Shared>) -> Response {
    blocking(move || Ok(s.registry().plugins()?)).await
}

async fn add_plugin(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    bytes: Bytes,
) -> Response {
    blocking(move || s.add_plugin(&bytes, &op.0)).await
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The OpenAPI description served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Every route: (method, path). The OpenAPI test compares it with [`OPENAPI`].
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/ready"),
    ("get", "/openapi.json"),
    ("get", "/plugins"),
    ("post", "/plugins"),
    ("get", "/deployments"),
    ("post", "/deployments"),
    ("get", "/deployments/{name}"),
    ("get", "/deployments/{name}/history"),
    ("post", "/deployments/{name}/start"),
    ("post", "/deployments/{name}/stop"),
    ("post", "/deployments/{name}/pause"),
    ("post", "/deployments/{name}/resume"),
    ("post", "/deployments/{name}/flatten"),
    ("post", "/deployments/{name}/promote"),
    ("post", "/deployments/{name}/swap"),
    ("post", "/deployments/{name}/rollback"),
    ("post", "/deployments/{name}/shadow"),
    ("get", "/deployments/{name}/shadow"),
    ("post", "/deployments/{name}/promote-shadow"),
    ("get", "/deployments/{name}/journal"),
];

/// The router, every route behind `access`.
pub fn router(service: Shared, access: Access) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/ready", get(ready))
        .route("/openapi.json", get(openapi))
        .route("/plugins", get(plugins).post(add_plugin))
        .route("/deployments", get(list).post(create))
        .route("/deployments/{name}", get(status))
        .route("/deployments/{name}/history", get(history))
        .route("/deployments/{name}/start", post(start))
        .route("/deployments/{name}/stop", post(stop))
        .route("/deployments/{name}/pause", post(pause))
        .route("/deployments/{name}/resume", post(resume))
        .route("/deployments/{name}/flatten", post(flatten))
        .route("/deployments/{name}/promote", post(promote))
        .route("/deployments/{name}/swap", post(swap))
        .route("/deployments/{name}/rollback", post(rollback))
        .route(
            "/deployments/{name}/shadow",
            post(shadow_start).get(shadow_report),
        )
        .route("/deployments/{name}/promote-shadow", post(promote_shadow))
        .route("/deployments/{name}/journal", get(journal))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .route_layer(middleware::from_fn_with_state(Arc::new(access), guard))
        .with_state(service)
}

/// Serve until `shutdown` resolves.
pub async fn serve(
    service: Shared,
    access: Access,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(
        listener,
        router(service, access).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// Where a client finds its token: `SANDBAR_TOKEN`, or the file named by
/// `SANDBAR_TOKEN_FILE`.
pub fn client_token() -> anyhow::Result<String> {
    if let Ok(t) = std::env::var("SANDBAR_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    if let Ok(f) = std::env::var("SANDBAR_TOKEN_FILE") {
        let t = std::fs::read_to_string(&f)
            .map_err(|e| anyhow::anyhow!("SANDBAR_TOKEN_FILE {f}: {e}"))?;
        return Ok(t.lines().next().unwrap_or_default().trim().to_string());
    }
    anyhow::bail!("no API token: set SANDBAR_TOKEN, or SANDBAR_TOKEN_FILE to a file holding it")
}

/// A blocking client for the CLI.
pub struct Client {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client of the service at `base` (`http://127.0.0.1:7878`), with
    /// the token from the environment.
    pub fn new(base: &str) -> anyhow::Result<Self> {
        Ok(Self {
            base: base.trim_end_matches('/').into(),
            token: client_token()?,
            http: reqwest::blocking::Client::new(),
        })
    }

    fn answer(
        &self,
        r: reqwest::Result<reqwest::blocking::Response>,
    ) -> anyhow::Result<serde_json::Value> {
        let r = r.map_err(|e| anyhow::anyhow!("service at {}: {e}", self.base))?;
        let status = r.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            anyhow::bail!("service at {}: the token was refused (401)", self.base);
        }
        if status == reqwest::StatusCode::FORBIDDEN {
            anyhow::bail!("service at {}: refused this Host (403)", self.base);
        }
        let v: serde_json::Value = r
            .json()
            .map_err(|e| anyhow::anyhow!("service at {}: {e}", self.base))?;
        if status.is_success() {
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
                .bearer_auth(&self.token)
                .json(body)
                .send(),
        )
    }

    /// `GET {path}`.
    pub fn get_path(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        self.answer(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .send(),
        )
    }

    /// `GET /deployments/{name}{suffix}`.
    pub fn get(&self, name: &str, suffix: &str) -> anyhow::Result<serde_json::Value> {
        self.answer(
            self.http
                .get(format!("{}/deployments/{name}{suffix}", self.base))
                .bearer_auth(&self.token)
                .send(),
        )
    }
}
