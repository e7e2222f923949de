//! Connection commands: the handshake (HELLO, AUTH), database selection, CLIENT.
//!
//! These act on the connection's own [`Session`]; CLIENT LIST and CLIENT KILL reach the other
//! shards' connections by broadcast, since each shard keeps the registry of its own clients.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;

use super::args::{is, parse_int, ArgCursor};
use super::flags::*;
use super::keyspace::db_index;
use super::{boxed, Args, CmdError, Command, Run, SessionFuture};
use crate::cmd::session::{ReplyMode, Session};
use crate::db::now_ms;
use crate::resp::Frame;
use crate::shard::blocking::Delivery;
use crate::shard::clients::client_class;
use tessera_core::config::ClientClass;

pub static COMMANDS: &[Command] = &[
    Command::new("ping", -1, Run::Session(ping))
        .flags(&[FAST])
        .acl(&["@fast", "@connection"]),
    Command::new("echo", 2, Run::Session(echo))
        .flags(&[LOADING, STALE, FAST])
        .acl(&["@fast", "@connection"]),
    Command::new("hello", -1, Run::Session(hello))
        .flags(&[NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY])
        .acl(&["@fast", "@connection"]),
    Command::new("auth", -2, Run::Session(auth))
        .flags(&[NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY])
        .acl(&["@fast", "@connection"]),
    Command::new("select", 2, Run::Session(select))
        .flags(&[LOADING, STALE, FAST])
        .acl(&["@fast", "@connection"]),
    Command::new("quit", -1, Run::Session(quit))
        .flags(&[NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY])
        .acl(&["@fast", "@connection"]),
    Command::new("reset", 1, Run::Session(reset))
        .flags(&[NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY])
        .acl(&["@fast", "@connection"]),
    Command::new("client", -2, Run::Session(ping))
        .acl(&["@slow"])
        .subs(CLIENT_SUBCOMMANDS),
];

static CLIENT_SUBCOMMANDS: &[Command] = &[
    Command::new("client|id", 2, Run::Session(client_id))
        .flags(&[NOSCRIPT, LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("client|setname", 3, Run::Session(client_setname))
        .flags(&[NOSCRIPT, LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("client|getname", 2, Run::Session(client_getname))
        .flags(&[NOSCRIPT, LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("client|list", -2, Run::Session(client_list))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(&["@admin", "@slow", "@dangerous", "@connection"]),
    Command::new("client|info", 2, Run::Session(client_info))
        .flags(&[NOSCRIPT, LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("client|kill", -3, Run::Session(client_kill))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(&["@admin", "@slow", "@dangerous", "@connection"]),
    Command::new("client|unblock", -3, Run::Session(client_unblock))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(&["@admin", "@slow", "@dangerous", "@connection"]),
    Command::new("client|pause", -3, Run::Session(client_pause))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(&["@admin", "@slow", "@dangerous", "@connection"]),
    Command::new("client|unpause", 2, Run::Session(client_unpause))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(&["@admin", "@slow", "@dangerous", "@connection"]),
    Command::new("client|reply", 3, Run::Session(client_reply))
        .flags(&[NOSCRIPT, LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("client|no-evict", 3, Run::Session(client_no_evict))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(&["@admin", "@slow", "@dangerous", "@connection"]),
    Command::new("client|tracking", -3, Run::Session(client_tracking))
        .flags(&[NOSCRIPT, LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("client|getredir", 2, Run::Session(client_getredir))
        .flags(&[NOSCRIPT, LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("client|trackinginfo", 2, Run::Session(client_trackinginfo))
        .flags(&[NOSCRIPT, LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("client|caching", 3, Run::Session(client_caching))
        .flags(&[NOSCRIPT, LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("client|help", 2, Run::Session(client_help))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"]),
];

fn ping(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        // A subscribed RESP2 client could not tell a plain PONG from a message's parts.
        if args.len() <= 2 && !s.resp3 && s.info.subs.borrow().active() {
            let message = args.get(1).cloned().unwrap_or_default();
            return Frame::Array(vec![Frame::bulk_str("pong"), Frame::Bulk(message)]);
        }
        match args.len() {
            1 => Frame::simple("PONG"),
            2 => Frame::Bulk(args[1].clone()),
            _ => super::wrong_arity(
                super::Table::get()
                    .lookup(b"ping")
                    .expect("ping is in the table"),
            ),
        }
    })
}

fn echo(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Bulk(args[1].clone()) })
}

/// Checks a password for the default user against `requirepass`.
fn check_password(s: &Session, user: Option<&[u8]>, pass: &[u8]) -> bool {
    let user_ok = user.is_none_or(|u| u == b"default");
    match s.node.global.requirepass() {
        Some(p) => user_ok && p.as_ref() == pass,
        // Without requirepass the default user accepts any password (`nopass`).
        None => user_ok,
    }
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn auth(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if args.len() > 3 {
            return CmdError::Syntax.into();
        }
        if args.len() == 2 && s.node.global.requirepass().is_none() {
            return Frame::error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        }
        let (user, pass) = if args.len() == 3 {
            (Some(&args[1][..]), &args[2])
        } else {
            (None, &args[1])
        };
        if check_password(s, user, pass) {
            s.authenticated = true;
            Frame::ok()
        } else {
            Frame::error(WRONGPASS)
        }
    })
}

fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

const BAD_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

fn hello(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let mut resp3 = s.resp3;
        let mut c = ArgCursor::new(&args, 1);
        if let Some(v) = c.peek() {
            c.next().ok();
            match parse_int(v) {
                Ok(2) => resp3 = false,
                Ok(3) => resp3 = true,
                Ok(_) => return Frame::error("NOPROTO unsupported protocol version"),
                Err(_) => {
                    return Frame::error("ERR Protocol version is not an integer or out of range")
                }
            }
        }
        let mut credentials = None;
        let mut name = None;
        while let Some(opt) = c.peek() {
            c.next().ok();
            if is(opt, "auth") && c.remaining() >= 2 {
                let user = c.next().expect("two remain").clone();
                let pass = c.next().expect("two remain").clone();
                credentials = Some((user, pass));
            } else if is(opt, "setname") && c.remaining() >= 1 {
                name = Some(c.next().expect("one remains").clone());
            } else {
                return Frame::error(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(opt)
                ));
            }
        }
        if let Some((user, pass)) = credentials {
            if !check_password(s, Some(&user), &pass) {
                return Frame::error(WRONGPASS);
            }
            s.authenticated = true;
        }
        if !s.authenticated {
            return Frame::error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        }
        if let Some(name) = name {
            if !valid_client_name(&name) {
                return Frame::error(BAD_NAME);
            }
            *s.info.name.borrow_mut() = (!name.is_empty()).then_some(name);
        }
        s.resp3 = resp3;
        s.info.resp.set(if resp3 { 3 } else { 2 });
        Frame::Map(vec![
            (Frame::bulk_str("server"), Frame::bulk_str("redis")),
            (
                Frame::bulk_str("version"),
                Frame::bulk_str(crate::REDIS_VERSION),
            ),
            (
                Frame::bulk_str("proto"),
                Frame::Integer(if resp3 { 3 } else { 2 }),
            ),
            (Frame::bulk_str("id"), Frame::Integer(s.info.id as i64)),
            (Frame::bulk_str("mode"), Frame::bulk_str("standalone")),
            (Frame::bulk_str("role"), Frame::bulk_str("master")),
            (Frame::bulk_str("modules"), Frame::Array(vec![])),
        ])
    })
}

fn select(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        match db_index(&args[1], s.node.global.databases) {
            Ok(db) => {
                s.select(db);
                Frame::ok()
            }
            Err(e) => e.into(),
        }
    })
}

fn quit(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        s.close = true;
        Frame::ok()
    })
}

fn reset(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        crate::cmd::multi::end_multi(s);
        crate::cmd::pubsub::leave_all(s).await;
        crate::cmd::introspect::leave_monitor(s);
        crate::shard::tracking::disable(&s.node, &s.info);
        s.select(0);
        s.resp3 = false;
        s.info.resp.set(2);
        s.reply_mode = ReplyMode::On;
        *s.info.name.borrow_mut() = None;
        s.info.no_evict.set(false);
        s.authenticated = s.node.global.requirepass().is_none();
        Frame::simple("RESET")
    })
}

fn client_id(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Integer(s.info.id as i64) })
}

fn client_setname(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if !valid_client_name(&args[2]) {
            return Frame::error(BAD_NAME);
        }
        *s.info.name.borrow_mut() = (!args[2].is_empty()).then(|| args[2].clone());
        Frame::ok()
    })
}

fn client_getname(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        match s.info.name.borrow().clone() {
            Some(n) => Frame::Bulk(n),
            None => Frame::Null,
        }
    })
}

fn client_info(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Verbatim("txt", Bytes::from(s.info.describe() + "\n")) })
}

fn client_list(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let mut ids: Option<Vec<u64>> = None;
        let mut class = None;
        let mut c = ArgCursor::new(&args, 2);
        while !c.done() {
            if c.eat("type") {
                match c.next().map(|t| client_type(t)) {
                    Ok(Ok(t)) => class = Some(t),
                    Ok(Err(e)) => return e,
                    Err(e) => return e.into(),
                }
            } else if c.eat("id") {
                let mut list = Vec::new();
                while let Some(a) = c.peek() {
                    match parse_int(a) {
                        Ok(n) if n > 0 => list.push(n as u64),
                        _ => return Frame::error("ERR Invalid client ID"),
                    }
                    c.next().ok();
                }
                if list.is_empty() {
                    return CmdError::Syntax.into();
                }
                ids = Some(list);
            } else {
                return CmdError::Syntax.into();
            }
        }
        let lines = s
            .node
            .broadcast(move |data| {
                data.clients
                    .iter()
                    .filter(|c| ids.as_ref().is_none_or(|ids| ids.contains(&c.id)))
                    .filter(|c| class.is_none_or(|class| Some(client_class(c)) == class))
                    .map(|c| (c.id, c.describe()))
                    .collect::<Vec<_>>()
            })
            .await;
        let mut all: Vec<(u64, String)> = lines.into_iter().flatten().collect();
        all.sort_by_key(|(id, _)| *id);
        let mut text = String::new();
        for (_, line) in all {
            text.push_str(&line);
            text.push('\n');
        }
        Frame::Verbatim("txt", Bytes::from(text))
    })
}

/// The filters of CLIENT KILL's new form.
#[derive(Clone, Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    skip_id: Option<u64>,
    /// `None` inside: a type no client has yet (replicas).
    class: Option<Option<ClientClass>>,
}

/// CLIENT LIST and CLIENT KILL's TYPE: the class it names, or `None` for the replication
/// types, which no client has until Tessera replicates.
fn client_type(name: &[u8]) -> Result<Option<ClientClass>, Frame> {
    if is(name, "normal") {
        Ok(Some(ClientClass::Normal))
    } else if is(name, "pubsub") {
        Ok(Some(ClientClass::Pubsub))
    } else if is(name, "master") || is(name, "replica") || is(name, "slave") {
        Ok(None)
    } else {
        Err(Frame::error(format!(
            "ERR Unknown client type '{}'",
            String::from_utf8_lossy(name)
        )))
    }
}

/// Ends a blocked client's wait as if it timed out, or with an error.
fn client_unblock(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if args.len() > 4 {
            return Frame::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(&args[1])
            ));
        }
        let Ok(id) = parse_int(&args[2]) else {
            return CmdError::NotInteger.into();
        };
        let with_error = match args.get(3) {
            None => false,
            Some(a) if is(a, "timeout") => false,
            Some(a) if is(a, "error") => true,
            Some(_) => return Frame::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
        };
        let unblocked = s
            .node
            .broadcast(move |data| {
                data.blocking.unblock(id as u64, || {
                    if with_error {
                        Delivery::Error(Frame::error(
                            "UNBLOCKED client unblocked via CLIENT UNBLOCK",
                        ))
                    } else {
                        Delivery::TimedOut
                    }
                })
            })
            .await;
        Frame::Integer(unblocked.into_iter().any(|u| u) as i64)
    })
}

fn client_kill(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let mut f = KillFilter::default();
        let old_form = args.len() == 3;
        if old_form {
            f.addr = Some(String::from_utf8_lossy(&args[2]).into_owned());
        } else {
            let mut skipme = true;
            let mut c = ArgCursor::new(&args, 2);
            while !c.done() {
                let (Ok(key), Ok(value)) = (c.next(), c.next()) else {
                    return CmdError::Syntax.into();
                };
                let value_str = String::from_utf8_lossy(value).into_owned();
                if is(key, "id") {
                    match parse_int(value) {
                        Ok(n) if n > 0 => f.id = Some(n as u64),
                        _ => return Frame::error("ERR client-id should be greater than 0"),
                    }
                } else if is(key, "addr") {
                    f.addr = Some(value_str);
                } else if is(key, "laddr") {
                    f.laddr = Some(value_str);
                } else if is(key, "skipme") {
                    if is(value, "yes") {
                        skipme = true;
                    } else if is(value, "no") {
                        skipme = false;
                    } else {
                        return CmdError::Syntax.into();
                    }
                } else if is(key, "type") {
                    match client_type(value) {
                        Ok(class) => f.class = Some(class),
                        Err(e) => return e,
                    }
                } else if is(key, "user") {
                    if value.as_ref() != b"default" {
                        return Frame::error(format!("ERR No such user '{}'", value_str));
                    }
                } else {
                    return CmdError::Syntax.into();
                }
            }
            if skipme {
                f.skip_id = Some(s.info.id);
            }
        }
        let me = s.info.id;
        let results = s
            .node
            .broadcast(move |data| {
                let (mut n, mut myself) = (0, false);
                for c in data.clients.iter() {
                    let matches = f.id.is_none_or(|id| id == c.id)
                        && f.addr.as_ref().is_none_or(|a| *a == c.addr)
                        && f.laddr.as_ref().is_none_or(|a| *a == c.laddr)
                        && f.class.is_none_or(|class| class == Some(client_class(c)))
                        && f.skip_id != Some(c.id);
                    if matches {
                        // Killing oneself takes effect after the reply, as in Redis.
                        if c.id == me {
                            myself = true;
                        } else {
                            c.kill();
                        }
                        n += 1;
                    }
                }
                (n, myself)
            })
            .await;
        let killed: usize = results.iter().map(|(n, _)| n).sum();
        if results.iter().any(|(_, myself)| *myself) {
            s.close = true;
        }
        if killed == 0 && old_form {
            return Frame::error("ERR No such client");
        }
        if old_form {
            return Frame::ok();
        }
        Frame::Integer(killed as i64)
    })
}

fn client_pause(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let timeout = match parse_int(&args[2]) {
            Ok(n) if n >= 0 => n as u64,
            Ok(_) => return Frame::error("ERR timeout is negative"),
            Err(_) => return Frame::error("ERR timeout is not an integer or out of range"),
        };
        let writes_only = match args.get(3) {
            None => false,
            Some(m) if is(m, "write") => true,
            Some(m) if is(m, "all") => false,
            Some(_) => return CmdError::Syntax.into(),
        };
        if args.len() > 4 {
            return CmdError::Syntax.into();
        }
        let g = &s.node.global;
        g.pause_writes_only
            .store(writes_only, std::sync::atomic::Ordering::Relaxed);
        g.pause_until_ms
            .store(now_ms() + timeout, std::sync::atomic::Ordering::Relaxed);
        Frame::ok()
    })
}

fn client_unpause(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        s.node
            .global
            .pause_until_ms
            .store(0, std::sync::atomic::Ordering::Relaxed);
        Frame::ok()
    })
}

/// Waits while CLIENT PAUSE is in force for this kind of command.
pub async fn wait_while_paused(s: &Session, is_write: bool) {
    use std::sync::atomic::Ordering::Relaxed;
    let g = &s.node.global;
    loop {
        let until = g.pause_until_ms.load(Relaxed);
        let now = now_ms();
        if until <= now || (g.pause_writes_only.load(Relaxed) && !is_write) {
            return;
        }
        crate::shard::timer::sleep(Duration::from_millis((until - now).min(10))).await;
    }
}

fn client_reply(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let mode = &args[2];
        if is(mode, "on") {
            s.reply_mode = ReplyMode::On;
        } else if is(mode, "off") {
            s.reply_mode = ReplyMode::Off;
        } else if is(mode, "skip") {
            if s.reply_mode == ReplyMode::On {
                s.reply_mode = ReplyMode::SkipNext;
            }
        } else {
            return CmdError::Syntax.into();
        }
        Frame::ok()
    })
}

fn client_no_evict(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if is(&args[2], "on") {
            s.info.no_evict.set(true);
        } else if is(&args[2], "off") {
            s.info.no_evict.set(false);
        } else {
            return CmdError::Syntax.into();
        }
        Frame::ok()
    })
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT] [NOLOOP], with
/// Redis's checks in its order. Who may cache what is remembered by the keys' shards
/// (`db::tracking`); invalidations reach the client through `shard::tracking`.
fn client_tracking(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let mut redirect: Option<(u64, usize)> = None;
        let (mut bcast, mut optin, mut optout, mut noloop) = (false, false, false, false);
        let mut prefixes: Vec<Bytes> = Vec::new();
        let mut i = 3;
        while i < args.len() {
            let more = i + 1 < args.len();
            let a = &args[i];
            if is(a, "redirect") && more {
                i += 1;
                if redirect.is_some() {
                    return Frame::error("ERR A client can only redirect to a single other client");
                }
                let Ok(id) = parse_int(&args[i]) else {
                    return CmdError::NotInteger.into();
                };
                // It must exist now (it may leave later: see broken_redirect). Redis takes
                // REDIRECT 0 as none.
                if id != 0 {
                    let id = id as u64;
                    let found = s
                        .node
                        .broadcast(move |data| data.clients.get(id).is_some())
                        .await;
                    let Some(shard) = found.iter().position(|&here| here) else {
                        return Frame::error(
                            "ERR The client ID you want redirect to does not exist",
                        );
                    };
                    redirect = Some((id, shard));
                }
            } else if is(a, "bcast") {
                bcast = true;
            } else if is(a, "optin") {
                optin = true;
            } else if is(a, "optout") {
                optout = true;
            } else if is(a, "noloop") {
                noloop = true;
            } else if is(a, "prefix") && more {
                i += 1;
                prefixes.push(args[i].clone());
            } else {
                return CmdError::Syntax.into();
            }
            i += 1;
        }
        if is(&args[2], "off") {
            crate::shard::tracking::disable(&s.node, &s.info);
            return Frame::ok();
        }
        if !is(&args[2], "on") {
            return CmdError::Syntax.into();
        }
        let current = s.info.tracking.borrow().clone();
        if !bcast && !prefixes.is_empty() {
            return Frame::error("ERR PREFIX option requires BCAST mode to be enabled");
        }
        if current.on && current.bcast != bcast {
            return Frame::error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
        }
        if bcast && (optin || optout) {
            return Frame::error("ERR OPTIN and OPTOUT are not compatible with BCAST");
        }
        if optin && optout {
            return Frame::error("ERR You can't specify both OPTIN mode and OPTOUT mode");
        }
        if (optin && current.optout) || (optout && current.optin) {
            return Frame::error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
        }
        if bcast {
            if let Some(refusal) = prefix_collision(&current.prefixes, &prefixes) {
                return refusal;
            }
        }
        let starts_bcast = bcast && !current.bcast;
        {
            let mut t = s.info.tracking.borrow_mut();
            if !t.on {
                s.node.global.tracking_clients.fetch_add(1, Relaxed);
            }
            t.on = true;
            t.redirect = redirect;
            t.broken_redirect = false;
            t.bcast = bcast;
            t.optin = optin;
            t.optout = optout;
            t.noloop = noloop;
            if bcast {
                if prefixes.is_empty() {
                    prefixes.push(Bytes::new());
                }
                for p in prefixes {
                    if !t.prefixes.contains(&p) {
                        t.prefixes.push(p);
                    }
                }
                // Redis keeps them in a radix tree: TRACKINGINFO lists them sorted.
                t.prefixes.sort();
            }
        }
        if starts_bcast {
            crate::shard::tracking::start_bcast(&s.node).await;
        }
        Frame::ok()
    })
}

/// BCAST's rule that a client's prefixes do not overlap (one is not the start of another),
/// with Redis's errors.
fn prefix_collision(existing: &[Bytes], new: &[Bytes]) -> Option<Frame> {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlap(old, p)) {
            return Some(Frame::error(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(old)
            )));
        }
        if let Some(other) = new[i + 1..].iter().find(|other| overlap(other, p)) {
            return Some(Frame::error(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(other)
            )));
        }
    }
    None
}

/// CLIENT GETREDIR: -1 when not tracking, 0 when not redirecting, else the client's id.
fn client_getredir(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Integer(redirect_of(&s.info.tracking.borrow())) })
}

fn redirect_of(t: &crate::shard::tracking::Tracking) -> i64 {
    match (t.on, t.redirect) {
        (false, _) => -1,
        (true, None) => 0,
        (true, Some((id, _))) => id as i64,
    }
}

fn client_trackinginfo(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let t = s.info.tracking.borrow();
        let mut flags = vec![if t.on { "on" } else { "off" }];
        if t.bcast {
            flags.push("bcast");
        }
        if t.optin {
            flags.push("optin");
            if t.caching {
                flags.push("caching-yes");
            }
        }
        if t.optout {
            flags.push("optout");
            if t.caching {
                flags.push("caching-no");
            }
        }
        if t.noloop {
            flags.push("noloop");
        }
        if t.broken_redirect {
            flags.push("broken_redirect");
        }
        Frame::Map(vec![
            (
                Frame::bulk_str("flags"),
                Frame::Set(flags.into_iter().map(Frame::bulk_str).collect()),
            ),
            (Frame::bulk_str("redirect"), Frame::Integer(redirect_of(&t))),
            (
                Frame::bulk_str("prefixes"),
                Frame::Array(t.prefixes.iter().cloned().map(Frame::Bulk).collect()),
            ),
        ])
    })
}

fn client_caching(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let mut t = s.info.tracking.borrow_mut();
        if !t.on {
            return Frame::error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
        }
        if is(&args[2], "yes") {
            if !t.optin {
                return Frame::error(
                    "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
                );
            }
        } else if is(&args[2], "no") {
            if !t.optout {
                return Frame::error(
                    "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
                );
            }
        } else {
            return CmdError::Syntax.into();
        }
        t.caching = true;
        Frame::ok()
    })
}

/// Redis's CLIENT HELP.
fn client_help(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        super::help_reply(
            "client",
            &[
                "CACHING (YES|NO)",
                "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
                "GETREDIR",
                "    Return the client ID we are redirecting to when tracking is enabled.",
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "KILL <ip:port>",
                "    Kill connection made from <ip:port>.",
                "KILL <option> <value> [<option> <value> [...]]",
                "    Kill connections. Options are:",
                "    * ADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made from the specified address",
                "    * LADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made to specified local address",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Kill connections by type.",
                "    * USER <username>",
                "      Kill connections authenticated by <username>.",
                "    * SKIPME (YES|NO)",
                "      Skip killing current connection (default: yes).",
                "LIST [options ...]",
                "    Return information about client connections. Options:",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Return clients of specified type.",
                "UNPAUSE",
                "    Stop the current client pause, resuming traffic.",
                "PAUSE <timeout> [WRITE|ALL]",
                "    Suspend all, or just write, clients for <timeout> milliseconds.",
                "REPLY (ON|OFF|SKIP)",
                "    Control the replies sent to the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "    Unblock the specified blocked client.",
                "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
                "         [OPTIN] [OPTOUT] [NOLOOP]",
                "    Control server assisted client side caching.",
                "TRACKINGINFO",
                "    Report tracking status for the current connection.",
                "NO-EVICT (ON|OFF)",
                "    Protect current client connection from eviction.",
            ],
        )
    })
}
