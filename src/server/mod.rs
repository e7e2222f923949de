//! Start-up: the shard threads, the listener on each, the control thread.

pub mod aof_load;
mod fds;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use glommio::{LocalExecutorBuilder, Placement};

use crate::config::ConfigStore;
use crate::shard::global::{ControlMsg, Global};
use crate::shard::mailbox::Mailbox;
use crate::shard::uring::{listen, Driver, UringStream};
use crate::shard::Node;

const IO_MEMORY: usize = 256 << 10;

/// Starts every shard and blocks until shutdown.
pub fn run(config: Arc<ConfigStore>) -> Result<(), String> {
    let snapshot = config.snapshot();
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
        random_run_id(),
    ));
    // CONFIG SET's command switches the AOF itself once the setting is published (see
    // `persist::rewrite::set_appendonly`); here only what can be checked at once.
    config.on_apply(&["appendonly"], |c| {
        if c.appendonly() {
            crate::aof::manifest::create_dir(c).map_err(|e| {
                eprintln!("{e}");
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

    // Bind once here so that a busy port is reported before any thread starts. As in Redis,
    // `*` is every IPv4 address, `::*` every IPv6 one, and a `-` prefix (the default
    // `* -::*`) makes an address optional: failing to bind it is only a warning.
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for bind in snapshot.bind() {
        let host = match bind.addr.as_str() {
            "*" => "0.0.0.0",
            "::*" => "::",
            other => other,
        };
        let addr = format!("{}:{}", bracket_v6(host), snapshot.port());
        let bound = addr
            .parse::<SocketAddr>()
            .map_err(|e| format!("invalid bind address {addr}: {e}"))
            .and_then(|a| {
                std::net::TcpListener::bind(a).map(|_| a).map_err(|e| {
                    format!("Could not create server TCP listening socket {addr}: {e}")
                })
            });
        match bound {
            Ok(a) => addrs.push(a),
            Err(e) if bind.optional => eprintln!("Warning: {e}"),
            Err(e) => return Err(e),
        }
    }
    if addrs.is_empty() {
        return Err(format!(
            "Failed listening on port {} (tcp), aborting.",
            snapshot.port()
        ));
    }

    // AOF wins over RDB, as in Redis: with appendonly on, the RDB file is not loaded.
    let aof_plan = crate::server::aof_load::prepare(&snapshot, shards)?.map(Arc::new);
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
    let all_loaded = Arc::new(std::sync::Barrier::new(shards));
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
        let (global, mail, addrs) = (global.clone(), mail.clone(), addrs.clone());
        let (inbox, loaded) = (shard_inboxes.remove(0), loaded_tx.clone());
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
                let result = absorbed.and_then(|r| match &aof_plan {
                    Some(plan) => open_aof(&node, plan).map(|_| r),
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
                let mut accepts = Vec::new();
                for addr in addrs {
                    let listener = listen(addr).expect("bound once already in this process");
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
                                        eprintln!("Error accepting a client connection: {e}");
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
    load_snapshot(&global, rdb, inboxes, loaded_rx)?;
    println!(
        "Tessera {} ready: {} shard(s), port {}",
        env!("CARGO_PKG_VERSION"),
        shards,
        snapshot.port()
    );
    control_loop(&global, control_rx);
    Ok(())
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
        println!("You requested maxclients of {requested} requiring at least {wanted} max file descriptors.");
        println!("Server can't set maximum open files to {wanted} because of OS error: {why}.");
        println!("Current maximum open files is {limit}. maxclients has been reduced to {fitted} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.");
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
            Ok(false)
        }
    };
    // The inboxes are closed now, so every shard finishes and reports.
    let mut keys = 0;
    let mut expired = 0;
    for result in loaded.iter().take(global.shards) {
        let shard = result.map_err(|e| format!("Fatal error loading the DB: {e}. Exiting."))?;
        keys += shard.keys;
        expired += shard.expired;
    }
    crate::persist::state()
        .loading
        .store(false, Ordering::Relaxed);
    if read? {
        let p = crate::persist::state();
        p.loaded_keys.store(keys, Ordering::Relaxed);
        p.expired_on_load.store(expired, Ordering::Relaxed);
        println!(
            "Done loading RDB, keys loaded: {keys}, keys expired: {expired}.\nDB loaded from disk: {:.3} seconds",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Replays this shard's AOF files over what the base loaded, then appends to its last file.
fn open_aof(node: &Rc<Node>, plan: &crate::server::aof_load::Plan) -> Result<(), String> {
    let mut data = node.data.borrow_mut();
    let commands = crate::server::aof_load::replay_shard(plan, node.id, &mut data.ks)?;
    if commands > 0 {
        println!("Shard {} replayed {commands} AOF command(s)", node.id);
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
    Ok(())
}

/// The control thread is this one: it forks snapshot children and handles signals.
fn control_loop(global: &Arc<Global>, control: std::sync::mpsc::Receiver<ControlMsg>) {
    while let Ok(msg) = control.recv() {
        match msg {
            ControlMsg::Shutdown => break,
            ControlMsg::Signal(sig) => {
                let name = if sig == libc::SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                let again = crate::persist::state().request_shutdown();
                if again && sig == libc::SIGINT {
                    println!("You insist... exiting now.");
                    exit(1);
                }
                println!("Received {name} scheduling shutdown...");
            }
            ControlMsg::Run(job) => job(global),
        }
    }
    println!("Tessera is now ready to exit, bye bye...");
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

fn random_run_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| std::char::from_digit(rng.gen_range(0..16), 16).expect("digit < 16"))
        .collect()
}
