//! The background workers every instance runs beside the server:
//! - [`alerts`]: the failures that hurt, judged from every instance's tally
//!   and sent to `ALERT_WEBHOOK_URL` and the app;
//! - [`charts`]: the numbers behind the console's charts;
//! - [`planner_statistics`]: analyses PostgreSQL tables that grew faster
//!   than autovacuum looks;
//! - [`profile_refresh`]: fetches a user's profile from Kakao after a
//!   `user-profile-changed` event (`KAKAO_PROFILE_REFRESH`);
//! - [`retention`]: erases stored payloads past `EVENT_RETENTION_DAYS`.

pub mod alerts;
pub mod charts;
pub mod planner_statistics;
pub mod profile_refresh;
pub mod retention;
