//! The parameter table: every parameter Tessera knows, with Redis 7.0's bounds, defaults and flags.

/// Flags of a table row (a small bit set; rows are `const`, so no operator overloading).
pub(crate) mod flag {
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
pub(crate) enum Kind {
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
    /// `client-output-buffer-limit`: `<class> <hard> <soft> <soft-seconds>` groups; the
    /// classes not named keep their limits.
    ObufLimits,
}

/// An integer parameter, with the C type semantics Redis gives it. Values are held as `i128`
/// so that every Redis type (`int` up to `unsigned long long`) fits with its bounds.
#[derive(Debug)]
pub(crate) struct IntSpec {
    pub(crate) min: i128,
    pub(crate) max: i128,
    /// The C type is unsigned: a negative integer wraps around (and then fails the bounds
    /// check with Redis's own message).
    pub(crate) unsigned: bool,
    /// Accepts `memtoull` units (`1k`, `5mb`, `2GB`, ...) instead of a plain integer.
    pub(crate) memory: bool,
}

pub(crate) const fn int(min: i128, max: i128) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        unsigned: false,
        memory: false,
    })
}
pub(crate) const fn uint(min: i128, max: i128) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        unsigned: true,
        memory: false,
    })
}
pub(crate) const fn mem(min: i128, max: i128) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        unsigned: false,
        memory: true,
    })
}
pub(crate) const fn umem(min: i128, max: i128) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        unsigned: true,
        memory: true,
    })
}

/// Free text.
pub(crate) const TEXT: Kind = Kind::Str(StrRule::Any);

/// A bare file (`noun` = "filename") or directory ("dirname") name.
pub(crate) const fn base_name(noun: &'static str, empty_ok: bool) -> Kind {
    Kind::Str(StrRule::BaseName { noun, empty_ok })
}

pub(crate) const INT_MIN: i128 = i32::MIN as i128;
pub(crate) const INT_MAX: i128 = i32::MAX as i128;
pub(crate) const UINT_MAX: i128 = u32::MAX as i128;
pub(crate) const LONG_MAX: i128 = i64::MAX as i128; // also LLONG_MAX: Tessera, like Redis, is LP64
pub(crate) const MB: i128 = 1024 * 1024;
pub(crate) const ULLONG_MAX: i128 = u64::MAX as i128;

/// Redis clamps `hz` into this range instead of refusing out-of-range values.
pub(crate) const HZ_RANGE: (i128, i128) = (1, 500);
/// Redis's CONFIG_BINDADDR_MAX.
pub(crate) const MAX_BIND_ADDRESSES: usize = 16;
/// Redis has no limit and overflows its stack on an include loop; we stop here instead.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 16;

#[derive(Debug)]
pub(crate) enum StrRule {
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
pub(crate) enum DefaultValue {
    /// Parsed like a CONFIG SET value (multi-argument values split on spaces).
    Text(&'static str),
    /// The number of CPUs available to the process.
    Cores,
    /// The working directory at startup (Redis's `dir` is literally its cwd).
    Cwd,
}

#[derive(Debug)]
pub(crate) struct Def {
    pub(crate) param: Param,
    pub(crate) name: &'static str,
    pub(crate) aliases: &'static [&'static str],
    pub(crate) kind: Kind,
    pub(crate) default: DefaultValue,
    pub(crate) flags: u8,
}

impl Def {
    pub(crate) fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.name).chain(self.aliases.iter().copied())
    }
}

/// Declares the `Param` enum and the `TABLE` together so the two cannot drift apart: row `i`
/// of the table describes the parameter whose discriminant is `i`.
macro_rules! parameters {
    ($( $param:ident: $name:literal $([$($alias:literal),+])?, $kind:expr, $default:expr, $flags:expr; )*) => {
        /// Identifies a parameter; its discriminant is its row (and value slot) number.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Param { $($param),* }

        /// Every parameter Tessera understands.
        pub(crate) static TABLE: &[Def] = &[ $( Def {
            param: Param::$param,
            name: $name,
            aliases: &[$($($alias),+)?],
            kind: $kind,
            default: $default,
            flags: $flags,
        } ),* ];
    };
}

pub(crate) use flag::{IMMUTABLE, LIVE, MULTI_ARG, PROTECTED, SENSITIVE};
pub(crate) use DefaultValue::{Cores, Cwd, Text};

pub(crate) const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];
pub(crate) const FSYNC_POLICIES: &[&str] = &["everysec", "always", "no"];
pub(crate) const PROTECTED_ACTION: &[&str] = &["no", "yes", "local"];
pub(crate) const MAXMEMORY_POLICIES: &[&str] = &[
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
    // remote clients; Tessera binds loopback by default, as the redis.conf Redis ships does
    // (and as its users start it), and enforces protected mode too.
    Bind: "bind", Kind::Bind, Text("127.0.0.1 -::1"), MULTI_ARG | LIVE;
    ProtectedMode: "protected-mode", Kind::Bool, Text("yes"), 0;
    TcpBacklog: "tcp-backlog", int(0, INT_MAX), Text("511"), IMMUTABLE;
    TcpKeepalive: "tcp-keepalive", int(0, INT_MAX), Text("300"), 0;
    Timeout: "timeout", int(0, INT_MAX), Text("0"), 0;
    Maxclients: "maxclients", uint(1, UINT_MAX), Text("10000"), 0;
    Requirepass: "requirepass", TEXT, Text(""), SENSITIVE;
    ProtoMaxBulkLen: "proto-max-bulk-len", mem(MB, LONG_MAX), Text("536870912"), 0;
    ClientQueryBufferLimit: "client-query-buffer-limit", umem(MB, LONG_MAX), Text("1073741824"), 0;
    ClientOutputBufferLimit: "client-output-buffer-limit", Kind::ObufLimits,
        Text("normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"), MULTI_ARG;
    // Process.
    Threads: "threads", int(1, 1024), Cores, IMMUTABLE;
    Databases: "databases", int(1, INT_MAX), Text("16"), IMMUTABLE;
    Hz: "hz", int(0, INT_MAX), Text("10"), 0;
    Daemonize: "daemonize", Kind::Bool, Text("no"), IMMUTABLE;
    Loglevel: "loglevel", Kind::Enum(LOGLEVELS), Text("notice"), 0;
    Logfile: "logfile", TEXT, Text(""), IMMUTABLE;
    EnableDebugCommand: "enable-debug-command", Kind::Enum(PROTECTED_ACTION), Text("no"), IMMUTABLE;
    // CPU lists ("0-3", "0,2", "0-7:2"); a malformed one is ignored where it is used, as Redis
    // ignores it. The shards are the server's threads.
    ServerCpulist: "server_cpulist", TEXT, Text(""), IMMUTABLE;
    BioCpulist: "bio_cpulist", TEXT, Text(""), IMMUTABLE;
    AofRewriteCpulist: "aof_rewrite_cpulist", TEXT, Text(""), IMMUTABLE;
    BgsaveCpulist: "bgsave_cpulist", TEXT, Text(""), IMMUTABLE;
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
pub(crate) const IGNORED_DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// Everything else Redis 7.0 understands in a config file, so that a redis.conf moved over to
/// Tessera fails with a precise message instead of "Bad directive".
#[rustfmt::skip]
pub(crate) const REDIS_ONLY_DIRECTIVES: &[&str] = &[
    "acl-pubsub-default", "aclfile", "acllog-max-len", "active-defrag-cycle-max",
    "active-defrag-cycle-min", "active-defrag-ignore-bytes", "active-defrag-max-scan-fields",
    "active-defrag-threshold-lower", "active-defrag-threshold-upper", "activedefrag",
    "activerehashing", "always-show-logo", "aof-disable-auto-gc",
    "aof-rewrite-incremental-fsync", "aof-timestamp-enabled",
    "bind-source-addr", "busy-reply-threshold",
    "cluster-allow-pubsubshard-when-down",
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
    "sanitize-dump-payload", "sentinel", "set-proc-title",
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
pub(crate) fn lookup(name: &[u8]) -> Option<(&'static Def, &'static str)> {
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
