//! The server log, line for line in redis-server's format, because tools and Redis's own test
//! suite read it: `pid:role dd Mon yyyy hh:mm:ss.mmm <level> message`, where role is `M`
//! (the server), `C` (a fork child writing a snapshot or a rewrite) and level is one of `.-*#`
//! (debug, verbose, notice, warning).
//!
//! Every line is one `write(2)` with no lock held, so that shards, the control thread and
//! forked children can log at once without interleaving, and without a fork ever inheriting a
//! held lock. A log file is opened and closed for every line, as Redis does, so that renaming
//! it (logrotate) needs no signal.

use std::ffi::CString;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering::Relaxed};
use std::sync::OnceLock;

use crate::config::{Config, ConfigStore, LogLevel};

/// Lines below this level are dropped (CONFIG SET loglevel changes it at once).
static MIN_LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Notice as u8);
/// The server's own pid once known (see [`server_process`]): a process that logs with another
/// pid is a fork child.
static SERVER_PID: AtomicI32 = AtomicI32::new(0);
/// `logfile`, which is immutable: `None` logs to standard output.
static FILE: OnceLock<Option<CString>> = OnceLock::new();
static SYSLOG: AtomicBool = AtomicBool::new(false);
/// `crash-log-enabled`.
static CRASH_LOG: AtomicBool = AtomicBool::new(true);

/// Sets the log up from the configuration, before the first line: where lines go and from
/// which level; follows later changes of `loglevel`.
pub fn init(config: &ConfigStore) {
    let snapshot = config.snapshot();
    let file = snapshot
        .logfile()
        .and_then(|p| CString::new(p.as_os_str().as_encoded_bytes()).ok());
    let _ = FILE.set(file);
    follow(&snapshot);
    if snapshot.syslog_enabled() {
        open_syslog(&snapshot);
    }
    config.subscribe(|c| follow(c));
}

/// Marks this process as the server, whose lines are `M`; called once it will not fork away
/// (after `daemonize`). Until then every line is the server's.
pub fn server_process() {
    SERVER_PID.store(std::process::id() as i32, Relaxed);
}

fn follow(config: &Config) {
    MIN_LEVEL.store(config.loglevel() as u8, Relaxed);
    CRASH_LOG.store(config.crash_log_enabled(), Relaxed);
}

/// Syslog gets the bare messages, under `syslog-ident` and `syslog-facility`, as from Redis.
fn open_syslog(config: &Config) {
    let facility = match config.syslog_facility() {
        "local0" => libc::LOG_LOCAL0,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => libc::LOG_USER,
    };
    let Ok(ident) = CString::new(config.syslog_ident()) else {
        return;
    };
    // openlog keeps the pointer: the identity must live as long as the process.
    let ident: &'static CString = Box::leak(Box::new(ident));
    // SAFETY: `ident` is a valid C string that is never freed.
    unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID | libc::LOG_NDELAY, facility) };
    SYSLOG.store(true, Relaxed);
}

pub fn enabled(level: LogLevel) -> bool {
    level as u8 >= MIN_LEVEL.load(Relaxed)
}

/// Logs one line (use the [`log!`](crate::log!) macro).
pub fn line(level: LogLevel, message: std::fmt::Arguments) {
    if !enabled(level) {
        return;
    }
    let pid = std::process::id() as i32;
    let server = SERVER_PID.load(Relaxed);
    let role = if server == 0 || pid == server {
        'M'
    } else {
        'C'
    };
    let mark = ['.', '-', '*', '#'][level as usize];
    let mut text = String::with_capacity(128);
    let _ = write!(text, "{pid}:{role} ");
    timestamp(&mut text);
    let start = text.len() + 3;
    let _ = writeln!(text, " {mark} {message}");
    emit(text.as_bytes());
    if SYSLOG.load(Relaxed) {
        to_syslog(level, &text[start..text.len() - 1]);
    }
}

/// A panic's report in the log (with `crash-log-enabled`), between the markers tools and
/// Redis's test suite look for: what failed, where, and the stack.
pub fn bug_report(info: &std::panic::PanicHookInfo) {
    report_crash(&format!("crashed: {info}"));
}

/// Set once a crash is reported: the abort that ends a panic must not report it again.
static REPORTED: AtomicBool = AtomicBool::new(false);

fn report_crash(what: &str) {
    if !CRASH_LOG.load(Relaxed) || REPORTED.swap(true, Relaxed) {
        return;
    }
    crate::log!(
        Warning,
        "=== REDIS BUG REPORT START: Cut & paste starting from here ==="
    );
    crate::log!(
        Warning,
        "Tessera {} (Redis {} compatible) {what}",
        env!("CARGO_PKG_VERSION"),
        crate::REDIS_VERSION
    );
    crate::log!(Warning, "------ STACK TRACE ------");
    raw(
        LogLevel::Warning,
        &format!("{}\n", std::backtrace::Backtrace::force_capture()),
    );
    crate::log!(
        Warning,
        "=== REDIS BUG REPORT END. Make sure to include from START to END. ==="
    );
}

/// Fatal signals (a segfault, an abort, a bus error...) leave the same report as a panic, then
/// end the process by the signal, as Redis's crash handler does. Formatting a report inside a
/// signal handler is not async-signal-safe; the process is going down anyway, and the report
/// is what tells why.
pub fn report_fatal_signals() {
    extern "C" fn on_fatal(sig: libc::c_int) {
        report_crash(&format!("crashed by signal: {sig}"));
        // SA_RESETHAND put the default action back: the signal now ends the process.
        // SAFETY: raising a signal on our own process.
        unsafe { libc::raise(sig) };
    }
    for sig in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        libc::SIGABRT,
    ] {
        // SAFETY: a zeroed sigaction with a valid handler and an empty mask, installed once at
        // start-up.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fatal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESETHAND | libc::SA_NODEFER | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Logs text as it is, without the line prefix (the start-up banner).
pub fn raw(level: LogLevel, text: &str) {
    if enabled(level) {
        emit(text.as_bytes());
    }
}

fn emit(bytes: &[u8]) {
    match FILE.get() {
        Some(Some(path)) => {
            // SAFETY: `path` is a valid C string; the descriptor is ours and closed below.
            let fd = unsafe {
                libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC,
                    0o644,
                )
            };
            if fd >= 0 {
                write_all(fd, bytes);
                // SAFETY: closing the descriptor opened above.
                unsafe { libc::close(fd) };
            }
        }
        _ => write_all(libc::STDOUT_FILENO, bytes),
    }
}

fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writing from a live slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

fn to_syslog(level: LogLevel, message: &str) {
    let priority = match level {
        LogLevel::Debug => libc::LOG_DEBUG,
        LogLevel::Verbose => libc::LOG_INFO,
        LogLevel::Notice => libc::LOG_NOTICE,
        LogLevel::Warning => libc::LOG_WARNING,
    };
    if let Ok(message) = CString::new(message) {
        // SAFETY: a constant format string with one C string argument.
        unsafe { libc::syslog(priority, c"%s".as_ptr(), message.as_ptr()) };
    }
}

/// `dd Mon yyyy hh:mm:ss.mmm` in local time.
fn timestamp(out: &mut String) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r fills the zeroed `tm` from a valid time.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    let _ = write!(
        out,
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    );
}

/// `log!(Notice, "DB saved on disk")`: one line of the server log at that level.
#[macro_export]
macro_rules! log {
    ($level:ident, $($arg:tt)*) => {
        $crate::log::line($crate::config::LogLevel::$level, format_args!($($arg)*))
    };
}
