//! Process-wide state and start-up: the shard threads, the listener on each, the control thread.
//!
//! `Global` holds the little that all shards share: settings that CONFIG SET may change, client
//! id allocation, and the channel to the control thread. Everything on the data path lives in the
//! shards; what is here is read rarely or through atomics.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::{LocalExecutorBuilder, Placement};

use crate::config::ConfigStore;
use crate::net::uring::{listen, Driver, Mode, UringStream};
use crate::resp::parse::Limits;
use crate::shard::Node;

pub struct Global {
    pub databases: usize,
    pub shards: usize,
    pub config: Arc<ConfigStore>,
    pub started: Instant,
    pub started_unix: SystemTime,
    next_client_id: AtomicU64,
    pub connected_clients: AtomicUsize,
    /// CLIENT PAUSE: Unix ms until which clients are paused (0 = not), and whether only writes.
    pub pause_until_ms: AtomicU64,
    pub pause_writes_only: std::sync::atomic::AtomicBool,
    pub control: std::sync::mpsc::Sender<ControlMsg>,
    pub run_id: String,
    limits: RwLock<Limits>,
    requirepass: RwLock<Option<Bytes>>,
}

pub enum ControlMsg {
    Shutdown,
}

impl Global {
    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn limits(&self) -> Limits {
        *self
            .limits
            .read()
            .expect("limits lock is never poisoned: writers do not panic")
    }

    pub fn requirepass(&self) -> Option<Bytes> {
        self.requirepass
            .read()
            .expect("requirepass lock is never poisoned")
            .clone()
    }

    /// Re-reads the settings cached here after CONFIG SET.
    pub fn refresh(&self) {
        let c = &self.config;
        *self.limits.write().expect("not poisoned") = Limits {
            proto_max_bulk_len: c.proto_max_bulk_len() as usize,
            client_query_buffer_limit: c.client_query_buffer_limit() as usize,
        };
        *self.requirepass.write().expect("not poisoned") = c.requirepass().map(Bytes::from);
    }
}

/// Starts every shard and blocks until shutdown.
pub fn run(config: Arc<ConfigStore>) -> Result<(), String> {
    let shards = config.threads().max(1);
    let cores = core_affinity::get_core_ids()
        .map(|c| c.len())
        .unwrap_or(1)
        .max(1);
    let (control_tx, control_rx) = std::sync::mpsc::channel();
    let global = Arc::new(Global {
        databases: config.databases() as usize,
        shards,
        config: config.clone(),
        started: Instant::now(),
        started_unix: SystemTime::now(),
        next_client_id: AtomicU64::new(1),
        connected_clients: AtomicUsize::new(0),
        pause_until_ms: AtomicU64::new(0),
        pause_writes_only: Default::default(),
        control: control_tx,
        run_id: random_run_id(),
        limits: RwLock::new(Limits::default()),
        requirepass: RwLock::new(None),
    });
    global.refresh();

    let addrs: Vec<SocketAddr> = config
        .bind()
        .iter()
        .map(|host| format!("{}:{}", bracket_v6(host), config.port()))
        .map(|a| {
            a.parse::<SocketAddr>()
                .map_err(|e| format!("invalid bind address {a}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    // Bind once here so that a busy port is reported before any thread starts.
    for addr in &addrs {
        std::net::TcpListener::bind(addr)
            .map_err(|e| format!("Could not create server TCP listening socket {addr}: {e}"))?;
    }

    let requests = MeshBuilder::full(shards, 1024);
    let responses = MeshBuilder::full(shards, 1024);
    let mut handles = Vec::new();
    for i in 0..shards {
        let (global, requests, responses, addrs) = (
            global.clone(),
            requests.clone(),
            responses.clone(),
            addrs.clone(),
        );
        // More shards than cores (tests run 4 shards on 2 cores): shards wrap around the cores.
        let placement = Placement::Fixed(i % cores);
        let handle = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{i}"))
            .spawn(move || async move {
                let node = Node::join(global, requests, responses).await;
                crate::shard::expire::start_active_expiry(node.clone());
                // Connections use this shard's own io_uring rather than glommio's sockets,
                // which make two system calls per request (see net::uring).
                let mode = if shards == 1 {
                    Mode::Alone
                } else {
                    Mode::Shared
                };
                let uring = Driver::start(mode).expect("cannot set up this shard's io_uring");
                let mut accepts = Vec::new();
                for addr in addrs {
                    let listener = listen(addr).expect("bound once already in this process");
                    let (node, uring) = (node.clone(), uring.clone());
                    accepts.push(glommio::spawn_local(async move {
                        loop {
                            match uring.accept(&listener).await {
                                Ok(sock) => {
                                    let stream = UringStream::new(sock, uring.clone());
                                    glommio::spawn_local(crate::net::conn::serve(
                                        node.clone(),
                                        stream,
                                    ))
                                    .detach();
                                }
                                Err(e) => {
                                    eprintln!("accept failed: {e}");
                                    // Out of descriptors, typically: retrying at once would
                                    // only spin.
                                    glommio::timer::sleep(std::time::Duration::from_millis(10))
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
    println!(
        "Tessera {} ready: {} shard(s), port {}",
        env!("CARGO_PKG_VERSION"),
        shards,
        config.port()
    );
    // The control thread is this one: it waits for process-wide work such as shutdown.
    match control_rx.recv() {
        Ok(ControlMsg::Shutdown) | Err(_) => {
            println!("Tessera is now ready to exit, bye bye...");
            std::process::exit(0);
        }
    }
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
