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
//! JSON error naming the field. `GET /openapi.json` describes every route;
//! the router is built from one table ([`ROUTES`] is read from it), and a
//! test checks the description against it.
//!
//! What a client can hold is bounded: a request body is read up to its
//! route's limit ([`BODY_LIMIT`], [`PLUGIN_LIMIT`], [`LOGIN_LIMIT`]; more
//! gets `413`), connections and the wait for headers by [`listen`], failed
//! sign-ins and tokens per address and the number of sessions by `auth`.
//!
//! Files: `auth.rs` tokens, sessions and the guard; `listen.rs` the accept
//! loop; `bodies.rs` request bodies; `respond.rs` errors, the body extractor and blocking calls;
//! `handlers.rs` the routes' handlers; `client.rs` the CLI's client. A new
//! route is a handler and one line in [`table`].

use std::sync::{Arc, LazyLock};

use axum::http::header;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Router};

mod auth;
mod bodies;
mod client;
mod handlers;
pub mod listen;
mod respond;

pub use auth::{Access, FAILURE_WINDOW, MAX_FAILURES, MAX_SESSIONS, Operator, Role, Token};
pub use bodies::{BackupBody, JournalQuery, PromoteBody, Reason, VersionBody};
pub use client::{Client, client_token};

use crate::service::Service;

type Shared = Arc<Service>;

/// The OpenAPI description served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Largest JSON request body (every route but the two below).
pub const BODY_LIMIT: usize = 64 << 10;
/// Largest plugin upload (`POST /plugins`: a component, CPython inside a
/// Python one).
pub const PLUGIN_LIMIT: usize = 64 << 20;
/// Largest sign-in form (`POST /login`).
pub const LOGIN_LIMIT: usize = 4 << 10;

/// The body limit of a route.
fn body_limit(method: &str, path: &str) -> usize {
    match (method, path) {
        ("post", "/plugins") => PLUGIN_LIMIT,
        ("post", "/login") => LOGIN_LIMIT,
        _ => BODY_LIMIT,
    }
}

/// One route of the router.
struct Route {
    method: &'static str,
    path: &'static str,
    /// A JSON API route (described by [`OPENAPI`]), else a page for browsers.
    api: bool,
    handler: MethodRouter<Shared>,
}

/// Every route, with its handler: the router is built from this table and
/// nothing else. Browsers' pages (not in the OpenAPI description, which is
/// the JSON API): `/livez` is open (a supervisor's liveness probe),
/// `/login` is open (it takes the token), `/dashboard`
/// without a session redirects to it, the rest need a token or a session
/// like every API route.
fn table() -> Vec<Route> {
    use auth::{login, login_page, logout};
    use handlers::*;
    let r = |api, method, path, handler| Route {
        method,
        path,
        api,
        handler,
    };
    vec![
        r(true, "get", "/health", get(health)),
        r(true, "get", "/metrics", get(metrics)),
        r(true, "get", "/ready", get(ready)),
        r(true, "get", "/openapi.json", get(openapi)),
        r(true, "get", "/plugins", get(plugins)),
        r(true, "post", "/plugins", post(add_plugin)),
        r(true, "get", "/deployments", get(list)),
        r(true, "post", "/deployments", post(create)),
        r(true, "get", "/deployments/{name}", get(status)),
        r(true, "get", "/deployments/{name}/history", get(history)),
        r(true, "post", "/deployments/{name}/start", post(start)),
        r(true, "post", "/deployments/{name}/stop", post(stop)),
        r(true, "post", "/deployments/{name}/pause", post(pause)),
        r(true, "post", "/deployments/{name}/resume", post(resume)),
        r(true, "post", "/deployments/{name}/flatten", post(flatten)),
        r(true, "post", "/deployments/{name}/promote", post(promote)),
        r(true, "post", "/deployments/{name}/swap", post(swap)),
        r(true, "post", "/deployments/{name}/rollback", post(rollback)),
        r(
            true,
            "post",
            "/deployments/{name}/continue",
            post(continue_after_fault),
        ),
        r(
            true,
            "post",
            "/deployments/{name}/shadow",
            post(shadow_start),
        ),
        r(
            true,
            "get",
            "/deployments/{name}/shadow",
            get(shadow_report),
        ),
        r(
            true,
            "post",
            "/deployments/{name}/promote-shadow",
            post(promote_shadow),
        ),
        r(true, "get", "/deployments/{name}/journal", get(journal)),
        r(true, "get", "/alerts", get(alerts)),
        r(true, "post", "/kill", post(kill)),
        r(true, "post", "/backup", post(backup)),
        r(false, "get", "/livez", get(livez)),
        r(false, "get", "/login", get(login_page)),
        r(false, "post", "/login", post(login)),
        r(false, "post", "/logout", post(logout)),
        r(false, "get", "/dashboard", get(dashboard)),
        r(false, "get", "/dashboard/events", get(dashboard_events)),
    ]
}

fn listed(api: bool) -> Vec<(&'static str, &'static str)> {
    table()
        .into_iter()
        .filter(|r| r.api == api)
        .map(|r| (r.method, r.path))
        .collect()
}

/// Every JSON API route the router serves: (method, path), read from the
/// router's own table. The OpenAPI test compares it with [`OPENAPI`].
pub static ROUTES: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| listed(true));

/// The browsers' routes, beside [`ROUTES`].
pub static PAGES: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| listed(false));

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
    table()
        .into_iter()
        // Two methods on one path: axum merges their method routers.
        .fold(Router::new(), |router, r| {
            let limit = body_limit(r.method, r.path);
            router.route(
                r.path,
                r.handler.layer(axum::extract::DefaultBodyLimit::max(limit)),
            )
        })
        .route_layer(middleware::from_fn_with_state(access.clone(), auth::guard))
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
    listen::serve(
        router_closing(service, access, watch),
        listener,
        shutdown,
        closing,
    )
    .await
}
