//! The Binance kline feed's one connection: the combined stream of every
//! (symbol, interval) the hub's subscribers want, re-made when they change,
//! before the exchange's 24-hour cut, and with backoff after a drop.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};

use super::feed;
use crate::data::live::{HubEvent, HubShared};
use crate::net::Backoff;
use crate::net::backoff::jitter;
use crate::net::tls::Tls;

/// Run the hub's connection to `ws_url` for as long as the runtime runs.
pub async fn run(hub: Arc<HubShared>, ws_url: String, reconnect_after: Duration, tls: Tls) {
    use tokio_tungstenite::tungstenite::Message as Ws;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    loop {
        let streams = hub.streams();
        if streams.is_empty() {
            hub.subscriptions_changed().await;
            continue;
        }
        let names: Vec<String> = streams
            .iter()
            .map(|(s, i)| feed::stream_name(s, i))
            .collect();
        if names.len() > feed::MAX_STREAMS {
            hub.set_status(|s| {
                s.connection = "down".into();
                s.last_error = Some(format!(
                    "{} streams asked, Binance allows {} per connection",
                    names.len(),
                    feed::MAX_STREAMS
                ));
            });
            hub.subscriptions_changed().await;
            continue;
        }
        let url = feed::stream_url(&ws_url, &names);
        let why = match tls.connect_ws(&url).await {
            Ok(mut ws) => {
                backoff.reset();
                hub.set_status(|s| {
                    s.connection = "live".into();
                    s.connects += 1;
                });
                hub.fan_out(&HubEvent::Connected);
                let deadline = tokio::time::sleep(reconnect_after);
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        m = ws.next() => match m {
                            Some(Ok(Ws::Text(text))) => match feed::parse_message(&text) {
                                Ok(feed::Message::Closed { symbol, interval, bar }) => {
                                    hub.fan_out(&HubEvent::Bar { symbol, interval, bar });
                                }
                                Ok(_) => {}
                                Err(e) => tracing::warn!(%e, "binance: unreadable message"),
                            },
                            Some(Ok(Ws::Ping(payload))) => {
                                // Same payload back, now (tungstenite would
                                // only send its queued pong on the next write).
                                if ws.send(Ws::Pong(payload)).await.is_err() {
                                    break "pong failed".to_string();
                                }
                            }
                            Some(Ok(Ws::Close(frame))) => break format!("closed by the server: {frame:?}"),
                            Some(Ok(_)) => {}
                            Some(Err(e)) => break format!("{e}"),
                            None => break "connection ended".to_string(),
                        },
                        _ = hub.subscriptions_changed() => {
                            // A subscription that asks for streams this
                            // connection already carries changes nothing.
                            if hub.streams() == streams {
                                continue;
                            }
                            let _ = ws.close(None).await;
                            break "subscriptions changed".to_string();
                        }
                        _ = &mut deadline => {
                            let _ = ws.close(None).await;
                            break "reconnecting before the exchange's 24-hour limit".to_string();
                        }
                    }
                }
            }
            Err(e) => format!("connecting to {url}: {}", crate::net::chain(&e)),
        };
        tracing::info!(%why, "binance feed disconnected");
        hub.disconnected(why);
        tokio::time::sleep(jitter(backoff.next_wait())).await;
    }
}
