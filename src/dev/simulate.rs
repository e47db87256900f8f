//! `kakao-webhooks simulate …`: drives a running server the way Kakao does,
//! prints the request, the answer and a verdict, and fails (exit 1) when the
//! answer is not what Kakao expects. Keys and tokens come from the same
//! settings as `serve`, else the dev values `serve --dev` uses; SETs are
//! signed with the dev key, so `simulate event` needs a dev server.

use std::{collections::BTreeMap, time::Duration};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use url::Url;

use super::callback_receiver::CallbackReceiver;
use crate::{
    config::Settings,
    dev::{self, DevCredentials, DevKey},
    skill::SkillResponse,
};

#[derive(Debug, Subcommand)]
pub enum Simulation {
    /// A skill request like OpenBuilder's "send to skill server" test.
    Skill {
        /// What the user typed.
        #[arg(long)]
        utterance: String,
        /// The block name the request says matched.
        #[arg(long, default_value = "폴백 블록")]
        block: String,
        /// Serve a local callbackUrl and wait for the final POST.
        #[arg(long)]
        callback: bool,
    },
    /// Kakao Login's unlink callback.
    Unlink {
        /// The Kakao user id (회원번호) that unlinked.
        #[arg(long)]
        user: String,
        /// How Kakao sends it: query string (get) or form (post).
        #[arg(long, value_enum, default_value = "get")]
        method: Method,
        /// Why: UNLINK_FROM_APPS, UNLINK_FROM_ADMIN, …
        #[arg(long, default_value = "UNLINK_FROM_APPS")]
        referrer_type: String,
    },
    /// Kakao Talk Channel add/block.
    Channel {
        /// The Kakao user id (app_user_id) whose relation changed.
        #[arg(long)]
        user: String,
        /// What the user did.
        #[arg(long, value_enum)]
        event: ChannelEvent,
    },
    /// Kakao Talk Share delivery.
    Share {
        /// CHAT_TYPE: MemoChat, DirectChat, MultiChat, …
        #[arg(long, default_value = "MemoChat")]
        chat_type: String,
        /// HASH_CHAT_ID: the chat the message was shared into.
        #[arg(long, default_value = "simulated-chat")]
        hash_chat_id: String,
        /// TEMPLATE_ID, for a message built from a template.
        #[arg(long)]
        template_id: Option<String>,
        /// serverCallbackArgs, as key=value (repeatable).
        #[arg(long = "arg", value_parser = key_value)]
        args: Vec<(String, String)>,
    },
    /// A KakaoTalk Bot API chatroom event, posted to /kakao/bot; waits for
    /// the bot's reply at the dev server's local platform.
    Bot(super::simulate_bot::BotSimulation),
    /// An account status change SET (user-linked, account-disabled, …),
    /// signed with the dev key and printed decoded.
    Event {
        /// The event type's short name.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(EVENT_TYPES.iter().map(|(name, _)| *name)))]
        event_type: String,
        /// The Kakao user id the event is about.
        #[arg(long)]
        user: String,
        /// Event fields as key=value (reason=hijacking, scope="email birthday",
        /// new-value=…, current_level=nist-aal2; email=… or phone_number=…
        /// for identifier events).
        #[arg(long = "param", value_parser = key_value)]
        params: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Method {
    /// Parameters in the query string.
    Get,
    /// Parameters as a form body.
    Post,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChannelEvent {
    /// The user added the channel.
    Added,
    /// The user blocked the channel.
    Blocked,
}

/// `--server`: a URL with a host, or `host:port`, taken as `http://host:port`.
pub fn server_url(text: &str) -> Result<Url, String> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let url = Url::parse(&with_scheme).map_err(|err| format!("{text:?} is not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{text:?} must be an http(s) URL with a host, or host:port"
        ));
    }
    Ok(url)
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not key=value"))
}

/// Every event type Kakao sends, by short name, with its category base.
const EVENT_TYPES: &[(&str, &str)] = &[
    ("tokens-revoked", "oauth"),
    ("user-linked", "oauth"),
    ("user-unlinked", "oauth"),
    ("user-scope-consent", "oauth"),
    ("user-scope-withdraw", "oauth"),
    ("account-credential-change-required", "risc"),
    ("account-disabled", "risc"),
    ("account-enabled", "risc"),
    ("account-purged", "risc"),
    ("credential-compromise", "risc"),
    ("identifier-changed", "risc"),
    ("identifier-recycled", "risc"),
    ("sessions-revoked", "risc"),
    ("assurance-level-change", "caep"),
    ("credential-change", "caep"),
    ("user-profile-changed", "kakao"),
];

pub struct Simulator {
    server: Url,
    pub(super) settings: Settings,
    pub(super) client: reqwest::Client,
}

impl Simulator {
    pub fn new(server: Url, settings: Settings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            server,
            settings,
            client,
        })
    }

    pub(super) fn url(&self, path: &str) -> Url {
        // `server_url` and BIND_ADDR give http(s) URLs with hosts, which
        // every path joins; the base itself is the last resort.
        self.server
            .join(path)
            .unwrap_or_else(|_| self.server.clone())
    }

    /// The configured admin key, or the dev server's.
    fn admin_key(&self) -> anyhow::Result<String> {
        match &self.settings.kakao_admin_key {
            Some(key) => Ok(key.expose_secret().to_owned()),
            None => Ok(DevCredentials::load(&self.settings.dev_dir)?.admin_key),
        }
    }

    /// Runs one simulation; `Ok(true)` when Kakao would be satisfied.
    pub async fn run(&self, simulation: Simulation) -> anyhow::Result<bool> {
        match simulation {
            Simulation::Skill {
                utterance,
                block,
                callback,
            } => self.skill(&utterance, &block, callback).await,
            Simulation::Unlink {
                user,
                method,
                referrer_type,
            } => {
                let app_id = self
                    .settings
                    .kakao_app_id
                    .clone()
                    .unwrap_or_else(|| dev::DEV_APP_ID.into());
                let fields = [
                    ("app_id", app_id.as_str()),
                    ("user_id", &user),
                    ("referrer_type", &referrer_type),
                ];
                let request = match method {
                    Method::Get => self.client.get(self.url("/kakao/unlink")).query(&fields),
                    Method::Post => self.client.post(self.url("/kakao/unlink")).form(&fields),
                };
                self.admin_webhook(request, &format!("{fields:?}")).await
            }
            Simulation::Channel { user, event } => {
                let relation = match event {
                    ChannelEvent::Added => "added",
                    ChannelEvent::Blocked => "blocked",
                };
                let now = time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                let body = json!({
                    "event": relation, "id": user, "id_type": "app_user_id",
                    "channel_public_id": "_simulated", "channel_uuid": "@simulated",
                    "updated_at": now,
                });
                let request = self.client.post(self.url("/kakao/channel")).json(&body);
                self.admin_webhook(
                    request.header("x-kakao-resource-id", resource_id()),
                    &body.to_string(),
                )
                .await
            }
            Simulation::Share {
                chat_type,
                hash_chat_id,
                template_id,
                args,
            } => {
                let mut params: BTreeMap<String, String> = args.into_iter().collect();
                params.insert("CHAT_TYPE".into(), chat_type);
                params.insert("HASH_CHAT_ID".into(), hash_chat_id);
                if let Some(id) = template_id {
                    params.insert("TEMPLATE_ID".into(), id);
                }
                let request = self.client.get(self.url("/kakao/share")).query(&params);
                self.admin_webhook(
                    request.header("x-kakao-resource-id", resource_id()),
                    &format!("{params:?}"),
                )
                .await
            }
            Simulation::Event {
                event_type,
                user,
                params,
            } => self.event(&event_type, &user, params).await,
            Simulation::Bot(bot) => self.bot(bot).await,
        }
    }

    /// The issuer the dev server trusts, from its own discovery document.
    async fn dev_issuer(&self) -> anyhow::Result<String> {
        let url = self.url("/dev/.well-known/sse-configuration");
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .context("the server did not answer")?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url} answered {}: simulate event needs a server started with `serve --dev`",
            response.status()
        );
        let config: Value = response
            .json()
            .await
            .context("sse-configuration is not JSON")?;
        config["issuer"]
            .as_str()
            .map(str::to_owned)
            .context("sse-configuration has no issuer")
    }

    async fn admin_webhook(
        &self,
        request: reqwest::RequestBuilder,
        shown: &str,
    ) -> anyhow::Result<bool> {
        let request = request
            .header("authorization", format!("KakaoAK {}", self.admin_key()?))
            .header("user-agent", "KakaoOpenAPI/1.0")
            .build()?;
        println!(
            "→ {} {}\n  Authorization: KakaoAK ***\n  {shown}",
            request.method(),
            request.url()
        );
        let response = self
            .client
            .execute(request)
            .await
            .context("the server did not answer")?;
        let status = response.status();
        println!(
            "← {status}\n  {}",
            response.text().await.unwrap_or_default()
        );
        Ok(verdict(
            status.is_success(),
            &format!("Kakao wants a 2xx within 3 s; got {status}"),
        ))
    }

    async fn skill(&self, utterance: &str, block: &str, callback: bool) -> anyhow::Result<bool> {
        let receiver = if callback {
            Some(CallbackReceiver::start().await?)
        } else {
            None
        };
        let mut payload = json!({
            "intent": {"id": "simulated-block", "name": block},
            "userRequest": {
                "timezone": "Asia/Seoul", "params": {"surface": "Kakaotalk.plusfriend"},
                "block": {"id": "simulated-block", "name": block},
                "utterance": utterance, "lang": "ko",
                "user": {"id": "simulated-bot-user-key", "type": "botUserKey",
                         "properties": {"plusfriendUserKey": "simulated", "isFriend": true}},
            },
            "bot": {"id": "simulated-bot", "name": "simulate"},
            "action": {"id": "simulated-skill", "name": "simulate", "params": {}, "detailParams": {}, "clientExtra": {}},
            "contexts": [],
        });
        if let Some(receiver) = &receiver {
            payload["userRequest"]["callbackUrl"] = json!(receiver.url);
        }
        println!("→ POST {}\n{}", self.url("/kakao/skill"), pretty(&payload));
        let mut request = self.client.post(self.url("/kakao/skill")).json(&payload);
        if let Some(secret) = &self.settings.skill_secret {
            request = request.header(&self.settings.skill_secret_header, secret.expose_secret());
        }
        let response = request.send().await.context("the server did not answer")?;
        let status = response.status();
        let fallback = response
            .headers()
            .get(crate::skill::FALLBACK_HEADER)
            .map(|why| String::from_utf8_lossy(why.as_bytes()).into_owned());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        println!("← {status}\n{}", pretty(&body));
        if !status.is_success() {
            return Ok(verdict(
                false,
                &format!("OpenBuilder wants 200; got {status}"),
            ));
        }
        let fallback_text = json!(self.settings.skill_fallback_text);
        let is_fallback_text =
            body["template"]["outputs"][0]["simpleText"]["text"] == fallback_text;
        if fallback.is_some() || is_fallback_text {
            let why = fallback.unwrap_or_else(|| "the answer is SKILL_FALLBACK_TEXT".to_owned());
            return Ok(verdict(
                false,
                &format!("the user got the fallback text, not the bot's answer: {why}"),
            ));
        }
        let Some(answer) = check_skill_response(&body) else {
            return Ok(false);
        };
        match (answer.use_callback, receiver) {
            (true, Some(receiver)) => {
                println!("… waiting up to 60 s for the callback POST");
                let posted = receiver.wait(Duration::from_secs(60)).await?;
                println!("← callback POST\n{}", pretty(&posted));
                Ok(check_skill_response(&posted).is_some())
            }
            (true, None) => Ok(verdict(false, "useCallback without a callbackUrl")),
            (false, _) => Ok(true),
        }
    }

    async fn event(
        &self,
        event_type: &str,
        user: &str,
        params: Vec<(String, String)>,
    ) -> anyhow::Result<bool> {
        let Some((_, category)) = EVENT_TYPES.iter().find(|(name, _)| *name == event_type) else {
            let known: Vec<_> = EVENT_TYPES.iter().map(|(name, _)| *name).collect();
            anyhow::bail!(
                "unknown event type {event_type:?}; one of: {}",
                known.join(", ")
            );
        };
        let uri = match *category {
            "kakao" => format!("https://schemas.kakao.com/platevent/kakao/event-type/{event_type}"),
            other => format!("https://schemas.openid.net/secevent/{other}/event-type/{event_type}"),
        };
        let issuer = self.dev_issuer().await?;
        let mut fields: serde_json::Map<String, Value> = params
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let subject = match (fields.remove("email"), fields.remove("phone_number")) {
            (Some(email), _) => json!({"subject_type": "email", "email": email}),
            (None, Some(phone)) => json!({"subject_type": "phone", "phone_number": phone}),
            (None, None) => json!({"sub": user, "subject_type": "iss-sub", "iss": issuer}),
        };
        fields.insert("subject".into(), subject);
        let audience = match &self.settings.kakao_rest_api_key {
            Some(key) => key.expose_secret().to_owned(),
            None => DevCredentials::load(&self.settings.dev_dir)?.rest_api_key,
        };
        let claims = json!({
            "iss": issuer, "aud": audience, "sub": user,
            "txm": resource_id(), "iat": time::OffsetDateTime::now_utc().unix_timestamp(),
            "jti": resource_id(), "events": {uri: fields},
        });
        let key = DevKey::load(&self.settings.dev_dir)?;
        let token = key.sign_set(&claims)?;
        println!(
            "→ POST {} (Content-Type: application/secevent+jwt)\n  header  {}\n  payload {}",
            self.url("/kakao/events"),
            json!({"kid": dev::DEV_KID, "typ": "secevent+jwt", "alg": "RS256"}),
            pretty(&claims)
        );
        let response = self
            .client
            .post(self.url("/kakao/events"))
            .header("content-type", "application/secevent+jwt")
            .header("accept", "application/json")
            .body(token)
            .send()
            .await
            .context("the server did not answer")?;
        let status = response.status();
        println!(
            "← {status}\n  {}",
            response.text().await.unwrap_or_default()
        );
        Ok(verdict(
            status == reqwest::StatusCode::ACCEPTED,
            &format!("Kakao wants 202; got {status}"),
        ))
    }
}

/// Prints the verdict on a skill answer; the parsed answer when it is valid.
fn check_skill_response(body: &Value) -> Option<SkillResponse> {
    let response: SkillResponse = match serde_json::from_value(body.clone()) {
        Ok(response) => response,
        Err(err) => {
            verdict(false, &format!("not a SkillResponse: {err}"));
            return None;
        }
    };
    match response.validate() {
        Ok(()) => {
            verdict(true, "");
            Some(response)
        }
        Err(violations) => {
            verdict(false, &violations.to_string());
            None
        }
    }
}

pub(super) fn verdict(ok: bool, why_not: &str) -> bool {
    if ok {
        println!("✔ Kakao would accept this answer");
    } else {
        println!("✘ {why_not}");
    }
    ok
}

pub(super) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

pub(super) fn resource_id() -> String {
    let mut bytes = [0u8; 12];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
