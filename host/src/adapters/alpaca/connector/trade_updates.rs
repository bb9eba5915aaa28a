//! Alpaca's `trade_updates` stream (trading-api/streaming.md):
//! `authenticate`, then `listen`; every event names an order that changed,
//! and the courier looks it up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// Alpaca's `trade_updates` stream for one deployment's connector.
pub(super) struct TradeUpdates {
    pub(super) url: String,
    pub(super) key: String,
    pub(super) secret: String,
    pub(super) tls: crate::net::tls::Tls,
    /// Stop legs by Alpaca's id (shared with the connector).
    pub(super) legs: Arc<Mutex<HashMap<String, String>>>,
}

impl crate::execution::live::Pushes for TradeUpdates {
    fn run(self: Box<Self>, sink: crate::execution::live::PushSink) {
        crate::execution::live::reconnecting(sink, "alpaca trade_updates", async |sink| {
            self.session(sink).await
        });
    }
}

impl TradeUpdates {
    async fn session(&self, sink: &crate::execution::live::PushSink) -> Result<(), String> {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let mut ws = self
            .tls
            .connect_ws(&self.url)
            .await
            .map_err(|e| format!("connecting: {}", crate::net::chain(&e)))?;
        let auth = json!({"action": "authenticate", "data": {"key_id": self.key, "secret_key": self.secret}});
        ws.send(Message::Text(auth.to_string().into()))
            .await
            .map_err(|e| format!("authenticating: {e}"))?;
        loop {
            if sink.stopped() {
                let _ = ws.close(None).await;
                return Ok(());
            }
            let m = match tokio::time::timeout(Duration::from_millis(250), ws.next()).await {
                Err(_) => continue,
                Ok(None) => return Err("the venue closed the stream".into()),
                Ok(Some(Err(e))) => return Err(format!("reading: {e}")),
                Ok(Some(Ok(m))) => m,
            };
            let v: Value = match m {
                // Paper frames are binary, live ones text: the same JSON.
                Message::Binary(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
                Message::Text(t) => serde_json::from_str(t.as_str()).unwrap_or(Value::Null),
                Message::Ping(p) => {
                    let _ = ws.send(Message::Pong(p)).await;
                    continue;
                }
                Message::Close(_) => return Err("the venue closed the stream".into()),
                _ => continue,
            };
            match v["stream"].as_str() {
                Some("authorization") => {
                    if v["data"]["status"] != "authorized" {
                        return Err("the key was refused by trade_updates".into());
                    }
                    let listen =
                        json!({"action": "listen", "data": {"streams": ["trade_updates"]}});
                    ws.send(Message::Text(listen.to_string().into()))
                        .await
                        .map_err(|e| format!("listening: {e}"))?;
                }
                Some("listening") => sink.connected(true, "listening"),
                Some("trade_updates") => {
                    let order = &v["data"]["order"];
                    let leg = order["id"].as_str().and_then(|id| {
                        let legs = self.legs.lock().expect("legs lock");
                        legs.get(id).cloned()
                    });
                    if let Some(stop) = leg {
                        sink.changed(&stop);
                    } else if let Some(id) = order["client_order_id"].as_str() {
                        sink.changed(id);
                    }
                }
                _ => {}
            }
        }
    }
}
