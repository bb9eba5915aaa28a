//! Signed requests, as Binance's `SIGNED` endpoints require, with either
//! key type the host supports (rest-api.md, SIGNED Endpoint security;
//! faqs/api_key_types.md): **Ed25519** — "We recommend to use Ed25519 API
//! keys"; the private key never leaves the host, the signature is the
//! payload signed, base64-encoded, then percent-encoded in the query — or
//! **HMAC-SHA256** ("HMAC keys are deprecated"), hex-encoded. And the
//! server-time offset that keeps `timestamp` inside `recvWindow` (the
//! -1021 error) when the local clock drifts.
//!
//! The payload is exactly the query string sent (parameters in the order
//! given, each name and value percent-encoded by `form_urlencoded`), so
//! what is signed is what the server reads. The secret never leaves this
//! type: it is not `Debug`-printed, not serialised, and only its HMAC key
//! schedule is kept.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// An API secret, usable only to sign.
#[derive(Clone)]
pub struct Signer {
    key: Key,
}

#[derive(Clone)]
enum Key {
    Hmac(Hmac<Sha256>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<secret>)")
    }
}

impl Signer {
    /// A signer for an HMAC `secret`.
    pub fn new(secret: &str) -> Signer {
        Signer {
            key: Key::Hmac(
                Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                    .expect("HMAC takes a key of any length"),
            ),
        }
    }

    /// A signer for an Ed25519 private key in PKCS#8 PEM
    /// (`-----BEGIN PRIVATE KEY-----`), as `openssl genpkey -algorithm
    /// ed25519` writes it.
    pub fn ed25519_pem(pem: &str) -> Result<Signer, String> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        if is_rsa(pem) {
            return Err(
                "an RSA private key: Binance takes RSA keys, Sandbar signs with Ed25519 \
                 (which Binance recommends) or HMAC only — create an Ed25519 key \
                 (`openssl genpkey -algorithm ed25519`); see docs/venue-conformance.md"
                    .into(),
            );
        }
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem.trim())
            .map_err(|e| format!("not an Ed25519 private key in PKCS#8 PEM ({e})"))?;
        Ok(Signer {
            key: Key::Ed25519(Box::new(key)),
        })
    }

    /// The signature of `payload` as the venue reads it: hex (HMAC) or
    /// base64 (Ed25519; not yet percent-encoded).
    pub fn sign(&self, payload: &str) -> String {
        match &self.key {
            Key::Hmac(mac) => {
                let mut mac = mac.clone();
                mac.update(payload.as_bytes());
                crate::digest::hex(&mac.finalize().into_bytes())
            }
            Key::Ed25519(key) => {
                use base64::Engine;
                use ed25519_dalek::Signer as _;
                let signature = key.sign(payload.as_bytes());
                base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
            }
        }
    }

    /// The query string of `params` with `timestamp` and `recvWindow`, and
    /// its `signature` appended: ready to send.
    pub fn signed_query(
        &self,
        params: &[(&str, &str)],
        timestamp_ms: i64,
        recv_window_ms: u64,
    ) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            q.append_pair(k, v);
        }
        q.append_pair("recvWindow", &recv_window_ms.to_string());
        q.append_pair("timestamp", &timestamp_ms.to_string());
        let payload = q.finish();
        // Percent-encoded: a base64 signature carries `+`, `/` and `=`.
        let signature: String =
            form_urlencoded::byte_serialize(self.sign(&payload).as_bytes()).collect();
        format!("{payload}&signature={signature}")
    }
}

/// The offset between the venue's clock and ours, from `GET /api/v3/time`
/// round trips: the server time minus the local time at the midpoint of
/// the request, the estimate with the shortest round trip kept (it bounds
/// the error by half of it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClockOffset {
    offset_ms: i64,
    round_trip_ms: Option<i64>,
}

impl ClockOffset {
    /// A measurement: local time before sending, the server's time, local
    /// time when the answer came.
    pub fn observe(&mut self, sent_ms: i64, server_ms: i64, received_ms: i64) {
        let rtt = (received_ms - sent_ms).max(0);
        if self.round_trip_ms.is_none_or(|best| rtt <= best) {
            self.offset_ms = server_ms - (sent_ms + rtt / 2);
            self.round_trip_ms = Some(rtt);
        }
    }

    /// The venue's time now, given ours.
    pub fn venue_time(&self, local_ms: i64) -> i64 {
        local_ms + self.offset_ms
    }

    /// Forget every sample: the offset is known to be wrong (the venue
    /// refused a timestamp, `-1021`: a clock stepped, a VM migrated). The
    /// next sample is taken whatever its round trip — else a step would be
    /// ignored for as long as no sample beat the best round trip ever seen,
    /// and every signed request refused.
    pub fn restart(&mut self) {
        self.round_trip_ms = None;
    }
}

/// Whether `pem` holds an RSA private key: PKCS#1 (`BEGIN RSA PRIVATE
/// KEY`) or PKCS#8 with the rsaEncryption algorithm (1.2.840.113549.1.1.1).
fn is_rsa(pem: &str) -> bool {
    use ed25519_dalek::pkcs8::{PrivateKeyInfo, SecretDocument};
    const RSA: ed25519_dalek::pkcs8::ObjectIdentifier =
        ed25519_dalek::pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    if pem.contains("BEGIN RSA PRIVATE KEY") {
        return true;
    }
    SecretDocument::from_pem(pem.trim())
        .ok()
        .and_then(|(_, doc)| {
            PrivateKeyInfo::try_from(doc.as_bytes())
                .ok()
                .map(|info| info.algorithm.oid == RSA)
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_step_is_adopted_once_the_offset_is_known_wrong() {
        let mut c = ClockOffset::default();
        c.observe(1_000, 1_001, 1_002); // 2 ms round trip, venue = ours
        assert_eq!(c.venue_time(5_000), 5_000);
        // Our clock steps back 90 s: the venue is now 90 s ahead. A sample
        // with a slower round trip than the best is not believed...
        c.observe(10_000, 100_005, 10_010);
        assert_eq!(c.venue_time(20_000), 20_000);
        // ...until a refused timestamp says the offset is wrong.
        c.restart();
        c.observe(10_000, 100_005, 10_010);
        assert_eq!(c.venue_time(20_000), 110_000);
        // Then the best round trip counts again.
        c.observe(30_000, 120_001, 30_002);
        assert_eq!(c.venue_time(40_000), 130_000);
    }

    // The worked examples of Binance's "SIGNED endpoint security" page.
    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    #[test]
    fn signatures_match_the_documented_examples() {
        let s = Signer::new(SECRET);
        assert_eq!(
            s.signed_query(
                &[
                    ("symbol", "LTCBTC"),
                    ("side", "BUY"),
                    ("type", "LIMIT"),
                    ("timeInForce", "GTC"),
                    ("quantity", "1"),
                    ("price", "0.1"),
                ],
                1_499_827_319_559,
                5000
            ),
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000\
             &timestamp=1499827319559&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        // Non-ASCII values are signed percent-encoded, as sent.
        let q = s.signed_query(
            &[
                ("symbol", "１２３４５６"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "1"),
                ("price", "0.1"),
            ],
            1_499_827_319_559,
            5000,
        );
        assert!(
            q.starts_with("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&"),
            "{q}"
        );
        assert!(
            q.ends_with(
                "&signature=e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
            ),
            "{q}"
        );
        assert_eq!(
            format!("{s:?}"),
            "Signer(<secret>)",
            "the secret is never printed"
        );
    }

    #[test]
    fn an_ed25519_signature_is_the_payload_signed_base64_then_percent_encoded() {
        use base64::Engine;
        use ed25519_dalek::Verifier;
        use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let s = Signer::ed25519_pem(&pem).unwrap();
        let q = s.signed_query(
            &[("symbol", "BTCUSDT"), ("side", "SELL")],
            1_668_481_559_918,
            5000,
        );
        let (payload, sig) = q.rsplit_once("&signature=").unwrap();
        assert_eq!(
            payload,
            "symbol=BTCUSDT&side=SELL&recvWindow=5000&timestamp=1668481559918"
        );
        assert!(
            !sig.contains('+') && !sig.contains('/') && !sig.contains('='),
            "{sig}"
        );
        let decoded: String = form_urlencoded::parse(format!("s={sig}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(decoded)
            .unwrap();
        let signature = ed25519_dalek::Signature::from_slice(&bytes).unwrap();
        key.verifying_key()
            .verify(payload.as_bytes(), &signature)
            .expect("the venue verifies it with the public key");
        assert!(
            Signer::ed25519_pem("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----")
                .is_err()
        );
        assert_eq!(format!("{s:?}"), "Signer(<secret>)");
    }

    #[test]
    fn the_clock_offset_keeps_the_tightest_round_trip() {
        let mut c = ClockOffset::default();
        c.observe(1_000, 1_530, 1_100); // rtt 100: offset 480
        c.observe(2_000, 2_700, 2_400); // rtt 400: looser, ignored
        assert_eq!(c.venue_time(10_000), 10_480);
        c.observe(3_000, 3_505, 3_010); // rtt 10: offset 500
        assert_eq!(c.venue_time(10_000), 10_500);
    }

    /// A throwaway 1,024-bit RSA key (`openssl genpkey -algorithm RSA`),
    /// made for this test and used nowhere else.
    const RSA_PKCS8: &str = "-----BEGIN PRIVATE KEY-----\nMIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAMiKfb0gdbVQwJrP\ntgB+oMHFqWhax4GxxaK1/ybWkzjFVAm3Xw9uJwa9APi/FRvPUs4up0hs4TjMz2H7\naMGp1ZLFCpLD3L+wn/vKVvhtAu9zVs5nJ2uVVh6BkZMFwj8xdYXNIGcn/U4/YWr8\nrRcuGDylrsrPyW1awumf7sn6PcRzAgMBAAECgYEAkupCq6d4FFkQgVniMAKUquCv\n9y9qMW2XKFjEkCNqv5BwvJ2GGrvMA3e7moACatk8BKjRDJIXfZEt7M5ONHLDbvH6\n2CMi+gWPO0eTe2xnHi+UCpjWoxZ+FrDxqpVdAeOgWtgnjWk/sa1GqvgVic1Ep3wZ\nxP6elWVErjgkcEK9eCECQQDy1I84Ouy9lTQN2JMX3g6ufFmcNwNx1fYXBnu6Hayl\nWz1CLv2OLZUSUQ9BLc0XB8ynvjDbagkxoeucsUDdgEwXAkEA02rKE8YC7z0x9MN7\niSDP12sMaKcwKwB1+E8DNa1dExjR5HGgyx2pXec3Hm9j1uAKS8fGFIQjqmMGxioE\nsOr4BQJAOTV6yHSZcdDFAr4TaXwXWWRSeEs9tIQEBkiwvZhgJFTqib0oX2a9yCLw\nxRpVRye/P4W/XPIOWHMdXz0jWwvu4QJAKHdINoCwDxqndTH1c0nUfmb++QkHLzPn\nYJ++/YcxSXZ2tkMJg9cpk8+tvSWU9ovrbJXQVBz2tqY9pbBlNXfEAQJAP+XmaAN3\nZBNLnoKJ9i2zCs63bdmc+z62gcdimEaZhCry2wgi0g/hygBnCu18vM2ymt0WoMe5\n8WwVpcmlFm816A==\n-----END PRIVATE KEY-----";

    #[test]
    fn an_rsa_key_is_refused_naming_its_type_and_what_to_use_instead() {
        for pem in [
            RSA_PKCS8.to_string(),
            "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n".to_string(),
        ] {
            let Err(e) = Signer::ed25519_pem(&pem) else {
                panic!("an RSA key was accepted")
            };
            assert!(
                e.starts_with("an RSA private key") && e.contains("ed25519"),
                "{e}"
            );
        }
        let Err(e) = Signer::ed25519_pem("not a key") else {
            panic!("garbage was accepted")
        };
        assert!(e.starts_with("not an Ed25519 private key"), "{e}");
    }
}
