//! Pub/Sub commands: SUBSCRIBE and PUBLISH with their pattern and sharded forms, and PUBSUB.
//!
//! Where subscribers are listed and how a message reaches every shard is
//! [`crate::shard::pubsub`]'s. Here a subscription is made in three steps, in this order: the
//! client is listed on its own shard, its confirmation is queued in its outbox, then every
//! channel's owner (every shard, for a pattern) counts it before the command returns. No
//! message can therefore reach the client before the confirmation of its subscription, and a
//! PUBLISH that starts after the confirmation was read reaches the client.

use bytes::Bytes;

use super::flags::*;
use super::{boxed, keys, Args, Command, Run, SessionFuture};
use crate::cmd::session::Session;
use crate::resp::Frame;
use crate::shard::pubsub::{publish_run, Kind};
use crate::shard::{Node, ShardData};
use crate::slot::key_owner;

pub static COMMANDS: &[Command] = &[
    Command::new("subscribe", -2, Run::Session(subscribe))
        .flags(&[PUBSUB, NOSCRIPT, LOADING, STALE])
        .acl(&["@pubsub", "@slow"]),
    Command::new("unsubscribe", -1, Run::Session(unsubscribe))
        .flags(&[PUBSUB, NOSCRIPT, LOADING, STALE])
        .acl(&["@pubsub", "@slow"]),
    Command::new("psubscribe", -2, Run::Session(psubscribe))
        .flags(&[PUBSUB, NOSCRIPT, LOADING, STALE])
        .acl(&["@pubsub", "@slow"]),
    Command::new("punsubscribe", -1, Run::Session(punsubscribe))
        .flags(&[PUBSUB, NOSCRIPT, LOADING, STALE])
        .acl(&["@pubsub", "@slow"]),
    Command::new("publish", 3, Run::Session(publish_cmd))
        .flags(&[PUBSUB, LOADING, STALE, FAST])
        .acl(&["@pubsub", "@fast"]),
    Command::new("ssubscribe", -2, Run::Session(ssubscribe))
        .flags(&[PUBSUB, NOSCRIPT, LOADING, STALE])
        .acl(&["@pubsub", "@slow"])
        .keys(keys(1, -1, 1)),
    Command::new("sunsubscribe", -1, Run::Session(sunsubscribe))
        .flags(&[PUBSUB, NOSCRIPT, LOADING, STALE])
        .acl(&["@pubsub", "@slow"])
        .keys(keys(1, -1, 1)),
    Command::new("spublish", 3, Run::Session(spublish))
        .flags(&[PUBSUB, LOADING, STALE, FAST])
        .acl(&["@pubsub", "@fast"])
        .keys(keys(1, 1, 1)),
    Command::new("pubsub", -2, Run::Session(pubsub_help))
        .acl(&["@slow"])
        .subs(PUBSUB_SUBCOMMANDS),
];

static PUBSUB_SUBCOMMANDS: &[Command] = &[
    Command::new("pubsub|channels", -2, Run::Session(pubsub_channels))
        .flags(&[PUBSUB, LOADING, STALE])
        .acl(&["@pubsub", "@slow"]),
    Command::new("pubsub|numsub", -2, Run::Session(pubsub_numsub))
        .flags(&[PUBSUB, LOADING, STALE])
        .acl(&["@pubsub", "@slow"]),
    Command::new("pubsub|numpat", 2, Run::Session(pubsub_numpat))
        .flags(&[PUBSUB, LOADING, STALE])
        .acl(&["@pubsub", "@slow"]),
    Command::new(
        "pubsub|shardchannels",
        -2,
        Run::Session(pubsub_shardchannels),
    )
    .flags(&[PUBSUB, LOADING, STALE])
    .acl(&["@pubsub", "@slow"]),
    Command::new("pubsub|shardnumsub", -2, Run::Session(pubsub_shardnumsub))
        .flags(&[PUBSUB, LOADING, STALE])
        .acl(&["@pubsub", "@slow"]),
    Command::new("pubsub|help", 2, Run::Session(pubsub_help))
        .flags(&[LOADING, STALE])
        .acl(&["@slow"]),
];

/// The commands a RESP2 client may send while subscribed: the rest would be replies it could
/// not tell apart from messages.
pub fn allowed_while_subscribed(cmd: &Command) -> bool {
    matches!(
        cmd.name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// What a command that answered only with pushes returns: its confirmations are already in
/// the client's outbox, where they keep their order with the messages that follow them.
fn pushed() -> Frame {
    Frame::Encoded(Bytes::new())
}

fn subscribe(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(subscribe_channels(s, Kind::Plain, args))
}

fn ssubscribe(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(subscribe_channels(s, Kind::Sharded, args))
}

fn unsubscribe(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(unsubscribe_channels(s, Kind::Plain, args))
}

fn sunsubscribe(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(unsubscribe_channels(s, Kind::Sharded, args))
}

fn words(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Plain => ("subscribe", "unsubscribe"),
        Kind::Sharded => ("ssubscribe", "sunsubscribe"),
    }
}

/// The count a confirmation carries: channels and patterns, or sharded channels.
fn count(s: &Session, kind: Kind) -> i64 {
    let subs = s.info.subs.borrow();
    match kind {
        Kind::Plain => subs.count() as i64,
        Kind::Sharded => subs.sharded.len() as i64,
    }
}

/// Queues one confirmation in the client's outbox.
fn confirm(s: &Session, word: &'static str, name: Option<&Bytes>, count: i64) {
    let frame = Frame::Push(vec![
        Frame::bulk_str(word),
        name.map_or(Frame::Null, |n| Frame::Bulk(n.clone())),
        Frame::Integer(count),
    ]);
    frame.write(&mut s.info.outbox.buffer(), s.resp3);
}

async fn subscribe_channels(s: &mut Session, kind: Kind, args: Args) -> Frame {
    // Inside EXEC, as Redis refuses a client that must get one reply per command; plain
    // SUBSCRIBE keeps working there for compatibility, as in Redis.
    if kind == Kind::Sharded && s.tx.is_some() {
        return Frame::error("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
    }
    let mut fresh = Vec::new();
    for channel in &args[1..] {
        let new = s.info.subs.borrow_mut().of(kind).insert(channel.clone());
        if new {
            let mut data = s.node.data.borrow_mut();
            data.pubsub.listen(kind, channel.clone(), s.info.clone());
            fresh.push(channel.clone());
        }
        confirm(s, words(kind).0, Some(channel), count(s, kind));
    }
    count_at_owners(&s.node, kind, fresh, 1).await;
    pushed()
}

async fn unsubscribe_channels(s: &mut Session, kind: Kind, args: Args) -> Frame {
    let word = words(kind).1;
    let named: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        s.info.subs.borrow().clone_of(kind)
    };
    if named.is_empty() {
        confirm(s, word, None, count(s, kind));
    }
    let mut gone = Vec::new();
    for channel in named {
        let was = s.info.subs.borrow_mut().of(kind).remove(&channel);
        if was {
            let mut data = s.node.data.borrow_mut();
            data.pubsub.unlisten(kind, &channel, s.info.id);
        }
        confirm(s, word, Some(&channel), count(s, kind));
        if was {
            gone.push(channel);
        }
    }
    count_at_owners(&s.node, kind, gone, -1).await;
    pushed()
}

fn psubscribe(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let mut fresh = Vec::new();
        for pattern in &args[1..] {
            let new = {
                let mut subs = s.info.subs.borrow_mut();
                let new = !subs.patterns.contains(pattern);
                if new {
                    subs.patterns.push(pattern.clone());
                }
                new
            };
            if new {
                let mut data = s.node.data.borrow_mut();
                data.pubsub.listen_pattern(pattern.clone(), s.info.clone());
                fresh.push(pattern.clone());
            }
            confirm(s, "psubscribe", Some(pattern), count(s, Kind::Plain));
        }
        count_patterns(&s.node, fresh, 1).await;
        pushed()
    })
}

fn punsubscribe(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let named: Vec<Bytes> = if args.len() > 1 {
            args[1..].to_vec()
        } else {
            s.info.subs.borrow().patterns.clone()
        };
        if named.is_empty() {
            confirm(s, "punsubscribe", None, count(s, Kind::Plain));
        }
        let mut gone = Vec::new();
        for pattern in named {
            let was = {
                let mut subs = s.info.subs.borrow_mut();
                let at = subs.patterns.iter().position(|p| *p == pattern);
                at.map(|i| subs.patterns.remove(i)).is_some()
            };
            if was {
                let mut data = s.node.data.borrow_mut();
                data.pubsub.unlisten_pattern(&pattern, s.info.id);
            }
            confirm(s, "punsubscribe", Some(&pattern), count(s, Kind::Plain));
            if was {
                gone.push(pattern);
            }
        }
        count_patterns(&s.node, gone, -1).await;
        pushed()
    })
}

/// Tells each channel's owner that this shard has `delta` more subscribers to it, one
/// message per owner, and waits until all have counted.
async fn count_at_owners(node: &std::rc::Rc<Node>, kind: Kind, channels: Vec<Bytes>, delta: i32) {
    if channels.is_empty() {
        return;
    }
    let me = node.id;
    let mut by_owner: Vec<Vec<Bytes>> = vec![Vec::new(); node.shards];
    for channel in channels {
        by_owner[key_owner(&channel, node.shards)].push(channel);
    }
    let jobs = by_owner
        .into_iter()
        .enumerate()
        .filter(|(_, list)| !list.is_empty())
        .map(|(owner, list)| {
            (owner, move |data: &mut ShardData| {
                for channel in list {
                    data.pubsub.count_channel(kind, channel, me, delta);
                }
            })
        })
        .collect();
    node.run_on_each(jobs).await;
}

/// Tells every shard that this one has `delta` more subscribers to each pattern, and waits
/// until all have counted.
async fn count_patterns(node: &std::rc::Rc<Node>, patterns: Vec<Bytes>, delta: i32) {
    if patterns.is_empty() {
        return;
    }
    let me = node.id;
    node.broadcast(move |data| {
        for pattern in &patterns {
            data.pubsub.count_pattern(pattern.clone(), me, delta);
        }
    })
    .await;
}

/// RESET: leaves every channel and pattern without confirmations, as Redis does.
pub async fn leave_all(s: &mut Session) {
    let subs = std::mem::take(&mut *s.info.subs.borrow_mut());
    if !subs.active() {
        return;
    }
    s.node
        .data
        .borrow_mut()
        .pubsub
        .unlisten_all(&subs, s.info.id);
    let channels = subs.channels.into_iter().collect();
    count_at_owners(&s.node, Kind::Plain, channels, -1).await;
    let sharded = subs.sharded.into_iter().collect();
    count_at_owners(&s.node, Kind::Sharded, sharded, -1).await;
    count_patterns(&s.node, subs.patterns, -1).await;
}

fn publish_cmd(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move { publish_one(s, Kind::Plain, args).await })
}

fn spublish(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move { publish_one(s, Kind::Sharded, args).await })
}

async fn publish_one(s: &mut Session, kind: Kind, args: Args) -> Frame {
    let publication = (kind, args[1].clone(), args[2].clone());
    let mut replies = publish_all(&s.node, vec![publication]).await;
    replies.pop().expect("one reply per publication")
}

/// The namespace a publishing command's row publishes in (its name may be renamed away).
pub fn kind_of(cmd: &Command) -> Kind {
    if cmd.name == "spublish" {
        Kind::Sharded
    } else {
        Kind::Plain
    }
}

/// Publishes a run of PUBLISH / SPUBLISH requests whose channels share an owner, in order,
/// as one job on that owner (which delivers them everywhere), and answers each with how many
/// subscribers the shards it reached delivered it to. A pipeline's consecutive publications
/// come here together (`net::dispatch::batchable_publish`). Each is its namespace, channel
/// and message.
pub async fn publish_all(node: &std::rc::Rc<Node>, run: Vec<(Kind, Bytes, Bytes)>) -> Vec<Frame> {
    let owner = key_owner(&run[0].1, node.shards);
    let tally = Tally::open(node, run.len());
    let report_to = Some((node.id, tally.id));
    let (here, elsewhere) = node
        .run_on(owner, Vec::new(), move |data| {
            publish_run(data, run, report_to)
        })
        .await;
    let there = tally.wait(elsewhere).await;
    here.iter()
        .enumerate()
        .map(|(i, n)| Frame::Integer(n + there.get(i).copied().unwrap_or(0)))
        .collect()
}

/// The wait for the other shards' deliveries of a run of PUBLISHes; forgets the tally if
/// dropped.
struct Tally<'a> {
    node: &'a std::rc::Rc<Node>,
    id: u64,
}

impl<'a> Tally<'a> {
    fn open(node: &'a std::rc::Rc<Node>, messages: usize) -> Tally<'a> {
        let id = node.fresh_id();
        node.data.borrow_mut().pubsub.open_tally(id, messages);
        Tally { node, id }
    }

    async fn wait(&self, shards: usize) -> Vec<i64> {
        std::future::poll_fn(|cx| {
            self.node
                .data
                .borrow_mut()
                .pubsub
                .poll_tally(self.id, shards, cx)
        })
        .await
    }
}

impl Drop for Tally<'_> {
    fn drop(&mut self) {
        self.node.data.borrow_mut().pubsub.close_tally(self.id);
    }
}

fn pubsub_channels(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(channel_list(s, Kind::Plain, args))
}

fn pubsub_shardchannels(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(channel_list(s, Kind::Sharded, args))
}

async fn channel_list(s: &mut Session, kind: Kind, args: Args) -> Frame {
    if args.len() > 3 {
        let mut text = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
        text.extend_from_slice(&args[1]);
        text.extend_from_slice(b"'. Try PUBSUB HELP.");
        return Frame::error_bytes(text);
    }
    let pattern = args.get(2).cloned();
    let lists = s
        .node
        .broadcast(move |data| data.pubsub.owned_channels(kind, pattern.as_deref()))
        .await;
    Frame::Array(lists.into_iter().flatten().map(Frame::Bulk).collect())
}

fn pubsub_numsub(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(subscriber_counts(s, Kind::Plain, args))
}

fn pubsub_shardnumsub(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(subscriber_counts(s, Kind::Sharded, args))
}

/// Each channel with its subscriber count, from the channels' owners.
async fn subscriber_counts(s: &mut Session, kind: Kind, args: Args) -> Frame {
    let channels: Vec<Bytes> = args[2..].to_vec();
    let shards = s.node.shards;
    let wanted = channels.clone();
    let counts = s
        .node
        .broadcast(move |data| {
            wanted
                .iter()
                .map(|c| {
                    if key_owner(c, shards) == data.id {
                        data.pubsub.subscribers(kind, c)
                    } else {
                        0
                    }
                })
                .collect::<Vec<i64>>()
        })
        .await;
    let mut out = Vec::with_capacity(channels.len() * 2);
    for (i, channel) in channels.into_iter().enumerate() {
        out.push(Frame::Bulk(channel));
        out.push(Frame::Integer(counts.iter().map(|c| c[i]).sum()));
    }
    Frame::Array(out)
}

fn pubsub_numpat(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Integer(s.node.data.borrow().pubsub.pattern_count() as i64) })
}

fn pubsub_help(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        super::help_reply(
            "pubsub",
            &[
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
            ],
        )
    })
}
