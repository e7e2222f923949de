//! `tessera-check-aof` on crafted files: valid ones pass, an incomplete end is reported and
//! fixed on request, corruption in the middle is reported and never "fixed".

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tessera::aof::log::encode;
use tessera::aof::manifest::Manifest;
use tessera::aof::AofLog;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d =
            std::env::temp_dir().join(format!("tessera-check-aof-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the tool; returns (success, stdout).
fn run(args: &[&str], path: &Path, stdin: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera-check-aof"))
        .args(args)
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A small log whose one-part transaction has id `id`.
fn sample_with(id: u64) -> Vec<u8> {
    let mut log = AofLog::new();
    log.command(0, &["SET", "a", "1"]);
    log.command(1, &["RPUSH", "l", "x", "y"]);
    log.tx_begin(id, 1);
    log.command(1, &["SADD", "s", "m"]);
    log.tx_end(id);
    log.take()
}

fn sample() -> Vec<u8> {
    sample_with(9)
}

#[test]
fn a_valid_file_is_valid() {
    let d = Dir::new("valid");
    let p = d.write("appendonly.aof", &sample());
    let (ok, out) = run(&[], &p, "");
    assert!(ok, "{out}");
    assert!(out.contains("is valid"), "{out}");
}

#[test]
fn an_incomplete_end_is_fixed_after_asking() {
    let d = Dir::new("truncated");
    let whole = sample();
    let mut cut = whole.clone();
    let mut tail = Vec::new();
    encode(&mut tail, &["SET", "b", "2"]);
    cut.extend_from_slice(&tail[..tail.len() - 3]);
    let p = d.write("appendonly.aof", &cut);

    let (ok, out) = run(&[], &p, "");
    assert!(!ok);
    assert!(out.contains(&format!("ok_up_to={}", whole.len())), "{out}");
    assert!(out.contains("is not valid. Use the --fix option"), "{out}");

    let (ok, out) = run(&["--fix"], &p, "n\n");
    assert!(!ok);
    assert!(out.contains("Aborting..."), "{out}");
    assert_eq!(std::fs::read(&p).unwrap(), cut);

    let (ok, out) = run(&["--fix"], &p, "y\n");
    assert!(ok, "{out}");
    assert!(out.contains("Successfully truncated AOF"), "{out}");
    assert_eq!(std::fs::read(&p).unwrap(), whole);
    assert!(run(&[], &p, "").0);
}

#[test]
fn an_unfinished_part_is_cut_at_its_begin() {
    let d = Dir::new("part");
    let whole = sample();
    let mut cut = whole.clone();
    let mut log = AofLog::new();
    log.tx_begin(10, 2);
    log.command(0, &["SET", "b", "2"]);
    cut.extend_from_slice(&log.take());
    let p = d.write("appendonly.aof", &cut);
    let (ok, out) = run(&["--fix", "--yes"], &p, "");
    assert!(ok, "{out}");
    assert_eq!(std::fs::read(&p).unwrap(), whole);
}

#[test]
fn corruption_in_the_middle_is_never_fixed() {
    let d = Dir::new("corrupt");
    let mut bad = sample();
    bad[20] = b'#';
    bad.extend_from_slice(&sample());
    let p = d.write("appendonly.aof", &bad);
    let (ok, out) = run(&["--fix", "--yes"], &p, "");
    assert!(!ok);
    assert!(out.contains("before its end"), "{out}");
    assert_eq!(std::fs::read(&p).unwrap(), bad);

    let mut unknown = sample();
    let mut log = AofLog::new();
    log.command(0, &["NOSUCHCOMMAND", "x"]);
    unknown.extend_from_slice(&log.take());
    unknown.extend_from_slice(&sample());
    let p = d.write("unknown.aof", &unknown);
    let (ok, out) = run(&[], &p, "");
    assert!(!ok);
    assert!(out.contains("Unknown command 'NOSUCHCOMMAND'"), "{out}");
}

#[test]
fn a_manifest_checks_every_shard_and_fixes_only_last_files() {
    let d = Dir::new("manifest");
    let mut m = Manifest::new();
    let gen1 = m.open_incr("appendonly.aof", 2);
    let gen2 = m.open_incr("appendonly.aof", 2);
    d.write(&gen1[0], &sample_with(1));
    d.write(&gen1[1], &sample_with(2));
    d.write(&gen2[0], &sample_with(3));
    // Shard 1's last file: an incomplete end, and a part whose other half never came.
    let mut last = sample_with(4);
    let mut log = AofLog::new();
    log.tx_begin(77, 2);
    log.command(0, &["SET", "x", "1"]);
    log.tx_end(77);
    let whole_len = last.len() + log.pending();
    last.extend_from_slice(&log.take());
    last.extend_from_slice(b"*2\r\n$3\r\nDEL");
    d.write(&gen2[1], &last);
    let base = m.rewrite_done("appendonly.aof", true, 1);
    d.write(&base, b"REDIS0010\xfa");
    let mp = d.write("appendonly.aof.manifest", &m.render());

    let (ok, out) = run(&[], &mp, "");
    assert!(!ok, "{out}");
    assert!(out.contains("Start checking Multi Part AOF"), "{out}");
    assert!(out.contains("RDB header (version 0010)"), "{out}");

    let (ok, out) = run(&["--fix", "--yes"], &mp, "");
    assert!(ok, "{out}");
    assert!(
        out.contains("All AOF files and manifest are valid"),
        "{out}"
    );
    assert!(
        out.contains("1 multi-shard write(s) have parts missing"),
        "{out}"
    );
    assert_eq!(std::fs::read(d.0.join(&gen2[1])).unwrap().len(), whole_len);

    // An incomplete end in an older file of a shard cannot be fixed.
    let mut older = sample_with(1);
    older.extend_from_slice(b"*1\r\n");
    d.write(&gen1[0], &older);
    let (ok, out) = run(&["--fix", "--yes"], &mp, "");
    assert!(!ok, "{out}");
    assert!(out.contains("only the last one can be fixed"), "{out}");
}
