//! Any bytes as the JSON body of a control-API route (the first byte picks
//! the route's body type): decoding returns the body or an error, never
//! panics, and what decodes goes through the same checks the service runs
//! before anything is written — names, capital and symbols (the registry's
//! rules), risk keys, the feed's interval and start — which answer, never
//! panic. What a check accepts must survive a JSON round trip unchanged (a
//! NaN capital once bricked the registry: it was accepted, and stored as
//! `null`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sandbar::api::{Reason, VersionBody};
use sandbar::registry::validate;
use sandbar::replay::RunConfig;
use sandbar::service::{CreateRequest, FeedSpec};

fn round_trips<T: serde::Serialize + serde::de::DeserializeOwned>(v: &T) {
    let json = serde_json::to_value(v).unwrap();
    let back: T = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), json);
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            let Ok(c) = serde_json::from_slice::<CreateRequest>(body) else {
                return;
            };
            let ok = validate::name("name", &c.name).is_ok()
                & validate::positive("capital", c.capital).is_ok()
                & validate::symbols("symbols", &c.symbols).is_ok();
            let set: Vec<String> = c.risk.iter().map(|r| format!("risk.{r}")).collect();
            let risk_ok = RunConfig::load(None, &set).is_ok();
            if ok && risk_ok {
                assert!(c.capital.is_finite() && c.capital > 0.0);
                round_trips(&c);
            }
        }
        1 => {
            let Ok(s) = serde_json::from_slice::<FeedSpec>(body) else {
                return;
            };
            let _ = sandbar::data::live::interval_ms(&s.interval);
            if let Some(start) = &s.start {
                let _ = sandbar::market::parse_time(start);
            }
            round_trips(&s);
        }
        2 => {
            let Ok(v) = serde_json::from_slice::<VersionBody>(body) else {
                return;
            };
            round_trips(&v);
        }
        _ => {
            let Ok(r) = serde_json::from_slice::<Reason>(body) else {
                return;
            };
            round_trips(&r);
        }
    }
});
