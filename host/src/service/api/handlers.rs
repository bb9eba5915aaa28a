//! The routes' handlers: each reads its path, query and body, calls the
//! service off the async threads, and answers JSON.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::Shared;
use super::auth::Operator;
use super::bodies::*;
use super::respond::{Bad, JsonBody, blocking, error};
use crate::service::FeedSpec;

pub(super) async fn metrics(State(s): State<Shared>) -> Response {
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

/// `GET /livez`: open to a process supervisor, says only that the process answers.
pub(super) async fn livez() -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], "alive\n").into_response()
}

pub(super) async fn health() -> Response {
    Json(serde_json::json!({"status": "alive"})).into_response()
}

pub(super) async fn ready(State(s): State<Shared>) -> Response {
    let feeds = s.feeds();
    let journals = s.journals_writable();
    let failed = s.failed();
    let feeds_ok = feeds.values().all(|f| f.connection == "live");
    let ready = feeds_ok && journals.is_ok() && failed.is_empty();
    let body = serde_json::json!({
        "ready": ready,
        "feeds": feeds,
        "journals": journals.as_ref().map(|_| "writable".to_string()).unwrap_or_else(|e| e.to_string()),
        "failed": failed,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

pub(super) async fn list(State(s): State<Shared>) -> Response {
    blocking(move || s.list()).await
}

pub(super) async fn alerts(
    State(s): State<Shared>,
    Query(q): Query<super::bodies::AlertsQuery>,
) -> Response {
    let limit = q.limit.unwrap_or(100).min(1000);
    blocking(move || s.alerts(limit, q.deployment.as_deref(), q.level)).await
}

pub(super) async fn history(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    blocking(move || s.history(&name)).await
}

pub(super) async fn create(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    JsonBody(c): JsonBody<crate::service::CreateRequest>,
) -> Response {
    blocking(move || s.create(&c, &op.0)).await
}

pub(super) async fn status(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    blocking(move || s.status(&name)).await
}

pub(super) async fn start(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    JsonBody(b): JsonBody<Option<FeedSpec>>,
) -> Response {
    // The feed to run on; an empty body uses the configuration's entry.
    blocking(move || s.start(&name, b, &op.0)).await
}

pub(super) async fn swap(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    JsonBody(a): JsonBody<VersionBody>,
) -> Response {
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

pub(super) async fn rollback(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    JsonBody(a): JsonBody<VersionBody>,
) -> Response {
    blocking(move || {
        s.rollback(&name, a.plugin.as_deref(), &op.0, &a.reason)?;
        s.status(&name)
    })
    .await
}

/// A faulted deployment goes on past its fault (see `service/after_fault.rs`).
pub(super) async fn continue_after_fault(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    JsonBody(a): JsonBody<VersionBody>,
) -> Response {
    blocking(move || s.continue_after_fault(&name, a.plugin.as_deref(), &op.0, &a.reason)).await
}

pub(super) async fn pause_or_resume(
    s: Shared,
    op: Operator,
    name: String,
    a: Reason,
    resume: bool,
) -> Response {
    blocking(move || {
        s.pause(&name, resume, &op.0, &a.reason)
            .map(|st| st.to_string())
    })
    .await
}

pub(super) async fn pause(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    JsonBody(a): JsonBody<Reason>,
) -> Response {
    pause_or_resume(s, op, name, a, false).await
}

pub(super) async fn resume(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    JsonBody(a): JsonBody<Reason>,
) -> Response {
    pause_or_resume(s, op, name, a, true).await
}

pub(super) async fn flatten(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    JsonBody(a): JsonBody<Reason>,
) -> Response {
    blocking(move || {
        s.flatten(&name, &op.0, &a.reason)?;
        s.status(&name)
    })
    .await
}

pub(super) async fn promote(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Extension(role): Extension<super::Role>,
    Path(name): Path<String>,
    JsonBody(a): JsonBody<PromoteBody>,
) -> Response {
    // Going LIVE puts money at risk: an admin's.
    let to_live = s
        .registry()
        .deployment(&name)
        .is_ok_and(|d| d.stage == crate::lifecycle::Stage::Paper);
    if to_live && role < super::Role::Admin {
        let why = format!(
            "promoting `{name}` to LIVE needs a token with role `admin`; this one has `{}`",
            role.as_str()
        );
        tracing::warn!(holder = %op.0, %why, "request refused by role");
        return error(StatusCode::FORBIDDEN, why);
    }
    blocking(move || s.promote(&name, a.force, &op.0, &a.reason)).await
}

pub(super) async fn shadow_start(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    JsonBody(a): JsonBody<VersionBody>,
) -> Response {
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

pub(super) async fn shadow_report(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    blocking(move || s.shadow_report(&name)).await
}

pub(super) async fn promote_shadow(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    Path(name): Path<String>,
    JsonBody(a): JsonBody<Reason>,
) -> Response {
    blocking(move || s.promote_shadow(&name, &op.0, &a.reason)).await
}

pub(super) async fn stop(
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

pub(super) async fn journal(
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

pub(super) async fn plugins(State(s): State<Shared>) -> Response {
    blocking(move || Ok(s.registry().plugins()?)).await
}

pub(super) async fn add_plugin(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    bytes: Bytes,
) -> Response {
    blocking(move || s.add_plugin(&bytes, &op.0)).await
}

pub(super) async fn kill(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    JsonBody(a): JsonBody<Reason>,
) -> Response {
    blocking(move || {
        let reached = s.kill(&op.0, &a.reason)?;
        Ok(serde_json::json!({ "flattened_and_paused": reached }))
    })
    .await
}

pub(super) async fn backup(
    State(s): State<Shared>,
    Extension(op): Extension<Operator>,
    JsonBody(a): JsonBody<BackupBody>,
) -> Response {
    blocking(move || s.backup(a.name.as_deref(), &op.0)).await
}

pub(super) async fn dashboard() -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::response::Html(crate::service::dashboard::page()),
    )
        .into_response()
}

/// `?deployment=` of the event stream.
#[derive(Deserialize)]
pub(super) struct Watch {
    #[serde(default)]
    deployment: Option<String>,
}

/// Server-sent events for the page: an `update` (every deployment, and
/// the selected one in full) whenever a board changed, at most every
/// 250 ms, and every 2 s regardless (stages and alerts change elsewhere).
pub(super) async fn dashboard_events(
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
