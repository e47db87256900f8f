//! The local Kakao, beside the service and never part of it without
//! `--dev`: `serve --dev` (this module) and its client, [`simulate`]. They
//! share a dev folder holding a generated RSA key. The dev server serves that
//! key's JWKS and `sse-configuration` under `/dev` and trusts it as Kakao's;
//! `simulate` signs SETs with it.

pub mod bot_platform;
mod callback_receiver;
mod credentials;
mod gateway;
pub mod simulate;
mod simulate_bot;

use std::{net::SocketAddr, path::Path, sync::Arc};

use anyhow::Context;
use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    rsa::{KeyPair, KeySize},
    signature::{KeyPair as _, RSA_PKCS1_SHA256},
};
use axum::{
    Json,
    extract::{Path as UrlPath, State},
    response::IntoResponse,
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::{
    config::{HostPattern, Settings},
    http::routes::Routes,
    storage::Storage,
};

pub use credentials::DevCredentials;

/// The app id `serve --dev` fills in when unset; its secrets are generated
/// per dev folder ([`DevCredentials`]).
pub const DEV_APP_ID: &str = "100000";
pub const DEV_KID: &str = "dev-key";
const KEY_FILE: &str = "dev-signing-key.pk8";

/// The dev signing key, created once in the dev folder.
pub struct DevKey {
    pair: KeyPair,
}

impl DevKey {
    /// Loads the key from `folder`, creating it (and the folder) the first time.
    pub fn load_or_create(folder: &Path) -> anyhow::Result<Self> {
        let path = folder.join(KEY_FILE);
        if path.exists() {
            let der =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let pair = KeyPair::from_pkcs8(&der).map_err(|err| {
                anyhow::anyhow!("{} is not a PKCS#8 RSA key: {err}", path.display())
            })?;
            return Ok(Self { pair });
        }
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create the dev folder {}", folder.display()))?;
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| anyhow::anyhow!("cannot generate an RSA key"))?;
        let der = pair
            .as_der()
            .map_err(|_| anyhow::anyhow!("cannot encode the dev key"))?;
        write_private(&path, der.as_ref())?;
        Ok(Self { pair })
    }

    /// Loads an existing key (for `simulate`); says how to make one if absent.
    pub fn load(folder: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(
            folder.join(KEY_FILE).exists(),
            "no dev key in {}: start `kakao-webhooks serve --dev` first (or set DEV_DIR)",
            folder.display()
        );
        Self::load_or_create(folder)
    }

    /// The public key as a JWK Set.
    pub fn jwks(&self) -> Value {
        let public = self.pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        json!({"keys": [{"kty": "RSA", "kid": DEV_KID, "use": "sig", "alg": "RS256", "n": n, "e": e}]})
    }

    /// A compact RS256 JWT with Kakao's SET header.
    pub fn sign_set(&self, claims: &Value) -> anyhow::Result<String> {
        let header = json!({"kid": DEV_KID, "typ": "secevent+jwt", "alg": "RS256"});
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message.as_bytes(),
                &mut signature,
            )
            .map_err(|_| anyhow::anyhow!("cannot sign with the dev key"))?;
        Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot create {}", path.display()))
}

/// The issuer a dev server at `addr` signs as: its own `/dev`.
pub fn dev_issuer(addr: SocketAddr) -> String {
    format!("http://{addr}/dev")
}

/// Turns `settings` into dev settings: unset Kakao values get the dev
/// folder's generated credentials, the
/// issuer and key set are this server's `/dev`, and loopback callbacks are
/// allowed. Refuses a non-loopback address unless `allow_remote`.
pub fn apply(settings: &mut Settings, allow_remote: bool) -> anyhow::Result<Vec<String>> {
    let addr = settings.bind_addr;
    anyhow::ensure!(
        allow_remote || addr.ip().is_loopback(),
        "--dev listens on loopback only (BIND_ADDR is {addr}); add --dev-allow-remote to force it"
    );
    let credentials = &DevCredentials::load_or_create(&settings.dev_dir)?;
    let mut filled = Vec::new();
    let mut fill = |slot: &mut Option<secrecy::SecretString>, name: &str, value: &str| {
        if slot.is_none() {
            *slot = Some(value.into());
            filled.push(format!("{name}={value}"));
        }
    };
    fill(
        &mut settings.kakao_rest_api_key,
        "KAKAO_REST_API_KEY",
        &credentials.rest_api_key,
    );
    fill(
        &mut settings.kakao_admin_key,
        "KAKAO_ADMIN_KEY",
        &credentials.admin_key,
    );
    fill(
        &mut settings.internal_api_token,
        "INTERNAL_API_TOKEN",
        &credentials.api_token,
    );
    fill(
        &mut settings.kakao_bot_token,
        "KAKAO_BOT_TOKEN",
        &credentials.bot_token,
    );
    if settings.kakao_app_id.is_none() {
        settings.kakao_app_id = Some(DEV_APP_ID.into());
        filled.push(format!("KAKAO_APP_ID={DEV_APP_ID}"));
    }
    let issuer = dev_issuer(addr);
    settings.kakao_issuer = issuer.parse().context("dev issuer")?;
    settings.kakao_jwks_url = Some(
        format!("{issuer}/jwks.json")
            .parse()
            .context("dev JWKS URL")?,
    );
    filled.push(format!("KAKAO_ISSUER={issuer}"));
    // The Bot API's REST calls go to the local platform, unless pointed elsewhere.
    if settings.kakao_api_base_url.as_str().trim_end_matches('/') == "https://kapi.kakao.com" {
        let base = format!("http://{addr}{}", bot_platform::PREFIX);
        settings.kakao_api_base_url = base.parse().context("dev Bot API URL")?;
        filled.push(format!("KAKAO_API_BASE_URL={base}"));
    }
    // Kakao's list of addresses is the local stand-in's (loopback): fetched
    // at start it would be asked of this very server before it serves.
    if settings.kakao_source_ips == crate::config::SourceIps::Auto
        && settings
            .kakao_api_base_url
            .as_str()
            .starts_with(&format!("http://{addr}"))
    {
        settings.kakao_source_ips = crate::config::SourceIps::Listed(
            DEV_SOURCE_IPS
                .iter()
                .map(|net| net.parse().expect("static network"))
                .collect(),
        );
        filled.push(format!("KAKAO_SOURCE_IPS={}", DEV_SOURCE_IPS.join(",")));
    }
    // The gateway is the local one, unless pointed elsewhere.
    if settings.kakao_bot_gateway
        && settings.kakao_bot_gateway_url.as_str() == "wss://bot-gateway.kakao.com/gateway"
    {
        let url = format!("ws://{addr}{}", gateway::PATH);
        settings.kakao_bot_gateway_url = url.parse().context("dev gateway URL")?;
        filled.push(format!("KAKAO_BOT_GATEWAY_URL={url}"));
    }
    for host in ["127.0.0.1", "localhost"] {
        settings
            .skill_callback_hosts
            .push(HostPattern::parse(host).expect("static host"));
    }
    settings.skill_callback_allow_http = true;
    Ok(filled)
}

/// The stand-in for Kakao's published callback addresses: this machine.
const DEV_SOURCE_IPS: [&str; 2] = ["127.0.0.0/8", "::1/128"];

/// `/dev/.well-known/sse-configuration` and `/dev/jwks.json`, like Kakao's,
/// and the local Bot API platform and gateway under `/dev/bot` (the gateway
/// accepting `bot_token`), with a stand-in for Kakao's list of addresses
/// (`/dev/bot/v1/system/ips`, what `KAKAO_SOURCE_IPS=auto` fetches).
pub fn router(key: Arc<DevKey>, addr: SocketAddr, bot_token: &str, storage: Storage) -> Routes {
    #[derive(Clone)]
    struct Dev {
        key: Arc<DevKey>,
        issuer: String,
    }
    let dev = Dev {
        key,
        issuer: dev_issuer(addr),
    };
    Routes::new()
        .route(
            "/dev/.well-known/sse-configuration",
            get(|State(dev): State<Dev>| async move {
                Json(json!({
                    "issuer": dev.issuer,
                    "jwks_uri": format!("{}/jwks.json", dev.issuer),
                    "delivery_methods_supported": "http://schemas.openid.net/secevent/risc/delivery-method/push",
                }))
            }),
        )
        .route(
            "/dev/jwks.json",
            get(|State(dev): State<Dev>| async move { Json(dev.key.jwks()) }),
        )
        .with_state(dev)
        .route(
            "/dev/bot/replies/{message_id}",
            get(
                |State(storage): State<Storage>, UrlPath(id): UrlPath<String>| async move {
                    match storage.bot_reply_status(&id).await {
                        Ok(status) => Json(json!({"status": status})).into_response(),
                        Err(err) => crate::http::error::ApiError::storage(&err).into_response(),
                    }
                },
            ),
        )
        .with_state(storage)
        .route(
            &format!("{}/v1/system/ips", bot_platform::PREFIX),
            get(|| async {
                Json(json!({
                    "inbound": [{"type": "callback", "ips": DEV_SOURCE_IPS}],
                    "outbound": [{"domain": "kapi.kakao.com", "ips": ["127.0.0.1/32"]}],
                }))
            }),
        )
        .merge(bot_platform::BotPlatform::new().router())
        .merge(gateway::router(bot_token))
}

/// The loud notice `serve --dev` prints.
pub fn banner(addr: SocketAddr, folder: &Path, filled: &[String]) -> String {
    let line = "=".repeat(72);
    let mut text = format!(
        "{line}\n  DEV MODE: a local Kakao is built in. Never expose this server.\n  Dev key: {}\n  Dev credentials: {}\n  Serving on http://{addr}\n",
        folder.join(KEY_FILE).display(),
        DevCredentials::path(folder).display()
    );
    for value in filled {
        text.push_str(&format!("  {value}\n"));
    }
    text.push_str("  Try: kakao-webhooks simulate event user-linked --user 1234\n");
    text.push_str("       kakao-webhooks simulate bot --text 안녕\n");
    text.push_str(&line);
    text
}
