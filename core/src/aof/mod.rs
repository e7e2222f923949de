//! The append-only file, without the runtime: what is written, how it is read back, and the
//! manifest that lists the files. Writing to disk, fsync policies, rewrites and start-up
//! loading are the shards' business; everything here is plain functions over bytes and a
//! [`Keyspace`](crate::db::Keyspace), tested without glommio.
//!
//! # Layout
//!
//! As Redis 7, in the `appenddirname` folder (see [`manifest`]):
//!
//! ```text
//! appendonly.aof.manifest          the list of files below, replaced atomically
//! appendonly.aof.<seq>.base.rdb    one base for all shards: an RDB written by the fork child
//! appendonly.aof.<seq>.base.aof    ... or commands, when aof-use-rdb-preamble is no
//! appendonly.aof.<seq>.incr.<shard>.aof
//!                                  each shard's commands since the base, written by that shard
//! ```
//!
//! # Incremental file format
//!
//! An incremental file is a sequence of records, exactly Redis's AOF format: each command is a
//! RESP multibulk of bulk strings,
//!
//! ```text
//! *<argc>\r\n  then argc times  $<len>\r\n<len bytes>\r\n
//! ```
//!
//! with `argc >= 1` and lengths in plain decimal. Between records, a line starting with `#` up
//! to `\n` is an annotation and is skipped (Redis writes `#TS:<unix time>` ones). Records are:
//!
//! - `SELECT <db>`: the following commands apply to database `db`. Written before a command
//!   whose database differs from the previous record's, and before the first command of every
//!   file (each file is read starting from database 0, like Redis reads each of its files).
//! - a write command, as the server's `cmd::propagate` decided it: always in a form whose effect does not depend
//!   on when or where it is replayed (absolute expiry times, SREM of the members SPOP took...).
//! - `TESSERA.TX BEGIN <id> <parts>` ... `TESSERA.TX END <id>`: brackets this shard's part of a
//!   write that spans `parts` shards (an MSET whose keys live on several shards, FLUSHALL...).
//!   `id` is unique across shards and time. On loading, a part is applied only when every one
//!   of the `parts` parts of `id` is present, complete, among all the shards' files
//!   (the server's `cmd::replay::scan_transactions`); otherwise it is skipped on every shard, so a crash
//!   between shards' writes restores the write all-or-nothing. Brackets do not nest. No
//!   client can send `TESSERA.TX`: it is not in the command table.
//! - `MULTI` ... `EXEC`: accepted on loading (Redis writes them around transactions), applied
//!   at `EXEC`; Tessera itself writes the bracket above instead.
//!
//! A file that ends inside a record, or inside a bracket, ends with an incomplete write: the
//! loader truncates it at the start of that record or bracket (`aof-load-truncated yes`), as
//! Redis does for a short read or a `MULTI` without `EXEC`. A tail of zero bytes (space a file
//! system allocated but a crash left unwritten) counts as such an incomplete end too. Anything
//! else that does not follow the format is corruption, and loading stops naming the file and
//! the offset.
//!
//! # What the server does with this module
//!
//! - After every write command that succeeded: `cmd::propagate` with the command's `now`, then
//!   log its arguments, the rewritten records, or the resulting value of the keys it names
//!   ([`restate`]) on the shard that owns each. A blocked client served later: the records of
//!   its non-blocking form.
//! - A `DEL key` for every key expired (lazily or actively) or evicted: loading expires
//!   nothing, so a later command must not find the old value (Redis logs these too).
//! - A multi-shard transaction: each shard's records, routed to the shard that owns their keys
//!   (`cmd::propagate::records_by_shard`), between [`AofLog::tx_begin`] and
//!   [`AofLog::tx_end`] with the transaction's id.
//! - Loading: the base, then `cmd::replay::scan_transactions` over every shard's incremental
//!   files, then `cmd::replay::replay` of each shard's files in order. A truncated tail is
//!   acceptable only in a shard's last file (Redis: only the last file may be truncated):
//!   truncate it there and go on; anything else refuses to start with the error's text.
//! - A write that depends on a multi-shard part (it read a key the part wrote) must not be
//!   acknowledged before every part of it is durable: otherwise a crash can skip the part on
//!   loading while keeping the acknowledged write that saw it.

pub mod log;
pub mod manifest;
pub mod reader;
pub mod records;

pub use log::AofLog;
pub use records::{restate, rewrite_keyspace, value_records};

/// The pseudo-command that brackets one shard's part of a multi-shard write.
pub const TX_COMMAND: &str = "TESSERA.TX";
