//! The clients connected to one shard, for CLIENT LIST, CLIENT KILL and INFO clients.
//!
//! Each connection task owns its state; the registry keeps a shared handle to the parts other
//! code must read (name, database, last command) so that CLIENT LIST can be rendered by the shard
//! that owns the connection without any lock. Cross-shard CLIENT commands are broadcasts.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use ahash::AHashMap;
use bytes::Bytes;

pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created: Instant,
    pub last_active: Cell<Instant>,
    pub name: RefCell<Option<Bytes>>,
    pub db: Cell<usize>,
    pub resp: Cell<u8>,
    pub last_cmd: Cell<&'static str>,
    pub no_evict: Cell<bool>,
    /// Set by CLIENT KILL; the connection closes at its next chance.
    pub killed: Cell<bool>,
    pub query_buf: Cell<usize>,
    /// Waiting in a blocking command (BLPOP...): CLIENT LIST's `b` flag, and the connection
    /// watches its socket meanwhile so that a client that leaves stops waiting.
    pub blocked: Cell<bool>,
    /// Commands queued since MULTI, or -1 outside MULTI: CLIENT LIST's `multi` and flag `x`.
    pub multi: Cell<i32>,
}

impl ClientInfo {
    /// One line of CLIENT LIST / CLIENT INFO, with Redis 7.0's fields in Redis's order.
    pub fn describe(&self, shard_flags: &str) -> String {
        let now = Instant::now();
        let name = self.name.borrow();
        let name = name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            now.duration_since(self.created).as_secs(),
            now.duration_since(self.last_active.get()).as_secs(),
            match (shard_flags.is_empty(), self.blocked.get(), self.multi.get() >= 0) {
                (_, true, _) => "b",
                (_, _, true) => "x",
                (true, false, false) => "N",
                (false, false, false) => shard_flags,
            },
            self.db.get(),
            self.multi.get(),
            self.query_buf.get(),
            self.last_cmd.get(),
            self.resp.get(),
        )
    }

    /// Closes the connection's socket so that its task sees end-of-file and exits.
    pub fn kill(&self) {
        self.killed.set(true);
        // SAFETY: shutdown(2) on a descriptor only this process owns; if the connection has
        // already gone the fd is no longer registered here (the registry drops it first).
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
        }
    }
}

/// Checks this shard's clients against `timeout` every tick of `hz`, as Redis's client cron.
pub fn start_idle_timeout(node: Rc<super::Node>) {
    crate::shard::task::spawn(async move {
        loop {
            let hz = u64::from(node.global.config.snapshot().hz()); // already 1..=500
            crate::shard::timer::sleep(std::time::Duration::from_millis(1000 / hz)).await;
            let timeout = node.global.config.snapshot().timeout_secs();
            if timeout > 0 {
                let timeout = std::time::Duration::from_secs(u64::from(timeout));
                node.data
                    .borrow()
                    .clients
                    .close_idle(timeout, Instant::now());
            }
        }
    })
    .detach();
}

#[derive(Default)]
pub struct ClientRegistry {
    clients: AHashMap<u64, Rc<ClientInfo>>,
}

impl ClientRegistry {
    pub fn add(&mut self, c: Rc<ClientInfo>) {
        self.clients.insert(c.id, c);
    }

    pub fn remove(&mut self, id: u64) {
        self.clients.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Closes the clients idle for longer than `timeout` (`timeout` in redis.conf), as Redis's
    /// client cron does: not those waiting in a blocking command, which have their own
    /// timeouts. Returns how many it closed.
    pub fn close_idle(&self, timeout: std::time::Duration, now: Instant) -> usize {
        let mut closed = 0;
        for c in self.clients.values() {
            let idle = now.saturating_duration_since(c.last_active.get());
            if idle > timeout && !c.blocked.get() && !c.killed.get() {
                c.kill();
                closed += 1;
            }
        }
        closed
    }

    pub fn iter(&self) -> impl Iterator<Item = &Rc<ClientInfo>> {
        let mut all: Vec<_> = self.clients.values().collect();
        all.sort_by_key(|c| c.id);
        all.into_iter()
    }
}
