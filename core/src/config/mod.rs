//! Tessera's configuration: the table of parameters ([`table`]), their values and the snapshot
//! ([`values`], parsed by the rules in `parse`), loading from redis.conf files ([`file`](mod@file)) and
//! from a redis-server style command line ([`cmdline`]), and the shared runtime store behind
//! CONFIG GET / CONFIG SET with its apply hooks ([`store`]).
//!
//! Redis 7.0 is the specification. Loading follows redis-server's `main()` and
//! `loadServerConfigFromString()` to the letter: the optional first argument names a config
//! file, every `--name value...` option is turned into one more config line appended after the
//! file (so a bad option is reported "at line N" exactly as Redis reports it), a lone `-` reads
//! more configuration from stdin, lines are split with `sdssplitargs()` quoting rules, and
//! `include` pulls in other files (wildcards allowed). Values are parsed with Redis's own rules
//! (`string2ll`, `memtoull`, yes/no, enums) and every error message is Redis's, word for word;
//! `tests/config_vs_redis.rs` re-checks them against a real redis-server.
//!
//! Every parameter Redis 7.0.15 knows has a row in `TABLE`, with Redis's bounds, defaults,
//! aliases and flags, and an [`Effect`]: `Applied`, or `NotApplicable` with the reason when the
//! subsystem it governs does not exist in Tessera yet (replication, cluster, TLS, ...). Such a
//! parameter is still parsed, validated, stored and shown as Redis would, so a redis.conf moved
//! over keeps working; docs/config.md lists them all (a unit test keeps it complete), and
//! [`Config::not_applied`] names those a configuration actually sets, for start-up to warn
//! about. The file-only directives (`rename-command`, `user`, `loadmodule`, module parameters,
//! `sentinel`) are checked as Redis checks them; a module cannot be loaded, so start-up stops
//! there as Redis's does when a module fails to load. `threads` (shards, one per core by
//! default) and `rdb-child-stall-timeout` are Tessera's own.
//!
//! Where Tessera knowingly departs from redis-server 7.0.15:
//! * the fatal-error banner reads `(Tessera <version>)` instead of "(Redis 7.0.15)", and an
//!   error inside an included file names that file (Redis numbers its lines without saying
//!   which file they belong to);
//! * `save` lines keep accumulating across an `include` (Redis forgets the earlier ones after
//!   an include returns, an accident of its implementation), and include loops are stopped;
//! * `dir` is validated and stored but the process does not `chdir()` into it;
//! * `port`, `bind` and `appendonly` can only be changed by CONFIG SET once the subsystem that
//!   applies them has registered a hook (see [`ConfigStore::on_apply`]); until then CONFIG SET
//!   answers "can't set immutable config" rather than pretending;
//! * `rename-command` of a subcommand is refused as an unknown command (Redis crashes on an
//!   assertion), and `--sentinel` is refused (Tessera has no Sentinel mode);
//! * `--help` exits with status 0 (redis-server exits with 1).
//!
//! At runtime the configuration is an immutable [`Config`] snapshot behind a [`ConfigStore`].
//! Readers take an `Arc<Config>` (or keep one in a [`ConfigCache`] that refreshes itself when
//! the store's version counter moves); CONFIG SET builds a whole new snapshot, runs the apply
//! hooks of the subsystems that must act on the change (rolling back if one refuses), and only
//! then publishes it, so a multi-parameter CONFIG SET is all-or-nothing.

pub mod cmdline;
mod directives;
pub mod file;
mod parse;
pub mod store;
pub mod table;
pub mod values;

#[cfg(test)]
mod tests;

pub use cmdline::*;
use directives::*;
pub use file::*;
pub use parse::format_percentile;
use parse::*;
pub use store::*;
pub use table::*;
pub use values::*;
