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
//! Tessera deliberately supports a subset of Redis's parameters: one row each in `TABLE`.
//! A directive that Redis knows but Tessera does not implement is refused with a message that
//! says so (a config that silently does nothing would be a lie), and `daemonize yes` is refused
//! rather than ignored. `threads` (shards, one per core by default) is Tessera's own.
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
use parse::*;
pub use store::*;
pub use table::*;
pub use values::*;
