//! The application API's OpenAPI 3.1 document (`/api/openapi.json`, behind
//! the token), and schemathesis (PyPI) run against a live server with it:
//! every operation, with valid and invalid inputs, must give no 5xx, no
//! answer outside its schema or status list, and nothing without the token.
//!
//! schemathesis comes from the Python named by `KAKAO_WEBHOOKS_PYTHON`, with
//! `tests/schemathesis/requirements.txt` installed (`.ci/run` does). Without
//! it the test says so and passes, except under CI, where it fails.

use std::{path::PathBuf, process::Command, time::Duration};

use kakao_webhooks::dev::bot_platform::Forced;
use reqwest::Method;
use serde_json::json;

use crate::{
    app_receiver::{Answer, AppReceiver, SIGNING_SECRET},
    bot_replies::{BOT_TOKEN, message, post_event},
    helpers::{API_TOKEN, APP_ID, KakaoBotApi, TestApp},
    python_app::python,
};

/// The operations the API has, as the router routes them.
const OPERATIONS: [(&str, &str); 19] = [
    ("post", "/api/sessions"),
    ("get", "/api/sessions/{id}"),
    ("delete", "/api/sessions/{id}"),
    ("get", "/api/users/{id}"),
    ("delete", "/api/users/{id}"),
    ("get", "/api/events"),
    ("get", "/api/alerts"),
    ("get", "/api/notifications"),
    ("get", "/api/notifications/{id}"),
    ("post", "/api/notifications/{id}/retry"),
    ("post", "/api/notifications/replay"),
    ("get", "/api/notifications/destination"),
    ("post", "/api/notifications/resume"),
    ("post", "/api/events/renotify"),
    ("post", "/api/bot/messages"),
    ("get", "/api/bot/messages/{id}"),
    ("get", "/api/bot/rooms"),
    ("get", "/api/bot/rooms/{bot_group_key}"),
    ("get", "/api/openapi.json"),
];

#[tokio::test]
async fn the_document_describes_every_operation_behind_the_token() {
    let app = TestApp::kakao().spawn().await;
    let anonymous = app.get("/api/openapi.json").await;
    assert_eq!(anonymous.status(), 401);

    let (status, document) = app.api_get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer", "description": "INTERNAL_API_TOKEN (or one of INTERNAL_API_TOKENS)"})
    );
    assert_eq!(document["security"], json!([{"bearer": []}]));
    let mut documented = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for status in ["401", "429", "503"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{method} {path} documents {status}"
                );
            }
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);
    // The answer types are in it, as the handlers return them.
    let user = &document["components"]["schemas"]["UserView"]["properties"];
    for field in ["user_id", "status", "scopes", "risk", "channels"] {
        assert!(user[field].is_object(), "UserView.{field}: {user}");
    }
}

/// `tests/schemathesis`'s `st`, beside the Python that has it.
fn schemathesis() -> Option<PathBuf> {
    let python = PathBuf::from(python()?);
    let st = python.with_file_name("st");
    assert!(
        st.exists(),
        "{} is missing: pip install -r tests/schemathesis/requirements.txt",
        st.display()
    );
    Some(st)
}

/// Something in every table the API reads: a session, a user who left, a
/// channel relation, events, failed notifications, a bot room and message.
async fn populated(app: &TestApp, kakao: &KakaoBotApi) {
    app.login("4242").await;
    let unlink =
        format!("/kakao/unlink?app_id={APP_ID}&user_id=4243&referrer_type=UNLINK_FROM_APPS");
    let response = app
        .kakao_request(Method::GET, &unlink)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let channel = json!({
        "event": "added", "id": "4242", "id_type": "app_user_id", "channel_public_id": "_FLX",
        "updated_at": "2024-01-01T00:00:01Z",
    });
    let response = app
        .kakao_request(Method::POST, "/kakao/channel")
        .header("x-kakao-resource-id", "openapi-1")
        .json(&channel)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    post_event(app, message(1, "안녕", "cb-token")).await;
    kakao.platform.script([Forced::Status(400)]);
    let sent = app
        .client
        .post(app.url("/api/bot/messages"))
        .bearer_auth(API_TOKEN)
        .json(&json!({"bot_group_key": "g1", "skill_response":
            {"version": "2.0", "template": {"outputs": [{"simpleText": {"text": "공지"}}]}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    // Every notification fails: listings show failed rows with errors.
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (_, page) = app.api_get("/api/notifications?status=failed").await;
            if page["notifications"]
                .as_array()
                .is_some_and(|n| n.len() >= 2)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the notifications fail");
}

#[tokio::test]
async fn schemathesis_finds_no_5xx_no_schema_break_and_no_operation_open_without_the_token() {
    let Some(st) = schemathesis() else {
        return;
    };
    let kakao = KakaoBotApi::start().await;
    let receiver = AppReceiver::start().await;
    receiver.script([], Answer::Status(500));
    let app = TestApp::kakao()
        .var("KAKAO_BOT_TOKEN", BOT_TOKEN)
        .var("KAKAO_API_BASE_URL", kakao.base_url())
        .var("APP_NOTIFY_URL", receiver.url())
        .var("APP_SIGNING_SECRET", SIGNING_SECRET)
        .var("APP_NOTIFY_RETRY_SCHEDULE_MS", "20")
        .spawn()
        .await;
    populated(&app, &kakao).await;

    let reports = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schemathesis");
    let url = app.url("/api/openapi.json");
    let report_dir = reports.clone();
    let st_run = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .arg("run")
            .arg(url)
            .args(["--header", &format!("Authorization: Bearer {API_TOKEN}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_schema_conformance,response_headers_conformance,ignored_auth,\
                 negative_data_rejection,unsupported_method",
            ])
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args([
                "--max-examples",
                "40",
                "--workers",
                "1",
                "--seed",
                "20261207",
            ])
            .args(["--generation-database", "none", "--request-timeout", "20"])
            .args(["--no-color", "--report", "junit", "--report-dir"])
            .arg(&report_dir)
            .output()
            .expect("st runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&st_run.stdout);
    std::fs::write(reports.join("st.log"), stdout.as_bytes()).unwrap();
    assert!(
        st_run.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&st_run.stderr)
    );
    // It ran every operation (the document's own route is not tested by it).
    let tested = format!("Selected: {n}/{n}", n = OPERATIONS.len() - 1);
    assert!(
        stdout.contains(&tested),
        "schemathesis did not test every operation ({tested}):\n{stdout}"
    );
}
