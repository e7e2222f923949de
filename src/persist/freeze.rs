//! Stopping every shard at one instant, for a snapshot.
//!
//! The shard that asks first claims every shard whole through the transaction layer, which waits
//! for multi-shard transactions in flight to finish and keeps new ones out: the instant it
//! captures never shows half of an MSET. It then sends every other shard a job that parks its
//! thread, between two commands, until the freeze ends; a parked shard's keyspace is not
//! being changed by anyone, and no thread is inside the allocator on its behalf, so the asking
//! shard may read it (SAVE) or fork (BGSAVE). Only one freeze runs at a time (see
//! `State::claim_freeze`): two shards parking each other would wait forever.
//!
//! A freeze may carry an [`AtFreeze`] hook, run on every shard's own thread at the frozen
//! instant: an AOF rewrite switches each shard to its new incremental file there, so that the
//! snapshot and the files that follow it meet exactly.

use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::shard::tx::{Plan, Tx};
use crate::shard::{Node, ShardData};

#[derive(Default)]
struct GateState {
    /// Each parked shard's data, as an address (the pointer crosses threads).
    parked: Vec<Option<usize>>,
    released: bool,
}

#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    wake: Condvar,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        // Nothing panics while holding the lock, so it is never poisoned.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs on a parked shard's thread: publishes its data and blocks until released.
    fn park(&self, shard: usize, data: &mut ShardData, hook: Option<&AtFreeze>) {
        if let Some(hook) = hook {
            hook(shard, data);
        }
        let mut st = self.lock();
        st.parked[shard] = Some(data as *mut ShardData as usize);
        while !st.released {
            st = self.wake.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn release(&self) {
        self.lock().released = true;
        self.wake.notify_all();
    }
}

/// Every shard stopped; dropping it lets them all go.
pub struct Frozen {
    gate: Arc<Gate>,
    shards: Vec<*const ShardData>,
    _claims: Tx,
}

impl Frozen {
    /// Every shard's keyspace, in shard order. Valid while `self` lives, and forever in a child
    /// forked meanwhile.
    pub fn keyspaces(&self) -> Vec<&crate::db::Keyspace> {
        // SAFETY: each pointer is either this thread's own shard (borrowed for as long as the
        // freeze lasts, see `freeze`) or a shard whose thread is parked inside `Gate::park`,
        // holding its `&mut` unused until `release`; the mutex orders its writes before ours.
        self.shards.iter().map(|p| unsafe { &(**p).ks }).collect()
    }

    /// The same, as addresses, for the control thread, which forks while the freeze lasts.
    pub fn addresses(&self) -> Vec<usize> {
        self.shards.iter().map(|p| *p as usize).collect()
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        self.gate.release();
    }
}

/// Work done on each shard's thread at the frozen instant (shard number, its data).
pub type AtFreeze = Arc<dyn Fn(usize, &mut ShardData) + Send + Sync>;

/// Stops every shard between two commands. The caller must hold the freeze claim
/// (`State::claim_freeze`) and must not touch its own shard's `RefCell` until the freeze ends.
pub async fn freeze(node: &Rc<Node>) -> Frozen {
    freeze_with(node, None).await
}

/// [`freeze`], running `hook` on every shard at the frozen instant.
pub async fn freeze_with(node: &Rc<Node>, hook: Option<AtFreeze>) -> Frozen {
    let claims = Tx::begin(node, Plan::everything(node.shards)).await;
    let gate = Arc::new(Gate::default());
    gate.lock().parked = vec![None; node.shards];
    for shard in (0..node.shards).filter(|&s| s != node.id) {
        let (node, gate, hook) = (node.clone(), gate.clone(), hook.clone());
        // An empty wait list: the job runs even though our claims cover the shard.
        crate::shard::task::spawn(async move {
            node.run_on(shard, Vec::new(), move |data| {
                gate.park(shard, data, hook.as_ref())
            })
            .await
        })
        .detach();
    }
    // The requests leave from this thread, so wait without blocking it.
    loop {
        let parked = gate.lock().parked.iter().flatten().count();
        if parked == node.shards - 1 {
            break;
        }
        crate::shard::timer::sleep(Duration::from_micros(50)).await;
    }
    let mut shards: Vec<*const ShardData> = gate
        .lock()
        .parked
        .iter()
        .map(|p| p.unwrap_or(0) as *const ShardData)
        .collect();
    // Our own shard: nothing else runs on this thread until we yield, and a snapshot never
    // yields while frozen.
    if let Some(hook) = &hook {
        hook(node.id, &mut node.data.borrow_mut());
    }
    shards[node.id] = node.data.as_ptr();
    Frozen {
        gate,
        shards,
        _claims: claims,
    }
}
