//! One client connection: read, parse every complete request, run each in order, write the
//! replies back in as few writes as possible.
//!
//! Replies are produced in request order because requests are executed one after another; a
//! request for another shard is awaited before the next one starts, so pipelined replies can
//! never overtake each other. The one exception is a run of consecutive single-shard reads,
//! which goes out as one hop per shard (reads may run in any order against each other, and
//! no write is ever reordered against anything); their replies are still written in request
//! order. All replies produced from one read are written with one write.
//!
//! The socket is read and written through the shard's io_uring driver ([`crate::shard::uring`]), which
//! submits this connection's receive or send together with every other connection's.

use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::Poll;
use std::time::Instant;

use bytes::BytesMut;

use crate::cmd::route::Read;
use crate::cmd::session::{ReplyMode, Session};
use crate::cmd::{Args, Command, KeyedFn};
use crate::net::dispatch::{
    batchable_publish, batchable_read, execute, execute_publishes, execute_reads,
};
use crate::resp::parse::{ProtocolError, RequestParser};
use crate::resp::Frame;
use crate::shard::clients::{client_class, ClientInfo};
use crate::shard::uring::{Socket, UringStream};
use crate::shard::Node;

/// Free room guaranteed in the input buffer before each read.
const READ_CHUNK: usize = 16 * 1024;

pub async fn serve(node: Rc<Node>, mut stream: UringStream) {
    // Admission first, as Redis: a client past `maxclients`, or from outside the loopback
    // interface while protected mode guards a server without a password, hears why and is
    // closed.
    let connected = node.global.clients.fetch_add(1, Relaxed);
    let config = node.global.config.snapshot();
    let local = is_local(stream.socket());
    let refusal: Option<&[u8]> = if connected >= config.maxclients() as usize {
        Some(b"-ERR max number of clients reached\r\n")
    } else if config.protected_mode() && node.global.requirepass().is_none() && !local {
        Some(PROTECTED)
    } else {
        None
    };
    if let Some(refusal) = refusal {
        node.global.clients.fetch_sub(1, Relaxed);
        node.data.borrow_mut().stats.rejected_connections += 1;
        stream.write(&mut BytesMut::from(refusal));
        let _ = stream.flush().await;
        return;
    }
    serve_admitted(&node, &mut stream, local).await;
    node.global.clients.fetch_sub(1, Relaxed);
}

/// Redis's refusal in protected mode, word for word (its "a an" included).
const PROTECTED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Whether the peer is this host as Redis's `islocalClient` decides (protected mode, the
/// `local` setting of `enable-debug-command`): a Unix socket client, or one from 127.0.0.1 or
/// ::1 exactly (other 127.x addresses are not), an IPv4 client on a dual-stack socket included.
fn is_local(sock: &Socket) -> bool {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let Some(tcp) = sock.tcp() else {
        return true;
    };
    match tcp.peer_addr().map(|a| a.ip()) {
        Ok(IpAddr::V4(ip)) => ip == Ipv4Addr::LOCALHOST,
        Ok(IpAddr::V6(ip)) => {
            ip == Ipv6Addr::LOCALHOST || ip.to_ipv4_mapped() == Some(Ipv4Addr::LOCALHOST)
        }
        Err(_) => false,
    }
}

async fn serve_admitted(node: &Rc<Node>, stream: &mut UringStream, local: bool) {
    let sock = stream.socket();
    if let Some(tcp) = sock.tcp() {
        let _ = tcp.set_nodelay(true);
        keep_alive(tcp, node.global.config.snapshot().tcp_keepalive_secs());
    }
    let info = Rc::new(ClientInfo {
        id: node.global.next_client_id(),
        addr: sock.peer(),
        laddr: sock.local(),
        fd: std::os::fd::AsRawFd::as_raw_fd(sock),
        local,
        unix: sock.tcp().is_none(),
        created: Instant::now(),
        last_active: std::cell::Cell::new(Instant::now()),
        name: Default::default(),
        db: Default::default(),
        resp: std::cell::Cell::new(2),
        last_cmd: std::cell::Cell::new("NULL"),
        no_evict: Default::default(),
        killed: Default::default(),
        query_buf: Default::default(),
        blocked: Default::default(),
        multi: std::cell::Cell::new(-1),
        unsent: stream.unsent(),
        soft_limit_since: Default::default(),
        output_peak: Default::default(),
        outbox: stream.outbox(),
        subs: Default::default(),
        monitor: Default::default(),
        tracking: Default::default(),
    });
    {
        let mut data = node.data.borrow_mut();
        data.clients.add(info.clone());
        data.stats.total_connections += 1;
    }
    let mut session = Session::new(node.clone(), info.clone());
    let _ = run(&mut session, stream).await;
    crate::shard::pubsub::forget_client(node, &info);
    crate::shard::introspect::stop_monitor(node, info.id);
    crate::shard::tracking::disable(node, &info);
    // Writes only queue their sends; the last replies (QUIT's +OK, a protocol error) must
    // leave before the socket closes. A killed client's replies are dropped, as Redis drops
    // them.
    if !info.killed.get() {
        let _ = stream.flush().await;
    }
    node.data.borrow_mut().clients.remove(info.id);
}

/// `tcp-keepalive`: probes after `interval` seconds of silence, then every third of it, three
/// times, as Redis's anetKeepAlive sets them; 0 leaves the socket as the kernel made it.
fn keep_alive(sock: &std::net::TcpStream, interval: u32) {
    if interval == 0 {
        return;
    }
    let interval = u64::from(interval);
    let params = socket2::TcpKeepalive::new()
        .with_time(std::time::Duration::from_secs(interval))
        .with_interval(std::time::Duration::from_secs((interval / 3).max(1)))
        .with_retries(3);
    // A socket that refuses keepalive still serves; Redis only logs this.
    let _ = socket2::SockRef::from(sock).set_tcp_keepalive(&params);
}

async fn run(s: &mut Session, stream: &mut UringStream) -> std::io::Result<()> {
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = BytesMut::with_capacity(READ_CHUNK);
    // One parser per connection: it remembers how far an unfinished request got, so a huge
    // request arriving in pieces is scanned once, not once per piece.
    let mut parser = RequestParser::new();
    loop {
        // Room for what arrived: copied out of the driver's receive buffers, or received
        // straight into this buffer when the driver falls back to a one-shot receive.
        input.reserve(READ_CHUNK.max(parser.missing(input.len())));
        let n = stream.read(&mut input).await?;
        {
            let stats = &mut s.node.data.borrow_mut().stats;
            stats.reads_processed += 1;
            stats.net_input_bytes += n as u64;
        }
        if n == 0 || s.info.killed.get() {
            return Ok(());
        }
        s.info.last_active.set(crate::db::clock::last());
        let limits = s.node.global.limits();
        // Requests parsed ahead while gathering reads, to be handled next in order, each with
        // whether it may still start a batch.
        let mut ahead: VecDeque<(Parsed, bool)> = VecDeque::new();
        loop {
            // CLIENT LIST's `qbuf`: as in Redis, a request's own bytes count while it runs.
            let mut request_len = 0;
            let (parsed, may_batch) = match ahead.pop_front() {
                Some(parsed) => parsed,
                None => {
                    // Until a client authenticates, Redis caps request sizes much lower.
                    parser.set_auth_required(!s.authenticated);
                    let before = input.len();
                    let parsed = parser.parse(&mut input, &limits);
                    request_len = before.saturating_sub(input.len());
                    (parsed, true)
                }
            };
            match parsed {
                Ok(Some(args)) => {
                    if args.is_empty() {
                        continue;
                    }
                    // Messages that came in since the last command go before this one's reply;
                    // those that come while it runs, after (see `send`).
                    s.info.outbox.drain_into(&mut output);
                    // Consecutive reads go to their shards together: one hop per shard.
                    let read = may_batch.then(|| batchable_read(s, &args)).flatten();
                    if let Some(read) = read {
                        let (reads, next) = gather_reads(s, &mut parser, &mut input, read, args);
                        let here = s.node.id;
                        if reads.len() > 1 && reads.iter().any(|r| r.0 != here) {
                            if !run_reads_in_rounds(s, reads, &mut output).await {
                                return Ok(());
                            }
                        } else {
                            // All on this shard: the usual way is inline, and cheaper.
                            ahead.extend(reads.into_iter().map(|r| (Ok(Some(r.3)), false)));
                        }
                        ahead.extend(next.map(|next| (next, true)));
                        continue;
                    }
                    // Consecutive publications to one owner go there together: one job.
                    let publish = may_batch.then(|| batchable_publish(s, &args)).flatten();
                    if let Some((owner, cmd)) = publish {
                        let (run, next) =
                            gather_publishes(s, &mut parser, &mut input, owner, cmd, args);
                        for reply in execute_publishes(s, run).await {
                            write_reply(s, reply, &mut output);
                            if over_output_limit(s, &output) {
                                return Ok(());
                            }
                        }
                        ahead.extend(next.map(|next| (next, true)));
                        continue;
                    }
                    s.info.query_buf.set(request_len + input.len());
                    // A subscriber hears its own publication before PUBLISH's reply, as from
                    // Redis: every shard has delivered it by the time PUBLISH answers.
                    let own_message_first = s.info.subs.borrow().active()
                        && crate::cmd::Table::get()
                            .lookup(&args[0])
                            .is_some_and(|c| matches!(c.name, "publish" | "spublish"));
                    let reply = execute_watching(s, args, stream, &mut input, &mut output).await;
                    let Some(reply) = reply else {
                        // The client left while blocked.
                        return Ok(());
                    };
                    let early = std::mem::take(&mut s.early_pushes);
                    if own_message_first {
                        s.info.outbox.drain_into(&mut output);
                    } else if early > 0 {
                        s.info.outbox.drain_front_into(early, &mut output);
                    }
                    write_reply(s, reply, &mut output);
                    if over_output_limit(s, &output) {
                        return Ok(());
                    }
                    if s.close {
                        send(s, stream, &mut output).await;
                        return Ok(());
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let refusal = Frame::error(e.0);
                    // Counted in INFO errorstats like any error reply, as in Redis.
                    crate::cmd::route::account_rejected(s, None, &refusal);
                    refusal.write(&mut output, s.resp3);
                    send(s, stream, &mut output).await;
                    return Ok(());
                }
            }
        }
        s.info.query_buf.set(input.len());
        // Like Redis, the replies to everything one read brought leave together, after the
        // last of them: a limit is checked against all of them before any is sent.
        send(s, stream, &mut output).await;
    }
}

/// Runs a batch of reads, in as many rounds as their replies' budget takes, writing each
/// round's replies in request order as far as they go. False when the client was closed
/// for its output limit.
async fn run_reads_in_rounds(s: &mut Session, reads: Vec<Read>, output: &mut BytesMut) -> bool {
    let mut replies: Vec<Option<Frame>> = (0..reads.len()).map(|_| None).collect();
    let mut pending: Vec<(usize, Read)> = reads.into_iter().enumerate().collect();
    let mut written = 0;
    while !pending.is_empty() {
        let (done, rest) = execute_reads(s, pending).await;
        pending = rest;
        for (i, reply) in done {
            replies[i] = Some(reply);
        }
        while let Some(reply) = replies.get_mut(written).and_then(Option::take) {
            write_reply(s, reply, output);
            if over_output_limit(s, output) {
                return false;
            }
            written += 1;
        }
    }
    true
}

/// Checks the client's pending replies (sent to the socket or not) against its class's
/// output buffer limit, closing it when they are past; true then.
fn over_output_limit(s: &Session, output: &BytesMut) -> bool {
    let pending = output.len() + s.info.unsent.get();
    let limit = s.node.global.obuf_limit(client_class(&s.info));
    if !s
        .info
        .over_output_limit(pending, limit, crate::db::clock::last())
    {
        return false;
    }
    s.info.close_for_output_limit();
    true
}

/// What the parser made of the next request.
type Parsed = Result<Option<Args>, ProtocolError>;

/// The most requests one batch (of reads, or of publications) carries, so that a long
/// pipeline's replies start leaving early.
const MAX_BATCH: usize = 128;

/// Parses the requests after `first` for as long as they are reads that may join its batch
/// (`dispatch::batchable_read`). Returns the batch and the request that ended it, if any:
/// the next to handle, parsed or failed.
fn gather_reads(
    s: &Session,
    parser: &mut RequestParser,
    input: &mut BytesMut,
    first: (usize, &'static Command, KeyedFn),
    args: Args,
) -> (Vec<Read>, Option<Parsed>) {
    let limits = s.node.global.limits();
    let mut reads = vec![(first.0, first.1, first.2, args)];
    while reads.len() < MAX_BATCH {
        match parser.parse(input, &limits) {
            Ok(Some(args)) if args.is_empty() => continue,
            Ok(Some(args)) => match batchable_read(s, &args) {
                Some((shard, cmd, f)) => reads.push((shard, cmd, f, args)),
                None => return (reads, Some(Ok(Some(args)))),
            },
            Ok(None) => break,
            other => return (reads, Some(other)),
        }
    }
    (reads, None)
}

/// Parses the requests after a publication for as long as they are publications to channels
/// of the same owner (`dispatch::batchable_publish`). Returns the run and the request that
/// ended it, if any.
fn gather_publishes(
    s: &Session,
    parser: &mut RequestParser,
    input: &mut BytesMut,
    owner: usize,
    cmd: &'static Command,
    args: Args,
) -> (Vec<(&'static Command, Args)>, Option<Parsed>) {
    let limits = s.node.global.limits();
    let mut run = vec![(cmd, args)];
    while run.len() < MAX_BATCH {
        match parser.parse(input, &limits) {
            Ok(Some(args)) if args.is_empty() => continue,
            Ok(Some(args)) => match batchable_publish(s, &args) {
                Some((o, cmd)) if o == owner => run.push((cmd, args)),
                _ => return (run, Some(Ok(Some(args)))),
            },
            Ok(None) => break,
            other => return (run, Some(other)),
        }
    }
    (run, None)
}

/// Runs one command. While it is blocked (BLPOP...), the replies before it are sent and the
/// socket is watched: input that arrives meanwhile is kept in `input`, and if the client
/// goes away the command is dropped, which ends its wait. `None` then. Other commands are
/// never interrupted: a command that spans shards must finish once started.
async fn execute_watching(
    s: &mut Session,
    args: crate::cmd::Args,
    stream: &mut UringStream,
    input: &mut BytesMut,
    output: &mut BytesMut,
) -> Option<Frame> {
    let info = s.info.clone();
    let node = s.node.clone();
    let mut exec = std::pin::pin!(execute(s, args));
    let reply = std::future::poll_fn(|cx| match exec.as_mut().poll(cx) {
        Poll::Ready(reply) => Poll::Ready(Some(reply)),
        Poll::Pending if info.blocked.get() => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    })
    .await;
    if reply.is_some() {
        return reply;
    }
    // Blocked: the client hears the replies before this one while it waits, as from Redis,
    // and its messages meanwhile.
    info.outbox.drain_into(output);
    send_from(&node, stream, output).await;
    let mut closed = std::pin::pin!(stream.closed(input));
    let mut gone = false;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(reply) = exec.as_mut().poll(cx) {
            return Poll::Ready(Some(reply));
        }
        if info.blocked.get() && !gone && closed.as_mut().poll(cx).is_ready() {
            gone = true;
        }
        if gone && info.blocked.get() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Hands the pending replies to the socket (the stream takes the buffer and leaves an empty
/// one), counting them for INFO's total_net_output_bytes. Messages pushed to the client while
/// its last command ran follow that command's reply: a message never overtakes the reply to
/// a command that ran before it was delivered.
async fn send(s: &Session, stream: &mut UringStream, output: &mut BytesMut) {
    s.info.outbox.drain_into(output);
    send_from(&s.node, stream, output).await
}

async fn send_from(node: &Rc<Node>, stream: &mut UringStream, output: &mut BytesMut) {
    if output.is_empty() {
        return;
    }
    if node.global.aof.always() {
        // Nothing leaves before what it may reflect is on disk.
        crate::shard::aof::settle(node).await;
    }
    {
        let stats = &mut node.data.borrow_mut().stats;
        stats.writes_processed += 1;
        stats.net_output_bytes += output.len() as u64;
    }
    stream.write(output);
}

fn write_reply(s: &mut Session, reply: Frame, out: &mut BytesMut) {
    match (s.reply_mode, reply) {
        // A reply written out already becomes the output buffer itself when it is the
        // first: a big range goes to the socket without being copied.
        (ReplyMode::On, Frame::Encoded(bytes)) if out.is_empty() => match bytes.try_into_mut() {
            Ok(bytes) => *out = bytes,
            Err(bytes) => out.extend_from_slice(&bytes),
        },
        (ReplyMode::On, reply) => reply.write(out, s.resp3),
        (ReplyMode::Off, _) => {}
        // CLIENT REPLY SKIP itself is not replied to; the command after it is skipped.
        (ReplyMode::SkipNext, _) => s.reply_mode = ReplyMode::Skipping,
        (ReplyMode::Skipping, _) => s.reply_mode = ReplyMode::On,
    }
}
