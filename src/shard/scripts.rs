//! The Lua scripts every shard shares: the cache EVALSHA reads whichever connection loaded a
//! script, the function libraries (FUNCTION LOAD), and the state of the script running now
//! (SCRIPT KILL, FUNCTION STATS, BUSY replies). Only data lives here, low enough for
//! persistence to save the libraries; the interpreter and the commands are in `script/`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use ahash::AHashMap;
use bytes::Bytes;

/// A script's shebang flags (`#!lua flags=...`). A script without a shebang runs in Redis's
/// compatibility mode, where the command's own flags apply instead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    pub compat: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot: bool,
}

impl ScriptFlags {
    /// Reads the shebang line of `body`, as Redis's `evalExtractShebangFlags`: the flags and
    /// how many bytes the line takes (the newline stays, to keep line numbers).
    pub fn parse(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
        if !body.starts_with(b"#!") {
            return Ok((
                ScriptFlags {
                    compat: true,
                    ..Default::default()
                },
                0,
            ));
        }
        let Some(end) = memchr::memchr(b'\n', body) else {
            return Err("Invalid script shebang".into());
        };
        let parts = match crate::resp::split::split_args(&body[..end]) {
            Some(p) if !p.is_empty() => p,
            _ => return Err("Invalid engine in script shebang".into()),
        };
        if parts[0] != b"#!lua" {
            return Err(format!(
                "Unexpected engine in script shebang: {}",
                String::from_utf8_lossy(&parts[0])
            ));
        }
        let mut flags = ScriptFlags::default();
        for part in &parts[1..] {
            let Some(list) = part.strip_prefix(b"flags=") else {
                return Err(format!(
                    "Unknown lua shebang option: {}",
                    String::from_utf8_lossy(part)
                ));
            };
            if list.is_empty() {
                continue;
            }
            for flag in list.split(|&b| b == b',') {
                match flag {
                    b"no-writes" => flags.no_writes = true,
                    b"allow-oom" => flags.allow_oom = true,
                    b"allow-stale" => flags.allow_stale = true,
                    b"no-cluster" => flags.no_cluster = true,
                    b"allow-cross-slot-keys" => flags.allow_cross_slot = true,
                    other => {
                        return Err(format!(
                            "Unexpected flag in script shebang: {}",
                            String::from_utf8_lossy(other)
                        ))
                    }
                }
            }
        }
        Ok((flags, end))
    }
}

impl ScriptFlags {
    /// The flags set, by name, in Redis's order (FUNCTION LIST).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        [
            (self.no_writes, "no-writes"),
            (self.allow_oom, "allow-oom"),
            (self.allow_stale, "allow-stale"),
            (self.no_cluster, "no-cluster"),
            (self.allow_cross_slot, "allow-cross-slot-keys"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
    }
}

/// A script in the cache: its source and flags.
pub struct Script {
    pub sha: String,
    pub body: Bytes,
    pub flags: ScriptFlags,
    /// Bytes of the body after the shebang line (`#!lua ...`), which Lua does not read.
    pub shebang_len: usize,
}

/// The scripts cache every shard shares (EVALSHA finds a script whichever connection loaded
/// it), and the state of the script running now, for SCRIPT KILL and BUSY replies.
#[derive(Default)]
pub struct Store {
    scripts: Mutex<AHashMap<String, Arc<Script>>>,
    /// Bumped by SCRIPT FLUSH: each interpreter drops what it compiled when it sees a new one.
    generation: AtomicU64,
    pub running: Running,
    /// FUNCTION LOAD's libraries (SCRIPT FLUSH leaves them alone).
    pub libraries: Libraries,
    /// Bytes each shard's interpreters hold (eval's, functions'), as of their last run.
    vm_memory: Mutex<Vec<(u64, u64)>>,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may run commands Redis keeps from them.
    pub deny_disabled: std::sync::atomic::AtomicBool,
}

impl Store {
    fn lock(&self) -> std::sync::MutexGuard<'_, AHashMap<String, Arc<Script>>> {
        // Nothing panics while holding it.
        self.scripts.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, sha: &str) -> Option<Arc<Script>> {
        self.lock().get(sha).cloned()
    }

    pub fn insert(&self, script: Arc<Script>) {
        self.lock().insert(script.sha.clone(), script);
    }

    pub fn flush(&self) {
        self.lock().clear();
        self.generation.fetch_add(1, Relaxed);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// Records what shard `shard`'s eval (`eval`) or functions interpreter holds now.
    pub fn note_vm_memory(&self, shard: usize, eval: bool, bytes: u64) {
        let mut all = self.vm_memory.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() <= shard {
            all.resize(shard + 1, (0, 0));
        }
        if eval {
            all[shard].0 = bytes;
        } else {
            all[shard].1 = bytes;
        }
    }

    /// The bytes every shard's eval and functions interpreters hold (INFO memory).
    pub fn vm_memory(&self) -> (u64, u64) {
        let all = self.vm_memory.lock().unwrap_or_else(|e| e.into_inner());
        all.iter().fold((0, 0), |(e, f), &(a, b)| (e + a, f + b))
    }

    /// How many scripts are cached, and the bytes of their bodies (INFO memory).
    pub fn usage(&self) -> (usize, usize) {
        let scripts = self.lock();
        let bytes = scripts.values().map(|s| s.body.len() + 40).sum();
        (scripts.len(), bytes)
    }
}

/// A function a library registered (`redis.register_function`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<Bytes>,
    pub flags: ScriptFlags,
}

/// A library (FUNCTION LOAD): its code as loaded, shebang included (what RDB files, FUNCTION
/// DUMP and the AOF keep), and the functions its code registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Library {
    pub name: String,
    pub code: Bytes,
    pub functions: Vec<FunctionInfo>,
}

/// The function libraries every shard shares. Names of libraries compare exactly; names of
/// functions ignore case, as in Redis (`FCALL MYFUNC` finds `myfunc`).
#[derive(Default)]
pub struct Libraries {
    inner: Mutex<BTreeMap<String, Arc<Library>>>,
    /// Bumped by every change: each shard's interpreter rebuilds its functions on a new one.
    generation: AtomicU64,
}

impl Libraries {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Library>>> {
        // Nothing panics while holding it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// Every library, by name.
    pub fn all(&self) -> Vec<Arc<Library>> {
        self.lock().values().cloned().collect()
    }

    /// The library holding function `name`, and the function.
    pub fn function(&self, name: &str) -> Option<(Arc<Library>, FunctionInfo)> {
        self.lock().values().find_map(|lib| {
            let f = lib
                .functions
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))?;
            Some((lib.clone(), f.clone()))
        })
    }

    pub fn contains(&self, library: &str) -> bool {
        self.lock().contains_key(library)
    }

    /// Adds `libs` (FUNCTION LOAD, RESTORE, loading a file); a library of the same name is
    /// replaced when `replace`, refused otherwise. All or nothing, with Redis's errors.
    pub fn add(&self, libs: Vec<Library>, replace: bool) -> Result<(), String> {
        let mut all = self.lock();
        let mut next = all.clone();
        for lib in libs {
            if next.contains_key(&lib.name) && !replace {
                return Err(format!("Library {} already exists", lib.name));
            }
            next.remove(&lib.name);
            for f in &lib.functions {
                let taken = next.values().any(|other| {
                    other
                        .functions
                        .iter()
                        .any(|g| g.name.eq_ignore_ascii_case(&f.name))
                });
                if taken {
                    return Err(format!("Function {} already exists", f.name));
                }
            }
            next.insert(lib.name.clone(), Arc::new(lib));
        }
        *all = next;
        self.generation.fetch_add(1, Relaxed);
        Ok(())
    }

    pub fn remove(&self, library: &str) -> bool {
        let removed = self.lock().remove(library).is_some();
        if removed {
            self.generation.fetch_add(1, Relaxed);
        }
        removed
    }

    /// Replaces every library with `libs` (FUNCTION FLUSH with none, RESTORE FLUSH).
    pub fn set(&self, libs: Vec<Library>) {
        let mut all = self.lock();
        *all = libs
            .into_iter()
            .map(|l| (l.name.clone(), Arc::new(l)))
            .collect();
        self.generation.fetch_add(1, Relaxed);
    }

    /// Every library's code, as snapshots save it.
    pub fn codes(&self) -> Vec<Bytes> {
        self.lock().values().map(|l| l.code.clone()).collect()
    }

    /// The libraries, taken out (a set built up aside before it replaces the real one).
    pub fn take_all(self) -> Vec<Library> {
        let all = self.inner.into_inner().unwrap_or_else(|e| e.into_inner());
        all.into_values().map(Arc::unwrap_or_clone).collect()
    }

    /// The bytes of every library's code (INFO memory).
    pub fn code_bytes(&self) -> usize {
        self.lock().values().map(|l| l.code.len()).sum()
    }

    /// How many libraries and functions there are (FUNCTION STATS, INFO).
    pub fn counts(&self) -> (usize, usize) {
        let all = self.lock();
        (all.len(), all.values().map(|l| l.functions.len()).sum())
    }
}

/// What is running: an EVAL's script or a function (FCALL).
#[derive(Clone, Debug)]
pub struct RunningScript {
    /// The script's SHA or the function's name.
    pub name: String,
    pub is_eval: bool,
    /// The command that runs it, for FUNCTION STATS.
    pub command: Vec<Bytes>,
}

/// The script running now, if any (at most one runs at a time: each holds every shard).
#[derive(Default)]
pub struct Running {
    what: Mutex<Option<RunningScript>>,
    active: AtomicBool,
    /// When it started, in ms since the Unix epoch.
    started_ms: AtomicU64,
    /// It has run a write: killing it would leave half its effects.
    pub wrote: AtomicBool,
    /// It has run a read: a tracking caller may cache its declared keys.
    pub read: AtomicBool,
    /// SCRIPT KILL asked it to stop.
    pub kill: AtomicBool,
}

impl Running {
    pub fn begin(&self, what: RunningScript) {
        *self.what.lock().unwrap_or_else(|e| e.into_inner()) = Some(what);
        self.wrote.store(false, Relaxed);
        self.read.store(false, Relaxed);
        self.kill.store(false, Relaxed);
        self.started_ms.store(wall_ms(), Relaxed);
        self.active.store(true, Relaxed);
    }

    pub fn end(&self) {
        self.active.store(false, Relaxed);
        *self.what.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// What runs now, if anything.
    pub fn what(&self) -> Option<RunningScript> {
        self.what.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How long the running script has run, in ms; None when none runs.
    pub fn elapsed_ms(&self) -> Option<u64> {
        self.active
            .load(Relaxed)
            .then(|| wall_ms().saturating_sub(self.started_ms.load(Relaxed)))
    }
}

/// The clock itself, not the shard's cached time of its turn: a script's own shard does not
/// turn while the script runs, and its hook must see the time pass.
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Redis's `sha1hex`: 40 lowercase hex digits.
pub fn sha1hex(data: &[u8]) -> String {
    use sha1::{Digest as _, Sha1};
    let digest = Sha1::digest(data);
    let mut out = String::with_capacity(40);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected texts are redis-server 7.0.15's replies to the same shebangs.
    #[test]
    fn shebangs_parse_as_redis_reads_them() {
        let ok = |b: &str| ScriptFlags::parse(b.as_bytes()).unwrap();
        assert!(ok("return 1").0.compat);
        let (f, len) = ok("#!lua flags=no-writes,allow-oom\nreturn 1");
        assert!(f.no_writes && f.allow_oom && !f.compat);
        assert_eq!(len, 31);
        assert!(!ok("#!lua\nreturn 1").0.compat);
        let err = |b: &str| ScriptFlags::parse(b.as_bytes()).unwrap_err();
        assert_eq!(err("#!lua"), "Invalid script shebang");
        assert_eq!(
            err("#!python\n"),
            "Unexpected engine in script shebang: #!python"
        );
        assert_eq!(
            err("#!lua flags=bad\n"),
            "Unexpected flag in script shebang: bad"
        );
        assert_eq!(err("#!lua x=1\n"), "Unknown lua shebang option: x=1");
    }

    #[test]
    fn sha1hex_is_lowercase_hex() {
        assert_eq!(sha1hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }
}
