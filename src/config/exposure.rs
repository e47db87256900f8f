//! Closed by default, as Redis's protected mode is. On a loopback
//! `BIND_ADDR` everything works with nothing set. Reachable from outside,
//! start-up refuses until every entry point has a guard or an explicit,
//! logged opt-out: a server must not be open because a setting was
//! forgotten. Checked when the server is built (after `serve --dev` fills
//! its keys), not when settings load: `migrate`, `healthcheck` and
//! `simulate` need no guard.

use std::net::SocketAddr;

use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, Settings};

/// The shortest API token accepted where the API can be reached from outside.
pub const MIN_PUBLIC_TOKEN_CHARS: usize = 32;

fn reachable_from_outside(addr: SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

impl Settings {
    /// Refuses a layout that leaves an entry point open to the internet, and
    /// returns the warnings each explicit opt-out earns at every start.
    pub fn check_exposure(&self) -> Result<Vec<String>, ConfigError> {
        let public = reachable_from_outside(self.bind_addr);
        let addr = self.bind_addr;
        let mut warnings = Vec::new();
        let kakao_only = self.kakao_source_ips.is_on();
        if public && self.skill_secret.is_none() && !kakao_only {
            if !self.skill_allow_any_caller {
                return Err(ConfigError::new(
                    "skill_secret",
                    format!(
                        "BIND_ADDR {addr} is reachable from outside, and POST /kakao/skill would answer anyone: \
                         set SKILL_SECRET and send it from the skill's headers in OpenBuilder, \
                         or KAKAO_SOURCE_IPS to Kakao's addresses, \
                         or set SKILL_ALLOW_ANY_CALLER=true to accept that"
                    ),
                ));
            }
            warnings.push(
                "SKILL_ALLOW_ANY_CALLER=true: POST /kakao/skill answers any caller on a public BIND_ADDR; set SKILL_SECRET".to_owned(),
            );
        }
        // A bot that is not configured answers 503, and one on the gateway
        // answers 404: neither needs a guard.
        let bot_webhook = self.kakao_bot_token.is_some() && !self.kakao_bot_gateway;
        if public && bot_webhook && self.kakao_bot_webhook_secret.is_none() && !kakao_only {
            if !self.kakao_bot_allow_any_caller {
                return Err(ConfigError::new(
                    "kakao_bot_webhook_secret",
                    format!(
                        "BIND_ADDR {addr} is reachable from outside, and POST /kakao/bot would take events from anyone: \
                         set KAKAO_BOT_WEBHOOK_SECRET to the custom header registered with the webhook, \
                         or KAKAO_SOURCE_IPS to Kakao's addresses, \
                         or set KAKAO_BOT_ALLOW_ANY_CALLER=true to accept that"
                    ),
                ));
            }
            warnings.push(
                "KAKAO_BOT_ALLOW_ANY_CALLER=true: POST /kakao/bot takes events from any caller on a public BIND_ADDR; set KAKAO_BOT_WEBHOOK_SECRET".to_owned(),
            );
        }
        if public && self.internal_bind_addr.is_none() {
            if !self.internal_api_public {
                return Err(ConfigError::new(
                    "internal_bind_addr",
                    format!(
                        "BIND_ADDR {addr} is reachable from outside, and /api, /console and /metrics would be served there: \
                         set INTERNAL_BIND_ADDR (127.0.0.1:9090, or an address only your app's network reaches), \
                         or set INTERNAL_API_PUBLIC=true to serve them on BIND_ADDR"
                    ),
                ));
            }
            warnings.push(
                "INTERNAL_API_PUBLIC=true: /api, /console and /metrics are served on a public BIND_ADDR; set INTERNAL_BIND_ADDR".to_owned(),
            );
        }
        let api_outside = match self.internal_bind_addr {
            Some(internal) => reachable_from_outside(internal),
            None => public,
        };
        if api_outside {
            let tokens = [
                ("internal_api_token", &self.internal_api_token),
                (
                    "internal_api_token_previous",
                    &self.internal_api_token_previous,
                ),
            ];
            for (name, token) in tokens {
                if token.as_ref().is_some_and(too_short) {
                    return Err(ConfigError::new(
                        name,
                        format!(
                            "must be at least {MIN_PUBLIC_TOKEN_CHARS} characters: /api and /console can be reached from outside \
                             (make one with `openssl rand -hex 32`)"
                        ),
                    ));
                }
            }
        }
        Ok(warnings)
    }
}

fn too_short(token: &SecretString) -> bool {
    token.expose_secret().chars().count() < MIN_PUBLIC_TOKEN_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn exposure(vars: &[(&str, &str)]) -> Result<Vec<String>, String> {
        Settings::from_vars(None, vars.iter().copied())
            .unwrap()
            .check_exposure()
            .map_err(|err| err.to_string())
    }

    #[test]
    fn on_loopback_everything_works_with_nothing_set() {
        assert_eq!(exposure(&[]), Ok(Vec::new()));
        assert_eq!(
            exposure(&[("BIND_ADDR", "[::1]:8080"), ("INTERNAL_API_TOKEN", "short")]),
            Ok(Vec::new())
        );
    }

    #[test]
    fn a_public_skill_endpoint_needs_its_secret_or_an_opt_out() {
        let public = [
            ("BIND_ADDR", "0.0.0.0:8080"),
            ("INTERNAL_BIND_ADDR", "127.0.0.1:9090"),
        ];
        let err = exposure(&public).unwrap_err();
        assert!(
            err.contains("SKILL_SECRET") && err.contains("SKILL_ALLOW_ANY_CALLER"),
            "{err}"
        );
        let with_secret = [public.as_slice(), &[("SKILL_SECRET", "s")]].concat();
        assert_eq!(exposure(&with_secret), Ok(Vec::new()));
        let kakao_only = [
            public.as_slice(),
            &[("KAKAO_SOURCE_IPS", "198.51.100.0/24")],
        ]
        .concat();
        assert_eq!(exposure(&kakao_only), Ok(Vec::new()));
        let opted_out = [public.as_slice(), &[("SKILL_ALLOW_ANY_CALLER", "true")]].concat();
        let warnings = exposure(&opted_out).unwrap();
        assert!(
            warnings[0].contains("SKILL_ALLOW_ANY_CALLER"),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_public_bot_webhook_needs_its_secret_or_an_opt_out_but_not_on_the_gateway() {
        let public = [
            ("BIND_ADDR", "10.0.0.5:8080"),
            ("INTERNAL_BIND_ADDR", "127.0.0.1:9090"),
            ("SKILL_SECRET", "s"),
        ];
        assert_eq!(exposure(&public), Ok(Vec::new()), "no bot, no guard needed");
        let bot = [public.as_slice(), &[("KAKAO_BOT_TOKEN", "t")]].concat();
        let err = exposure(&bot).unwrap_err();
        assert!(err.contains("KAKAO_BOT_WEBHOOK_SECRET"), "{err}");
        let guarded = [bot.as_slice(), &[("KAKAO_BOT_WEBHOOK_SECRET", "h")]].concat();
        assert_eq!(exposure(&guarded), Ok(Vec::new()));
        let gateway = [bot.as_slice(), &[("KAKAO_BOT_GATEWAY", "true")]].concat();
        assert_eq!(exposure(&gateway), Ok(Vec::new()));
        let opted_out = [bot.as_slice(), &[("KAKAO_BOT_ALLOW_ANY_CALLER", "true")]].concat();
        assert_eq!(exposure(&opted_out).unwrap().len(), 1);
    }

    #[test]
    fn the_api_off_a_public_listener_needs_an_internal_address_or_an_opt_out() {
        let public = [("BIND_ADDR", "0.0.0.0:8080"), ("SKILL_SECRET", "s")];
        let err = exposure(&public).unwrap_err();
        assert!(
            err.contains("INTERNAL_BIND_ADDR") && err.contains("INTERNAL_API_PUBLIC"),
            "{err}"
        );
        let opted_out = [public.as_slice(), &[("INTERNAL_API_PUBLIC", "true")]].concat();
        assert_eq!(exposure(&opted_out).unwrap().len(), 1);
    }

    #[test]
    fn a_token_reachable_from_outside_is_at_least_32_characters() {
        let cases: [&[(&str, &str)]; 2] = [
            &[
                ("BIND_ADDR", "0.0.0.0:8080"),
                ("SKILL_SECRET", "s"),
                ("INTERNAL_API_PUBLIC", "true"),
            ],
            &[("INTERNAL_BIND_ADDR", "0.0.0.0:9090")],
        ];
        for layout in cases {
            let short = [
                layout,
                &[("INTERNAL_API_TOKEN", "only-31-characters-long-token-x")],
            ]
            .concat();
            let err = exposure(&short).unwrap_err();
            assert!(
                err.contains("INTERNAL_API_TOKEN") && err.contains("32"),
                "{err}"
            );
            let long = [layout, &[("INTERNAL_API_TOKEN", TOKEN)]].concat();
            assert!(exposure(&long).is_ok(), "{layout:?}");
            let previous = [long.as_slice(), &[("INTERNAL_API_TOKEN_PREVIOUS", "old")]].concat();
            assert!(
                exposure(&previous)
                    .unwrap_err()
                    .contains("INTERNAL_API_TOKEN_PREVIOUS")
            );
        }
        // An internal address on loopback keeps short tokens usable.
        let internal = [
            ("INTERNAL_BIND_ADDR", "127.0.0.1:9090"),
            ("INTERNAL_API_TOKEN", "x"),
        ];
        assert_eq!(exposure(&internal), Ok(Vec::new()));
    }
}
