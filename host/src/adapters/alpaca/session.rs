//! The Alpaca market-data feed's one connection (most plans allow one per
//! key): authenticate, subscribe to every symbol the hub's subscribers
//! want, forward minute bars and corrections, reconnect with backoff.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};

use super::feed;
use crate::adapters::credentials::Credentials;
use crate::data::live::{HubEvent, HubShared};
use crate::net::Backoff;
use crate::net::backoff::jitter;
use crate::net::tls::Tls;

/// One Alpaca connection, until it ends (the reason is the error).
async fn session(
    hub: &HubShared,
    ws_url: &str,
    credentials: &Credentials,
    tls: &Tls,
) -> Result<std::convert::Infallible, String> {
    use tokio_tungstenite::tungstenite::Message as Ws;

    let mut ws = tls
        .connect_ws(ws_url)
        .await
        .map_err(|e| format!("connecting to {ws_url}: {}", crate::net::chain(&e)))?;
    let auth = serde_json::json!({
        "action": "auth",
        "key": credentials.key,
        "secret": credentials.secret,
    });
    ws.send(Ws::Text(auth.to_string().into()))
        .await
        .map_err(|e| e.to_string())?;
    let mut authenticated = false;
    let mut subscribed: Vec<String> = Vec::new();
    loop {
        // Subscribe (again) once authenticated and whenever deployments
        // ask for new symbols; subscriptions add up on one connection.
        if authenticated {
            let mut want: Vec<String> = hub.streams().into_iter().map(|(s, _)| s).collect();
            want.dedup();
            if want != subscribed {
                // Corrections of a bar already sent (`u`) come only on the
                // `updatedBars` channel (alpaca-docs: the subscription
                // lists `bars` and `updatedBars` apart).
                let msg =
                    serde_json::json!({"action": "subscribe", "bars": want, "updatedBars": want});
                ws.send(Ws::Text(msg.to_string().into()))
                    .await
                    .map_err(|e| e.to_string())?;
                subscribed = want;
            }
        }
        let frame = tokio::select! {
            m = ws.next() => m,
            _ = hub.subscriptions_changed() => continue,
        };
        let text = match frame {
            Some(Ok(Ws::Text(t))) => t,
            Some(Ok(Ws::Ping(p))) => {
                ws.send(Ws::Pong(p)).await.map_err(|e| e.to_string())?;
                continue;
            }
            Some(Ok(Ws::Close(f))) => return Err(format!("closed by the server: {f:?}")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("connection ended".into()),
        };
        let messages = match feed::parse_frame(&text) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(%e, "alpaca: unreadable frame");
                continue;
            }
        };
        for m in messages {
            match m {
                feed::Message::Success(msg) if msg == "authenticated" => {
                    authenticated = true;
                    hub.set_status(|s| {
                        s.connection = "live".into();
                        s.connects += 1;
                        s.last_error = None;
                    });
                    hub.fan_out(&HubEvent::Connected);
                }
                feed::Message::Bar { symbol, bar } => hub.fan_out(&HubEvent::Bar {
                    symbol: symbol.to_uppercase(),
                    interval: "1m".into(),
                    bar,
                }),
                feed::Message::Corrected { symbol, bar } => hub.fan_out(&HubEvent::Corrected {
                    symbol: symbol.to_uppercase(),
                    interval: "1m".into(),
                    bar,
                }),
                feed::Message::Error { code, msg } => {
                    return Err(match code {
                        406 => format!(
                            "406 {msg}: another market-data connection uses these credentials (most plans allow one)"
                        ),
                        402 => format!("402 {msg}: the key or secret was refused"),
                        _ => format!("{code} {msg}"),
                    });
                }
                _ => {}
            }
        }
    }
}

pub async fn run(hub: Arc<HubShared>, ws_url: String, credentials: Credentials, tls: Tls) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    loop {
        if hub.streams().is_empty() {
            hub.subscriptions_changed().await;
            continue;
        }
        let why = match session(&hub, &ws_url, &credentials, &tls).await {
            Err(why) => why,
            Ok(never) => match never {},
        };
        tracing::info!(%why, "alpaca feed disconnected");
        let refused = why.starts_with("402") || why.starts_with("406");
        hub.disconnected(why);
        tokio::time::sleep(jitter(backoff.next_wait())).await;
        // Refused credentials or a connection limit will not clear in milliseconds.
        if refused {
            backoff.hold();
        }
    }
}
