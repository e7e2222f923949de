//! Tessera: a Redis-compatible in-memory data-structure server, thread-per-core on io_uring.
//!
//! A command's journey, module by module:
//! 1. [`net::conn`] reads bytes from a client's socket on the shard that accepted it;
//! 2. [`resp::parse`] cuts them into requests without copying;
//! 3. [`net::dispatch`] looks the command up in the [`cmd`] table, checks arity and auth, and
//!    routes it by its keys' [`slot`]s: to this shard, to another one through [`shard`]'s
//!    queues, or through the cross-shard transaction layer [`shard::tx`];
//! 4. the command's handler in a [`cmd`] family runs on the owning shard's [`db`] keyspace,
//!    built from the structures in [`types`];
//! 5. it returns a [`resp::Frame`], which the connection renders in RESP2 or RESP3 and writes
//!    back, in request order, coalesced with the other replies of the same read.
//!
//! [`server`] starts the shards and the control thread; [`config`] reads redis.conf.

pub mod alloc;
pub mod cmd;
pub mod net;
pub mod persist;
pub mod server;
pub mod shard;

// The pure layers, from their own crate: every layer here builds on them.
pub use tessera_core::{aof, config, db, error, rdb, resp, slot, types, REDIS_VERSION};
