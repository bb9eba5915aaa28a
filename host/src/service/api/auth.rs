//! Who may call: bearer tokens (kept as digests, compared in constant
//! time), browser sessions made from a token at `POST /login`, the `Host`
//! check against DNS rebinding and the `Origin` check on a session's
//! changes; the caller becomes the [`Operator`] every handler is given.
//!
//! Guessing is bounded: an address that presents [`MAX_FAILURES`] wrong
//! tokens (bearer or sign-in) within [`FAILURE_WINDOW`] gets `429` with
//! `Retry-After` until the window ends, before its token is even compared;
//! at most [`MAX_SESSIONS`] sessions live at once (a new sign-in ends the
//! one closest to expiry).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::respond::error;

/// What a token's holder may do (`role` of `[[api.tokens]]`), each
/// including the one before.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Deserialize,
    serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Read: every GET (status, journals, metrics, the dashboard).
    Read,
    /// Operate: start, stop, pause, resume, continue after a fault, flatten, swap, roll back,
    /// shadow, promote up to PAPER, create, add plugins.
    Operate,
    /// Everything, and what puts money at risk or stops it all: promoting
    /// to LIVE and the kill switch (the default, as before roles).
    #[default]
    Admin,
}

impl Role {
    /// Its name, as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
        }
    }
}

/// An operator's token, as kept: its holder, role and digest.
#[derive(Clone)]
pub struct Token {
    name: String,
    role: Role,
    digest: [u8; 32],
}

impl Token {
    /// A token held by `name` (role admin).
    pub fn new(name: &str, secret: &str) -> anyhow::Result<Token> {
        let secret = secret.trim();
        if secret.len() < 16 {
            anyhow::bail!(
                "the API token of `{name}` is shorter than 16 characters; use a long random one"
            );
        }
        Ok(Token {
            name: name.into(),
            role: Role::Admin,
            digest: Sha256::digest(secret.as_bytes()).into(),
        })
    }

    /// The same token with `role`.
    pub fn with_role(mut self, role: Role) -> Token {
        self.role = role;
        self
    }
}

/// Why `role` may not make this request, if it may not: a read-only token
/// changes nothing, and the kill switch is an admin's.
fn forbidden(role: Role, method: &axum::http::Method, path: &str) -> Option<String> {
    let safe = matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD);
    if safe || path == "/logout" {
        return None;
    }
    if role < Role::Operate {
        return Some(format!(
            "{method} {path} needs a token with role `operate` or `admin`; this one has `read`"
        ));
    }
    if path == "/kill" && role < Role::Admin {
        return Some(format!(
            "the kill switch needs a token with role `admin`; this one has `{}`",
            role.as_str()
        ));
    }
    None
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
    failures: Arc<Mutex<HashMap<IpAddr, (u32, Instant)>>>,
}

/// Wrong tokens an address may present per [`FAILURE_WINDOW`].
pub const MAX_FAILURES: u32 = 100;
/// The window failed authentications are counted in.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Most dashboard sessions alive at once.
pub const MAX_SESSIONS: usize = 1024;
/// Most addresses whose failures are remembered (the oldest window goes).
const MAX_TRACKED: usize = 4096;

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
            failures: Arc::default(),
        }
    }

    /// How long `ip` must wait, if it presented too many wrong tokens.
    fn throttled(&self, ip: Option<IpAddr>) -> Option<Duration> {
        let ip = ip?;
        let failures = self.failures.lock().expect("failures lock");
        let (count, since) = failures.get(&ip)?;
        let left = FAILURE_WINDOW.checked_sub(since.elapsed())?;
        (*count >= MAX_FAILURES).then_some(left)
    }

    /// `ip` presented a wrong token.
    fn failed(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let mut failures = self.failures.lock().expect("failures lock");
        failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        if failures.len() >= MAX_TRACKED && !failures.contains_key(&ip) {
            let oldest = failures
                .iter()
                .min_by_key(|(_, (_, s))| *s)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                failures.remove(&k);
            }
        }
        failures.entry(ip).or_insert((0, Instant::now())).0 += 1;
    }

    /// The role of the token `holder` holds (the least, if several).
    pub(super) fn role_of(&self, holder: &str) -> Role {
        self.tokens
            .iter()
            .filter(|t| t.name == holder)
            .map(|t| t.role)
            .min()
            .unwrap_or(Role::Read)
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
        while sessions.len() >= MAX_SESSIONS {
            let first = sessions
                .iter()
                .min_by_key(|(_, (_, u))| *u)
                .map(|(k, _)| *k);
            match first {
                Some(k) => sessions.remove(&k),
                None => break,
            };
        }
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

pub(super) async fn guard(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !access.hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        return StatusCode::FORBIDDEN.into_response();
    }
    if req.uri().path() == "/livez" {
        // A supervisor's probe: open, and never throttled (an address
        // guessing tokens must not make the service look dead and be
        // restarted). It says nothing but "alive".
        return next.run(req).await;
    }
    let ip = req
        .extensions()
        .get::<super::listen::Peer>()
        .map(|p| p.0.ip());
    if let Some(left) = access.throttled(ip) {
        return too_many(left);
    }
    if req.uri().path() == "/login" {
        // Signing in is how a browser gets its session.
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    if let Some(name) = presented.and_then(|p| access.holder(p)) {
        return admit(&access, name, req, next).await;
    }
    if presented.is_some() {
        access.failed(ip);
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
        return admit(&access, name, req, next).await;
    }
    if req.method() == axum::http::Method::GET && req.uri().path() == "/dashboard" {
        return axum::response::Redirect::to("/login").into_response();
    }
    StatusCode::UNAUTHORIZED.into_response()
}

/// An authenticated request: refused (`403`, logged) when the holder's role
/// does not allow it, else run with the holder and role known.
async fn admit(access: &Access, name: String, mut req: Request, next: Next) -> Response {
    let role = access.role_of(&name);
    if let Some(why) = forbidden(role, req.method(), req.uri().path()) {
        tracing::warn!(holder = %name, role = role.as_str(), %why, "request refused by role");
        return error(StatusCode::FORBIDDEN, why);
    }
    req.extensions_mut().insert(Operator(name));
    req.extensions_mut().insert(role);
    next.run(req).await
}

/// `429`, and when to come back.
fn too_many(left: Duration) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, (left.as_secs() + 1).to_string())],
    )
        .into_response()
}

/// The sign-in form's body.
#[derive(Deserialize)]
pub(super) struct SignIn {
    token: String,
}

pub(super) async fn login_page() -> Response {
    axum::response::Html(crate::service::dashboard::login_page(false)).into_response()
}

/// A valid token becomes a session cookie; the token itself is never
/// stored in the browser.
pub(super) async fn login(
    Extension(access): Extension<Arc<Access>>,
    peer: Option<Extension<super::listen::Peer>>,
    form: axum::Form<SignIn>,
) -> Response {
    let Some(holder) = access.holder(form.token.trim()) else {
        access.failed(peer.map(|p| p.0.0.ip()));
        return (
            StatusCode::UNAUTHORIZED,
            axum::response::Html(crate::service::dashboard::login_page(true)),
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

pub(super) async fn logout(Extension(access): Extension<Arc<Access>>, req: Request) -> Response {
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
