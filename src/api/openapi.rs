//! The OpenAPI 3.1 document of `/api`, served at `/api/openapi.json`
//! (behind the same token). It is derived by utoipa from the handlers'
//! `#[utoipa::path]` attributes and the answer types of [`super::views`];
//! a test checks that every `/api` route is in it and nothing else, and CI
//! runs schemathesis against a live server with it (`tests/api/openapi.rs`).

use std::sync::LazyLock;

use axum::{http::header, response::IntoResponse};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, RefOr, Response, ResponseBuilder,
        content::ContentBuilder,
        security::{Http, HttpAuthScheme, SecurityScheme},
    },
};

use super::{bot_messages, notifications, views};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kakao-webhooks application API",
        description = "What the service knows, for the team's own app: login sessions, users as \
            Kakao last described them, every accepted event, alerts, the notifications sent to \
            the app, and the bot's rooms and messages. Every operation needs \
            `Authorization: Bearer <INTERNAL_API_TOKEN>`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        super::start_session,
        super::session,
        super::end_session,
        super::user,
        super::erase_user,
        super::events,
        super::alerts,
        notifications::list,
        notifications::one,
        notifications::retry,
        notifications::replay,
        notifications::destination,
        notifications::resume,
        notifications::renotify,
        bot_messages::send_message,
        bot_messages::message,
        bot_messages::rooms,
        bot_messages::room,
        document,
    ),
    components(schemas(views::ErrorView)),
    modifiers(&BearerToken, &CommonErrors),
    security(("bearer" = [])),
)]
struct ApiDoc;

/// The document, rendered once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
});

/// The document as the server serves it.
pub fn document_json() -> &'static str {
    &DOCUMENT
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of `/api`", content_type = "application/json")),
)]
pub(super) async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
}

/// `Authorization: Bearer <INTERNAL_API_TOKEN>`.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some("INTERNAL_API_TOKEN (or one of INTERNAL_API_TOKENS)".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    }
}

/// The answers every operation may give, whatever it does: a missing or
/// wrong token, an address locked out after failed guesses (never a
/// loopback one), and our own failure (storage down), which says retry.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        let error = |description: &str| -> RefOr<Response> {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(openapi::Ref::from_schema_name("ErrorView")))
                        .build(),
                )
                .build()
                .into()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                responses.insert(
                    "401".into(),
                    error("No token, or a wrong one (`WWW-Authenticate: Bearer`)"),
                );
                responses.insert(
                    "429".into(),
                    error("Too many failed token checks from this address; see `Retry-After`"),
                );
                responses.insert(
                    "503".into(),
                    error("The service's own failure (storage unavailable); retry later"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_every_api_route_and_nothing_else() {
        let document: serde_json::Value = serde_json::from_str(document_json()).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        let mut documented: Vec<String> = document["paths"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        documented.sort();
        let state_free = super::super::router_templates();
        let mut routed: Vec<String> = state_free
            .into_iter()
            .filter(|t| t.starts_with("/api/"))
            .collect();
        routed.sort();
        routed.dedup();
        assert_eq!(documented, routed);
    }
}
