//! Tessera's pure layers, from the bottom up. Nothing here knows threads, sockets or the
//! runtime; every module is tested on its own.
//!
//! - [`error`] and [`slot`]: the errors commands return, and which hash slot a key is in;
//! - [`resp`]: the wire format (request parser with bounded lengths, RESP2/RESP3 renderer,
//!   reply parser, Redis's argument splitter);
//! - [`types`]: data structures and algorithms (compact strings, dense maps, lists, sets,
//!   sorted sets, hashes, bit operations, LCS, glob matching, number formats);
//! - [`db`]: one shard's keyspace (databases, entries, expiry, SCAN cursors, WATCH tables,
//!   values lent to a transaction);
//! - [`rdb`], [`aof`] and [`config`]: the RDB codec, the AOF's file formats and the
//!   configuration (its parameter table, redis.conf and the command line).
//!
//! A module may use the ones listed before it, never the ones after (`tests/layers.rs`).

pub mod aof;
pub mod config;
pub mod db;
pub mod error;
pub mod rdb;
pub mod resp;
pub mod slot;
pub mod types;

/// The Redis version Tessera is compatible with, reported to clients that check it.
pub const REDIS_VERSION: &str = "7.0.15";
