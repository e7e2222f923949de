//! Tessera's configuration: the table of parameters, loading from redis.conf files and from a
//! redis-server style command line, and the shared runtime store behind CONFIG GET / CONFIG SET.
//!
//! Redis 7.0 is the specification. Loading follows redis-server's `main()` and
//! `loadServerConfigFromString()` to the letter: the optional first argument names a config
//! file, every `--name value...` option is turned into one more config line appended after the
//! file (so a bad option is reported "at line N" exactly as Redis reports it), a lone `-` reads
//! more configuration from stdin, lines are split with `sdssplitargs()` quoting rules, and
//! `include` pulls in other files (wildcards allowed). Values are parsed with Redis's own rules
//! (`string2ll`, `memtoull`, yes/no, enums) and every error message is Redis's, word for word;
//! the `live` tests at the bottom re-check them against a real redis-server.
//!
//! Tessera deliberately supports a subset of Redis's parameters: one row each in `TABLE`.
//! A directive that Redis knows but Tessera does not implement is refused with a message that
//! says so (a config that silently does nothing would be a lie), and `daemonize yes` is refused
//! rather than ignored. `threads` (shards, one per core by default) is Tessera's own.
//!
//! Where Tessera knowingly departs from redis-server 7.0.15:
//! * the fatal-error banner reads `(Tessera <version>)` instead of "(Redis 7.0.15)", and an
//!   error inside an included file names that file (Redis numbers its lines without saying
//!   which file they belong to);
//! * `save` lines keep accumulating across an `include` (Redis forgets the earlier ones after
//!   an include returns, an accident of its implementation), and include loops are stopped;
//! * `dir` is validated and stored but the process does not `chdir()` into it;
//! * `port`, `bind` and `appendonly` can only be changed by CONFIG SET once the subsystem that
//!   applies them has registered a hook (see [`ConfigStore::on_apply`]); until then CONFIG SET
//!   answers "can't set immutable config" rather than pretending;
//! * `--help` exits with status 0 (redis-server exits with 1).
//!
//! At runtime the configuration is an immutable [`Config`] snapshot behind a [`ConfigStore`].
//! Readers take an `Arc<Config>` (or keep one in a [`ConfigCache`] that refreshes itself when
//! the store's version counter moves); CONFIG SET builds a whole new snapshot, runs the apply
//! hooks of the subsystems that must act on the change (rolling back if one refuses), and only
//! then publishes it, so a multi-parameter CONFIG SET is all-or-nothing.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::resp::split::split_args;
use crate::types::glob::glob_match;
use crate::types::numfmt::{c_strtoll, memtoull, parse_i64_strict};

// ---------------------------------------------------------------------------------------------
// The parameter table
// ---------------------------------------------------------------------------------------------

/// Flags of a table row (a small bit set; rows are `const`, so no operator overloading).
mod flag {
    /// Cannot be changed by CONFIG SET ("can't set immutable config").
    pub const IMMUTABLE: u8 = 1 << 0;
    /// Refused by CONFIG SET as in Redis's default `enable-protected-configs no`.
    pub const PROTECTED: u8 = 1 << 1;
    /// Holds a secret: command logging (MONITOR, SLOWLOG) should redact CONFIG SET's value.
    pub const SENSITIVE: u8 = 1 << 2;
    /// Takes any number of arguments in a config file; CONFIG SET splits its value on spaces.
    pub const MULTI_ARG: u8 = 1 << 3;
    /// Changing it at runtime needs a subsystem to act (rebind, start AOF...). CONFIG SET
    /// treats it as immutable until that subsystem registers an apply hook for it.
    pub const LIVE: u8 = 1 << 4;
}

/// How a parameter's values are parsed, validated and printed.
#[derive(Debug)]
enum Kind {
    /// `yes` / `no`, case-insensitive.
    Bool,
    Int(IntSpec),
    /// One of the listed words (case-insensitive); stored as the index in the list.
    Enum(&'static [&'static str]),
    /// Free text, with an optional file-name check.
    Str(StrRule),
    /// A directory that must exist; stored canonicalized (what Redis's `getcwd()` reports).
    Dir,
    /// `save <seconds> <changes> [<seconds> <changes> ...]`, or `save ""` to disable.
    Save,
    /// Up to 16 addresses; a `-` prefix marks an address as optional.
    Bind,
}

/// An integer parameter, with the C type semantics Redis gives it. Values are held as `i128`
/// so that every Redis type (`int` up to `unsigned long long`) fits with its bounds.
#[derive(Debug)]
struct IntSpec {
    min: i128,
    max: i128,
    /// The C type is unsigned: a negative integer wraps around (and then fails the bounds
    /// check with Redis's own message).
    unsigned: bool,
    /// Accepts `memtoull` units (`1k`, `5mb`, `2GB`, ...) instead of a plain integer.
    memory: bool,
}

const fn int(min: i128, max: i128) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        unsigned: false,
        memory: false,
    })
}
const fn uint(min: i128, max: i128) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        unsigned: true,
        memory: false,
    })
}
const fn mem(min: i128, max: i128) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        unsigned: false,
        memory: true,
    })
}
const fn umem(min: i128, max: i128) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        unsigned: true,
        memory: true,
    })
}

/// Free text.
const TEXT: Kind = Kind::Str(StrRule::Any);

/// A bare file (`noun` = "filename") or directory ("dirname") name.
const fn base_name(noun: &'static str, empty_ok: bool) -> Kind {
    Kind::Str(StrRule::BaseName { noun, empty_ok })
}

const INT_MIN: i128 = i32::MIN as i128;
const INT_MAX: i128 = i32::MAX as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const LONG_MAX: i128 = i64::MAX as i128; // also LLONG_MAX: Tessera, like Redis, is LP64
const MB: i128 = 1024 * 1024;
const ULLONG_MAX: i128 = u64::MAX as i128;

/// Redis clamps `hz` into this range instead of refusing out-of-range values.
const HZ_RANGE: (i128, i128) = (1, 500);
/// Redis's CONFIG_BINDADDR_MAX.
const MAX_BIND_ADDRESSES: usize = 16;
/// Redis has no limit and overflows its stack on an include loop; we stop here instead.
const MAX_INCLUDE_DEPTH: usize = 16;

#[derive(Debug)]
enum StrRule {
    Any,
    /// Must be a bare name, no `/` or `\`: `noun` is "filename" or "dirname" as in Redis's
    /// messages, `empty_ok` whether "" is accepted.
    BaseName {
        noun: &'static str,
        empty_ok: bool,
    },
}

/// Where a parameter's default comes from.
#[derive(Debug)]
enum DefaultValue {
    /// Parsed like a CONFIG SET value (multi-argument values split on spaces).
    Text(&'static str),
    /// The number of CPUs available to the process.
    Cores,
    /// The working directory at startup (Redis's `dir` is literally its cwd).
    Cwd,
}

#[derive(Debug)]
struct Def {
    param: Param,
    name: &'static str,
    aliases: &'static [&'static str],
    kind: Kind,
    default: DefaultValue,
    flags: u8,
}

impl Def {
    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    fn names(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.name).chain(self.aliases.iter().copied())
    }
}

/// Declares the `Param` enum and the `TABLE` together so the two cannot drift apart: row `i`
/// of the table describes the parameter whose discriminant is `i`.
macro_rules! parameters {
    ($( $param:ident: $name:literal $([$($alias:literal),+])?, $kind:expr, $default:expr, $flags:expr; )*) => {
        /// Identifies a parameter; its discriminant is its row (and value slot) number.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Param { $($param),* }

        /// Every parameter Tessera understands.
        static TABLE: &[Def] = &[ $( Def {
            param: Param::$param,
            name: $name,
            aliases: &[$($($alias),+)?],
            kind: $kind,
            default: $default,
            flags: $flags,
        } ),* ];
    };
}

use flag::{IMMUTABLE, LIVE, MULTI_ARG, PROTECTED, SENSITIVE};
use DefaultValue::{Cores, Cwd, Text};

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];
const FSYNC_POLICIES: &[&str] = &["everysec", "always", "no"];
const PROTECTED_ACTION: &[&str] = &["no", "yes", "local"];
const MAXMEMORY_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

// Bounds, defaults and flags are Redis 7.0's (src/config.c), except `threads`, which is ours.
parameters! {
    // Network.
    Port: "port", int(0, 65535), Text("6379"), LIVE;
    // Redis's built-in default binds every interface and relies on protected mode to refuse
    // remote clients; Tessera has no protected mode yet, so it binds loopback by default, as the
    // redis.conf Redis ships does.
    Bind: "bind", Kind::Bind, Text("127.0.0.1 -::1"), MULTI_ARG | LIVE;
    ProtectedMode: "protected-mode", Kind::Bool, Text("yes"), 0;
    TcpBacklog: "tcp-backlog", int(0, INT_MAX), Text("511"), IMMUTABLE;
    TcpKeepalive: "tcp-keepalive", int(0, INT_MAX), Text("300"), 0;
    Timeout: "timeout", int(0, INT_MAX), Text("0"), 0;
    Maxclients: "maxclients", uint(1, UINT_MAX), Text("10000"), 0;
    Requirepass: "requirepass", TEXT, Text(""), SENSITIVE;
    ProtoMaxBulkLen: "proto-max-bulk-len", mem(MB, LONG_MAX), Text("536870912"), 0;
    ClientQueryBufferLimit: "client-query-buffer-limit", umem(MB, LONG_MAX), Text("1073741824"), 0;
    // Process.
    Threads: "threads", int(1, 1024), Cores, IMMUTABLE;
    Databases: "databases", int(1, INT_MAX), Text("16"), IMMUTABLE;
    Hz: "hz", int(0, INT_MAX), Text("10"), 0;
    Daemonize: "daemonize", Kind::Bool, Text("no"), IMMUTABLE;
    Loglevel: "loglevel", Kind::Enum(LOGLEVELS), Text("notice"), 0;
    Logfile: "logfile", TEXT, Text(""), IMMUTABLE;
    EnableDebugCommand: "enable-debug-command", Kind::Enum(PROTECTED_ACTION), Text("no"), IMMUTABLE;
    // Persistence.
    Dir: "dir", Kind::Dir, Cwd, PROTECTED;
    Dbfilename: "dbfilename", base_name("filename", true), Text("dump.rdb"), PROTECTED;
    Save: "save", Kind::Save, Text("3600 1 300 100 60 10000"), MULTI_ARG;
    Rdbcompression: "rdbcompression", Kind::Bool, Text("yes"), 0;
    Rdbchecksum: "rdbchecksum", Kind::Bool, Text("yes"), IMMUTABLE;
    StopWritesOnBgsaveError: "stop-writes-on-bgsave-error", Kind::Bool, Text("yes"), 0;
    RdbKeySaveDelay: "rdb-key-save-delay", int(INT_MIN, INT_MAX), Text("0"), 0;
    // Tessera's own: a snapshot child whose progress stalls this many seconds is killed
    // (0 = never).
    RdbChildStallTimeout: "rdb-child-stall-timeout", int(0, INT_MAX), Text("60"), 0;
    Appendonly: "appendonly", Kind::Bool, Text("no"), LIVE;
    Appendfsync: "appendfsync", Kind::Enum(FSYNC_POLICIES), Text("everysec"), 0;
    Appendfilename: "appendfilename", base_name("filename", false), Text("appendonly.aof"), IMMUTABLE;
    Appenddirname: "appenddirname", base_name("dirname", false), Text("appendonlydir"), IMMUTABLE;
    AofLoadTruncated: "aof-load-truncated", Kind::Bool, Text("yes"), 0;
    AofUseRdbPreamble: "aof-use-rdb-preamble", Kind::Bool, Text("yes"), 0;
    AutoAofRewritePercentage: "auto-aof-rewrite-percentage", int(0, INT_MAX), Text("100"), 0;
    AutoAofRewriteMinSize: "auto-aof-rewrite-min-size", mem(0, LONG_MAX), Text("67108864"), 0;
    // Memory and eviction.
    Maxmemory: "maxmemory", umem(0, ULLONG_MAX), Text("0"), 0;
    MaxmemoryPolicy: "maxmemory-policy", Kind::Enum(MAXMEMORY_POLICIES), Text("noeviction"), 0;
    MaxmemorySamples: "maxmemory-samples", int(1, 64), Text("5"), 0;
    LfuLogFactor: "lfu-log-factor", int(0, INT_MAX), Text("10"), 0;
    LfuDecayTime: "lfu-decay-time", int(0, INT_MAX), Text("1"), 0;
    LazyfreeLazyEviction: "lazyfree-lazy-eviction", Kind::Bool, Text("no"), 0;
    LazyfreeLazyExpire: "lazyfree-lazy-expire", Kind::Bool, Text("no"), 0;
    LazyfreeLazyServerDel: "lazyfree-lazy-server-del", Kind::Bool, Text("no"), 0;
    LazyfreeLazyUserDel: "lazyfree-lazy-user-del", Kind::Bool, Text("no"), 0;
    LazyfreeLazyUserFlush: "lazyfree-lazy-user-flush", Kind::Bool, Text("no"), 0;
    ActiveExpireEffort: "active-expire-effort", int(1, 10), Text("1"), 0;
    // Encodings.
    HashMaxListpackEntries: "hash-max-listpack-entries" ["hash-max-ziplist-entries"], uint(0, LONG_MAX), Text("512"), 0;
    HashMaxListpackValue: "hash-max-listpack-value" ["hash-max-ziplist-value"], umem(0, LONG_MAX), Text("64"), 0;
    SetMaxIntsetEntries: "set-max-intset-entries", uint(0, LONG_MAX), Text("512"), 0;
    ZsetMaxListpackEntries: "zset-max-listpack-entries" ["zset-max-ziplist-entries"], uint(0, LONG_MAX), Text("128"), 0;
    ZsetMaxListpackValue: "zset-max-listpack-value" ["zset-max-ziplist-value"], umem(0, LONG_MAX), Text("64"), 0;
    ListMaxListpackSize: "list-max-listpack-size" ["list-max-ziplist-size"], int(INT_MIN, INT_MAX), Text("-2"), 0;
    // Introspection.
    LatencyTracking: "latency-tracking", Kind::Bool, Text("yes"), 0;
    SlowlogLogSlowerThan: "slowlog-log-slower-than", int(-1, LONG_MAX), Text("10000"), 0;
    SlowlogMaxLen: "slowlog-max-len", int(0, LONG_MAX), Text("128"), 0;
}

/// Directives Redis 7.0 accepts (with exactly one argument) only to ignore them: deprecated.
const IGNORED_DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// Everything else Redis 7.0 understands in a config file, so that a redis.conf moved over to
/// Tessera fails with a precise message instead of "Bad directive".
#[rustfmt::skip]
const REDIS_ONLY_DIRECTIVES: &[&str] = &[
    "acl-pubsub-default", "aclfile", "acllog-max-len", "active-defrag-cycle-max",
    "active-defrag-cycle-min", "active-defrag-ignore-bytes", "active-defrag-max-scan-fields",
    "active-defrag-threshold-lower", "active-defrag-threshold-upper", "activedefrag",
    "activerehashing", "always-show-logo", "aof-disable-auto-gc",
    "aof-rewrite-incremental-fsync", "aof-timestamp-enabled",
    "aof_rewrite_cpulist",
    "bgsave_cpulist", "bind-source-addr", "bio_cpulist", "busy-reply-threshold",
    "client-output-buffer-limit", "cluster-allow-pubsubshard-when-down",
    "cluster-allow-reads-when-down", "cluster-allow-replica-migration",
    "cluster-announce-bus-port", "cluster-announce-hostname", "cluster-announce-ip",
    "cluster-announce-port", "cluster-announce-tls-port", "cluster-config-file",
    "cluster-enabled", "cluster-link-sendbuf-limit", "cluster-migration-barrier",
    "cluster-node-timeout", "cluster-port", "cluster-preferred-endpoint-type",
    "cluster-replica-no-failover", "cluster-replica-validity-factor",
    "cluster-require-full-coverage", "cluster-slave-no-failover",
    "cluster-slave-validity-factor", "crash-log-enabled", "crash-memcheck-enabled",
    "disable-thp", "dynamic-hz", "enable-module-command",
    "enable-protected-configs", "hll-sparse-max-bytes", "ignore-warnings", "io-threads",
    "io-threads-do-reads", "jemalloc-bg-thread", "latency-monitor-threshold",
    "latency-tracking-info-percentiles",
    "list-compress-depth", "loadmodule", "lua-time-limit", "masterauth", "masteruser",
    "maxmemory-clients", "maxmemory-eviction-tenacity",
    "min-replicas-max-lag", "min-replicas-to-write", "min-slaves-max-lag",
    "min-slaves-to-write", "no-appendfsync-on-rewrite", "notify-keyspace-events",
    "oom-score-adj", "oom-score-adj-values", "pidfile", "proc-title-template",
    "propagation-error-behavior", "rdb-del-sync-files", "rdb-save-incremental-fsync",
    "rename-command", "repl-backlog-size", "repl-backlog-ttl", "repl-disable-tcp-nodelay",
    "repl-diskless-load", "repl-diskless-sync", "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas", "repl-ping-replica-period", "repl-ping-slave-period",
    "repl-timeout", "replica-announce-ip", "replica-announce-port", "replica-announced",
    "replica-ignore-disk-write-errors", "replica-ignore-maxmemory", "replica-lazy-flush",
    "replica-priority", "replica-read-only", "replica-serve-stale-data", "replicaof",
    "sanitize-dump-payload", "sentinel", "server_cpulist", "set-proc-title",
    "shutdown-on-sigint", "shutdown-on-sigterm", "shutdown-timeout", "slave-announce-ip",
    "slave-announce-port", "slave-ignore-maxmemory", "slave-lazy-flush", "slave-priority",
    "slave-read-only", "slave-serve-stale-data", "slaveof", "socket-mark-id",
    "stream-node-max-bytes", "stream-node-max-entries", "supervised", "syslog-enabled",
    "syslog-facility", "syslog-ident", "tls-auth-clients", "tls-ca-cert-dir",
    "tls-ca-cert-file", "tls-cert-file", "tls-ciphers", "tls-ciphersuites",
    "tls-client-cert-file", "tls-client-key-file", "tls-client-key-file-pass", "tls-cluster",
    "tls-dh-params-file", "tls-key-file", "tls-key-file-pass", "tls-port",
    "tls-prefer-server-ciphers", "tls-protocols", "tls-replication", "tls-session-cache-size",
    "tls-session-cache-timeout", "tls-session-caching", "tracking-table-max-keys", "unixsocket",
    "unixsocketperm", "user",
];

/// Finds a parameter by name or alias, case-insensitively. Also returns the spelling it was
/// registered under (lowercase), which Redis uses in some error messages.
fn lookup(name: &[u8]) -> Option<(&'static Def, &'static str)> {
    TABLE.iter().find_map(|def| {
        def.names()
            .find(|n| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|n| (def, n))
    })
}

/// Whether `name` (any spelling or alias) holds a secret, so that the value given to CONFIG SET
/// must be redacted from MONITOR, SLOWLOG and the like.
pub fn is_sensitive(name: &[u8]) -> bool {
    lookup(name).is_some_and(|(def, _)| def.has(SENSITIVE))
}

// ---------------------------------------------------------------------------------------------
// Values and the Config snapshot
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Bool(bool),
    Int(i128),
    /// Index into the parameter's word list.
    Enum(usize),
    /// Strings and directories, as raw bytes: passwords need not be UTF-8.
    Bytes(Vec<u8>),
    Save(Vec<SavePoint>),
    Bind(Vec<String>),
}

/// One `save <seconds> <changes>` rule: snapshot when at least `changes` writes happened within
/// `seconds`. The types are Redis's (`time_t`, `int`), including its silent truncation of a
/// `changes` that does not fit in an `int`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavePoint {
    pub seconds: i64,
    pub changes: i32,
}

/// A `bind` address as the network layer needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindAddr {
    /// An IP address or host name; `*` means every IPv4 address and `::*` every IPv6 one.
    pub addr: String,
    /// Written with a leading `-`: failing to bind it (say, no IPv6) is not an error.
    pub optional: bool,
}

/// `loglevel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendFsync {
    EverySec,
    Always,
    No,
}

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxmemoryPolicy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    NoEviction,
}

impl LogLevel {
    /// The word redis.conf and CONFIG GET use.
    pub fn as_str(self) -> &'static str {
        LOGLEVELS[self as usize]
    }
}

impl AppendFsync {
    /// The word redis.conf and CONFIG GET use.
    pub fn as_str(self) -> &'static str {
        FSYNC_POLICIES[self as usize]
    }
}

impl MaxmemoryPolicy {
    /// The word redis.conf, CONFIG GET and INFO use.
    pub fn as_str(self) -> &'static str {
        MAXMEMORY_POLICIES[self as usize]
    }
}

/// One complete, validated configuration. Immutable once built: CONFIG SET produces a new one.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// One slot per row of `TABLE`.
    values: Vec<Value>,
    /// The config file named on the command line, made absolute (as Redis does for INFO and
    /// CONFIG REWRITE).
    config_file: Option<PathBuf>,
}

impl Default for Config {
    /// Redis's defaults (plus `threads` = available CPUs, `dir` = the working directory).
    fn default() -> Config {
        let mut values = Vec::with_capacity(TABLE.len());
        for def in TABLE {
            let value = match def.default {
                Text(text) => {
                    let args = split_set_value(def, text.as_bytes());
                    parse_value(def, &args)
                        .unwrap_or_else(|e| panic!("bad built-in default for {}: {e}", def.name))
                }
                Cores => Value::Int(
                    std::thread::available_parallelism()
                        .map_or(1, |n| n.get())
                        .min(1024) as i128,
                ),
                Cwd => Value::Bytes(
                    std::env::current_dir()
                        .and_then(fs::canonicalize)
                        .map(|p| p.into_os_string().into_vec())
                        .unwrap_or_else(|_| b".".to_vec()),
                ),
            };
            values.push(value);
        }
        Config {
            values,
            config_file: None,
        }
    }
}

/// Typed accessors for the values the rest of Tessera reads. Each one is a slot lookup; the
/// table guarantees the slot holds the right variant within the declared bounds, which is why
/// the narrowing casts below cannot truncate.
impl Config {
    fn value(&self, p: Param) -> &Value {
        &self.values[p as usize]
    }

    fn int(&self, p: Param) -> i128 {
        match self.value(p) {
            Value::Int(v) => *v,
            other => unreachable!("{p:?} holds {other:?}, not an integer"),
        }
    }

    fn flag(&self, p: Param) -> bool {
        match self.value(p) {
            Value::Bool(v) => *v,
            other => unreachable!("{p:?} holds {other:?}, not a bool"),
        }
    }

    fn word(&self, p: Param) -> usize {
        match self.value(p) {
            Value::Enum(i) => *i,
            other => unreachable!("{p:?} holds {other:?}, not an enum"),
        }
    }

    fn bytes(&self, p: Param) -> &[u8] {
        match self.value(p) {
            Value::Bytes(b) => b,
            other => unreachable!("{p:?} holds {other:?}, not a string"),
        }
    }

    fn path(&self, p: Param) -> &Path {
        Path::new(OsStr::from_bytes(self.bytes(p)))
    }

    /// The config file given on the command line, as an absolute path.
    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    /// TCP port; 0 means "no TCP listener" (load refuses that, since Tessera has no other).
    pub fn port(&self) -> u16 {
        self.int(Param::Port) as u16
    }

    /// Addresses to listen on. Redis's default is `* -::*`: all IPv4, plus all IPv6 if
    /// available.
    pub fn bind(&self) -> Vec<BindAddr> {
        match self.value(Param::Bind) {
            Value::Bind(addrs) => addrs
                .iter()
                .map(|a| match a.strip_prefix('-') {
                    Some(rest) => BindAddr {
                        addr: rest.to_owned(),
                        optional: true,
                    },
                    None => BindAddr {
                        addr: a.clone(),
                        optional: false,
                    },
                })
                .collect(),
            other => unreachable!("bind holds {other:?}"),
        }
    }

    pub fn protected_mode(&self) -> bool {
        self.flag(Param::ProtectedMode)
    }

    /// `listen()` backlog.
    pub fn tcp_backlog(&self) -> u32 {
        self.int(Param::TcpBacklog) as u32
    }

    /// SO_KEEPALIVE interval in seconds; 0 disables keepalive.
    pub fn tcp_keepalive_secs(&self) -> u32 {
        self.int(Param::TcpKeepalive) as u32
    }

    /// Idle client timeout in seconds; 0 means never.
    pub fn timeout_secs(&self) -> u32 {
        self.int(Param::Timeout) as u32
    }

    pub fn maxclients(&self) -> u32 {
        self.int(Param::Maxclients) as u32
    }

    /// The default user's password; `None` when unset (`requirepass ""`).
    pub fn requirepass(&self) -> Option<&[u8]> {
        Some(self.bytes(Param::Requirepass)).filter(|p| !p.is_empty())
    }

    /// Largest bulk string a client may send.
    pub fn proto_max_bulk_len(&self) -> u64 {
        self.int(Param::ProtoMaxBulkLen) as u64
    }

    /// Largest query buffer a client may accumulate.
    pub fn client_query_buffer_limit(&self) -> u64 {
        self.int(Param::ClientQueryBufferLimit) as u64
    }

    /// Number of shards, one thread each.
    pub fn threads(&self) -> usize {
        self.int(Param::Threads) as usize
    }

    pub fn databases(&self) -> usize {
        self.int(Param::Databases) as usize
    }

    /// Background task frequency, already clamped to 1..=500 as Redis does.
    /// `enable-debug-command`: `no`, `yes` or `local` (loopback connections only).
    pub fn enable_debug_command(&self) -> &'static str {
        PROTECTED_ACTION[self.word(Param::EnableDebugCommand)]
    }

    pub fn hz(&self) -> u32 {
        self.int(Param::Hz) as u32
    }

    pub fn loglevel(&self) -> LogLevel {
        [
            LogLevel::Debug,
            LogLevel::Verbose,
            LogLevel::Notice,
            LogLevel::Warning,
        ][self.word(Param::Loglevel)]
    }

    /// Where to log; `None` means standard output (`logfile ""`).
    pub fn logfile(&self) -> Option<&Path> {
        Some(self.path(Param::Logfile)).filter(|p| !p.as_os_str().is_empty())
    }

    /// The working directory for persistence files, absolute and canonical. Unlike Redis,
    /// Tessera does not `chdir()` into it: join file names onto it instead.
    pub fn dir(&self) -> &Path {
        self.path(Param::Dir)
    }

    /// RDB file name, relative to [`Config::dir`] (never contains a `/`; may be empty).
    pub fn dbfilename(&self) -> &Path {
        self.path(Param::Dbfilename)
    }

    /// Snapshot rules; empty when snapshotting is disabled (`save ""`).
    pub fn save_points(&self) -> &[SavePoint] {
        match self.value(Param::Save) {
            Value::Save(points) => points,
            other => unreachable!("save holds {other:?}"),
        }
    }

    pub fn rdbcompression(&self) -> bool {
        self.flag(Param::Rdbcompression)
    }

    pub fn rdbchecksum(&self) -> bool {
        self.flag(Param::Rdbchecksum)
    }

    /// Microseconds a snapshot sleeps after each key (`rdb-key-save-delay`, for tests).
    pub fn rdb_key_save_delay(&self) -> i64 {
        self.int(Param::RdbKeySaveDelay) as i64
    }

    /// Seconds without progress after which a snapshot child is killed; 0 means never.
    pub fn rdb_child_stall_timeout(&self) -> u64 {
        self.int(Param::RdbChildStallTimeout).max(0) as u64
    }

    pub fn stop_writes_on_bgsave_error(&self) -> bool {
        self.flag(Param::StopWritesOnBgsaveError)
    }

    pub fn appendonly(&self) -> bool {
        self.flag(Param::Appendonly)
    }

    pub fn appendfsync(&self) -> AppendFsync {
        [AppendFsync::EverySec, AppendFsync::Always, AppendFsync::No][self.word(Param::Appendfsync)]
    }

    /// Base name of the AOF files (never empty, never contains a `/`).
    pub fn appendfilename(&self) -> &Path {
        self.path(Param::Appendfilename)
    }

    /// Whether an AOF whose last record is cut short loads (truncated there) or stops the start.
    pub fn aof_load_truncated(&self) -> bool {
        self.flag(Param::AofLoadTruncated)
    }

    /// Whether an AOF rewrite writes its base as an RDB file (else as commands).
    pub fn aof_use_rdb_preamble(&self) -> bool {
        self.flag(Param::AofUseRdbPreamble)
    }

    /// Growth over the size after the last rewrite, in percent, that triggers a rewrite (0: never).
    pub fn auto_aof_rewrite_percentage(&self) -> u64 {
        self.int(Param::AutoAofRewritePercentage).max(0) as u64
    }

    /// The AOF size below which no automatic rewrite happens.
    pub fn auto_aof_rewrite_min_size(&self) -> u64 {
        self.int(Param::AutoAofRewriteMinSize).max(0) as u64
    }

    /// Directory, under [`Config::dir`], holding the AOF files.
    pub fn appenddirname(&self) -> &Path {
        self.path(Param::Appenddirname)
    }

    /// Memory limit in bytes; 0 means none.
    pub fn maxmemory(&self) -> u64 {
        self.int(Param::Maxmemory) as u64
    }

    pub fn maxmemory_policy(&self) -> MaxmemoryPolicy {
        use MaxmemoryPolicy::*;
        [
            VolatileLru,
            VolatileLfu,
            VolatileRandom,
            VolatileTtl,
            AllkeysLru,
            AllkeysLfu,
            AllkeysRandom,
            NoEviction,
        ][self.word(Param::MaxmemoryPolicy)]
    }

    /// Keys sampled per eviction, as Redis's approximated LRU/LFU/TTL.
    pub fn maxmemory_samples(&self) -> usize {
        self.int(Param::MaxmemorySamples) as usize
    }

    pub fn lfu_log_factor(&self) -> u32 {
        self.int(Param::LfuLogFactor) as u32
    }

    /// Minutes after which an LFU counter decays by one.
    pub fn lfu_decay_time(&self) -> u32 {
        self.int(Param::LfuDecayTime) as u32
    }

    pub fn lazyfree_lazy_eviction(&self) -> bool {
        self.flag(Param::LazyfreeLazyEviction)
    }

    pub fn lazyfree_lazy_expire(&self) -> bool {
        self.flag(Param::LazyfreeLazyExpire)
    }

    pub fn lazyfree_lazy_server_del(&self) -> bool {
        self.flag(Param::LazyfreeLazyServerDel)
    }

    pub fn lazyfree_lazy_user_del(&self) -> bool {
        self.flag(Param::LazyfreeLazyUserDel)
    }

    pub fn lazyfree_lazy_user_flush(&self) -> bool {
        self.flag(Param::LazyfreeLazyUserFlush)
    }

    /// 1..=10.
    pub fn active_expire_effort(&self) -> u32 {
        self.int(Param::ActiveExpireEffort) as u32
    }

    pub fn hash_max_listpack_entries(&self) -> usize {
        self.int(Param::HashMaxListpackEntries) as usize
    }

    pub fn hash_max_listpack_value(&self) -> usize {
        self.int(Param::HashMaxListpackValue) as usize
    }

    pub fn set_max_intset_entries(&self) -> usize {
        self.int(Param::SetMaxIntsetEntries) as usize
    }

    pub fn zset_max_listpack_entries(&self) -> usize {
        self.int(Param::ZsetMaxListpackEntries) as usize
    }

    pub fn zset_max_listpack_value(&self) -> usize {
        self.int(Param::ZsetMaxListpackValue) as usize
    }

    /// Positive: max entries per quicklist node; -1..=-5: max node size 4kb..64kb.
    pub fn list_max_listpack_size(&self) -> i32 {
        self.int(Param::ListMaxListpackSize) as i32
    }

    pub fn latency_tracking(&self) -> bool {
        self.flag(Param::LatencyTracking)
    }

    /// Microseconds; negative disables the slow log, 0 logs every command.
    pub fn slowlog_log_slower_than(&self) -> i64 {
        self.int(Param::SlowlogLogSlowerThan) as i64
    }

    pub fn slowlog_max_len(&self) -> u64 {
        self.int(Param::SlowlogMaxLen) as u64
    }

    /// A parameter's value as CONFIG GET prints it. `name` may be any spelling or alias.
    pub fn get(&self, name: &str) -> Option<Vec<u8>> {
        lookup(name.as_bytes()).map(|(def, _)| self.format(def))
    }

    /// Formats a value the way Redis's CONFIG GET does.
    fn format(&self, def: &Def) -> Vec<u8> {
        match (&def.kind, self.value(def.param)) {
            (_, Value::Bool(b)) => {
                if *b {
                    b"yes".to_vec()
                } else {
                    b"no".to_vec()
                }
            }
            (_, Value::Int(v)) => v.to_string().into_bytes(),
            (Kind::Enum(words), Value::Enum(i)) => words[*i].as_bytes().to_vec(),
            (_, Value::Bytes(b)) => b.clone(),
            (_, Value::Save(points)) => points
                .iter()
                .map(|p| format!("{} {}", p.seconds, p.changes))
                .collect::<Vec<_>>()
                .join(" ")
                .into_bytes(),
            (_, Value::Bind(addrs)) => addrs.join(" ").into_bytes(),
            (kind, value) => unreachable!("{kind:?} holds {value:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing values (shared by config files, the command line and CONFIG SET)
// ---------------------------------------------------------------------------------------------

/// Splits a CONFIG SET value into arguments the way Redis does (`sdssplitlen` on single
/// spaces, so doubled spaces make empty arguments; an empty value is zero arguments).
fn split_set_value(def: &Def, value: &[u8]) -> Vec<Vec<u8>> {
    if !def.has(MULTI_ARG) {
        vec![value.to_vec()]
    } else if value.is_empty() {
        Vec::new()
    } else {
        value.split(|&b| b == b' ').map(<[u8]>::to_vec).collect()
    }
}

/// Parses the arguments of one parameter into its new value. Errors are Redis's messages.
fn parse_value(def: &Def, args: &[Vec<u8>]) -> Result<Value, String> {
    // Multi-argument kinds check their own arity; the callers guarantee one argument otherwise.
    let one = || args.first().map(Vec::as_slice).unwrap_or_default();
    match &def.kind {
        Kind::Bool => {
            let v = match one() {
                a if a.eq_ignore_ascii_case(b"yes") => true,
                a if a.eq_ignore_ascii_case(b"no") => false,
                _ => return Err("argument must be 'yes' or 'no'".into()),
            };
            if def.param == Param::Daemonize && v {
                return Err(
                    "Tessera does not daemonize: run it in the foreground under a \
                            supervisor (systemd, Docker, ...) and set 'daemonize no'"
                        .into(),
                );
            }
            Ok(Value::Bool(v))
        }
        Kind::Int(spec) => {
            let mut v = parse_int(spec, one())?;
            if def.param == Param::Hz {
                // Redis takes hz as a hint: out-of-range values are clamped, not refused.
                v = v.clamp(HZ_RANGE.0, HZ_RANGE.1);
            }
            Ok(Value::Int(v))
        }
        Kind::Enum(words) => words
            .iter()
            .position(|w| w.as_bytes().eq_ignore_ascii_case(one()))
            .map(Value::Enum)
            .ok_or_else(|| {
                format!(
                    "argument(s) must be one of the following: {}",
                    words.join(", ")
                )
            }),
        Kind::Str(rule) => {
            let s = one();
            if let StrRule::BaseName { noun, empty_ok } = rule {
                if s.is_empty() && !empty_ok {
                    return Err(format!("{} can't be empty", def.name));
                }
                if s.iter().any(|&b| b == b'/' || b == b'\\') {
                    return Err(format!("{} can't be a path, just a {noun}", def.name));
                }
            }
            Ok(Value::Bytes(s.to_vec()))
        }
        Kind::Dir => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            // Redis chdir()s and reports strerror(); canonicalize fails the same way for a
            // missing path, and we check the "is a directory" part ourselves.
            match fs::canonicalize(OsStr::from_bytes(one())) {
                Ok(p) if p.is_dir() => Ok(Value::Bytes(p.into_os_string().into_vec())),
                Ok(_) => Err("Not a directory".into()),
                Err(e) => Err(strerror(&e)),
            }
        }
        Kind::Save => parse_save(args).map(Value::Save),
        Kind::Bind => {
            if args.len() > MAX_BIND_ADDRESSES {
                return Err("Too many bind addresses specified.".into());
            }
            // A single empty argument means "no addresses", as in Redis.
            let args = if args.len() == 1 && args[0].is_empty() {
                &[][..]
            } else {
                args
            };
            args.iter()
                .map(|a| {
                    String::from_utf8(a.clone()).map_err(|_| "Invalid bind address".to_owned())
                })
                .collect::<Result<_, _>>()
                .map(Value::Bind)
        }
    }
}

fn parse_int(spec: &IntSpec, arg: &[u8]) -> Result<i128, String> {
    // Reinterpret through the C type, as Redis's assignments do: a huge memory value wraps to
    // negative in a signed parameter, a negative integer to huge in an unsigned one. Either
    // way the bounds check below then refuses it, with Redis's message.
    let v = if spec.memory {
        let v = memtoull(arg).ok_or("argument must be a memory value")?;
        if spec.unsigned {
            v as i128
        } else {
            v as i64 as i128
        }
    } else {
        let v = parse_i64_strict(arg).ok_or("argument couldn't be parsed into an integer")?;
        if spec.unsigned {
            v as u64 as i128
        } else {
            v as i128
        }
    };
    if v < spec.min || v > spec.max {
        return Err(format!(
            "argument must be between {} and {} inclusive",
            spec.min, spec.max
        ));
    }
    Ok(v)
}

/// `save` arguments: pairs of `strtoll` numbers, seconds >= 1 and changes >= 0. A single
/// empty argument means "no rules".
fn parse_save(args: &[Vec<u8>]) -> Result<Vec<SavePoint>, String> {
    let args = if args.len() == 1 && args[0].is_empty() {
        &[][..]
    } else {
        args
    };
    let invalid = || "Invalid save parameters".to_owned();
    if args.len() % 2 != 0 {
        return Err(invalid());
    }
    args.chunks(2)
        .map(|pair| {
            let (seconds, ok_s) = c_strtoll(&pair[0]);
            let (changes, ok_c) = c_strtoll(&pair[1]);
            if !ok_s || !ok_c || seconds < 1 || changes < 0 {
                return Err(invalid());
            }
            // Redis stores `changes` in an int, truncating silently.
            Ok(SavePoint {
                seconds,
                changes: changes as i32,
            })
        })
        .collect()
}

/// The text of an OS error without Rust's " (os error N)" suffix, i.e. C's `strerror()`.
fn strerror(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

// ---------------------------------------------------------------------------------------------
// redis.conf syntax
// ---------------------------------------------------------------------------------------------

/// Redis's `sdscatrepr()`: quotes an argument so that `split_args` reads it back unchanged.
fn push_repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

fn trim(mut s: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    while s.first().is_some_and(blank) {
        s = &s[1..];
    }
    while s.last().is_some_and(blank) {
        s = &s[..s.len() - 1];
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Loading: command line and config files
// ---------------------------------------------------------------------------------------------

/// What the command line asks for.
#[derive(Debug)]
pub enum Startup {
    /// Run a server with this configuration.
    Run(Config),
    /// `-h` / `--help`: print this and exit successfully.
    Help(String),
    /// `-v` / `--version`: print this and exit successfully.
    Version(String),
}

/// Builds the configuration from the process arguments (program name first, as
/// `std::env::args()` yields them), with redis-server's exact command-line rules. Prints the
/// help or version text and exits for `--help` / `--version`. On error, returns the message to
/// print on stderr before exiting with status 1.
pub fn load(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
    match parse_command_line(args, &mut io::stdin().lock())? {
        Startup::Run(config) => Ok(config),
        Startup::Help(text) => {
            print!("{text}");
            std::process::exit(0)
        }
        Startup::Version(text) => {
            println!("{text}");
            std::process::exit(0)
        }
    }
}

/// [`load`] without the side effects on the process: `stdin` is read only when the command
/// line contains a lone `-`.
pub fn parse_command_line(
    args: impl IntoIterator<Item = String>,
    stdin: &mut dyn Read,
) -> Result<Startup, String> {
    let argv: Vec<String> = args.into_iter().collect();
    let program = argv.first().map_or("tessera-server", String::as_str);
    let mut loader = Loader {
        config: Config::default(),
        save_seen: false,
    };
    if argv.len() < 2 {
        // Like redis-server without arguments: defaults, no config parsing at all.
        loader.finish()?;
        return Ok(Startup::Run(loader.config));
    }
    match argv[1].as_str() {
        "-v" | "--version" => return Ok(Startup::Version(version())),
        "-h" | "--help" => return Ok(Startup::Help(usage(program))),
        _ => {}
    }

    // The first argument is a config file unless it looks like an option.
    let mut j = 1;
    let mut config_file = None;
    if !argv[1].starts_with('-') {
        config_file = Some(absolute(&argv[1]));
        j = 2;
    }

    // Turn the options into config lines, exactly as redis-server's main() does: `--name`
    // starts a new line, every following argument is appended as a quoted value. A name given
    // with no value yet (`handled_last` false) swallows the next argument as its value even
    // if that starts with `--`, so a bare `--appendonly` is an error, not "yes". `--save`
    // alone (last, or followed by another option) means `save ""`.
    let mut options = Vec::new();
    let mut from_stdin = false;
    let mut handled_last = true;
    let last = argv.len() - 1;
    while j <= last {
        let arg = &argv[j];
        if arg == "-" && (j == 1 || j == last) {
            from_stdin = true;
        } else if handled_last && arg.starts_with("--") {
            if !options.is_empty() {
                options.push(b'\n');
            }
            options.extend_from_slice(&arg.as_bytes()[2..]);
            options.push(b' ');
            // "--port 7000" passed as a single argument already carries its value.
            if split_args(arg.as_bytes()).is_some_and(|words| words.len() == 1) {
                handled_last = false;
                if arg.eq_ignore_ascii_case("--save")
                    && (j == last || argv[j + 1].starts_with("--"))
                {
                    options.extend_from_slice(b"\"\"");
                    handled_last = j != last;
                }
            } else {
                handled_last = true;
            }
        } else {
            push_repr(&mut options, arg.as_bytes());
            options.push(b' ');
            handled_last = true;
        }
        j += 1;
    }

    // Everything is then parsed as one text: the file, stdin, a newline, the options. Line
    // numbers in errors therefore count across all three, as in Redis.
    let mut text = Vec::new();
    if let Some(path) = &config_file {
        text = read_config_source(&path.to_string_lossy())?;
    }
    if from_stdin {
        stdin
            .read_to_end(&mut text)
            .map_err(|e| format!("Error reading config from stdin: {}", strerror(&e)))?;
    }
    text.push(b'\n');
    text.extend_from_slice(&options);

    loader.apply_text(&text, None, 0)?;
    loader.finish()?;
    loader.config.config_file = config_file;
    Ok(Startup::Run(loader.config))
}

/// Parses configuration text (redis.conf syntax) on top of the defaults. Handy for tests and
/// for embedding; `include` paths are resolved against the working directory.
pub fn from_text(text: &str) -> Result<Config, String> {
    let mut loader = Loader {
        config: Config::default(),
        save_seen: false,
    };
    loader.apply_text(text.as_bytes(), None, 0)?;
    loader.finish()?;
    Ok(loader.config)
}

fn version() -> String {
    format!(
        "Tessera server v={} bits={} (Redis 7.0 compatible)",
        env!("CARGO_PKG_VERSION"),
        usize::BITS
    )
}

fn usage(program: &str) -> String {
    let mut text = format!(
        "Usage: {p} [/path/to/redis.conf] [options] [-]\n       \
         {p} - (read config from stdin)\n       \
         {p} -v or --version\n       \
         {p} -h or --help\n\n\
         Examples:\n       \
         {p} (run the server with default conf)\n       \
         echo 'maxmemory 128mb' | {p} -\n       \
         {p} /etc/redis/6379.conf\n       \
         {p} --port 7777\n       \
         {p} --port 7777 --threads 4\n       \
         {p} /etc/myredis.conf --loglevel verbose -\n\n\
         Options are redis.conf directives written as --name value [value ...]; they are\n\
         applied after the config file and stdin. Supported directives and defaults:\n",
        p = program
    );
    for def in TABLE {
        let default = match def.default {
            Text("") => "\"\"".to_owned(),
            Text(t) => t.to_owned(),
            Cores => "number of CPUs".to_owned(),
            Cwd => "working directory".to_owned(),
        };
        let mut notes = Vec::new();
        if !def.aliases.is_empty() {
            notes.push(format!("alias {}", def.aliases.join(", ")));
        }
        if def.has(IMMUTABLE) {
            notes.push("startup only".to_owned());
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  ({})", notes.join("; "))
        };
        let _ = writeln!(text, "  {:<28} {default}{notes}", def.name);
    }
    text
}

/// redis-server reports the config file by its absolute path.
fn absolute(path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_owned(), |cwd| cwd.join(path))
    }
}

/// Reads a config file, or every file matching it when it contains a wildcard (in which case
/// matching nothing is fine, so that an empty conf.d/ can be included).
fn read_config_source(path: &str) -> Result<Vec<u8>, String> {
    let files = if path.contains(['*', '?', '[']) {
        expand_path_glob(path)
    } else {
        vec![PathBuf::from(path)]
    };
    let mut text = Vec::new();
    for file in files {
        let content = fs::read(&file).map_err(|e| {
            format!(
                "Fatal error, can't open config file '{}': {}",
                file.display(),
                strerror(&e)
            )
        })?;
        text.extend_from_slice(&content);
    }
    Ok(text)
}

/// A small `glob(3)`: wildcards may appear in any path component and are matched with Redis's
/// glob syntax; names starting with `.` only match a pattern that does too; results are
/// sorted, as glob(3) sorts them.
fn expand_path_glob(pattern: &str) -> Vec<PathBuf> {
    let mut paths = vec![if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    for component in pattern.split('/').filter(|c| !c.is_empty()) {
        if !component.contains(['*', '?', '[']) {
            paths.iter_mut().for_each(|p| p.push(component));
            continue;
        }
        let mut next = Vec::new();
        for base in &paths {
            let listing = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base
            };
            let Ok(entries) = fs::read_dir(listing) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.as_bytes();
                if name.starts_with(b".") && !component.starts_with('.') {
                    continue;
                }
                if glob_match(component.as_bytes(), name, false) {
                    next.push(base.join(OsStr::from_bytes(name)));
                }
            }
        }
        next.sort();
        paths = next;
    }
    paths.retain(|p| p.exists());
    paths
}

/// The state of one load: the configuration being built, and whether a `save` directive has
/// been seen yet (the first one replaces the default rules, later ones add to them).
struct Loader {
    config: Config,
    save_seen: bool,
}

impl Loader {
    /// Applies config text, line by line. `source` names the included file being read, if
    /// any, for error messages.
    fn apply_text(
        &mut self,
        text: &[u8],
        source: Option<&str>,
        depth: usize,
    ) -> Result<(), String> {
        for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = trim(raw);
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let fail = |err: String| {
                let location = match source {
                    Some(file) => format!("Reading the included configuration file '{file}'"),
                    None => "Reading the configuration file".to_owned(),
                };
                format!(
                    "{}\n{location}, at line {}\n>>> '{}'\n{err}",
                    fatal_header(),
                    index + 1,
                    String::from_utf8_lossy(line)
                )
            };
            let argv = split_args(line)
                .ok_or_else(|| fail("Unbalanced quotes in configuration line".into()))?;
            let Some((name, args)) = argv.split_first() else {
                continue;
            };
            let name = name.to_ascii_lowercase();

            if let Some((def, _)) = lookup(&name) {
                if !def.has(MULTI_ARG) && args.len() != 1 {
                    return Err(fail("wrong number of arguments".into()));
                }
                // As Redis: a multi-argument parameter given one non-empty argument
                // (`save "60 1"`, typical of `--save "60 1"`) has it split on spaces.
                let split: Vec<Vec<u8>>;
                let args = if def.has(MULTI_ARG) && args.len() == 1 && !args[0].is_empty() {
                    split = args[0].split(|&b| b == b' ').map(<[u8]>::to_vec).collect();
                    &split[..]
                } else {
                    args
                };
                self.set_from_file(def, args).map_err(fail)?;
            } else if args.len() == 1 && IGNORED_DEPRECATED.contains(&as_str(&name)) {
                // Redis accepts and ignores these; so do we.
            } else if name == b"include" && args.len() == 1 {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(fail(
                        "include nesting too deep (does a file include itself?)".into(),
                    ));
                }
                let path = String::from_utf8_lossy(&args[0]).into_owned();
                let included = read_config_source(&path)?;
                self.apply_text(&included, Some(&path), depth + 1)?;
            } else if REDIS_ONLY_DIRECTIVES.contains(&as_str(&name)) {
                let mut err = format!(
                    "'{}' is a Redis directive that Tessera does not support",
                    as_str(&name)
                );
                if name == b"io-threads" || name == b"io-threads-do-reads" {
                    err.push_str(" (Tessera runs one shard per thread: see 'threads')");
                }
                return Err(fail(err));
            } else {
                return Err(fail("Bad directive or wrong number of arguments".into()));
            }
        }
        Ok(())
    }

    fn set_from_file(&mut self, def: &Def, args: &[Vec<u8>]) -> Result<(), String> {
        let mut value = parse_value(def, args)?;
        if let Value::Save(points) = &mut value {
            // Successive `save` lines accumulate, but the first one replaces the built-in
            // rules and `save ""` clears everything so far. (Redis 7.0 additionally restarts
            // from scratch after an `include`, an accident we do not reproduce.)
            let clears = args.len() == 1 && args[0].is_empty();
            if self.save_seen && !clears {
                if let Value::Save(previous) = &self.config.values[def.param as usize] {
                    points.splice(0..0, previous.iter().copied());
                }
            }
            self.save_seen = true;
        }
        self.config.values[def.param as usize] = value;
        Ok(())
    }

    /// Checks Redis makes once everything is loaded.
    fn finish(&mut self) -> Result<(), String> {
        if let Some(logfile) = self.config.logfile() {
            // Redis makes sure it will be able to log before it goes any further.
            fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(logfile)
                .map_err(|e| {
                    format!(
                        "{}\nCan't open the log file: {}",
                        fatal_header(),
                        strerror(&e)
                    )
                })?;
        }
        // Redis could still listen on a unix socket or a TLS port; Tessera has neither.
        if self.config.port() == 0 || self.config.bind().is_empty() {
            return Err("Configured to not listen anywhere, exiting.".into());
        }
        Ok(())
    }
}

fn fatal_header() -> String {
    format!(
        "*** FATAL CONFIG FILE ERROR (Tessera {}) ***",
        env!("CARGO_PKG_VERSION")
    )
}

/// Directive names are compared against ASCII tables; anything else is simply unknown.
fn as_str(name: &[u8]) -> &str {
    std::str::from_utf8(name).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// The runtime store: CONFIG GET / CONFIG SET
// ---------------------------------------------------------------------------------------------

/// Called with the configuration to put in place; returns an error message to refuse it.
/// Called again with the previous configuration if the change is rolled back.
type ApplyFn = Arc<dyn Fn(&Config) -> Result<(), String> + Send + Sync>;
/// Called after a change is published.
type ListenFn = Arc<dyn Fn(&Arc<Config>) + Send + Sync>;

/// The live configuration, shared by every thread. Cloning the store is cheap and yields a
/// handle to the same configuration.
#[derive(Clone)]
pub struct ConfigStore {
    shared: Arc<Shared>,
}

struct Shared {
    current: RwLock<Arc<Config>>,
    /// Bumped after each published change, so readers can notice with one atomic load.
    version: AtomicU64,
    /// Serializes CONFIG SET and holds the hooks.
    writer: Mutex<Hooks>,
}

#[derive(Default)]
struct Hooks {
    appliers: Vec<(Vec<Param>, ApplyFn)>,
    listeners: Vec<ListenFn>,
}

impl ConfigStore {
    pub fn new(config: Config) -> ConfigStore {
        ConfigStore {
            shared: Arc::new(Shared {
                current: RwLock::new(Arc::new(config)),
                version: AtomicU64::new(0),
                writer: Mutex::new(Hooks::default()),
            }),
        }
    }

    /// The current configuration. Cheap (one read lock, one reference count increment), but
    /// on a hot path prefer a [`ConfigCache`].
    pub fn snapshot(&self) -> Arc<Config> {
        self.shared
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Increases by one on every successful CONFIG SET that changed something.
    pub fn version(&self) -> u64 {
        self.shared.version.load(Ordering::Acquire)
    }

    /// Registers the subsystem that puts changes of `params` into effect (rebinding for
    /// `port`/`bind`, AOF for `appendonly`...). CONFIG SET calls `apply` with the new
    /// configuration before publishing it; an `Err` aborts the whole CONFIG SET (Redis's
    /// reply is `CONFIG SET failed (possibly related to argument '<param>') - <err>`), and
    /// hooks that already succeeded are called again with the old configuration to undo.
    /// Parameters flagged LIVE (port, bind, appendonly) are refused by CONFIG SET until a hook
    /// covers them, since changing them would otherwise have no effect.
    ///
    /// Hooks run on the thread doing the CONFIG SET, while it holds the store's write lock:
    /// they may read [`ConfigStore::snapshot`] but must not call `set`, `on_apply` or
    /// `subscribe`. Panics on an unknown parameter name: that is a programming error.
    pub fn on_apply(
        &self,
        params: &[&str],
        apply: impl Fn(&Config) -> Result<(), String> + Send + Sync + 'static,
    ) {
        let params = params
            .iter()
            .map(|name| {
                lookup(name.as_bytes())
                    .unwrap_or_else(|| panic!("no parameter {name}"))
                    .0
                    .param
            })
            .collect();
        self.hooks().appliers.push((params, Arc::new(apply)));
    }

    /// Registers a callback run after each published change, on the CONFIG SET thread and
    /// under the same restrictions as apply hooks. Threads that would rather poll can watch
    /// [`ConfigStore::version`] or use a [`ConfigCache`].
    pub fn subscribe(&self, listener: impl Fn(&Arc<Config>) + Send + Sync + 'static) {
        self.hooks().listeners.push(Arc::new(listener));
    }

    fn hooks(&self) -> std::sync::MutexGuard<'_, Hooks> {
        self.shared.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// CONFIG GET with one or more glob patterns (matched case-insensitively against names and
    /// aliases). A pattern without `*`, `?` or `[` is a plain lookup and is answered under the
    /// spelling it was asked with, as Redis does. Each name appears once.
    pub fn get<P: AsRef<[u8]>>(&self, patterns: &[P]) -> Vec<(String, Vec<u8>)> {
        let config = self.snapshot();
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        let mut add = |name: &str, def: &Def| {
            if !out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                out.push((name.to_owned(), config.format(def)));
            }
        };
        for pattern in patterns {
            let pattern = pattern.as_ref();
            if !pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
                if let Some((def, _)) = lookup(pattern) {
                    add(as_str(pattern), def); // matched a table name, so it is ASCII
                }
                continue;
            }
            for def in TABLE {
                for name in def.names() {
                    if glob_match(pattern, name.as_bytes(), true) {
                        add(name, def);
                    }
                }
            }
        }
        out
    }

    /// CONFIG SET with one or more name/value pairs, all-or-nothing. The error is the full
    /// Redis reply text, "ERR ..." included. (CONFIG SET's own arity errors, odd or missing
    /// arguments, belong to the command layer.)
    pub fn set<N: AsRef<[u8]>, V: AsRef<[u8]>>(&self, pairs: &[(N, V)]) -> Result<(), String> {
        let hooks = self.hooks(); // one CONFIG SET at a time
        let failed = |arg: &str, why: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}")
        };

        // Resolve every name first; the first problem found is the one reported.
        let mut targets: Vec<(&Def, &str, &[u8])> = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let (name, value) = (name.as_ref(), value.as_ref());
            let typed = String::from_utf8_lossy(name);
            let Some((def, registered)) = lookup(name) else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{typed}'"
                ));
            };
            let live_without_hook = def.has(LIVE)
                && !hooks
                    .appliers
                    .iter()
                    .any(|(params, _)| params.contains(&def.param));
            if def.has(IMMUTABLE) || live_without_hook {
                return Err(failed(&typed, "can't set immutable config"));
            }
            if def.has(PROTECTED) {
                return Err(failed(&typed, "can't set protected config"));
            }
            // Redis compares configs by table entry, and an alias is an entry of its own.
            if targets.iter().any(|(_, seen, _)| *seen == registered) {
                return Err(failed(&typed, "duplicate parameter"));
            }
            targets.push((def, registered, value));
        }

        // Build the new snapshot; any invalid value aborts before anything is touched.
        let old = self.snapshot();
        let mut new = Config::clone(&old);
        for (def, registered, value) in &targets {
            let args = split_set_value(def, value);
            let value = parse_value(def, &args).map_err(|e| failed(registered, &e))?;
            new.values[def.param as usize] = value;
        }

        let changed: Vec<(&Def, &str)> = targets
            .iter()
            .filter(|(def, ..)| new.value(def.param) != old.value(def.param))
            .map(|&(def, registered, _)| (def, registered))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }

        // Let the owning subsystems put the change into effect, in the order the parameters
        // were given, each hook once; undo the ones that succeeded if a later one refuses.
        let mut applied: Vec<&ApplyFn> = Vec::new();
        for (def, registered) in &changed {
            for (params, apply) in &hooks.appliers {
                if !params.contains(&def.param) || applied.iter().any(|a| Arc::ptr_eq(a, apply)) {
                    continue;
                }
                if let Err(e) = apply(&new) {
                    for undo in applied.iter().rev() {
                        let _ = undo(&old);
                    }
                    return Err(failed(registered, &e));
                }
                applied.push(apply);
            }
        }

        let new = Arc::new(new);
        *self
            .shared
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = new.clone();
        self.shared.version.fetch_add(1, Ordering::Release);
        for listener in &hooks.listeners {
            listener(&new);
        }
        Ok(())
    }
}

/// A per-thread view of the store for hot paths: [`ConfigCache::get`] costs one atomic load
/// unless the configuration changed since the last call.
pub struct ConfigCache {
    store: ConfigStore,
    version: u64,
    config: Arc<Config>,
}

impl ConfigCache {
    pub fn new(store: &ConfigStore) -> ConfigCache {
        // Read the version before the snapshot: if a change lands in between, the next get()
        // sees a newer version and refreshes again, which is harmless.
        let version = store.version();
        ConfigCache {
            store: store.clone(),
            version,
            config: store.snapshot(),
        }
    }

    pub fn get(&mut self) -> &Arc<Config> {
        let version = self.store.version();
        if version != self.version {
            self.version = version;
            self.config = self.store.snapshot();
        }
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    // -- helpers --------------------------------------------------------------------------

    fn run(args: &[&str]) -> Result<Config, String> {
        run_with_stdin(args, "")
    }

    fn run_with_stdin(args: &[&str], stdin: &str) -> Result<Config, String> {
        let argv = std::iter::once("tessera-server").chain(args.iter().copied());
        match parse_command_line(argv.map(String::from), &mut stdin.as_bytes())? {
            Startup::Run(config) => Ok(config),
            other => panic!("expected a configuration, got {other:?}"),
        }
    }

    fn value(config: &Config, name: &str) -> String {
        String::from_utf8(config.get(name).expect(name)).unwrap()
    }

    fn store_value(store: &ConfigStore, name: &str) -> String {
        let got = store.get(&[name]);
        assert_eq!(got.len(), 1, "{name}: {got:?}");
        String::from_utf8(got[0].1.clone()).unwrap()
    }

    /// The full message Redis prints for an error on a config line (with our header).
    fn line_error(line_no: usize, line: &str, err: &str) -> String {
        format!(
            "{}\nReading the configuration file, at line {line_no}\n>>> '{line}'\n{err}",
            fatal_header()
        )
    }

    /// A fresh directory under the system temp dir, for config files; removed on drop.
    struct TempDir(PathBuf);

    impl std::ops::Deref for TempDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn temp_dir() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tessera-config-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(path: &Path, text: &str) -> String {
        fs::write(path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn set(store: &ConfigStore, args: &[&str]) -> Result<(), String> {
        let pairs: Vec<(&str, &str)> = args.chunks(2).map(|p| (p[0], p[1])).collect();
        store.set(&pairs)
    }

    // -- the table ------------------------------------------------------------------------

    #[test]
    fn table_rows_are_consistent() {
        let mut seen = std::collections::HashSet::new();
        for (i, def) in TABLE.iter().enumerate() {
            assert_eq!(def.param as usize, i, "{} is out of place", def.name);
            for name in def.names() {
                assert_eq!(name, name.to_ascii_lowercase());
                assert!(seen.insert(name), "{name} is declared twice");
                assert!(
                    !REDIS_ONLY_DIRECTIVES.contains(&name),
                    "{name} is also 'unsupported'"
                );
                assert!(
                    !IGNORED_DEPRECATED.contains(&name),
                    "{name} is also 'ignored'"
                );
            }
            assert!(
                !(def.has(IMMUTABLE) && def.has(LIVE)),
                "{}: LIVE only makes sense for mutable parameters",
                def.name
            );
        }
        let config = Config::default(); // panics if a built-in default does not parse
        assert_eq!(config.values.len(), TABLE.len());
    }

    #[test]
    fn enum_getters_round_trip() {
        for word in LOGLEVELS {
            assert_eq!(
                from_text(&format!("loglevel {word}\n"))
                    .unwrap()
                    .loglevel()
                    .as_str(),
                *word
            );
        }
        for word in FSYNC_POLICIES {
            let c = from_text(&format!("appendfsync {word}\n")).unwrap();
            assert_eq!(c.appendfsync().as_str(), *word);
        }
        for word in MAXMEMORY_POLICIES {
            let c = from_text(&format!("maxmemory-policy {word}\n")).unwrap();
            assert_eq!(c.maxmemory_policy().as_str(), *word);
        }
    }

    #[test]
    fn only_requirepass_is_sensitive() {
        assert!(is_sensitive(b"requirepass") && is_sensitive(b"REQUIREPASS"));
        assert!(!is_sensitive(b"port") && !is_sensitive(b"nosuch"));
    }

    #[test]
    fn defaults_print_like_redis() {
        // CONFIG GET on a redis-server 7.0.15 started without a config file.
        let expected = [
            ("port", "6379"),
            ("bind", "127.0.0.1 -::1"),
            ("requirepass", ""),
            ("dbfilename", "dump.rdb"),
            ("databases", "16"),
            ("maxclients", "10000"),
            ("timeout", "0"),
            ("tcp-keepalive", "300"),
            ("tcp-backlog", "511"),
            ("proto-max-bulk-len", "536870912"),
            ("client-query-buffer-limit", "1073741824"),
            ("hz", "10"),
            ("loglevel", "notice"),
            ("logfile", ""),
            ("daemonize", "no"),
            ("protected-mode", "yes"),
            ("save", "3600 1 300 100 60 10000"),
            ("appendonly", "no"),
            ("appendfsync", "everysec"),
            ("appendfilename", "appendonly.aof"),
            ("appenddirname", "appendonlydir"),
            ("aof-use-rdb-preamble", "yes"),
            ("auto-aof-rewrite-percentage", "100"),
            ("auto-aof-rewrite-min-size", "67108864"),
            ("rdbcompression", "yes"),
            ("rdbchecksum", "yes"),
            ("stop-writes-on-bgsave-error", "yes"),
            ("maxmemory", "0"),
            ("maxmemory-policy", "noeviction"),
            ("lazyfree-lazy-eviction", "no"),
            ("lazyfree-lazy-expire", "no"),
            ("lazyfree-lazy-server-del", "no"),
            ("lazyfree-lazy-user-del", "no"),
            ("lazyfree-lazy-user-flush", "no"),
            ("hash-max-listpack-entries", "512"),
            ("hash-max-listpack-value", "64"),
            ("hash-max-ziplist-entries", "512"),
            ("hash-max-ziplist-value", "64"),
            ("set-max-intset-entries", "512"),
            ("zset-max-listpack-entries", "128"),
            ("zset-max-listpack-value", "64"),
            ("list-max-listpack-size", "-2"),
            ("list-max-ziplist-size", "-2"),
            ("active-expire-effort", "1"),
            ("latency-tracking", "yes"),
            ("slowlog-log-slower-than", "10000"),
            ("slowlog-max-len", "128"),
        ];
        let config = Config::default();
        for (name, want) in expected {
            assert_eq!(value(&config, name), want, "{name}");
        }
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(config.threads(), cpus);
        assert_eq!(value(&config, "threads"), cpus.to_string());
        let cwd = fs::canonicalize(std::env::current_dir().unwrap()).unwrap();
        assert_eq!(config.dir(), cwd);
    }

    #[test]
    fn typed_getters_see_defaults() {
        let c = Config::default();
        assert_eq!(c.port(), 6379);
        assert_eq!(
            c.bind(),
            vec![
                BindAddr {
                    addr: "127.0.0.1".into(),
                    optional: false
                },
                BindAddr {
                    addr: "::1".into(),
                    optional: true
                },
            ]
        );
        assert_eq!(c.requirepass(), None);
        assert_eq!(c.databases(), 16);
        assert_eq!(c.maxclients(), 10000);
        assert_eq!(c.proto_max_bulk_len(), 512 << 20);
        assert_eq!(c.client_query_buffer_limit(), 1 << 30);
        assert_eq!(c.hz(), 10);
        assert_eq!(c.loglevel(), LogLevel::Notice);
        assert_eq!(c.logfile(), None);
        assert_eq!(c.dbfilename(), Path::new("dump.rdb"));
        assert_eq!(
            c.save_points(),
            &[
                SavePoint {
                    seconds: 3600,
                    changes: 1
                },
                SavePoint {
                    seconds: 300,
                    changes: 100
                },
                SavePoint {
                    seconds: 60,
                    changes: 10000
                },
            ]
        );
        assert_eq!(c.appendfsync(), AppendFsync::EverySec);
        assert_eq!(c.maxmemory_policy(), MaxmemoryPolicy::NoEviction);
        assert_eq!(c.list_max_listpack_size(), -2);
        assert_eq!(c.slowlog_log_slower_than(), 10000);
        assert!(c.protected_mode() && c.rdbchecksum() && !c.appendonly());
        assert_eq!(c.config_file(), None);
    }

    // -- value syntax ---------------------------------------------------------------------

    #[test]
    fn repr_round_trips_through_split_args() {
        let all: Vec<u8> = (1..=255).collect(); // NUL cannot appear in a C argv
        let mut quoted = Vec::new();
        push_repr(&mut quoted, &all);
        assert_eq!(split_args(&quoted).unwrap(), vec![all]);
        let mut quoted = Vec::new();
        push_repr(&mut quoted, b"say \"hi\"\n");
        assert_eq!(quoted, br#""say \"hi\"\n""#);
    }

    // -- config files ---------------------------------------------------------------------

    #[test]
    fn file_syntax() {
        let c = from_text(
            "# a comment\n   # an indented comment\n\nPORT 7000\n  Save 100 1 200 2  \r\n\
             requirepass \"p w\"\nbind 127.0.0.1 -::1\nlist-max-ziplist-entries 5\n",
        )
        .unwrap();
        assert_eq!(c.port(), 7000);
        assert_eq!(value(&c, "save"), "100 1 200 2");
        assert_eq!(c.requirepass(), Some(&b"p w"[..]));
        assert_eq!(value(&c, "bind"), "127.0.0.1 -::1");
        assert_eq!(
            c.bind()[1],
            BindAddr {
                addr: "::1".into(),
                optional: true
            }
        );
    }

    #[test]
    fn file_values_are_parsed_like_redis() {
        let c = from_text(
            "hz 0\nmaxmemory 1gb\nhash-max-ziplist-entries 7\nloglevel WARNING\n\
             appendonly YES\ndir /\nlogfile \"\"\nthreads 3\n",
        )
        .unwrap();
        assert_eq!(c.hz(), 1); // clamped, not refused
        assert_eq!(c.maxmemory(), 1 << 30);
        assert_eq!(c.hash_max_listpack_entries(), 7);
        assert_eq!(c.loglevel(), LogLevel::Warning);
        assert!(c.appendonly());
        assert_eq!(c.dir(), Path::new("/"));
        assert_eq!(c.threads(), 3);
        assert_eq!(from_text("hz 100000\n").unwrap().hz(), 500);
    }

    #[test]
    fn save_lines_accumulate_like_redis() {
        // All checked with CONFIG GET save on redis-server 7.0.15.
        let save = |text: &str| value(&from_text(text).unwrap(), "save");
        assert_eq!(save("save 100 1\nsave 200 2\n"), "100 1 200 2");
        assert_eq!(save("save 100 1\nsave \"\"\nsave 200 2\n"), "200 2");
        assert_eq!(save("save 100 1\nsave \"\"\n"), "");
        assert_eq!(save("save \"\"\nsave 200 2\n"), "200 2");
        // One quoted argument is split on spaces, as `--save "60 1"` needs.
        assert_eq!(save("save \"60 1 30 5\"\n"), "60 1 30 5");
        assert_eq!(save("save\n"), "");
        // No `save` line: Redis's defaults.
        assert_eq!(save("port 7000\n"), "3600 1 300 100 60 10000");
    }

    #[test]
    fn file_errors_match_redis() {
        // The messages redis-server 7.0.15 prints for each of these files (header aside).
        let cases: &[(&str, usize, &str, &str)] = &[
            (
                "foo bar\n",
                1,
                "foo bar",
                "Bad directive or wrong number of arguments",
            ),
            ("\n\nport 1 2\n", 3, "port 1 2", "wrong number of arguments"),
            ("port\n", 1, "port", "wrong number of arguments"),
            (
                "port 7104 # trailing\n",
                1,
                "port 7104 # trailing",
                "wrong number of arguments",
            ),
            (
                "port abc\n",
                1,
                "port abc",
                "argument couldn't be parsed into an integer",
            ),
            (
                "  port 70000  \n",
                1,
                "port 70000",
                "argument must be between 0 and 65535 inclusive",
            ),
            ("save 0 1\n", 1, "save 0 1", "Invalid save parameters"),
            (
                "databases 0\n",
                1,
                "databases 0",
                "argument must be between 1 and 2147483647 inclusive",
            ),
            (
                "maxmemory 1x\n",
                1,
                "maxmemory 1x",
                "argument must be a memory value",
            ),
            (
                "loglevel x\n",
                1,
                "loglevel x",
                "argument(s) must be one of the following: debug, verbose, notice, warning",
            ),
            (
                "port \"7104\n",
                1,
                "port \"7104",
                "Unbalanced quotes in configuration line",
            ),
            (
                "requirepass \"abc\"d\n",
                1,
                "requirepass \"abc\"d",
                "Unbalanced quotes in configuration line",
            ),
            (
                "appendonly maybe\n",
                1,
                "appendonly maybe",
                "argument must be 'yes' or 'no'",
            ),
            (
                "daemonize maybe\n",
                1,
                "daemonize maybe",
                "argument must be 'yes' or 'no'",
            ),
            (
                "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
                1,
                "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",
                "Too many bind addresses specified.",
            ),
            (
                "dbfilename a/b\n",
                1,
                "dbfilename a/b",
                "dbfilename can't be a path, just a filename",
            ),
            (
                "dbfilename a\\\\b\n",
                1,
                "dbfilename a\\\\b",
                "dbfilename can't be a path, just a filename",
            ),
            (
                "appendfilename \"\"\n",
                1,
                "appendfilename \"\"",
                "appendfilename can't be empty",
            ),
            (
                "appendfilename a/b\n",
                1,
                "appendfilename a/b",
                "appendfilename can't be a path, just a filename",
            ),
            (
                "appenddirname a/b\n",
                1,
                "appenddirname a/b",
                "appenddirname can't be a path, just a dirname",
            ),
            (
                "dir /nonexistent\n",
                1,
                "dir /nonexistent",
                "No such file or directory",
            ),
            (
                "include\n",
                1,
                "include",
                "Bad directive or wrong number of arguments",
            ),
            (
                "include a b\n",
                1,
                "include a b",
                "Bad directive or wrong number of arguments",
            ),
        ];
        for &(text, line_no, line, err) in cases {
            assert_eq!(
                from_text(text).unwrap_err(),
                line_error(line_no, line, err),
                "{text:?}"
            );
        }
    }

    #[test]
    fn tessera_refuses_what_it_does_not_do() {
        let err = from_text("io-threads 4\n").unwrap_err();
        assert!(err.ends_with(
            "'io-threads' is a Redis directive that Tessera does not support \
             (Tessera runs one shard per thread: see 'threads')"
        ));
        let err = from_text("port 7000\nrename-command FLUSHALL \"\"\n").unwrap_err();
        assert_eq!(
            err,
            line_error(
                2,
                "rename-command FLUSHALL \"\"",
                "'rename-command' is a Redis directive that Tessera does not support"
            )
        );
        let err = from_text("daemonize yes\n").unwrap_err();
        assert!(
            err.contains(">>> 'daemonize yes'\nTessera does not daemonize"),
            "{err}"
        );
        assert_eq!(
            from_text("daemonize no\n")
                .unwrap()
                .get("daemonize")
                .unwrap(),
            b"no"
        );
    }

    #[test]
    fn load_time_checks() {
        assert_eq!(
            from_text("logfile /nonexistent/x.log\n").unwrap_err(),
            format!(
                "{}\nCan't open the log file: No such file or directory",
                fatal_header()
            )
        );
        let dir = temp_dir();
        let log = dir.join("tessera.log");
        let c = from_text(&format!("logfile {}\n", log.display())).unwrap();
        assert_eq!(c.logfile(), Some(log.as_path()));
        assert!(log.exists());
        let nowhere = "Configured to not listen anywhere, exiting.";
        assert_eq!(from_text("port 0\n").unwrap_err(), nowhere);
        assert_eq!(from_text("bind \"\"\n").unwrap_err(), nowhere);
        assert_eq!(from_text("bind\n").unwrap_err(), nowhere);
    }

    #[test]
    fn includes() {
        let dir = temp_dir();
        let inc = write(&dir.join("inc.conf"), "save 500 5\nmaxclients 77\n");
        let main = write(
            &dir.join("main.conf"),
            &format!("port 7000\nsave 100 1\ninclude {inc}\n"),
        );
        let c = run(&[&main]).unwrap();
        assert_eq!((c.port(), c.maxclients()), (7000, 77));
        assert_eq!(value(&c, "save"), "100 1 500 5");
        assert_eq!(c.config_file(), Some(Path::new(&main)));

        // Errors in an included file are numbered within that file, and name it.
        let bad = write(&dir.join("bad.conf"), "save 500 5\nfoo\n");
        let main = write(
            &dir.join("main2.conf"),
            &format!("port 7000\ninclude {bad}\n"),
        );
        assert_eq!(
            run(&[&main]).unwrap_err(),
            format!(
                "{}\nReading the included configuration file '{bad}', at line 2\n>>> 'foo'\n\
                 Bad directive or wrong number of arguments",
                fatal_header()
            )
        );

        // Wildcards: files are read in name order, and matching nothing is fine.
        fs::create_dir(dir.join("conf.d")).unwrap();
        write(&dir.join("conf.d/b.conf"), "maxclients 2\n");
        write(&dir.join("conf.d/a.conf"), "maxclients 1\n");
        write(&dir.join("conf.d/.hidden.conf"), "maxclients 3\n");
        let text = format!(
            "include {d}/conf.d/*.conf\ninclude {d}/empty.d/*.conf\n",
            d = dir.display()
        );
        assert_eq!(from_text(&text).unwrap().maxclients(), 2);

        // A missing plain file is fatal, with Redis's message.
        let missing = dir.join("missing.conf");
        assert_eq!(
            from_text(&format!("include {}\n", missing.display())).unwrap_err(),
            format!(
                "Fatal error, can't open config file '{}': No such file or directory",
                missing.display()
            )
        );

        // An include loop is stopped instead of overflowing the stack.
        let me = dir.join("loop.conf");
        write(&me, &format!("include {}\n", me.display()));
        assert!(from_text(&format!("include {}\n", me.display()))
            .unwrap_err()
            .contains("include nesting too deep"));
    }

    // -- the command line -----------------------------------------------------------------

    #[test]
    fn command_line_special_forms() {
        assert_eq!(run(&[]).unwrap(), Config::default());
        let argv = |a: &[&str]| {
            let args = std::iter::once("tessera-server").chain(a.iter().copied());
            parse_command_line(args.map(String::from), &mut io::empty()).unwrap()
        };
        assert!(matches!(argv(&["-v"]), Startup::Version(v) if v.starts_with("Tessera server v=")));
        assert!(matches!(
            argv(&["--version", "--port", "1"]),
            Startup::Version(_)
        ));
        match argv(&["--help"]) {
            Startup::Help(text) => {
                assert!(text.starts_with("Usage: tessera-server [/path/to/redis.conf]"));
                assert!(text.contains("threads") && text.contains("hash-max-ziplist-entries"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(argv(&["-h"]), Startup::Help(_)));
    }

    #[test]
    fn command_line_overrides_follow_the_file() {
        let dir = temp_dir();
        let file = write(
            &dir.join("redis.conf"),
            "port 7000\nsave 100 1\nmaxclients 5\n",
        );
        let c = run(&[
            &file,
            "--port",
            "7001",
            "--save",
            "300",
            "3",
            "--threads",
            "2",
        ])
        .unwrap();
        assert_eq!(c.port(), 7001);
        assert_eq!(c.maxclients(), 5);
        assert_eq!(value(&c, "save"), "100 1 300 3"); // Redis appends here too
        assert_eq!(c.threads(), 2);

        let c = run(&[
            "--bind",
            "127.0.0.1",
            "::1",
            "--requirepass",
            "a \"quoted\" pass",
        ])
        .unwrap();
        assert_eq!(value(&c, "bind"), "127.0.0.1 ::1");
        assert_eq!(c.requirepass(), Some(&b"a \"quoted\" pass"[..]));

        // "--name value" in a single argument.
        assert_eq!(run(&["--port 7002"]).unwrap().port(), 7002);
        // Options names are case-insensitive, like config directives.
        assert_eq!(run(&["--PORT", "7003"]).unwrap().port(), 7003);
    }

    #[test]
    fn command_line_save_special_cases() {
        // Checked against redis-server 7.0.15.
        let save = |args: &[&str]| value(&run(args).unwrap(), "save");
        assert_eq!(save(&["--save", ""]), "");
        assert_eq!(save(&["--save"]), "");
        assert_eq!(save(&["--port", "7000", "--save"]), "");
        let c = run(&["--save", "--loglevel", "debug"]).unwrap();
        assert_eq!(
            (value(&c, "save").as_str(), c.loglevel()),
            ("", LogLevel::Debug)
        );
    }

    #[test]
    fn command_line_errors_match_redis() {
        // Options are numbered as lines after the (here absent) file and a blank line, and are
        // echoed quoted, exactly as redis-server 7.0.15 prints them.
        assert_eq!(
            run(&["--foo", "bar"]).unwrap_err(),
            line_error(
                2,
                "foo \"bar\"",
                "Bad directive or wrong number of arguments"
            )
        );
        // A bare option is not "yes": it takes the next argument as its value...
        assert_eq!(
            run(&["--appendonly", "--port", "7104"]).unwrap_err(),
            line_error(
                2,
                "appendonly \"--port\" \"7104\"",
                "wrong number of arguments"
            )
        );
        // ... or has none at all.
        assert_eq!(
            run(&["--port", "7000", "--appendonly"]).unwrap_err(),
            line_error(3, "appendonly", "wrong number of arguments")
        );
        let dir = temp_dir();
        let file = write(&dir.join("two-lines.conf"), "port 7000\nmaxclients 5");
        assert_eq!(
            run(&[&file, "--maxclients", "0"]).unwrap_err(),
            line_error(
                3,
                "maxclients \"0\"",
                "argument must be between 1 and 4294967295 inclusive"
            )
        );
        let missing = dir.join("nope.conf");
        assert_eq!(
            run(&[missing.to_str().unwrap()]).unwrap_err(),
            format!(
                "Fatal error, can't open config file '{}': No such file or directory",
                missing.display()
            )
        );
    }

    #[test]
    fn command_line_reads_stdin_for_a_lone_dash() {
        let c = run_with_stdin(&["-"], "maxmemory 128mb\n").unwrap();
        assert_eq!(c.maxmemory(), 128 << 20);
        // File, then stdin, then options.
        let dir = temp_dir();
        let file = write(&dir.join("f.conf"), "loglevel warning\nmaxclients 5\n");
        let c = run_with_stdin(
            &[&file, "--loglevel", "verbose", "-"],
            "loglevel debug\nmaxclients 6\n",
        )
        .unwrap();
        assert_eq!((c.loglevel(), c.maxclients()), (LogLevel::Verbose, 6));
        // A dash in the middle is just a value.
        assert_eq!(
            run_with_stdin(&["--port", "-", "--hz", "5"], "port 1\n").unwrap_err(),
            line_error(
                2,
                "port \"-\"",
                "argument couldn't be parsed into an integer"
            )
        );
    }

    // -- CONFIG GET -----------------------------------------------------------------------

    fn names(found: &[(String, Vec<u8>)]) -> Vec<&str> {
        let mut names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        names
    }

    #[test]
    fn config_get_patterns() {
        let store = ConfigStore::new(Config::default());
        // Redis 7.0.15 answers these with these names.
        assert_eq!(
            names(&store.get(&["hash-max-*"])),
            [
                "hash-max-listpack-entries",
                "hash-max-listpack-value",
                "hash-max-ziplist-entries",
                "hash-max-ziplist-value"
            ]
        );
        assert_eq!(
            store.get(&["HASH-MAX-ZIPLIST-ENTRIES"]),
            [("HASH-MAX-ZIPLIST-ENTRIES".to_owned(), b"512".to_vec())]
        );
        assert_eq!(store.get(&["port", "port", "p?rt", "PORT"]).len(), 1);
        assert!(store.get(&["nosuch"]).is_empty());
        assert!(store.get(&["io-threads"]).is_empty());
        assert_eq!(
            names(&store.get(&["lazyfree*", "lazyfree-lazy-e*"])),
            [
                "lazyfree-lazy-eviction",
                "lazyfree-lazy-expire",
                "lazyfree-lazy-server-del",
                "lazyfree-lazy-user-del",
                "lazyfree-lazy-user-flush"
            ]
        );
        assert_eq!(
            names(&store.get(&["MAXMEMORY*"])),
            ["maxmemory", "maxmemory-policy", "maxmemory-samples"]
        );
        let everything = store.get(&["*"]);
        let table_names: usize = TABLE.iter().map(|d| 1 + d.aliases.len()).sum();
        assert_eq!(everything.len(), table_names);
        // Several patterns: the union, each name once.
        let union = store.get(&["port", "*port*", "save"]);
        assert_eq!(names(&union), ["port", "save"]);
    }

    // -- CONFIG SET -----------------------------------------------------------------------

    #[test]
    fn config_set_errors_match_redis() {
        // Replies of redis-server 7.0.15 to the same CONFIG SET commands.
        let store = ConfigStore::new(Config::default());
        let failed = |arg: &str, why: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}")
        };
        let unknown = |arg: &str| {
            format!("ERR Unknown option or number of arguments for CONFIG SET - '{arg}'")
        };
        let between =
            |lo: &str, hi: &str| format!("argument must be between {lo} and {hi} inclusive");
        let cases: Vec<(Vec<&str>, String)> = vec![
            (vec!["foo", "bar"], unknown("foo")),
            (vec!["FOO", "1"], unknown("FOO")),
            (vec!["maxmemory", "1kb", "foo", "2"], unknown("foo")),
            (vec!["foo", "2", "databases", "5"], unknown("foo")),
            (
                vec!["databases", "5", "foo", "2"],
                failed("databases", "can't set immutable config"),
            ),
            (
                vec!["DATABASES", "5"],
                failed("DATABASES", "can't set immutable config"),
            ),
            (
                vec!["dir", "/tmp"],
                failed("dir", "can't set protected config"),
            ),
            (
                vec!["DIR", "/tmp"],
                failed("DIR", "can't set protected config"),
            ),
            (
                vec!["dbfilename", "x"],
                failed("dbfilename", "can't set protected config"),
            ),
            (
                vec!["logfile", "x"],
                failed("logfile", "can't set immutable config"),
            ),
            (
                vec!["appendfilename", "x"],
                failed("appendfilename", "can't set immutable config"),
            ),
            (
                vec!["appenddirname", "x"],
                failed("appenddirname", "can't set immutable config"),
            ),
            (
                vec!["daemonize", "x"],
                failed("daemonize", "can't set immutable config"),
            ),
            (
                vec!["tcp-backlog", "x"],
                failed("tcp-backlog", "can't set immutable config"),
            ),
            (
                vec!["rdbchecksum", "x"],
                failed("rdbchecksum", "can't set immutable config"),
            ),
            (
                vec!["maxmemory", "1kb", "maxmemory", "2kb"],
                failed("maxmemory", "duplicate parameter"),
            ),
            (
                vec!["hz", "1", "HZ", "2"],
                failed("HZ", "duplicate parameter"),
            ),
            (
                vec!["maxmemory", "x"],
                failed("maxmemory", "argument must be a memory value"),
            ),
            (
                vec!["maxmemory", "-1"],
                failed("maxmemory", "argument must be a memory value"),
            ),
            (
                vec!["maxmemory", "1.5mb"],
                failed("maxmemory", "argument must be a memory value"),
            ),
            (
                vec!["hz", "abc"],
                failed("hz", "argument couldn't be parsed into an integer"),
            ),
            (
                vec!["HZ", "abc"],
                failed("hz", "argument couldn't be parsed into an integer"),
            ),
            (
                vec!["maxmemory", "1", "HZ", "x"],
                failed("hz", "argument couldn't be parsed into an integer"),
            ),
            (vec!["hz", "-1"], failed("hz", &between("0", "2147483647"))),
            (
                vec!["timeout", "1e3"],
                failed("timeout", "argument couldn't be parsed into an integer"),
            ),
            (
                vec!["timeout", "00"],
                failed("timeout", "argument couldn't be parsed into an integer"),
            ),
            (
                vec!["timeout", "-0"],
                failed("timeout", "argument couldn't be parsed into an integer"),
            ),
            (
                vec!["maxclients", "-1"],
                failed("maxclients", &between("1", "4294967295")),
            ),
            (
                vec!["slowlog-max-len", "-1"],
                failed("slowlog-max-len", &between("0", "9223372036854775807")),
            ),
            (
                vec!["set-max-intset-entries", "-1"],
                failed(
                    "set-max-intset-entries",
                    &between("0", "9223372036854775807"),
                ),
            ),
            (
                vec!["slowlog-log-slower-than", "-2"],
                failed(
                    "slowlog-log-slower-than",
                    &between("-1", "9223372036854775807"),
                ),
            ),
            (
                vec!["list-max-listpack-size", "-9999999999"],
                failed(
                    "list-max-listpack-size",
                    &between("-2147483648", "2147483647"),
                ),
            ),
            (
                vec!["proto-max-bulk-len", "1000000"],
                failed(
                    "proto-max-bulk-len",
                    &between("1048576", "9223372036854775807"),
                ),
            ),
            (
                vec!["proto-max-bulk-len", "99999999999999999999"],
                failed(
                    "proto-max-bulk-len",
                    &between("1048576", "9223372036854775807"),
                ),
            ),
            (
                vec!["proto-max-bulk-len", ""],
                failed(
                    "proto-max-bulk-len",
                    &between("1048576", "9223372036854775807"),
                ),
            ),
            (
                vec!["client-query-buffer-limit", "99999999999999999999"],
                failed(
                    "client-query-buffer-limit",
                    &between("1048576", "9223372036854775807"),
                ),
            ),
            (
                vec!["hash-max-ziplist-value", "abc"],
                failed("hash-max-ziplist-value", "argument must be a memory value"),
            ),
            (
                vec!["HASH-MAX-ZIPLIST-VALUE", "abc"],
                failed("hash-max-ziplist-value", "argument must be a memory value"),
            ),
            (
                vec!["appendfsync", "x"],
                failed(
                    "appendfsync",
                    "argument(s) must be one of the following: everysec, always, no",
                ),
            ),
            (
                vec!["maxmemory-policy", "x"],
                failed(
                    "maxmemory-policy",
                    "argument(s) must be one of the following: volatile-lru, volatile-lfu, \
                     volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, \
                     noeviction",
                ),
            ),
            (
                vec!["protected-mode", "maybe"],
                failed("protected-mode", "argument must be 'yes' or 'no'"),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(set(&store, &args), Err(want), "{args:?}");
        }
        for bad in [
            "100 1 200",
            "0 1",
            "100 -1",
            "  100   1  ",
            "100 1 ",
            " 100 1",
            "100\t1",
            "100 1\t",
            "abc 1",
            "1.5 1",
            "100 0x1",
        ] {
            assert_eq!(
                set(&store, &["save", bad]),
                Err(failed("save", "Invalid save parameters")),
                "{bad:?}"
            );
        }
        assert_eq!(
            store.version(),
            0,
            "failed CONFIG SETs must not publish anything"
        );
        assert_eq!(*store.snapshot(), Config::default());
    }

    #[test]
    fn config_set_values_read_back_like_redis() {
        // (name, value set, value CONFIG GET returns), from redis-server 7.0.15.
        let cases = [
            ("maxmemory", "1Gb", "1073741824"),
            ("maxmemory", "", "0"),
            ("maxmemory", "kb", "0"),
            ("maxmemory", "99999999999999999999", "18446744073709551615"),
            ("maxmemory", "20000000000gb", "3028092406290448384"),
            ("maxmemory", "1K", "1000"),
            ("hz", "1000", "500"),
            ("hz", "0", "1"),
            ("loglevel", "WARNING", "warning"),
            ("protected-mode", "YES", "yes"),
            ("proto-max-bulk-len", "1g", "1000000000"),
            ("client-query-buffer-limit", "2gb", "2147483648"),
            ("hash-max-listpack-value", "2k", "2000"),
            ("save", "", ""),
            ("save", "100 0", "100 0"),
            ("save", "100 1 50 2", "100 1 50 2"),
            ("save", "+5 1", "5 1"),
            ("save", "100 ", "100 0"),
            ("save", "100 -0", "100 0"),
            ("save", "3600 99999999999", "3600 1215752191"),
            ("save", "9223372036854775808 1", "9223372036854775807 1"),
            ("requirepass", "s3cret", "s3cret"),
            ("slowlog-log-slower-than", "-1", "-1"),
        ];
        let store = ConfigStore::new(Config::default());
        for (name, set_to, want) in cases {
            assert_eq!(set(&store, &[name, set_to]), Ok(()), "{name} {set_to:?}");
            assert_eq!(store_value(&store, name), want, "{name} {set_to:?}");
        }
        assert_eq!(store.snapshot().requirepass(), Some(&b"s3cret"[..]));
        set(&store, &["requirepass", ""]).unwrap();
        assert_eq!(store.snapshot().requirepass(), None);

        // An alias and its parameter are distinct entries to Redis: no "duplicate", last wins.
        set(
            &store,
            &[
                "hash-max-ziplist-entries",
                "100",
                "hash-max-listpack-entries",
                "200",
            ],
        )
        .unwrap();
        assert_eq!(store_value(&store, "hash-max-ziplist-entries"), "200");
        assert_eq!(store.snapshot().hash_max_listpack_entries(), 200);
    }

    #[test]
    fn config_set_is_all_or_nothing_and_versioned() {
        let store = ConfigStore::new(Config::default());
        assert_eq!(store.version(), 0);
        set(
            &store,
            &["maxmemory", "1mb", "maxmemory-policy", "allkeys-lru"],
        )
        .unwrap();
        assert_eq!(store.version(), 1);
        let c = store.snapshot();
        assert_eq!(
            (c.maxmemory(), c.maxmemory_policy()),
            (1 << 20, MaxmemoryPolicy::AllkeysLru)
        );

        assert!(set(&store, &["maxmemory", "2mb", "hz", "x"]).is_err());
        assert_eq!(store.snapshot().maxmemory(), 1 << 20);
        assert_eq!(store.version(), 1);

        // Setting a value to what it already is publishes nothing.
        set(&store, &["maxmemory", "1048576"]).unwrap();
        assert_eq!(store.version(), 1);
    }

    #[test]
    fn live_parameters_need_an_apply_hook() {
        let store = ConfigStore::new(Config::default());
        let immutable = |arg: &str| {
            Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{arg}') - can't set immutable config"
            ))
        };
        assert_eq!(set(&store, &["port", "7000"]), immutable("port"));
        assert_eq!(set(&store, &["bind", "127.0.0.1"]), immutable("bind"));
        assert_eq!(set(&store, &["appendonly", "yes"]), immutable("appendonly"));

        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        store.on_apply(&["port", "bind"], move |c| {
            log.lock().unwrap().push((c.port(), c.bind().len()));
            if c.port() == 1 {
                Err("Unable to listen on this port. Check server logs.".into())
            } else {
                Ok(())
            }
        });
        set(&store, &["port", "7000", "bind", "127.0.0.1 -::1"]).unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [(7000, 2)],
            "one call for both parameters"
        );
        let c = store.snapshot();
        assert_eq!(c.port(), 7000);
        assert_eq!(
            c.bind(),
            [
                BindAddr {
                    addr: "127.0.0.1".into(),
                    optional: false
                },
                BindAddr {
                    addr: "::1".into(),
                    optional: true
                }
            ]
        );

        assert_eq!(
            set(&store, &["port", "1"]),
            Err(
                "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen \
                 on this port. Check server logs."
                    .into()
            )
        );
        assert_eq!(store.snapshot().port(), 7000);

        // A refusal by a later hook undoes the earlier ones, which see the old config again.
        store.on_apply(&["appendonly"], |_| {
            Err("Unable to turn on AOF. Check server logs.".into())
        });
        seen.lock().unwrap().clear();
        assert_eq!(
            set(&store, &["port", "7001", "appendonly", "yes"]),
            Err(
                "ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to \
                 turn on AOF. Check server logs."
                    .into()
            )
        );
        assert_eq!(*seen.lock().unwrap(), [(7001, 2), (7000, 2)]);
        assert_eq!(store.snapshot().port(), 7000);
        assert!(!store.snapshot().appendonly());
    }

    #[test]
    fn listeners_and_caches_see_changes() {
        let store = ConfigStore::new(Config::default());
        let heard = Arc::new(AtomicU64::new(0));
        let h = heard.clone();
        store.subscribe(move |c| h.store(c.maxmemory(), Ordering::SeqCst));
        let mut cache = ConfigCache::new(&store);
        assert_eq!(cache.get().maxmemory(), 0);
        set(&store, &["maxmemory", "5mb"]).unwrap();
        assert_eq!(heard.load(Ordering::SeqCst), 5 << 20);
        assert_eq!(cache.get().maxmemory(), 5 << 20);
    }

    #[test]
    fn concurrent_readers_see_whole_snapshots() {
        // Writers always change two values together; readers must never see them disagree.
        let store = ConfigStore::new(Config::default());
        set(&store, &["maxmemory", "0", "slowlog-max-len", "0"]).unwrap();
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut cache = ConfigCache::new(&store);
                    let mut last = 0;
                    while last < 200 {
                        let c = cache.get();
                        assert_eq!(c.maxmemory(), c.slowlog_max_len() * 1024);
                        last = c.slowlog_max_len();
                    }
                })
            })
            .collect();
        for n in 1..=200u64 {
            let mm = (n * 1024).to_string();
            set(
                &store,
                &["maxmemory", &mm, "slowlog-max-len", &n.to_string()],
            )
            .unwrap();
        }
        for r in readers {
            r.join().unwrap();
        }
    }

    /// Feeds bad config files to the real redis-server binary and compares its complaint with
    /// ours (header aside). Every file is invalid, and `--port 0` makes even a valid one exit.
    /// Needs Debian's redis-server, as the rest of the suite does (CI installs it).
    #[test]
    fn file_errors_agree_with_redis_server() {
        let dir = temp_dir();
        let texts = [
            "foo bar\n",
            "\n\nport 1 2\n",
            "port abc\n",
            "save 0 1\nsave 1 1\n",
            "hz x\n",
            "maxmemory 1x\n",
            "loglevel x\n",
            "port \"7104\n",
            "requirepass 'abc'd\n",
            "appendonly maybe\n",
            "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
            "dbfilename a/b\n",
            "appendfilename \"\"\n",
            "appenddirname a\\b\n",
            "dir /nonexistent\n",
            "include\n",
            "maxclients 0\n",
            "proto-max-bulk-len 1k\n",
            "list-max-listpack-size 99999999999\n",
            "timeout 1.5\n",
            "port 7000 extra\n",
        ];
        for (i, text) in texts.iter().enumerate() {
            let path = write(&dir.join(format!("bad{i}.conf")), text);
            let out = std::process::Command::new("redis-server")
                .args([path.as_str(), "--port", "0"])
                .output()
                .expect("redis-server not installed");
            let theirs = String::from_utf8_lossy(&out.stderr);
            let theirs = theirs.trim().replace(
                "(Redis 7.0.15)",
                &format!("(Tessera {})", env!("CARGO_PKG_VERSION")),
            );
            let ours = run(&[&path, "--port", "0"]).unwrap_err();
            assert_eq!(ours, theirs, "{text:?}");
        }
    }
}
