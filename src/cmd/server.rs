//! Server commands: COMMAND, CONFIG, database-wide operations, DEBUG, SHUTDOWN.
//!
//! Most of these span every shard: they broadcast a closure and combine what comes back.

use bytes::Bytes;

use super::args::{is, parse_c_int, ArgCursor};
use super::flags::*;
use super::keyspace::in_range;
use super::propagate::Rule;
use super::{boxed, meta, Args, CmdError, Command, Run, SessionFuture, Table};
use crate::cmd::session::Session;
use crate::config::Caller;
use crate::resp::Frame;
use crate::slot::key_slot;

pub static COMMANDS: &[Command] = &[
    Command::new("dbsize", 1, Run::Session(dbsize))
        .flags(&[READONLY, FAST])
        .acl(&["@keyspace", "@read", "@fast"]),
    Command::new("flushdb", -1, Run::Session(flushdb))
        .propagates(Rule::AsIs)
        .flags(&[WRITE])
        .acl(&["@keyspace", "@write", "@slow", "@dangerous"]),
    Command::new("flushall", -1, Run::Session(flushall))
        .propagates(Rule::AsIs)
        .flags(&[WRITE])
        .acl(&["@keyspace", "@write", "@slow", "@dangerous"]),
    Command::new("swapdb", 3, Run::Session(swapdb))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, FAST])
        .acl(&["@keyspace", "@write", "@fast", "@dangerous"]),
    Command::new("time", 1, Run::Session(time))
        .flags(&[LOADING, STALE, FAST])
        .acl(&["@fast"]),
    Command::new("shutdown", -1, Run::Session(shutdown))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE, NO_MULTI, ALLOW_BUSY])
        .acl(&["@admin", "@slow", "@dangerous"]),
    Command::new("save", 1, Run::Session(save))
        .flags(&[ADMIN, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI])
        .acl(&["@admin", "@slow", "@dangerous"]),
    Command::new("bgsave", -1, Run::Session(bgsave))
        .flags(&[ADMIN, NOSCRIPT, NO_ASYNC_LOADING])
        .acl(&["@admin", "@slow", "@dangerous"]),
    Command::new("bgrewriteaof", 1, Run::Session(bgrewriteaof))
        .flags(&[ADMIN, NOSCRIPT, NO_ASYNC_LOADING])
        .acl(&["@admin", "@slow", "@dangerous"]),
    Command::new("lastsave", 1, Run::Session(lastsave))
        .flags(&[LOADING, STALE, FAST])
        .acl(&["@admin", "@fast", "@dangerous"]),
    Command::new("command", -1, Run::Session(command_all))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"])
        .subs(COMMAND_SUBCOMMANDS),
    Command::new("config", -2, Run::Session(command_all))
        .acl(&["@slow"])
        .subs(CONFIG_SUBCOMMANDS),
    Command::new("cluster", -2, Run::Session(command_all))
        .acl(&["@slow"])
        .subs(CLUSTER_SUBCOMMANDS),
];

static COMMAND_SUBCOMMANDS: &[Command] = &[
    Command::new("command|count", 2, Run::Session(command_count))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("command|info", -2, Run::Session(command_info))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("command|docs", -2, Run::Session(command_docs))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("command|getkeys", -4, Run::Session(command_getkeys))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new(
        "command|getkeysandflags",
        -4,
        Run::Session(command_getkeysandflags),
    )
    .flags(&[LOADING, STALE])
    .acl(&["@slow", "@connection"]),
    Command::new("command|list", -2, Run::Session(command_list))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("command|help", 2, Run::Session(command_help))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"]),
];

static CONFIG_SUBCOMMANDS: &[Command] = &[
    Command::new("config|get", -3, Run::Session(config_get))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(&["@admin", "@slow", "@dangerous"]),
    Command::new("config|set", -4, Run::Session(config_set))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(&["@admin", "@slow", "@dangerous"]),
    Command::new("config|resetstat", 2, Run::Session(config_resetstat))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(&["@admin", "@slow", "@dangerous"]),
];

static CLUSTER_SUBCOMMANDS: &[Command] =
    &[
        Command::new("cluster|keyslot", 3, Run::Session(cluster_keyslot))
            .flags(&[STALE])
            .acl(&["@slow"]),
    ];

fn dbsize(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let db = s.db;
        // Counted without locks, like INFO keyspace: a multi-shard write in flight may be
        // counted on some shards only. Inside EXEC every shard is held, so it is exact there.
        let sizes = s.node.broadcast(move |data| data.ks.dbs[db].len()).await;
        Frame::Integer(sizes.into_iter().sum::<usize>() as i64)
    })
}

/// FLUSHDB and FLUSHALL accept ASYNC or SYNC; both free synchronously here for now, which
/// gives the same visible result.
fn flush_mode_ok(args: &[Bytes]) -> bool {
    match args.len() {
        1 => true,
        2 => is(&args[1], "async") || is(&args[1], "sync"),
        _ => false,
    }
}

fn flushdb(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if !flush_mode_ok(&args) {
            return CmdError::Syntax.into();
        }
        let db = s.db;
        s.node
            .write_everywhere(s.tx.clone(), db, args.to_vec(), move |data| {
                drop(data.ks.dbs[db].clear());
                crate::shard::tracking::flushed_here(data);
            })
            .await;
        Frame::ok()
    })
}

fn flushall(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if !flush_mode_ok(&args) {
            return CmdError::Syntax.into();
        }
        s.node
            .write_everywhere(s.tx.clone(), s.db, args.to_vec(), |data| {
                for db in data.ks.dbs.iter_mut() {
                    drop(db.clear());
                }
                crate::shard::tracking::flushed_here(data);
            })
            .await;
        Frame::ok()
    })
}

fn swapdb(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let databases = s.node.global.databases;
        // Both indexes are read before either is range-checked, each with its own message.
        let Ok(a) = parse_c_int(&args[1]) else {
            return Frame::error("ERR invalid first DB index");
        };
        let Ok(b) = parse_c_int(&args[2]) else {
            return Frame::error("ERR invalid second DB index");
        };
        let (Ok(a), Ok(b)) = (in_range(a, databases), in_range(b, databases)) else {
            return CmdError::DbIndexOutOfRange.into();
        };
        s.node
            .write_everywhere(s.tx.clone(), s.db, args.to_vec(), move |data| {
                data.ks.swap_dbs(a, b)
            })
            .await;
        Frame::ok()
    })
}

fn time(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Frame::Array(vec![
            Frame::Bulk(Bytes::from(now.as_secs().to_string())),
            Frame::Bulk(Bytes::from(now.subsec_micros().to_string())),
        ])
    })
}

fn shutdown(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let mut mode = crate::persist::ShutdownMode::default();
        let (mut abort, mut flagged) = (false, false);
        for a in &args[1..] {
            if is(a, "nosave") || is(a, "save") {
                if mode.save == Some(!is(a, "save")) {
                    return CmdError::Syntax.into();
                }
                mode.save = Some(is(a, "save"));
            } else if is(a, "force") {
                mode.force = true;
            } else if !is(a, "now") {
                if !is(a, "abort") {
                    return CmdError::Syntax.into();
                }
                abort = true;
                continue;
            }
            flagged = true;
        }
        if abort {
            if flagged {
                return CmdError::Syntax.into();
            }
            // The only shutdown that can be pending is a signal's not yet acted on (the timer
            // acts on it within a tick, unless DEBUG PAUSE-CRON holds it): shutdowns never
            // wait for replicas here.
            let state = crate::persist::state();
            if state.shutdown_requested().is_none() {
                return Frame::error("ERR No shutdown in progress.");
            }
            state.shutdown_failed();
            crate::log!(Warning, "Shutdown manually aborted.");
            return Frame::ok();
        }
        // A slow script holds every shard: only NOSAVE may end the server then, as in Redis.
        if let Some(busy) = crate::script::busy(&s.node.global) {
            if mode.save != Some(false) {
                return Frame::error(busy);
            }
            crate::persist::shutdown_during_script(&s.node).await;
        }
        // On success the process exits and this connection gets no reply, as in Redis.
        Frame::error(crate::persist::shutdown(&s.node, mode).await)
    })
}

fn save(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        match crate::persist::save(&s.node).await {
            Ok(()) => Frame::ok(),
            Err(e) => Frame::error(e),
        }
    })
}

fn bgsave(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let schedule = match &args[1..] {
            [] => false,
            [a] if is(a, "schedule") => true,
            _ => return CmdError::Syntax.into(),
        };
        let state = crate::persist::state();
        // SCHEDULE waits for an AOF rewrite's child.
        if schedule && state.child() == Some(crate::persist::ChildKind::Aof) {
            state.schedule();
            return Frame::simple("Background saving scheduled");
        }
        match crate::persist::bgsave(&s.node).await {
            Ok(()) => Frame::simple("Background saving started"),
            Err(e) => Frame::error(e),
        }
    })
}

fn bgrewriteaof(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        match crate::persist::rewrite::bgrewriteaof(&s.node).await {
            Ok(text) => Frame::simple(text),
            Err(e) => Frame::error(e),
        }
    })
}

fn lastsave(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Integer(crate::persist::state().last_save_unix() as i64) })
}

fn cluster_keyslot(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Integer(key_slot(&args[2]) as i64) })
}

fn config_get(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let pairs = s.node.global.config.get(&args[2..]);
        Frame::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Frame::bulk(Bytes::from(k)), Frame::bulk(Bytes::from(v))))
                .collect(),
        )
    })
}

fn config_set(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        // The row's arity guarantees at least one pair; a dangling name is a syntax error.
        if !args.len().is_multiple_of(2) {
            return CmdError::Syntax.into();
        }
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = args[2..]
            .chunks(2)
            .map(|p| (p[0].to_vec(), p[1].to_vec()))
            .collect();
        let global = &s.node.global;
        let caller = if s.info.local {
            Caller::Local
        } else {
            Caller::Remote
        };
        if let Err(e) = global.config.set_as(&pairs, caller) {
            return Frame::error(e);
        }
        global.refresh();
        let config = global.config.snapshot();
        let appendonly = config.appendonly();
        s.node
            .broadcast(move |data| data.apply_config(&config))
            .await;
        // The AOF switch needs the shards frozen and a child's base: it happens here, after
        // the rest (and sets `appendonly` back to no if the AOF cannot be switched on). Any
        // CONFIG SET naming appendonly waits for it, even one that changed nothing: a switch
        // in progress decides what it gets.
        let names_appendonly = pairs
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(b"appendonly"));
        if names_appendonly {
            let sync = crate::persist::rewrite::sync_appendonly(&s.node, appendonly).await;
            if let Err(e) = sync {
                return Frame::error(format!(
                    "ERR CONFIG SET failed (possibly related to argument 'appendonly') - {e}"
                ));
            }
        }
        Frame::ok()
    })
}

fn config_resetstat(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        s.node
            .broadcast(|data| {
                data.stats.reset();
                data.ks.stats.reset_counts();
            })
            .await;
        Frame::ok()
    })
}

/// One command's COMMAND INFO entry. What dispatch uses (arity, flags, key positions, ACL
/// categories, subcommands) comes from the table row; tips and key specs from Redis's record.
fn command_entry(cmd: &'static Command) -> Frame {
    let set = |xs: &[&str]| {
        Frame::Set(
            xs.iter()
                .map(|f| Frame::Simple(Bytes::copy_from_slice(f.as_bytes())))
                .collect(),
        )
    };
    let (tips, key_specs) = match meta::reference(cmd.name) {
        Some(r) => (r.tips.clone(), r.key_specs.clone()),
        None => (Frame::Set(Vec::new()), legacy_key_specs(cmd)),
    };
    // Redis writes an empty subcommand list as a set and a full one as an array.
    let subcommands = if cmd.subcommands.is_empty() {
        Frame::Set(Vec::new())
    } else {
        Frame::Array(cmd.subcommands.iter().map(command_entry).collect())
    };
    Frame::Array(vec![
        Frame::bulk_str(cmd.name),
        Frame::Integer(cmd.arity as i64),
        set(&cmd.flags.names().collect::<Vec<_>>()),
        Frame::Integer(cmd.keys.first as i64),
        Frame::Integer(cmd.keys.last as i64),
        Frame::Integer(cmd.keys.step as i64),
        set(cmd.acl),
        tips,
        key_specs,
        subcommands,
    ])
}

/// Key specs for a command Redis does not have, from the row's (first, last, step).
fn legacy_key_specs(cmd: &Command) -> Frame {
    if cmd.keys.first == 0 {
        return Frame::Set(Vec::new());
    }
    let map = |pairs: Vec<(&str, Frame)>| {
        Frame::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Frame::bulk_str(k), v))
                .collect(),
        )
    };
    let lastkey = if cmd.keys.last < 0 {
        cmd.keys.last
    } else {
        cmd.keys.last - cmd.keys.first
    };
    Frame::Set(vec![map(vec![
        (
            "flags",
            Frame::Set(vec![Frame::simple(if cmd.is_write() {
                "RW"
            } else {
                "RO"
            })]),
        ),
        (
            "begin_search",
            map(vec![
                ("type", Frame::bulk_str("index")),
                (
                    "spec",
                    map(vec![("index", Frame::Integer(cmd.keys.first as i64))]),
                ),
            ]),
        ),
        (
            "find_keys",
            map(vec![
                ("type", Frame::bulk_str("range")),
                (
                    "spec",
                    map(vec![
                        ("lastkey", Frame::Integer(lastkey as i64)),
                        ("keystep", Frame::Integer(cmd.keys.step as i64)),
                        ("limit", Frame::Integer(0)),
                    ]),
                ),
            ]),
        ),
    ])])
}

fn all_commands() -> Vec<&'static Command> {
    let mut all: Vec<_> = Table::get().iter().collect();
    all.sort_by_key(|c| c.name);
    all
}

fn command_all(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Array(all_commands().into_iter().map(command_entry).collect()) })
}

fn command_count(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Integer(Table::get().len() as i64) })
}

/// Finds a command or `parent|sub` by name for COMMAND INFO and DOCS.
fn find_command(name: &[u8]) -> Option<&'static Command> {
    let name = String::from_utf8_lossy(name).to_lowercase();
    match name.split_once('|') {
        Some((parent, sub)) => {
            super::subcommand(Table::get().lookup(parent.as_bytes())?, sub.as_bytes())
        }
        None => Table::get().lookup(name.as_bytes()),
    }
}

fn command_info(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if args.len() == 2 {
            return Frame::Array(all_commands().into_iter().map(command_entry).collect());
        }
        Frame::Array(
            args[2..]
                .iter()
                .map(|n| find_command(n).map_or(Frame::Null, command_entry))
                .collect(),
        )
    })
}

/// One command's COMMAND DOCS entry: Redis's documentation, with the subcommands narrowed to
/// those Tessera has; the row's own summary for a command Redis does not have.
fn doc_entry(cmd: &'static Command) -> Frame {
    let subcommands = || {
        Frame::Map(
            cmd.subcommands
                .iter()
                .map(|c| (Frame::bulk_str(c.name), doc_entry(c)))
                .collect(),
        )
    };
    if let Some(r) = meta::reference(cmd.name) {
        let fields = r.docs.iter().map(|(k, v)| {
            let v = if matches!(k, Frame::Bulk(k) if &k[..] == b"subcommands") {
                subcommands()
            } else {
                v.clone()
            };
            (k.clone(), v)
        });
        return Frame::Map(fields.collect());
    }
    let mut fields = vec![
        (Frame::bulk_str("summary"), Frame::bulk_str(cmd.summary)),
        (Frame::bulk_str("since"), Frame::bulk_str(cmd.since)),
        (Frame::bulk_str("group"), Frame::bulk_str(cmd.group)),
        (
            Frame::bulk_str("complexity"),
            Frame::bulk_str(cmd.complexity),
        ),
    ];
    if !cmd.subcommands.is_empty() {
        fields.push((Frame::bulk_str("subcommands"), subcommands()));
    }
    Frame::Map(fields)
}

fn command_docs(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let cmds: Vec<&'static Command> = if args.len() == 2 {
            all_commands()
        } else {
            args[2..].iter().filter_map(|n| find_command(n)).collect()
        };
        Frame::Map(
            cmds.into_iter()
                .map(|c| (Frame::bulk_str(c.name), doc_entry(c)))
                .collect(),
        )
    })
}

fn command_getkeys(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move { getkeys_generic(&args[2..], false) })
}

fn command_getkeysandflags(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move { getkeys_generic(&args[2..], true) })
}

/// COMMAND GETKEYS and GETKEYSANDFLAGS for the command line `target`, checked and searched in
/// Redis's order (`getKeysSubcommandImpl`): the key specs when their flags are fixed, else the
/// command's own key finder.
fn getkeys_generic(target: &[Bytes], with_flags: bool) -> Frame {
    let Some(mut cmd) = Table::get().lookup(&target[0]) else {
        return Frame::error("ERR Invalid command specified");
    };
    if !cmd.subcommands.is_empty() && target.len() >= 2 {
        match super::subcommand(cmd, &target[1]) {
            Some(sub) => cmd = sub,
            None => return Frame::error("ERR Invalid command specified"),
        }
    }
    let reference = meta::reference(cmd.name);
    let specs = reference.map_or(&[][..], |r| &r.specs[..]);
    let has_specs = specs.iter().any(|s| !s.not_key);
    let has_keys = match reference {
        Some(_) => has_specs || cmd.getkeys.is_some(),
        None => cmd.keys.first > 0,
    };
    if !has_keys {
        return Frame::error("ERR The command has no key arguments");
    }
    if !cmd.arity_ok(target.len()) {
        return Frame::error("ERR Invalid number of arguments specified for command");
    }
    let keys = cmd.key_access(target);
    if keys.is_empty() {
        return if cmd.flags.has(NO_MANDATORY_KEYS) {
            Frame::Array(Vec::new())
        } else {
            Frame::error("ERR Invalid arguments specified for command")
        };
    }
    Frame::Array(
        keys.into_iter()
            .map(|(i, access)| {
                let key = Frame::Bulk(target[i].clone());
                if with_flags {
                    let flags = access.names().map(Frame::simple).collect();
                    Frame::Array(vec![key, Frame::Set(flags)])
                } else {
                    key
                }
            })
            .collect(),
    )
}

fn command_list(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let mut c = ArgCursor::new(&args, 2);
        let mut filter: Option<(String, Bytes)> = None;
        if !c.done() {
            if !c.eat("filterby") {
                return CmdError::Syntax.into();
            }
            let (Ok(kind), Ok(value)) = (c.next(), c.next()) else {
                return CmdError::Syntax.into();
            };
            let kind = String::from_utf8_lossy(kind).to_lowercase();
            if !["module", "aclcat", "pattern"].contains(&kind.as_str()) || !c.done() {
                return CmdError::Syntax.into();
            }
            filter = Some((kind, value.clone()));
        }
        let mut names = Vec::new();
        for cmd in all_commands() {
            for c in std::iter::once(cmd).chain(cmd.subcommands.iter()) {
                let keep = match &filter {
                    None => true,
                    Some((k, _)) if k == "module" => false,
                    Some((k, v)) if k == "aclcat" => {
                        let cat = format!("@{}", String::from_utf8_lossy(v).to_lowercase());
                        c.acl.contains(&cat.as_str())
                    }
                    Some((_, pattern)) => {
                        crate::types::glob::glob_match(pattern, c.name.as_bytes(), true)
                    }
                };
                if keep {
                    names.push(Frame::bulk_str(c.name));
                }
            }
        }
        Frame::Array(names)
    })
}

fn command_help(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        super::help_reply(
            "command",
            &[
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
                "GETKEYSANDFLAGS <full-command>",
                "    Return the keys and the access flags from a full Redis command.",
            ],
        )
    })
}
