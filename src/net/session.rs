//! What the server knows about one connection between two commands.

use std::rc::Rc;

use crate::net::clients::ClientInfo;
use crate::shard::Node;

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
        }
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.set(db);
    }
}
