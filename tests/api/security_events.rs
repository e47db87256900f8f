//! `POST /kakao/events`: Security Event Tokens from a local Kakao.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::{
    helpers::TestApp,
    kakao_keys::{KeyServer, Mode, REST_API_KEY, Signer, fixture, now},
};

pub(crate) struct Kakao {
    pub(crate) keys: KeyServer,
    pub(crate) signer: Signer,
    pub(crate) app: TestApp,
}

pub(crate) async fn kakao_with(extra: &[(&str, &str)]) -> Kakao {
    let keys = KeyServer::start(&["kakao-a", "weak-1024"]).await;
    let mut builder = TestApp::kakao()
        .var("KAKAO_REST_API_KEY", REST_API_KEY)
        .var("KAKAO_ISSUER", keys.issuer());
    for (key, value) in extra {
        builder = builder.var(key, value);
    }
    let app = builder.spawn().await;
    let signer = Signer::new("kakao-a", "test-key-a", &keys.issuer());
    Kakao { keys, signer, app }
}

pub(crate) async fn kakao() -> Kakao {
    let kakao = kakao_with(&[]).await;
    wait_for_events_family(&kakao.app, "ready").await;
    kakao
}

pub(crate) async fn wait_for_events_family(app: &TestApp, status: &str) {
    for _ in 0..100 {
        let ready: Value = app.get("/ready").await.json().await.unwrap();
        if ready["families"]["events"] == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the events family never became {status}");
}

pub(crate) async fn post(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/kakao/events"))
        .header("content-type", "application/secevent+jwt")
        .header("accept", "application/json")
        .body(token.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

impl Kakao {
    /// Signs and sends these claims; returns the status.
    async fn post_claims(&self, claims: &Value) -> u16 {
        post(&self.app, &self.signer.sign(claims)).await.0
    }

    /// Sends one event about `user` and expects 202.
    pub(crate) async fn send(&self, event: &str, user: &str, fields: Value) {
        self.send_at(event, user, fields, now()).await;
    }

    pub(crate) async fn send_at(&self, event: &str, user: &str, fields: Value, iat: i64) {
        let token = self
            .signer
            .sign(&self.signer.claims(event, user, fields, iat));
        let (status, body) = post(&self.app, &token).await;
        assert_eq!(status, 202, "{event}: {body}");
        assert_eq!(body, Value::String(String::new()), "202 has an empty body");
    }

    pub(crate) async fn user(&self, user: &str) -> Value {
        let (status, body) = self.app.api_get(&format!("/api/users/{user}")).await;
        assert_eq!(status, 200, "{user}");
        body
    }

    async fn session_active(&self, session: &str) -> bool {
        let (_, body) = self.app.api_get(&format!("/api/sessions/{session}")).await;
        body["active"].as_bool().unwrap()
    }

    /// Expects `400 {"err": err}` and that nothing was stored.
    pub(crate) async fn refused(&self, token: &str, err: &str) {
        let before = self.app.events().await.len();
        let (status, body) = post(&self.app, token).await;
        assert_eq!((status, body["err"].as_str()), (400, Some(err)), "{body}");
        assert!(body["description"].is_string());
        assert_eq!(self.app.events().await.len(), before, "nothing stored");
    }
}

#[tokio::test]
async fn a_stored_set_keeps_its_kid_and_every_claim_as_signed() {
    let k = kakao().await;
    let mut claims = k.signer.claims("user-linked", "4100", json!({}), now());
    // A claim the service does not read, with text that JSON escapes.
    claims["x_note"] = json!("탈퇴 \"quoted\" \u{1}");
    assert_eq!(k.post_claims(&claims).await, 202);
    let events = k.app.events().await;
    let stored = &events.last().expect("one event stored")["payload"];
    assert_eq!(stored["kid"], "test-key-a");
    assert_eq!(stored["claims"], claims);
}

#[tokio::test]
async fn link_unlink_and_session_events_change_users_and_sessions() {
    let k = kakao().await;
    k.send("user-linked", "1001", json!({})).await;
    assert_eq!(k.user("1001").await["status"], "linked");

    for (event, reason) in [
        ("tokens-revoked", json!({"reason": "user"})),
        ("sessions-revoked", json!({})),
    ] {
        let session = k.app.login("1001").await;
        k.send(event, "1001", reason).await;
        assert!(
            !k.session_active(&session).await,
            "{event} revokes sessions"
        );
    }

    let session = k.app.login("1001").await;
    k.send(
        "user-unlinked",
        "1001",
        json!({"reason": "UNLINK_FROM_APPS"}),
    )
    .await;
    let user = k.user("1001").await;
    assert_eq!(
        (user["status"].as_str(), user["unlink_reason"].as_str()),
        (Some("unlinked"), Some("UNLINK_FROM_APPS"))
    );
    assert!(!k.session_active(&session).await);
}

#[tokio::test]
async fn scope_consent_and_withdrawal_change_scopes() {
    let k = kakao().await;
    k.send(
        "user-scope-consent",
        "1002",
        json!({"scope": "email birthday age_range"}),
    )
    .await;
    assert_eq!(
        k.user("1002").await["scopes"],
        json!(["age_range", "birthday", "email"])
    );
    k.send("user-scope-withdraw", "1002", json!({"scope": "birthday"}))
        .await;
    assert_eq!(
        k.user("1002").await["scopes"],
        json!(["age_range", "email"])
    );
}

#[tokio::test]
async fn account_disabled_enabled_and_purged() {
    let k = kakao().await;
    let session = k.app.login("1003").await;
    k.send(
        "account-disabled",
        "1003",
        json!({"reason": "bulk-account"}),
    )
    .await;
    assert_eq!(k.user("1003").await["status"], "disabled");
    assert!(
        k.session_active(&session).await,
        "bulk-account keeps sessions"
    );
    k.send("account-enabled", "1003", json!({})).await;
    assert_eq!(k.user("1003").await["status"], "linked");
    k.send("account-disabled", "1003", json!({"reason": "hijacking"}))
        .await;
    assert!(
        !k.session_active(&session).await,
        "hijacking revokes sessions"
    );

    let other = k.app.login("1004").await;
    let email = k.signer.identifier_claims(
        "identifier-changed",
        Some("1004"),
        "old@example.com",
        Some("new@example.com"),
    );
    assert_eq!(post(&k.app, &k.signer.sign(&email)).await.0, 202);
    assert_eq!(k.user("1004").await["email"], "new@example.com");
    k.send("account-purged", "1004", json!({})).await;
    let user = k.user("1004").await;
    assert_eq!(
        (user["status"].as_str(), user["email"].as_str()),
        (Some("purged"), None)
    );
    assert!(!k.session_active(&other).await);
}

#[tokio::test]
async fn risk_assurance_and_profile_events_are_visible_through_the_api() {
    let k = kakao().await;
    for event in [
        "account-credential-change-required",
        "credential-compromise",
        "credential-change",
    ] {
        k.send(
            event,
            "1005",
            json!({"credential_type": "password", "change_type": "update"}),
        )
        .await;
    }
    k.send("assurance-level-change", "1005", json!({"current_level": "nist-aal2", "previous_level": "nist-aal1", "change_direction": "increase"})).await;
    k.send("user-profile-changed", "1005", json!({})).await;
    let user = k.user("1005").await;
    for flag in [
        "credential_change_required_at",
        "credential_compromised_at",
        "credential_changed_at",
    ] {
        assert!(user["risk"][flag].is_string(), "{flag}: {user}");
    }
    assert_eq!(user["assurance_level"], "nist-aal2");
    assert_eq!(user["profile_stale"], true);
}

#[tokio::test]
async fn identifier_changes_find_the_user_by_the_old_email() {
    let k = kakao().await;
    let named = k.signer.identifier_claims(
        "identifier-changed",
        Some("1006"),
        "zero@example.com",
        Some("first@example.com"),
    );
    assert_eq!(k.post_claims(&named).await, 202);
    assert_eq!(k.user("1006").await["email"], "first@example.com");
    // Without a sub, the user is whoever has the old email.
    let unnamed = k.signer.identifier_claims(
        "identifier-changed",
        None,
        "first@example.com",
        Some("second@example.com"),
    );
    assert_eq!(k.post_claims(&unnamed).await, 202);
    assert_eq!(k.user("1006").await["email"], "second@example.com");
    let recycled =
        k.signer
            .identifier_claims("identifier-recycled", None, "second@example.com", None);
    assert_eq!(k.post_claims(&recycled).await, 202);
    assert_eq!(k.user("1006").await["email"], Value::Null);
}

#[tokio::test]
async fn an_unknown_event_type_is_stored_and_acknowledged() {
    let k = kakao().await;
    let mut claims = k.signer.claims("user-linked", "1007", json!({}), now());
    claims["events"] =
        json!({"https://schemas.kakao.com/platevent/kakao/event-type/something-new": {"x": 1}});
    assert_eq!(post(&k.app, &k.signer.sign(&claims)).await.0, 202);
    let events = k.app.events().await;
    assert_eq!(
        events[0]["type"],
        "https://schemas.kakao.com/platevent/kakao/event-type/something-new"
    );
    assert_eq!(events[0]["user_id"], "1007");
    assert_eq!(
        k.app.api_get("/api/users/1007").await.0,
        404,
        "otherwise ignored: no effect"
    );
}

#[tokio::test]
async fn a_replayed_set_is_accepted_and_changes_nothing() {
    let k = kakao().await;
    let token = k.signer.sign(&k.signer.claims(
        "user-unlinked",
        "1008",
        json!({"reason": "ACCOUNT_DELETE"}),
        now(),
    ));
    assert_eq!(post(&k.app, &token).await.0, 202);
    let session = k.app.login("1008").await; // linked again since
    assert_eq!(post(&k.app, &token).await.0, 202);
    assert!(
        k.session_active(&session).await,
        "the replay did not unlink again"
    );
    assert_eq!(k.app.events().await.len(), 1);
}

#[tokio::test]
async fn events_apply_in_event_time_order_not_arrival_order() {
    let k = kakao().await;
    let t = now();
    k.send_at(
        "user-unlinked",
        "1009",
        json!({"reason": "UNLINK_FROM_APPS"}),
        t,
    )
    .await;
    k.send_at("user-linked", "1009", json!({}), t - 60).await; // older, delivered late
    assert_eq!(k.user("1009").await["status"], "unlinked");
    k.send_at("user-scope-withdraw", "1010", json!({"scope": "email"}), t)
        .await;
    k.send_at(
        "user-scope-consent",
        "1010",
        json!({"scope": "email"}),
        t - 60,
    )
    .await;
    assert_eq!(k.user("1010").await["scopes"], json!([]));
    k.send_at("account-enabled", "1011", json!({}), t).await;
    k.send_at(
        "account-disabled",
        "1011",
        json!({"reason": "bulk-account"}),
        t - 60,
    )
    .await;
    assert_eq!(k.user("1011").await["status"], "linked");
}

#[tokio::test]
async fn every_validation_failure_gets_its_rfc_8935_code() {
    let k = kakao().await;
    let good = || k.signer.claims("user-linked", "2000", json!({}), now());
    k.refused("not a jwt", "invalid_request").await;

    let mut wrong_iss = good();
    wrong_iss["iss"] = json!("https://evil.example.com");
    k.refused(&k.signer.sign(&wrong_iss), "invalid_issuer")
        .await;
    let mut wrong_aud = good();
    wrong_aud["aud"] = json!("someone-elses-key");
    k.refused(&k.signer.sign(&wrong_aud), "invalid_audience")
        .await;
    let mut aud_array = good();
    aud_array["aud"] = json!(["other", REST_API_KEY]);
    assert_eq!(
        post(&k.app, &k.signer.sign(&aud_array)).await.0,
        202,
        "aud may be an array"
    );

    for claim in ["jti", "iat", "events", "iss", "aud"] {
        let mut missing = good();
        missing.as_object_mut().unwrap().remove(claim);
        k.refused(&k.signer.sign(&missing), "invalid_request").await;
    }
    // The claims the signature check itself requires are named.
    for claim in ["iss", "aud"] {
        let mut missing = good();
        missing.as_object_mut().unwrap().remove(claim);
        let (_, body) = post(&k.app, &k.signer.sign(&missing)).await;
        assert_eq!(
            body["description"],
            format!("missing claim {claim}"),
            "{body}"
        );
    }
    // Within the five minutes of clock skew allowed, a token from ahead is fine.
    let mut ahead = good();
    ahead["iat"] = json!(now() + 120);
    let (status, body) = post(&k.app, &k.signer.sign(&ahead)).await;
    assert_eq!(status, 202, "two minutes ahead: {body}");
    // Our clock behind the token's: our fault, so 503 and Kakao retries.
    let mut future = good();
    future["iat"] = json!(now() + 3600);
    let (status, body) = post(&k.app, &k.signer.sign(&future)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.get("err").is_none(), "{body}");
    let mut old = good();
    old["iat"] = json!(now() - 30 * 24 * 3600);
    assert_eq!(
        post(&k.app, &k.signer.sign(&old)).await.0,
        202,
        "a late delivery is fine"
    );

    // Signed by key b under key a's kid: the signature does not verify.
    let forged = Signer::new("kakao-b", "test-key-a", &k.keys.issuer());
    k.refused(&forged.sign(&good()), "invalid_key").await;
    // A kid the freshly fetched key set does not have: perhaps our set is
    // the stale one, so 503, never a 400 Kakao would not resend.
    let stranger = Signer::new("kakao-b", "not-in-the-set", &k.keys.issuer());
    let (status, body) = post(&k.app, &stranger.sign(&good())).await;
    assert_eq!(status, 503, "{body}");
    let metrics = k.app.get("/metrics").await.text().await.unwrap();
    for reason in ["clock_behind", "unknown_kid"] {
        assert!(
            metrics.contains(&format!(
                r#"kakao_set_our_fault_total{{reason="{reason}"}}"#
            )),
            "{reason}"
        );
    }
    // A 1024-bit key published under its own kid is refused before any
    // signature check (aws-lc will not even sign with it, so any signature do).
    let weak = Signer::new("kakao-b", "test-key-weak", &k.keys.issuer());
    let token = weak.sign(&good());
    k.refused(&token, "invalid_key").await;
    let (_, body) = post(&k.app, &token).await;
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("weak key: 1024-bit"),
        "{body}"
    );
}

#[tokio::test]
async fn alg_none_and_hs256_with_the_public_key_are_refused() {
    let k = kakao().await;
    let claims = k.signer.claims("user-linked", "2001", json!({}), now());
    let b64 = |v: &Value| base64_url(v.to_string().as_bytes());
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "secevent+jwt", "kid": "test-key-a"})),
        b64(&claims)
    );
    k.refused(&none, "invalid_request").await;
    // The classic confusion: the RSA public key used as an HMAC secret.
    let public_jwk = fixture("kakao-a.jwk.json");
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("secevent+jwt".into());
    header.kid = Some("test-key-a".into());
    let hs = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(public_jwk.as_bytes()),
    )
    .unwrap();
    k.refused(&hs, "invalid_request").await;
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn wrong_content_type_and_missing_configuration() {
    let k = kakao().await;
    let token = k
        .signer
        .sign(&k.signer.claims("user-linked", "2002", json!({}), now()));
    let json_body = k
        .app
        .client
        .post(k.app.url("/kakao/events"))
        .header("content-type", "application/json")
        .body(token.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    let with_params = k
        .app
        .client
        .post(k.app.url("/kakao/events/"))
        .header("content-type", "Application/SecEvent+JWT; charset=UTF-8")
        .body(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        with_params.status(),
        202,
        "case-insensitive, parameters allowed, trailing slash"
    );

    let unconfigured = TestApp::kakao().spawn().await;
    let response = unconfigured
        .client
        .post(unconfigured.url("/kakao/events"))
        .header("content-type", "application/secevent+jwt")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("KAKAO_REST_API_KEY")
    );
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_one_refetch() {
    let k = kakao().await;
    let fetches = k.keys.jwks_fetches();
    k.keys.serve_keys(&["kakao-a", "kakao-b"]);
    let rotated = Signer::new("kakao-b", "test-key-b", &k.keys.issuer());
    let token = rotated.sign(&rotated.claims("user-linked", "2003", json!({}), now()));
    assert_eq!(post(&k.app, &token).await.0, 202);
    assert_eq!(k.keys.jwks_fetches(), fetches + 1);
    assert_eq!(k.user("2003").await["status"], "linked");
}

#[tokio::test]
async fn a_flood_of_random_kids_costs_at_most_a_few_fetches() {
    let k = kakao().await;
    let fetches = k.keys.jwks_fetches();
    let requests: Vec<_> = (0..100)
        .map(|i| {
            let signer = Signer::new("kakao-b", &format!("random-kid-{i}"), &k.keys.issuer());
            let token = signer.sign(&signer.claims("user-linked", "2004", json!({}), now()));
            let client = k.app.client.clone();
            let url = k.app.url("/kakao/events");
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("content-type", "application/secevent+jwt")
                    .body(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for request in requests {
        // 400 when a key set fetched after it arrived lacks its kid; 503
        // (retry later) when it came during the refetch cooldown.
        let status = request.await.unwrap();
        assert!(matches!(status, 400 | 503), "{status}");
    }
    let extra = k.keys.jwks_fetches() - fetches;
    assert!(extra <= 2, "{extra} JWKS fetches for 100 unknown kids");
}

#[tokio::test]
async fn a_hanging_key_host_still_gets_every_webhook_answered_in_time() {
    let k = kakao().await;
    k.keys.set_mode(Mode::Hang);
    let known = k
        .signer
        .sign(&k.signer.claims("user-linked", "2005", json!({}), now()));
    let started = Instant::now();
    assert_eq!(
        post(&k.app, &known).await.0,
        202,
        "a known kid needs no fetch"
    );
    let stranger = Signer::new("kakao-b", "unknown-while-hanging", &k.keys.issuer());
    let token = stranger.sign(&stranger.claims("user-linked", "2005", json!({}), now()));
    let (status, body) = post(&k.app, &token).await;
    assert_eq!(status, 503, "no key set could be had: retry later, {body}");
    assert!(body.get("err").is_none(), "our failure is not an err code");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "Kakao waits 3 s"
    );
}

#[tokio::test]
async fn a_failing_key_host_keeps_the_last_good_keys_verifying() {
    let k = kakao_with(&[("KAKAO_JWKS_REFETCH_COOLDOWN_MS", "10")]).await;
    wait_for_events_family(&k.app, "ready").await;
    k.keys.set_mode(Mode::Fail);
    // Unknown kids make the service try the failing host again and again.
    let stranger = Signer::new("kakao-b", "unknown-while-failing", &k.keys.issuer());
    for attempt in 0..3 {
        let token = stranger.sign(&stranger.claims("user-linked", "2007", json!({}), now()));
        let started = Instant::now();
        let (status, body) = post(&k.app, &token).await;
        assert_eq!(status, 503, "attempt {attempt}: retry later, {body}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "Kakao waits 3 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let known = k
        .signer
        .sign(&k.signer.claims("user-linked", "2007", json!({}), now()));
    assert_eq!(
        post(&k.app, &known).await.0,
        202,
        "failed fetches keep the last good key set"
    );
}

#[tokio::test]
async fn a_key_host_down_at_start_is_retried_until_it_answers() {
    let keys = KeyServer::start(&["kakao-a"]).await;
    keys.set_mode(Mode::Fail);
    let app = TestApp::kakao()
        .var("KAKAO_REST_API_KEY", REST_API_KEY)
        .var("KAKAO_ISSUER", keys.issuer())
        .var("KAKAO_JWKS_REFETCH_COOLDOWN_MS", 100)
        .spawn()
        .await;
    assert_eq!(app.get("/ready").await.status(), 503);
    let signer = Signer::new("kakao-a", "test-key-a", &keys.issuer());
    let token = signer.sign(&signer.claims("user-linked", "2006", json!({}), now()));
    assert_eq!(post(&app, &token).await.0, 503);

    keys.set_mode(Mode::Serve);
    wait_for_events_family(&app, "ready").await;
    assert_eq!(app.get("/ready").await.status(), 200);
    assert_eq!(
        post(&app, &token).await.0,
        202,
        "the retried delivery is accepted"
    );
}

#[tokio::test]
async fn metrics_count_accepted_sets_rejections_and_apply_lag() {
    let k = kakao().await;
    k.send("user-linked", "4001", json!({})).await;
    k.refused("not a jwt", "invalid_request").await;
    let text = k.app.get("/metrics").await.text().await.unwrap();
    for expected in [
        r#"kakao_webhooks_received_total{family="events",outcome="accepted"}"#,
        r#"kakao_set_rejections_total{err="invalid_request"}"#,
        "kakao_event_apply_lag_seconds_count",
        r#"kakao_jwks_fetches_total{trigger="scheduled",outcome="ok"}"#,
    ] {
        assert!(text.contains(expected), "{expected} missing from /metrics");
    }
}
