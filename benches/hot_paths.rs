//! The per-request work of the hot paths, without the network:
//! `cargo bench --bench hot_paths`. Figures and machine: BENCHMARKS.md.

use std::{hint::black_box, sync::Arc, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use kakao_webhooks::{
    dev::{DEV_KID, DevKey},
    security_events::{
        effects::effects,
        jwks::{KeySource, KeyStore},
        verify::Verifier,
    },
    skill::{SkillRequest, SkillResponse, demo::demo_bot, handler::SkillHandler},
};
use serde_json::json;

const ISSUER: &str = "http://127.0.0.1:9/dev";
const AUDIENCE: &str = "bench-rest-api-key";

fn skill(c: &mut Criterion) {
    let payload = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/skill_requests/live_callback.json"
    ))
    .unwrap();
    c.bench_function("skill: parse a live payload", |b| {
        b.iter(|| SkillRequest::from_slice(black_box(&payload)).unwrap())
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bot = demo_bot();
    let request = SkillRequest::from_slice(&payload).unwrap();
    let mut menu = request.clone();
    menu.user_request.utterance = "카드".into();
    c.bench_function("skill: build the demo card response", |b| {
        b.iter(|| {
            runtime
                .block_on(bot.handle(black_box(menu.clone())))
                .unwrap()
        })
    });
    let cards = runtime.block_on(bot.handle(menu)).unwrap();
    c.bench_function("skill: validate a three-output response", |b| {
        b.iter(|| black_box(&cards).validate().unwrap())
    });
    c.bench_function("skill: serialize a response", |b| {
        b.iter(|| serde_json::to_vec(black_box(&cards)).unwrap())
    });
    let _ = SkillResponse::text("x");
}

fn security_event(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = DevKey::load_or_create(dir.path()).unwrap();
    // Serve the dev key's JWKS locally so the verifier caches it once.
    let jwks = key.jwks();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    runtime.spawn(async move {
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || async move { axum::Json(jwks) }),
        );
        axum::serve(listener, app).await
    });
    let keys = Arc::new(KeyStore::new(
        KeySource::Jwks(url.parse().unwrap()),
        kakao_webhooks::http::outbound_client().unwrap(),
        Duration::from_secs(1),
        Duration::from_secs(30),
    ));
    let verifier = Verifier::new(keys, ISSUER, AUDIENCE);
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "1234567890", "iat": 1_700_000_000, "jti": "bench",
        "txm": "92a79799-3ae3-4112-8fe2-921c710daa38",
        "events": {"https://schemas.openid.net/secevent/oauth/event-type/user-unlinked": {
            "subject": {"sub": "1234567890", "subject_type": "iss-sub", "iss": ISSUER},
            "reason": "UNLINK_FROM_APPS"}},
    });
    let token = key.sign_set(&claims).unwrap();
    runtime
        .block_on(verifier.verify(&token))
        .expect("the first verify loads the key set");
    assert_eq!(DEV_KID, "dev-key");
    c.bench_function(
        "SET: verify RS256-2048 and check claims (cached key)",
        |b| {
            b.iter(|| {
                runtime
                    .block_on(verifier.verify(black_box(&token)))
                    .unwrap()
            })
        },
    );
    let verified = runtime.block_on(verifier.verify(&token)).unwrap();
    c.bench_function("SET: parse events and plan effects", |b| {
        b.iter(|| {
            let events = kakao_protocol::security_event::parse(black_box(&verified.claims), ISSUER);
            events.iter().map(|e| effects(e).len()).sum::<usize>()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(3));
    targets = skill, security_event
}
criterion_main!(benches);
