//! Values and the `Config` snapshot: typed accessors for every parameter.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::*;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    Int(i128),
    /// An enum's value, or or-ed flag bits (`shutdown-on-*`, `notify-keyspace-events`).
    Enum(u32),
    /// Strings and directories, as raw bytes: passwords need not be UTF-8.
    Bytes(Vec<u8>),
    Save(Vec<SavePoint>),
    Bind(Vec<String>),
    /// Indexed by [`ClientClass`].
    ObufLimits([ObufLimit; 3]),
    /// `oom-score-adj-values`: for a primary, a replica, a background child.
    OomScoreAdj([i32; 3]),
    /// `replicaof`: the primary's host and port, or none.
    ReplicaOf(Option<(Vec<u8>, u16)>),
    Percentiles(Vec<f64>),
}

/// The classes `client-output-buffer-limit` distinguishes, in Redis's order (which is also
/// the order CONFIG GET prints them in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientClass {
    Normal = 0,
    Replica = 1,
    Pubsub = 2,
}

impl ClientClass {
    pub const ALL: [ClientClass; 3] = [
        ClientClass::Normal,
        ClientClass::Replica,
        ClientClass::Pubsub,
    ];

    /// The name CONFIG GET prints (Redis still says "slave").
    pub fn name(self) -> &'static str {
        match self {
            ClientClass::Normal => "normal",
            ClientClass::Replica => "slave",
            ClientClass::Pubsub => "pubsub",
        }
    }
}

/// One class's output buffer limits: a client is closed once its pending replies reach
/// `hard` bytes, or stay at or above `soft` bytes for more than `soft_seconds`. Zero disables
/// a limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObufLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
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
        word_of(LOGLEVELS, self as u32)
    }
}

impl AppendFsync {
    /// The word redis.conf and CONFIG GET use.
    pub fn as_str(self) -> &'static str {
        word_of(FSYNC_POLICIES, self as u32)
    }
}

impl MaxmemoryPolicy {
    /// The word redis.conf, CONFIG GET and INFO use.
    pub fn as_str(self) -> &'static str {
        word_of(MAXMEMORY_POLICIES, self as u32)
    }
}

/// What `shutdown-on-sigint` / `shutdown-on-sigterm` ask of a shutdown on that signal; all
/// false is `default` (save if save points are configured, wait for replicas, stop on errors).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownFlags {
    /// Save a snapshot even without save points.
    pub save: bool,
    /// Do not save, even with save points (never together with `save`).
    pub nosave: bool,
    /// Do not wait for replicas to catch up.
    pub now: bool,
    /// Shut down even if saving fails.
    pub force: bool,
}

impl ShutdownFlags {
    fn from_bits(bits: u32) -> ShutdownFlags {
        ShutdownFlags {
            save: bits & SHUTDOWN_SAVE != 0,
            nosave: bits & SHUTDOWN_NOSAVE != 0,
            now: bits & SHUTDOWN_NOW != 0,
            force: bits & SHUTDOWN_FORCE != 0,
        }
    }
}

/// The first word an enum gives `value` (the one CONFIG GET prints).
pub(crate) fn word_of(words: &'static [(&'static str, u32)], value: u32) -> &'static str {
    words
        .iter()
        .find(|&&(_, v)| v == value)
        .map_or("unknown", |&(w, _)| w)
}

/// Redis's name for a set of flag bits: the word of the exact value if there is one, else the
/// words whose bits are all set, in table order, or "unknown" if some bit has no word.
pub(crate) fn flag_words(words: &[(&str, u32)], bits: u32) -> String {
    if let Some(&(word, _)) = words.iter().find(|&&(_, v)| v == bits) {
        return word.to_owned();
    }
    let mut unmatched = bits;
    let mut names = Vec::new();
    for &(word, v) in words {
        if v != 0 && unmatched & v == v {
            names.push(word);
            unmatched &= !v;
        }
    }
    if names.is_empty() || unmatched != 0 {
        return "unknown".to_owned();
    }
    names.join(" ")
}

/// One complete, validated configuration. Immutable once built: CONFIG SET produces a new one.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// One slot per row of `TABLE`.
    pub(crate) values: Vec<Value>,
    /// The config file named on the command line, made absolute (as Redis does for INFO and
    /// CONFIG REWRITE).
    pub(crate) config_file: Option<PathBuf>,
    /// What the file-only directives (`rename-command`, `user`...) said.
    pub(crate) directives: Directives,
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
            directives: Directives::default(),
        }
    }
}

/// Typed accessors for the values the rest of Tessera reads. Each one is a slot lookup; the
/// table guarantees the slot holds the right variant within the declared bounds, which is why
/// the narrowing casts below cannot truncate.
impl Config {
    pub(crate) fn value(&self, p: Param) -> &Value {
        &self.values[p as usize]
    }

    pub(crate) fn int(&self, p: Param) -> i128 {
        match self.value(p) {
            Value::Int(v) => *v,
            other => unreachable!("{p:?} holds {other:?}, not an integer"),
        }
    }

    pub(crate) fn flag(&self, p: Param) -> bool {
        match self.value(p) {
            Value::Bool(v) => *v,
            other => unreachable!("{p:?} holds {other:?}, not a bool"),
        }
    }

    pub(crate) fn word(&self, p: Param) -> u32 {
        match self.value(p) {
            Value::Enum(v) => *v,
            other => unreachable!("{p:?} holds {other:?}, not an enum"),
        }
    }

    /// An enum parameter's value as the word CONFIG GET prints.
    pub(crate) fn word_name(&self, p: Param) -> &'static str {
        match &TABLE[p as usize].kind {
            Kind::Enum(words) => word_of(words, self.word(p)),
            other => unreachable!("{p:?} is {other:?}, not an enum"),
        }
    }

    /// A string parameter for which empty means unset, as a path.
    pub(crate) fn optional_path(&self, p: Param) -> Option<&Path> {
        Some(self.path(p)).filter(|p| !p.as_os_str().is_empty())
    }

    pub(crate) fn bytes(&self, p: Param) -> &[u8] {
        match self.value(p) {
            Value::Bytes(b) => b,
            other => unreachable!("{p:?} holds {other:?}, not a string"),
        }
    }

    /// A string parameter as text; one that is not UTF-8 reads as "".
    pub(crate) fn text(&self, p: Param) -> &str {
        std::str::from_utf8(self.bytes(p)).unwrap_or("")
    }

    pub(crate) fn path(&self, p: Param) -> &Path {
        Path::new(OsStr::from_bytes(self.bytes(p)))
    }

    /// `replicaof <host> <port>`: the primary to replicate, if any.
    pub fn replicaof(&self) -> Option<(&[u8], u16)> {
        match self.value(Param::Replicaof) {
            Value::ReplicaOf(primary) => primary.as_ref().map(|(h, p)| (h.as_slice(), *p)),
            other => unreachable!("replicaof holds {other:?}"),
        }
    }

    /// `rename-command <from> <to>` lines, in order; an empty `to` removes the command.
    pub fn renamed_commands(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.directives.renamed_commands
    }

    /// `user` lines, in order: the user name, then its ACL rules (a `(selector)` is one rule).
    pub fn acl_users(&self) -> &[Vec<Vec<u8>>] {
        &self.directives.users
    }

    /// The parameters set to something other than their default that Tessera does not put
    /// into effect, with the reason, and the file directives likewise: what a start-up should
    /// warn about.
    pub fn not_applied(&self) -> Vec<(&'static str, &'static str)> {
        let defaults = Config::default();
        let mut out: Vec<(&'static str, &'static str)> = TABLE
            .iter()
            .filter_map(|def| match def.effect {
                Effect::NotApplicable(why)
                    if self.value(def.param) != defaults.value(def.param) =>
                {
                    Some((def.name, why))
                }
                _ => None,
            })
            .collect();
        let used = [
            (
                "rename-command",
                !self.directives.renamed_commands.is_empty(),
            ),
            ("user", !self.directives.users.is_empty()),
        ];
        for (directive, effect) in FILE_DIRECTIVES {
            if let Effect::NotApplicable(why) = effect {
                if used.contains(&(*directive, true)) {
                    out.push((directive, why));
                }
            }
        }
        out
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

    /// `enable-debug-command`: `no`, `yes` or `local` (loopback connections only).
    pub fn enable_debug_command(&self) -> &'static str {
        self.word_name(Param::EnableDebugCommand)
    }

    /// `enable-protected-configs`: whether CONFIG SET may change `dir` and `dbfilename`:
    /// `no`, `yes` or `local` (loopback and unix-socket connections only).
    pub fn enable_protected_configs(&self) -> &'static str {
        self.word_name(Param::EnableProtectedConfigs)
    }

    /// `enable-module-command`: `no`, `yes` or `local`.
    pub fn enable_module_command(&self) -> &'static str {
        self.word_name(Param::EnableModuleCommand)
    }

    /// Background task frequency, already clamped to 1..=500 as Redis does.
    pub fn hz(&self) -> u32 {
        self.int(Param::Hz) as u32
    }

    pub fn loglevel(&self) -> LogLevel {
        [
            LogLevel::Debug,
            LogLevel::Verbose,
            LogLevel::Notice,
            LogLevel::Warning,
        ][self.word(Param::Loglevel) as usize]
    }

    pub fn daemonize(&self) -> bool {
        self.flag(Param::Daemonize)
    }

    /// Where to write the process id; `None` when unset (`pidfile ""`).
    pub fn pidfile(&self) -> Option<&Path> {
        self.optional_path(Param::Pidfile)
    }

    pub fn syslog_enabled(&self) -> bool {
        self.flag(Param::SyslogEnabled)
    }

    pub fn syslog_ident(&self) -> &str {
        self.text(Param::SyslogIdent)
    }

    /// `user` or `local0` ... `local7`.
    pub fn syslog_facility(&self) -> &'static str {
        self.word_name(Param::SyslogFacility)
    }

    /// `no`, `upstart`, `systemd` or `auto`.
    pub fn supervised(&self) -> &'static str {
        self.word_name(Param::Supervised)
    }

    pub fn always_show_logo(&self) -> bool {
        self.flag(Param::AlwaysShowLogo)
    }

    /// The unix socket to listen on; `None` when unset.
    pub fn unixsocket(&self) -> Option<&Path> {
        self.optional_path(Param::Unixsocket)
    }

    /// The unix socket's permission bits (written in octal in redis.conf); 0 leaves the
    /// umask's.
    pub fn unixsocketperm(&self) -> u32 {
        self.int(Param::Unixsocketperm) as u32
    }

    pub fn set_proc_title(&self) -> bool {
        self.flag(Param::SetProcTitle)
    }

    /// Already validated as Redis validates it: known `{variables}` only, not blank.
    pub fn proc_title_template(&self) -> &str {
        self.text(Param::ProcTitleTemplate)
    }

    pub fn crash_log_enabled(&self) -> bool {
        self.flag(Param::CrashLogEnabled)
    }

    pub fn shutdown_on_sigint(&self) -> ShutdownFlags {
        ShutdownFlags::from_bits(self.word(Param::ShutdownOnSigint))
    }

    pub fn shutdown_on_sigterm(&self) -> ShutdownFlags {
        ShutdownFlags::from_bits(self.word(Param::ShutdownOnSigterm))
    }

    /// Seconds a shutdown waits for replicas to catch up.
    pub fn shutdown_timeout(&self) -> u64 {
        self.int(Param::ShutdownTimeout) as u64
    }

    /// Milliseconds from which an event is recorded by the latency monitor; 0 disables it.
    pub fn latency_monitor_threshold(&self) -> i64 {
        self.int(Param::LatencyMonitorThreshold) as i64
    }

    /// Redis's keyspace-notification flag bits (`NOTIFY_*` in Redis's server.h: K is bit 0,
    /// E bit 1, g bit 2 ...); 0 disables notifications.
    pub fn notify_keyspace_events(&self) -> u32 {
        self.word(Param::NotifyKeyspaceEvents)
    }

    /// `server_cpulist`: the CPUs the shards run on; empty when unset.
    pub fn server_cpulist(&self) -> &str {
        self.text(Param::ServerCpulist)
    }

    /// `bio_cpulist`: the CPUs of the background threads; empty when unset.
    pub fn bio_cpulist(&self) -> &str {
        self.text(Param::BioCpulist)
    }

    /// `aof_rewrite_cpulist`: the CPUs of an AOF rewrite child; empty when unset.
    pub fn aof_rewrite_cpulist(&self) -> &str {
        self.text(Param::AofRewriteCpulist)
    }

    /// `bgsave_cpulist`: the CPUs of a snapshot child; empty when unset.
    pub fn bgsave_cpulist(&self) -> &str {
        self.text(Param::BgsaveCpulist)
    }

    /// Where to log; `None` means standard output (`logfile ""`).
    pub fn logfile(&self) -> Option<&Path> {
        self.optional_path(Param::Logfile)
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
        [AppendFsync::EverySec, AppendFsync::Always, AppendFsync::No]
            [self.word(Param::Appendfsync) as usize]
    }

    /// Whether fsyncs of the AOF are skipped while a rewrite or snapshot child runs.
    pub fn no_appendfsync_on_rewrite(&self) -> bool {
        self.flag(Param::NoAppendfsyncOnRewrite)
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
        ][self.word(Param::MaxmemoryPolicy) as usize]
    }

    /// Keys sampled per eviction, as Redis's approximated LRU/LFU/TTL.
    /// `busy-reply-threshold` (alias `lua-time-limit`), in ms: when a running script starts
    /// answering others with BUSY.
    pub fn busy_reply_threshold(&self) -> u64 {
        self.int(Param::BusyReplyThreshold) as u64
    }

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

    /// `client-output-buffer-limit` for one class of client.
    pub fn obuf_limit(&self, class: ClientClass) -> ObufLimit {
        match self.value(Param::ClientOutputBufferLimit) {
            Value::ObufLimits(limits) => limits[class as usize],
            other => unreachable!("client-output-buffer-limit holds {other:?}"),
        }
    }

    /// `oom-score-adj`: 0 off, 1 relative to the score the process started with (`yes`,
    /// `relative`), 2 absolute.
    pub fn oom_score_adj(&self) -> u32 {
        self.word(Param::OomScoreAdj)
    }

    /// `oom-score-adj-values`: for a primary, a replica, a background child.
    pub fn oom_score_adj_values(&self) -> [i32; 3] {
        match self.value(Param::OomScoreAdjValues) {
            Value::OomScoreAdj(values) => *values,
            other => unreachable!("oom-score-adj-values holds {other:?}"),
        }
    }

    pub fn latency_tracking(&self) -> bool {
        self.flag(Param::LatencyTracking)
    }

    /// The percentiles INFO latencystats reports, in the order given.
    pub fn latency_tracking_info_percentiles(&self) -> &[f64] {
        match self.value(Param::LatencyTrackingInfoPercentiles) {
            Value::Percentiles(list) => list,
            other => unreachable!("latency-tracking-info-percentiles holds {other:?}"),
        }
    }

    /// Microseconds; negative disables the slow log, 0 logs every command.
    pub fn slowlog_log_slower_than(&self) -> i64 {
        self.int(Param::SlowlogLogSlowerThan) as i64
    }

    pub fn slowlog_max_len(&self) -> u64 {
        self.int(Param::SlowlogMaxLen) as u64
    }

    pub fn tracking_table_max_keys(&self) -> u64 {
        self.int(Param::TrackingTableMaxKeys) as u64
    }

    /// A parameter's value as CONFIG GET prints it. `name` may be any spelling or alias.
    pub fn get(&self, name: &str) -> Option<Vec<u8>> {
        lookup(name.as_bytes()).map(|(def, _)| self.format(def))
    }

    /// Formats a value the way Redis's CONFIG GET does.
    pub(crate) fn format(&self, def: &Def) -> Vec<u8> {
        match (&def.kind, self.value(def.param)) {
            (_, Value::Bool(b)) => {
                if *b {
                    b"yes".to_vec()
                } else {
                    b"no".to_vec()
                }
            }
            (Kind::Int(spec), Value::Int(v)) => match spec.syntax {
                IntSyntax::MemoryOrPercent if *v < 0 => format!("{}%", -v).into_bytes(),
                IntSyntax::Octal => format!("{v:o}").into_bytes(),
                _ => v.to_string().into_bytes(),
            },
            (Kind::Enum(words), Value::Enum(v)) => word_of(words, *v).as_bytes().to_vec(),
            (Kind::Flags(words), Value::Enum(bits)) => flag_words(words, *bits).into_bytes(),
            (Kind::KeyspaceEvents, Value::Enum(bits)) => {
                keyspace_events_to_letters(*bits).into_bytes()
            }
            (_, Value::Bytes(b)) => b.clone(),
            (_, Value::Save(points)) => points
                .iter()
                .map(|p| format!("{} {}", p.seconds, p.changes))
                .collect::<Vec<_>>()
                .join(" ")
                .into_bytes(),
            (_, Value::Bind(addrs)) => addrs.join(" ").into_bytes(),
            (_, Value::ObufLimits(limits)) => ClientClass::ALL
                .iter()
                .map(|&class| {
                    let l = limits[class as usize];
                    format!("{} {} {} {}", class.name(), l.hard, l.soft, l.soft_seconds)
                })
                .collect::<Vec<_>>()
                .join(" ")
                .into_bytes(),
            (_, Value::OomScoreAdj(values)) => {
                format!("{} {} {}", values[0], values[1], values[2]).into_bytes()
            }
            (_, Value::ReplicaOf(None)) => Vec::new(),
            (_, Value::ReplicaOf(Some((host, port)))) => {
                [&host[..], format!(" {port}").as_bytes()].concat()
            }
            (_, Value::Percentiles(list)) => list
                .iter()
                .map(|&p| format_percentile(p))
                .collect::<Vec<_>>()
                .join(" ")
                .into_bytes(),
            (kind, value) => unreachable!("{kind:?} holds {value:?}"),
        }
    }
}
