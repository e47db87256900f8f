//! The settings' unit tests.

use super::*;

#[test]
fn an_in_memory_sqlite_database_is_refused_naming_the_setting() {
    for url in ["sqlite::memory:", "sqlite://events.db?mode=memory"] {
        let err = Settings::from_vars(None, [("DATABASE_URL", url)]).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
        assert!(err.to_string().contains("in-memory"), "{err}");
    }
    assert!(Settings::from_vars(None, [("DATABASE_URL", "sqlite://memory.db")]).is_ok());
}

#[test]
// Every field is required and unknown keys are refused, so loading the
// defaults alone proves default.toml documents exactly the settings.
fn defaults_load_and_every_key_is_documented() {
    let settings = Settings::from_vars(None, []).expect("defaults are valid");
    assert_eq!(settings.bind_addr, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(settings.database_url.kind(), DatabaseKind::Sqlite);
    assert_eq!(settings.kakao_issuer.as_str(), "https://kauth.kakao.com/");
    assert!(settings.kakao_admin_key.is_none());
}

#[test]
fn a_previous_secret_without_its_current_one_is_refused_naming_it() {
    for name in [
        "KAKAO_ADMIN_KEY_PREVIOUS",
        "INTERNAL_API_TOKEN_PREVIOUS",
        "SKILL_SECRET_PREVIOUS",
        "KAKAO_BOT_WEBHOOK_SECRET_PREVIOUS",
    ] {
        let err = Settings::from_vars(None, [(name, "old")]).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
        let current = name.trim_end_matches("_PREVIOUS");
        assert!(Settings::from_vars(None, [(name, "old"), (current, "new")]).is_ok());
    }
}

#[test]
fn the_book_documents_every_setting_in_both_editions() {
    let english = include_str!("../../docs/en/src/configuration.md");
    let korean = include_str!("../../docs/ko/src/configuration.md");
    for key in default_keys() {
        let row = format!("| `{}` |", key.to_ascii_uppercase());
        assert!(english.contains(&row), "docs/en has no row for {row}");
        assert!(korean.contains(&row), "docs/ko has no row for {row}");
    }
}

#[test]
fn environment_overrides_and_numeric_ids_stay_text() {
    let settings = Settings::from_vars(
        None,
        [("KAKAO_APP_ID", "123456"), ("BIND_ADDR", "0.0.0.0:9")],
    )
    .unwrap();
    assert_eq!(settings.kakao_app_id.as_deref(), Some("123456"));
    assert_eq!(settings.bind_addr.port(), 9);
}

#[test]
fn a_bad_value_names_the_setting() {
    let err = Settings::from_vars(None, [("BIND_ADDR", "nowhere")]).unwrap_err();
    assert_eq!(err.setting, "BIND_ADDR");
    let err = Settings::from_vars(None, [("DATABASE_URL", "mysql://x")]).unwrap_err();
    assert_eq!(err.setting, "DATABASE_URL");
    let err = Settings::from_vars(None, [("SKILL_SYNC_BUDGET_MS", "5000")]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid setting SKILL_SYNC_BUDGET_MS:")
    );
}

#[test]
fn kakao_urls_must_be_https_except_on_loopback() {
    for key in ["KAKAO_ISSUER", "KAKAO_JWKS_URL", "KAKAO_API_BASE_URL"] {
        let err = Settings::from_vars(None, [(key, "http://kauth.example.com")]).unwrap_err();
        assert_eq!(err.setting, key);
        assert!(err.to_string().contains("https"), "{err}");
        for local in [
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            assert!(
                Settings::from_vars(None, [(key, local)]).is_ok(),
                "{key}={local}"
            );
        }
        assert!(Settings::from_vars(None, [(key, "https://kauth.example.com")]).is_ok());
    }
}

#[test]
fn secrets_are_redacted_in_debug() {
    let settings = Settings::from_vars(
        None,
        [
            ("KAKAO_ADMIN_KEY", "admin-secret-value"),
            ("DATABASE_URL", "postgres://u:pw-secret@h/db"),
        ],
    )
    .unwrap();
    let debug = format!("{settings:?}");
    assert!(!debug.contains("admin-secret-value"));
    assert!(!debug.contains("pw-secret"));
}

#[test]
fn an_app_id_that_is_not_digits_is_refused_naming_it() {
    let err = Settings::from_vars(None, [("KAKAO_APP_ID", "abc")]).unwrap_err();
    assert_eq!(err.setting, "KAKAO_APP_ID");
    assert!(err.to_string().contains("not digits"), "{err}");
    assert!(Settings::from_vars(None, [("KAKAO_APP_ID", " 123456 ")]).is_ok());
}

#[test]
fn a_half_configured_family_is_refused_naming_what_is_missing() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &[("KAKAO_ADMIN_KEY", "k")],
            "KAKAO_ADMIN_KEY",
            "KAKAO_APP_ID",
        ),
        (&[("KAKAO_APP_ID", "1")], "KAKAO_APP_ID", "KAKAO_ADMIN_KEY"),
        (
            &[("KAKAO_BOT_GATEWAY", "true")],
            "KAKAO_BOT_GATEWAY",
            "KAKAO_BOT_TOKEN",
        ),
        (
            &[("KAKAO_BOT_WEBHOOK_SECRET", "s")],
            "KAKAO_BOT_WEBHOOK_SECRET",
            "KAKAO_BOT_TOKEN",
        ),
        (
            &[("KAKAO_JWKS_URL", "https://kauth.kakao.com/jwks")],
            "KAKAO_JWKS_URL",
            "KAKAO_REST_API_KEY",
        ),
    ];
    for (vars, setting, missing) in cases {
        let settings = Settings::from_vars(None, vars.iter().copied()).unwrap();
        let err = settings.check_families().unwrap_err();
        assert_eq!(err.setting, *setting);
        assert!(err.to_string().contains(missing), "{err}");
    }
    let whole = Settings::from_vars(None, [("KAKAO_ADMIN_KEY", "k"), ("KAKAO_APP_ID", "1")]);
    assert!(whole.unwrap().check_families().is_ok());
    assert!(
        Settings::from_vars(None, [])
            .unwrap()
            .check_families()
            .is_ok()
    );
}

#[test]
fn bot_commands_come_from_the_environment_as_json() {
    let settings = Settings::from_vars(
        None,
        [(
            "KAKAO_BOT_COMMANDS",
            r#"[{"button_name":"메뉴","description":"무엇을 할 수 있는지"},{"button_name":"도움말"}]"#,
        )],
    )
    .unwrap();
    let names: Vec<_> = settings
        .kakao_bot_commands
        .iter()
        .map(|c| c.button_name.as_str())
        .collect();
    assert_eq!(names, ["메뉴", "도움말"]);
    let err = Settings::from_vars(None, [("KAKAO_BOT_COMMANDS", "[{\"name\":1}]")]).unwrap_err();
    assert_eq!(err.setting, "KAKAO_BOT_COMMANDS");
}

#[test]
fn a_mistyped_variable_is_refused_and_unknown_ones_warned_of() {
    let err = Settings::from_vars(None, [("KAKAO_ADMINKEY", "k")]).unwrap_err();
    assert!(
        err.to_string().contains("did you mean KAKAO_ADMIN_KEY?"),
        "{err}"
    );
    let settings = Settings::from_vars(None, [("SKILL_SOMETHING", "x")]).unwrap();
    assert_eq!(settings.environment_warnings.len(), 1);
}

#[test]
fn host_patterns_match_subdomains_only() {
    let pattern = HostPattern::parse("*.kakao.com").unwrap();
    assert!(pattern.matches("bot-api.kakao.com"));
    assert!(pattern.matches("a.b.KAKAO.com"));
    assert!(!pattern.matches("kakao.com"));
    assert!(!pattern.matches("evilkakao.com"));
    assert!(!pattern.matches("kakao.com.evil.net"));
    assert!(
        HostPattern::parse("127.0.0.1")
            .unwrap()
            .matches("127.0.0.1")
    );
    assert!(HostPattern::parse("bad host/").is_err());
}

#[test]
fn kakao_source_ips_takes_off_auto_or_cidrs() {
    let off = Settings::from_vars(None, [("KAKAO_SOURCE_IPS", "off")]).unwrap();
    assert_eq!(off.kakao_source_ips, SourceIps::Off);
    let listed =
        Settings::from_vars(None, [("KAKAO_SOURCE_IPS", "198.51.100.0/24, 203.0.113.7")]).unwrap();
    assert!(matches!(listed.kakao_source_ips, SourceIps::Listed(list) if list.len() == 2));
    let auto = Settings::from_vars(None, [("KAKAO_SOURCE_IPS", "auto")]).unwrap();
    assert_eq!(auto.kakao_source_ips, SourceIps::Auto);
    // Fetched with one of the app's keys.
    let keyless = auto.check_families().unwrap_err();
    assert!(
        keyless.to_string().contains("KAKAO_REST_API_KEY"),
        "{keyless}"
    );
    let everyone =
        Settings::from_vars(None, [("TRUSTED_PROXIES", "10.0.0.1, 0.0.0.0/0")]).unwrap_err();
    assert!(
        everyone.to_string().contains("TRUSTED_PROXIES"),
        "{everyone}"
    );
    let bad = Settings::from_vars(None, [("KAKAO_SOURCE_IPS", "kakao")]).unwrap_err();
    assert!(bad.to_string().contains("KAKAO_SOURCE_IPS"), "{bad}");
}

#[test]
fn https_settings_are_checked_at_start() {
    let acme =
        Settings::from_vars(None, [("TLS_DOMAINS", "Bot.Example.com, api.example.com")]).unwrap();
    assert_eq!(acme.tls_domains, ["bot.example.com", "api.example.com"]);
    // Unset, BIND_ADDR becomes the HTTPS port; set, it is kept.
    assert_eq!(acme.bind_addr.to_string(), "0.0.0.0:443");
    assert_eq!(acme.http_bind_addr.unwrap().to_string(), "0.0.0.0:80");
    let kept = Settings::from_vars(
        None,
        [
            ("TLS_DOMAINS", "bot.example.com"),
            ("BIND_ADDR", "127.0.0.1:8443"),
        ],
    )
    .unwrap();
    assert_eq!(kept.bind_addr.to_string(), "127.0.0.1:8443");
    let plain = Settings::from_vars(None, []).unwrap();
    assert_eq!(plain.bind_addr.to_string(), "127.0.0.1:8080");
    for (vars, setting) in [
        (vec![("TLS_DOMAINS", "*.example.com")], "TLS_DOMAINS"),
        (vec![("TLS_DOMAINS", "127.0.0.1")], "TLS_DOMAINS"),
        (vec![("TLS_CERT_FILE", "cert.pem")], "TLS_CERT_FILE"),
        (vec![("TLS_KEY_FILE", "key.pem")], "TLS_KEY_FILE"),
        (
            vec![
                ("TLS_DOMAINS", "a.example.com"),
                ("TLS_CERT_FILE", "c"),
                ("TLS_KEY_FILE", "k"),
            ],
            "TLS_CERT_FILE",
        ),
        (vec![("ACME_EMAIL", "ops@example.com")], "ACME_EMAIL"),
        (vec![("HTTP_BIND_ADDR", "0.0.0.0:80")], "HTTP_BIND_ADDR"),
        (
            vec![("ACME_DIRECTORY_URL", "http://ca.example/dir")],
            "ACME_DIRECTORY_URL",
        ),
        (
            vec![
                ("TLS_DOMAINS", "a.example.com"),
                ("ACME_CHALLENGE", "http-01"),
                ("HTTP_BIND_ADDR", ""),
            ],
            "ACME_CHALLENGE",
        ),
    ] {
        let err = Settings::from_vars(None, vars.clone()).unwrap_err();
        assert_eq!(err.setting, setting, "{vars:?}: {err}");
    }
}

#[test]
fn event_stream_url_names_a_broker_and_hides_its_password() {
    let nats = StreamUrl::parse("nats://127.0.0.1:4222/acme.kakao").unwrap();
    assert_eq!(
        nats,
        StreamUrl::Nats {
            server: "nats://127.0.0.1:4222".into(),
            prefix: "acme.kakao".into()
        }
    );
    let amqp = StreamUrl::parse("amqp://u:secret@mq:5672/%2f?exchange=kakao&heartbeat=10").unwrap();
    let StreamUrl::Amqp { uri, exchange } = &amqp else {
        panic!("{amqp:?}")
    };
    assert_eq!(
        (uri.as_str(), exchange.as_str()),
        ("amqp://u:secret@mq:5672/%2f?heartbeat=10", "kakao")
    );
    assert!(!format!("{amqp:?}").contains("secret"), "{amqp:?}");
    let redis = StreamUrl::parse("redis://:pw@cache:6379/2?stream=kakao").unwrap();
    assert_eq!(
        redis,
        StreamUrl::Redis {
            url: "redis://:pw@cache:6379/2".into(),
            key: "kakao".into()
        }
    );
    for (bad, says) in [
        ("kafka://broker:9092/topic", "Kafka is not offered yet"),
        ("amqp://mq:5672/%2f", "?exchange="),
        ("redis://cache:6379/0", "?stream="),
        ("nats://n:4222/bad prefix", "subject prefix"),
        ("http://example.com", "not a broker"),
    ] {
        let err = Settings::from_vars(None, [("EVENT_STREAM_URL", bad)]).unwrap_err();
        assert_eq!(err.setting, "EVENT_STREAM_URL");
        assert!(err.to_string().contains(says), "{bad}: {err}");
    }
}

#[test]
fn an_event_stream_trimmed_to_nothing_is_refused() {
    let err = Settings::from_vars(None, [("EVENT_STREAM_MAXLEN", "0")]).unwrap_err();
    assert_eq!(err.setting, "EVENT_STREAM_MAXLEN");
}

#[test]
fn the_console_time_zone_is_an_iana_name_checked_at_start() {
    let settings = Settings::from_vars(None, []).unwrap();
    assert_eq!(settings.console_time_zone.iana_name(), Some("Asia/Seoul"));
    let utc = Settings::from_vars(None, [("CONSOLE_TIME_ZONE", "UTC")]).unwrap();
    assert_eq!(utc.console_time_zone.iana_name(), Some("UTC"));
    let err = Settings::from_vars(None, [("CONSOLE_TIME_ZONE", "Seoul")]).unwrap_err();
    assert!(err.to_string().contains("CONSOLE_TIME_ZONE"), "{err}");
    assert!(
        err.to_string().contains("Asia/Seoul"),
        "says what to use: {err}"
    );
}
