//! Typed command flags and key access modes, as Redis 7.0 names them.
//!
//! A row's flags decide dispatch (write or read-only, may grow memory, allowed inside MULTI),
//! and each key's access mode decides what the transaction layer does with it when a command
//! spans shards: a key the command only reads is lent and returned untouched, a key it
//! overwrites is never fetched, and only keys it writes are written back and logged. Both are
//! bit sets checked with one AND, never strings compared on the data path. Names render in
//! Redis's own order, so COMMAND INFO and COMMAND GETKEYSANDFLAGS answer as Redis does.

/// A command's flags (COMMAND INFO's third field).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Flags(u32);

pub const WRITE: Flags = Flags(1 << 0);
pub const READONLY: Flags = Flags(1 << 1);
pub const DENYOOM: Flags = Flags(1 << 2);
pub const ADMIN: Flags = Flags(1 << 3);
pub const PUBSUB: Flags = Flags(1 << 4);
pub const NOSCRIPT: Flags = Flags(1 << 5);
pub const BLOCKING: Flags = Flags(1 << 6);
pub const LOADING: Flags = Flags(1 << 7);
pub const STALE: Flags = Flags(1 << 8);
pub const SKIP_MONITOR: Flags = Flags(1 << 9);
pub const SKIP_SLOWLOG: Flags = Flags(1 << 10);
pub const ASKING: Flags = Flags(1 << 11);
pub const FAST: Flags = Flags(1 << 12);
pub const NO_AUTH: Flags = Flags(1 << 13);
pub const NO_MANDATORY_KEYS: Flags = Flags(1 << 14);
pub const NO_ASYNC_LOADING: Flags = Flags(1 << 15);
pub const NO_MULTI: Flags = Flags(1 << 16);
pub const MOVABLEKEYS: Flags = Flags(1 << 17);
pub const ALLOW_BUSY: Flags = Flags(1 << 18);

/// Flag names in the order Redis's `addReplyFlagsForCommand` lists them.
const FLAG_NAMES: &[(Flags, &str)] = &[
    (WRITE, "write"),
    (READONLY, "readonly"),
    (DENYOOM, "denyoom"),
    (ADMIN, "admin"),
    (PUBSUB, "pubsub"),
    (NOSCRIPT, "noscript"),
    (BLOCKING, "blocking"),
    (LOADING, "loading"),
    (STALE, "stale"),
    (SKIP_MONITOR, "skip_monitor"),
    (SKIP_SLOWLOG, "skip_slowlog"),
    (ASKING, "asking"),
    (FAST, "fast"),
    (NO_AUTH, "no_auth"),
    (NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (NO_ASYNC_LOADING, "no_async_loading"),
    (NO_MULTI, "no_multi"),
    (MOVABLEKEYS, "movablekeys"),
    (ALLOW_BUSY, "allow_busy"),
];

impl Flags {
    pub const NONE: Flags = Flags(0);

    /// The union of `list`, for row declarations (`.flags(&[WRITE, DENYOOM])`).
    pub const fn of(list: &[Flags]) -> Flags {
        let mut bits = 0;
        let mut i = 0;
        while i < list.len() {
            bits |= list[i].0;
            i += 1;
        }
        Flags(bits)
    }

    #[inline]
    pub const fn has(self, f: Flags) -> bool {
        self.0 & f.0 == f.0
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        FLAG_NAMES
            .iter()
            .filter(move |(f, _)| self.has(*f))
            .map(|(_, n)| *n)
    }
}

/// What a command does to one key (a key spec's flags).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Access(u16);

impl Access {
    /// Reads the key's value without changing it.
    pub const RO: Access = Access(1 << 0);
    /// Reads and changes the key's value.
    pub const RW: Access = Access(1 << 1);
    /// Overwrites the key without reading it.
    pub const OW: Access = Access(1 << 2);
    /// Deletes the key without reading it.
    pub const RM: Access = Access(1 << 3);
    pub const ACCESS: Access = Access(1 << 4);
    pub const UPDATE: Access = Access(1 << 5);
    pub const INSERT: Access = Access(1 << 6);
    pub const DELETE: Access = Access(1 << 7);
    pub const NOT_KEY: Access = Access(1 << 8);
    pub const INCOMPLETE: Access = Access(1 << 9);
    pub const VARIABLE_FLAGS: Access = Access(1 << 10);

    const NAMES: &'static [(Access, &'static str)] = &[
        (Access::RO, "RO"),
        (Access::RW, "RW"),
        (Access::OW, "OW"),
        (Access::RM, "RM"),
        (Access::ACCESS, "access"),
        (Access::UPDATE, "update"),
        (Access::INSERT, "insert"),
        (Access::DELETE, "delete"),
        (Access::NOT_KEY, "not_key"),
        (Access::INCOMPLETE, "incomplete"),
        (Access::VARIABLE_FLAGS, "variable_flags"),
    ];

    /// Parses Redis's spelling of key spec flags; unknown names are ignored.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Access {
        let mut a = Access(0);
        for name in names {
            if let Some((f, _)) = Access::NAMES.iter().find(|(_, n)| *n == name) {
                a.0 |= f.0;
            }
        }
        a
    }

    #[inline]
    pub const fn has(self, f: Access) -> bool {
        self.0 & f.0 == f.0
    }

    pub const fn with(self, f: Access) -> Access {
        Access(self.0 | f.0)
    }

    /// The command may change the key (RW, OW or RM): it must be written back and logged.
    #[inline]
    pub fn writes(self) -> bool {
        self.0 & (Access::RW.0 | Access::OW.0 | Access::RM.0) != 0
    }

    /// The command reads the key's current value (RO or RW): it must be fetched. A key it
    /// only overwrites or deletes (OW, RM) need not be.
    #[inline]
    pub fn reads(self) -> bool {
        self.0 & (Access::RO.0 | Access::RW.0) != 0
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Access::NAMES
            .iter()
            .filter(move |(f, _)| self.has(*f))
            .map(|(_, n)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_render_in_redis_order() {
        let f = Flags::of(&[FAST, WRITE, DENYOOM]);
        assert_eq!(f.names().collect::<Vec<_>>(), ["write", "denyoom", "fast"]);
        assert!(f.has(WRITE) && !f.has(READONLY));
    }

    #[test]
    fn access_parses_and_classifies() {
        let a = Access::parse(["update", "OW"]);
        assert_eq!(a.names().collect::<Vec<_>>(), ["OW", "update"]);
        assert!(a.writes() && !a.reads());
        let r = Access::parse(["RO", "access"]);
        assert!(r.reads() && !r.writes());
        let rw = Access::parse(["RW", "access", "delete"]);
        assert!(rw.reads() && rw.writes());
    }
}
