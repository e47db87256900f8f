//! What HTTPS keeps: the lease one instance renews under (exactly one of
//! several asking at once gets it; it lapses when its holder goes), a
//! certificate's failure kept until one is stored, and challenges any
//! instance can answer.

use kakao_webhooks::storage::{Storage, certificates::StoredChallenge};

pub async fn one_of_several_instances_takes_the_lease_until_it_lapses(storage: &Storage) {
    let now = 1_000_000;
    let asked = futures_util::future::join_all(
        (0..4).map(|i| storage.take_lease("acme", ["a", "b", "c", "d"][i], now, now + 600_000)),
    )
    .await;
    let taken: Vec<bool> = asked.into_iter().map(Result::unwrap).collect();
    assert_eq!(taken.iter().filter(|t| **t).count(), 1, "{taken:?}");
    let holder = ["a", "b", "c", "d"][taken.iter().position(|t| *t).unwrap()];
    let other = if holder == "a" { "b" } else { "a" };
    // The holder extends it; another instance waits until it lapses.
    assert!(
        storage
            .take_lease("acme", holder, now + 1, now + 700_000)
            .await
            .unwrap()
    );
    assert!(
        !storage
            .take_lease("acme", other, now + 600_001, now + 900_000)
            .await
            .unwrap()
    );
    assert!(
        storage
            .take_lease("acme", other, now + 700_000, now + 900_000)
            .await
            .unwrap()
    );
    // Released by its holder only.
    storage.release_lease("acme", holder).await.unwrap();
    assert!(
        !storage
            .take_lease("acme", holder, now + 700_001, now + 800_000)
            .await
            .unwrap()
    );
    storage.release_lease("acme", other).await.unwrap();
    assert!(
        storage
            .take_lease("acme", holder, now + 700_002, now + 800_000)
            .await
            .unwrap()
    );
}

pub async fn a_certificate_failure_is_kept_until_one_is_stored(storage: &Storage) {
    let domains = "bot.example.com";
    storage
        .certificate_failed(domains, "refused", 1_000)
        .await
        .unwrap();
    storage
        .certificate_failed(domains, "refused again", 2_000)
        .await
        .unwrap();
    let failed = storage.certificate(domains).await.unwrap().unwrap();
    assert_eq!(
        failed.failed_since,
        Some(1_000),
        "the first failure's time is kept"
    );
    assert_eq!(failed.last_error.as_deref(), Some("refused again"));
    storage
        .save_certificate(domains, ("CERT", "KEY"), (9_000, 6_000), 3_000)
        .await
        .unwrap();
    let stored = storage.certificate(domains).await.unwrap().unwrap();
    assert_eq!(stored.cert_pem.as_deref(), Some("CERT"));
    assert_eq!((stored.failed_since, stored.last_error), (None, None));
    // The CA's window may move renewal earlier, never later.
    storage.renew_certificate_by(domains, 7_000).await.unwrap();
    storage.renew_certificate_by(domains, 5_000).await.unwrap();
    let renew_at = storage
        .certificate(domains)
        .await
        .unwrap()
        .unwrap()
        .renew_at;
    assert_eq!(renew_at, Some(5_000));
}

pub async fn a_challenge_is_answered_until_it_expires(storage: &Storage) {
    let challenge = |token: &str, kind: &str| StoredChallenge {
        token: token.into(),
        kind: kind.into(),
        domain: "bot.example.com".into(),
        key_authorization: format!("{token}.thumbprint"),
        expires_at: 10_000,
    };
    storage
        .save_challenge(&challenge("t1", "http-01"))
        .await
        .unwrap();
    storage
        .save_challenge(&challenge("t2", "tls-alpn-01"))
        .await
        .unwrap();
    assert_eq!(
        storage
            .http_challenge("t1", 5_000)
            .await
            .unwrap()
            .as_deref(),
        Some("t1.thumbprint")
    );
    assert_eq!(
        storage.http_challenge("t2", 5_000).await.unwrap(),
        None,
        "not an http-01 token"
    );
    assert_eq!(
        storage
            .tls_alpn_challenge("bot.example.com", 5_000)
            .await
            .unwrap()
            .as_deref(),
        Some("t2.thumbprint")
    );
    assert_eq!(
        storage.http_challenge("t1", 10_000).await.unwrap(),
        None,
        "expired"
    );
    storage
        .delete_challenges(&["t2".into()], 5_000)
        .await
        .unwrap();
    assert_eq!(
        storage
            .tls_alpn_challenge("bot.example.com", 5_000)
            .await
            .unwrap(),
        None
    );
}
