//! A position's stop and take-profit as one OCO order at Alpaca
//! (alpaca-docs, trading/orders.md, "OCO Orders"): the take-profit is the
//! parent, under the host's client order id; the stop is a leg Alpaca
//! names itself, found under the parent's `legs` in a nested listing.

use serde_json::{Value, json};

use super::{Alpaca, Failure};
use crate::execution::Side;
use crate::execution::live::{Connector, Outcome, Placement, Report};

impl Alpaca {
    /// A stop and its take-profit as one OCO order; the answer is the
    /// stop's (its leg's), as the courier follows the take-profit itself.
    pub(super) fn place_oco(
        &mut self,
        p: &Placement,
        leg: &crate::execution::live::Leg,
        stop: f64,
    ) -> Outcome<Report> {
        self.remember(p);
        let body = json!({
            "symbol": p.symbol,
            "qty": p.quantity.to_string(),
            "side": if p.side == Side::Buy { "buy" } else { "sell" },
            // trading/orders.md, "OCO Orders": "The `type` parameter must
            // always be "limit"", the take-profit; a stop leg without a
            // `limit_price` is a stop order.
            "type": "limit",
            "time_in_force": "gtc",
            "order_class": "oco",
            "client_order_id": leg.client_id,
            "take_profit": {"limit_price": leg.price.to_string()},
            "stop_loss": {"stop_price": stop.to_string()},
        });
        let req = self
            .http
            .post(format!("{}/v2/orders", self.config.rest_url))
            .json(&body);
        match self.send(req) {
            // Placed: what the stop leg is now; a failure to read it is
            // not a refusal (the courier looks it up).
            Ok(_) => match self.leg_report(&p.symbol, &p.client_id, &leg.client_id) {
                Ok(Some(report)) => Outcome::Done(report),
                Ok(None) => Outcome::Unknown("the OCO placed is not found".into()),
                Err(e) => Outcome::Unknown(e.text()),
            },
            Err(Failure::Refused(422, m)) if m.contains("client_order_id must be unique") => {
                Outcome::Unknown(format!("HTTP 422 {m}"))
            }
            Err(e) => Self::outcome(Err(e)),
        }
    }

    /// The stop leg of the OCO order whose parent (take-profit) has this
    /// client order id; `None`: no such OCO. `GET /v2/orders:by_client_order_id`
    /// gives no legs (order-v2.yaml: `legs` only "when querying … in a
    /// nested style"), so the parent is found among the orders listed with
    /// `nested=true` from just before its submission.
    fn stop_leg(&mut self, symbol: &str, parent_client: &str) -> Result<Option<Value>, Failure> {
        let parent = match self.id_of(parent_client) {
            Ok(v) => v,
            Err(Failure::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        let id = parent["id"].as_str().unwrap_or("").to_string();
        let mut query = vec![
            ("status", "all".to_string()),
            ("nested", "true".to_string()),
            ("direction", "asc".to_string()),
            ("limit", "500".to_string()),
            ("symbols", symbol.to_string()),
        ];
        if let Some(t) = parent["submitted_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            let after = t - chrono::Duration::milliseconds(1);
            query.push((
                "after",
                after.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ));
        }
        let req = self
            .http
            .get(format!("{}/v2/orders", self.config.rest_url))
            .query(&query);
        let listed = match self.send(req) {
            Ok(v) => v,
            Err(Failure::NotFound) => Value::Null,
            Err(e) => return Err(e),
        };
        let leg = listed
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["id"].as_str() == Some(id.as_str()))
            .and_then(|o| o["legs"].as_array())
            .and_then(|legs| legs.iter().find(|l| l["type"] == "stop").cloned());
        match leg {
            Some(leg) => Ok(Some(leg)),
            None => Err(Failure::Unknown(format!(
                "OCO {parent_client} is not listed with its stop leg yet"
            ))),
        }
    }

    /// The report of the stop that rests as the leg of the OCO `parent`.
    pub(super) fn leg_report(
        &mut self,
        symbol: &str,
        client_id: &str,
        parent: &str,
    ) -> Result<Option<Report>, Failure> {
        let Some(leg) = self.stop_leg(symbol, parent)? else {
            return Ok(None);
        };
        if let Some(id) = leg["id"].as_str() {
            let mut legs = self.legs.lock().expect("legs lock");
            legs.insert(id.to_string(), client_id.to_string());
        }
        self.report(&leg).map(Some)
    }
}
