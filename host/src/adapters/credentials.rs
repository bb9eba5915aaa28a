//! A venue's or feed's key and secret: read at start from the file or the
//! environment variable the configuration names, never written anywhere,
//! and never printed (`Debug` shows the key's first four characters only).

use std::path::{Path, PathBuf};

/// A key and its secret.
#[derive(Clone)]
pub struct Credentials {
    /// Key id.
    pub key: String,
    /// Secret.
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials({}…, <secret>)",
            self.key.chars().take(4).collect::<String>()
        )
    }
}

impl Credentials {
    /// Each of the key and the secret from its file (first line) or else
    /// its variable; an error names the `section` (`venues.main`) and which
    /// is missing or empty.
    pub fn read(
        section: &str,
        key_file: Option<&Path>,
        key_env: &str,
        secret_file: Option<&Path>,
        secret_env: &str,
    ) -> anyhow::Result<Credentials> {
        Ok(Credentials {
            key: secret(key_file, key_env, &format!("{section} key"))?,
            secret: secret(secret_file, secret_env, &format!("{section} secret"))?,
        })
    }
}

/// Just the key id, from its file (first line) or else its variable (the
/// signing key is read elsewhere: an Ed25519 private key file).
pub fn key_only(section: &str, key_file: Option<&Path>, key_env: &str) -> anyhow::Result<String> {
    secret(key_file, key_env, &format!("{section} key"))
}

/// A secret from a file (first line) or else an environment variable.
fn secret(file: Option<&Path>, env: &str, what: &str) -> anyhow::Result<String> {
    let value = match file {
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("{what}: {}: {e}", f.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        None => std::env::var(env)
            .map_err(|_| anyhow::anyhow!("{what}: environment variable {env} is not set"))?,
    };
    if value.is_empty() {
        anyhow::bail!("{what} is empty");
    }
    Ok(value)
}

/// Make a relative credential file relative to the config file's folder.
pub fn resolve(file: &mut Option<PathBuf>, base: &Path) {
    if let Some(p) = file
        && p.is_relative()
    {
        *p = base.join(&*p);
    }
}
