//! The AOF manifest: which files make up the append-only data, in Redis 7's multi-part layout.
//!
//! The manifest `<appendfilename>.manifest` lives in `appenddirname` beside the files it names.
//! Each line describes one file, as space-separated key/value pairs, Redis's format:
//!
//! ```text
//! file appendonly.aof.2.base.rdb seq 2 type b
//! file appendonly.aof.1.incr.0.aof seq 1 type h shard 0
//! file appendonly.aof.3.incr.0.aof seq 3 type i shard 0
//! file appendonly.aof.3.incr.1.aof seq 3 type i shard 1
//! ```
//!
//! - `type` is `b` (the base: one snapshot of every shard, an RDB written by the fork child, or
//!   commands when `aof-use-rdb-preamble` is no), `i` (incremental: one shard's commands since
//!   the base) or `h` (history: replaced by a rewrite, to be deleted).
//! - Tessera's one addition is `shard <k>` on incremental files: every shard appends to its own
//!   file. All shards open their incremental files together, so the files of one generation
//!   share a `seq`; within the manifest incremental files are ordered by `(seq, shard)`.
//!   Redis ignores unknown keys, but refuses two incremental files with the same `seq`: a
//!   manifest with more than one shard is Tessera's alone. An incremental file without
//!   `shard` (Redis's own manifest) is accepted; its commands may touch any shard's keys.
//! - File names containing spaces, quotes or non-printable bytes are quoted as Redis quotes
//!   them (`"..."` with `\n`, `\xHH`... escapes); lines starting with `#` are comments.
//!
//! File names: `<appendfilename>.<seq>.base.rdb|aof` as Redis, and
//! `<appendfilename>.<seq>.incr.<shard>.aof` for the shards' incremental files.
//!
//! Parsing checks what Redis checks, with its messages, naming the line
//! ([`ManifestError`]); [`write_atomic`] replaces a file so that a crash leaves either the old
//! or the new manifest.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Base,
    History,
    Incr,
}

impl FileKind {
    fn letter(self) -> char {
        match self {
            FileKind::Base => 'b',
            FileKind::History => 'h',
            FileKind::Incr => 'i',
        }
    }
}

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: u64,
    pub kind: FileKind,
    /// The shard an incremental file belongs to (history files keep theirs). `None` on an
    /// incremental file Redis wrote: its commands may touch keys of any shard.
    pub shard: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub history: Vec<AofFile>,
    /// Ordered by `(seq, shard)`.
    pub incr: Vec<AofFile>,
}

/// Why a manifest cannot be used: `line` (1-based; 0 when no line is at fault) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub line: usize,
    pub text: String,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "Reading the manifest file, at line {}: >>> '{}': ",
                self.line, self.text
            )?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ManifestError {}

/// Redis's line buffer: longer lines are refused.
const MAX_LINE: usize = 1024;

pub fn manifest_name(appendfilename: &str) -> String {
    format!("{appendfilename}.manifest")
}

pub fn base_name(appendfilename: &str, seq: u64, rdb: bool) -> String {
    let format = if rdb { "rdb" } else { "aof" };
    format!("{appendfilename}.{seq}.base.{format}")
}

pub fn incr_name(appendfilename: &str, seq: u64, shard: u32) -> String {
    format!("{appendfilename}.{seq}.incr.{shard}.aof")
}

/// The name a file is written under before being renamed into place, as Redis's `temp-`.
pub fn temp_name(name: &str) -> String {
    format!("temp-{name}")
}

impl Manifest {
    pub fn new() -> Manifest {
        Manifest::default()
    }

    /// Parses a manifest's bytes with Redis's checks and messages.
    pub fn parse(input: &[u8]) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::new();
        if input.is_empty() {
            return Err(error(0, b"", "Found an empty AOF manifest"));
        }
        let mut rest = input;
        let mut linenum = 0;
        while !rest.is_empty() {
            linenum += 1;
            let (raw, next, complete) = match memchr::memchr(b'\n', rest) {
                Some(nl) => (&rest[..=nl], &rest[nl + 1..], true),
                None => (rest, &rest[rest.len()..], false),
            };
            rest = next;
            if raw[0] == b'#' {
                continue;
            }
            if !complete || raw.len() > MAX_LINE {
                return Err(error(
                    linenum,
                    raw,
                    "The AOF manifest file contains too long line",
                ));
            }
            let line = raw.trim_ascii();
            let invalid = || error(linenum, line, "Invalid AOF manifest file format");
            if line.is_empty() {
                return Err(invalid());
            }
            let argv = split_args(line).ok_or_else(invalid)?;
            if argv.len() < 6 || argv.len() % 2 != 0 {
                return Err(invalid());
            }
            let (mut name, mut seq, mut kind, mut shard) = (None, 0u64, 0u8, None);
            for pair in argv.chunks(2) {
                let (k, v) = (&pair[0], &pair[1]);
                if k.eq_ignore_ascii_case(b"file") {
                    if v.contains(&b'/') {
                        return Err(error(
                            linenum,
                            line,
                            "File can't be a path, just a filename",
                        ));
                    }
                    name = Some(String::from_utf8(v.clone()).map_err(|_| invalid())?);
                } else if k.eq_ignore_ascii_case(b"seq") {
                    seq = leading_number(v);
                } else if k.eq_ignore_ascii_case(b"type") {
                    kind = v.first().copied().unwrap_or(0);
                } else if k.eq_ignore_ascii_case(b"shard") {
                    shard = Some(
                        u32::try_from(leading_number(v))
                            .ok()
                            .filter(|_| v.first().is_some_and(u8::is_ascii_digit))
                            .ok_or_else(invalid)?,
                    );
                }
            }
            let Some(name) = name.filter(|n| !n.is_empty()) else {
                return Err(invalid());
            };
            if seq == 0 || kind == 0 {
                return Err(invalid());
            }
            let kind = match kind {
                b'b' => FileKind::Base,
                b'h' => FileKind::History,
                b'i' => FileKind::Incr,
                _ => return Err(error(linenum, line, "Unknown AOF file type")),
            };
            let file = AofFile {
                name,
                seq,
                kind,
                shard,
            };
            match kind {
                FileKind::Base if m.base.is_some() => {
                    return Err(error(
                        linenum,
                        line,
                        "Found duplicate base file information",
                    ))
                }
                FileKind::Base => m.base = Some(file),
                FileKind::History => m.history.push(file),
                FileKind::Incr => {
                    let monotonic = m
                        .incr
                        .last()
                        .is_none_or(|p| (p.seq, p.shard) < (seq, shard));
                    if !monotonic {
                        return Err(error(
                            linenum,
                            line,
                            "Found a non-monotonic sequence number",
                        ));
                    }
                    m.incr.push(file);
                }
            }
        }
        if linenum > 0 && m.base.is_none() && m.incr.is_empty() && m.history.is_empty() {
            return Err(error(0, b"", "Found an empty AOF manifest"));
        }
        Ok(m)
    }

    /// The manifest's text: base first, then history, then incremental files, as Redis.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in self
            .base
            .iter()
            .chain(self.history.iter())
            .chain(self.incr.iter())
        {
            out.extend_from_slice(b"file ");
            out.extend_from_slice(&repr(f.name.as_bytes()));
            out.extend_from_slice(format!(" seq {} type {}", f.seq, f.kind.letter()).as_bytes());
            if let Some(s) = f.shard {
                out.extend_from_slice(format!(" shard {s}").as_bytes());
            }
            out.push(b'\n');
        }
        out
    }

    /// `shard`'s incremental files, oldest first: what it replays after the base.
    pub fn incr_files(&self, shard: u32) -> impl Iterator<Item = &AofFile> {
        self.incr.iter().filter(move |f| f.shard == Some(shard))
    }

    /// How many shards wrote the newest incremental generation (None without one).
    pub fn shards(&self) -> Option<u32> {
        let last = self.incr.last()?.seq;
        self.incr
            .iter()
            .filter(|f| f.seq == last)
            .filter_map(|f| f.shard)
            .max()
            .map(|s| s + 1)
    }

    pub fn last_incr_seq(&self) -> u64 {
        self.incr.last().map_or(0, |f| f.seq)
    }

    /// Adds a new generation of incremental files, one per shard, and returns their names in
    /// shard order: at start-up with AOF on, and when a rewrite starts (Redis's
    /// `openNewIncrAofForAppend`). Its `seq` comes after every incremental file so far.
    pub fn open_incr(&mut self, appendfilename: &str, shards: u32) -> Vec<String> {
        // Every incremental file counts, Redis's too; of history, only former incremental
        // files (bases have their own numbering).
        let seq = self
            .incr
            .iter()
            .chain(self.history.iter().filter(|f| f.shard.is_some()))
            .map(|f| f.seq)
            .max()
            .unwrap_or(0)
            + 1;
        (0..shards)
            .map(|shard| {
                let name = incr_name(appendfilename, seq, shard);
                self.incr.push(AofFile {
                    name: name.clone(),
                    seq,
                    kind: FileKind::Incr,
                    shard: Some(shard),
                });
                name
            })
            .collect()
    }

    /// A rewrite finished: the new base's name is returned (its seq follows the old base's);
    /// the old base and the incremental files older than `keep_from_seq` (the generation
    /// opened when the rewrite started) become history, to be deleted once the new manifest
    /// is on disk (Redis's `backgroundRewriteDoneHandler`).
    pub fn rewrite_done(&mut self, appendfilename: &str, rdb: bool, keep_from_seq: u64) -> String {
        let seq = self
            .base
            .iter()
            .chain(self.history.iter().filter(|f| f.shard.is_none()))
            .map(|f| f.seq)
            .max()
            .unwrap_or(0)
            + 1;
        if let Some(mut old) = self.base.take() {
            old.kind = FileKind::History;
            self.history.insert(0, old);
        }
        let (old, keep): (Vec<AofFile>, Vec<AofFile>) = std::mem::take(&mut self.incr)
            .into_iter()
            .partition(|f| f.seq < keep_from_seq);
        self.incr = keep;
        self.history.extend(old.into_iter().map(|mut f| {
            f.kind = FileKind::History;
            f
        }));
        let name = base_name(appendfilename, seq, rdb);
        self.base = Some(AofFile {
            name: name.clone(),
            seq,
            kind: FileKind::Base,
            shard: None,
        });
        name
    }

    /// Removes and returns the history entries, once the manifest without them is the one
    /// to persist: the caller deletes their files after writing it.
    pub fn take_history(&mut self) -> Vec<AofFile> {
        std::mem::take(&mut self.history)
    }
}

/// Reads and parses the manifest at `path`.
pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
    let bytes = std::fs::read(path).map_err(|e| ManifestError {
        line: 0,
        text: String::new(),
        message: format!(
            "Fatal error: can't open the AOF manifest file {} for reading: {e}",
            path.display()
        ),
    })?;
    Manifest::parse(&bytes)
}

/// Replaces `dir/name` with `contents` so that a crash leaves the old file or the new one:
/// write `temp-<name>`, fsync it, rename it over `name`, fsync the directory.
pub fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> std::io::Result<()> {
    let temp = dir.join(temp_name(name));
    let result = (|| {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&temp, dir.join(name))?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn error(line: usize, text: &[u8], message: &str) -> ManifestError {
    ManifestError {
        line,
        text: String::from_utf8_lossy(text).into_owned(),
        message: message.to_string(),
    }
}

/// C's `atoll` for the non-negative numbers a manifest holds: leading blanks, an optional `+`,
/// the digits up to the first other byte; 0 if none (or on overflow).
fn leading_number(v: &[u8]) -> u64 {
    let s = v.trim_ascii_start();
    let s = s.strip_prefix(b"+").unwrap_or(s);
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&s[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

use crate::config::Config;
/// Manifest lines are split as Redis splits them, with `sdssplitargs`.
use crate::resp::split::{push_repr, split_args};

/// A file name as Redis's `sdscatrepr` writes it when `sdsneedsrepr` says it must be quoted.
fn repr(name: &[u8]) -> Vec<u8> {
    let needs = name.iter().any(|&c| {
        matches!(c, b'\\' | b'"' | b'\n' | b'\r' | b'\t' | 7 | 8)
            || !(0x20..0x7f).contains(&c)
            || c.is_ascii_whitespace()
    });
    if !needs {
        return name.to_vec();
    }
    let mut out = Vec::new();
    push_repr(&mut out, name);
    out
}

/// The AOF directory the configuration names, created if missing.
pub fn create_dir(config: &Config) -> Result<PathBuf, String> {
    let dir = config.dir().join(config.appenddirname());
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        )
    })?;
    Ok(dir)
}

/// The AOF directory (created if missing), `appendfilename`, and the manifest if there is one.
pub fn open_dir(config: &Config) -> Result<(PathBuf, String, Option<Manifest>), String> {
    let dir = create_dir(config)?;
    let name = config.appendfilename().to_string_lossy().into_owned();
    let path = dir.join(manifest_name(&name));
    let manifest = if path.exists() {
        Some(read(&path).map_err(|e| e.to_string())?)
    } else {
        None
    };
    Ok((dir, name, manifest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &str) -> (usize, String) {
        let e = Manifest::parse(input.as_bytes()).unwrap_err();
        (e.line, e.message)
    }

    #[test]
    fn parses_and_renders_the_layout() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\n\
                    file appendonly.aof.1.incr.0.aof seq 1 type h shard 0\n\
                    file appendonly.aof.3.incr.0.aof seq 3 type i shard 0\n\
                    file appendonly.aof.3.incr.1.aof seq 3 type i shard 1\n";
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.2.base.rdb");
        assert_eq!(m.history.len(), 1);
        assert_eq!(m.incr.len(), 2);
        assert_eq!(m.shards(), Some(2));
        assert_eq!(
            m.incr_files(1).map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["appendonly.aof.3.incr.1.aof"]
        );
        assert_eq!(String::from_utf8(m.render()).unwrap(), text);
    }

    #[test]
    fn accepts_what_redis_writes() {
        // What redis-server 7.0.15 writes with appendonly yes.
        let m = Manifest::parse(
            b"file appendonly.aof.1.base.rdb seq 1 type b\n\
              file appendonly.aof.1.incr.aof seq 1 type i\n",
        )
        .unwrap();
        assert_eq!((m.incr[0].seq, m.incr[0].shard), (1, None));
        // Comments, keys in any case, and keys it does not know (forward compatibility).
        let m = Manifest::parse(b"# comment\nFILE a.1.incr.0.aof SEQ 1 TYPE i shard 0 future x\n")
            .unwrap();
        assert_eq!((m.incr[0].seq, m.incr[0].shard), (1, Some(0)));
    }

    #[test]
    fn refuses_what_redis_refuses_naming_the_line() {
        assert_eq!(err("").1, "Found an empty AOF manifest");
        assert_eq!(
            err("file a seq 1 type b").1,
            "The AOF manifest file contains too long line"
        );
        assert_eq!(err("\n"), (1, "Invalid AOF manifest file format".into()));
        assert_eq!(
            err("file a seq 1 type b\nfile b seq 1\n"),
            (2, "Invalid AOF manifest file format".into())
        );
        assert_eq!(
            err("file a/b seq 1 type b\n").1,
            "File can't be a path, just a filename"
        );
        assert_eq!(
            err("file a seq x type b\n").1,
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            err("file a seq 1 type b\nfile b seq 2 type b\n"),
            (2, "Found duplicate base file information".into())
        );
        assert_eq!(
            err("file a seq 2 type i shard 0\nfile b seq 1 type i shard 0\n"),
            (2, "Found a non-monotonic sequence number".into())
        );
        assert_eq!(
            err("file a seq 2 type i shard 1\nfile b seq 2 type i shard 1\n").1,
            "Found a non-monotonic sequence number"
        );
        assert_eq!(err("file a seq 1 type z\n").1, "Unknown AOF file type");
        assert_eq!(
            err("file a seq 2 type i\nfile b seq 2 type i\n").1,
            "Found a non-monotonic sequence number"
        );
        assert_eq!(
            err("file \"a seq 1 type b\n").1,
            "Invalid AOF manifest file format"
        );
        let long = format!("file {} seq 1 type b\n", "x".repeat(1100));
        assert_eq!(err(&long).1, "The AOF manifest file contains too long line");
    }

    #[test]
    fn odd_names_are_quoted_and_read_back() {
        let mut m = Manifest::new();
        m.base = Some(AofFile {
            name: "we\"ird name\n\u{1}.rdb".into(),
            seq: 1,
            kind: FileKind::Base,
            shard: None,
        });
        let text = m.render();
        assert_eq!(text, b"file \"we\\\"ird name\\n\\x01.rdb\" seq 1 type b\n");
        assert_eq!(Manifest::parse(&text).unwrap(), m);
        assert_eq!(
            split_args(b"a 'b c' \"d\\x41\" e'f'").unwrap(),
            vec![
                b"a".to_vec(),
                b"b c".to_vec(),
                b"dA".to_vec(),
                b"ef".to_vec()
            ]
        );
        assert_eq!(split_args(b"\"a\"b"), None);
    }

    #[test]
    fn a_rewrite_moves_old_files_to_history() {
        let mut m = Manifest::new();
        let first = m.open_incr("appendonly.aof", 2);
        assert_eq!(
            first,
            ["appendonly.aof.1.incr.0.aof", "appendonly.aof.1.incr.1.aof"]
        );
        // A rewrite starts: the shards switch to generation 2, the child writes the base.
        let second = m.open_incr("appendonly.aof", 2);
        assert_eq!(second[1], "appendonly.aof.2.incr.1.aof");
        let base = m.rewrite_done("appendonly.aof", true, 2);
        assert_eq!(base, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incr.len(), 2);
        assert!(m.incr.iter().all(|f| f.seq == 2));
        assert_eq!(m.history.len(), 2);
        let reparsed = Manifest::parse(&m.render()).unwrap();
        assert_eq!(reparsed, m);
        let gone = m.take_history();
        assert_eq!(gone[0].name, "appendonly.aof.1.incr.0.aof");
        m.open_incr("appendonly.aof", 2);
        assert_eq!(
            m.rewrite_done("appendonly.aof", false, 3),
            "appendonly.aof.2.base.aof"
        );
        assert_eq!(m.history[0].name, "appendonly.aof.1.base.rdb");
    }

    #[test]
    fn write_atomic_replaces_the_file() {
        let dir = std::env::temp_dir().join(format!("tessera-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_atomic(&dir, "m", b"one").unwrap();
        write_atomic(&dir, "m", b"two").unwrap();
        assert_eq!(std::fs::read(dir.join("m")).unwrap(), b"two");
        assert!(!dir.join("temp-m").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
