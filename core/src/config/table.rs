//! The parameter table: every parameter Redis 7.0.15 knows, plus Tessera's own, with Redis's
//! bounds, defaults and flags, and whether Tessera puts each into effect.

/// Flags of a table row (a small bit set; rows are `const`, so no operator overloading).
pub(crate) mod flag {
    /// Cannot be changed by CONFIG SET ("can't set immutable config").
    pub const IMMUTABLE: u8 = 1 << 0;
    /// CONFIG SET refuses it unless `enable-protected-configs` allows the caller.
    pub const PROTECTED: u8 = 1 << 1;
    /// Holds a secret: command logging (MONITOR, SLOWLOG) should redact CONFIG SET's value.
    pub const SENSITIVE: u8 = 1 << 2;
    /// Takes any number of arguments in a config file; CONFIG SET splits its value on spaces.
    pub const MULTI_ARG: u8 = 1 << 3;
    /// Changing it at runtime needs a subsystem to act (rebind, start AOF...). CONFIG SET
    /// treats it as immutable until that subsystem registers an apply hook for it.
    pub const LIVE: u8 = 1 << 4;
    /// Left out of `CONFIG GET` patterns; only its exact name finds it (Redis's test knobs).
    pub const HIDDEN: u8 = 1 << 5;
}

/// Whether Tessera does what a parameter says. Every parameter is parsed, validated, stored
/// and shown exactly as Redis does; one Tessera does not apply only has no effect yet (a
/// redis.conf moved over keeps working, and CONFIG GET answers what was set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Applied,
    /// Why not: the missing subsystem, in a few words. docs/config.md lists them all.
    NotApplicable(&'static str),
}

/// How a parameter's values are parsed, validated and printed.
#[derive(Debug)]
pub(crate) enum Kind {
    /// `yes` / `no`, case-insensitive.
    Bool,
    Int(IntSpec),
    /// One of the listed words (case-insensitive), stored as its value. Several words may share
    /// a value; CONFIG GET prints the first.
    Enum(&'static [(&'static str, u32)]),
    /// One or more of the listed words, their values or-ed together (`shutdown-on-sigint`).
    Flags(&'static [(&'static str, u32)]),
    /// Free text, with an optional check.
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
    /// `oom-score-adj-values`: three integers in -2000..=2000.
    OomScoreAdjValues,
    /// `notify-keyspace-events`: class letters, stored as Redis's flag bits.
    KeyspaceEvents,
    /// `replicaof <host> <port>`, or `replicaof no one`.
    ReplicaOf,
    /// `latency-tracking-info-percentiles`: doubles in 0..=100.
    Percentiles,
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
    pub(crate) syntax: IntSyntax,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IntSyntax {
    /// `string2ll`: a canonical decimal integer.
    Plain,
    /// `memtoull` units (`1k`, `5mb`, `2GB`, ...).
    Memory,
    /// A memory value or `N%` (0..=100), the percentage stored negated.
    MemoryOrPercent,
    /// `strtoll(..., 8)`, printed back in octal (`unixsocketperm`).
    Octal,
}

pub(crate) const fn int(min: i128, max: i128) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        unsigned: false,
        syntax: IntSyntax::Plain,
    })
}
pub(crate) const fn uint(min: i128, max: i128) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        unsigned: true,
        syntax: IntSyntax::Plain,
    })
}
pub(crate) const fn mem(min: i128, max: i128) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        unsigned: false,
        syntax: IntSyntax::Memory,
    })
}
pub(crate) const fn umem(min: i128, max: i128) -> Kind {
    Kind::Int(IntSpec {
        min,
        max,
        unsigned: true,
        syntax: IntSyntax::Memory,
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
pub(crate) const LONG_MAX: i128 = i64::MAX as i128; // also LLONG_MAX and SSIZE_MAX: LP64
pub(crate) const MB: i128 = 1024 * 1024;
pub(crate) const ULLONG_MAX: i128 = u64::MAX as i128;

/// Redis clamps `hz` into this range instead of refusing out-of-range values.
pub(crate) const HZ_RANGE: (i128, i128) = (1, 500);
/// Redis's CONFIG_BINDADDR_MAX.
pub(crate) const MAX_BIND_ADDRESSES: usize = 16;
/// Redis has no limit and overflows its stack on an include loop; we stop here instead.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 16;
/// Redis's NET_HOST_STR_LEN: an announced hostname must be shorter.
pub(crate) const MAX_HOSTNAME_LEN: usize = 256;

#[derive(Debug)]
pub(crate) enum StrRule {
    Any,
    /// Must be a bare name, no `/` or `\`: `noun` is "filename" or "dirname" as in Redis's
    /// messages, `empty_ok` whether "" is accepted.
    BaseName {
        noun: &'static str,
        empty_ok: bool,
    },
    /// Letters, digits, `-` and `.`, shorter than [`MAX_HOSTNAME_LEN`].
    Hostname,
    /// A `proc-title-template`: `{variables}` Redis knows, expanding to something non-blank.
    ProcTitle,
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
    pub(crate) effect: Effect,
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
    ($( $param:ident: $name:literal $([$($alias:literal),+])?, $kind:expr, $default:expr, $flags:expr, $effect:expr; )*) => {
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
            effect: $effect,
        } ),* ];
    };
}

pub(crate) use flag::{HIDDEN, IMMUTABLE, LIVE, MULTI_ARG, PROTECTED, SENSITIVE};
pub(crate) use DefaultValue::{Cores, Cwd, Text};
use Effect::{Applied, NotApplicable};

pub(crate) const LOGLEVELS: &[(&str, u32)] =
    &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)];
pub(crate) const FSYNC_POLICIES: &[(&str, u32)] = &[("everysec", 0), ("always", 1), ("no", 2)];
pub(crate) const PROTECTED_ACTION: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("local", 2)];
pub(crate) const MAXMEMORY_POLICIES: &[(&str, u32)] = &[
    ("volatile-lru", 0),
    ("volatile-lfu", 1),
    ("volatile-random", 2),
    ("volatile-ttl", 3),
    ("allkeys-lru", 4),
    ("allkeys-lfu", 5),
    ("allkeys-random", 6),
    ("noeviction", 7),
];
pub(crate) const SUPERVISED_MODES: &[(&str, u32)] =
    &[("upstart", 0), ("systemd", 1), ("auto", 2), ("no", 3)];
pub(crate) const SYSLOG_FACILITIES: &[(&str, u32)] = &[
    ("user", 0),
    ("local0", 1),
    ("local1", 2),
    ("local2", 3),
    ("local3", 4),
    ("local4", 5),
    ("local5", 6),
    ("local6", 7),
    ("local7", 8),
];
/// Bits of `shutdown-on-sigint` / `shutdown-on-sigterm` (SHUTDOWN's own flags).
pub(crate) const SHUTDOWN_FLAGS: &[(&str, u32)] = &[
    ("default", 0),
    ("save", SHUTDOWN_SAVE),
    ("nosave", SHUTDOWN_NOSAVE),
    ("now", SHUTDOWN_NOW),
    ("force", SHUTDOWN_FORCE),
];
pub(crate) const SHUTDOWN_SAVE: u32 = 1;
pub(crate) const SHUTDOWN_NOSAVE: u32 = 2;
pub(crate) const SHUTDOWN_NOW: u32 = 4;
pub(crate) const SHUTDOWN_FORCE: u32 = 8;
const REPL_DISKLESS_LOAD: &[(&str, u32)] = &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)];
const TLS_AUTH_CLIENTS: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("optional", 2)];
// `yes` is the old spelling of `relative`: one value, printed as `yes`.
const OOM_SCORE_ADJ: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
const ACL_PUBSUB_DEFAULT: &[(&str, u32)] = &[("allchannels", 1), ("resetchannels", 0)];
const SANITIZE_DUMP_PAYLOAD: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("clients", 2)];
const ENDPOINT_TYPES: &[(&str, u32)] = &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)];
const PROPAGATION_ERROR_BEHAVIOR: &[(&str, u32)] =
    &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)];

const MAXMEMORY_CLIENTS: Kind = Kind::Int(IntSpec {
    min: -100,
    max: LONG_MAX,
    unsigned: false,
    syntax: IntSyntax::MemoryOrPercent,
});
const UNIXSOCKETPERM: Kind = Kind::Int(IntSpec {
    min: 0,
    max: 0o777,
    unsigned: true,
    syntax: IntSyntax::Octal,
});

// Why a parameter has no effect yet. docs/config.md repeats these, row by row.
const REPLICATION: Effect = NotApplicable("replication arrives with issue 16");
const CLUSTER: Effect = NotApplicable("cluster mode is not built yet");
const TLS: Effect = NotApplicable("TLS is not built");
const ACL: Effect = NotApplicable("ACL users arrive later");
const PROC_TITLE: Effect = NotApplicable("Tessera does not rewrite its process title");
const DEFRAG: Effect = NotApplicable("active defragmentation does not exist in Tessera");
const JEMALLOC: Effect = NotApplicable("Tessera uses mimalloc, not jemalloc");
const SHARDS: Effect = NotApplicable("Tessera runs one shard per thread: see 'threads'");
const STREAMS: Effect = NotApplicable("streams are not built yet");
const TEST_KNOB: Effect = NotApplicable("a knob of Redis's own test suite");

// Bounds, defaults and flags are Redis 7.0.15's (src/config.c), except for `threads` and
// `rdb-child-stall-timeout`, which are Tessera's own, and `bind` (see below).
#[rustfmt::skip]
parameters! {
    // Network.
    Port: "port", int(0, 65535), Text("6379"), LIVE, Applied;
    // Redis's built-in default binds every interface and relies on protected mode to refuse
    // remote clients; Tessera binds loopback by default, as the redis.conf Redis ships does
    // (and as its users start it), and enforces protected mode too.
    Bind: "bind", Kind::Bind, Text("127.0.0.1 -::1"), MULTI_ARG | LIVE, Applied;
    Unixsocket: "unixsocket", TEXT, Text(""), IMMUTABLE, Applied;
    Unixsocketperm: "unixsocketperm", UNIXSOCKETPERM, Text("0"), IMMUTABLE, Applied;
    ProtectedMode: "protected-mode", Kind::Bool, Text("yes"), 0, Applied;
    TcpBacklog: "tcp-backlog", int(0, INT_MAX), Text("511"), IMMUTABLE, Applied;
    TcpKeepalive: "tcp-keepalive", int(0, INT_MAX), Text("300"), 0, Applied;
    SocketMarkId: "socket-mark-id", uint(0, UINT_MAX), Text("0"), IMMUTABLE,
        NotApplicable("Tessera does not mark its sockets (SO_MARK)");
    Timeout: "timeout", int(0, INT_MAX), Text("0"), 0, Applied;
    Maxclients: "maxclients", uint(1, UINT_MAX), Text("10000"), 0, Applied;
    Requirepass: "requirepass", TEXT, Text(""), SENSITIVE, Applied;
    ProtoMaxBulkLen: "proto-max-bulk-len", mem(MB, LONG_MAX), Text("536870912"), 0, Applied;
    ClientQueryBufferLimit: "client-query-buffer-limit", umem(MB, LONG_MAX), Text("1073741824"), 0, Applied;
    ClientOutputBufferLimit: "client-output-buffer-limit", Kind::ObufLimits,
        Text("normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"), MULTI_ARG, Applied;
    MaxmemoryClients: "maxmemory-clients", MAXMEMORY_CLIENTS, Text("0"), 0,
        NotApplicable("client eviction does not exist yet");
    TrackingTableMaxKeys: "tracking-table-max-keys", uint(0, LONG_MAX), Text("1000000"), 0, Applied;
    IoThreads: "io-threads", int(1, 128), Text("1"), IMMUTABLE, SHARDS;
    IoThreadsDoReads: "io-threads-do-reads", Kind::Bool, Text("no"), IMMUTABLE, SHARDS;

    // Process and logging.
    Threads: "threads", int(1, 1024), Cores, IMMUTABLE, Applied;
    Databases: "databases", int(1, INT_MAX), Text("16"), IMMUTABLE, Applied;
    Hz: "hz", int(0, INT_MAX), Text("10"), 0, Applied;
    DynamicHz: "dynamic-hz", Kind::Bool, Text("yes"), 0,
        NotApplicable("background tasks run at 'hz' whatever the number of clients");
    Daemonize: "daemonize", Kind::Bool, Text("no"), IMMUTABLE, Applied;
    Supervised: "supervised", Kind::Enum(SUPERVISED_MODES), Text("no"), IMMUTABLE, Applied;
    Pidfile: "pidfile", TEXT, Text(""), IMMUTABLE, Applied;
    Loglevel: "loglevel", Kind::Enum(LOGLEVELS), Text("notice"), 0, Applied;
    Logfile: "logfile", TEXT, Text(""), IMMUTABLE, Applied;
    SyslogEnabled: "syslog-enabled", Kind::Bool, Text("no"), IMMUTABLE, Applied;
    SyslogIdent: "syslog-ident", TEXT, Text("redis"), IMMUTABLE, Applied;
    SyslogFacility: "syslog-facility", Kind::Enum(SYSLOG_FACILITIES), Text("local0"), IMMUTABLE, Applied;
    AlwaysShowLogo: "always-show-logo", Kind::Bool, Text("no"), IMMUTABLE, Applied;
    SetProcTitle: "set-proc-title", Kind::Bool, Text("yes"), IMMUTABLE, PROC_TITLE;
    ProcTitleTemplate: "proc-title-template", Kind::Str(StrRule::ProcTitle),
        Text("{title} {listen-addr} {server-mode}"), 0, PROC_TITLE;
    CrashLogEnabled: "crash-log-enabled", Kind::Bool, Text("yes"), 0, Applied;
    CrashMemcheckEnabled: "crash-memcheck-enabled", Kind::Bool, Text("yes"), 0,
        NotApplicable("Tessera has no memory test to run after a crash");
    ShutdownOnSigint: "shutdown-on-sigint", Kind::Flags(SHUTDOWN_FLAGS), Text("default"), MULTI_ARG, Applied;
    ShutdownOnSigterm: "shutdown-on-sigterm", Kind::Flags(SHUTDOWN_FLAGS), Text("default"), MULTI_ARG, Applied;
    ShutdownTimeout: "shutdown-timeout", int(0, INT_MAX), Text("10"), 0, Applied;
    OomScoreAdj: "oom-score-adj", Kind::Enum(OOM_SCORE_ADJ), Text("no"), 0, Applied;
    OomScoreAdjValues: "oom-score-adj-values", Kind::OomScoreAdjValues, Text("0 200 800"), MULTI_ARG, Applied;
    DisableThp: "disable-thp", Kind::Bool, Text("yes"), IMMUTABLE,
        NotApplicable("Tessera leaves transparent huge pages as the system has them");
    IgnoreWarnings: "ignore-warnings", TEXT, Text(""), 0,
        NotApplicable("Tessera has none of the start-up warnings Redis can silence");
    // The security switches: which clients may use what could hurt the host.
    EnableProtectedConfigs: "enable-protected-configs", Kind::Enum(PROTECTED_ACTION), Text("no"), IMMUTABLE, Applied;
    EnableDebugCommand: "enable-debug-command", Kind::Enum(PROTECTED_ACTION), Text("no"), IMMUTABLE, Applied;
    EnableModuleCommand: "enable-module-command", Kind::Enum(PROTECTED_ACTION), Text("no"), IMMUTABLE, Applied;
    // CPU lists ("0-3", "0,2", "0-7:2"); a malformed one is ignored where it is used, as Redis
    // ignores it. The shards are the server's threads.
    ServerCpulist: "server_cpulist", TEXT, Text(""), IMMUTABLE, Applied;
    BioCpulist: "bio_cpulist", TEXT, Text(""), IMMUTABLE, Applied;
    AofRewriteCpulist: "aof_rewrite_cpulist", TEXT, Text(""), IMMUTABLE, Applied;
    BgsaveCpulist: "bgsave_cpulist", TEXT, Text(""), IMMUTABLE, Applied;
    JemallocBgThread: "jemalloc-bg-thread", Kind::Bool, Text("yes"), 0, JEMALLOC;
    // Redis's test suite sets these; Tessera has nothing for them to slow down or catch.
    UseExitOnPanic: "use-exit-on-panic", Kind::Bool, Text("no"), HIDDEN, TEST_KNOB;
    WatchdogPeriod: "watchdog-period", int(0, INT_MAX), Text("0"), HIDDEN, TEST_KNOB;
    KeyLoadDelay: "key-load-delay", int(INT_MIN, INT_MAX), Text("0"), HIDDEN, TEST_KNOB;
    LoadingProcessEventsIntervalBytes: "loading-process-events-interval-bytes",
        int(1024, INT_MAX), Text("2097152"), HIDDEN,
        NotApplicable("Tessera loads its data before it accepts clients");

    // Snapshots.
    Dir: "dir", Kind::Dir, Cwd, PROTECTED, Applied;
    Dbfilename: "dbfilename", base_name("filename", true), Text("dump.rdb"), PROTECTED, Applied;
    Save: "save", Kind::Save, Text("3600 1 300 100 60 10000"), MULTI_ARG, Applied;
    Rdbcompression: "rdbcompression", Kind::Bool, Text("yes"), 0, Applied;
    Rdbchecksum: "rdbchecksum", Kind::Bool, Text("yes"), IMMUTABLE, Applied;
    StopWritesOnBgsaveError: "stop-writes-on-bgsave-error", Kind::Bool, Text("yes"), 0, Applied;
    RdbKeySaveDelay: "rdb-key-save-delay", int(INT_MIN, INT_MAX), Text("0"), HIDDEN, Applied;
    // Tessera's own: a snapshot child whose progress stalls this many seconds is killed
    // (0 = never).
    RdbChildStallTimeout: "rdb-child-stall-timeout", int(0, INT_MAX), Text("60"), 0, Applied;
    RdbSaveIncrementalFsync: "rdb-save-incremental-fsync", Kind::Bool, Text("yes"), 0,
        NotApplicable("a snapshot file is fsynced once, when it is complete");
    RdbDelSyncFiles: "rdb-del-sync-files", Kind::Bool, Text("no"), 0, REPLICATION;
    SanitizeDumpPayload: "sanitize-dump-payload", Kind::Enum(SANITIZE_DUMP_PAYLOAD), Text("no"), 0,
        NotApplicable("RESTORE always decodes a payload in full before storing it");

    // The append-only file.
    Appendonly: "appendonly", Kind::Bool, Text("no"), LIVE, Applied;
    Appendfsync: "appendfsync", Kind::Enum(FSYNC_POLICIES), Text("everysec"), 0, Applied;
    NoAppendfsyncOnRewrite: "no-appendfsync-on-rewrite", Kind::Bool, Text("no"), 0, Applied;
    Appendfilename: "appendfilename", base_name("filename", false), Text("appendonly.aof"), IMMUTABLE, Applied;
    Appenddirname: "appenddirname", base_name("dirname", false), Text("appendonlydir"), IMMUTABLE, Applied;
    AofLoadTruncated: "aof-load-truncated", Kind::Bool, Text("yes"), 0, Applied;
    AofUseRdbPreamble: "aof-use-rdb-preamble", Kind::Bool, Text("yes"), 0, Applied;
    AutoAofRewritePercentage: "auto-aof-rewrite-percentage", int(0, INT_MAX), Text("100"), 0, Applied;
    AutoAofRewriteMinSize: "auto-aof-rewrite-min-size", mem(0, LONG_MAX), Text("67108864"), 0, Applied;
    AofRewriteIncrementalFsync: "aof-rewrite-incremental-fsync", Kind::Bool, Text("yes"), 0,
        NotApplicable("a rewritten AOF base is fsynced once, when it is complete");
    AofTimestampEnabled: "aof-timestamp-enabled", Kind::Bool, Text("no"), 0,
        NotApplicable("Tessera reads AOF timestamp annotations but does not write them");
    AofDisableAutoGc: "aof-disable-auto-gc", Kind::Bool, Text("no"), 0,
        NotApplicable("history AOF files are always deleted after a rewrite");

    // Memory and eviction.
    Maxmemory: "maxmemory", umem(0, ULLONG_MAX), Text("0"), 0, Applied;
    MaxmemoryPolicy: "maxmemory-policy", Kind::Enum(MAXMEMORY_POLICIES), Text("noeviction"), 0, Applied;
    MaxmemorySamples: "maxmemory-samples", int(1, INT_MAX), Text("5"), 0, Applied;
    MaxmemoryEvictionTenacity: "maxmemory-eviction-tenacity", int(0, 100), Text("10"), 0,
        NotApplicable("eviction runs until memory is under the limit, with no time budget");
    LfuLogFactor: "lfu-log-factor", int(0, INT_MAX), Text("10"), 0, Applied;
    LfuDecayTime: "lfu-decay-time", int(0, INT_MAX), Text("1"), 0, Applied;
    LazyfreeLazyEviction: "lazyfree-lazy-eviction", Kind::Bool, Text("no"), 0, Applied;
    LazyfreeLazyExpire: "lazyfree-lazy-expire", Kind::Bool, Text("no"), 0, Applied;
    LazyfreeLazyServerDel: "lazyfree-lazy-server-del", Kind::Bool, Text("no"), 0, Applied;
    LazyfreeLazyUserDel: "lazyfree-lazy-user-del", Kind::Bool, Text("no"), 0, Applied;
    LazyfreeLazyUserFlush: "lazyfree-lazy-user-flush", Kind::Bool, Text("no"), 0, Applied;
    ActiveExpireEffort: "active-expire-effort", int(1, 10), Text("1"), 0, Applied;
    Activerehashing: "activerehashing", Kind::Bool, Text("yes"), 0,
        NotApplicable("no incremental rehashing: Tessera's hash tables resize at once");
    Activedefrag: "activedefrag", Kind::Bool, Text("no"), 0, DEFRAG;
    ActiveDefragIgnoreBytes: "active-defrag-ignore-bytes", umem(1, LONG_MAX), Text("104857600"), 0, DEFRAG;
    ActiveDefragThresholdLower: "active-defrag-threshold-lower", int(0, 1000), Text("10"), 0, DEFRAG;
    ActiveDefragThresholdUpper: "active-defrag-threshold-upper", int(0, 1000), Text("100"), 0, DEFRAG;
    ActiveDefragCycleMin: "active-defrag-cycle-min", int(1, 99), Text("1"), 0, DEFRAG;
    ActiveDefragCycleMax: "active-defrag-cycle-max", int(1, 99), Text("25"), 0, DEFRAG;
    ActiveDefragMaxScanFields: "active-defrag-max-scan-fields", int(1, LONG_MAX), Text("1000"), 0, DEFRAG;

    // Encodings.
    HashMaxListpackEntries: "hash-max-listpack-entries" ["hash-max-ziplist-entries"], uint(0, LONG_MAX), Text("512"), 0, Applied;
    HashMaxListpackValue: "hash-max-listpack-value" ["hash-max-ziplist-value"], umem(0, LONG_MAX), Text("64"), 0, Applied;
    SetMaxIntsetEntries: "set-max-intset-entries", uint(0, LONG_MAX), Text("512"), 0, Applied;
    ZsetMaxListpackEntries: "zset-max-listpack-entries" ["zset-max-ziplist-entries"], uint(0, LONG_MAX), Text("128"), 0, Applied;
    ZsetMaxListpackValue: "zset-max-listpack-value" ["zset-max-ziplist-value"], umem(0, LONG_MAX), Text("64"), 0, Applied;
    ListMaxListpackSize: "list-max-listpack-size" ["list-max-ziplist-size"], int(INT_MIN, INT_MAX), Text("-2"), 0, Applied;
    ListCompressDepth: "list-compress-depth", int(0, INT_MAX), Text("0"), 0,
        NotApplicable("Tessera never compresses list nodes");
    HllSparseMaxBytes: "hll-sparse-max-bytes", umem(0, LONG_MAX), Text("3000"), 0,
        NotApplicable("HyperLogLog is not built yet");
    StreamNodeMaxBytes: "stream-node-max-bytes", umem(0, LONG_MAX), Text("4096"), 0, STREAMS;
    StreamNodeMaxEntries: "stream-node-max-entries", int(0, LONG_MAX), Text("100"), 0, STREAMS;

    // Introspection.
    LatencyTracking: "latency-tracking", Kind::Bool, Text("yes"), 0, Applied;
    LatencyTrackingInfoPercentiles: "latency-tracking-info-percentiles", Kind::Percentiles,
        Text("50 99 99.9"), MULTI_ARG, Applied;
    LatencyMonitorThreshold: "latency-monitor-threshold", int(0, LONG_MAX), Text("0"), 0, Applied;
    SlowlogLogSlowerThan: "slowlog-log-slower-than", int(-1, LONG_MAX), Text("10000"), 0, Applied;
    SlowlogMaxLen: "slowlog-max-len", int(0, LONG_MAX), Text("128"), 0, Applied;

    // Pub/sub, scripting, modules and ACL users.
    NotifyKeyspaceEvents: "notify-keyspace-events", Kind::KeyspaceEvents, Text(""), 0, Applied;
    BusyReplyThreshold: "busy-reply-threshold" ["lua-time-limit"], int(0, LONG_MAX), Text("5000"), 0, Applied;
    Aclfile: "aclfile", TEXT, Text(""), IMMUTABLE, ACL;
    AcllogMaxLen: "acllog-max-len", int(0, LONG_MAX), Text("128"), 0, ACL;
    AclPubsubDefault: "acl-pubsub-default", Kind::Enum(ACL_PUBSUB_DEFAULT), Text("resetchannels"), 0, ACL;

    // Replication.
    Replicaof: "replicaof" ["slaveof"], Kind::ReplicaOf, Text("no one"), IMMUTABLE | MULTI_ARG, REPLICATION;
    Masterauth: "masterauth", TEXT, Text(""), SENSITIVE, REPLICATION;
    Masteruser: "masteruser", TEXT, Text(""), SENSITIVE, REPLICATION;
    ReplicaServeStaleData: "replica-serve-stale-data" ["slave-serve-stale-data"], Kind::Bool, Text("yes"), 0, REPLICATION;
    ReplicaReadOnly: "replica-read-only" ["slave-read-only"], Kind::Bool, Text("yes"), 0, REPLICATION;
    ReplicaIgnoreMaxmemory: "replica-ignore-maxmemory" ["slave-ignore-maxmemory"], Kind::Bool, Text("yes"), 0, REPLICATION;
    ReplicaLazyFlush: "replica-lazy-flush" ["slave-lazy-flush"], Kind::Bool, Text("no"), 0, REPLICATION;
    ReplicaIgnoreDiskWriteErrors: "replica-ignore-disk-write-errors", Kind::Bool, Text("no"), 0, REPLICATION;
    ReplicaPriority: "replica-priority" ["slave-priority"], int(0, INT_MAX), Text("100"), 0, REPLICATION;
    ReplicaAnnounced: "replica-announced", Kind::Bool, Text("yes"), 0, REPLICATION;
    ReplicaAnnounceIp: "replica-announce-ip" ["slave-announce-ip"], TEXT, Text(""), 0, REPLICATION;
    ReplicaAnnouncePort: "replica-announce-port" ["slave-announce-port"], int(0, 65535), Text("0"), 0, REPLICATION;
    BindSourceAddr: "bind-source-addr", TEXT, Text(""), 0, REPLICATION;
    ReplDisklessSync: "repl-diskless-sync", Kind::Bool, Text("yes"), 0, REPLICATION;
    ReplDisklessSyncDelay: "repl-diskless-sync-delay", int(0, INT_MAX), Text("5"), 0, REPLICATION;
    ReplDisklessSyncMaxReplicas: "repl-diskless-sync-max-replicas", int(0, INT_MAX), Text("0"), 0, REPLICATION;
    ReplDisklessLoad: "repl-diskless-load", Kind::Enum(REPL_DISKLESS_LOAD), Text("disabled"), 0, REPLICATION;
    ReplDisableTcpNodelay: "repl-disable-tcp-nodelay", Kind::Bool, Text("no"), 0, REPLICATION;
    ReplPingReplicaPeriod: "repl-ping-replica-period" ["repl-ping-slave-period"], int(1, INT_MAX), Text("10"), 0, REPLICATION;
    ReplTimeout: "repl-timeout", int(1, INT_MAX), Text("60"), 0, REPLICATION;
    ReplBacklogSize: "repl-backlog-size", mem(1, LONG_MAX), Text("1048576"), 0, REPLICATION;
    ReplBacklogTtl: "repl-backlog-ttl", int(0, LONG_MAX), Text("3600"), 0, REPLICATION;
    MinReplicasToWrite: "min-replicas-to-write" ["min-slaves-to-write"], int(0, INT_MAX), Text("0"), 0, REPLICATION;
    MinReplicasMaxLag: "min-replicas-max-lag" ["min-slaves-max-lag"], int(0, INT_MAX), Text("10"), 0, REPLICATION;
    PropagationErrorBehavior: "propagation-error-behavior", Kind::Enum(PROPAGATION_ERROR_BEHAVIOR), Text("ignore"), 0, REPLICATION;

    // Cluster.
    ClusterEnabled: "cluster-enabled", Kind::Bool, Text("no"), IMMUTABLE, CLUSTER;
    ClusterConfigFile: "cluster-config-file", TEXT, Text("nodes.conf"), IMMUTABLE, CLUSTER;
    ClusterPort: "cluster-port", int(0, 65535), Text("0"), IMMUTABLE, CLUSTER;
    ClusterNodeTimeout: "cluster-node-timeout", int(0, LONG_MAX), Text("15000"), 0, CLUSTER;
    ClusterAnnounceIp: "cluster-announce-ip", TEXT, Text(""), 0, CLUSTER;
    ClusterAnnounceHostname: "cluster-announce-hostname", Kind::Str(StrRule::Hostname), Text(""), 0, CLUSTER;
    ClusterAnnouncePort: "cluster-announce-port", int(0, 65535), Text("0"), 0, CLUSTER;
    ClusterAnnounceBusPort: "cluster-announce-bus-port", int(0, 65535), Text("0"), 0, CLUSTER;
    ClusterAnnounceTlsPort: "cluster-announce-tls-port", int(0, 65535), Text("0"), 0, CLUSTER;
    ClusterPreferredEndpointType: "cluster-preferred-endpoint-type", Kind::Enum(ENDPOINT_TYPES), Text("ip"), 0, CLUSTER;
    ClusterRequireFullCoverage: "cluster-require-full-coverage", Kind::Bool, Text("yes"), 0, CLUSTER;
    ClusterReplicaNoFailover: "cluster-replica-no-failover" ["cluster-slave-no-failover"], Kind::Bool, Text("no"), 0, CLUSTER;
    ClusterReplicaValidityFactor: "cluster-replica-validity-factor" ["cluster-slave-validity-factor"], int(0, INT_MAX), Text("10"), 0, CLUSTER;
    ClusterMigrationBarrier: "cluster-migration-barrier", int(0, INT_MAX), Text("1"), 0, CLUSTER;
    ClusterAllowReplicaMigration: "cluster-allow-replica-migration", Kind::Bool, Text("yes"), 0, CLUSTER;
    ClusterAllowReadsWhenDown: "cluster-allow-reads-when-down", Kind::Bool, Text("no"), 0, CLUSTER;
    ClusterAllowPubsubshardWhenDown: "cluster-allow-pubsubshard-when-down", Kind::Bool, Text("yes"), 0, CLUSTER;
    ClusterLinkSendbufLimit: "cluster-link-sendbuf-limit", umem(0, ULLONG_MAX), Text("0"), 0, CLUSTER;

    // TLS.
    TlsPort: "tls-port", int(0, 65535), Text("0"), 0, TLS;
    TlsCertFile: "tls-cert-file", TEXT, Text(""), 0, TLS;
    TlsKeyFile: "tls-key-file", TEXT, Text(""), 0, TLS;
    TlsKeyFilePass: "tls-key-file-pass", TEXT, Text(""), 0, TLS;
    TlsClientCertFile: "tls-client-cert-file", TEXT, Text(""), 0, TLS;
    TlsClientKeyFile: "tls-client-key-file", TEXT, Text(""), 0, TLS;
    TlsClientKeyFilePass: "tls-client-key-file-pass", TEXT, Text(""), 0, TLS;
    TlsDhParamsFile: "tls-dh-params-file", TEXT, Text(""), 0, TLS;
    TlsCaCertFile: "tls-ca-cert-file", TEXT, Text(""), 0, TLS;
    TlsCaCertDir: "tls-ca-cert-dir", TEXT, Text(""), 0, TLS;
    TlsProtocols: "tls-protocols", TEXT, Text(""), 0, TLS;
    TlsCiphers: "tls-ciphers", TEXT, Text(""), 0, TLS;
    TlsCiphersuites: "tls-ciphersuites", TEXT, Text(""), 0, TLS;
    TlsPreferServerCiphers: "tls-prefer-server-ciphers", Kind::Bool, Text("no"), 0, TLS;
    TlsAuthClients: "tls-auth-clients", Kind::Enum(TLS_AUTH_CLIENTS), Text("yes"), 0, TLS;
    TlsReplication: "tls-replication", Kind::Bool, Text("no"), 0, TLS;
    TlsCluster: "tls-cluster", Kind::Bool, Text("no"), 0, TLS;
    TlsSessionCaching: "tls-session-caching", Kind::Bool, Text("yes"), 0, TLS;
    TlsSessionCacheSize: "tls-session-cache-size", int(0, INT_MAX), Text("20480"), 0, TLS;
    TlsSessionCacheTimeout: "tls-session-cache-timeout", int(0, INT_MAX), Text("300"), 0, TLS;
}

/// Directives Redis 7.0 accepts (with exactly one argument) only to ignore them: deprecated.
pub(crate) const IGNORED_DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// Config-file directives that are not parameters (no CONFIG GET or SET), each with what
/// Tessera does with it. docs/config.md lists them too.
pub(crate) const FILE_DIRECTIVES: &[(&str, Effect)] = &[
    ("include", Applied),
    ("rename-command", Applied),
    ("user", ACL),
    (
        "loadmodule",
        NotApplicable("Tessera cannot load Redis modules: start-up stops as Redis's does when a module fails to load"),
    ),
    ("sentinel", NotApplicable("Tessera has no Sentinel mode")),
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

/// Whether Tessera puts `name` (any spelling or alias) into effect; `None` for an unknown name.
pub fn effect(name: &[u8]) -> Option<Effect> {
    lookup(name).map(|(def, _)| def.effect)
}
