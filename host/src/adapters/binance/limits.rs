//! Binance's request limits belong to the IP address, not to a connector:
//! "The limits on the API are based on the IPs, not the API keys", the
//! `X-MBX-USED-WEIGHT-1M` header is "the current used weight for the IP",
//! and a 418 bans the IP "until the ban is over" (rest-api.md, LIMITS, IP
//! Limits). So every connector this process opens to one Binance host —
//! each LIVE deployment's courier, the reconciler, `sandbar venue check` —
//! shares one [`IpLimits`]: a ban or a spent minute seen by one holds them
//! all, and none sends until it is over.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

/// What one IP may do now at one Binance host.
#[derive(Debug, Default)]
pub struct IpLimits {
    /// Nothing is sent before this (a 429's or 418's `Retry-After`, or the
    /// next minute once the weight budget is spent).
    pub pause_until: Option<Instant>,
    /// Weight used this minute, as the venue last said.
    pub used_weight: f64,
}

static HOSTS: LazyLock<Mutex<HashMap<String, Arc<Mutex<IpLimits>>>>> =
    LazyLock::new(Default::default);

/// The limits shared by every connector to the host of `rest_url`.
pub fn shared(rest_url: &str) -> Arc<Mutex<IpLimits>> {
    let host = reqwest::Url::parse(rest_url)
        .ok()
        .and_then(|u| {
            let port = u.port_or_known_default()?;
            Some(format!("{}:{port}", u.host_str()?))
        })
        .unwrap_or_else(|| rest_url.to_string());
    HOSTS
        .lock()
        .expect("binance limits lock")
        .entry(host)
        .or_default()
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_host_one_state_whatever_the_path() {
        let a = shared("https://api.binance.com");
        let b = shared("https://api.binance.com:443/");
        let c = shared("https://testnet.binance.vision");
        a.lock().unwrap().used_weight = 42.0;
        assert_eq!(b.lock().unwrap().used_weight, 42.0);
        assert_eq!(c.lock().unwrap().used_weight, 0.0);
    }
}
