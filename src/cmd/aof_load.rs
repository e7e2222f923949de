//! Opening the AOF at start-up (and again for DEBUG LOADAOF): reading the manifest, loading
//! the base and replaying each shard's incremental files, or creating a fresh set of files.
//! It sits with the commands because replaying the AOF is running them.
//!
//! The control thread reads the manifest and every incremental file, and finds which
//! multi-shard parts are complete in all of them (`aof::replay::scan_transactions`); a base
//! that is an RDB file is dealt to the shards like any snapshot; then each shard replays its
//! share of a base written as commands, and its own files, into its keyspace, all shards in
//! parallel, and keeps appending to its last file. An AOF that cannot be replayed shard by
//! shard (Redis's, or another shard count's) is converted first ([`convert`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::aof::manifest::{self, open_dir, AofFile, FileKind, Manifest};
use crate::cmd::replay::{replay, replay_share, scan_transactions, AofError, Committed};
use crate::config::Config;
use crate::db::Keyspace;

/// What the shards load and where they append, decided before they start.
pub struct Plan {
    pub aof_dir: PathBuf,
    /// `appendfilename`, and the manifest as read (or created).
    pub name: String,
    pub manifest: Manifest,
    pub base_size: u64,
    /// The RDB base to deal to the shards, if it has anything in it.
    pub base: Option<PathBuf>,
    /// Files every shard replays its share of (`aof::replay::replay_share`) before its own: a
    /// base written as commands.
    pub shared: Vec<(String, Arc<Vec<u8>>)>,
    /// Each shard's incremental files, in order: name and contents.
    pub incr: Vec<Vec<(String, Arc<Vec<u8>>)>>,
    pub committed: Arc<Committed>,
    /// Each shard's file to append to once loaded.
    pub append_to: Vec<PathBuf>,
    pub load_truncated: bool,
}

/// Reads (or creates) the AOF's files when `appendonly` is on; `None` when it is off.
pub fn prepare(config: &Config, shards: usize) -> Result<Option<Plan>, String> {
    if !config.appendonly() {
        return Ok(None);
    }
    let (aof_dir, name, manifest) = open_dir(config)?;
    let m = match manifest {
        Some(m) => m,
        None => create(&aof_dir, &name, shards)?,
    };
    plan(config, shards, aof_dir, name, m, true).map(Some)
}

/// The AOF as its files on disk say, whether the AOF is on or not (BGREWRITEAOF writes them
/// either way), for DEBUG LOADAOF; `None` when there is no manifest. Nothing is created.
pub fn read_existing(config: &Config, shards: usize) -> Result<Option<Plan>, String> {
    let (aof_dir, name, manifest) = open_dir(config)?;
    match manifest {
        Some(m) => plan(config, shards, aof_dir, name, m, false).map(Some),
        None => Ok(None),
    }
}

/// Reads the files `m` names; `for_appending` also gives every shard a file to append to.
fn plan(
    config: &Config,
    shards: usize,
    aof_dir: PathBuf,
    name: String,
    mut m: Manifest,
    for_appending: bool,
) -> Result<Plan, String> {
    let written_by = m.incr.iter().filter_map(|f| f.shard).max().map(|s| s + 1);
    let redis_files = m.incr.iter().any(|f| f.shard.is_none());
    if redis_files || written_by.is_some_and(|n| n as usize != shards) {
        m = convert(config, &aof_dir, &name, m, shards)?;
    }
    let read = |name: &str| {
        std::fs::read(aof_dir.join(name))
            .map(Arc::new)
            .map_err(|e| format!("Can't open the append-only file {name}: {e}"))
    };
    let mut shared = Vec::new();
    let base = match &m.base {
        Some(f) if f.name.ends_with(".rdb") => Some(aof_dir.join(&f.name)),
        Some(f) => {
            shared.push((f.name.clone(), read(&f.name)?));
            None
        }
        None => None,
    };
    let mut incr = vec![Vec::new(); shards];
    let mut append_to = vec![None; shards];
    for shard in 0..shards {
        for f in m.incr_files(shard as u32) {
            incr[shard].push((f.name.clone(), read(&f.name)?));
            append_to[shard] = Some(aof_dir.join(&f.name));
        }
    }
    if for_appending && append_to.iter().any(Option::is_none) {
        // A manifest without a file for some shard: give every shard a fresh one.
        let names = m.open_incr(&name, shards as u32);
        for (shard, n) in names.into_iter().enumerate() {
            std::fs::File::create(aof_dir.join(&n)).map_err(|e| format!("{n}: {e}"))?;
            append_to[shard] = Some(aof_dir.join(n));
        }
        manifest::write_atomic(&aof_dir, &manifest::manifest_name(&name), &m.render())
            .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    }
    let all: Vec<&[u8]> = shared
        .iter()
        .chain(incr.iter().flatten())
        .map(|(_, b)| b.as_slice())
        .collect();
    let committed = Arc::new(scan_transactions(&all));
    let base_size = m
        .base
        .as_ref()
        .and_then(|b| std::fs::metadata(aof_dir.join(&b.name)).ok())
        .map_or(0, |md| md.len());
    Ok(Plan {
        aof_dir,
        name,
        manifest: m,
        base_size,
        base,
        shared,
        incr,
        committed,
        append_to: append_to.into_iter().flatten().collect(),
        load_truncated: config.aof_load_truncated(),
    })
}

/// Rebuilds an AOF that this shard count cannot replay file by file: written by Redis (its
/// incremental files may touch any key), or by Tessera with another shard count. It is loaded
/// as it was written, one keyspace per shard that wrote it, here on the control thread; a new
/// RDB base is written from that; the manifest then names the base and one empty incremental
/// file per shard, and the old files, now history, are deleted. The start goes on from there
/// as from any AOF.
fn convert(
    config: &Config,
    aof_dir: &Path,
    name: &str,
    m: Manifest,
    shards: usize,
) -> Result<Manifest, String> {
    let writers = m
        .incr
        .iter()
        .filter_map(|f| f.shard)
        .max()
        .map_or(1, |s| s as usize + 1);
    crate::log!(
        Notice,
        "Converting the AOF in {} ({writers} shard(s) wrote it) for {shards} shard(s)",
        aof_dir.display()
    );
    let databases = config.databases();
    let mut spaces: Vec<Keyspace> = (0..writers)
        .map(|_| {
            let mut ks = Keyspace::new(databases);
            ks.limits = crate::shard::encoding_limits(config);
            ks
        })
        .collect();
    let read = |name: &str| {
        std::fs::read(aof_dir.join(name))
            .map_err(|e| format!("Can't open the append-only file {name}: {e}"))
    };
    let none = Committed::default();
    // The libraries the files hold: the base's, then what the FUNCTION commands in shard
    // 0's share of them did.
    let libraries = crate::shard::scripts::Libraries::default();
    let mut functions: Vec<Vec<bytes::Bytes>> = Vec::new();
    match &m.base {
        Some(f) if f.name.ends_with(".rdb") => {
            let (inboxes, outs) = crate::persist::load::channels(writers);
            std::thread::scope(|scope| {
                let absorbing: Vec<_> = spaces
                    .iter_mut()
                    .zip(outs)
                    .map(|(ks, inbox)| scope.spawn(move || crate::persist::load::absorb(ks, inbox)))
                    .collect();
                let read = crate::persist::load::read(&aof_dir.join(&f.name), databases, inboxes);
                for a in absorbing {
                    a.join()
                        .map_err(|_| "a loading thread failed".to_string())??;
                }
                let codes = read?.unwrap_or_default();
                crate::script::functions::install(&libraries, codes, true, false)
            })?;
        }
        Some(f) => {
            let bytes = read(&f.name)?;
            for (k, ks) in spaces.iter_mut().enumerate() {
                let stats = replay_share(ks, &bytes, &f.name, &none, k, writers)
                    .map_err(|e| e.to_string())?;
                note_errors(&stats);
                if k == 0 {
                    functions.extend(stats.functions);
                }
            }
        }
        None => {}
    }
    let incr: Vec<(&crate::aof::manifest::AofFile, Vec<u8>)> = m
        .incr
        .iter()
        .map(|f| read(&f.name).map(|b| (f, b)))
        .collect::<Result<_, _>>()?;
    let committed = scan_transactions(&incr.iter().map(|(_, b)| b.as_slice()).collect::<Vec<_>>());
    for (i, (f, bytes)) in incr.iter().enumerate() {
        // Only a file that nothing follows (for its shard) may end cut short.
        let last = !incr[i + 1..].iter().any(|(g, _)| g.shard == f.shard);
        let results: Vec<Result<_, AofError>> = match f.shard {
            Some(k) if k > 0 => vec![replay(&mut spaces[k as usize], bytes, &f.name, &committed)],
            Some(_) => {
                let r = replay(&mut spaces[0], bytes, &f.name, &committed);
                if let Ok(stats) = &r {
                    functions.extend(stats.functions.iter().cloned());
                }
                vec![r]
            }
            None => spaces
                .iter_mut()
                .enumerate()
                .map(|(k, ks)| {
                    let r = replay_share(ks, bytes, &f.name, &committed, k, writers);
                    if let (0, Ok(stats)) = (k, &r) {
                        functions.extend(stats.functions.iter().cloned());
                    }
                    r
                })
                .collect(),
        };
        for r in results {
            match r {
                Ok(stats) => note_errors(&stats),
                Err(AofError::Truncated { stats, .. }) if last && config.aof_load_truncated() => {
                    note_errors(&stats)
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    let mut next = m.clone();
    let names = next.open_incr(name, shards as u32);
    for n in &names {
        std::fs::File::create(aof_dir.join(n)).map_err(|e| format!("{n}: {e}"))?;
    }
    let keep = next.last_incr_seq();
    let base = next.rewrite_done(name, true, keep);
    let mut target = crate::persist::snapshot::Target::from_config(config);
    target.dir = aof_dir.to_path_buf();
    target.filename = PathBuf::from(&base);
    target.key_delay_us = 0;
    target.format = crate::persist::snapshot::Format::AofBase { rdb: true };
    for args in &functions {
        if let Err(e) = crate::script::functions::apply_logged(&libraries, args) {
            crate::log!(
                Warning,
                "Failed applying a FUNCTION command of the AOF: {e}"
            );
        }
    }
    target.libraries = libraries.codes();
    crate::persist::snapshot::save(&target, &spaces.iter().collect::<Vec<_>>(), &())?;
    drop(spaces);
    let mname = manifest::manifest_name(name);
    manifest::write_atomic(aof_dir, &mname, &next.render())
        .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    for f in next.take_history() {
        let _ = std::fs::remove_file(aof_dir.join(&f.name));
    }
    manifest::write_atomic(aof_dir, &mname, &next.render())
        .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    crate::log!(Notice, "AOF converted: new base {base}");
    Ok(next)
}

/// A fresh AOF: an empty RDB base and one empty incremental file per shard, then the
/// manifest that names them, written last and atomically.
fn create(aof_dir: &Path, name: &str, shards: usize) -> Result<Manifest, String> {
    let base = manifest::base_name(name, 1, true);
    let target = crate::persist::snapshot::Target {
        dir: aof_dir.to_path_buf(),
        filename: PathBuf::from(&base),
        opts: crate::rdb::SaveOptions {
            compress: true,
            checksum: true,
        },
        meta: crate::persist::snapshot::MetaKind::None,
        key_delay_us: 0,
        format: crate::persist::snapshot::Format::AofBase { rdb: true },
        libraries: Vec::new(),
    };
    crate::persist::snapshot::save(&target, &[], &())?;
    let mut m = Manifest::new();
    m.base = Some(AofFile {
        name: base,
        seq: 1,
        kind: FileKind::Base,
        shard: None,
    });
    for n in m.open_incr(name, shards as u32) {
        std::fs::File::create(aof_dir.join(&n)).map_err(|e| format!("{n}: {e}"))?;
    }
    manifest::write_atomic(aof_dir, &manifest::manifest_name(name), &m.render())
        .map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    crate::log!(
        Notice,
        "Creating AOF base file {} on server start",
        m.base.as_ref().map_or("", |b| &b.name)
    );
    Ok(m)
}

/// Counts the commands of a replayed file that replied an error (INFO's
/// unexpected_error_replies).
fn note_errors(stats: &crate::cmd::replay::ReplayStats) {
    crate::persist::state()
        .aof_load_errors
        .fetch_add(stats.errors, std::sync::atomic::Ordering::Relaxed);
}

/// What a shard's replay found.
#[derive(Default)]
pub struct Replayed {
    pub commands: u64,
    /// The FUNCTION commands it read, for the caller to apply (shard 0's: see `log` in
    /// `script::functions`).
    pub functions: Vec<Vec<bytes::Bytes>>,
}

/// Replays one shard's files into its keyspace. A last record cut short in the shard's last
/// file is cut off (with `aof-load-truncated yes`), as Redis does; anything else wrong stops
/// the start.
pub fn replay_shard(plan: &Plan, shard: usize, ks: &mut Keyspace) -> Result<Replayed, String> {
    let _quiet = crate::db::notify::Muted::new();
    let shards = plan.incr.len();
    let files: Vec<(&String, &Arc<Vec<u8>>, bool)> = plan
        .shared
        .iter()
        .map(|(n, b)| (n, b, true))
        .chain(plan.incr[shard].iter().map(|(n, b)| (n, b, false)))
        .collect();
    let mut out = Replayed::default();
    for (i, &(name, bytes, shared)) in files.iter().enumerate() {
        let result = if shared {
            replay_share(ks, bytes, name, &plan.committed, shard, shards)
        } else {
            replay(ks, bytes, name, &plan.committed)
        };
        match result {
            Ok(stats) => {
                out.commands += stats.commands;
                note_errors(&stats);
                out.functions.extend(stats.functions);
            }
            Err(AofError::Truncated {
                file,
                offset,
                stats,
            }) if i + 1 == files.len() && plan.load_truncated => {
                out.commands += stats.commands;
                note_errors(&stats);
                out.functions.extend(stats.functions);
                crate::log!(
                    Warning,
                    "!!! Warning: short read while loading the AOF file {file}!!!"
                );
                crate::log!(
                    Warning,
                    "!!! Truncating the AOF {file} at offset {offset} !!!"
                );
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(plan.aof_dir.join(name))
                    .and_then(|f| f.set_len(offset).and_then(|_| f.sync_all()));
                if let Err(e) = f {
                    return Err(format!("Error truncating the AOF file {file}: {e}"));
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(out)
}
