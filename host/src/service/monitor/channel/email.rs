//! E-mail over SMTP (the `lettre` crate): to a remote relay over STARTTLS
//! (RFC 3207, the default) or implicit TLS (RFC 8314, port 465) with rustls
//! and Mozilla's roots, plus an optional CA file; plain SMTP only to a
//! loopback relay (a local MTA), so a login and the alerts never cross a
//! network in clear.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Channel, SendError, warning};
use crate::service::monitor::{Alert, Level};

/// `kind = "email"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP host.
    pub host: String,
    /// Port (default 25).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Environment variable holding `user:password`, if the relay wants a login.
    #[serde(default)]
    pub credentials_env: Option<String>,
    /// Or a file holding `user:password` (a trailing newline is ignored).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// `starttls` (default: plain connection upgraded before anything else
    /// is said, refused if the server does not offer it), `tls` (TLS from
    /// the first byte, port 465) or `none` (a loopback relay only). Default
    /// `none` for a loopback host, else `starttls`.
    #[serde(default)]
    pub tls: Option<EmailTls>,
    /// A PEM file of extra roots trusted beside Mozilla's (a private relay).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Lowest level sent (default WARNING).
    #[serde(default = "warning")]
    pub min_level: Level,
}

fn default_port() -> u16 {
    25
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTls {
    /// Upgraded with STARTTLS before anything else (required, never optional).
    Starttls,
    /// TLS from the first byte.
    Tls,
    /// None: a loopback relay only.
    None,
}

impl EmailConfig {
    /// How the connection is protected: as configured, else `none` for a
    /// loopback host and `starttls` for any other.
    pub fn tls(&self) -> EmailTls {
        self.tls.unwrap_or(if self.loopback() {
            EmailTls::None
        } else {
            EmailTls::Starttls
        })
    }

    fn loopback(&self) -> bool {
        crate::net::tls::is_loopback(&format!("smtp://{}", self.host))
    }

    /// Refuse plain SMTP to anything but a loopback relay, and two
    /// sources of one login.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.credentials_env.is_some() && self.credentials_file.is_some() {
            anyhow::bail!("credentials_env and credentials_file: name one of them, not both");
        }
        if self.tls() == EmailTls::None && !self.loopback() {
            anyhow::bail!(
                "tls: `none` to {} would send the alerts (and the login) in clear; \
                 use `starttls` or `tls`, or a relay on loopback",
                self.host
            );
        }
        Ok(())
    }

    /// Make a relative `ca_file` relative to `base` (the config file's directory).
    pub fn resolve(&mut self, base: &std::path::Path) {
        for p in [&mut self.ca_file, &mut self.credentials_file]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// The login, if one is named: (`user:password`, where it came from).
    fn login(&self) -> anyhow::Result<Option<(String, String)>> {
        let text = match (&self.credentials_env, &self.credentials_file) {
            (Some(v), _) => std::env::var(v)
                .map_err(|_| anyhow::anyhow!("environment variable {v} is not set"))
                .map(|t| (t, v.clone()))?,
            (None, Some(f)) => std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("credentials_file {}: {e}", f.display()))
                .map(|t| {
                    (
                        t.trim_end_matches(['\n', '\r']).to_string(),
                        f.display().to_string(),
                    )
                })?,
            (None, None) => return Ok(None),
        };
        Ok(Some(text))
    }

    fn tls_parameters(&self) -> anyhow::Result<lettre::transport::smtp::client::TlsParameters> {
        use lettre::transport::smtp::client::{Certificate, TlsParameters};
        let mut b = TlsParameters::builder(self.host.clone());
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("ca_file {}: {e}", path.display()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| anyhow::anyhow!("ca_file {}: {e}", path.display()))?;
            b = b.add_root_certificate(cert);
        }
        Ok(b.build_rustls()?)
    }

    pub(super) fn open(&self) -> anyhow::Result<Email> {
        use lettre::transport::smtp::client::Tls;
        self.check()?;
        let parse = |a: &str| {
            a.parse::<lettre::message::Mailbox>()
                .map_err(|e| anyhow::anyhow!("address {a:?}: {e}"))
        };
        let tls = match self.tls() {
            EmailTls::Starttls => Tls::Required(self.tls_parameters()?),
            EmailTls::Tls => Tls::Wrapper(self.tls_parameters()?),
            EmailTls::None => Tls::None,
        };
        let mut b = lettre::SmtpTransport::builder_dangerous(self.host.as_str())
            .port(self.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(10)));
        if let Some((c, from)) = self.login()? {
            let (user, pass) = c
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("{from} must hold user:password"))?;
            b = b.credentials(lettre::transport::smtp::authentication::Credentials::new(
                user.into(),
                pass.into(),
            ));
        }
        Ok(Email {
            transport: b.build(),
            from: parse(&self.from)?,
            to: self
                .to
                .iter()
                .map(|t| parse(t))
                .collect::<anyhow::Result<_>>()?,
            min: self.min_level,
        })
    }
}

/// The open channel.
pub struct Email {
    transport: lettre::SmtpTransport,
    from: lettre::message::Mailbox,
    to: Vec<lettre::message::Mailbox>,
    min: Level,
}

impl Channel for Email {
    fn min_level(&self) -> Level {
        self.min
    }

    fn send(&self, a: &Alert) -> Result<(), SendError> {
        use lettre::Transport;
        let mut m = lettre::Message::builder()
            .from(self.from.clone())
            .subject(format!("[sandbar] {} {} {}", a.level, a.deployment, a.rule));
        for t in &self.to {
            m = m.to(t.clone());
        }
        let body = format!(
            "{}\n\n{}\n",
            a.message,
            serde_json::to_string_pretty(a).unwrap_or_default()
        );
        let m = m
            .body(body)
            .map_err(|e| SendError::Refused(e.to_string()))?;
        // A permanent SMTP answer (5xx) refuses this message; anything
        // else (a 4xx, the connection) is the server being down.
        self.transport.send(&m).map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                SendError::Refused(e.to_string())
            } else {
                SendError::Down(e.to_string())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};

    /// One line, read a byte at a time (nothing is read past it: after
    /// `STARTTLS` the next bytes are the TLS handshake).
    fn line(r: &mut impl Read) -> Option<String> {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while r.read(&mut b).ok()? == 1 {
            out.push(b[0]);
            if b[0] == b'\n' {
                return Some(String::from_utf8_lossy(&out).trim_end().to_string());
            }
        }
        None
    }

    /// SMTP commands as the server saw them, `TLS` marking the upgrade,
    /// and each message's body.
    type Seen = Arc<Mutex<Vec<String>>>;

    /// An SMTP server on 127.0.0.1 (RFC 5321, RFC 3207): offers STARTTLS
    /// (`starttls`), takes a login and mail only once the connection is
    /// TLS, as a relay on the internet does (RFC 4954 §4: no plain login).
    fn relay(ca: &sandbar_test_support::tls::TestCa, starttls: bool) -> (u16, Seen) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Seen = Arc::default();
        let (s, config) = (seen.clone(), ca.server_config());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut plain) = stream else { continue };
                let _ = plain.write_all(b"220 localhost ESMTP test\r\n");
                let mut upgraded = false;
                while let Some(cmd) = line(&mut plain) {
                    s.lock().unwrap().push(cmd.clone());
                    let upper = cmd.to_ascii_uppercase();
                    if upper.starts_with("EHLO") {
                        let offer: &[u8] = if starttls {
                            b"250-localhost\r\n250 STARTTLS\r\n"
                        } else {
                            b"250 localhost\r\n"
                        };
                        let _ = plain.write_all(offer);
                    } else if upper == "STARTTLS" && starttls {
                        let _ = plain.write_all(b"220 go ahead\r\n");
                        upgraded = true;
                        break;
                    } else if upper.starts_with("QUIT") {
                        let _ = plain.write_all(b"221 bye\r\n");
                        break;
                    } else {
                        let _ =
                            plain.write_all(b"530 5.7.0 must issue a STARTTLS command first\r\n");
                    }
                }
                if !upgraded {
                    continue;
                }
                s.lock().unwrap().push("TLS".into());
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, plain);
                while let Some(cmd) = line(&mut tls) {
                    s.lock().unwrap().push(cmd.clone());
                    let upper = cmd.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-localhost\r\n250 AUTH PLAIN LOGIN\r\n"
                    } else if upper.starts_with("AUTH") {
                        b"235 2.7.0 accepted\r\n"
                    } else if upper == "DATA" {
                        let _ = tls.write_all(b"354 end with <CRLF>.<CRLF>\r\n");
                        let mut body = String::new();
                        while let Some(l) = line(&mut tls) {
                            if l == "." {
                                break;
                            }
                            body.push_str(&l);
                            body.push('\n');
                        }
                        s.lock().unwrap().push(format!("BODY {body}"));
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = tls.write_all(b"221 bye\r\n");
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    let _ = tls.write_all(reply);
                }
            }
        });
        (port, seen)
    }

    fn login_file() -> PathBuf {
        static DIR: std::sync::LazyLock<tempfile::TempDir> = std::sync::LazyLock::new(|| {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join("login"), "ops:secret\n").unwrap();
            d
        });
        DIR.path().join("login")
    }

    fn config(port: u16, ca: &sandbar_test_support::tls::TestCa) -> EmailConfig {
        EmailConfig {
            host: "localhost".into(),
            port,
            from: "sandbar@example.com".into(),
            to: vec!["ops@example.com".into()],
            credentials_env: None,
            credentials_file: Some(login_file()),
            tls: Some(EmailTls::Starttls),
            ca_file: Some(ca.ca_file()),
            min_level: Level::Warning,
        }
    }

    fn alert() -> Alert {
        Alert {
            id: 1,
            time: "2026-12-05T06:00:00Z".into(),
            level: Level::Critical,
            deployment: "d".into(),
            version: "v@1".into(),
            rule: crate::service::monitor::Rule::Fault,
            value: None,
            threshold: None,
            bar_time: None,
            message: "plugin faulted".into(),
        }
    }

    /// The relay heard neither a login nor a mail.
    fn nothing_said(seen: &Seen) {
        let seen = seen.lock().unwrap();
        assert!(
            !seen
                .iter()
                .any(|c| c.starts_with("AUTH") || c.starts_with("MAIL")),
            "{seen:?}"
        );
    }

    #[test]
    fn mail_and_the_login_go_to_the_relay_only_after_starttls() {
        let ca = sandbar_test_support::tls::TestCa::new();
        let (port, seen) = relay(&ca, true);
        config(port, &ca).open().unwrap().send(&alert()).unwrap();
        let seen = seen.lock().unwrap().clone();
        let tls_at = seen.iter().position(|c| c == "TLS").expect("upgraded");
        let auth_at = seen
            .iter()
            .position(|c| c.starts_with("AUTH"))
            .expect("a login");
        let mail_at = seen
            .iter()
            .position(|c| c.starts_with("MAIL FROM"))
            .expect("mail");
        assert!(tls_at < auth_at && tls_at < mail_at, "{seen:?}");
        use base64::Engine;
        let login = seen[auth_at].rsplit(' ').next().unwrap();
        let login = base64::engine::general_purpose::STANDARD
            .decode(login)
            .unwrap();
        assert_eq!(login, b"\0ops\0secret", "the login of credentials_file");
        assert!(
            seen.iter()
                .any(|c| c.starts_with("BODY") && c.contains("plugin faulted")),
            "{seen:?}"
        );

        // A relay that does not offer STARTTLS gets neither the login nor the mail.
        let (port, seen) = relay(&ca, false);
        let e = config(port, &ca).open().unwrap().send(&alert());
        assert!(e.is_err(), "sent without TLS");
        nothing_said(&seen);

        // A relay whose certificate no trusted root signed is not talked to.
        let other = sandbar_test_support::tls::TestCa::new();
        let (port, seen) = relay(&other, true);
        assert!(config(port, &ca).open().unwrap().send(&alert()).is_err());
        nothing_said(&seen);
    }

    #[test]
    fn plain_smtp_is_for_a_loopback_relay_only() {
        let ca = sandbar_test_support::tls::TestCa::new();
        let mut c = config(25, &ca);
        c.tls = None;
        c.host = "smtp.example.com".into();
        assert_eq!(c.tls(), EmailTls::Starttls, "default off loopback");
        c.host = "127.0.0.1".into();
        assert_eq!(c.tls(), EmailTls::None, "default on loopback");
        c.host = "smtp.example.com".into();
        c.tls = Some(EmailTls::None);
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("in clear"), "{e}");
        assert!(c.open().is_err());
    }
}
