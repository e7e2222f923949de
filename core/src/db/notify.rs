//! Keyspace notifications (`notify-keyspace-events`): what happened to which key, as Redis
//! 7.0 names it, queued for the runtime to publish.
//!
//! Handlers emit events as they change keys ([`emit`]); so does the keyspace itself where a
//! key is created (`new`) or expires on access (`expired`). They collect in a queue of the
//! thread's own, as Redis's single thread publishes from wherever it is: every shard is one
//! thread, a command runs on one thread from start to end, and the events are wanted in the
//! order they happened however deep in the keyspace they did. The shard publishes the queue
//! after each piece of work. With notifications off (the default) an emit costs one load and
//! one test.

use std::cell::{Cell, RefCell};

use bytes::{BufMut, Bytes, BytesMut};

/// The classes, as Redis's flag bits (`notify-keyspace-events` letters in comments).
pub mod class {
    pub const KEYSPACE: u32 = 1 << 0; // K
    pub const KEYEVENT: u32 = 1 << 1; // E
    pub const GENERIC: u32 = 1 << 2; // g
    pub const STRING: u32 = 1 << 3; // $
    pub const LIST: u32 = 1 << 4; // l
    pub const SET: u32 = 1 << 5; // s
    pub const HASH: u32 = 1 << 6; // h
    pub const ZSET: u32 = 1 << 7; // z
    pub const EXPIRED: u32 = 1 << 8; // x
    pub const EVICTED: u32 = 1 << 9; // e
    pub const STREAM: u32 = 1 << 10; // t
    pub const KEY_MISS: u32 = 1 << 11; // m, left out of A on purpose
    pub const MODULE: u32 = 1 << 13; // d
    pub const NEW: u32 = 1 << 14; // n, also left out of A
    /// `A`: every class but key misses and new keys.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// One event: `name` happened to `key` in database `db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: &'static str,
    pub db: usize,
    pub key: Bytes,
}

thread_local! {
    /// This thread's `notify-keyspace-events`, as flag bits.
    static ENABLED: Cell<u32> = const { Cell::new(0) };
    static PENDING: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

/// Sets the classes this thread emits (at start-up and after CONFIG SET, on every shard).
pub fn set_enabled(classes: u32) {
    ENABLED.with(|e| e.set(classes));
}

pub fn enabled() -> u32 {
    ENABLED.with(Cell::get)
}

/// Whether events of `class` are published at all: the class is on, and keyspace or keyevent
/// channels are (Redis's `notifyKeyspaceEvent` test).
#[inline]
pub fn wanted(class: u32) -> bool {
    let on = enabled();
    on & class != 0 && on & (class::KEYSPACE | class::KEYEVENT) != 0
}

/// Queues event `name` of `class` for `key` in database `db`, if that class is published.
#[inline]
pub fn emit(class: u32, name: &'static str, db: usize, key: &[u8]) {
    if wanted(class) {
        let key = Bytes::copy_from_slice(key);
        PENDING.with(|p| p.borrow_mut().push(Event { name, db, key }));
    }
}

/// Silences this thread's notifications while it lives: loading a file creates keys that no
/// client made (Redis's loading adds keys without events too).
pub struct Muted(u32);

impl Muted {
    pub fn new() -> Muted {
        let was = enabled();
        set_enabled(0);
        Muted(was)
    }
}

impl Default for Muted {
    fn default() -> Self {
        Muted::new()
    }
}

impl Drop for Muted {
    fn drop(&mut self) {
        set_enabled(self.0);
    }
}

/// The events queued on this thread since the last call, in order.
pub fn take() -> Vec<Event> {
    PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()))
}

/// Whether events wait to be published.
pub fn pending() -> bool {
    PENDING.with(|p| !p.borrow().is_empty())
}

/// The (channel, message) pairs an event is published as, under the enabled flags: on
/// `__keyspace@<db>__:<key>` with the event's name, and on `__keyevent@<db>__:<name>` with
/// the key.
pub fn messages(event: &Event, enabled: u32) -> Vec<(Bytes, Bytes)> {
    let mut out = Vec::with_capacity(2);
    let db = itoa::Buffer::new().format(event.db).to_owned();
    if enabled & class::KEYSPACE != 0 {
        let mut channel = BytesMut::with_capacity(16 + db.len() + event.key.len());
        channel.put_slice(b"__keyspace@");
        channel.put_slice(db.as_bytes());
        channel.put_slice(b"__:");
        channel.put_slice(&event.key);
        out.push((channel.freeze(), Bytes::from_static(event.name.as_bytes())));
    }
    if enabled & class::KEYEVENT != 0 {
        let mut channel = BytesMut::with_capacity(16 + db.len() + event.name.len());
        channel.put_slice(b"__keyevent@");
        channel.put_slice(db.as_bytes());
        channel.put_slice(b"__:");
        channel.put_slice(event.name.as_bytes());
        out.push((channel.freeze(), event.key.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_enabled_classes_are_queued_and_named_as_redis_does() {
        set_enabled(0);
        emit(class::STRING, "set", 0, b"k");
        assert!(!pending());
        set_enabled(class::STRING);
        emit(class::STRING, "set", 0, b"k");
        assert!(!pending(), "neither K nor E: nothing is published");
        set_enabled(class::KEYSPACE | class::KEYEVENT | class::STRING);
        emit(class::LIST, "lpush", 0, b"l");
        emit(class::STRING, "set", 9, b"k");
        let events = take();
        assert_eq!(events.len(), 1);
        assert!(!pending());
        let m = messages(&events[0], enabled());
        assert_eq!(
            m,
            vec![
                (
                    Bytes::from_static(b"__keyspace@9__:k"),
                    Bytes::from_static(b"set")
                ),
                (
                    Bytes::from_static(b"__keyevent@9__:set"),
                    Bytes::from_static(b"k")
                ),
            ]
        );
        set_enabled(0);
    }
}
