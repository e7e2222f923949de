//! redis.conf: its syntax, and loading files (with `include`) into a configuration.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::resp::split::split_args;
use crate::types::glob::glob_match;

use super::*;

pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    while s.first().is_some_and(blank) {
        s = &s[1..];
    }
    while s.last().is_some_and(blank) {
        s = &s[..s.len() - 1];
    }
    s
}

/// Parses configuration text (redis.conf syntax) on top of the defaults. Handy for tests and
/// for embedding; `include` paths are resolved against the working directory.
pub fn from_text(text: &str) -> Result<Config, String> {
    let mut loader = Loader {
        config: Config::default(),
        save_seen: false,
    };
    loader.apply_text(text.as_bytes(), None, 0)?;
    loader.finish()?;
    Ok(loader.config)
}

/// redis-server reports the config file by its absolute path.
pub(crate) fn absolute(path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_owned(), |cwd| cwd.join(path))
    }
}

/// Reads a config file, or every file matching it when it contains a wildcard (in which case
/// matching nothing is fine, so that an empty conf.d/ can be included).
pub(crate) fn read_config_source(path: &str) -> Result<Vec<u8>, String> {
    let files = if path.contains(['*', '?', '[']) {
        expand_path_glob(path)
    } else {
        vec![PathBuf::from(path)]
    };
    let mut text = Vec::new();
    for file in files {
        let content = fs::read(&file).map_err(|e| {
            format!(
                "Fatal error, can't open config file '{}': {}",
                file.display(),
                strerror(&e)
            )
        })?;
        text.extend_from_slice(&content);
    }
    Ok(text)
}

/// A small `glob(3)`: wildcards may appear in any path component and are matched with Redis's
/// glob syntax; names starting with `.` only match a pattern that does too; results are
/// sorted, as glob(3) sorts them.
pub(crate) fn expand_path_glob(pattern: &str) -> Vec<PathBuf> {
    let mut paths = vec![if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    for component in pattern.split('/').filter(|c| !c.is_empty()) {
        if !component.contains(['*', '?', '[']) {
            paths.iter_mut().for_each(|p| p.push(component));
            continue;
        }
        let mut next = Vec::new();
        for base in &paths {
            let listing = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base
            };
            let Ok(entries) = fs::read_dir(listing) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.as_bytes();
                if name.starts_with(b".") && !component.starts_with('.') {
                    continue;
                }
                if glob_match(component.as_bytes(), name, false) {
                    next.push(base.join(OsStr::from_bytes(name)));
                }
            }
        }
        next.sort();
        paths = next;
    }
    paths.retain(|p| p.exists());
    paths
}

/// The state of one load: the configuration being built, and whether a `save` directive has
/// been seen yet (the first one replaces the default rules, later ones add to them).
pub(crate) struct Loader {
    pub(crate) config: Config,
    pub(crate) save_seen: bool,
}

impl Loader {
    /// Applies config text, line by line. `source` names the included file being read, if
    /// any, for error messages.
    pub(crate) fn apply_text(
        &mut self,
        text: &[u8],
        source: Option<&str>,
        depth: usize,
    ) -> Result<(), String> {
        for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = trim(raw);
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let fail = |err: String| {
                let location = match source {
                    Some(file) => format!("Reading the included configuration file '{file}'"),
                    None => "Reading the configuration file".to_owned(),
                };
                format!(
                    "{}\n{location}, at line {}\n>>> '{}'\n{err}",
                    fatal_header(),
                    index + 1,
                    String::from_utf8_lossy(line)
                )
            };
            let argv = split_args(line)
                .ok_or_else(|| fail("Unbalanced quotes in configuration line".into()))?;
            let Some((name, args)) = argv.split_first() else {
                continue;
            };
            let name = name.to_ascii_lowercase();

            if let Some((def, _)) = lookup(&name) {
                if !def.has(MULTI_ARG) && args.len() != 1 {
                    return Err(fail("wrong number of arguments".into()));
                }
                // As Redis: a multi-argument parameter given one non-empty argument
                // (`save "60 1"`, typical of `--save "60 1"`) has it split again, with the
                // quoting rules (unbalanced quotes leave no arguments at all).
                let split: Vec<Vec<u8>>;
                let args = if def.has(MULTI_ARG) && args.len() == 1 && !args[0].is_empty() {
                    split = split_args(&args[0]).unwrap_or_default();
                    &split[..]
                } else {
                    args
                };
                self.set_from_file(def, args).map_err(fail)?;
            } else if args.len() == 1 && IGNORED_DEPRECATED.contains(&as_str(&name)) {
                // Redis accepts and ignores these; so do we.
            } else if name == b"include" && args.len() == 1 {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(fail(
                        "include nesting too deep (does a file include itself?)".into(),
                    ));
                }
                let path = String::from_utf8_lossy(&args[0]).into_owned();
                let included = read_config_source(&path)?;
                self.apply_text(&included, Some(&path), depth + 1)?;
            } else if name == b"rename-command" && args.len() == 2 {
                let directives = &mut self.config.directives;
                directives
                    .rename_command(&args[0], &args[1])
                    .map_err(fail)?;
            } else if name == b"user" && !args.is_empty() {
                let allchannels = pubsub_allchannels(&self.config);
                let directives = &mut self.config.directives;
                directives.add_user(args, allchannels).map_err(fail)?;
            } else if name == b"loadmodule" && !args.is_empty() {
                self.config.directives.modules.push(args.to_vec());
            } else if name.contains(&b'.') {
                let directives = &mut self.config.directives;
                directives.add_module_config(&name, args).map_err(fail)?;
            } else if name == b"sentinel" {
                // A bare `sentinel` line is accepted (Redis's main() looks for it to start
                // Sentinel); anything more is Sentinel's own configuration.
                if !args.is_empty() {
                    return Err(fail("sentinel directive while not in sentinel mode".into()));
                }
            } else {
                return Err(fail("Bad directive or wrong number of arguments".into()));
            }
        }
        Ok(())
    }

    pub(crate) fn set_from_file(&mut self, def: &Def, args: &[Vec<u8>]) -> Result<(), String> {
        let mut value = parse_update(def, args, &self.config)?;
        if let Value::Save(points) = &mut value {
            // Successive `save` lines accumulate, but the first one replaces the built-in
            // rules and `save ""` clears everything so far. (Redis 7.0 additionally restarts
            // from scratch after an `include`, an accident we do not reproduce.)
            let clears = args.len() == 1 && args[0].is_empty();
            if self.save_seen && !clears {
                if let Value::Save(previous) = &self.config.values[def.param as usize] {
                    points.splice(0..0, previous.iter().copied());
                }
            }
            self.save_seen = true;
        }
        self.config.values[def.param as usize] = value;
        Ok(())
    }

    /// Checks Redis makes once everything is loaded.
    pub(crate) fn finish(&mut self) -> Result<(), String> {
        if let Some(logfile) = self.config.logfile() {
            // Redis makes sure it will be able to log before it goes any further.
            fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(logfile)
                .map_err(|e| {
                    format!(
                        "{}\nCan't open the log file: {}",
                        fatal_header(),
                        strerror(&e)
                    )
                })?;
        }
        if self.config.flag(Param::ClusterEnabled) && self.config.replicaof().is_some() {
            return Err(format!(
                "{}\nreplicaof directive not allowed in cluster mode",
                fatal_header()
            ));
        }
        settle(Param::WatchdogPeriod, &mut self.config);
        // Then, as Redis's start-up goes: listeners (Tessera has no TLS port to count), modules
        // and ACL users.
        let tcp = self.config.port() != 0 && !self.config.bind().is_empty();
        if !tcp && self.config.unixsocket().is_none() {
            return Err("Configured to not listen anywhere, exiting.".into());
        }
        self.config.directives.commands = None; // only rename-command needed it
        let directives = &self.config.directives;
        directives.check_modules_at_startup()?;
        if !self.config.bytes(Param::Aclfile).is_empty() && !directives.users.is_empty() {
            return Err(
                "Configuring Redis with users defined in redis.conf and at the same \
                        setting an ACL file path is invalid. This setup is very likely to lead \
                        to configuration errors and security holes, please define either an \
                        ACL file or declare users directly in your redis.conf, but not both."
                    .into(),
            );
        }
        directives.check_users_at_startup(pubsub_allchannels(&self.config))?;
        Ok(())
    }
}

pub(crate) fn fatal_header() -> String {
    format!(
        "*** FATAL CONFIG FILE ERROR (Tessera {}) ***",
        env!("CARGO_PKG_VERSION")
    )
}

/// Directive names are compared against ASCII tables; anything else is simply unknown.
pub(crate) fn as_str(name: &[u8]) -> &str {
    std::str::from_utf8(name).unwrap_or("")
}
