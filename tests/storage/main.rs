//! The storage contract: every test runs unchanged against SQLite (a fresh
//! file) and PostgreSQL (a fresh schema in the database `TEST_DATABASE_URL`
//! names). Without that variable the PostgreSQL half is skipped, said once.

mod alerts;
mod backends;
mod batching;
mod bot_outbox;
mod certificates;
mod charts;
mod contract;
mod destinations;
mod notifications;
mod planner_statistics;
mod privacy;
mod retention;
mod sqlite_migrations;

/// Generates, for each named contract test, one test per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::backends::TestDb::sqlite().await;
                    crate::$name(&db.storage).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = crate::backends::TestDb::postgres().await else { return };
                    crate::$name(&db.storage).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

/// Two instances on one database, on each backend.
mod two_instances {
    #[tokio::test]
    async fn sqlite_a_follower_sees_every_event() {
        let db = crate::backends::TestDb::sqlite().await;
        let second = db.another_instance().await;
        crate::contract::a_follower_sees_every_event_two_instances_write(&db.storage, &second)
            .await;
        second.close().await;
        db.cleanup().await;
    }

    #[tokio::test]
    async fn postgres_a_follower_sees_every_event() {
        let Some(db) = crate::backends::TestDb::postgres().await else {
            return;
        };
        let second = db.another_instance().await;
        crate::contract::a_follower_sees_every_event_two_instances_write(&db.storage, &second)
            .await;
        second.close().await;
        db.cleanup().await;
    }
}

/// The SQLite writer thread yields the core to request threads when it wakes
/// (SCHED_BATCH), at the normal weight (nice 0), so that its batches grow
/// without it ever being starved.
#[cfg(target_os = "linux")]
mod sqlite_writer_thread {
    use std::time::{Duration, Instant};

    /// (policy, nice) of each thread of this process named `name`, from
    /// `/proc/self/task/*/stat` (fields 41 and 19).
    fn scheduling_of(name: &str) -> Vec<(u32, i32)> {
        let mut found = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim() != name {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // Fields from the third on follow the `)` that closes the name.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            found.push((
                fields[41 - 3].parse().unwrap(),
                fields[19 - 3].parse().unwrap(),
            ));
        }
        found
    }

    #[tokio::test]
    async fn the_sqlite_writer_runs_as_a_batch_thread_at_nice_0() {
        const SCHED_BATCH: u32 = 3;
        let db = crate::backends::TestDb::sqlite().await;
        // The thread sets its policy as it starts.
        let started = Instant::now();
        let mut writers = scheduling_of("sqlite-writer");
        while writers.iter().any(|(policy, _)| *policy != SCHED_BATCH)
            && started.elapsed() < Duration::from_secs(5)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
            writers = scheduling_of("sqlite-writer");
        }
        assert!(!writers.is_empty(), "no thread named sqlite-writer");
        assert!(
            writers.iter().all(|&w| w == (SCHED_BATCH, 0)),
            "writers' (policy, nice): {writers:?}"
        );
        db.cleanup().await;
    }
}

use alerts::*;
use bot_outbox::*;
use certificates::*;
use charts::*;
use contract::*;
use destinations::*;
use notifications::*;
use privacy::*;
use retention::*;

on_both_backends!(
    rows_ended_together_end_only_where_their_claim_holds,
    chart_counts_from_several_instances_add_up_per_stretch,
    a_destination_pauses_once_after_failing_for_long_and_resumes_once,
    a_replay_queues_only_what_its_filter_names,
    renotify_queues_held_rows_once,
    one_of_several_instances_takes_the_lease_until_it_lapses,
    a_certificate_failure_is_kept_until_one_is_stored,
    a_challenge_is_answered_until_it_expires,
    rows_past_retention_are_deleted_and_nothing_else,
    a_notification_claim_takes_at_most_its_limit,
    leaving_erases_the_users_channel_relations,
    an_alert_is_raised_once_and_resolved_once_clear_for_a_window,
    tallies_from_several_instances_add_up,
    migrations_run_twice_without_error,
    an_event_is_stored_once_per_dedupe_key,
    concurrent_deliveries_of_one_event_store_it_once,
    an_unlink_revokes_sessions_erases_data_and_leaves_a_tombstone,
    an_unlink_of_an_unknown_user_leaves_a_tombstone,
    a_repeated_unlink_is_a_duplicate_until_the_user_links_again,
    a_late_unlink_does_not_undo_a_newer_login,
    a_channel_relation_keeps_the_newest_change,
    sessions_start_and_end,
    an_inactive_user_gets_no_session,
    events_page_in_order,
    a_follower_polling_during_concurrent_writes_sees_every_event,
    scope_consents_follow_event_time_per_scope,
    account_state_events_follow_event_time,
    identifiers_are_replaced_by_user_or_by_old_value,
    jobs_are_claimed_once_and_rearmed_when_asked_again,
    a_failing_event_fails_alone_among_concurrent_ones,
    leaving_erases_the_payloads_of_the_users_events_and_keeps_the_rows,
    an_applied_change_queues_its_notification_and_a_refused_event_none,
    a_notification_claim_is_held_by_one_worker_until_its_lease_ends,
    an_event_whose_effects_change_nothing_is_marked_so,
    an_identifier_event_naming_no_user_is_erased_when_its_holder_leaves,
    a_purged_account_stays_purged_through_a_later_unlink,
    a_link_creates_or_relinks_a_user_but_never_a_purged_one_or_over_a_newer_event,
    events_about_a_gone_user_store_no_personal_data_until_they_link_again,
    an_erasure_by_the_app_wins_over_later_dated_events_and_drops_jobs,
    payloads_past_retention_are_erased_in_batches,
);
