//! The command line's client of a running service: its token from the
//! environment, JSON in and out.

/// Where a client finds its token: `SANDBAR_TOKEN`, or the file named by
/// `SANDBAR_TOKEN_FILE`.
use serde::Serialize;

pub fn client_token() -> anyhow::Result<String> {
    if let Ok(t) = std::env::var("SANDBAR_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    if let Ok(f) = std::env::var("SANDBAR_TOKEN_FILE") {
        let t = std::fs::read_to_string(&f)
            .map_err(|e| anyhow::anyhow!("SANDBAR_TOKEN_FILE {f}: {e}"))?;
        return Ok(t.lines().next().unwrap_or_default().trim().to_string());
    }
    anyhow::bail!("no API token: set SANDBAR_TOKEN, or SANDBAR_TOKEN_FILE to a file holding it")
}

/// A blocking client for the CLI.
pub struct Client {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client of the service at `base` (`http://127.0.0.1:7878`), with
    /// the token from the environment.
    pub fn new(base: &str) -> anyhow::Result<Self> {
        Ok(Self {
            base: base.trim_end_matches('/').into(),
            token: client_token()?,
            http: crate::net::tls::Tls::webpki().http().build()?,
        })
    }

    fn answer(
        &self,
        r: reqwest::Result<reqwest::blocking::Response>,
    ) -> anyhow::Result<serde_json::Value> {
        let r = r.map_err(|e| anyhow::anyhow!("service at {}: {e}", self.base))?;
        let status = r.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            anyhow::bail!("service at {}: the token was refused (401)", self.base);
        }
        if status == reqwest::StatusCode::FORBIDDEN {
            anyhow::bail!("service at {}: refused this Host (403)", self.base);
        }
        let v: serde_json::Value = r
            .json()
            .map_err(|e| anyhow::anyhow!("service at {}: {e}", self.base))?;
        if status.is_success() {
            Ok(v)
        } else {
            Err(anyhow::anyhow!(
                "{}",
                v["error"].as_str().unwrap_or("request refused")
            ))
        }
    }

    /// `POST /deployments/{name}/{verb}` with a JSON body.
    pub fn post(
        &self,
        name: &str,
        verb: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<serde_json::Value> {
        self.post_path(&format!("/deployments/{name}/{verb}"), body)
    }

    /// `POST {path}` with a JSON body.
    pub fn post_path(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<serde_json::Value> {
        self.answer(
            self.http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .json(body)
                .send(),
        )
    }

    /// `GET {path}`.
    pub fn get_path(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        self.answer(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .send(),
        )
    }

    /// `GET /deployments/{name}{suffix}`.
    pub fn get(&self, name: &str, suffix: &str) -> anyhow::Result<serde_json::Value> {
        self.answer(
            self.http
                .get(format!("{}/deployments/{name}{suffix}", self.base))
                .bearer_auth(&self.token)
                .send(),
        )
    }
}
