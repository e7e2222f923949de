//! The command table and the types command handlers are written against.
//!
//! Every command is one [`Command`] row, declared in its family's file beside its handler: name,
//! arity, flags, ACL categories, key positions and how it runs. The row drives arity errors,
//! key extraction for routing, COMMAND INFO/DOCS/GETKEYS and the write/read-only distinction;
//! handlers never re-check what the row already says. What only introspection needs (key specs
//! with access flags, tips, documentation) is Redis's own description, recorded in [`meta`].
//!
//! A handler runs in one of three ways ([`Run`]):
//! - `Keyed`: a function of one shard's keyspace. The dispatcher runs it on the shard that owns
//!   the keys; when the keys span shards, the transaction layer gathers them onto one shard under
//!   locks and runs the same function there, so a multi-key command is written once.
//! - `Spread`: a keyed command that can be split per shard and its replies merged (MGET, DEL...),
//!   which avoids moving values between shards.
//! - `Session`: needs the connection or several shards (SELECT, CLIENT, INFO, SCAN...).

pub mod aof_load;
pub mod args;
pub mod bitmap;
pub mod blocking;
pub mod connection;
pub mod debug;
pub mod dump;
pub mod flags;
pub mod hash;
pub mod info;
pub mod introspect;
pub mod keyspace;
pub mod list;
pub mod memory;
pub mod meta;
pub mod multi;
pub mod propagate;
pub mod pubsub;
pub mod replay;
pub mod route;
pub mod server;
pub mod session;
pub mod set;
pub mod sort;
pub mod string;
pub mod zset;

#[cfg(test)]
mod aof_tests;

use ahash::AHashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;

use crate::cmd::session::Session;
pub use crate::db::Ctx;
pub use crate::error::{CmdError, CmdResult};
use crate::resp::Frame;
pub use args::ArgCursor;
pub use flags::{Access, Flags};

pub type Args = Vec<Bytes>;

/// For [`Command::counts_lookups`]: a write that always reads its keys first.
pub fn always(_: &[Bytes]) -> bool {
    true
}

pub type KeyedFn = fn(&mut Ctx, &[Bytes]) -> CmdResult;
/// A command's own key finder, for what its key specs cannot say (see [`Command::getkeys`]):
/// each key's position in `args` and its access flags, spelled as in COMMAND INFO.
pub type GetKeysFn = fn(args: &[Bytes]) -> Vec<(usize, &'static [&'static str])>;
/// A session handler's future: borrows the session for as long as it runs.
pub type SessionFuture<'a> = Pin<Box<dyn Future<Output = Frame> + 'a>>;
pub type SessionFn = for<'a> fn(&'a mut Session, Args) -> SessionFuture<'a>;

/// How the replies of a `Spread` command's per-shard parts combine.
#[derive(Clone, Copy, Debug)]
pub enum Merge {
    /// Integers add up (DEL, EXISTS, TOUCH, UNLINK).
    Sum,
    /// Every part replies OK (MSET).
    Ok,
    /// Each part replies an array with one element per key; reassemble in request order (MGET).
    PerKey,
}

#[derive(Clone, Copy)]
pub enum Run {
    Keyed(KeyedFn),
    Spread(KeyedFn, Merge),
    Session(SessionFn),
}

/// Where the keys are among the arguments, as Redis's legacy (first, last, step) triple: `last`
/// negative counts from the end (-1 = last argument).
#[derive(Clone, Copy, Debug, Default)]
pub struct KeySpec {
    pub first: i32,
    pub last: i32,
    pub step: i32,
}

pub const NO_KEYS: KeySpec = KeySpec {
    first: 0,
    last: 0,
    step: 0,
};

pub const fn one_key() -> KeySpec {
    KeySpec {
        first: 1,
        last: 1,
        step: 1,
    }
}

pub const fn keys(first: i32, last: i32, step: i32) -> KeySpec {
    KeySpec { first, last, step }
}

pub struct Command {
    /// Lower-case name; a subcommand's is `parent|sub`.
    pub name: &'static str,
    /// Positive: exact argument count including the name; negative: at least that many.
    pub arity: i32,
    pub flags: Flags,
    pub acl: &'static [&'static str],
    pub keys: KeySpec,
    pub run: Run,
    /// Finds the keys where Redis's key specs for the command cannot, like Redis's
    /// `getkeys_proc`: flags that depend on other arguments (SET ... GET), keys found only by
    /// parsing. COMMAND GETKEYS and GETKEYSANDFLAGS use it; most commands need none.
    pub getkeys: Option<GetKeysFn>,
    /// Documentation for COMMAND DOCS, used only where Redis has none recorded (see
    /// [`meta`]): Tessera's own commands.
    pub summary: &'static str,
    pub since: &'static str,
    pub group: &'static str,
    pub complexity: &'static str,
    /// Subcommands (CLIENT LIST, CONFIG GET, ...), dispatched by the second argument.
    pub subcommands: &'static [Command],
    /// For a write: what it logs to the AOF (`cmd::propagate`).
    pub propagates: Option<propagate::Rule>,
    /// For a write that reads keys before writing (GETDEL, the *STORE commands' sources...):
    /// whether its lookups, given its arguments, count INFO's keyspace hits and misses, as
    /// Redis's `lookupKeyRead` does. Other writes look keys up to write (`lookupKeyWrite`),
    /// which counts nothing; reads always count.
    pub counts_lookups: Option<fn(&[Bytes]) -> bool>,
}

impl Command {
    #[inline]
    pub fn is_write(&self) -> bool {
        self.flags.has(flags::WRITE)
    }

    /// Whether this command's key lookups, with these arguments, count keyspace hits and
    /// misses.
    pub fn lookups_count(&self, args: &[Bytes]) -> bool {
        match self.counts_lookups {
            Some(when) => when(args),
            None => !self.is_write(),
        }
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        (a >= 0 && argc == a as usize) || (a < 0 && argc >= (-a) as usize)
    }

    /// The key arguments' positions in `args`: by the row's (first, last, step), or, for a
    /// command whose keys move (a key count argument, a STORE keyword), by Redis's key specs
    /// and then the command's own finder. Positions a malformed command cannot give are left
    /// out; the handler then reports the error.
    pub fn key_positions(&self, args: &[Bytes]) -> KeyPositions {
        if self.flags.has(flags::MOVABLEKEYS) {
            let by_specs = meta::reference(self.name)
                .and_then(|r| meta::keys_by_specs(&r.specs, args))
                .map(|keys| keys.into_iter().map(|(i, _)| i).collect::<Vec<_>>());
            let listed = match (by_specs, self.getkeys) {
                (Some(keys), _) => keys,
                (None, Some(f)) => f(args).into_iter().map(|(i, _)| i).collect(),
                (None, None) => Vec::new(),
            };
            return KeyPositions::Listed(listed.into_iter());
        }
        let argc = args.len();
        let KeySpec { first, last, step } = self.keys;
        let (first, step) = (first.max(0) as usize, step.max(1) as usize);
        let last = if last < 0 {
            argc as i64 + last as i64
        } else {
            last as i64
        };
        let end = if first == 0 {
            0
        } else {
            (last.max(0) as usize + 1).min(argc)
        };
        KeyPositions::Range((first..end.max(first)).step_by(step))
    }

    /// Every key argument with what the command does to it, as COMMAND GETKEYSANDFLAGS
    /// reports it: by Redis's key specs, by the command's own finder where the specs cannot
    /// say (flags that depend on other arguments, keys found only by parsing), and for a
    /// command Redis does not have, by the row (RW for a write, RO otherwise). The transaction
    /// layer reads it to lend, fetch, write back and log only what a command touches.
    pub fn key_access(&self, args: &[Bytes]) -> Vec<(usize, Access)> {
        let reference = meta::reference(self.name);
        let specs = reference.map_or(&[][..], |r| &r.specs[..]);
        let has_specs = specs.iter().any(|s| !s.not_key);
        let variable_flags = specs.iter().any(|s| s.variable_flags);
        if has_specs && !(variable_flags && self.getkeys.is_some()) {
            if let Some(keys) = meta::keys_by_specs(specs, args) {
                return keys.into_iter().map(|(i, spec)| (i, spec.access)).collect();
            }
        }
        if let Some(f) = self.getkeys {
            return f(args)
                .into_iter()
                .map(|(i, names)| (i, Access::parse(names.iter().copied())))
                .collect();
        }
        if reference.is_some() {
            return Vec::new();
        }
        let access = if self.is_write() {
            Access::RW
        } else {
            Access::RO
        };
        self.key_positions(args).map(|i| (i, access)).collect()
    }

    /// One shard's part of a `Spread` command: the arguments before the first key, then each
    /// key whose index in `positions` `mine` accepts, with the rest of its group (MSET's value).
    pub fn spread_part(
        &self,
        args: &[Bytes],
        positions: &[usize],
        mine: impl Fn(usize) -> bool,
    ) -> Vec<Bytes> {
        let first = (self.keys.first.max(0) as usize).min(args.len());
        let step = self.keys.step.max(1) as usize;
        let mut part = args[..first].to_vec();
        for (i, &p) in positions.iter().enumerate() {
            if mine(i) {
                part.extend_from_slice(&args[p..(p + step).min(args.len())]);
            }
        }
        part
    }
}

/// See [`Command::key_positions`].
pub enum KeyPositions {
    Range(std::iter::StepBy<std::ops::Range<usize>>),
    Listed(std::vec::IntoIter<usize>),
}

impl Iterator for KeyPositions {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            KeyPositions::Range(r) => r.next(),
            KeyPositions::Listed(l) => l.next(),
        }
    }
}

/// All command families; each contributes its rows.
fn families() -> impl Iterator<Item = &'static Command> {
    [
        string::COMMANDS,
        bitmap::COMMANDS,
        hash::COMMANDS,
        keyspace::COMMANDS,
        dump::COMMANDS,
        list::COMMANDS,
        blocking::COMMANDS,
        connection::COMMANDS,
        server::COMMANDS,
        info::COMMANDS,
        memory::COMMANDS,
        debug::COMMANDS,
        set::COMMANDS,
        sort::COMMANDS,
        multi::COMMANDS,
        zset::COMMANDS,
        pubsub::COMMANDS,
        introspect::COMMANDS,
        crate::script::COMMANDS,
        crate::script::functions::COMMANDS,
    ]
    .into_iter()
    .flatten()
}

pub struct Table {
    /// aHash, not SipHash: every request looks its command up here, and the names are ours.
    by_name: AHashMap<&'static [u8], &'static Command>,
}

static TABLE: OnceLock<Table> = OnceLock::new();

impl Table {
    pub fn get() -> &'static Table {
        TABLE.get_or_init(|| Table::renamed(&[]))
    }

    /// Builds the table with the config file's `rename-command` lines applied, before any
    /// command is looked up: a renamed command answers only to its new name, and one renamed
    /// to "" to none (how deployments disable FLUSHALL or CONFIG). The config loader already
    /// checked each line as Redis does (the command exists, the new name is free).
    pub fn install(renames: &[(Vec<u8>, Vec<u8>)]) {
        let _ = TABLE.set(Table::renamed(renames));
    }

    fn renamed(renames: &[(Vec<u8>, Vec<u8>)]) -> Table {
        let mut by_name: AHashMap<&'static [u8], &'static Command> =
            families().map(|c| (c.name.as_bytes(), c)).collect();
        for (from, to) in renames {
            let Some(cmd) = by_name.remove(&from.to_ascii_lowercase()[..]) else {
                continue;
            };
            if !to.is_empty() {
                // Names live as long as the table, which is for ever.
                let name: &'static [u8] = Box::leak(to.to_ascii_lowercase().into_boxed_slice());
                by_name.insert(name, cmd);
            }
        }
        Table { by_name }
    }

    /// Case-insensitive lookup without allocating for names of ordinary length.
    pub fn lookup(&self, name: &[u8]) -> Option<&'static Command> {
        let mut buf = [0u8; 32];
        if name.len() <= buf.len() {
            let lower = &mut buf[..name.len()];
            lower.copy_from_slice(name);
            lower.make_ascii_lowercase();
            self.by_name.get(&lower[..]).copied()
        } else {
            self.by_name.get(&name.to_ascii_lowercase()[..]).copied()
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static Command> + '_ {
        self.by_name.values().copied()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Finds the subcommand row named by `args[1]`.
pub fn subcommand(cmd: &'static Command, sub: &[u8]) -> Option<&'static Command> {
    let parent_len = cmd.name.len() + 1;
    cmd.subcommands
        .iter()
        .find(|s| s.name.as_bytes()[parent_len..].eq_ignore_ascii_case(sub))
}

/// Redis's reply for a command name it does not know, quoting the first arguments.
///
/// The text is built as Redis's `printf` builds it, in bytes: names are cut at 128 bytes and at
/// the first NUL (they are C strings there), and arguments are quoted until the list reaches 128
/// bytes, the last one cut to what is left of that budget.
pub fn unknown_command(args: &[Bytes]) -> Frame {
    const BUDGET: usize = 128;
    let mut quoted = Vec::new();
    for a in &args[1..] {
        let Some(room) = BUDGET.checked_sub(quoted.len()).filter(|&r| r > 0) else {
            break;
        };
        quoted.push(b'\'');
        quoted.extend_from_slice(c_str(a, room));
        quoted.extend_from_slice(b"' ");
    }
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(c_str(&args[0], BUDGET));
    text.extend_from_slice(b"', with args beginning with: ");
    text.extend_from_slice(&quoted);
    Frame::error_bytes(text)
}

pub fn unknown_subcommand(args: &[Bytes]) -> Frame {
    let mut text = b"ERR unknown subcommand '".to_vec();
    text.extend_from_slice(c_str(&args[1], 128));
    text.extend_from_slice(b"'. Try ");
    text.extend_from_slice(&c_str(&args[0], usize::MAX).to_ascii_uppercase());
    text.extend_from_slice(b" HELP.");
    Frame::error_bytes(text)
}

/// What C's `%.<max>s` prints of `arg`: up to the first NUL, at most `max` bytes.
fn c_str(arg: &[u8], max: usize) -> &[u8] {
    let end = memchr::memchr(0, arg).unwrap_or(arg.len());
    &arg[..end.min(max)]
}

pub fn wrong_arity(cmd: &Command) -> Frame {
    Frame::error(format!(
        "ERR wrong number of arguments for '{}' command",
        cmd.name
    ))
}

/// A HELP reply as Redis's `addReplyHelp` writes it: a heading naming the command, its
/// subcommands' lines, and HELP itself last.
pub fn help_reply(command: &str, lines: &[&str]) -> Frame {
    let heading = format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        command.to_ascii_uppercase()
    );
    let mut out = vec![Frame::Simple(Bytes::from(heading))];
    out.extend(
        lines
            .iter()
            .chain(&["HELP", "    Prints this help."])
            .map(|l| Frame::Simple(Bytes::copy_from_slice(l.as_bytes()))),
    );
    Frame::Array(out)
}

/// Boxes a session handler's future; keeps the handler definitions free of `Box::pin` noise.
pub fn boxed<'a>(f: impl Future<Output = Frame> + 'a) -> SessionFuture<'a> {
    Box::pin(f)
}

impl Command {
    /// A row with the given name, arity and handler; the builder methods below fill in the rest.
    pub const fn new(name: &'static str, arity: i32, run: Run) -> Command {
        Command {
            name,
            arity,
            flags: Flags::NONE,
            acl: &[],
            keys: NO_KEYS,
            run,
            getkeys: None,
            summary: "",
            since: "",
            group: "",
            complexity: "",
            subcommands: &[],
            propagates: None,
            counts_lookups: None,
        }
    }

    /// Marks a write whose lookups read (see [`Command::counts_lookups`]).
    pub const fn counts_lookups(mut self, when: fn(&[Bytes]) -> bool) -> Command {
        self.counts_lookups = Some(when);
        self
    }

    pub const fn flags(mut self, flags: &[Flags]) -> Command {
        self.flags = Flags::of(flags);
        self
    }

    pub const fn acl(mut self, acl: &'static [&'static str]) -> Command {
        self.acl = acl;
        self
    }

    pub const fn keys(mut self, keys: KeySpec) -> Command {
        self.keys = keys;
        self
    }

    pub const fn doc(
        mut self,
        summary: &'static str,
        since: &'static str,
        group: &'static str,
        complexity: &'static str,
    ) -> Command {
        self.summary = summary;
        self.since = since;
        self.group = group;
        self.complexity = complexity;
        self
    }

    pub const fn subs(mut self, subcommands: &'static [Command]) -> Command {
        self.subcommands = subcommands;
        self
    }

    pub const fn propagates(mut self, rule: propagate::Rule) -> Command {
        self.propagates = Some(rule);
        self
    }

    pub const fn getkeys(mut self, f: GetKeysFn) -> Command {
        self.getkeys = Some(f);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_text(f: Frame) -> Vec<u8> {
        match f {
            Frame::Error(e) => e.to_vec(),
            other => panic!("not an error: {other:?}"),
        }
    }

    fn args(list: &[&[u8]]) -> Vec<Bytes> {
        list.iter().map(|a| Bytes::copy_from_slice(a)).collect()
    }

    // Expected texts are redis-server 7.0.15's replies to the same requests.
    #[test]
    fn unknown_command_quotes_like_redis() {
        let e = |list: &[&[u8]]| error_text(unknown_command(&args(list)));
        assert_eq!(
            e(&[b"FOO"]),
            b"ERR unknown command 'FOO', with args beginning with: "
        );
        assert_eq!(
            e(&[b"foo", b"bar", b"a\r\nb"]),
            b"ERR unknown command 'foo', with args beginning with: 'bar' 'a  b' "
        );
        assert_eq!(
            e(&[b"GET\0x", b"a\0b", b"c"]),
            b"ERR unknown command 'GET', with args beginning with: 'a' 'c' "
        );
        // 1 + 123 + 2 bytes used, so the next argument gets the 2 bytes left of 128.
        let long = [b'x'; 123];
        let mut want = b"ERR unknown command 'FOO', with args beginning with: '".to_vec();
        want.extend_from_slice(&long);
        want.extend_from_slice("' '\u{e9}' ".as_bytes());
        assert_eq!(e(&[b"FOO", &long, "\u{e9}\u{e9}".as_bytes(), b"z"]), want);
    }

    #[test]
    fn unknown_subcommand_names_the_container() {
        let e = error_text(unknown_subcommand(&args(&[b"client", b"f\0oo"])));
        assert_eq!(e, b"ERR unknown subcommand 'f'. Try CLIENT HELP.");
    }
}
