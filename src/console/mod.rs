//! The operator's console at `/console`: what Kakao sent, what it changed
//! and what is failing, in a browser. Served by the binary (templates
//! compiled in, nothing fetched from the internet), beside `/api` on the
//! internal listener, and only while `INTERNAL_API_TOKEN` is set.
//!
//! Sign-in is a form taking the API token; the session is an `HttpOnly`,
//! `SameSite=Strict` cookie (`session.rs`), and every state-changing form
//! carries a CSRF token bound to it.

mod changes;
mod charts;
mod delivery;
mod health;
mod health_charts;
mod labels;
mod masking;
mod pages;
mod session;
mod status;
mod time;
mod user;

use axum::{
    Form,
    extract::{ConnectInfo, Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use crate::{
    http::auth_limit::{Surface, too_many_guesses},
    http::{error::ApiError, routes::Routes},
    state::AppState,
};

pub use labels::Labels;

pub fn router(state: AppState) -> Routes<AppState> {
    let signed_in = Routes::new()
        .route("/console", get(pages::live))
        .route("/console/live/stream", get(pages::live_stream))
        .route("/console/deliveries/{id}", get(delivery::delivery))
        .route("/console/users", get(pages::users))
        .route("/console/users/{id}", get(user::user))
        .route("/console/health", get(health::health))
        .route("/console/outboxes", get(status::outboxes))
        .route("/console/settings", get(status::settings))
        .route(
            "/console/notifications/{id}/retry",
            post(status::retry_notification),
        )
        .route(
            "/console/notifications/retry-failed",
            post(status::retry_failed_notifications),
        )
        .route(
            "/console/notifications/resume",
            post(status::resume_notifications),
        )
        .route("/console/logout", post(logout))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_session,
        ));
    Routes::new()
        .route("/console/login", get(login_form).post(login))
        .merge(signed_in)
        .route_layer(middleware::from_fn_with_state(state, console_enabled))
        .route_layer(middleware::from_fn(remember_lang))
}

/// What every signed-in page gets: its labels and the form token.
#[derive(Clone)]
pub struct Page {
    pub t: &'static Labels,
    pub csrf: String,
    /// Active alerts' summaries, shown as a banner on every page.
    pub alerts: Vec<String>,
    /// `CONSOLE_TIME_ZONE`.
    pub zone: jiff::tz::TimeZone,
}

impl Page {
    /// `millis` as this console shows times.
    pub fn at(&self, millis: i64) -> time::Shown {
        time::Shown::at(&self.zone, millis)
    }
}

#[derive(Deserialize, Default)]
pub struct LangQuery {
    lang: Option<String>,
}

fn lang_of(headers: &HeaderMap, query: Option<&str>) -> &'static Labels {
    let cookie = session::cookie(headers, "kw_lang");
    labels::for_lang(query.or(cookie.as_deref()))
}

/// 404 like `/api` while the API token is unset.
async fn console_enabled(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.settings.api_tokens().is_empty() {
        return ApiError::not_found("no such route").into_response();
    }
    next.run(request).await
}

/// `?lang=` is remembered in a cookie.
async fn remember_lang(request: Request, next: Next) -> Response {
    let lang = request.uri().query().and_then(|query| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "lang")
            .map(|(_, value)| labels::for_lang(Some(&value)).lang)
    });
    let mut response = next.run(request).await;
    if let Some(lang) = lang
        && let Ok(value) = HeaderValue::from_str(&format!(
            "kw_lang={lang}; Path=/console; SameSite=Strict; Max-Age=31536000"
        ))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Signed-in pages: a live session cookie, else the sign-in form. A POST
/// must carry the session's CSRF token (checked by the handler's form).
async fn require_session(
    State(state): State<AppState>,
    Query(query): Query<LangQuery>,
    mut request: Request,
    next: Next,
) -> Response {
    let tokens = state.settings.api_tokens();
    let headers = request.headers();
    let Some(value) =
        session::cookie(headers, session::COOKIE).filter(|v| session::valid(v, tokens))
    else {
        return Redirect::to("/console/login").into_response();
    };
    let t = lang_of(headers, query.lang.as_deref());
    let csrf = session::csrf(&value, tokens.current().unwrap_or_default());
    let alerts = match state.storage.alerts(20).await {
        Ok(alerts) => alerts
            .into_iter()
            .filter(|a| a.state == "raised")
            .map(|a| a.summary)
            .collect(),
        Err(_) => vec![t.alerts_unreadable.to_owned()],
    };
    let page = Page {
        t,
        csrf,
        alerts,
        zone: state.settings.console_time_zone.clone(),
    };
    request.extensions_mut().insert(page);
    next.run(request).await
}

/// A form's CSRF token is the session's: a page of another site cannot know it.
/// `Some(403)` unless `presented` is the session's form token.
pub fn csrf_refused(page: &Page, presented: &str) -> Option<Response> {
    (!crate::http::secret_matches(presented.as_bytes(), &page.csrf)).then(|| {
        (
            StatusCode::FORBIDDEN,
            "the form's CSRF token is missing or wrong",
        )
            .into_response()
    })
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

async fn login_form(headers: HeaderMap, Query(query): Query<LangQuery>) -> Response {
    pages::render(&pages::LoginPage {
        t: lang_of(&headers, query.lang.as_deref()),
        failed: false,
    })
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(state): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    over_tls: Option<axum::Extension<crate::http::OverTls>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let limiter = &state.auth_limiter;
    let client = limiter.client(peer.map(|info| (info.0).0), &headers);
    if let Some(wait) = limiter.locked_out(client, Surface::Console) {
        return too_many_guesses(wait);
    }
    let tokens = state.settings.api_tokens();
    if !crate::http::matches_any(form.token.trim().as_bytes(), tokens) {
        limiter.failed(client, Surface::Console);
        let page = pages::LoginPage {
            t: lang_of(&headers, None),
            failed: true,
        };
        return (StatusCode::UNAUTHORIZED, pages::render(&page)).into_response();
    }
    let token = tokens.current().unwrap_or_default();
    let cookie = session::set_cookie(&session::issue(token), &headers, over_tls.is_some());
    ([(header::SET_COOKIE, cookie)], Redirect::to("/console")).into_response()
}

async fn logout(
    over_tls: Option<axum::Extension<crate::http::OverTls>>,
    headers: HeaderMap,
    axum::Extension(page): axum::Extension<Page>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = csrf_refused(&page, &form.csrf) {
        return refused;
    }
    let cookie = session::set_cookie("", &headers, over_tls.is_some());
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/console/login"),
    )
        .into_response()
}
