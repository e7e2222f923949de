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
use tessera_core::config::{ClientClass, ObufLimit};

pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    /// Connected through the Unix socket or from the loopback address (Redis's
    /// `islocalClient`).
    pub local: bool,
    /// Connected through the Unix socket (CLIENT LIST's `U` flag).
    pub unix: bool,
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
    /// Reply bytes handed to the socket and not yet sent (CLIENT LIST's `omem`), kept by the
    /// connection's stream.
    pub unsent: Rc<Cell<usize>>,
    /// Since when the unsent replies have stayed at or above the soft output limit.
    pub soft_limit_since: Cell<Option<Instant>>,
    /// The most reply bytes waiting at once since the client cron last looked.
    pub output_peak: Cell<usize>,
    /// Pushes other tasks have for this client (Pub/Sub messages), sent in order with its
    /// replies.
    pub outbox: Rc<crate::shard::uring::Outbox>,
    /// What the client is subscribed to.
    pub subs: crate::shard::pubsub::SharedSubscriptions,
    /// Sent MONITOR (CLIENT LIST's flag `O`).
    pub monitor: Cell<bool>,
    /// CLIENT TRACKING's state.
    pub tracking: RefCell<crate::shard::tracking::Tracking>,
}

/// The class whose output buffer limits apply to a client: a subscriber is a `pubsub`
/// client, as in Redis.
pub fn client_class(c: &ClientInfo) -> ClientClass {
    if c.subs.borrow().active() {
        ClientClass::Pubsub
    } else {
        ClientClass::Normal
    }
}

impl ClientInfo {
    /// One line of CLIENT LIST / CLIENT INFO, with Redis 7.0's fields in Redis's order.
    pub fn describe(&self) -> String {
        let now = Instant::now();
        let name = self.name.borrow();
        let name = name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let subs = self.subs.borrow();
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r cmd={} user=default redir={} resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            now.duration_since(self.created).as_secs(),
            now.duration_since(self.last_active.get()).as_secs(),
            self.flags(),
            self.db.get(),
            subs.channels.len(),
            subs.patterns.len(),
            subs.sharded.len(),
            self.multi.get(),
            self.query_buf.get(),
            self.unsent.get() + self.outbox.len(),
            self.last_cmd.get(),
            match &*self.tracking.borrow() {
                t if !t.on => -1,
                t => t.redirect.map_or(0, |(id, _)| id as i64),
            },
            self.resp.get(),
        )
    }

    /// CLIENT LIST's `flags`, in Redis's order; `N` for none.
    fn flags(&self) -> String {
        let tracking = self.tracking.borrow();
        let mut flags = String::new();
        for (set, flag) in [
            (self.monitor.get(), 'O'),
            (self.subs.borrow().active(), 'P'),
            (self.multi.get() >= 0, 'x'),
            (self.blocked.get(), 'b'),
            (tracking.on, 't'),
            (tracking.broken_redirect, 'R'),
            (tracking.bcast, 'B'),
            (self.unix, 'U'),
            (self.no_evict.get(), 'e'),
        ] {
            if set {
                flags.push(flag);
            }
        }
        if flags.is_empty() {
            flags.push('N');
        }
        flags
    }

    /// Whether `pending` reply bytes put this client past its output buffer limit, as
    /// Redis's checkClientOutputBufferLimits decides: at once at the hard limit, or once it
    /// has stayed at or above the soft limit for more than the soft limit's seconds.
    pub fn over_output_limit(&self, pending: usize, limit: ObufLimit, now: Instant) -> bool {
        self.output_peak.set(self.output_peak.get().max(pending));
        let pending = pending as u64;
        let hard = limit.hard > 0 && pending >= limit.hard;
        let soft = if limit.soft > 0 && pending >= limit.soft {
            match self.soft_limit_since.get() {
                Some(since) => now.saturating_duration_since(since).as_secs() > limit.soft_seconds,
                None => {
                    self.soft_limit_since.set(Some(now));
                    false
                }
            }
        } else {
            self.soft_limit_since.set(None);
            false
        };
        hard || soft
    }

    /// Closes the client for its output buffer, unsent replies dropped, as Redis does.
    pub fn close_for_output_limit(&self) {
        if !self.killed.get() {
            crate::log!(
                Warning,
                "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
                self.describe()
            );
            self.kill();
        }
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

/// Redis's client cron, every tick of `hz`: closes idle clients past `timeout`, closes
/// clients whose replies stayed over the soft output limit even when no new reply comes to
/// check it, and keeps the recent peaks of INFO's `client_recent_max_*_buffer`, its
/// instantaneous rates and its memory peak.
pub fn start_client_cron(node: Rc<super::Node>) {
    crate::shard::task::spawn(async move {
        loop {
            let config = node.global.config.snapshot();
            let hz = u64::from(config.hz()); // already 1..=500
            crate::shard::timer::sleep(std::time::Duration::from_millis(1000 / hz)).await;
            if node.global.cron_paused() {
                continue;
            }
            let now = Instant::now();
            let mut data = node.data.borrow_mut();
            let data = &mut *data;
            let timeout = config.timeout_secs();
            if timeout > 0 {
                let timeout = std::time::Duration::from_secs(u64::from(timeout));
                data.clients.close_idle(timeout, now);
            }
            let (mut input, mut output) = (0, 0);
            for c in data.clients.clients.values() {
                let limit = node.global.obuf_limit(client_class(c));
                if c.over_output_limit(c.unsent.get(), limit, now) {
                    c.close_for_output_limit();
                }
                input = input.max(c.query_buf.get());
                output = output.max(c.output_peak.replace(c.unsent.get()));
            }
            data.clients.recent_peaks.record(input, output);
            // INFO's per-second rates, and its memory peak, sampled as Redis's serverCron
            // samples them.
            let stats = &mut data.stats;
            let totals = [
                stats.total_commands,
                stats.net_input_bytes,
                stats.net_output_bytes,
            ];
            stats.instantaneous.sample(now, totals);
            node.global.sample_memory();
        }
    })
    .detach();
}

/// The largest query and output buffers of recent seconds, in one slot per second over a
/// window of eight as Redis keeps them.
#[derive(Default)]
pub struct RecentPeaks {
    slots: [(u64, usize, usize); PEAK_SLOTS],
}

const PEAK_SLOTS: usize = 8;

impl RecentPeaks {
    fn record(&mut self, input: usize, output: usize) {
        let second = crate::db::clock::now_ms() / 1000;
        let slot = &mut self.slots[second as usize % PEAK_SLOTS];
        if slot.0 != second {
            *slot = (second, 0, 0);
        }
        slot.1 = slot.1.max(input);
        slot.2 = slot.2.max(output);
    }

    /// The peaks (query buffer, output buffer) of the last eight seconds.
    pub fn get(&self) -> (usize, usize) {
        let second = crate::db::clock::now_ms() / 1000;
        self.slots
            .iter()
            .filter(|s| second.saturating_sub(s.0) < PEAK_SLOTS as u64)
            .fold((0, 0), |(i, o), s| (i.max(s.1), o.max(s.2)))
    }
}

#[derive(Default)]
pub struct ClientRegistry {
    clients: AHashMap<u64, Rc<ClientInfo>>,
    pub recent_peaks: RecentPeaks,
}

impl ClientRegistry {
    pub fn add(&mut self, c: Rc<ClientInfo>) {
        self.clients.insert(c.id, c);
    }

    pub fn remove(&mut self, id: u64) {
        self.clients.remove(&id);
    }

    pub fn get(&self, id: u64) -> Option<&Rc<ClientInfo>> {
        self.clients.get(&id)
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// What the clients hold that Tessera knows of: each one's record, its unparsed input and
    /// its replies not yet sent (INFO's mem_clients_normal).
    pub fn memory(&self) -> usize {
        self.clients
            .values()
            .map(|c| std::mem::size_of::<ClientInfo>() + c.query_buf.get() + c.unsent.get())
            .sum()
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
