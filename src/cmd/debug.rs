//! DEBUG: the subcommands Redis's own test suite and its users' tools rely on, each answered
//! from Tessera's real state. One row per subcommand in [`SUBCOMMANDS`], with its argument
//! count and its lines of DEBUG HELP.

use std::time::Duration;

use bytes::Bytes;

use super::args::{is, parse_int};
use super::flags::*;
use super::{boxed, Args, CmdError, Command, Run, SessionFn, SessionFuture};
use crate::cmd::session::Session;
use crate::db::digest;
use crate::db::{now_ms, Value};
use crate::persist::load;
use crate::resp::Frame;

pub static COMMANDS: &[Command] = &[Command::new("debug", -2, Run::Session(debug))
    .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
    .acl(&["@admin", "@slow", "@dangerous"])];

struct Sub {
    name: &'static str,
    /// The argument counts it takes, DEBUG and the subcommand's name included.
    args: std::ops::RangeInclusive<usize>,
    help: &'static [&'static str],
    run: SessionFn,
}

const ANY: usize = usize::MAX;

static SUBCOMMANDS: &[Sub] = &[
    Sub {
        name: "digest",
        args: 2..=2,
        help: &[
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
        ],
        run: dataset_digest,
    },
    Sub {
        name: "digest-value",
        args: 2..=ANY,
        help: &[
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
        ],
        run: value_digests,
    },
    Sub {
        name: "loadaof",
        args: 2..=2,
        help: &[
            "LOADAOF",
            "    Flush the AOF buffers on disk and reload the AOF in memory.",
        ],
        run: load_aof,
    },
    Sub {
        name: "log",
        args: 3..=3,
        help: &["LOG <message>", "    Write <message> to the server log."],
        run: log_line,
    },
    Sub {
        name: "object",
        args: 3..=3,
        help: &[
            "OBJECT <key>",
            "    Show low-level info about the `key` and associated value.",
        ],
        run: object,
    },
    Sub {
        name: "panic",
        args: 2..=2,
        help: &["PANIC", "    Crash the server simulating a panic."],
        run: panic,
    },
    Sub {
        name: "pause-cron",
        args: 3..=3,
        help: &["PAUSE-CRON <0|1>", "    Stop periodic cron job processing."],
        run: pause_cron,
    },
    Sub {
        name: "segfault",
        args: 2..=2,
        help: &["SEGFAULT", "    Crash the server with sigsegv."],
        run: segfault,
    },
    Sub {
        name: "populate",
        args: 3..=5,
        help: &[
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>. If <prefix> is specified then",
            "    it is used instead of the 'key' prefix. These are not propagated to",
            "    replicas. Cluster slots are not respected so keys not belonging to the",
            "    current node can be created in cluster mode.",
        ],
        run: populate_command,
    },
    Sub {
        name: "protocol",
        args: 3..=3,
        help: &[
            "PROTOCOL <type>",
            "    Reply with a test value of the specified type. <type> can be: string,",
            "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
            "    true, false.",
        ],
        run: protocol,
    },
    Sub {
        name: "quicklist-packed-threshold",
        args: 3..=3,
        help: &[
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "    Sets the threshold for elements to be inserted as plain vs packed nodes",
            "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
        ],
        run: quicklist_packed_threshold,
    },
    Sub {
        name: "reload",
        args: 2..=ANY,
        help: &[
            "RELOAD [option ...]",
            "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
            "    * MERGE: conflicting keys will be loaded from RDB.",
            "    * NOFLUSH: the existing database will not be removed before load, but",
            "      conflicting keys will generate an exception and kill the server.",
            "    * NOSAVE: the database will be loaded from an existing RDB file.",
            "    Examples:",
            "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
            "      the database.",
            "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
            "      existing RDB file.",
            "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
            "      file to the database.",
        ],
        run: reload,
    },
    Sub {
        name: "set-active-expire",
        args: 3..=3,
        help: &[
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
        ],
        run: set_active_expire,
    },
    Sub {
        // Not in Redis's DEBUG HELP either: a testing aid.
        name: "set-disable-deny-scripts",
        args: 3..=3,
        help: &[],
        run: set_disable_deny_scripts,
    },
    Sub {
        name: "set-skip-checksum-validation",
        args: 3..=3,
        help: &[
            "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
            "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
        ],
        run: set_skip_checksum,
    },
    Sub {
        name: "sleep",
        args: 3..=3,
        help: &[
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
        ],
        run: sleep,
    },
    Sub {
        name: "help",
        args: 2..=ANY,
        // help_reply adds HELP's own lines.
        help: &[],
        run: help,
    },
];

fn debug(s: &mut Session, args: Args) -> SessionFuture<'_> {
    if !debug_allowed(s) {
        return boxed(async {
            Frame::error("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.")
        });
    }
    let sub = SUBCOMMANDS
        .iter()
        .find(|sub| is(&args[1], sub.name) && sub.args.contains(&args.len()));
    match sub {
        Some(sub) => (sub.run)(s, args),
        None => boxed(async move {
            Frame::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
                String::from_utf8_lossy(&args[1])
            ))
        }),
    }
}

fn help(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async {
        let lines: Vec<&str> = SUBCOMMANDS
            .iter()
            .flat_map(|sub| sub.help.iter().copied())
            .collect();
        super::help_reply("debug", &lines)
    })
}

/// DEBUG DIGEST: every shard folds its part of each database; the parts of one database
/// combine by xor, so the result is Redis's whatever the shards hold.
fn dataset_digest(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let parts = s
            .node
            .broadcast(|data| {
                (0..data.ks.dbs.len())
                    .filter(|&i| !data.ks.dbs[i].is_empty())
                    .map(|i| (i, digest::db_part(&data.ks.dbs[i])))
                    .collect::<Vec<_>>()
            })
            .await;
        let mut by_db: std::collections::BTreeMap<usize, digest::Digest> = Default::default();
        for (db, part) in parts.into_iter().flatten() {
            digest::xor_into(by_db.entry(db).or_default(), &part);
        }
        Frame::Simple(digest::to_hex(&digest::dataset_digest(by_db)).into())
    })
}

/// DEBUG DIGEST-VALUE: each key's value digest, from its shard; logically expired keys count,
/// as in Redis, which reads its dictionary directly.
fn value_digests(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let (db, shards) = (s.db, s.node.shards);
        let keys: Vec<Bytes> = args[2..].to_vec();
        let per_shard = s
            .node
            .broadcast(move |data| {
                keys.iter()
                    .enumerate()
                    .filter(|(_, k)| crate::slot::key_owner(k, shards) == data.id)
                    .map(|(i, k)| (i, digest::value_digest(data.ks.dbs[db].peek(k))))
                    .collect::<Vec<_>>()
            })
            .await;
        let mut digests = vec![digest::Digest::default(); args.len() - 2];
        for (i, d) in per_shard.into_iter().flatten() {
            digests[i] = d;
        }
        Frame::Array(
            digests
                .iter()
                .map(|d| Frame::Simple(digest::to_hex(d).into()))
                .collect(),
        )
    })
}

/// DEBUG OBJECT: where the value lives, its encoding, its size as the RDB would write it and
/// its access clock; for a list, its nodes. Found without a lookup, as Redis does: a
/// logically expired key is still there.
fn object(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let (db, key) = (s.db, args[2].clone());
        let shard = crate::slot::key_owner(&key, s.node.shards);
        let compress = s.node.global.config.snapshot().rdbcompression();
        let described = s
            .node
            .run_on(shard, Vec::new(), move |data| {
                data.ks.dbs[db].peek(&key).map(|e| describe(e, compress))
            })
            .await;
        match described {
            Some(text) => Frame::Simple(text.into()),
            None => CmdError::NoSuchKey.into(),
        }
    })
}

fn describe(entry: &crate::db::Entry, compress: bool) -> String {
    let value = &entry.value;
    let mut serialized = Vec::new();
    crate::rdb::put_value(&mut serialized, value, compress);
    // Redis's clock has 24 bits.
    let lru = entry.access & 0xff_ffff;
    let idle = crate::db::lru_clock().wrapping_sub(entry.access) & 0xff_ffff;
    let mut text = format!(
        "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{lru} lru_seconds_idle:{idle}",
        value,
        value.refcount(),
        value.encoding(),
        serialized.len(),
    );
    if let Value::List(list) = value {
        let nodes = list.node_count();
        text.push_str(&format!(
            " ql_nodes:{nodes} ql_avg_node:{:.2} ql_listpack_max:{} ql_compressed:0 ql_uncompressed_size:{}",
            list.len() as f64 / nodes as f64,
            list.fill(),
            list.packed_size()
        ));
    }
    text
}

/// DEBUG LOADAOF: makes every shard's AOF durable, then replaces the data set with what the
/// AOF files say (those BGREWRITEAOF left when the AOF is off), read and replayed as at
/// start-up, with every shard claimed whole meanwhile. Redis exits when there is no AOF to
/// load; this refuses instead.
fn load_aof(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        const LOAD_FAILED: &str = "ERR Error trying to load the AOF";
        if s.tx.is_some() {
            return Frame::error(NOT_IN_EXEC);
        }
        let config = s.node.global.config.snapshot();
        if config.appendonly() {
            crate::shard::aof::flush_all(&s.node).await;
        }
        let shards = s.node.shards;
        let plan = match crate::cmd::aof_load::read_existing(&config, shards) {
            Ok(Some(plan)) => std::sync::Arc::new(plan),
            Ok(None) => return Frame::error("ERR There is no AOF to load"),
            Err(e) => {
                crate::log!(Warning, "{e}");
                return Frame::error(LOAD_FAILED);
            }
        };
        let databases = s.node.global.databases;
        let contents = match &plan.base {
            Some(base) => load::read_all(base, databases, shards),
            None => Ok(None),
        };
        // The libraries go with the data, as Redis's emptyData takes them: then come the
        // base's, and what shard 0's FUNCTION commands do to them.
        let libraries = &s.node.global.scripts.libraries;
        let functions = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let loaded = match contents {
            // Shards without a batch still get their hop: `load_everywhere` gives one per entry.
            Ok(contents) => {
                let (mut batches, codes) =
                    contents.map_or_else(Default::default, |c| (c.batches, c.libraries));
                batches.resize_with(shards, Vec::new);
                let found = functions.clone();
                let replay = move |shard, ks: &mut crate::db::Keyspace| {
                    let replayed = crate::cmd::aof_load::replay_shard(&plan, shard, ks)?;
                    if shard == 0 {
                        *found.lock().unwrap_or_else(|e| e.into_inner()) = replayed.functions;
                    }
                    Ok(())
                };
                match crate::script::functions::install(libraries, codes, true, false) {
                    Ok(()) => {
                        load::load_everywhere(
                            &s.node,
                            batches,
                            true,
                            load::Duplicates::Refuse,
                            replay,
                        )
                        .await
                    }
                    Err(e) => Err(format!("Failed loading library, {e}")),
                }
            }
            Err(e) => Err(e),
        };
        let functions = std::mem::take(&mut *functions.lock().unwrap_or_else(|e| e.into_inner()));
        for args in &functions {
            if let Err(e) = crate::script::functions::apply_logged(libraries, args) {
                crate::log!(
                    Warning,
                    "Failed applying a FUNCTION command of the AOF: {e}"
                );
            }
        }
        if let Err(e) = loaded {
            crate::log!(Warning, "{e}");
            return Frame::error(LOAD_FAILED);
        }
        crate::log!(Warning, "Append Only File loaded by DEBUG LOADAOF");
        Frame::ok()
    })
}

/// DEBUG PANIC: ends the process as a bug would, through the panic hook that logs the bug
/// report and aborts.
fn panic(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    panic!("DEBUG PANIC called at Unix time {}", now.as_secs());
}

/// DEBUG SEGFAULT: a real invalid write, into a page mapped read-only, so that the crash is
/// the kernel's SIGSEGV and goes through the fatal-signal report.
fn segfault(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    // SAFETY: deliberately none: the write faults and the process ends. The page is mapped
    // read-only so that the fault is certain and the compiler sees an ordinary pointer.
    unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        std::ptr::write_volatile(page.cast::<u8>(), b'x');
    }
    boxed(async { Frame::ok() })
}

/// Inside EXEC every shard is already held by the transaction, and reloading needs them all
/// claimed anew (and frozen, to save): waiting for that would wait for ever.
const NOT_IN_EXEC: &str =
    "ERR DEBUG RELOAD and DEBUG LOADAOF cannot run inside a transaction in Tessera";

fn reload(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if s.tx.is_some() {
            return Frame::error(NOT_IN_EXEC);
        }
        let mut mode = crate::persist::ReloadMode {
            save: true,
            flush: true,
            merge: false,
        };
        for opt in &args[2..] {
            if is(opt, "merge") {
                mode.merge = true;
            } else if is(opt, "noflush") {
                mode.flush = false;
            } else if is(opt, "nosave") {
                mode.save = false;
            } else {
                return Frame::error(
                    "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                );
            }
        }
        // Redis empties the functions with the data; without MERGE a library already here
        // stops the load.
        let global = s.node.global.clone();
        let install = move |codes| {
            crate::script::functions::install(
                &global.scripts.libraries,
                codes,
                mode.flush,
                mode.merge,
            )
        };
        match crate::persist::reload(&s.node, mode, install).await {
            Ok(()) => Frame::ok(),
            Err(e) => Frame::error(e),
        }
    })
}

/// DEBUG LOG: a line in the server log (Redis's test suite marks where each test starts).
fn log_line(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        crate::log!(Warning, "DEBUG LOG: {}", String::from_utf8_lossy(&args[2]));
        Frame::ok()
    })
}

/// Sets one of DEBUG's on/off switches from its argument, read as C's atoi reads it.
fn switch(flag: &std::sync::atomic::AtomicBool, arg: &[u8]) -> Frame {
    let on = crate::types::numfmt::c_strtoll(arg).0 != 0;
    flag.store(on, std::sync::atomic::Ordering::Relaxed);
    Frame::ok()
}

/// DEBUG PAUSE-CRON.
fn pause_cron(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move { switch(&s.node.global.pause_cron, &args[2]) })
}

/// DEBUG SET-DISABLE-DENY-SCRIPTS.
fn set_disable_deny_scripts(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move { switch(&s.node.global.scripts.deny_disabled, &args[2]) })
}

/// DEBUG SET-SKIP-CHECKSUM-VALIDATION.
fn set_skip_checksum(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move { switch(&crate::rdb::SKIP_CHECKSUM, &args[2]) })
}

/// DEBUG PROTOCOL: one value of each RESP type, for testing clients. Attributes and push
/// messages come before a normal reply, so those two are written out here, in the protocol
/// the caller speaks (a script's own, from a script).
fn protocol(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let resp3 = s.resp3;
        let name = &args[2];
        let bulk = |text: &'static str| Frame::Bulk(Bytes::from_static(text.as_bytes()));
        let numbers = || (0..3).map(Frame::Integer).collect::<Vec<_>>();
        // RESP3 bytes: `head`, then each frame written out.
        let written = |head: &[u8], frames: &[Frame]| {
            let mut out = bytes::BytesMut::from(head);
            for frame in frames {
                frame.write(&mut out, true);
            }
            Frame::Encoded(out.freeze())
        };
        if is(name, "string") {
            bulk("Hello World")
        } else if is(name, "integer") {
            Frame::Integer(12345)
        } else if is(name, "double") {
            // Redis's own test value, not an approximation of pi.
            #[allow(clippy::approx_constant)]
            Frame::Double(3.141)
        } else if is(name, "bignum") {
            const BIG: &str = "1234567999999999999999999999999999999";
            if resp3 {
                Frame::Encoded(Bytes::from(format!("({BIG}\r\n")))
            } else {
                bulk(BIG)
            }
        } else if is(name, "null") {
            Frame::Null
        } else if is(name, "array") {
            Frame::Array(numbers())
        } else if is(name, "set") {
            Frame::Set(numbers())
        } else if is(name, "map") {
            Frame::Map(
                (0..3)
                    .map(|j| (Frame::Integer(j), Frame::Boolean(j == 1)))
                    .collect(),
            )
        } else if is(name, "attrib") {
            let reply = bulk("Some real reply following the attribute");
            if !resp3 {
                return reply;
            }
            let popularity = Frame::Array(vec![bulk("key:123"), Frame::Integer(90)]);
            written(b"|1\r\n", &[bulk("key-popularity"), popularity, reply])
        } else if is(name, "push") {
            if !resp3 {
                return Frame::error("ERR RESP2 is not supported by this command");
            }
            written(
                b"",
                &[
                    Frame::Push(vec![bulk("server-cpu-usage"), Frame::Integer(42)]),
                    bulk("Some real reply following the push reply"),
                ],
            )
        } else if is(name, "true") {
            Frame::Boolean(true)
        } else if is(name, "false") {
            Frame::Boolean(false)
        } else if is(name, "verbatim") {
            Frame::Verbatim("txt", Bytes::from_static(b"This is a verbatim\nstring"))
        } else {
            Frame::error("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false")
        }
    })
}

fn quicklist_packed_threshold(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let set = crate::types::numfmt::memtoull(&args[2])
            .is_some_and(crate::types::list::set_packed_threshold);
        if set {
            Frame::ok()
        } else {
            Frame::error("ERR argument must be a memory value bigger than 1 and smaller than 4gb")
        }
    })
}

fn set_active_expire(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        match parse_int(&args[2]) {
            Ok(n) => {
                s.node
                    .global
                    .active_expire
                    .store(n != 0, std::sync::atomic::Ordering::Relaxed);
                Frame::ok()
            }
            Err(e) => e.into(),
        }
    })
}

/// DEBUG SLEEP blocks the server in Redis; blocking this shard's thread is the faithful
/// equivalent (other shards keep serving).
fn sleep(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if let Some(micros) = debug_sleep_micros(&args[2]) {
            std::thread::sleep(Duration::from_micros(micros));
        }
        Frame::ok()
    })
}

fn populate_command(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let Ok(count) = parse_int(&args[2]) else {
            return CmdError::NotInteger.into();
        };
        if count < 0 {
            return CmdError::Overflow.into();
        }
        let prefix = args
            .get(3)
            .cloned()
            .unwrap_or_else(|| Bytes::from_static(b"key"));
        let size = match args.get(4).map(|a| parse_int(a)) {
            None => None,
            Some(Ok(n)) if n >= 0 => Some(n as usize),
            Some(_) => return CmdError::Overflow.into(),
        };
        populate(s, count as u64, prefix, size).await;
        Frame::ok()
    })
}

/// DEBUG is refused unless `enable-debug-command` allows it for this connection, as in Redis.
fn debug_allowed(s: &Session) -> bool {
    match s.node.global.config.snapshot().enable_debug_command() {
        "yes" => true,
        "local" => s.info.local,
        _ => false,
    }
}

/// How long `DEBUG SLEEP <arg>` sleeps, as Redis computes it: the number `strtod` reads at the
/// front of the argument (0 when there is none, so `abc` sleeps 0 and replies OK), in whole
/// microseconds as C converts it. A negative time, or one a `long long` cannot hold (`inf`,
/// `nan`, `1e300`, which C turns into LLONG_MIN on x86), makes Redis's nanosleep fail at
/// once: None, no sleep.
fn debug_sleep_micros(arg: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(arg);
    let text = text.trim_start();
    // The longest prefix that is a number; arguments are short, so trying each is cheap.
    let secs = (1..=text.len().min(64))
        .rev()
        .filter(|&n| text.is_char_boundary(n))
        .find_map(|n| text[..n].parse::<f64>().ok())
        .unwrap_or(0.0);
    let micros = secs * 1e6;
    // NaN is in no range.
    if !(0.0..9.223_372_036_854_775e18).contains(&micros) {
        return None;
    }
    Some(micros as u64)
}

/// DEBUG POPULATE: creates `prefix:N` keys holding `value:N` (or `size` bytes) on their shards,
/// leaving existing keys alone, as Redis does.
async fn populate(s: &mut Session, count: u64, prefix: Bytes, size: Option<usize>) {
    let db = s.db;
    let shards = s.node.shards;
    const BATCH: u64 = 10_000;
    let mut start = 0;
    while start < count {
        let end = (start + BATCH).min(count);
        let keys: Vec<Vec<Vec<u8>>> = {
            let mut per = vec![Vec::new(); shards];
            for i in start..end {
                let mut k = prefix.to_vec();
                k.push(b':');
                k.extend_from_slice(i.to_string().as_bytes());
                per[crate::slot::key_owner(&k, shards)].push(k);
            }
            per
        };
        for (shard, keys) in keys.into_iter().enumerate() {
            if keys.is_empty() {
                continue;
            }
            let prefix = prefix.clone();
            s.node
                .run_on(shard, Vec::new(), move |data| {
                    let now = now_ms();
                    let mut created = Vec::new();
                    let (d, stats) = data.ks.db(db);
                    for k in keys {
                        if d.contains(&k, now, stats) {
                            continue;
                        }
                        let n = &k[prefix.len() + 1..];
                        let mut v = b"value:".to_vec();
                        v.extend_from_slice(n);
                        if let Some(size) = size {
                            v.resize(size, 0);
                        }
                        d.set(&k, Value::from_bytes(&v), 0);
                        created.push((k, v));
                    }
                    for (k, v) in created {
                        data.aof
                            .record_raw(&mut data.ks, db, &[&b"SET"[..], &k, &v]);
                    }
                })
                .await;
        }
        start = end;
    }
}
