//! Waiting for data: the client side of blocking commands (BLPOP, BLMOVE, BZPOPMIN...).
//!
//! [`block_on`] is the whole journey of a blocking command: register on each key's shard in
//! argument order (a shard that already has data serves at once), then wait for a reply, the
//! timeout, CLIENT UNBLOCK, or the client leaving. The serving side, and why every element is
//! delivered exactly once, is in [`crate::shard::blocking`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::flags::*;
use super::list::{move_elem, mpop, parse_end, parse_mpop, pop_elems};
use super::propagate::{self, Rule};
use super::zset::{self, PopShape};
use super::{boxed, keys, Args, CmdError, Command, Ctx, Run, SessionFuture, Table};
use crate::cmd::route::{run_keyed, run_where};
use crate::cmd::session::Session;
use crate::db::now_ms;
use crate::resp::Frame;
use crate::shard::blocking::{self, BlockState, Delivery, Registration, ServeFn, Waiter};
use crate::shard::{Node, ShardData};
use crate::slot::key_owner;
use crate::types::blob::Blob;
use crate::types::list::End;
use crate::types::longdouble;

pub static COMMANDS: &[Command] = &[
    Command::new("blpop", -3, Run::Session(blpop))
        .propagates(Rule::Own(propagate::blocked))
        .flags(&[WRITE, NOSCRIPT, BLOCKING])
        .acl(&["@write", "@list", "@slow", "@blocking"])
        .keys(keys(1, -2, 1)),
    Command::new("brpop", -3, Run::Session(brpop))
        .propagates(Rule::Own(propagate::blocked))
        .flags(&[WRITE, NOSCRIPT, BLOCKING])
        .acl(&["@write", "@list", "@slow", "@blocking"])
        .keys(keys(1, -2, 1)),
    Command::new("blmove", 6, Run::Session(blmove))
        .propagates(Rule::Own(propagate::blocked))
        .flags(&[WRITE, DENYOOM, NOSCRIPT, BLOCKING])
        .acl(&["@write", "@list", "@slow", "@blocking"])
        .keys(keys(1, 2, 1)),
    Command::new("brpoplpush", 4, Run::Session(brpoplpush))
        .propagates(Rule::Own(propagate::blocked))
        .flags(&[WRITE, DENYOOM, NOSCRIPT, BLOCKING])
        .acl(&["@write", "@list", "@slow", "@blocking"])
        .keys(keys(1, 2, 1)),
    Command::new("blmpop", -5, Run::Session(blmpop))
        .propagates(Rule::Own(propagate::blocked))
        .flags(&[WRITE, BLOCKING, MOVABLEKEYS])
        .acl(&["@write", "@list", "@slow", "@blocking"]),
    Command::new("bzpopmin", -3, Run::Session(bzpopmin))
        .propagates(Rule::Own(propagate::blocked))
        .flags(&[WRITE, NOSCRIPT, BLOCKING, FAST])
        .acl(&["@write", "@sortedset", "@fast", "@blocking"])
        .keys(keys(1, -2, 1)),
    Command::new("bzpopmax", -3, Run::Session(bzpopmax))
        .propagates(Rule::Own(propagate::blocked))
        .flags(&[WRITE, NOSCRIPT, BLOCKING, FAST])
        .acl(&["@write", "@sortedset", "@fast", "@blocking"])
        .keys(keys(1, -2, 1)),
    Command::new("bzmpop", -5, Run::Session(bzmpop))
        .propagates(Rule::Own(propagate::blocked))
        .flags(&[WRITE, BLOCKING, MOVABLEKEYS])
        .acl(&["@write", "@sortedset", "@slow", "@blocking"]),
];

// --- The blocking list commands: parse, then wait with the serving half of the command. ---

fn blpop(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(pop_any(s, args, serve_lpop, "list"))
}

fn brpop(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(pop_any(s, args, serve_rpop, "list"))
}

/// BLPOP, BRPOP, BZPOPMIN, BZPOPMAX: key [key ...] timeout, served by `serve` from the first
/// key holding a `wants`.
async fn pop_any(s: &mut Session, args: Args, serve: ServeFn, wants: &'static str) -> Frame {
    let timeout_ms = match parse_timeout(&args[args.len() - 1]) {
        Ok(t) => t,
        Err(e) => return e.into(),
    };
    let block = Block {
        keys: (1..args.len() - 1).collect(),
        timeout_ms,
        serve,
        wants,
        moves: None,
    };
    block_on(s, args, block).await
}

fn serve_lpop(ctx: &mut Ctx, key: &Bytes, _args: &[Bytes]) -> Result<Option<Frame>, CmdError> {
    serve_pop(ctx, key, End::Head)
}

fn serve_rpop(ctx: &mut Ctx, key: &Bytes, _args: &[Bytes]) -> Result<Option<Frame>, CmdError> {
    serve_pop(ctx, key, End::Tail)
}

/// BLPOP's reply: the key and one element.
fn serve_pop(ctx: &mut Ctx, key: &Bytes, end: End) -> Result<Option<Frame>, CmdError> {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(pop_elems(db, stats, now, key, end, 1)?
        .and_then(|mut popped| popped.pop())
        .map(|e| Frame::Array(vec![Frame::Bulk(key.clone()), Frame::Bulk(e)])))
}

fn blmove(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(move_any(s, args))
}

fn brpoplpush(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(move_any(s, args))
}

/// BLMOVE and BRPOPLPUSH: wait on the source; the move runs as LMOVE would.
async fn move_any(s: &mut Session, args: Args) -> Frame {
    let (from, to) = match move_ends(&args) {
        Ok(ends) => ends,
        Err(e) => return e.into(),
    };
    let timeout_ms = match parse_timeout(&args[args.len() - 1]) {
        Ok(t) => t,
        Err(e) => return e.into(),
    };
    let side = |e: End| Bytes::from_static(if e == End::Head { b"LEFT" } else { b"RIGHT" });
    let lmove = vec![
        Bytes::from_static(b"LMOVE"),
        args[1].clone(),
        args[2].clone(),
        side(from),
        side(to),
    ];
    let block = Block {
        keys: vec![1],
        timeout_ms,
        serve: serve_move,
        wants: "list",
        moves: Some((2, lmove)),
    };
    block_on(s, args, block).await
}

/// BLMOVE's and BRPOPLPUSH's move from the ready source `key`, as LMOVE does it.
fn serve_move(ctx: &mut Ctx, key: &Bytes, args: &[Bytes]) -> Result<Option<Frame>, CmdError> {
    let (from, to) = move_ends(args)?;
    let (now, fill) = (ctx.now, ctx.ks.limits.list_max_listpack_size);
    let (db, stats) = ctx.db();
    Ok(move_elem(db, stats, now, key, &args[2], from, to, fill)?.map(Frame::Bulk))
}

/// BLMOVE names its ends; BRPOPLPUSH is BLMOVE ... RIGHT LEFT.
fn move_ends(args: &[Bytes]) -> Result<(End, End), CmdError> {
    if args.len() == 6 {
        Ok((parse_end(&args[3])?, parse_end(&args[4])?))
    } else {
        Ok((End::Tail, End::Head))
    }
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count].
fn blmpop(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let timeout_ms = match parse_timeout(&args[1]) {
            Ok(t) => t,
            Err(e) => return e.into(),
        };
        let keys = match parse_mpop(&args, 2) {
            Ok((keys, _, _)) => 3..3 + keys.len(),
            Err(e) => return e.into(),
        };
        let block = Block {
            keys: keys.collect(),
            timeout_ms,
            serve: serve_mpop,
            wants: "list",
            moves: None,
        };
        block_on(s, args, block).await
    })
}

fn serve_mpop(ctx: &mut Ctx, key: &Bytes, args: &[Bytes]) -> Result<Option<Frame>, CmdError> {
    let (_, end, count) = parse_mpop(args, 2)?;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    mpop(db, stats, now, std::slice::from_ref(key), end, count)
}

// --- The blocking sorted set commands. ---

fn bzpopmin(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(pop_any(s, args, serve_zpopmin, "zset"))
}

fn bzpopmax(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(pop_any(s, args, serve_zpopmax, "zset"))
}

fn serve_zpopmin(ctx: &mut Ctx, key: &Bytes, _args: &[Bytes]) -> Result<Option<Frame>, CmdError> {
    zset::pop_reply(ctx, key, zset::End::Min, 1, PopShape::Single)
}

fn serve_zpopmax(ctx: &mut Ctx, key: &Bytes, _args: &[Bytes]) -> Result<Option<Frame>, CmdError> {
    zset::pop_reply(ctx, key, zset::End::Max, 1, PopShape::Single)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count].
fn bzmpop(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let timeout_ms = match parse_timeout(&args[1]) {
            Ok(t) => t,
            Err(e) => return e.into(),
        };
        let keys = match zset::parse_zmpop(&args, 2) {
            Ok((keys, _, _)) => keys,
            Err(e) => return e.into(),
        };
        let block = Block {
            keys: keys.collect(),
            timeout_ms,
            serve: serve_zmpop,
            wants: "zset",
            moves: None,
        };
        block_on(s, args, block).await
    })
}

fn serve_zmpop(ctx: &mut Ctx, key: &Bytes, args: &[Bytes]) -> Result<Option<Frame>, CmdError> {
    let (_, end, count) = zset::parse_zmpop(args, 2)?;
    zset::pop_reply(ctx, key, end, count, PopShape::Multi)
}

/// What a blocking command waits for and how it is served.
pub struct Block {
    /// Positions of the keys to wait on, in the order they are tried.
    pub keys: Vec<usize>,
    /// Milliseconds; 0 waits forever.
    pub timeout_ms: u64,
    pub serve: ServeFn,
    /// The type a key must hold to serve the command.
    pub wants: &'static str,
    /// For a move (BLMOVE, BRPOPLPUSH): where the destination key is, and the non-blocking
    /// command (LMOVE's arguments) that performs the move when the two keys are on different
    /// shards.
    pub moves: Option<(usize, Args)>,
}

/// Parses a timeout argument in seconds (decimals allowed) with Redis's errors.
pub fn parse_timeout(arg: &[u8]) -> Result<u64, CmdError> {
    match longdouble::timeout_ms(arg) {
        None => Err(CmdError::err("timeout is not a float or out of range")),
        Some(ms) if ms < 0 => Err(CmdError::err("timeout is negative")),
        Some(ms) if ms > 0 && ms > i64::MAX - now_ms() as i64 => {
            Err(CmdError::err("timeout is out of range"))
        }
        Some(ms) => Ok(ms as u64),
    }
}

/// Ends a wait that is abandoned (timeout, CLIENT UNBLOCK, the connection dropping the
/// command): no shard may serve it afterwards, and the waiters it left are cleaned up.
struct Registered {
    node: std::rc::Rc<Node>,
    state: Arc<BlockState>,
    db: usize,
    keys: Vec<(usize, Bytes)>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.state.end();
        self.node
            .data
            .borrow_mut()
            .blocking
            .remove_client(self.state.id);
        let db = self.db;
        for (shard, key) in std::mem::take(&mut self.keys) {
            let node = self.node.clone();
            crate::shard::task::spawn(async move {
                node.run_on(shard, Vec::new(), move |data: &mut ShardData| {
                    blocking::prune(&mut data.blocking, &mut data.ks, db, &key)
                })
                .await
            })
            .detach();
        }
    }
}

/// A cross-shard move claimed for this client: the source's other waiters wait until it is
/// dropped (the move done, or abandoned because the client left), then get their look.
struct MoveClaim {
    node: std::rc::Rc<Node>,
    shard: usize,
    db: usize,
    key: Bytes,
}

impl Drop for MoveClaim {
    fn drop(&mut self) {
        let (db, key) = (self.db, std::mem::take(&mut self.key));
        self.node
            .post(self.shard, move |data| data.ks.dbs[db].mark_ready(&key));
    }
}

/// Runs a blocking command to its reply.
pub async fn block_on(s: &mut Session, args: Args, block: Block) -> Frame {
    if s.tx.is_some() {
        return serve_now(s, &args, &block).await;
    }
    let args = Arc::new(args);
    // One deadline for the whole command, however many times a cross-shard move retries.
    let deadline = (block.timeout_ms > 0)
        .then(|| std::time::Instant::now() + Duration::from_millis(block.timeout_ms));
    loop {
        match block_once(s, &args, &block, deadline).await {
            Outcome::Reply(reply) => return reply,
            Outcome::Retry { shard, db, key } => {
                // Claimed for a move across shards: do it atomically through the
                // transaction layer, then let the source's next waiter have a look.
                let claim = MoveClaim {
                    node: s.node.clone(),
                    shard,
                    db,
                    key,
                };
                let reply = run_move(s, &block).await;
                drop(claim);
                if !matches!(reply, Frame::Null) {
                    return reply;
                }
                // Someone else took the element first: wait again.
            }
        }
    }
}

/// What the AOF logs for a blocking command served with `reply`: its non-blocking form.
fn served_records(args: &[Bytes], reply: &Frame) -> Vec<Vec<Bytes>> {
    match crate::cmd::propagate::blocked_served(args, reply) {
        crate::cmd::propagate::Propagation::Rewritten(records) => records,
        _ => Vec::new(),
    }
}

/// Runs a blocking move's non-blocking form (LMOVE) through the transaction layer.
async fn run_move(s: &mut Session, block: &Block) -> Frame {
    let (_, lmove) = block.moves.as_ref().expect("only moves retry");
    let cmd = Table::get()
        .lookup(&lmove[0])
        .expect("the move's command exists");
    let super::Run::Keyed(f) = cmd.run else {
        unreachable!("LMOVE is a keyed command")
    };
    run_keyed(&s.node, s.tx.clone(), s.at(), cmd, f, None, lmove.clone()).await
}

/// A blocking command inside EXEC behaves as its non-blocking form, as in Redis: served from
/// the first of its keys that holds something, or at once a null reply (a null bulk for the
/// moves, as LMOVE's; a null array for the others, as their timeout's).
async fn serve_now(s: &mut Session, args: &Args, block: &Block) -> Frame {
    let db = s.db;
    let dest_owner = block
        .moves
        .as_ref()
        .map(|(p, _)| key_owner(&args[*p], s.node.shards));
    for &p in &block.keys {
        let key = args[p].clone();
        let shard = key_owner(&key, s.node.shards);
        if dest_owner.is_some_and(|d| d != shard) {
            return run_move(s, block).await;
        }
        let (serve, wants, client_args) = (block.serve, block.wants, args.clone());
        let served = run_where(&s.node, s.tx.as_ref(), shard, Vec::new(), move |data| {
            let now = now_ms();
            let (d, stats) = data.ks.db(db);
            match d
                .lookup_untouched(&key, now, stats)
                .map(|e| e.value.type_name())
            {
                None => None,
                Some(t) if t != wants => Some(Frame::from(CmdError::WrongType)),
                Some(_) => {
                    let mut ctx = Ctx {
                        ks: &mut data.ks,
                        db,
                        now,
                    };
                    let reply = match serve(&mut ctx, &key, &client_args) {
                        Ok(Some(reply)) => reply,
                        Ok(None) => return None,
                        Err(e) => e.into(),
                    };
                    if !reply.is_error() {
                        let records = served_records(&client_args, &reply);
                        data.aof.record_all(&mut data.ks, db, &records);
                        blocking::touch_served(&mut data.ks, db, &key, &client_args);
                    }
                    Some(reply)
                }
            }
        })
        .await;
        if let Some(reply) = served {
            return reply;
        }
    }
    if block.moves.is_some() {
        Frame::Null
    } else {
        Frame::NullArray
    }
}

enum Outcome {
    Reply(Frame),
    Retry { shard: usize, db: usize, key: Bytes },
}

async fn block_once(
    s: &mut Session,
    args: &Arc<Args>,
    block: &Block,
    deadline: Option<std::time::Instant>,
) -> Outcome {
    let node = s.node.clone();
    let db = s.db;
    let state = Arc::new(BlockState::new(node.id, node.fresh_id()));
    let delivered =
        node.data
            .borrow_mut()
            .blocking
            .add_client(s.info.id, state.clone(), deadline.is_some());
    let mut registered = Registered {
        node: node.clone(),
        state: state.clone(),
        db,
        keys: Vec::new(),
    };
    let dest_owner = block
        .moves
        .as_ref()
        .map(|(p, _)| key_owner(&args[*p], node.shards));
    for &p in &block.keys {
        let key = args[p].clone();
        let shard = key_owner(&key, node.shards);
        let waiter = Waiter {
            state: state.clone(),
            db,
            args: args.clone(),
            serve: block.serve,
            log: served_records,
            wants: block.wants,
            retry_elsewhere: dest_owner.is_some_and(|d| d != shard),
            also_writes: block
                .moves
                .as_ref()
                .filter(|_| dest_owner == Some(shard))
                .map(|(p, _)| args[*p].clone()),
        };
        let mut lock = vec![(db as u32, Blob::new(&key))];
        if let Some(dst) = &waiter.also_writes {
            lock.push((db as u32, Blob::new(dst)));
        }
        let (k, k2, client_args) = (key.clone(), key.clone(), args.clone());
        let outcome = node
            .run_on(shard, lock, move |data: &mut ShardData| {
                let now = now_ms();
                let outcome = blocking::register(&mut data.blocking, &mut data.ks, now, k, waiter);
                if let Registration::Served(reply) = &outcome {
                    if !reply.is_error() {
                        let records = served_records(&client_args, reply);
                        data.aof.record_all(&mut data.ks, db, &records);
                    }
                    if !reply.is_error() {
                        blocking::touch_served(&mut data.ks, db, &k2, &client_args);
                    }
                }
                outcome
            })
            .await;
        registered.keys.push((shard, key.clone()));
        match outcome {
            Registration::Served(reply) | Registration::Failed(reply) => {
                return Outcome::Reply(reply)
            }
            Registration::Retry => return Outcome::Retry { shard, db, key },
            Registration::Queued | Registration::Skipped => {}
        }
    }
    s.info.blocked.set(true);
    let blocked_since = std::time::Instant::now();
    let delivery = if let Some(deadline) = deadline {
        let timeout = crate::shard::timer::sleep(
            deadline.saturating_duration_since(std::time::Instant::now()),
        );
        let mut delivered = std::pin::pin!(delivered);
        match futures_lite::future::or(async { Some(delivered.as_mut().await) }, async {
            timeout.await;
            None
        })
        .await
        {
            Some(d) => d,
            // Timed out, unless a shard claimed the client at the same moment: its reply is
            // on the way, and its element already taken, so wait for it.
            None if state.end() => Some(Delivery::TimedOut),
            None => delivered.await,
        }
    } else {
        delivered.await
    };
    s.info.blocked.set(false);
    s.blocked_nanos += blocked_since.elapsed().as_nanos() as u64;
    drop(registered);
    match delivery {
        Some(Delivery::Reply(reply)) => Outcome::Reply(reply),
        Some(Delivery::Error(err)) => Outcome::Reply(err),
        Some(Delivery::Retry { shard, db, key }) => Outcome::Retry { shard, db, key },
        // Every blocking command times out with a null array (BLMOVE too, unlike LMOVE's
        // null bulk).
        Some(Delivery::TimedOut) | None => Outcome::Reply(Frame::NullArray),
    }
}
