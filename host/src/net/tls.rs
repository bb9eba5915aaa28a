//! TLS for every connection the host makes: REST and WebSocket to venues and
//! feeds, webhooks and bots for alerts.
//!
//! One `rustls` client configuration (the `ring` provider) trusts Mozilla's
//! root certificates (`webpki-roots`, compiled in, so the host trusts the
//! same roots on every machine) plus, where the configuration names one, a
//! CA file (`ca_file`: a private endpoint, a corporate proxy, the test
//! servers' CA made at run time). The same configuration serves `reqwest`
//! and `tokio-tungstenite`, so an https REST call and a wss stream to one
//! venue trust exactly the same certificates.
//!
//! Plain `http://` and `ws://` are refused for anything but loopback
//! addresses ([`require_secure`]): a venue's key, signatures and orders
//! never travel in clear.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio_tungstenite::tungstenite;

/// A client TLS configuration: Mozilla's roots and an optional CA file.
#[derive(Clone)]
pub struct Tls {
    config: Arc<rustls::ClientConfig>,
    /// The extra CA file, for messages.
    ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tls(webpki roots + {:?})", self.ca_file)
    }
}

/// The crypto provider every TLS configuration uses (installed once as the
/// process default too, so nothing falls back to a provider of its own).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    install_provider();
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Make `ring` the process's default crypto provider (once; later calls do
/// nothing). `main` calls it first, so any TLS client the process builds
/// has one.
pub fn install_provider() {
    let _ =
        rustls::crypto::CryptoProvider::install_default(rustls::crypto::ring::default_provider());
}

impl Tls {
    /// Mozilla's roots, plus every certificate of the PEM file `ca_file`
    /// when given (an error names the file and what is wrong with it).
    pub fn new(ca_file: Option<&Path>) -> anyhow::Result<Tls> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("CA file {}", path.display()))?
                .collect::<Result<_, _>>()
                .with_context(|| format!("CA file {}: not PEM certificates", path.display()))?;
            if certs.is_empty() {
                anyhow::bail!("CA file {}: no certificate in it", path.display());
            }
            for c in certs {
                roots
                    .add(c)
                    .with_context(|| format!("CA file {}", path.display()))?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls {
            config: Arc::new(config),
            ca_file: ca_file.map(Path::to_path_buf),
        })
    }

    /// Mozilla's roots only.
    pub fn webpki() -> Tls {
        Tls::new(None).expect("the compiled-in roots make a configuration")
    }

    /// A blocking HTTP client builder that trusts these roots.
    pub fn http(&self) -> reqwest::blocking::ClientBuilder {
        reqwest::blocking::Client::builder().tls_backend_preconfigured((*self.config).clone())
    }

    /// The WebSocket connector that trusts these roots.
    pub fn ws(&self) -> tokio_tungstenite::Connector {
        tokio_tungstenite::Connector::Rustls(self.config.clone())
    }

    /// Open a WebSocket (`wss://`, or `ws://` on loopback) with these roots.
    pub async fn connect_ws(
        &self,
        url: &str,
    ) -> Result<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        tungstenite::Error,
    > {
        let (ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(self.ws()))
                .await?;
        Ok(ws)
    }
}

/// Whether `url`'s host is a loopback address (`127.0.0.0/8`, `::1`,
/// `localhost`).
pub fn is_loopback(url: &str) -> bool {
    let Some(rest) = url.split_once("://").map(|(_, r)| r) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuse a URL that is not `https://`/`wss://` (`secure`), or a plain
/// `http://`/`ws://` (`plain`) to anywhere but loopback, naming `key`.
pub fn require_secure(key: &str, url: &str, secure: &str, plain: &str) -> anyhow::Result<()> {
    if url.starts_with(&format!("{secure}://")) {
        return Ok(());
    }
    if url.starts_with(&format!("{plain}://")) {
        if is_loopback(url) {
            return Ok(());
        }
        anyhow::bail!(
            "{key}: {plain}:// sends keys and orders in clear; use {secure}:// (plain {plain}:// is allowed only to loopback addresses)"
        );
    }
    anyhow::bail!("{key}: expected {secure}:// (or {plain}:// to a loopback address)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_be_plain() {
        for ok in [
            "http://127.0.0.1:8080/x",
            "ws://localhost:9/stream",
            "http://[::1]:80",
            "https://api.binance.com",
            "wss://stream.binance.com:9443",
            "http://127.8.9.10",
        ] {
            let (secure, plain) = if ok.starts_with("ws") {
                ("wss", "ws")
            } else {
                ("https", "http")
            };
            assert!(require_secure("k", ok, secure, plain).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.binance.com",
            "http://10.0.0.1",
            "http://127.0.0.1.evil.com",
            "http://user@example.com",
            "ftp://127.0.0.1",
        ] {
            let e = require_secure("venues.b.rest_url", bad, "https", "http").unwrap_err();
            assert!(e.to_string().starts_with("venues.b.rest_url: "), "{e}");
        }
        assert!(!is_loopback("http://localhost.example.com/"));
        assert!(is_loopback("http://localhost/"));
    }

    #[test]
    fn a_ca_file_that_is_not_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let e = Tls::new(Some(&missing)).unwrap_err();
        assert!(format!("{e:#}").contains("none.pem"), "{e:#}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = Tls::new(Some(&empty)).unwrap_err();
        assert!(format!("{e:#}").contains("no certificate"), "{e:#}");
        assert!(Tls::new(None).is_ok());
    }
}
