//! Start-up: the shard threads, the listener on each, the control thread.

mod fds;
mod supervise;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use glommio::{LocalExecutorBuilder, Placement};

use crate::config::ConfigStore;
use crate::shard::global::{ControlMsg, Global};
use crate::shard::mailbox::Mailbox;
use crate::shard::uring::{listen, listen_unix, Driver, Listener, UringStream};
use crate::shard::Node;

const IO_MEMORY: usize = 256 << 10;

/// Starts every shard and blocks until shutdown.
pub fn run(config: Arc<ConfigStore>) -> Result<(), String> {
    let snapshot = config.snapshot();
    crate::log::init(&config);
    let supervisor = supervise::detect(&snapshot);
    let background = snapshot.daemonize() && supervisor == supervise::Supervisor::None;
    if background {
        supervise::daemonize();
    }
    crate::log::server_process();
    crate::log::report_fatal_signals();
    announce(&snapshot);
    refuse_acl_users(&snapshot)?;
    follow_oom_score(&config);
    crate::cmd::Table::install(snapshot.renamed_commands());
    let shards = snapshot.threads();
    // The shards run on the CPUs this process may run on (taskset, cpusets), or on those of
    // `server_cpulist` among them; the control thread (this one) too, as Redis's main thread.
    let allowed = crate::cpus::allowed();
    let cores: Vec<usize> = crate::cpus::parse_list(snapshot.server_cpulist())
        .map(|list| list.into_iter().filter(|c| allowed.contains(c)).collect())
        .filter(|list: &Vec<usize>| !list.is_empty())
        .unwrap_or(allowed);
    crate::cpus::pin_current_thread(&cores);
    crate::cpus::set_bio_list(snapshot.bio_cpulist());
    crate::types::lazyfree::on_thread_start(crate::cpus::pin_bio_thread);
    fit_maxclients(&config, shards)?;
    let (control_tx, control_rx) = std::sync::mpsc::channel();
    watch_signals(control_tx.clone());
    crate::persist::init(shards);
    let global = Arc::new(Global::new(
        config.clone(),
        shards,
        control_tx,
        crate::shard::global::random_hex_id(),
    ));
    // CONFIG SET's command switches the AOF itself once the setting is published (see
    // `persist::rewrite::set_appendonly`); here only what can be checked at once.
    config.on_apply(&["appendonly"], |c| {
        if c.appendonly() {
            crate::aof::manifest::create_dir(c).map_err(|e| {
                crate::log!(Warning, "{e}");
                "Unable to turn on AOF. Check server logs.".to_string()
            })?;
        }
        Ok(())
    });
    {
        let g = Arc::downgrade(&global);
        config.subscribe(move |c| {
            if let Some(g) = g.upgrade() {
                crate::persist::state().update_refusal(c);
                g.aof.set_always(
                    c.appendonly() && c.appendfsync() == crate::config::AppendFsync::Always,
                );
            }
        });
    }

    let (addrs, unix) = bind_listeners(&snapshot)?;
    write_pidfile(&snapshot, background);
    show_logo(&snapshot, shards);
    crate::log!(Warning, "Server initialized");

    // AOF wins over RDB, as in Redis: with appendonly on, the RDB file is not loaded.
    let aof_plan = crate::cmd::aof_load::prepare(&snapshot, shards)?.map(Arc::new);
    if let Some(plan) = &aof_plan {
        let incr: u64 = plan
            .incr
            .iter()
            .flatten()
            .map(|(_, b)| b.len() as u64)
            .sum();
        crate::persist::state().aof.adopt(
            plan.aof_dir.clone(),
            plan.name.clone(),
            plan.manifest.clone(),
            (plan.base_size, plan.base_size + incr),
        );
    }
    global.aof.set_always(
        aof_plan.is_some() && snapshot.appendfsync() == crate::config::AppendFsync::Always,
    );
    let (inboxes, mut shard_inboxes) = crate::persist::load::channels(shards);
    let (loaded_tx, loaded_rx) = std::sync::mpsc::channel();
    // Each shard says when its listeners are up: "Ready to accept connections" must be true
    // when it is logged, since tools connect as soon as they read it.
    let (listening_tx, listening_rx) = std::sync::mpsc::channel::<()>();
    // The shards, and this thread, which installs the function libraries once they loaded.
    let all_loaded = Arc::new(std::sync::Barrier::new(shards + 1));
    let mail: Arc<[Mailbox<crate::shard::Mail>]> = (0..shards)
        .map(|_| Mailbox::new())
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("cannot create the shards' mailboxes: {e}"))?
        .into();
    // Idle shards poll for a moment for each other's messages (see `shard::uring`). Measured
    // with random keys, this costs less CPU per request than sleeping and waking, even with
    // more shards than CPUs, because the polling yields its CPU to anything runnable.
    let spin = shards > 1;
    let mut handles = Vec::new();
    for i in 0..shards {
        let (global, mail, addrs, unix) =
            (global.clone(), mail.clone(), addrs.clone(), unix.clone());
        let (inbox, loaded) = (shard_inboxes.remove(0), loaded_tx.clone());
        let listening = listening_tx.clone();
        let (aof_plan, all_loaded) = (aof_plan.clone(), all_loaded.clone());
        // More shards than cores (tests run 4 shards on 2 cores): shards wrap around the cores.
        let placement = Placement::Fixed(cores[i % cores.len()]);
        let handle = LocalExecutorBuilder::new(placement)
            // glommio reserves this much for registered DMA buffers, which only its file I/O
            // uses; sockets do not. Its 10 MiB default would be most of an idle server's memory.
            .io_memory(IO_MEMORY)
            .name(&format!("shard-{i}"))
            .spawn(move || async move {
                let node = Node::new(global, i, mail);
                // The snapshot first, then this shard's AOF on top: no client sees a
                // half-loaded keyspace.
                let absorbed = crate::persist::load::absorb(&mut node.data.borrow_mut().ks, inbox);
                let result = absorbed.and_then(|mut r| match &aof_plan {
                    Some(plan) => open_aof(&node, plan).map(|functions| {
                        r.functions = functions;
                        r
                    }),
                    None => Ok(r),
                });
                let _ = loaded.send(result);
                // No shard serves before every shard has loaded and opened its AOF: a
                // command for this shard's keys may arrive through any other shard, and a
                // write here must never run before this shard logs it.
                all_loaded.wait();
                crate::shard::expire::start_active_expiry(node.clone());
                crate::shard::clients::start_client_cron(node.clone());
                if node.id == 0 {
                    crate::persist::cron::start(node.clone());
                }
                // Connections use this shard's own io_uring rather than glommio's sockets,
                // which make two system calls per request (see net::uring).
                let uring =
                    Driver::start(node.clone(), spin).expect("cannot set up this shard's io_uring");
                crate::shard::aof::start_writer(node.clone(), uring.clone());
                let backlog = node.global.config.snapshot().tcp_backlog();
                let mut listeners: Vec<Listener> = addrs
                    .into_iter()
                    .map(|addr| listen(addr, backlog).expect("bound once already in this process"))
                    .collect();
                listeners.extend(unix.map(Listener::Unix));
                let _ = listening.send(());
                let mut accepts = Vec::new();
                for listener in listeners {
                    let (node, uring) = (node.clone(), uring.clone());
                    accepts.push(crate::shard::task::spawn(async move {
                        // Out of descriptors, accepts fail until a client leaves: say so at
                        // most once a second, not at every retry.
                        let mut last_logged: Option<Instant> = None;
                        loop {
                            match uring.accept(&listener).await {
                                Ok(sock) => {
                                    let stream = UringStream::new(sock, uring.clone());
                                    crate::shard::task::spawn(crate::net::conn::serve(
                                        node.clone(),
                                        stream,
                                    ))
                                    .detach();
                                }
                                Err(e) => {
                                    if last_logged.is_none_or(|t| t.elapsed().as_secs() >= 1) {
                                        crate::log!(Warning, "Accepting client connection: {e}");
                                        last_logged = Some(Instant::now());
                                    }
                                    // Out of descriptors, typically: retrying at once would
                                    // only spin.
                                    crate::shard::timer::sleep(std::time::Duration::from_millis(
                                        10,
                                    ))
                                    .await;
                                }
                            }
                        }
                    }));
                }
                for a in accepts {
                    a.await;
                }
            })
            .map_err(|e| format!("cannot start shard {i}: {e}"))?;
        handles.push(handle);
    }
    drop(loaded_tx);
    let rdb = match &aof_plan {
        Some(plan) => plan.base.clone(),
        None => Some(snapshot.dir().join(snapshot.dbfilename())),
    };
    // What the server takes before any data, as Redis measures it before loading
    // (`used_memory_startup`).
    global
        .startup_memory
        .store(global.sample_memory(), std::sync::atomic::Ordering::Relaxed);
    load_snapshot(&global, rdb, inboxes, loaded_rx)?;
    all_loaded.wait();
    drop(listening_tx);
    if listening_rx.iter().take(shards).count() < shards {
        return Err("A shard failed to start listening. Exiting.".into());
    }
    crate::log!(Notice, "Ready to accept connections");
    if let Some(path) = snapshot.unixsocket() {
        crate::log!(
            Notice,
            "The server is now ready to accept connections at {}",
            path.display()
        );
    }
    supervisor.ready();
    control_loop(&global, control_rx);
    Ok(())
}

/// The first lines of the log, as redis-server writes them.
fn announce(config: &crate::config::Config) {
    crate::log!(Warning, "oO0OoO0OoO0Oo Tessera is starting oO0OoO0OoO0Oo");
    crate::log!(
        Warning,
        "Tessera version={}, Redis version={}, bits=64, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        crate::REDIS_VERSION,
        std::process::id()
    );
    match config.config_file() {
        Some(_) => crate::log!(Warning, "Configuration loaded"),
        None => crate::log!(
            Warning,
            "Warning: no config file specified, using the default config. In order to specify a config file use {} /path/to/redis.conf",
            std::env::args().next().unwrap_or_default()
        ),
    }
    for (name, why) in config.not_applied() {
        crate::log!(
            Warning,
            "'{name}' is set but has no effect in Tessera: {why}"
        );
    }
}

/// `oom-score-adj` now, and whenever CONFIG SET changes it or its values.
fn follow_oom_score(config: &Arc<ConfigStore>) {
    use crate::oom::{apply, ProcessClass};
    if let Err(e) = apply(&config.snapshot(), ProcessClass::Primary) {
        crate::log!(Warning, "{e}");
    }
    config.on_apply(&["oom-score-adj", "oom-score-adj-values"], |c| {
        apply(c, ProcessClass::Primary).map_err(|e| {
            crate::log!(Warning, "{e}");
            "Failed to set current oom_score_adj. Check server logs.".to_string()
        })
    });
}

/// ACL users do not exist yet. Starting without the users a configuration declares would
/// leave the server open where the configuration meant to close it, so that stops the start.
fn refuse_acl_users(config: &crate::config::Config) -> Result<(), String> {
    if !config.acl_users().is_empty() || config.get("aclfile").is_some_and(|f| !f.is_empty()) {
        return Err("ACL users ('user' lines, 'aclfile') are not supported by Tessera yet: protect the server with 'requirepass'. Exiting.".into());
    }
    Ok(())
}

/// Binds every `bind` address once, so that a busy port is reported before any thread starts
/// (each shard then binds its own socket with SO_REUSEPORT), and opens the `unixsocket`, which
/// the shards share. As in Redis, `*` is every IPv4 address, `::*` every IPv6 one, a `-`
/// prefix makes an address optional (one this host lacks is skipped), `port 0` listens on no
/// TCP port, and the messages are Redis's.
fn bind_listeners(
    config: &crate::config::Config,
) -> Result<
    (
        Vec<SocketAddr>,
        Option<Arc<std::os::unix::net::UnixListener>>,
    ),
    String,
> {
    let port = config.port();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    let binds = if port == 0 { Vec::new() } else { config.bind() };
    for bind in &binds {
        let host = match bind.addr.as_str() {
            "*" => "0.0.0.0",
            "::*" => "::",
            other => other,
        };
        let bound = format!("{}:{port}", bracket_v6(host))
            .parse::<SocketAddr>()
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL))
            .and_then(|a| std::net::TcpListener::bind(a).map(|_| a));
        match bound {
            Ok(a) => addrs.push(a),
            Err(e) => {
                crate::log!(
                    Warning,
                    "Warning: Could not create server TCP listening socket {host}:{port}: bind: {}",
                    strerror(&e)
                );
                let skippable = match e.raw_os_error() {
                    Some(libc::EADDRNOTAVAIL) => bind.optional,
                    Some(code) => [
                        libc::ENOPROTOOPT,
                        libc::EPROTONOSUPPORT,
                        libc::ESOCKTNOSUPPORT,
                    ]
                    .into_iter()
                    .chain([libc::EPFNOSUPPORT, libc::EAFNOSUPPORT])
                    .any(|c| c == code),
                    None => false,
                };
                if !skippable {
                    return Err(format!("Failed listening on port {port} (TCP), aborting."));
                }
            }
        }
    }
    let unix = match config.unixsocket() {
        Some(path) => match listen_unix(path, config.unixsocketperm(), config.tcp_backlog()) {
            Ok(Listener::Unix(l)) => Some(l),
            Ok(Listener::Tcp(_)) => unreachable!("listen_unix makes Unix sockets"),
            Err(e) => return Err(format!("Failed opening Unix socket: {}", strerror(&e))),
        },
        None => None,
    };
    if let Some(path) = config.unixsocket() {
        crate::shard::global::remove_at_exit(path);
    }
    if addrs.is_empty() && unix.is_none() {
        return Err("Configured to not listen anywhere, exiting.".into());
    }
    Ok((addrs, unix))
}

/// An OS error's text alone, as C's strerror gives it (Rust adds " (os error N)").
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// `pidfile`: written once the server is set up, removed when it exits. A daemon without one
/// writes Redis's default.
fn write_pidfile(config: &crate::config::Config, background: bool) {
    let default = std::path::Path::new("/var/run/redis.pid");
    let Some(path) = config.pidfile().or(background.then_some(default)) else {
        return;
    };
    match std::fs::write(path, format!("{}\n", std::process::id())) {
        Ok(()) => crate::shard::global::remove_at_exit(path),
        Err(e) => crate::log!(Warning, "Failed to write PID file: {}", strerror(&e)),
    }
}

/// Redis prints a logo with the pid when asked to (`always-show-logo`) or when it logs to a
/// terminal, and a one-line summary otherwise. Tools, Redis's test suite among them, find
/// the server's pid in it.
fn show_logo(config: &crate::config::Config, shards: usize) {
    // SAFETY: isatty only inspects the descriptor.
    let terminal = unsafe { libc::isatty(libc::STDOUT_FILENO) } == 1;
    let show = config.always_show_logo()
        || (terminal && config.logfile().is_none() && !config.syslog_enabled());
    let port = config.port();
    if !show {
        crate::log!(Notice, "Running mode=standalone, port={port}.");
        return;
    }
    let logo = format!(
        "
                  Tessera {tessera}, Redis {redis} compatible, 64 bit
   +---+---+---+
   |   |   |   |  Running in standalone mode, {shards} shard(s)
   +---+---+---+  Port: {port}
   |   |   |   |  PID: {pid}
   +---+---+---+

",
        tessera = env!("CARGO_PKG_VERSION"),
        redis = crate::REDIS_VERSION,
        pid = std::process::id(),
    );
    crate::log::raw(crate::config::LogLevel::Notice, &logo);
}

/// Makes room for `maxclients` clients in the open-files limit, or lowers `maxclients` to what
/// the limit allows, with Redis's messages; and lets CONFIG SET maxclients raise it later.
fn fit_maxclients(config: &Arc<ConfigStore>, shards: usize) -> Result<(), String> {
    let reserved = fds::reserved(shards);
    let requested = config.snapshot().maxclients() as u64;
    let wanted = requested + reserved;
    let (limit, error) = fds::raise_limit(wanted);
    if limit < wanted {
        if limit <= reserved {
            return Err(format!(
                "Your current 'ulimit -n' of {limit} is not enough for the server to start. Please increase your open file limit to at least {wanted}. Exiting."
            ));
        }
        let fitted = limit - reserved;
        let why = error.map_or_else(|| "unknown".to_string(), |e| e.to_string());
        crate::log!(Warning, "You requested maxclients of {requested} requiring at least {wanted} max file descriptors.");
        crate::log!(
            Warning,
            "Server can't set maximum open files to {wanted} because of OS error: {why}."
        );
        crate::log!(Warning, "Current maximum open files is {limit}. maxclients has been reduced to {fitted} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.");
        config.set(&[("maxclients", fitted.to_string())])?;
    }
    config.on_apply(&["maxclients"], move |c| {
        let wanted = c.maxclients() as u64 + reserved;
        match fds::raise_limit(wanted) {
            (limit, _) if limit >= wanted => Ok(()),
            (limit, _) => Err(format!(
                "The operating system is not able to handle the specified number of clients, try with {}",
                limit.saturating_sub(reserved)
            )),
        }
    });
    Ok(())
}

/// Feeds the RDB file, if any, to the shards, which decode and insert in parallel.
fn load_snapshot(
    global: &Arc<Global>,
    rdb: Option<std::path::PathBuf>,
    inboxes: Vec<std::sync::mpsc::SyncSender<crate::persist::load::Batch>>,
    loaded: std::sync::mpsc::Receiver<Result<crate::persist::load::ShardLoad, String>>,
) -> Result<(), String> {
    let started = Instant::now();
    crate::persist::state()
        .loading
        .store(true, Ordering::Relaxed);
    let read = match rdb {
        Some(path) => crate::persist::load::read(&path, global.databases, inboxes),
        None => {
            drop(inboxes);
            Ok(None)
        }
    };
    // The inboxes are closed now, so every shard finishes and reports.
    let mut keys = 0;
    let mut expired = 0;
    let mut functions = Vec::new();
    for result in loaded.iter().take(global.shards) {
        let shard = result.map_err(|e| format!("Fatal error loading the DB: {e}. Exiting."))?;
        keys += shard.keys;
        expired += shard.expired;
        functions.extend(shard.functions);
    }
    crate::persist::state()
        .loading
        .store(false, Ordering::Relaxed);
    let read = read?;
    if let Some(libraries) = &read {
        crate::script::functions::install(
            &global.scripts.libraries,
            libraries.clone(),
            true,
            false,
        )
        .map_err(|e| {
            format!("Failed loading library, {e}. Fatal error loading the DB. Exiting.")
        })?;
    }
    // Only shard 0 logs FUNCTION commands; they apply over the snapshot's libraries before
    // any shard serves.
    for args in &functions {
        if let Err(e) = crate::script::functions::apply_logged(&global.scripts.libraries, args) {
            crate::log!(
                Warning,
                "Failed applying a FUNCTION command of the AOF: {e}"
            );
        }
    }
    if read.is_some() {
        let p = crate::persist::state();
        p.loaded_keys.store(keys, Ordering::Relaxed);
        p.expired_on_load.store(expired, Ordering::Relaxed);
        crate::log!(
            Notice,
            "Done loading RDB, keys loaded: {keys}, keys expired: {expired}."
        );
        crate::log!(
            Notice,
            "DB loaded from disk: {:.3} seconds",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Replays this shard's AOF files over what the base loaded, then appends to its last file.
/// Returns the FUNCTION commands replayed, for the control thread.
fn open_aof(
    node: &Rc<Node>,
    plan: &crate::cmd::aof_load::Plan,
) -> Result<Vec<Vec<bytes::Bytes>>, String> {
    let mut data = node.data.borrow_mut();
    let replayed = crate::cmd::aof_load::replay_shard(plan, node.id, &mut data.ks)?;
    let commands = replayed.commands;
    if commands > 0 {
        crate::log!(
            Notice,
            "Shard {} replayed {commands} AOF command(s)",
            node.id
        );
    }
    let path = &plan.append_to[node.id];
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| format!("Can't open the append-only file {}: {e}", path.display()))?;
    let config = node.global.config.snapshot();
    let mark = node.global.aof.marks[node.id].clone();
    let files = &plan.incr[node.id];
    let earlier: u64 = files
        .iter()
        .rev()
        .skip(1)
        .map(|(_, b)| b.len() as u64)
        .sum();
    mark.earlier_bytes
        .store(earlier, std::sync::atomic::Ordering::Relaxed);
    data.aof.start(file, config.appendfsync(), mark);
    data.ks.stats.record_reaped = true;
    Ok(replayed.functions)
}

/// The control thread is this one: it forks snapshot children and handles signals.
fn control_loop(global: &Arc<Global>, control: std::sync::mpsc::Receiver<ControlMsg>) {
    while let Ok(msg) = control.recv() {
        match msg {
            ControlMsg::Shutdown => break,
            ControlMsg::Signal(sig) => {
                let config = global.config.snapshot();
                let (name, flags) = if sig == libc::SIGINT {
                    ("SIGINT", config.shutdown_on_sigint())
                } else {
                    ("SIGTERM", config.shutdown_on_sigterm())
                };
                let mode = crate::persist::ShutdownMode::from_flags(flags);
                let again = crate::persist::state().request_shutdown(mode);
                if again && sig == libc::SIGINT {
                    crate::log!(Warning, "You insist... exiting now.");
                    // A final save under way leaves no half-written file behind.
                    let temp = format!("temp-{}.rdb", std::process::id());
                    let _ = std::fs::remove_file(config.dir().join(temp));
                    exit(1);
                }
                crate::log!(Warning, "Received {name} scheduling shutdown...");
            }
            ControlMsg::Run(job) => job(global),
        }
    }
    crate::log!(Warning, "Tessera is now ready to exit, bye bye...");
    exit(0);
}

pub use crate::shard::global::exit;

/// SIGTERM and SIGINT become an orderly shutdown, as in Redis: the control thread raises a flag
/// that the persistence cron acts on (final save, exit). They
/// are blocked in every thread (the shards inherit this thread's mask) and received by a
/// dedicated thread with sigwait, so no handler ever runs in the middle of a shard's work.
fn watch_signals(control: std::sync::mpsc::Sender<ControlMsg>) {
    // SAFETY: plain libc signal-set manipulation on a local, zero-initialised sigset_t.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            crate::cpus::pin_bio_thread();
            loop {
                let mut sig = 0;
                // SAFETY: `set` is a valid signal set; sigwait only writes the signal number.
                if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                    let _ = control.send(ControlMsg::Signal(sig));
                }
            }
        })
        .expect("spawning the signal thread");
}

fn bracket_v6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}
