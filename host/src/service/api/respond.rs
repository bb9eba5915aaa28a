//! How handlers answer: JSON errors, the body extractor, and service calls
//! run off the async threads with their errors mapped to statuses.

use axum::Json;
use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub(super) fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": message.to_string() })),
    )
        .into_response()
}

/// A malformed request: 400 with its message.
pub(super) struct Bad(pub(super) String);

impl IntoResponse for Bad {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.0)
    }
}

/// A JSON body, or 400 naming what is wrong with it.
pub(super) fn body<T: serde::de::DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, Bad> {
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

pub(super) async fn blocking<T: Serialize + Send + 'static>(
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

/// A route's JSON body, read with [`body`]: an empty body is the type's
/// default, a malformed one is `400` naming the field. The one way a
/// handler reads a body.
pub(super) struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Default,
{
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        body(&bytes)
            .map(JsonBody)
            .map_err(IntoResponse::into_response)
    }
}
