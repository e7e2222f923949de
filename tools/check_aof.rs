//! `tessera-check-aof [--fix] [--yes] <appendonly.aof.manifest | file.aof>`: checks AOF files
//! as `redis-check-aof` does, and with `--fix` truncates an incomplete end after asking.
//!
//! Given a manifest, every file it lists is checked: the base (an RDB's header only, or an AOF),
//! then each shard's incremental files, and which multi-shard writes are incomplete (they are
//! skipped when loading). Only an incomplete end can be fixed, and only in the last
//! incremental file of a shard (or a single file given directly): corruption in the middle of
//! a file is reported and left alone, since cutting there would lose whatever follows.
//! Exit status: 0 when everything is valid (or was fixed), 1 otherwise.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tessera::aof::manifest::{self, FileKind};
use tessera::cmd::replay::check;
use tessera::cmd::replay::{scan_transactions, AofError};

struct Options {
    fix: bool,
    yes: bool,
    path: PathBuf,
}

fn usage() -> ExitCode {
    eprintln!("Usage: tessera-check-aof [--fix] [--yes] <file.manifest|file.aof>");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let mut fix = false;
    let mut yes = false;
    let mut path = None;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--fix" => fix = true,
            "--yes" | "-y" => yes = true,
            _ if a.starts_with("--") => return usage(),
            _ if path.is_none() => path = Some(PathBuf::from(a)),
            _ => return usage(),
        }
    }
    let Some(path) = path else {
        return usage();
    };
    let opts = Options { fix, yes, path };
    let ok = if opts.path.to_string_lossy().ends_with(".manifest") {
        check_manifest(&opts)
    } else {
        println!("Start checking Old-Style AOF");
        match std::fs::read(&opts.path) {
            Ok(input) => check_file(&opts, &opts.path, &input, true),
            Err(e) => {
                println!("Cannot open file {}: {e}", opts.path.display());
                false
            }
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn check_manifest(opts: &Options) -> bool {
    println!("Start checking Multi Part AOF");
    let m = match manifest::read(&opts.path) {
        Ok(m) => m,
        Err(e) => {
            println!("Invalid AOF manifest {}: {e}", opts.path.display());
            return false;
        }
    };
    let dir = opts.path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut ok = true;
    if let Some(base) = &m.base {
        let path = dir.join(&base.name);
        match std::fs::read(&path) {
            Err(e) => {
                println!("Cannot open BASE AOF {}: {e}", base.name);
                ok = false;
            }
            Ok(input) if base.name.ends_with(".rdb") || input.starts_with(b"REDIS") => {
                println!("Start to check BASE AOF (RDB format).");
                if input.starts_with(b"REDIS") && input.len() >= 9 {
                    println!(
                        "BASE AOF {} has an RDB header (version {}); its contents are not \
                         checked here",
                        base.name,
                        String::from_utf8_lossy(&input[5..9])
                    );
                } else {
                    println!("BASE AOF {} is not an RDB file", base.name);
                    ok = false;
                }
            }
            Ok(input) => {
                println!("Start to check BASE AOF (AOF format).");
                ok &= check_file(opts, &path, &input, false);
            }
        }
    }
    println!("Start to check INCR files.");
    let incr: Vec<&manifest::AofFile> =
        m.incr.iter().filter(|f| f.kind == FileKind::Incr).collect();
    let mut contents = Vec::new();
    for (i, f) in incr.iter().enumerate() {
        let path = dir.join(&f.name);
        let last_of_shard = !incr[i + 1..].iter().any(|g| g.shard == f.shard);
        match std::fs::read(&path) {
            Err(e) => {
                println!("Cannot open INCR AOF {}: {e}", f.name);
                ok = false;
            }
            Ok(input) => {
                ok &= check_file(opts, &path, &input, last_of_shard);
                // What a fix left is what loading reads.
                contents.push(std::fs::read(&path).unwrap_or(input));
            }
        }
    }
    let files: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    let committed = scan_transactions(&files);
    let mut parts = std::collections::HashSet::new();
    for input in &files {
        for event in tessera::aof::reader::Walker::new(input) {
            if let Ok(tessera::aof::reader::Event::Block {
                kind: tessera::aof::reader::BlockKind::Tx { id, .. },
                ..
            }) = event
            {
                parts.insert(id);
            }
        }
    }
    let incomplete = parts.iter().filter(|id| !committed.contains(**id)).count();
    if incomplete > 0 {
        println!(
            "{incomplete} multi-shard write(s) have parts missing from other shards: they are \
             skipped when loading"
        );
    }
    if ok {
        println!("All AOF files and manifest are valid");
    }
    ok
}

/// Checks one file; with `--fix`, truncates it at an incomplete end when `fixable`.
fn check_file(opts: &Options, path: &Path, input: &[u8], fixable: bool) -> bool {
    let name = path.display().to_string();
    let result = check(input, &name);
    let (ok_up_to, problem) = match &result {
        Ok(_) => (input.len() as u64, None),
        Err(AofError::Truncated { offset, .. }) => (
            *offset,
            Some((*offset, "the file ends inside a record".to_string(), true)),
        ),
        Err(AofError::Corrupt {
            offset, message, ..
        }) => (*offset, Some((*offset, message.clone(), false))),
    };
    if let Some((offset, detail, _)) = &problem {
        println!("0x{offset:>16x}: {detail}");
    }
    println!(
        "AOF analyzed: filename={name}, size={}, ok_up_to={ok_up_to}, diff={}",
        input.len(),
        input.len() as u64 - ok_up_to
    );
    let Some((_, _, truncated)) = problem else {
        println!("AOF {name} is valid");
        return true;
    };
    if !opts.fix {
        println!("AOF {name} is not valid. Use the --fix option to try fixing it.");
        return false;
    }
    if !truncated {
        println!(
            "AOF {name} is corrupt at offset {ok_up_to}, before its end: --fix only removes an \
             incomplete end. Restore the file from a backup."
        );
        return false;
    }
    if !fixable {
        println!("AOF {name} is not the last file of its shard: only the last one can be fixed.");
        return false;
    }
    println!(
        "This will shrink the AOF {name} from {} bytes, with {} bytes, to {ok_up_to} bytes",
        input.len(),
        input.len() as u64 - ok_up_to
    );
    if !opts.yes {
        print!("Continue? [y/N]: ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !answer.trim_start().starts_with(['y', 'Y']) {
            println!("Aborting...");
            return false;
        }
    }
    let truncated = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| {
            f.set_len(ok_up_to)?;
            f.sync_all()
        });
    match truncated {
        Ok(()) => {
            println!("Successfully truncated AOF {name}");
            true
        }
        Err(e) => {
            println!("Failed to truncate AOF {name}: {e}");
            false
        }
    }
}
