//! The persistence timer, Redis's `serverCron` share of it: save points, BGSAVE SCHEDULE, AOF
//! rewrites (scheduled and automatic), and shutdown on a signal. It runs on shard 0, ten times a second.

use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::{unix_now, BGSAVE_RETRY_DELAY_S};
use crate::shard::Node;

pub fn start(node: Rc<Node>) {
    crate::shard::task::spawn(async move {
        loop {
            crate::shard::timer::sleep(Duration::from_millis(100)).await;
            tick(&node).await;
        }
    })
    .detach();
}

async fn tick(node: &Rc<Node>) {
    let global = &node.global;
    if global.cron_paused() {
        return;
    }
    let state = crate::persist::state();
    if let Some(mode) = state.shutdown_requested() {
        let err = super::shutdown(node, mode).await;
        // The final save failed: Redis keeps serving, and so do we.
        crate::log!(Warning, "SIGTERM received but errors trying to shut down the server, check the logs for more information ({err})");
        state.shutdown_failed();
        return;
    }
    let config = global.config.snapshot();
    super::rewrite::cron(node, &config).await;
    if state.saving() {
        return;
    }
    if state.scheduled.swap(false, Relaxed) {
        let _ = super::bgsave(node).await;
        return;
    }
    let changes = state.unsaved_changes();
    let since_save = unix_now().saturating_sub(state.last_save_unix()) as i64;
    let may_retry = state.last_bgsave_ok.load(Relaxed)
        || unix_now().saturating_sub(state.last_bgsave_try_unix.load(Relaxed))
            > BGSAVE_RETRY_DELAY_S;
    let due = config
        .save_points()
        .iter()
        .find(|p| changes >= p.changes.max(0) as u64 && since_save > p.seconds && may_retry);
    if let Some(p) = due {
        crate::log!(
            Notice,
            "{} changes in {} seconds. Saving...",
            p.changes,
            p.seconds
        );
        let _ = super::bgsave(node).await;
    }
}
