//! Replays the spool into the database, in order, as soon as storage
//! answers: each delivery is built into its event again and stored with its
//! dedupe key, so one already stored (the write that was too slow, or a
//! replay cut off by a crash) is a duplicate and changes nothing.

use std::{sync::Arc, time::Duration};

use kakao_protocol::admin_key::{ChannelChange, Unlink};
use tokio_util::sync::CancellationToken;

use super::{channel, share, unlink};
use crate::{
    delivery::spool::{Spool, Spooled},
    storage::{NewEvent, Storage},
    telemetry::Chain,
};

/// How often the spool is looked at.
const EVERY: Duration = Duration::from_secs(1);

pub async fn run(spool: Arc<Spool>, storage: Storage, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    let mut told_taken = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let (waiting, _) = spool.waiting();
        metrics::gauge!("kakao_spool_entries").set(waiting as f64);
        if waiting == 0 && !spool.left_from_before() {
            continue;
        }
        match replay_once(&spool, &storage).await {
            Ok(replayed) if replayed > 0 => {
                metrics::counter!("kakao_spool_replayed_total").increment(replayed as u64);
                tracing::info!(replayed, "spool: deliveries stored");
            }
            Ok(_) => {}
            Err(err) if !told_taken => {
                told_taken = true;
                tracing::error!(error = format!("{err:#}"), "spool: cannot replay");
            }
            Err(_) => {}
        }
    }
}

/// Stores the waiting entries in order until one fails; drops those done.
async fn replay_once(spool: &Arc<Spool>, storage: &Storage) -> anyhow::Result<usize> {
    let reading = Arc::clone(spool);
    let entries = tokio::task::spawn_blocking(move || reading.entries()).await??;
    let mut done = 0;
    for entry in &entries {
        match event_of(entry) {
            Ok(event) => match storage.record(&event).await {
                Ok(_) => done += 1,
                Err(err) => {
                    tracing::warn!(error = %Chain(&err), "spool: storage still failing; will retry");
                    break;
                }
            },
            Err(why) => {
                // Checked before it was spooled: only a spool from another
                // version could hold one.
                tracing::error!(webhook.family = %entry.family, why, "spool: an entry is not a delivery this version reads; dropped");
                done += 1;
            }
        }
    }
    let trimming = Arc::clone(spool);
    tokio::task::spawn_blocking(move || trimming.trim(done)).await??;
    Ok(done)
}

/// The event a spooled delivery stands for, as its handler built it.
fn event_of(entry: &Spooled) -> Result<NewEvent, String> {
    let resource_id = || entry.resource_id.as_deref().ok_or("no X-Kakao-Resource-ID");
    match entry.family.as_str() {
        "unlink" => Unlink::read(&entry.params)
            .map(|read| unlink::event(read, Some(entry.received_at)))
            .map_err(|err| err.to_string()),
        "channel" => {
            let change = ChannelChange::read(&entry.params).map_err(|err| err.to_string())?;
            Ok(channel::event(
                change,
                resource_id()?,
                &entry.params,
                entry.received_at,
            ))
        }
        "share" => Ok(share::event(resource_id()?, &entry.params)),
        other => Err(format!("unknown family {other:?}")),
    }
}
