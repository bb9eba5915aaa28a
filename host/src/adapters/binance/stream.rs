//! Binance's user data stream over the WebSocket API
//! (`userDataStream.subscribe.signature`; the listenKey endpoints are
//! retired): an `executionReport` for every change of an order on the
//! account. Each one tells the courier which order to look up now (see
//! [`crate::execution::live::Pushes`]); the connection is
//! re-established with backoff whenever it drops, and the courier polls at
//! its normal pace meanwhile and looks every open order up once it is back.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::sign::Signer;
use crate::execution::live::{PushSink, Pushes, reconnecting};

/// The subscription of one deployment's connector.
pub struct UserStream {
    /// `wss://ws-api.binance.com:443/ws-api/v3` (or the testnet's).
    pub url: String,
    /// The API key.
    pub key: String,
    /// Its secret, to sign the subscription.
    pub signer: Signer,
    /// The venue's clock minus ours (ms), as the connector last measured
    /// it (shared: a re-measured offset after a clock step signs the next
    /// subscription right).
    pub offset_ms: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// The roots it trusts.
    pub tls: crate::net::tls::Tls,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Pushes for UserStream {
    fn run(self: Box<Self>, sink: PushSink) {
        reconnecting(sink, "binance user data stream", async |sink| {
            self.session(sink).await
        });
    }
}

impl UserStream {
    /// One connection: subscribe, then forward until it drops (`Err`) or
    /// the sink is stopped (`Ok`).
    async fn session(&self, sink: &PushSink) -> Result<(), String> {
        let mut ws = self
            .tls
            .connect_ws(&self.url)
            .await
            .map_err(|e| format!("connecting: {}", crate::net::chain(&e)))?;
        let timestamp = now_ms() + self.offset_ms.load(std::sync::atomic::Ordering::Relaxed);
        let signature = self
            .signer
            .sign(&format!("apiKey={}&timestamp={timestamp}", self.key));
        let request = json!({
            "id": "sandbar-subscribe",
            "method": "userDataStream.subscribe.signature",
            "params": {"apiKey": self.key, "timestamp": timestamp, "signature": signature},
        });
        ws.send(Message::Text(request.to_string().into()))
            .await
            .map_err(|e| format!("subscribing: {e}"))?;
        let mut subscribed = false;
        loop {
            if sink.stopped() {
                let _ = ws.close(None).await;
                return Ok(());
            }
            let message = match tokio::time::timeout(Duration::from_millis(250), ws.next()).await {
                Err(_) if subscribed => continue,
                Err(_) => continue,
                Ok(None) => return Err("the venue closed the stream".into()),
                Ok(Some(Err(e))) => return Err(format!("reading: {e}")),
                Ok(Some(Ok(m))) => m,
            };
            let text = match message {
                Message::Text(t) => t.to_string(),
                Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                Message::Ping(p) => {
                    let _ = ws.send(Message::Pong(p)).await;
                    continue;
                }
                Message::Close(_) => return Err("the venue closed the stream".into()),
                _ => continue,
            };
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if v["id"] == "sandbar-subscribe" {
                if v["status"] != 200 {
                    // The key or the signature refused: say so, never the secret.
                    return Err(format!(
                        "subscription refused: {} {}",
                        v["error"]["code"], v["error"]["msg"]
                    ));
                }
                subscribed = true;
                sink.connected(true, "subscribed");
                continue;
            }
            let event = &v["event"];
            match event["e"].as_str() {
                Some("executionReport") => {
                    // A cancel's report names the cancel request in `c` and
                    // the order in `C`.
                    let original = event["C"].as_str().filter(|c| !c.is_empty());
                    if let Some(id) = original.or(event["c"].as_str()) {
                        sink.changed(id);
                    }
                }
                Some("eventStreamTerminated") => {
                    return Err("the venue ended the subscription".into());
                }
                // web-socket-api.md "Server Shutdown": "sent when the server
                // is about to shut down … Please establish a new connection
                // as soon as possible": connect again now, not when this
                // one finally drops (events meanwhile would be missed).
                Some("serverShutdown") => {
                    return Err(
                        "the venue is shutting this connection down (serverShutdown)".into(),
                    );
                }
                _ => {}
            }
        }
    }
}
