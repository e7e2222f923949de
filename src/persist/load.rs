//! Loading an RDB file at start-up, on every core at once.
//!
//! The control thread reads the file and frames it: for each key it copies out the key, its
//! expiry and the value's encoded bytes, and sends them in batches to the shard that owns the
//! key's slot. Each shard decodes the values (decompression, building lists, tables and trees,
//! the expensive part) and inserts them into its own keyspace in parallel with the others,
//! before it accepts any connection.

use std::rc::Rc;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::db::{lru_clock, now_ms, Entry, Keyspace, LFU_INIT};
use crate::rdb::{decode_value, Item, KeyMeta, RawValue, RdbError, RdbReader};
use crate::shard::tx::{Plan, Tx};
use crate::shard::{Node, ShardData};
use crate::slot::key_owner;

/// Keys a shard receives at a time.
const BATCH: usize = 256;
/// Batches in flight per shard: bounds the memory the reader can run ahead by.
const QUEUE: usize = 16;

pub struct RawKey {
    db: usize,
    key: Vec<u8>,
    value: RawValue,
    expire_at: u64,
    meta: KeyMeta,
}

pub type Batch = Vec<RawKey>;

/// What one shard loaded.
#[derive(Debug, Default)]
pub struct ShardLoad {
    pub keys: u64,
    pub expired: u64,
    /// FUNCTION commands its AOF replayed, which the control thread applies once the
    /// snapshot's libraries are in.
    pub functions: Vec<Vec<bytes::Bytes>>,
}

/// One inbox per shard, and the senders the reader fills them through.
pub fn channels(shards: usize) -> (Vec<SyncSender<Batch>>, Vec<Receiver<Batch>>) {
    (0..shards).map(|_| sync_channel(QUEUE)).unzip()
}

/// Runs on a shard thread before it serves: decodes and inserts everything the reader sends,
/// until the reader hangs up.
pub fn absorb(ks: &mut Keyspace, inbox: Receiver<Batch>) -> Result<ShardLoad, String> {
    let mut out = ShardLoad::default();
    for batch in inbox {
        insert(ks, batch, Duplicates::Refuse, &mut out)?;
    }
    Ok(out)
}

/// What a key already in the keyspace means while loading.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Duplicates {
    /// A file never holds a key twice: one that does is corrupt.
    Refuse,
    /// DEBUG RELOAD MERGE: the file's value replaces the one in memory.
    Replace,
}

/// Decodes and inserts one batch into this shard's keyspace. Keys already expired are
/// dropped, as a Redis master does.
pub fn insert(
    ks: &mut Keyspace,
    batch: Batch,
    duplicates: Duplicates,
    out: &mut ShardLoad,
) -> Result<(), String> {
    let _quiet = crate::db::notify::Muted::new();
    let now = now_ms();
    let clock = lru_clock();
    for raw in batch {
        if raw.expire_at != 0 && raw.expire_at <= now {
            out.expired += 1;
            continue;
        }
        let value = match decode_value(&raw.value, &ks.limits) {
            Ok(v) => v,
            // Redis skips (and logs) an empty collection rather than store it.
            Err(RdbError::EmptyKey) => {
                crate::log!(
                    Notice,
                    "rdbLoadObject skipping empty key: {}",
                    String::from_utf8_lossy(&raw.key)
                );
                continue;
            }
            Err(e) => {
                return Err(format!(
                    "Bad RDB value for key '{}': {e}",
                    String::from_utf8_lossy(&raw.key)
                ))
            }
        };
        let mut entry = Entry::new(value);
        entry.expire_at = raw.expire_at;
        match raw.meta {
            KeyMeta::Idle(s) => entry.access = clock.saturating_sub(s.min(u32::MAX as u64) as u32),
            KeyMeta::Freq(f) => entry.freq = f,
            KeyMeta::None => entry.freq = LFU_INIT,
        }
        let (db, _) = ks.db(raw.db);
        if db.peek(&raw.key).is_some() {
            if duplicates == Duplicates::Refuse {
                return Err(format!(
                    "RDB has duplicated key '{}' in DB {}",
                    String::from_utf8_lossy(&raw.key),
                    raw.db
                ));
            }
            db.remove(&raw.key);
        }
        db.insert_entry(&raw.key, entry);
        out.keys += 1;
    }
    Ok(())
}

/// What an RDB file holds, read whole.
pub struct FileContents {
    /// Its keys in batches, one list per shard.
    pub batches: Vec<Vec<Batch>>,
    /// Its function libraries' code.
    pub libraries: Vec<Vec<u8>>,
}

/// Everything in the RDB file at `path`, its keys dealt to `shards` shards; `None` when there
/// is no file.
pub fn read_all(
    path: &std::path::Path,
    databases: usize,
    shards: usize,
) -> Result<Option<FileContents>, String> {
    let mut batches: Vec<Vec<Batch>> = (0..shards).map(|_| Vec::new()).collect();
    let found = read_into(path, databases, shards, |shard, batch| {
        batches[shard].push(batch)
    })?;
    Ok(found.map(|libraries| FileContents { batches, libraries }))
}

/// Loading at runtime (DEBUG RELOAD, DEBUG LOADAOF): with every shard claimed whole, so that
/// no client sees one shard loaded and another not, each shard empties its databases (with
/// `flush`), inserts its `batches`, then runs `then` on its keyspace (an AOF's replay).
pub async fn load_everywhere<F>(
    node: &Rc<Node>,
    batches: Vec<Vec<Batch>>,
    flush: bool,
    duplicates: Duplicates,
    then: F,
) -> Result<(), String>
where
    F: Fn(usize, &mut Keyspace) -> Result<(), String> + Clone + Send + 'static,
{
    let hops = batches
        .into_iter()
        .enumerate()
        .map(|(shard, batches)| {
            let then = then.clone();
            (shard, move |data: &mut ShardData| {
                if flush {
                    for db in data.ks.dbs.iter_mut() {
                        drop(db.clear());
                    }
                }
                let mut loaded = ShardLoad::default();
                for batch in batches {
                    insert(&mut data.ks, batch, duplicates, &mut loaded)?;
                }
                then(shard, &mut data.ks)
            })
        })
        .collect();
    let tx = Tx::begin(node, Plan::everything(node.shards)).await;
    let results = tx.hops(hops).await;
    tx.finish().await;
    results.into_iter().collect()
}

/// Reads `path` and deals its keys to the shards' inboxes; returns its function libraries'
/// code, or None when there is no file, which is no error: there is nothing to load.
pub fn read(
    path: &std::path::Path,
    databases: usize,
    inboxes: Vec<SyncSender<Batch>>,
) -> Result<Option<Vec<Vec<u8>>>, String> {
    // A shard that hung up has failed; its error is reported by the caller.
    read_into(path, databases, inboxes.len(), |shard, batch| {
        let _ = inboxes[shard].send(batch);
    })
}

/// Reads `path` and hands `deal` each batch of keys with the shard that owns them (out of
/// `shards`); returns the function libraries' code, or None when there is no file.
pub fn read_into(
    path: &std::path::Path,
    databases: usize,
    shards: usize,
    mut deal: impl FnMut(usize, Batch),
) -> Result<Option<Vec<Vec<u8>>>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("Fatal error loading the DB: {e}. Exiting.")),
    };
    let mut reader =
        RdbReader::new(std::io::BufReader::with_capacity(1 << 20, file)).map_err(|e| {
            format!(
                "Fatal error loading the DB {}: {e}. Exiting.",
                path.display()
            )
        })?;
    let mut batches: Vec<Batch> = (0..shards).map(|_| Vec::with_capacity(BATCH)).collect();
    let mut db = 0usize;
    let mut libraries = Vec::new();
    let fail = |reader: &RdbReader<_>, e: crate::rdb::RdbError| {
        format!(
            "Internal error in RDB reading offset {} of {}: {e}",
            reader.offset(),
            path.display()
        )
    };
    loop {
        match reader.next().map_err(|e| fail(&reader, e))? {
            Item::Aux { key, value } => {
                if key == b"redis-ver" {
                    crate::log!(
                        Notice,
                        "Loading RDB produced by version {}",
                        String::from_utf8_lossy(&value)
                    );
                }
            }
            Item::SelectDb(n) => {
                if n >= databases as u64 {
                    return Err(format!("FATAL: Data file was created with a Redis server configured to handle more than {databases} databases. Exiting"));
                }
                db = n as usize;
            }
            Item::ResizeDb { .. } => {}
            Item::Key {
                key,
                value,
                expire_at_ms,
                meta,
            } => {
                let shard = key_owner(&key, shards);
                batches[shard].push(RawKey {
                    db,
                    key,
                    value,
                    expire_at: expire_at_ms,
                    meta,
                });
                if batches[shard].len() == BATCH {
                    let full = std::mem::replace(&mut batches[shard], Vec::with_capacity(BATCH));
                    deal(shard, full);
                }
            }
            Item::Function(code) => libraries.push(code),
            Item::End => break,
        }
    }
    for (shard, batch) in batches.into_iter().enumerate() {
        if !batch.is_empty() {
            deal(shard, batch);
        }
    }
    Ok(Some(libraries))
}
