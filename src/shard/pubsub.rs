//! Pub/Sub across shards: who listens where, and how a message reaches them.
//!
//! A subscriber is listed on its own shard, the only one that can reach its connection. Each
//! channel also has an **owner**, the shard of its hash slot (as if the channel were a key),
//! which counts how many subscribers every shard has for it. A PUBLISH runs on the channel's
//! owner: the owner adds up the receivers, delivers to its own subscribers, and sends the
//! message once to each other shard that has any, which delivers to all of its own. So a
//! message costs one cross-shard message per shard with subscribers, never one per
//! subscriber; every message of a channel passes through one shard, so all its subscribers
//! see the channel's messages in one order; and mailboxes keep each sender's order, so a
//! publisher's messages arrive in the order it published them.
//!
//! Patterns match channels of every owner, so every shard keeps the count of every shard's
//! subscribers to every pattern, and the owner finds the patterns a channel matches. The
//! counts change before a SUBSCRIBE or UNSUBSCRIBE replies, so a PUBLISH that starts after the
//! reply reaches exactly the subscribers Redis's would.
//!
//! The counts only choose where a message goes. What PUBLISH answers is what each shard
//! reports it delivered (a [`Tally`] on the publisher's shard): a subscriber that left a
//! moment earlier on its own shard, before its owner heard of it, is not counted as a
//! receiver, and a client that pipelines UNSUBSCRIBE on one connection and PUBLISH on another
//! sees 0 as from Redis.
//!
//! Sharded channels (SSUBSCRIBE, SPUBLISH) are the same mechanism in a namespace of their own,
//! without patterns.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use ahash::{AHashMap, AHashSet};
use bytes::{Bytes, BytesMut};

use crate::db::notify;
use crate::resp::Frame;
use crate::shard::clients::ClientInfo;
use crate::shard::ShardData;
use crate::types::glob::glob_match;

/// The two channel namespaces.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// SUBSCRIBE / PUBLISH, with patterns.
    Plain = 0,
    /// SSUBSCRIBE / SPUBLISH.
    Sharded = 1,
}

impl Kind {
    /// The word a message of this kind starts with.
    fn message_word(self) -> &'static [u8] {
        match self {
            Kind::Plain => b"message",
            Kind::Sharded => b"smessage",
        }
    }
}

/// What one client is subscribed to (kept with the client, for its counts, UNSUBSCRIBE
/// without arguments and its clean-up).
#[derive(Default)]
pub struct Subscriptions {
    pub channels: AHashSet<Bytes>,
    /// In subscription order, as Redis keeps them.
    pub patterns: Vec<Bytes>,
    pub sharded: AHashSet<Bytes>,
}

impl Subscriptions {
    /// The count SUBSCRIBE, PSUBSCRIBE and their opposites report: channels and patterns.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Whether the client is in Pub/Sub mode (Redis's CLIENT_PUBSUB).
    pub fn active(&self) -> bool {
        self.count() + self.sharded.len() > 0
    }

    pub fn of(&mut self, kind: Kind) -> &mut AHashSet<Bytes> {
        match kind {
            Kind::Plain => &mut self.channels,
            Kind::Sharded => &mut self.sharded,
        }
    }

    /// The channels of one namespace, for UNSUBSCRIBE without arguments.
    pub fn clone_of(&self, kind: Kind) -> Vec<Bytes> {
        match kind {
            Kind::Plain => self.channels.iter().cloned().collect(),
            Kind::Sharded => self.sharded.iter().cloned().collect(),
        }
    }
}

/// How many subscribers each shard has (to one channel or one pattern); shards with none
/// are left out.
#[derive(Default, Debug)]
struct Interest(Vec<(usize, u32)>);

impl Interest {
    fn add(&mut self, shard: usize, delta: i32) {
        match self.0.iter().position(|(s, _)| *s == shard) {
            Some(i) => {
                let n = (self.0[i].1 as i64 + delta as i64).max(0) as u32;
                if n == 0 {
                    self.0.swap_remove(i);
                } else {
                    self.0[i].1 = n;
                }
            }
            None if delta > 0 => self.0.push((shard, delta as u32)),
            None => {}
        }
    }

    fn total(&self) -> i64 {
        self.0.iter().map(|(_, n)| *n as i64).sum()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One shard's part of Pub/Sub.
#[derive(Default)]
pub struct PubSub {
    /// This shard's subscribers, by namespace and channel, in subscription order.
    listeners: [AHashMap<Bytes, Vec<Rc<ClientInfo>>>; 2],
    /// This shard's pattern subscribers.
    pattern_listeners: AHashMap<Bytes, Vec<Rc<ClientInfo>>>,
    /// For the channels this shard owns: every shard's count of subscribers.
    owned: [AHashMap<Bytes, Interest>; 2],
    /// Every shard's count of subscribers to every pattern (the same on every shard).
    patterns: AHashMap<Bytes, Interest>,
    /// The PUBLISHes of this shard's clients waiting for other shards' deliveries, by id.
    tallies: AHashMap<u64, Tally>,
    /// Every shard's count of its clients' subscriptions to channels and patterns (not
    /// sharded channels), this one's kept here: keyspace events go only where someone listens.
    listening: Arc<[AtomicUsize]>,
    /// This shard's place in `listening`.
    id: usize,
}

/// A message on its way to the shards with subscribers.
pub struct Message {
    kind: Kind,
    channel: Bytes,
    payload: Bytes,
    /// The patterns the channel matched on its owner.
    patterns: Vec<Bytes>,
    /// Where each shard reports how many subscribers it delivered to: the publisher's shard,
    /// its tally's id, and this message's place among the tally's.
    report_to: Option<(usize, u64, usize)>,
}

/// The receivers of a run of PUBLISHes, each message's reported by the shards it reached.
#[derive(Default)]
pub struct Tally {
    received: Vec<i64>,
    reports: usize,
    waker: Option<std::task::Waker>,
}

impl PubSub {
    pub fn new(id: usize, listening: Arc<[AtomicUsize]>) -> PubSub {
        PubSub {
            id,
            listening,
            ..PubSub::default()
        }
    }

    fn count_listening(&self, kind: Kind, up: bool) {
        if kind == Kind::Sharded {
            return;
        }
        let slot = &self.listening[self.id];
        if up {
            slot.fetch_add(1, Relaxed);
        } else {
            slot.fetch_sub(1, Relaxed);
        }
    }

    /// Lists `client` as subscribed to `channel` here.
    pub fn listen(&mut self, kind: Kind, channel: Bytes, client: Rc<ClientInfo>) {
        self.count_listening(kind, true);
        self.listeners[kind as usize]
            .entry(channel)
            .or_default()
            .push(client);
    }

    /// Takes client `id` off `channel`'s list here.
    pub fn unlisten(&mut self, kind: Kind, channel: &[u8], id: u64) {
        let map = &mut self.listeners[kind as usize];
        let Some(list) = map.get_mut(channel) else {
            return;
        };
        let before = list.len();
        list.retain(|c| c.id != id);
        let gone = list.len() < before;
        if list.is_empty() {
            map.remove(channel);
        }
        if gone {
            self.count_listening(kind, false);
        }
    }

    pub fn listen_pattern(&mut self, pattern: Bytes, client: Rc<ClientInfo>) {
        self.count_listening(Kind::Plain, true);
        self.pattern_listeners
            .entry(pattern)
            .or_default()
            .push(client);
    }

    pub fn unlisten_pattern(&mut self, pattern: &[u8], id: u64) {
        let Some(list) = self.pattern_listeners.get_mut(pattern) else {
            return;
        };
        let before = list.len();
        list.retain(|c| c.id != id);
        let gone = list.len() < before;
        if list.is_empty() {
            self.pattern_listeners.remove(pattern);
        }
        if gone {
            self.count_listening(Kind::Plain, false);
        }
    }

    /// Takes client `id` off every list here that `subs` names (it left, or RESET).
    pub fn unlisten_all(&mut self, subs: &Subscriptions, id: u64) {
        for channel in &subs.channels {
            self.unlisten(Kind::Plain, channel, id);
        }
        for channel in &subs.sharded {
            self.unlisten(Kind::Sharded, channel, id);
        }
        for pattern in &subs.patterns {
            self.unlisten_pattern(pattern, id);
        }
    }

    /// On a channel's owner: `shard` has `delta` more (or fewer) subscribers to `channel`.
    pub fn count_channel(&mut self, kind: Kind, channel: Bytes, shard: usize, delta: i32) {
        let map = &mut self.owned[kind as usize];
        let interest = map.entry(channel.clone()).or_default();
        interest.add(shard, delta);
        if interest.is_empty() {
            map.remove(&channel);
        }
    }

    /// On every shard: `shard` has `delta` more (or fewer) subscribers to `pattern`.
    pub fn count_pattern(&mut self, pattern: Bytes, shard: usize, delta: i32) {
        let interest = self.patterns.entry(pattern.clone()).or_default();
        interest.add(shard, delta);
        if interest.is_empty() {
            self.patterns.remove(&pattern);
        }
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: the channels this shard owns that have subscribers,
    /// matching `pattern` if given.
    pub fn owned_channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.owned[kind as usize]
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB on the channel's owner.
    pub fn subscribers(&self, kind: Kind, channel: &[u8]) -> i64 {
        self.owned[kind as usize]
            .get(channel)
            .map_or(0, Interest::total)
    }

    /// PUBSUB NUMPAT: patterns with at least one subscriber anywhere.
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }

    /// Opens the tally of `messages` PUBLISHes from this shard.
    pub fn open_tally(&mut self, id: u64, messages: usize) {
        let tally = Tally {
            received: vec![0; messages],
            ..Tally::default()
        };
        self.tallies.insert(id, tally);
    }

    /// A shard delivered messages of tally `id`: (place, subscribers) for each.
    fn report(&mut self, id: u64, received: &[(usize, i64)]) {
        if let Some(t) = self.tallies.get_mut(&id) {
            for &(at, n) in received {
                t.received[at] += n;
            }
            t.reports += 1;
            if let Some(w) = t.waker.take() {
                w.wake();
            }
        }
    }

    /// Each message's receivers once `expected` shards reported; registers `cx` otherwise.
    pub fn poll_tally(
        &mut self,
        id: u64,
        expected: usize,
        cx: &std::task::Context<'_>,
    ) -> std::task::Poll<Vec<i64>> {
        let Some(t) = self.tallies.get_mut(&id) else {
            return std::task::Poll::Ready(Vec::new());
        };
        if t.reports >= expected {
            let received = std::mem::take(&mut t.received);
            self.tallies.remove(&id);
            return std::task::Poll::Ready(received);
        }
        t.waker = Some(cx.waker().clone());
        std::task::Poll::Pending
    }

    pub fn close_tally(&mut self, id: u64) {
        self.tallies.remove(&id);
    }

    /// INFO's pubsub_channels / pubsubshard_channels: this shard's share.
    pub fn owned_count(&self, kind: Kind) -> usize {
        self.owned[kind as usize].len()
    }
}

/// A run of PUBLISH / SPUBLISH on their channels' owner (this shard), in order: delivers
/// here, and leaves one message for each other shard with subscribers carrying every message
/// of the run it must deliver, so that a pipeline of publications wakes each subscriber once.
/// Returns how many subscribers (channel and pattern subscriptions each counted) each message
/// reached here, and how many other shards will report theirs to `report_to`'s tally.
pub fn publish_run(
    data: &mut ShardData,
    run: Vec<(Kind, Bytes, Bytes)>,
    report_to: Option<(usize, u64)>,
) -> (Vec<i64>, usize) {
    let mut here = vec![0; run.len()];
    let mut elsewhere: Vec<(usize, Vec<Arc<Message>>)> = Vec::new();
    for (at, (kind, channel, payload)) in run.into_iter().enumerate() {
        let ps = &data.pubsub;
        let mut shards: Vec<usize> = Vec::new();
        if let Some(interest) = ps.owned[kind as usize].get(&channel) {
            shards.extend(interest.0.iter().map(|(s, _)| *s));
        }
        let mut patterns = Vec::new();
        if kind == Kind::Plain {
            for (pattern, interest) in &ps.patterns {
                if glob_match(pattern, &channel, false) {
                    shards.extend(interest.0.iter().map(|(s, _)| *s));
                    patterns.push(pattern.clone());
                }
            }
        }
        if shards.is_empty() {
            continue;
        }
        shards.sort_unstable();
        shards.dedup();
        let message = Arc::new(Message {
            kind,
            channel,
            payload,
            patterns,
            report_to: report_to.map(|(shard, id)| (shard, id, at)),
        });
        for shard in shards {
            if shard == data.id {
                here[at] = deliver(data, &message);
            } else {
                match elsewhere.iter_mut().find(|(s, _)| *s == shard) {
                    Some((_, list)) => list.push(message.clone()),
                    None => elsewhere.push((shard, vec![message.clone()])),
                }
            }
        }
    }
    let shards = elsewhere.len();
    for (shard, messages) in elsewhere {
        data.outgoing.push((
            shard,
            Box::new(move |data| deliver_run(data, &messages, report_to)),
        ));
    }
    (here, shards)
}

/// Delivers a run of messages from one owner here, and reports what each reached.
fn deliver_run(data: &mut ShardData, messages: &[Arc<Message>], report_to: Option<(usize, u64)>) {
    let received: Vec<(usize, i64)> = messages
        .iter()
        .map(|m| {
            let at = m.report_to.map_or(0, |(_, _, at)| at);
            (at, deliver(data, m))
        })
        .collect();
    if let Some((to, id)) = report_to {
        if to == data.id {
            data.pubsub.report(id, &received);
        } else {
            data.outgoing
                .push((to, Box::new(move |data| data.pubsub.report(id, &received))));
        }
    }
}

/// Hands `message` to this shard's subscribers, the channel's first, then each matching
/// pattern's, as Redis orders them; returns how many got it.
fn deliver(data: &mut ShardData, message: &Message) -> i64 {
    let ps = &data.pubsub;
    let mut received = 0;
    let mut rendered = Rendered::default();
    if let Some(list) = ps.listeners[message.kind as usize].get(&message.channel) {
        for client in list {
            let bytes = rendered.get(client.resp.get() == 3, || {
                vec![
                    message.kind.message_word(),
                    &message.channel,
                    &message.payload,
                ]
            });
            data.push(client, &bytes);
            received += 1;
        }
    }
    for pattern in &message.patterns {
        let Some(list) = ps.pattern_listeners.get(pattern) else {
            continue;
        };
        let mut rendered = Rendered::default();
        for client in list {
            let bytes = rendered.get(client.resp.get() == 3, || {
                vec![b"pmessage", pattern, &message.channel, &message.payload]
            });
            data.push(client, &bytes);
            received += 1;
        }
    }
    received
}

/// Publishes the keyspace events this thread queued (`db::notify`), in the order they
/// happened: all of them in one message to each shard whose clients subscribe to anything,
/// which matches them against its own subscribers. Unlike a PUBLISH, an event does not pass
/// through its channel's owner: a command cannot wait for that, and going straight keeps each
/// shard's events in their order (a key's `__keyspace` message before its `__keyevent` one,
/// as Redis sends them), so every key's events reach every subscriber in order. What is not
/// kept is one order across shards: events of keys on two shards, both on one
/// `__keyevent@<db>__:<event>` channel, may interleave differently for subscribers on
/// different shards.
pub fn publish_events(data: &mut ShardData) {
    let events = notify::take();
    let listening = data.pubsub.listening.clone();
    let shards: Vec<usize> = (0..listening.len())
        .filter(|&s| listening[s].load(Relaxed) > 0)
        .collect();
    if shards.is_empty() {
        return;
    }
    let enabled = notify::enabled();
    let messages: Arc<Vec<(Bytes, Bytes)>> = Arc::new(
        events
            .iter()
            .flat_map(|e| notify::messages(e, enabled))
            .collect(),
    );
    for shard in shards {
        if shard == data.id {
            deliver_events(data, &messages);
        } else {
            let messages = messages.clone();
            data.outgoing
                .push((shard, Box::new(move |data| deliver_events(data, &messages))));
        }
    }
}

/// Hands keyspace event messages to this shard's subscribers, channel and pattern.
fn deliver_events(data: &mut ShardData, messages: &[(Bytes, Bytes)]) {
    for (channel, payload) in messages {
        let patterns = data
            .pubsub
            .pattern_listeners
            .keys()
            .filter(|p| glob_match(p, channel, false))
            .cloned()
            .collect();
        let message = Message {
            kind: Kind::Plain,
            channel: channel.clone(),
            payload: payload.clone(),
            patterns,
            report_to: None,
        };
        deliver(data, &message);
    }
}

/// A message rendered once per protocol, however many subscribers get it.
#[derive(Default)]
struct Rendered {
    resp2: Option<Bytes>,
    resp3: Option<Bytes>,
}

impl Rendered {
    fn get<'a>(&mut self, resp3: bool, parts: impl FnOnce() -> Vec<&'a [u8]>) -> Bytes {
        let slot = if resp3 {
            &mut self.resp3
        } else {
            &mut self.resp2
        };
        slot.get_or_insert_with(|| {
            let push = Frame::Push(
                parts()
                    .into_iter()
                    .map(|p| Frame::Bulk(Bytes::copy_from_slice(p)))
                    .collect(),
            );
            let mut out = BytesMut::new();
            push.write(&mut out, resp3);
            out.freeze()
        })
        .clone()
    }
}

/// Registers `client`'s subscriptions' removal everywhere after it left or RESET, without
/// waiting: nothing it could observe depends on it any more.
pub fn forget_client(node: &Rc<crate::shard::Node>, client: &Rc<ClientInfo>) {
    let subs = std::mem::take(&mut *client.subs.borrow_mut());
    if !subs.active() {
        return;
    }
    let me = node.id;
    node.data.borrow_mut().pubsub.unlisten_all(&subs, client.id);
    for (kind, set) in [(Kind::Plain, subs.channels), (Kind::Sharded, subs.sharded)] {
        for channel in set {
            let owner = crate::slot::key_owner(&channel, node.shards);
            node.post(owner, move |data| {
                data.pubsub.count_channel(kind, channel, me, -1)
            });
        }
    }
    for pattern in subs.patterns {
        for shard in 0..node.shards {
            let pattern = pattern.clone();
            node.post(shard, move |data| {
                data.pubsub.count_pattern(pattern, me, -1)
            });
        }
    }
}

/// The subscriptions of a client, shared by its connection and its shard's lists.
pub type SharedSubscriptions = RefCell<Subscriptions>;
