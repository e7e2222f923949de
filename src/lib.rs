//! Tessera: a Redis-compatible in-memory data-structure server, thread-per-core on io_uring.
//!
//! A command's journey, module by module (a GET, say):
//! 1. [`net::conn`] reads bytes from a client's socket, received through the shard's own
//!    io_uring ([`shard::uring`]), on the shard that accepted the connection;
//! 2. [`resp::parse`] cuts them into requests without copying;
//! 3. [`net::dispatch`] looks the command up in the [`cmd`] table, checks arity, auth and the
//!    rest, and queues it inside MULTI;
//! 4. [`cmd::route`] runs it where its keys' [`slot`]s live: inline on this shard, on another
//!    through [`shard`]'s queues, or through the cross-shard transaction layer [`shard::tx`];
//! 5. the command's handler in a [`cmd`] family (`cmd::string::get`) runs on the owning shard's
//!    [`db`] keyspace, built from the structures in [`types`], and its effects are logged
//!    ([`shard::aof`]);
//! 6. it returns a [`resp::Frame`], which the connection renders in RESP2 or RESP3 and writes
//!    back, in request order, coalesced with the other replies of the same read.
//!
//! The layers, bottom up, each using only those below it (`tests/layers.rs`): the pure ones in
//! the `tessera-core` crate (wire format, data structures, keyspace, file formats,
//! configuration), then [`alloc`], [`cpus`], [`log`] and [`oom`], [`shard`] (the runtime), [`persist`] (snapshots and
//! rewrites), [`cmd`] (the commands), [`net`] (connections) and [`server`] (start-up).

pub mod alloc;
pub mod cmd;
pub mod cpus;
pub mod log;
pub mod net;
pub mod oom;
pub mod persist;
pub mod script;
pub mod server;
pub mod shard;

// The pure layers, from their own crate: every layer here builds on them.
pub use tessera_core::{aof, config, db, error, rdb, resp, slot, types, REDIS_VERSION};
