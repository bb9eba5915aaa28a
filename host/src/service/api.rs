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
//! The dashboard's browser has no way to send a bearer header on a
//! navigation or an `EventSource`, so `POST /login` exchanges a valid token
//! for a session cookie: 256 random bits, kept only as a digest, `HttpOnly`
//! and `SameSite=Strict`, expiring after 12 hours or at `POST /logout`. A
//! request authenticated by that cookie which changes anything (every
//! method but GET/HEAD) must carry an `Origin` naming this listener, so a
//! page elsewhere cannot act with the operator's cookie. The actor is the
//! token's holder either way.
//!
//! The `Host` header must name this listener (`127.0.0.1:port`,
//! `localhost:port`, `[::1]:port`, or a configured host): a web page that
//! rebinds its own DNS name to 127.0.0.1 is refused before the token is even
//! looked at.
//!
//! Request bodies are named JSON objects; a malformed one gets `400` with a
//! JSON error naming the field. `GET /openapi.json` describes every route
//! (a test checks the description against the router).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
    sessions: Arc<Mutex<Sessions>>,
}

/// Dashboard sign-ins: digest of the session id → (holder, expiry).
type Sessions = HashMap<[u8; 32], (String, Instant)>;

/// The dashboard's session cookie.
const SESSION_COOKIE: &str = "sandbar_session";
/// How long a dashboard sign-in lasts.
const SESSION_HOURS: i64 = 12;

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
        Access {
            tokens,
            hosts,
            sessions: Arc::default(),
        }
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

    /// A new dashboard session for `holder`: the cookie's value (random,
    /// 256 bits; only its digest is kept).
    fn open_session(&self, holder: &str) -> anyhow::Result<String> {
        let mut id = [0u8; 32];
        getrandom::fill(&mut id)
            .map_err(|e| anyhow::anyhow!("no randomness for a session: {e}"))?;
        let value: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let expiry = Instant::now() + std::time::Duration::from_secs(SESSION_HOURS as u64 * 3600);
        let mut sessions = self.sessions.lock().expect("sessions lock");
        sessions.retain(|_, (_, until)| *until > Instant::now());
        sessions.insert(
            Sha256::digest(value.as_bytes()).into(),
            (holder.into(), expiry),
        );
        Ok(value)
    }

    /// The holder of a live session whose cookie is `value`.
    fn session(&self, value: &str) -> Option<String> {
        let digest: [u8; 32] = Sha256::digest(value.as_bytes()).into();
        let mut sessions = self.sessions.lock().expect("sessions lock");
        sessions.retain(|_, (_, until)| *until > Instant::now());
        // A lookup by digest: the map's hashing sees only the digest, never
        // the secret, so its timing says nothing about the cookie.
        sessions.get(&digest).map(|(holder, _)| holder.clone())
    }

    fn close_session(&self, value: &str) {
        let digest: [u8; 32] = Sha256::digest(value.as_bytes()).into();
        self.sessions.lock().expect("sessions lock").remove(&digest);
    }
}

/// The session cookie's value in a request, if any.
fn session_cookie(req: &axum::http::HeaderMap) -> Option<String> {
    req.get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_string())
}

/// The caller, as its token says.
#[derive(Debug, Clone)]
pub struct Operator(pub String);

async fn guard(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !access.hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        return StatusCode::FORBIDDEN.into_response();
    }
    if req.uri().path() == "/login" {
        // Signing in is how a browser gets its session.
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    if let Some(name) = access.holder(presented) {
        req.extensions_mut().insert(Operator(name));
        return next.run(req).await;
    }
    if let Some(name) = session_cookie(req.headers()).and_then(|v| access.session(&v)) {
        // A browser's session: whatever changes something must come from a
        // page of this listener (a form or script elsewhere cannot use the
        // operator's cookie; browsers always send `Origin` on such requests).
        let safe = matches!(
            *req.method(),
            axum::http::Method::GET | axum::http::Method::HEAD
        );
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        // (https too: behind a TLS proxy the page's origin is https.)
        let ours = ["http://", "https://"]
            .iter()
            .any(|scheme| origin.eq_ignore_ascii_case(&format!("{scheme}{host}")));
        if !safe && !ours {
            return StatusCode::FORBIDDEN.into_response();
        }
        req.extensions_mut().insert(Operator(name));
        return next.run(req).await;
    }
    if req.method() == axum::http::Method::GET && req.uri().path() == "/dashboard" {
        return axum::response::Redirect::to("/login").into_response();
    }
    StatusCode::UNAUTHORIZED.into_response()
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

/// The sign-in form's body.
#[derive(Deserialize)]
struct SignIn {
    token: String,
}

async fn login_page() -> Response {
    axum::response::Html(super::dashboard::login_page(false)).into_response()
}

/// A valid token becomes a session cookie; the token itself is never
/// stored in the browser.
async fn login(Extension(access): Extension<Arc<Access>>, form: axum::Form<SignIn>) -> Response {
    let Some(holder) = access.holder(form.token.trim()) else {
        return (
            StatusCode::UNAUTHORIZED,
            axum::response::Html(super::dashboard::login_page(true)),
        )
            .into_response();
    };
    let value = match access.open_session(&holder) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let cookie = cookie::Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .path("/")
        .max_age(cookie::time::Duration::hours(SESSION_HOURS))
        .build();
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie.to_string()),
            (header::LOCATION, "/dashboard".to_string()),
        ],
    )
        .into_response()
}

async fn logout(Extension(access): Extension<Arc<Access>>, req: Request) -> Response {
    if let Some(v) = session_cookie(req.headers()) {
        access.close_session(&v);
    }
    let gone = cookie::Cookie::build((SESSION_COOKIE, ""))
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build();
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, gone.to_string()),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}

async fn dashboard() -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::response::Html(super::dashboard::page()),
    )
        .into_response()
}

/// `?deployment=` of the event stream.
#[derive(Deserialize)]
struct Watch {
    #[serde(default)]
    deployment: Option<String>,
}

/// Server-sent events for the page: an `update` (every deployment, and
/// the selected one in full) whenever a board changed, at most every
/// 250 ms, and every 2 s regardless (stages and alerts change elsewhere).
async fn dashboard_events(
    State(s): State<Shared>,
    Extension(closing): Extension<tokio::sync::watch::Receiver<bool>>,
    Query(w): Query<Watch>,
) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    struct Tick {
        s: Shared,
        name: Option<String>,
        seen: Option<u64>,
        sent: Instant,
        first: bool,
        closing: tokio::sync::watch::Receiver<bool>,
    }
    let start = Tick {
        s,
        name: w.deployment,
        seen: None,
        sent: Instant::now(),
        first: true,
        closing,
    };
    let stream = futures_util::stream::unfold(start, |mut t| async move {
        loop {
            if !t.first {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            t.first = false;
            if *t.closing.borrow() {
                return None; // the service is shutting down: end the stream
            }
            let version = t.s.dashboard_version();
            if t.seen == Some(version) && t.sent.elapsed() < std::time::Duration::from_secs(2) {
                continue;
            }
            let (s, name) = (t.s.clone(), t.name.clone());
            let update = tokio::task::spawn_blocking(move || s.dashboard_update(name.as_deref()))
                .await
                .map_err(anyhow::Error::from)
                .and_then(|r| r);
            let data = match update {
                Ok(v) => v.to_string(),
                Err(e) => serde_json::json!({ "error": format!("{e:#}") }).to_string(),
            };
            t.seen = Some(version);
            t.sent = Instant::now();
            let event = Event::default().event("update").data(data);
            return Some((Ok::<_, std::convert::Infallible>(event), t));
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn kill(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    bytes: Bytes,
) -> Response {
    let a: Reason = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    blocking(move || {
        let reached = s.kill(&op.0, &a.reason)?;
        Ok(serde_json::json!({ "flattened_and_paused": reached }))
    })
    .await
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
    ("post", "/kill"),
];

/// The dashboard's routes for browsers, beside [`ROUTES`] (not in the
/// OpenAPI description, which is the JSON API): `/login` is open (it takes
/// the token), `/dashboard` without a session redirects to it, the rest
/// need a token or a session like every API route.
pub const PAGES: &[(&str, &str)] = &[
    ("get", "/login"),
    ("post", "/login"),
    ("post", "/logout"),
    ("get", "/dashboard"),
    ("get", "/dashboard/events"),
];

/// The router, every route behind `access`.
pub fn router(service: Shared, access: Access) -> Router {
    router_closing(service, access, tokio::sync::watch::channel(false).1)
}

/// The router; event streams end once `closing` turns true.
fn router_closing(
    service: Shared,
    access: Access,
    closing: tokio::sync::watch::Receiver<bool>,
) -> Router {
    let access = Arc::new(access);
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
        .route("/kill", post(kill))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/dashboard", get(dashboard))
        .route("/dashboard/events", get(dashboard_events))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .route_layer(middleware::from_fn_with_state(access.clone(), guard))
        .layer(Extension(access))
        .layer(Extension(closing))
        .with_state(service)
}

/// Serve until `shutdown` resolves.
pub async fn serve(
    service: Shared,
    access: Access,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (closing, watch) = tokio::sync::watch::channel(false);
    axum::serve(
        listener,
        router_closing(service, access, watch).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        // Open event streams end, so the graceful shutdown can finish.
        let _ = closing.send(true);
    })
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
        self.post_path(&format!("/deployments/{name}/{verb}"), body)
    }

    /// `POST {path}` with a JSON body.
    pub fn post_path(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<serde_json::Value> {
        self.answer(
            self.http
                .post(format!("{}{path}", self.base))
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
