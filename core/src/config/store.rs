//! The runtime store behind CONFIG GET and CONFIG SET, and the hooks that apply a change.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::types::glob::glob_match;

use super::*;

/// Called with the configuration to put in place; returns an error message to refuse it.
/// Called again with the previous configuration if the change is rolled back.
pub(crate) type ApplyFn = Arc<dyn Fn(&Config) -> Result<(), String> + Send + Sync>;
/// Called after a change is published.
pub(crate) type ListenFn = Arc<dyn Fn(&Arc<Config>) + Send + Sync>;

/// Where a CONFIG SET comes from: `enable-protected-configs local` lets only local callers
/// (loopback or unix-socket connections) change protected parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    Local,
    Remote,
}

/// The live configuration, shared by every thread. Cloning the store is cheap and yields a
/// handle to the same configuration.
#[derive(Clone)]
pub struct ConfigStore {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) current: RwLock<Arc<Config>>,
    /// Bumped after each published change, so readers can notice with one atomic load.
    pub(crate) version: AtomicU64,
    /// Serializes CONFIG SET and holds the hooks.
    pub(crate) writer: Mutex<Hooks>,
}

#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) appliers: Vec<(Vec<Param>, ApplyFn)>,
    pub(crate) listeners: Vec<ListenFn>,
}

impl ConfigStore {
    pub fn new(config: Config) -> ConfigStore {
        ConfigStore {
            shared: Arc::new(Shared {
                current: RwLock::new(Arc::new(config)),
                version: AtomicU64::new(0),
                writer: Mutex::new(Hooks::default()),
            }),
        }
    }

    /// The current configuration. Cheap (one read lock, one reference count increment), but
    /// on a hot path prefer a [`ConfigCache`].
    pub fn snapshot(&self) -> Arc<Config> {
        self.shared
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Increases by one on every successful CONFIG SET that changed something.
    pub fn version(&self) -> u64 {
        self.shared.version.load(Ordering::Acquire)
    }

    /// Registers the subsystem that puts changes of `params` into effect (rebinding for
    /// `port`/`bind`, AOF for `appendonly`...). CONFIG SET calls `apply` with the new
    /// configuration before publishing it; an `Err` aborts the whole CONFIG SET (Redis's
    /// reply is `CONFIG SET failed (possibly related to argument '<param>') - <err>`), and
    /// hooks that already succeeded are called again with the old configuration to undo.
    /// Parameters flagged LIVE (port, bind, appendonly) are refused by CONFIG SET until a hook
    /// covers them, since changing them would otherwise have no effect.
    ///
    /// Hooks run on the thread doing the CONFIG SET, while it holds the store's write lock:
    /// they may read [`ConfigStore::snapshot`] but must not call `set`, `on_apply` or
    /// `subscribe`. Panics on an unknown parameter name: that is a programming error.
    pub fn on_apply(
        &self,
        params: &[&str],
        apply: impl Fn(&Config) -> Result<(), String> + Send + Sync + 'static,
    ) {
        let params = params
            .iter()
            .map(|name| {
                lookup(name.as_bytes())
                    .unwrap_or_else(|| panic!("no parameter {name}"))
                    .0
                    .param
            })
            .collect();
        self.hooks().appliers.push((params, Arc::new(apply)));
    }

    /// Registers a callback run after each published change, on the CONFIG SET thread and
    /// under the same restrictions as apply hooks. Threads that would rather poll can watch
    /// [`ConfigStore::version`] or use a [`ConfigCache`].
    pub fn subscribe(&self, listener: impl Fn(&Arc<Config>) + Send + Sync + 'static) {
        self.hooks().listeners.push(Arc::new(listener));
    }

    pub(crate) fn hooks(&self) -> std::sync::MutexGuard<'_, Hooks> {
        self.shared.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// CONFIG GET with one or more glob patterns (matched case-insensitively against names and
    /// aliases). A pattern without `*`, `?` or `[` is a plain lookup and is answered under the
    /// spelling it was asked with, as Redis does; it is the only way to reach a HIDDEN
    /// parameter. Each name appears once.
    pub fn get<P: AsRef<[u8]>>(&self, patterns: &[P]) -> Vec<(String, Vec<u8>)> {
        let config = self.snapshot();
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        let mut add = |name: &str, def: &Def| {
            if !out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                out.push((name.to_owned(), config.format(def)));
            }
        };
        for pattern in patterns {
            let pattern = pattern.as_ref();
            if !pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
                if let Some((def, _)) = lookup(pattern) {
                    add(as_str(pattern), def); // matched a table name, so it is ASCII
                }
                continue;
            }
            for def in TABLE.iter().filter(|def| !def.has(HIDDEN)) {
                for name in def.names() {
                    if glob_match(pattern, name.as_bytes(), true) {
                        add(name, def);
                    }
                }
            }
        }
        out
    }

    /// CONFIG SET with one or more name/value pairs, all-or-nothing, as from a remote caller:
    /// the cautious default (see [`ConfigStore::set_as`], which the command layer calls with
    /// the connection's locality).
    pub fn set<N: AsRef<[u8]>, V: AsRef<[u8]>>(&self, pairs: &[(N, V)]) -> Result<(), String> {
        self.set_as(pairs, Caller::Remote)
    }

    /// CONFIG SET with one or more name/value pairs, all-or-nothing. The error is the full
    /// Redis reply text, "ERR ..." included. (CONFIG SET's own arity errors, odd or missing
    /// arguments, belong to the command layer.) Protected parameters (`dir`, `dbfilename`)
    /// follow `enable-protected-configs`: `yes` lets anyone change them, `local` only a
    /// [`Caller::Local`]. A parameter Tessera does not apply is validated and stored, as
    /// Redis would store it.
    pub fn set_as<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        pairs: &[(N, V)],
        caller: Caller,
    ) -> Result<(), String> {
        let hooks = self.hooks(); // one CONFIG SET at a time
        let old = self.snapshot();
        let protected_allowed = match old.enable_protected_configs() {
            "yes" => true,
            "local" => caller == Caller::Local,
            _ => false,
        };
        let failed = |arg: &str, why: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}")
        };

        // Resolve every name first; the first problem found is the one reported.
        let mut targets: Vec<(&Def, &str, &[u8])> = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let (name, value) = (name.as_ref(), value.as_ref());
            let typed = String::from_utf8_lossy(name);
            let Some((def, registered)) = lookup(name) else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{typed}'"
                ));
            };
            let live_without_hook = def.has(LIVE)
                && !hooks
                    .appliers
                    .iter()
                    .any(|(params, _)| params.contains(&def.param));
            if def.has(IMMUTABLE) || live_without_hook {
                return Err(failed(&typed, "can't set immutable config"));
            }
            if def.has(PROTECTED) && !protected_allowed {
                return Err(failed(&typed, "can't set protected config"));
            }
            // Redis compares configs by table entry, and an alias is an entry of its own.
            if targets.iter().any(|(_, seen, _)| *seen == registered) {
                return Err(failed(&typed, "duplicate parameter"));
            }
            targets.push((def, registered, value));
        }

        // Build the new snapshot; any invalid value aborts before anything is touched.
        let mut new = Config::clone(&old);
        for (def, registered, value) in &targets {
            let args = split_set_value(def, value);
            let value = parse_update(def, &args, &new).map_err(|e| failed(registered, &e))?;
            new.values[def.param as usize] = value;
        }

        let changed: Vec<(&Def, &str)> = targets
            .iter()
            .filter(|(def, ..)| new.value(def.param) != old.value(def.param))
            .map(|&(def, registered, _)| (def, registered))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        for (def, _) in &changed {
            settle(def.param, &mut new);
        }

        // Let the owning subsystems put the change into effect, in the order the parameters
        // were given, each hook once; undo the ones that succeeded if a later one refuses.
        let mut applied: Vec<&ApplyFn> = Vec::new();
        for (def, registered) in &changed {
            for (params, apply) in &hooks.appliers {
                if !params.contains(&def.param) || applied.iter().any(|a| Arc::ptr_eq(a, apply)) {
                    continue;
                }
                if let Err(e) = apply(&new) {
                    for undo in applied.iter().rev() {
                        let _ = undo(&old);
                    }
                    return Err(failed(registered, &e));
                }
                applied.push(apply);
            }
        }

        let new = Arc::new(new);
        *self
            .shared
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = new.clone();
        self.shared.version.fetch_add(1, Ordering::Release);
        for listener in &hooks.listeners {
            listener(&new);
        }
        Ok(())
    }
}

/// A per-thread view of the store for hot paths: [`ConfigCache::get`] costs one atomic load
/// unless the configuration changed since the last call.
pub struct ConfigCache {
    pub(crate) store: ConfigStore,
    pub(crate) version: u64,
    pub(crate) config: Arc<Config>,
}

impl ConfigCache {
    pub fn new(store: &ConfigStore) -> ConfigCache {
        // Read the version before the snapshot: if a change lands in between, the next get()
        // sees a newer version and refreshes again, which is harmless.
        let version = store.version();
        ConfigCache {
            store: store.clone(),
            version,
            config: store.snapshot(),
        }
    }

    pub fn get(&mut self) -> &Arc<Config> {
        let version = self.store.version();
        if version != self.version {
            self.version = version;
            self.config = self.store.snapshot();
        }
        &self.config
    }
}
