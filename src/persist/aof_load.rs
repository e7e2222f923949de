//! Opening the AOF at start-up: reading the manifest, loading the base and replaying each
//! shard's incremental files, or creating a fresh set of files.
//!
//! The control thread reads the manifest and every incremental file, and finds which
//! multi-shard parts are complete in all of them (`aof::replay::scan_transactions`); a base
//! that is an RDB file is dealt to the shards like any snapshot; then each shard replays its
//! share of the files that concern every shard (a base written as commands, incremental files
//! Redis wrote) and its own files into its keyspace, all shards in parallel, and keeps
//! appending to its last file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::aof::manifest::{self, AofFile, FileKind, Manifest};
use crate::aof::replay::{replay, replay_share, scan_transactions, AofError, Committed};
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
    /// Files every shard replays its share of (`aof::replay::replay_share`), in order, before
    /// its own: a base written as commands, then incremental files Redis wrote.
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
    let aof_dir = config.dir().join(config.appenddirname());
    std::fs::create_dir_all(&aof_dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            aof_dir.display()
        )
    })?;
    let name = config.appendfilename().to_string_lossy().into_owned();
    let manifest_path = aof_dir.join(manifest::manifest_name(&name));
    let mut m = if manifest_path.exists() {
        manifest::read(&manifest_path).map_err(|e| format!("{e}"))?
    } else {
        create(&aof_dir, &name, shards)?
    };
    let written_by = m.incr.iter().filter_map(|f| f.shard).max().map(|s| s + 1);
    match written_by {
        Some(n) if n as usize != shards => {
            return Err(format!(
                "The AOF in {} was written by {n} shard(s); start Tessera with --threads {n} \
                 (changing the shard count of an AOF is not supported yet: switch the AOF off, \
                 SAVE, and load the RDB file with the new count)",
                aof_dir.display()
            ))
        }
        _ => {}
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
    // Redis's incremental files: their commands may touch any shard's keys.
    for f in m.incr.iter().filter(|f| f.shard.is_none()) {
        shared.push((f.name.clone(), read(&f.name)?));
    }
    let mut incr = vec![Vec::new(); shards];
    let mut append_to = vec![None; shards];
    for shard in 0..shards {
        for f in m.incr_files(shard as u32) {
            incr[shard].push((f.name.clone(), read(&f.name)?));
            append_to[shard] = Some(aof_dir.join(&f.name));
        }
    }
    if append_to.iter().any(Option::is_none) {
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
    Ok(Some(Plan {
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
    }))
}

/// A fresh AOF: an empty RDB base and one empty incremental file per shard, then the
/// manifest that names them, written last and atomically.
fn create(aof_dir: &Path, name: &str, shards: usize) -> Result<Manifest, String> {
    let base = manifest::base_name(name, 1, true);
    let target = super::snapshot::Target {
        dir: aof_dir.to_path_buf(),
        filename: PathBuf::from(&base),
        opts: crate::rdb::SaveOptions {
            compress: true,
            checksum: true,
        },
        meta: super::snapshot::MetaKind::None,
        key_delay_us: 0,
        format: super::snapshot::Format::AofBase { rdb: true },
    };
    super::snapshot::save(&target, &[], &())?;
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
    println!(
        "Creating AOF base file {} on server start",
        m.base.as_ref().map_or("", |b| &b.name)
    );
    Ok(m)
}

/// Replays one shard's files into its keyspace. A last record cut short in the shard's last
/// file is cut off (with `aof-load-truncated yes`), as Redis does; anything else wrong stops
/// the start. Returns the commands replayed.
pub fn replay_shard(plan: &Plan, shard: usize, ks: &mut Keyspace) -> Result<u64, String> {
    let shards = plan.incr.len();
    let files: Vec<(&String, &Arc<Vec<u8>>, bool)> = plan
        .shared
        .iter()
        .map(|(n, b)| (n, b, true))
        .chain(plan.incr[shard].iter().map(|(n, b)| (n, b, false)))
        .collect();
    let mut commands = 0;
    for (i, &(name, bytes, shared)) in files.iter().enumerate() {
        let result = if shared {
            replay_share(ks, bytes, name, &plan.committed, shard, shards)
        } else {
            replay(ks, bytes, name, &plan.committed)
        };
        match result {
            Ok(stats) => commands += stats.commands,
            Err(AofError::Truncated {
                file,
                offset,
                stats,
            }) if i + 1 == files.len() && plan.load_truncated => {
                commands += stats.commands;
                println!(
                    "!!! Warning: short read while loading the AOF file {file}!!!\n!!! Truncating the AOF {file} at offset {offset} !!!"
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
    Ok(commands)
}
