//! What the server knows about one connection between two commands.

use std::rc::Rc;
use std::sync::Arc;

use crate::cmd::flags::{DENYOOM, WRITE};
use crate::cmd::{Args, Command};
use crate::db::Watcher;
use crate::resp::Frame;
use crate::shard::clients::ClientInfo;
use crate::shard::tx::Tx;
use crate::shard::Node;
use crate::slot::key_owner;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the current command's reply (the one after CLIENT REPLY SKIP).
    Skipping,
}

pub struct Session {
    pub node: Rc<Node>,
    pub info: Rc<ClientInfo>,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    pub reply_mode: ReplyMode,
    /// Close the connection once the current reply is written (QUIT, protocol errors).
    pub close: bool,
    /// Between MULTI and EXEC/DISCARD: the commands queued so far.
    pub multi: Option<Multi>,
    /// The keys this client WATCHes, if any.
    pub watch: Option<Watch>,
    /// The transaction EXEC runs the queued commands in: commands take no locks of their own
    /// while it is set.
    pub tx: Option<Rc<Tx>>,
    /// Lent to a script, which runs its commands (Redis's CLIENT_SCRIPT): a few commands
    /// answer differently then, as Redis's do.
    pub in_script: bool,
    /// Time the current command spent blocked (BLPOP waiting for a push), which Redis leaves
    /// out of its duration in the statistics and the slow log.
    pub blocked_nanos: u64,
    /// Bytes of pushes queued before the current command started to run (an invalidation for
    /// a key that making room evicted): they go before its reply, as in Redis.
    pub early_pushes: usize,
}

/// A transaction being queued (MULTI).
#[derive(Default)]
pub struct Multi {
    pub commands: Vec<(&'static Command, Args)>,
    /// A command failed to queue (unknown, wrong arity, refused): EXEC will abort.
    pub failed: bool,
}

/// A client's watched keys: the flag every shard sets when one changes, and where each key is.
pub struct Watch {
    pub watcher: Arc<Watcher>,
    /// (db, key), each once, in the order watched.
    pub keys: Vec<(usize, bytes::Bytes)>,
}

impl Session {
    pub fn new(node: Rc<Node>, info: Rc<ClientInfo>) -> Session {
        let authenticated = node.global.requirepass().is_none();
        Session {
            node,
            info,
            db: 0,
            resp3: false,
            authenticated,
            reply_mode: ReplyMode::On,
            close: false,
            multi: None,
            watch: None,
            tx: None,
            in_script: false,
            blocked_nanos: 0,
            early_pushes: 0,
        }
    }

    /// Where this session's keyed commands run and for whom (`cmd::route`).
    pub fn at(&self) -> crate::cmd::route::At {
        crate::cmd::route::At {
            db: self.db,
            caller: crate::db::tracking::Caller {
                id: self.info.id,
                shard: self.node.id,
                // A script's commands are not remembered: the keys it declared are, for its
                // caller (see `script::within`).
                remembers: !self.in_script && self.info.tracking.borrow().remembers(),
            },
        }
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.set(db);
    }

    pub fn in_multi(&self) -> bool {
        self.multi.is_some()
    }

    /// Whether `cmd` is queued rather than run: inside MULTI, everything but the commands
    /// that steer the transaction itself.
    pub fn queues(&self, cmd: &Command) -> bool {
        self.in_multi()
            && !matches!(
                cmd.name,
                "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
            )
    }

    /// Queues `cmd` for EXEC.
    pub fn queue(&mut self, cmd: &'static Command, args: Args) -> Frame {
        if let Some(m) = &mut self.multi {
            // An aborted transaction keeps nothing it will never run.
            if !m.failed {
                m.commands.push((cmd, args));
                self.info.multi.set(m.commands.len() as i32);
            }
        }
        Frame::Simple(bytes::Bytes::from_static(b"QUEUED"))
    }

    /// A command could not be queued: the transaction, if one is open, will abort at EXEC.
    pub fn multi_error(&mut self) {
        if let Some(m) = &mut self.multi {
            m.failed = true;
        }
    }

    /// Whether running `cmd` now writes, and may use memory: for EXEC, whether any queued
    /// command does (Redis checks EXEC with the union of its commands' flags).
    pub fn effective_flags(&self, cmd: &Command) -> (bool, bool) {
        let own = (cmd.flags.has(WRITE), cmd.flags.has(DENYOOM));
        match (&self.multi, cmd.name) {
            (Some(m), "exec") => m.commands.iter().fold(own, |(w, d), (c, _)| {
                (w || c.flags.has(WRITE), d || c.flags.has(DENYOOM))
            }),
            _ => own,
        }
    }

    /// Forgets every watched key (UNWATCH, EXEC, DISCARD, RESET, the client leaving): each
    /// key's shard drops the registration.
    pub fn unwatch_all(&mut self) {
        let Some(watch) = self.watch.take() else {
            return;
        };
        for (db, key) in watch.keys {
            let watcher = watch.watcher.clone();
            let shard = key_owner(&key, self.node.shards);
            // Behind the key's lock queue, where a registration may still wait.
            let lock = vec![(db as u32, crate::types::blob::Blob::new(&key))];
            self.node.post_behind(shard, lock, move |data| {
                data.ks.dbs[db].unwatch(&key, &watcher)
            });
        }
    }

    /// A stand-in left in the connection while the real session is lent to a detached task
    /// (EXEC): it is put back when the task returns.
    pub fn stand_in(&self) -> Session {
        Session::new(self.node.clone(), self.info.clone())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.unwatch_all();
    }
}
