//! Loading: runs an AOF's commands on a shard's keyspace through the command table's own
//! handlers.
//!
//! Nothing expires while loading (Redis does not expire keys while loading either): handlers
//! run with `now = 0`, and `Db::get` only drops keys whose expiry is at or before `now`. The
//! log holds absolute times only (see [`super::propagate`]), so nothing else reads the clock.
//! Keys whose time has passed are loaded and left to the runtime's expiry afterwards, as Redis
//! does.
//!
//! A replayed command that fails (WRONGTYPE...) is counted and ignored, as Redis's fake
//! loading client ignores its replies; a command the loader cannot run (unknown, wrong
//! arity, a database out of range) is corruption.

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;

use crate::aof::reader::{BlockKind, Event, ReadError, Record, Walker};
use crate::cmd::{self, Command, Ctx, Run, Table};
use crate::db::Keyspace;
use crate::slot::key_owner;

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayStats {
    /// Commands run (SELECT included), in applied blocks too.
    pub commands: u64,
    /// Commands whose handler replied an error (ignored, as Redis does).
    pub errors: u64,
    /// Multi-shard parts applied, and skipped because another shard's part is missing.
    pub parts_applied: u64,
    pub parts_skipped: u64,
    /// Bytes of the input that were whole (all of it unless truncated).
    pub valid_len: u64,
    /// FUNCTION LOAD, DELETE, FLUSH and RESTORE commands, in order: the libraries belong to
    /// the whole server, not to the keyspace replayed here, so the caller applies them.
    pub functions: Vec<Vec<Bytes>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AofError {
    /// The file ends inside a record or a bracketed block starting at `offset`; everything
    /// before it was applied (`stats`). With `aof-load-truncated yes` the caller truncates the
    /// file there and goes on.
    Truncated {
        file: String,
        offset: u64,
        stats: ReplayStats,
    },
    /// The record at `offset` cannot be loaded; `message` says why in Redis's words where
    /// Redis has some.
    Corrupt {
        file: String,
        offset: u64,
        message: String,
    },
}

impl fmt::Display for AofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AofError::Truncated { file, offset, .. } => write!(
                f,
                "!!! Warning: short read while loading the AOF file {file}!!! \
                 (the last whole record ends at offset {offset})"
            ),
            AofError::Corrupt { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for AofError {}

/// The multi-shard parts that may be applied: those whose every part is present and complete.
#[derive(Debug, Default, Clone)]
pub struct Committed {
    complete: std::collections::HashSet<u64>,
}

impl Committed {
    pub fn contains(&self, id: u64) -> bool {
        self.complete.contains(&id)
    }

    pub fn len(&self) -> usize {
        self.complete.len()
    }

    pub fn is_empty(&self) -> bool {
        self.complete.is_empty()
    }
}

/// Finds, across every shard's files about to be loaded (all incremental files of all shards),
/// the multi-shard writes whose `parts` parts are all there, each closed. A file is scanned up
/// to its first error; what follows cannot count.
pub fn scan_transactions(files: &[&[u8]]) -> Committed {
    // id -> (parts announced, parts seen, announcements agree)
    let mut seen: HashMap<u64, (u32, u32, bool)> = HashMap::new();
    for input in files {
        for event in Walker::new(input) {
            let Ok(Event::Block {
                kind: BlockKind::Tx { id, parts },
                ..
            }) = event
            else {
                continue;
            };
            let e = seen.entry(id).or_insert((parts, 0, true));
            e.1 += 1;
            e.2 &= e.0 == parts;
        }
    }
    Committed {
        complete: seen
            .into_iter()
            .filter(|(_, (parts, count, agree))| *agree && count == parts)
            .map(|(id, _)| id)
            .collect(),
    }
}

/// Runs the commands of one AOF file (`file` names it in errors) on `ks`, starting in database
/// 0. Multi-shard parts run only if `committed` holds their id (see [`scan_transactions`]).
pub fn replay(
    ks: &mut Keyspace,
    input: &[u8],
    file: &str,
    committed: &Committed,
) -> Result<ReplayStats, AofError> {
    run(ks, input, file, committed, false, None)
}

/// Like [`replay`], for a file whose commands concern every shard (an AOF base written as
/// commands, or an incremental file Redis wrote): only `shard`'s share of it runs on `ks`, so
/// that every shard reading the same file in the same order ends up with its own keys. A
/// command whose keys belong to several shards runs in part when it can be split (MSET,
/// DEL...), and is refused otherwise.
pub fn replay_share(
    ks: &mut Keyspace,
    input: &[u8],
    file: &str,
    committed: &Committed,
    shard: usize,
    shards: usize,
) -> Result<ReplayStats, AofError> {
    run(ks, input, file, committed, false, Some((shard, shards)))
}

/// Checks that `input` would load: the format, the brackets, and that every command is one
/// the loader can run with its arity; nothing is executed (`tessera-check-aof`). Every part is
/// counted as applied: whether its other parts exist is for [`scan_transactions`] to say.
pub fn check(input: &[u8], file: &str) -> Result<ReplayStats, AofError> {
    let mut scratch = Keyspace::new(0);
    run(&mut scratch, input, file, &Committed::default(), true, None)
}

fn run(
    ks: &mut Keyspace,
    input: &[u8],
    file: &str,
    committed: &Committed,
    dry: bool,
    share: Option<(usize, usize)>,
) -> Result<ReplayStats, AofError> {
    let mut r = Replayer {
        ks,
        db: 0,
        file,
        stats: ReplayStats::default(),
        dry,
        share,
    };
    for event in Walker::new(input) {
        match event {
            Ok(Event::Command(rec)) => r.apply(&rec)?,
            Ok(Event::Block { kind, records, .. }) => {
                let apply = match kind {
                    BlockKind::Tx { id, .. } => dry || committed.contains(id),
                    BlockKind::Multi => true,
                };
                for rec in &records {
                    if apply {
                        r.apply(rec)?;
                    } else if rec.args[0].eq_ignore_ascii_case(b"SELECT") {
                        // The log's notion of the current database carries past the part.
                        r.apply(rec)?;
                    }
                }
                if matches!(kind, BlockKind::Tx { .. }) {
                    if apply {
                        r.stats.parts_applied += 1;
                    } else {
                        r.stats.parts_skipped += 1;
                    }
                }
            }
            Err(ReadError::Truncated { offset }) => {
                r.stats.valid_len = offset as u64;
                return Err(AofError::Truncated {
                    file: file.to_string(),
                    offset: offset as u64,
                    stats: r.stats,
                });
            }
            Err(ReadError::Corrupt {
                record,
                offset,
                detail,
            }) => {
                return Err(r.corrupt(
                    record,
                    format!("{} (offset {offset}: {detail})", bad_format(file)),
                ))
            }
        }
    }
    r.stats.valid_len = input.len() as u64;
    Ok(r.stats)
}

/// Redis's words for a file that breaks the format.
pub fn bad_format(file: &str) -> String {
    format!(
        "Bad file format reading the append only file {file}: make a backup of your AOF file, \
         then use tessera-check-aof --fix <filename.manifest>"
    )
}

struct Replayer<'a> {
    ks: &'a mut Keyspace,
    db: usize,
    file: &'a str,
    stats: ReplayStats,
    /// Check only: validate every record, run none.
    dry: bool,
    /// Run only the share of (this shard, of so many shards): see [`replay_share`].
    share: Option<(usize, usize)>,
}

impl Replayer<'_> {
    fn corrupt(&self, offset: usize, message: String) -> AofError {
        AofError::Corrupt {
            file: self.file.to_string(),
            offset: offset as u64,
            message,
        }
    }

    fn db_index(&self, rec: &Record, arg: &[u8]) -> Result<usize, AofError> {
        std::str::from_utf8(arg)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&i| self.dry || i < self.ks.dbs.len())
            .ok_or_else(|| {
                self.corrupt(
                    rec.offset,
                    format!(
                        "Invalid DB index '{}' reading the append only file {} at offset {} \
                         (databases: {})",
                        arg.escape_ascii(),
                        self.file,
                        rec.offset,
                        self.ks.dbs.len()
                    ),
                )
            })
    }

    /// The part of a command that is this shard's to run (all of it without a share), or
    /// `None` when none of its keys are this shard's.
    fn share_of(
        &self,
        command: &Command,
        rec: &Record,
        args: Vec<Bytes>,
    ) -> Result<Option<Vec<Bytes>>, AofError> {
        let Some((shard, shards)) = self.share else {
            return Ok(Some(args));
        };
        let positions: Vec<usize> = command.key_positions(&args).collect();
        let owners: Vec<usize> = positions
            .iter()
            .map(|&p| key_owner(&args[p], shards))
            .collect();
        if owners.iter().all(|&o| o == shard) {
            return Ok(Some(args));
        }
        if owners.iter().all(|&o| o != shard) {
            return Ok(None);
        }
        match command.run {
            Run::Spread(..) => Ok(Some(
                command.spread_part(&args, &positions, |i| owners[i] == shard),
            )),
            _ => Err(self.corrupt(
                rec.offset,
                format!(
                    "The command '{}' at offset {} of the append only file {} touches keys that \
                     {shards} shards hold apart: Tessera can load this file with --threads 1",
                    command.name, rec.offset, self.file
                ),
            )),
        }
    }

    fn apply(&mut self, rec: &Record) -> Result<(), AofError> {
        let name = rec.args[0];
        self.stats.commands += 1;
        let Some(mut command) = Table::get().lookup(name) else {
            return Err(self.corrupt(
                rec.offset,
                format!(
                    "Unknown command '{}' reading the append only file {} at offset {}",
                    name.escape_ascii(),
                    self.file,
                    rec.offset
                ),
            ));
        };
        if !command.subcommands.is_empty() && rec.args.len() >= 2 {
            if let Some(sub) = cmd::subcommand(command, rec.args[1]) {
                command = sub;
            }
        }
        if !command.arity_ok(rec.args.len()) {
            return Err(self.corrupt(
                rec.offset,
                format!(
                    "Wrong number of arguments for '{}' reading the append only file {} at \
                     offset {}",
                    command.name, self.file, rec.offset
                ),
            ));
        }
        match command.run {
            Run::Keyed(_) | Run::Spread(..) if self.dry => {}
            Run::Keyed(f) | Run::Spread(f, _) => {
                let args: Vec<Bytes> = rec.args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
                let Some(args) = self.share_of(command, rec, args)? else {
                    return Ok(());
                };
                let mut ctx = Ctx {
                    ks: self.ks,
                    db: self.db,
                    now: 0,
                };
                match f(&mut ctx, &args) {
                    Ok(reply) if !reply.is_error() => {}
                    _ => self.stats.errors += 1,
                }
            }
            Run::Session(_) => match command.name {
                "select" => self.db = self.db_index(rec, rec.args[1])?,
                "flushdb" | "flushall" if self.dry => {}
                "swapdb" if self.dry => {
                    self.db_index(rec, rec.args[1])?;
                    self.db_index(rec, rec.args[2])?;
                }
                "flushdb" => drop(self.ks.dbs[self.db].clear()),
                "flushall" => {
                    for db in self.ks.dbs.iter_mut() {
                        drop(db.clear());
                    }
                }
                name if name.starts_with("function|") => {
                    if !self.dry {
                        let args = rec.args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
                        self.stats.functions.push(args);
                    }
                }
                "swapdb" => {
                    let a = self.db_index(rec, rec.args[1])?;
                    let b = self.db_index(rec, rec.args[2])?;
                    self.ks.swap_dbs(a, b);
                }
                other => {
                    return Err(self.corrupt(
                        rec.offset,
                        format!(
                            "Command '{other}' cannot be replayed from the append only file {} \
                             (offset {})",
                            self.file, rec.offset
                        ),
                    ))
                }
            },
        }
        Ok(())
    }
}
