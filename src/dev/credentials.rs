//! The secrets `serve --dev` fills in, generated once per dev folder so that
//! nobody can guess them (a dev server bound to a shared machine's loopback is
//! still reachable by its other users), and read back by `simulate`.

use std::path::Path;

use anyhow::Context;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

const CREDENTIALS_FILE: &str = "dev-credentials.json";

/// Kakao's keys and our own tokens, as the dev server uses them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevCredentials {
    pub rest_api_key: String,
    pub admin_key: String,
    pub api_token: String,
    pub bot_token: String,
}

impl DevCredentials {
    /// Loads the credentials from `folder`, generating them the first time.
    pub fn load_or_create(folder: &Path) -> anyhow::Result<Self> {
        let path = folder.join(CREDENTIALS_FILE);
        if path.exists() {
            return Self::read(&path);
        }
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create the dev folder {}", folder.display()))?;
        let credentials = Self {
            rest_api_key: generated("dev-rest")?,
            admin_key: generated("dev-admin")?,
            api_token: generated("dev-api")?,
            bot_token: generated("dev-bot")?,
        };
        let text = serde_json::to_vec_pretty(&credentials)?;
        super::write_private(&path, &text)?;
        Ok(credentials)
    }

    /// Loads existing credentials (for `simulate`); says how to make them.
    pub fn load(folder: &Path) -> anyhow::Result<Self> {
        let path = folder.join(CREDENTIALS_FILE);
        anyhow::ensure!(
            path.exists(),
            "no dev credentials in {}: start `kakao-webhooks serve --dev` first (or set DEV_DIR)",
            folder.display()
        );
        Self::read(&path)
    }

    /// Where the credentials of `folder` are kept.
    pub fn path(folder: &Path) -> std::path::PathBuf {
        folder.join(CREDENTIALS_FILE)
    }

    fn read(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a dev credentials file", path.display()))
    }
}

/// `prefix-` and 24 random bytes: readable in a log, not guessable.
fn generated(prefix: &str) -> anyhow::Result<String> {
    let mut bytes = [0u8; 24];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("cannot draw random bytes"))?;
    Ok(format!("{prefix}-{}", URL_SAFE_NO_PAD.encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_random_per_folder_and_stable_within_one() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = DevCredentials::load_or_create(a.path()).unwrap();
        let other = DevCredentials::load_or_create(b.path()).unwrap();
        assert_ne!(first.admin_key, other.admin_key);
        assert_ne!(first.api_token, other.api_token);
        assert_ne!(first.admin_key, first.api_token);
        assert_eq!(DevCredentials::load(a.path()).unwrap(), first);
        assert!(first.admin_key.len() > 30, "{}", first.admin_key);
    }

    #[cfg(unix)]
    #[test]
    fn the_credentials_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        DevCredentials::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(DevCredentials::path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }

    #[test]
    fn simulate_without_a_dev_server_says_how_to_start_one() {
        let dir = tempfile::tempdir().unwrap();
        let err = DevCredentials::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("serve --dev"), "{err}");
    }
}
