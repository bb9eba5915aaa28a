//! TLS for the test servers: a certificate authority made at run time, a
//! server certificate it signs for `localhost` and `127.0.0.1`, and a
//! listener that speaks TLS to whoever connects — so the host's https and
//! wss paths are the ones the tests drive. The CA's certificate is written
//! to a PEM file a test hands the host as its `ca_file`; nothing else
//! trusts it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A CA and the server configuration of a certificate it signed.
pub struct TestCa {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    server: Arc<rustls::ServerConfig>,
    dir: tempfile::TempDir,
}

impl TestCa {
    /// A new CA (its own key, made now) and a server certificate for
    /// `localhost` and `127.0.0.1`.
    pub fn new() -> TestCa {
        let _ = rustls::crypto::CryptoProvider::install_default(
            rustls::crypto::ring::default_provider(),
        );
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sandbar test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let server = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_pem = ca.pem();
        std::fs::write(dir.path().join("ca.pem"), &ca_pem).unwrap();
        TestCa {
            ca_pem,
            server: Arc::new(server),
            dir,
        }
    }

    /// The CA certificate's file: the host's `ca_file`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server side's TLS configuration (for a test server that upgrades
    /// a plain connection itself, as SMTP's STARTTLS does).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }

    /// A listener that takes TLS connections on `tcp`.
    pub fn listener(&self, tcp: TcpListener) -> TlsListener {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(self.server.clone()),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// A TCP listener whose connections are TLS (a handshake that fails or
/// takes more than five seconds drops that connection only).
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            let handshake = self.acceptor.accept(stream);
            if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(5), handshake).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serve `app` on a new port of 127.0.0.1 on `rt`: plain, or TLS with a
/// certificate `ca` signed. Returns the (scheme-less) authority to use:
/// `127.0.0.1:port` plain, `localhost:port` over TLS (the name the
/// certificate carries).
pub fn serve(rt: &tokio::runtime::Runtime, app: axum::Router, ca: Option<&TestCa>) -> String {
    let tcp = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr: SocketAddr = tcp.local_addr().unwrap();
    match ca {
        None => {
            rt.spawn(async move { axum::serve(tcp, app).await.unwrap() });
            addr.to_string()
        }
        Some(ca) => {
            let listener = ca.listener(tcp);
            rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
            format!("localhost:{}", addr.port())
        }
    }
}
