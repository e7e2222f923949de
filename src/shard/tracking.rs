//! Client-side caching's delivery: invalidations from the shards whose keys changed to the
//! clients that may cache them, wherever those clients are.
//!
//! The table of who may cache what is the keyspace's (`db::tracking`): a key's shard
//! remembers its readers in the job that reads it, and owes each an invalidation when the key
//! changes. After the job, [`send_owed`] posts them, one message per shard of clients, to the
//! clients' shards, which push them to the clients (or to the clients they redirect to).
//! Replies and posts from one shard to another arrive in the order they were sent, and a push
//! that arrives while a command runs goes out after its reply: an invalidation therefore never
//! overtakes the reply of the read it invalidates.
//!
//! Clients tracking by prefix (BCAST) are listed per shard; while any exists, shards send the
//! keys that changed to every shard that has one, which matches them against its clients'
//! prefixes.

use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::{Bytes, BytesMut};

use crate::db::tracking::{self, Invalidation};
use crate::resp::Frame;
use crate::shard::clients::ClientInfo;
use crate::shard::{Node, ShardData};

/// A client's CLIENT TRACKING state.
#[derive(Default, Clone, Debug)]
pub struct Tracking {
    pub on: bool,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// CLIENT CACHING YES (OPTIN) or NO (OPTOUT) was given for the next command.
    pub caching: bool,
    /// REDIRECT: the id of the client invalidations go to, and its shard.
    pub redirect: Option<(u64, usize)>,
    /// The client redirected to has gone.
    pub broken_redirect: bool,
    /// BCAST's prefixes, in the order given ("" when none was).
    pub prefixes: Vec<Bytes>,
}

impl Tracking {
    /// Whether this client's reads are remembered now (Redis's trackingRememberKeys rules).
    pub fn remembers(&self) -> bool {
        // OPTIN caches only after CACHING YES, OPTOUT all but after CACHING NO.
        let excluded = if self.optin {
            !self.caching
        } else {
            self.optout && self.caching
        };
        self.on && !self.bcast && !excluded
    }
}

/// Sends what this shard's last job owes: invalidations to the shards of the clients owed
/// them, and, while clients track by prefix, the changed keys to the shards that have such.
pub fn send_owed(node: &Rc<Node>, data: &mut ShardData) {
    let (owed, changed) = tracking::take();
    let mut by_shard: Vec<Vec<Invalidation>> = vec![Vec::new(); node.shards];
    for inv in owed {
        by_shard[inv.shard].push(inv);
    }
    for (shard, owed) in by_shard.into_iter().enumerate() {
        if !owed.is_empty() {
            data.outgoing
                .push((shard, Box::new(move |data| invalidate_here(data, owed))));
        }
    }
    if changed.is_empty() {
        return;
    }
    for shard in 0..node.shards {
        if node.global.tracking_bcast[shard].load(Relaxed) > 0 {
            let changed = changed.clone();
            data.outgoing
                .push((shard, Box::new(move |data| broadcast_here(data, &changed))));
        }
    }
}

/// Pushes invalidations to this shard's clients that are owed them.
fn invalidate_here(data: &mut ShardData, owed: Vec<Invalidation>) {
    for inv in owed {
        let Some(client) = data.clients.get(inv.id).cloned() else {
            continue;
        };
        let t = client.tracking.borrow().clone();
        // Turned off, or switched to BCAST, since it read the key; or its own change.
        if !t.on || t.bcast || (t.noloop && inv.by == inv.id) {
            continue;
        }
        send(data, &client, &t, Frame::Array(vec![Frame::Bulk(inv.key)]));
    }
}

/// Matches changed keys against this shard's BCAST clients' prefixes: each client hears, per
/// prefix, the keys under it in one message (sorted and once each, as Redis's radix tree
/// gives them), but not its own changes under NOLOOP.
fn broadcast_here(data: &mut ShardData, changed: &[(Bytes, u64)]) {
    for client in clients_where(data, |t| t.bcast) {
        let t = client.tracking.borrow().clone();
        for prefix in &t.prefixes {
            let mut keys: Vec<&Bytes> = changed
                .iter()
                .filter(|(k, by)| k.starts_with(prefix) && !(t.noloop && *by == client.id))
                .map(|(k, _)| k)
                .collect();
            if keys.is_empty() {
                continue;
            }
            keys.sort();
            keys.dedup();
            let keys = keys.into_iter().cloned().map(Frame::Bulk).collect();
            send(data, &client, &t, Frame::Array(keys));
        }
    }
}

/// FLUSHALL and FLUSHDB: every tracking client of this shard is told its whole cache is
/// stale, with a null in place of the keys.
pub fn flushed_here(data: &mut ShardData) {
    tracking::forget_all();
    for client in clients_where(data, |t| t.on) {
        let t = client.tracking.borrow().clone();
        // The tracking client's own protocol's null, whatever the redirect's, as Redis writes
        // it.
        let null = Frame::Encoded(encoded(&Frame::Null, client.resp.get() == 3));
        send(data, &client, &t, null);
    }
}

/// This shard's clients whose tracking state passes `wanted`.
fn clients_where(data: &ShardData, wanted: impl Fn(&Tracking) -> bool) -> Vec<Rc<ClientInfo>> {
    data.clients
        .iter()
        .filter(|c| wanted(&c.tracking.borrow()))
        .cloned()
        .collect()
}

/// Sends one invalidation (`keys`: the message's value) for `client`: to it over RESP3, or to
/// the client it redirects to.
fn send(data: &mut ShardData, client: &Rc<ClientInfo>, t: &Tracking, keys: Frame) {
    let Some((target, shard)) = t.redirect else {
        if client.resp.get() == 3 {
            data.push(client, &invalidate_message(true, keys));
        }
        // RESP2 without a redirect: nothing can carry it, as in Redis.
        return;
    };
    let tracker = (client.id, data.id);
    let deliver = move |data: &mut ShardData| match data.clients.get(target).cloned() {
        Some(target) => {
            let resp3 = target.resp.get() == 3;
            // A RESP2 client hears invalidations as Pub/Sub messages once it subscribes.
            if resp3 || target.subs.borrow().active() {
                data.push(&target, &invalidate_message(resp3, keys));
            }
        }
        None => {
            let (id, shard) = tracker;
            data.outgoing.push((
                shard,
                Box::new(move |data| redirect_broken(data, id, target)),
            ));
        }
    };
    if shard == data.id {
        deliver(data);
    } else {
        data.outgoing.push((shard, Box::new(deliver)));
    }
}

/// The client `id` redirects to a client that left: it is told so (over RESP3) and its
/// TRACKINGINFO says so.
fn redirect_broken(data: &mut ShardData, id: u64, target: u64) {
    let Some(client) = data.clients.get(id).cloned() else {
        return;
    };
    client.tracking.borrow_mut().broken_redirect = true;
    if client.resp.get() == 3 {
        let broken = Frame::Push(vec![
            Frame::bulk_str("tracking-redir-broken"),
            Frame::Integer(target as i64),
        ]);
        data.push(&client, &encoded(&broken, true));
    }
}

/// An invalidation message: a RESP3 `invalidate` push, or a Pub/Sub message on
/// `__redis__:invalidate` for a RESP2 client that a tracking client redirects to.
fn invalidate_message(resp3: bool, keys: Frame) -> Bytes {
    let parts = if resp3 {
        vec![Frame::bulk_str("invalidate"), keys]
    } else {
        vec![
            Frame::bulk_str("message"),
            Frame::bulk_str("__redis__:invalidate"),
            keys,
        ]
    };
    encoded(&Frame::Push(parts), resp3)
}

fn encoded(frame: &Frame, resp3: bool) -> Bytes {
    let mut out = BytesMut::new();
    frame.write(&mut out, resp3);
    out.freeze()
}

/// A client of this shard starts tracking by prefix: once this returns, every shard keeps
/// its changed keys for it, so that no change after CLIENT TRACKING's reply goes unseen.
pub async fn start_bcast(node: &Rc<Node>) {
    node.global.tracking_bcast[node.id].fetch_add(1, Relaxed);
    let counts = node.global.tracking_bcast.clone();
    node.broadcast(move |_| tracking::set_broadcasting(broadcasting(&counts)))
        .await;
}

/// A client of this shard stops tracking by prefix (turned it off, or left). The shards learn
/// it in their own time: until then they only keep keys nobody asks for.
pub fn stop_bcast(node: &Rc<Node>) {
    node.global.tracking_bcast[node.id].fetch_sub(1, Relaxed);
    for shard in 0..node.shards {
        let counts = node.global.tracking_bcast.clone();
        node.post(shard, move |_| {
            tracking::set_broadcasting(broadcasting(&counts))
        });
    }
}

fn broadcasting(counts: &[std::sync::atomic::AtomicUsize]) -> bool {
    counts.iter().any(|c| c.load(Relaxed) > 0)
}

/// Ends `client`'s tracking (CLIENT TRACKING OFF, or it left), as Redis's disableTracking.
pub fn disable(node: &Rc<Node>, client: &ClientInfo) {
    let mut t = client.tracking.borrow_mut();
    if !t.on {
        return;
    }
    node.global.tracking_clients.fetch_sub(1, Relaxed);
    if t.bcast {
        stop_bcast(node);
    }
    *t = Tracking::default();
}
