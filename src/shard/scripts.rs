//! The Lua scripts every shard shares: the cache EVALSHA reads whichever connection loaded a
//! script, and the state of the script running now (SCRIPT KILL, BUSY replies). Only data
//! lives here; the interpreter and the commands are in `script/`.

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

    /// How many scripts are cached, and the bytes of their bodies (INFO memory).
    pub fn usage(&self) -> (usize, usize) {
        let scripts = self.lock();
        let bytes = scripts.values().map(|s| s.body.len() + 40).sum();
        (scripts.len(), bytes)
    }
}

/// The script running now, if any (at most one runs at a time: each holds every shard).
#[derive(Default)]
pub struct Running {
    active: AtomicBool,
    /// When it started, in ms since the Unix epoch.
    started_ms: AtomicU64,
    /// It has run a write: killing it would leave half its effects.
    pub wrote: AtomicBool,
    /// SCRIPT KILL asked it to stop.
    pub kill: AtomicBool,
}

impl Running {
    pub fn begin(&self) {
        self.wrote.store(false, Relaxed);
        self.kill.store(false, Relaxed);
        self.started_ms.store(crate::db::now_ms(), Relaxed);
        self.active.store(true, Relaxed);
    }

    pub fn end(&self) {
        self.active.store(false, Relaxed);
    }

    /// How long the running script has run, in ms; None when none runs.
    pub fn elapsed_ms(&self) -> Option<u64> {
        self.active
            .load(Relaxed)
            .then(|| crate::db::now_ms().saturating_sub(self.started_ms.load(Relaxed)))
    }
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
        assert_eq!(err("#!python\n"), "Unexpected engine in script shebang: #!python");
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
