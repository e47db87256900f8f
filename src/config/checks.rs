//! What no single value shows: settings that contradict each other, a
//! family half configured, a limit Kakao's deadlines impose. Each check
//! names the one setting to change, so start-up stops with one line.

use std::time::Duration;

use super::{ConfigError, Settings, validate_commands};

impl Settings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        // OpenBuilder gives up after 5 s, network included.
        if self.skill_sync_budget_ms >= Duration::from_millis(4800) {
            return Err(ConfigError::new(
                "skill_sync_budget_ms",
                "must be under 4800 ms: OpenBuilder waits 5 s including network time",
            ));
        }
        // A callback URL is valid for one minute from the request.
        if self.skill_callback_deadline_ms > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "skill_callback_deadline_ms",
                "must be at most 60000 ms: Kakao's callback URL expires after one minute",
            ));
        }
        // Kakao waits 3 s for the account status change webhook.
        if self.kakao_jwks_timeout_ms > Duration::from_millis(2000) {
            return Err(ConfigError::new(
                "kakao_jwks_timeout_ms",
                "must be at most 2000 ms: a webhook must still be answered within 3 s",
            ));
        }
        if self.kakao_profile_refresh && self.kakao_admin_key.is_none() {
            return Err(ConfigError::new(
                "kakao_profile_refresh",
                "needs KAKAO_ADMIN_KEY: the user API is called with the admin key",
            ));
        }
        // The callback token dies 5 minutes after the event; the reply needs time too.
        if self.kakao_bot_handler_deadline_ms > Duration::from_secs(280) {
            return Err(ConfigError::new(
                "kakao_bot_handler_deadline_ms",
                "must be at most 280000 ms: the callback token expires 5 minutes after the event",
            ));
        }
        validate_commands(&self.kakao_bot_commands)
            .map_err(|reason| ConfigError::new("kakao_bot_commands", reason))?;
        if !(self.event_retention_days..=3650).contains(&self.event_row_retention_days) {
            return Err(ConfigError::new(
                "event_row_retention_days",
                "must be from EVENT_RETENTION_DAYS to 3650 days: a row outlives its payload",
            ));
        }
        if !(1..=3650).contains(&self.event_retention_days) {
            return Err(ConfigError::new(
                "event_retention_days",
                "must be 1 to 3650 days",
            ));
        }
        // A proxy list covering every address would believe anyone's
        // X-Forwarded-For: no per-address limit, no source check.
        if let Some(everyone) = self
            .trusted_proxies
            .iter()
            .find(|net| net.prefix_len() == 0)
        {
            return Err(ConfigError::new(
                "trusted_proxies",
                format!(
                    "{everyone} trusts every address's X-Forwarded-For; list the proxies themselves"
                ),
            ));
        }
        if self.skill_max_in_flight == 0 {
            return Err(ConfigError::new(
                "skill_max_in_flight",
                "must be at least 1",
            ));
        }
        if self.auth_failures_per_minute == 0 {
            return Err(ConfigError::new(
                "auth_failures_per_minute",
                "must be at least 1",
            ));
        }
        if self.max_requests_in_flight == 0 {
            return Err(ConfigError::new(
                "max_requests_in_flight",
                "must be at least 1",
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::new("max_connections", "must be at least 1"));
        }
        if self.header_read_timeout_ms < Duration::from_millis(100) {
            return Err(ConfigError::new(
                "header_read_timeout_ms",
                "must be at least 100 ms",
            ));
        }
        if self
            .internal_bind_addr
            .is_some_and(|internal| internal == self.bind_addr && internal.port() != 0)
        {
            return Err(ConfigError::new(
                "internal_bind_addr",
                "must differ from BIND_ADDR: the point is a listener the public cannot reach",
            ));
        }
        self.validate_previous_secrets()?;
        self.validate_app_link()?;
        self.validate_alerts()?;

        if self.request_body_limit_bytes < 1024 {
            return Err(ConfigError::new(
                "request_body_limit_bytes",
                "must be at least 1024",
            ));
        }
        Ok(())
    }

    /// A previous secret only makes sense beside a current one: alone, it
    /// would be the only one accepted, or (for the skill and bot secrets)
    /// ignored while the endpoint stays open.
    fn validate_previous_secrets(&self) -> Result<(), ConfigError> {
        let pairs = [
            (
                "kakao_admin_key_previous",
                &self.kakao_admin_key,
                &self.kakao_admin_key_previous,
            ),
            (
                "internal_api_token_previous",
                &self.internal_api_token,
                &self.internal_api_token_previous,
            ),
            (
                "skill_secret_previous",
                &self.skill_secret,
                &self.skill_secret_previous,
            ),
            (
                "kakao_bot_webhook_secret_previous",
                &self.kakao_bot_webhook_secret,
                &self.kakao_bot_webhook_secret_previous,
            ),
        ];
        for (name, current, previous) in pairs {
            if current.is_none() && previous.is_some() {
                return Err(ConfigError::new(
                    name,
                    "is set without the current value it is the previous of",
                ));
            }
        }
        Ok(())
    }

    /// Everything sent to the app is signed: no URL without the secret.
    fn validate_app_link(&self) -> Result<(), ConfigError> {
        let urls = [
            ("APP_NOTIFY_URL", &self.app_notify_url),
            ("SKILL_UPSTREAM_URL", &self.skill_upstream_url),
            ("KAKAO_BOT_UPSTREAM_URL", &self.kakao_bot_upstream_url),
        ];
        if self.app_signing_secret.is_none()
            && let Some((name, _)) = urls.iter().find(|(_, url)| url.is_some())
        {
            return Err(ConfigError::new(
                "app_signing_secret",
                format!("is required when {name} is set: everything sent to the app is signed"),
            ));
        }
        if self.app_notify_timeout_ms > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "app_notify_timeout_ms",
                "must be at most 60000 ms",
            ));
        }
        Ok(())
    }

    /// A family with nothing set answers that it is not configured; one with
    /// some of what it needs set is a mistake that would only show when
    /// Kakao calls, so start-up refuses it. Checked when the server is built,
    /// not when settings load: `serve --dev` fills keys in between.
    pub fn check_families(&self) -> Result<(), ConfigError> {
        let admin_key = self.kakao_admin_key.is_some();
        let app_id = self.kakao_app_id.is_some();
        let bot_token = self.kakao_bot_token.is_some();
        // (what is set, what it needs, whether that is set, why)
        let needs: [(&str, &str, bool, &str); 8] = [
            (
                "kakao_admin_key",
                "KAKAO_APP_ID",
                !admin_key || app_id,
                "the unlink webhook names the app it is for, and only ours is accepted",
            ),
            (
                "kakao_app_id",
                "KAKAO_ADMIN_KEY",
                !app_id || admin_key,
                "Kakao signs its webhooks with the app's admin key",
            ),
            (
                "kakao_bot_gateway",
                "KAKAO_BOT_TOKEN",
                !self.kakao_bot_gateway || bot_token,
                "the gateway is opened with the bot auth token",
            ),
            (
                "kakao_bot_webhook_secret",
                "KAKAO_BOT_TOKEN",
                self.kakao_bot_webhook_secret.is_none() || bot_token,
                "without it /kakao/bot answers 503 whatever the header says",
            ),
            (
                "kakao_bot_upstream_url",
                "KAKAO_BOT_TOKEN",
                self.kakao_bot_upstream_url.is_none() || bot_token,
                "the app's replies are sent through the Bot API with the token",
            ),
            (
                "kakao_bot_commands",
                "KAKAO_BOT_TOKEN",
                self.kakao_bot_commands.is_empty() || bot_token,
                "the command menu is replaced through the Bot API with the token",
            ),
            (
                "kakao_jwks_url",
                "KAKAO_REST_API_KEY",
                self.kakao_jwks_url.is_none() || self.kakao_rest_api_key.is_some(),
                "account status change tokens are checked against it as their aud",
            ),
            (
                "kakao_source_ips",
                "KAKAO_ADMIN_KEY or KAKAO_REST_API_KEY",
                self.kakao_source_ips != super::SourceIps::Auto
                    || admin_key
                    || self.kakao_rest_api_key.is_some(),
                "\"auto\" fetches Kakao's list with one of the app's keys",
            ),
        ];
        for (setting, needed, satisfied, why) in needs {
            if !satisfied {
                return Err(ConfigError::new(
                    setting,
                    format!("is set without {needed}: {why}; set {needed} too, or unset this"),
                ));
            }
        }
        Ok(())
    }

    /// HTTPS: one source of certificates, each half of a pair, and what a
    /// challenge needs.
    pub(super) fn validate_tls(&self) -> Result<(), ConfigError> {
        let acme = !self.tls_domains.is_empty();
        if acme && self.tls_cert_file.is_some() {
            return Err(ConfigError::new(
                "tls_cert_file",
                "is set with TLS_DOMAINS: choose one, certificates from ACME (TLS_DOMAINS) or your own (TLS_CERT_FILE and TLS_KEY_FILE)",
            ));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            let (setting, needed) = if self.tls_cert_file.is_some() {
                ("tls_cert_file", "TLS_KEY_FILE")
            } else {
                ("tls_key_file", "TLS_CERT_FILE")
            };
            return Err(ConfigError::new(
                setting,
                format!("is set without {needed}: a certificate is served with its key; set both"),
            ));
        }
        for (setting, set) in [
            ("acme_email", self.acme_email.is_some()),
            ("acme_ca_file", self.acme_ca_file.is_some()),
        ] {
            if set && !acme {
                return Err(ConfigError::new(
                    setting,
                    "is set without TLS_DOMAINS: it only applies to certificates from ACME",
                ));
            }
        }
        if acme
            && self.acme_challenge == super::AcmeChallenge::Http01
            && self.http_bind_addr.is_none()
        {
            return Err(ConfigError::new(
                "acme_challenge",
                "is http-01 without HTTP_BIND_ADDR: the CA fetches the challenge over plain HTTP (port 80); set HTTP_BIND_ADDR or use tls-alpn-01",
            ));
        }
        if self.tls_enabled() && !(1..=3600).contains(&self.tls_reload_seconds) {
            return Err(ConfigError::new(
                "tls_reload_seconds",
                "must be 1 to 3600 seconds",
            ));
        }
        Ok(())
    }

    pub(super) fn validate_notify(&self) -> Result<(), ConfigError> {
        if self.app_notify_max_per_second == 0 {
            return Err(ConfigError::new(
                "app_notify_max_per_second",
                "must be at least 1 notification a second",
            ));
        }
        if self.event_stream_maxlen == 0 {
            return Err(ConfigError::new(
                "event_stream_maxlen",
                "must be at least 1: XADD MAXLEN ~ 0 would trim the stream to nothing",
            ));
        }
        if self.app_notify_pause_after_seconds == 0 {
            return Err(ConfigError::new(
                "app_notify_pause_after_seconds",
                "must be at least 1 second",
            ));
        }
        Ok(())
    }

    fn validate_alerts(&self) -> Result<(), ConfigError> {
        if !(self.alert_failure_ratio > 0.0 && self.alert_failure_ratio <= 1.0) {
            return Err(ConfigError::new(
                "alert_failure_ratio",
                "must be above 0 and at most 1 (0.1: one delivery in ten failed)",
            ));
        }
        if !(1..=86_400).contains(&self.alert_window_seconds) {
            return Err(ConfigError::new(
                "alert_window_seconds",
                "must be 1 to 86400 seconds",
            ));
        }
        if self.alert_min_deliveries == 0 {
            return Err(ConfigError::new(
                "alert_min_deliveries",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
