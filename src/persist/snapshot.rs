//! Writing every shard's keyspace into one RDB file, as Redis 7.0 lays it out (or, for an AOF
//! base without an RDB preamble, as commands).
//!
//! Shared by SAVE (in a shard thread, every shard frozen), BGSAVE and the AOF rewrite (in the
//! forked child). The
//! file goes to `temp-<pid>.rdb` in `dir`, is fsynced, and only then renamed over `dbfilename`,
//! then the directory is fsynced: at every instant the old or the new snapshot is complete on
//! disk.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::aof::log::AofLog;
use crate::aof::value_records;
use crate::config::{Config, MaxmemoryPolicy};
use crate::db::Entry;
use crate::db::Keyspace;
use crate::rdb::{KeyMeta, RdbWriter, SaveOptions};

/// What a snapshot needs from the configuration, read before freezing.
#[derive(Clone, Debug)]
pub struct Target {
    pub dir: PathBuf,
    pub filename: PathBuf,
    pub opts: SaveOptions,
    pub meta: MetaKind,
    /// `rdb-key-save-delay`: microseconds to sleep after each key (tests slow saves down).
    pub key_delay_us: i64,
    pub format: Format,
    /// The function libraries' code, written before the keys.
    pub libraries: Vec<bytes::Bytes>,
}

/// What kind of file to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A snapshot (`dump.rdb`).
    Snapshot,
    /// An AOF base: an RDB file marked `aof-base` (`aof-use-rdb-preamble yes`), or commands
    /// that rebuild every key.
    AofBase { rdb: bool },
}

/// Which per-key access figure the file records: Redis keeps the one its policy uses.
#[derive(Clone, Copy, Debug)]
pub enum MetaKind {
    None,
    Idle,
    Freq,
}

impl Target {
    pub fn from_config(c: &Config) -> Target {
        use MaxmemoryPolicy::*;
        let meta = match c.maxmemory_policy() {
            AllkeysLru | VolatileLru => MetaKind::Idle,
            AllkeysLfu | VolatileLfu => MetaKind::Freq,
            _ => MetaKind::None,
        };
        Target {
            dir: c.dir().to_path_buf(),
            filename: c.dbfilename().to_path_buf(),
            opts: SaveOptions {
                compress: c.rdbcompression(),
                checksum: c.rdbchecksum(),
            },
            meta,
            key_delay_us: c.rdb_key_save_delay(),
            format: Format::Snapshot,
            libraries: Vec::new(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.filename)
    }
}

/// Progress a save reports as it goes (the child's watcher reads it to spot a stall).
pub trait Progress {
    fn keys_written(&self, keys: u64, bytes: u64);
}

impl Progress for () {
    fn keys_written(&self, _: u64, _: u64) {}
}

/// Writes the snapshot and renames it into place; returns the file's size. Errors are the
/// messages Redis logs.
pub fn save(target: &Target, shards: &[&Keyspace], progress: &dyn Progress) -> Result<u64, String> {
    let tmp = target.dir.join(format!("temp-{}.rdb", std::process::id()));
    let result = write_file(&tmp, target, shards, progress).and_then(|size| {
        std::fs::rename(&tmp, target.path()).map_err(|e| {
            format!(
                "Error moving temp DB file {} on the final destination {} (in server root dir {}): {e}",
                tmp.display(),
                target.filename.display(),
                target.dir.display()
            )
        })?;
        sync_dir(&target.dir);
        Ok(size)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_file(
    tmp: &Path,
    target: &Target,
    shards: &[&Keyspace],
    progress: &dyn Progress,
) -> Result<u64, String> {
    let file = File::create(tmp).map_err(|e| {
        format!(
            "Failed opening the temp RDB file {} (in server root dir {}) for saving: {e}",
            tmp.file_name().unwrap_or_default().to_string_lossy(),
            target.dir.display()
        )
    })?;
    let write_err = |e: std::io::Error| format!("Write error saving DB on disk: {e}");
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let size = if target.format == (Format::AofBase { rdb: false }) {
        write_commands(&mut out, target, shards, progress).map_err(write_err)?
    } else {
        let mut w = RdbWriter::new(out, target.opts);
        write_body(&mut w, target, shards, progress).map_err(write_err)?;
        let size = w.written();
        out = w.finish().map_err(write_err)?;
        size
    };
    let file = out.into_inner().map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    Ok(size)
}

fn write_body<W: Write>(
    w: &mut RdbWriter<W>,
    target: &Target,
    shards: &[&Keyspace],
    progress: &dyn Progress,
) -> std::io::Result<()> {
    w.header()?;
    w.aux(b"redis-ver", crate::REDIS_VERSION.as_bytes())?;
    w.aux(b"redis-bits", usize::BITS.to_string().as_bytes())?;
    w.aux(b"ctime", super::unix_now().to_string().as_bytes())?;
    w.aux(
        b"used-mem",
        crate::alloc::used_memory().to_string().as_bytes(),
    )?;
    let aof_base = target.format != Format::Snapshot;
    w.aux(b"aof-base", if aof_base { b"1" } else { b"0" })?;
    for code in &target.libraries {
        w.function(code)?;
    }
    let databases = shards.first().map_or(0, |s| s.dbs.len());
    let now_s = crate::db::lru_clock();
    let mut keys_done = 0u64;
    for db in 0..databases {
        let (keys, volatile) = shards.iter().fold((0, 0), |(k, v), s| {
            let d = &s.dbs[db];
            (k + d.len() as u64, v + d.volatile_len() as u64)
        });
        if keys == 0 {
            continue;
        }
        w.select_db(db as u32)?;
        w.resize_db(keys, volatile)?;
        for shard in shards {
            let lfu = shard.stats.lfu;
            for (key, entry) in shard.dbs[db].iter() {
                let meta = key_meta(target.meta, entry, now_s, lfu);
                w.entry(key.as_bytes(), &entry.value, entry.expire_at, meta)?;
                keys_done += 1;
                if keys_done.is_multiple_of(1024) {
                    progress.keys_written(keys_done, w.written());
                }
                if target.key_delay_us > 0 {
                    std::thread::sleep(Duration::from_micros(target.key_delay_us as u64));
                    progress.keys_written(keys_done, w.written());
                }
            }
        }
    }
    progress.keys_written(keys_done, w.written());
    Ok(())
}

/// An AOF base without an RDB preamble: commands that rebuild every live key, as Redis's
/// rewrite writes them (see `aof::propagate::value_records`). Returns the bytes written.
fn write_commands<W: Write>(
    out: &mut W,
    target: &Target,
    shards: &[&Keyspace],
    progress: &dyn Progress,
) -> std::io::Result<u64> {
    let now = crate::db::now_ms();
    let mut log = AofLog::new();
    let (mut keys_done, mut written) = (0u64, 0u64);
    for code in &target.libraries {
        log.command(0, &[&b"FUNCTION"[..], b"LOAD", code]);
    }
    let bytes = log.take();
    written += bytes.len() as u64;
    out.write_all(&bytes)?;
    let databases = shards.first().map_or(0, |s| s.dbs.len());
    for db in 0..databases {
        for shard in shards {
            for (key, entry) in shard.dbs[db].iter() {
                if entry.expire_at != 0 && entry.expire_at <= now {
                    continue;
                }
                // Each key's commands are built, written and dropped within one scratch step.
                crate::alloc::scratch(|| {
                    let key = bytes::Bytes::copy_from_slice(key.as_bytes());
                    for record in value_records(&key, entry) {
                        log.command(db, &record);
                    }
                    let bytes = log.take();
                    written += bytes.len() as u64;
                    out.write_all(&bytes)
                })?;
                keys_done += 1;
                if keys_done.is_multiple_of(1024) || target.key_delay_us > 0 {
                    progress.keys_written(keys_done, written);
                }
                if target.key_delay_us > 0 {
                    std::thread::sleep(Duration::from_micros(target.key_delay_us as u64));
                }
            }
        }
    }
    progress.keys_written(keys_done, written);
    Ok(written)
}

fn key_meta(kind: MetaKind, e: &Entry, now_s: u32, lfu: Option<crate::db::Lfu>) -> KeyMeta {
    match kind {
        MetaKind::None => KeyMeta::None,
        MetaKind::Idle => KeyMeta::Idle(now_s.saturating_sub(e.access) as u64),
        MetaKind::Freq => KeyMeta::Freq(lfu.map_or(e.freq, |l| l.decayed(e))),
    }
}

/// Makes a rename durable. Failure only weakens durability across a power cut, as in Redis,
/// which logs and goes on.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
