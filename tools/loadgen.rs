//! `tessera-load`: a memtier_benchmark-style load generator that also checks every reply.
//!
//! memtier_benchmark is not packaged for Debian, so this reproduces the load shape users run
//! with it: several threads, several connections each, pipelined requests, a SET:GET ratio over
//! a random key space with fixed-size values. Unlike a pure benchmark it verifies each reply: a
//! SET must answer +OK, and a GET must return nil or a value this run could have written. Any
//! other reply is an error, counted and shown; the exit status is non-zero if there was one.
//!
//! Usage: tessera-load [--port 6379] [--threads 2] [--clients 25] [--pipeline 16]
//!                     [--requests 20000] [--ratio 1:10] [--keys 100000] [--data-size 32]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

struct Options {
    port: u16,
    threads: usize,
    clients: usize,
    pipeline: usize,
    requests: usize,
    sets: usize,
    gets: usize,
    keys: u64,
    data_size: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        port: 6379,
        threads: 2,
        clients: 25,
        pipeline: 16,
        requests: 20_000,
        sets: 1,
        gets: 10,
        keys: 100_000,
        data_size: 32,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args
            .get(i + 1)
            .ok_or_else(|| format!("{} needs a value", args[i]))?;
        let num = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{}: not a number: {value}", args[i]))
        };
        match args[i].as_str() {
            "--port" => o.port = num()? as u16,
            "--threads" => o.threads = num()?,
            "--clients" => o.clients = num()?,
            "--pipeline" => o.pipeline = num()?.max(1),
            "--requests" => o.requests = num()?,
            "--keys" => o.keys = num()?.max(1) as u64,
            "--data-size" => o.data_size = num()?,
            "--ratio" => {
                let (s, g) = value.split_once(':').ok_or("--ratio is SETS:GETS")?;
                o.sets = s.parse().map_err(|_| "--ratio is SETS:GETS")?;
                o.gets = g.parse().map_err(|_| "--ratio is SETS:GETS")?;
            }
            other => return Err(format!("unknown option {other}")),
        }
        i += 2;
    }
    Ok(o)
}

/// A value that names its key, so a GET can be checked without shared state.
fn value_for(key: u64, size: usize) -> Vec<u8> {
    let mut v = format!("v{key}-").into_bytes();
    v.resize(size.max(v.len()), b'x');
    v
}

fn encode(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads one simple-string or bulk reply; other types are returned as their first line.
fn read_reply(r: &mut BufReader<TcpStream>) -> std::io::Result<Result<Option<Vec<u8>>, String>> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let line = line.trim_end();
    Ok(match line.as_bytes().first() {
        Some(b'+') => Ok(Some(line.as_bytes()[1..].to_vec())),
        Some(b'$') => match line[1..].parse::<i64>() {
            Ok(-1) => Ok(None),
            Ok(n) => {
                let mut buf = vec![0; n as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(n as usize);
                Ok(Some(buf))
            }
            Err(_) => Err(line.to_string()),
        },
        _ => Err(line.to_string()),
    })
}

fn client(o: &Options, seed: u64, errors: &AtomicU64, done: &AtomicU64) -> std::io::Result<()> {
    let stream = TcpStream::connect(("127.0.0.1", o.port))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut rng = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let cycle = (o.sets + o.gets).max(1) as u64;
    let mut sent = 0;
    while sent < o.requests {
        let batch = o.pipeline.min(o.requests - sent);
        let mut out = Vec::new();
        let mut expect = Vec::with_capacity(batch);
        for _ in 0..batch {
            let key = next() % o.keys;
            let name = format!("memtier-{key}");
            if next() % cycle < o.sets as u64 {
                encode(
                    &[b"SET", name.as_bytes(), &value_for(key, o.data_size)],
                    &mut out,
                );
                expect.push((true, key));
            } else {
                encode(&[b"GET", name.as_bytes()], &mut out);
                expect.push((false, key));
            }
        }
        writer.write_all(&out)?;
        for (is_set, key) in expect {
            let ok = match read_reply(&mut reader)? {
                Ok(Some(v)) if is_set => v == b"OK",
                Ok(Some(v)) => v == value_for(key, o.data_size),
                Ok(None) => !is_set,
                Err(e) => {
                    eprintln!("error reply: {e}");
                    false
                }
            };
            if !ok {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        sent += batch;
        done.fetch_add(batch as u64, Ordering::Relaxed);
    }
    Ok(())
}

fn main() {
    let o = match parse_options() {
        Ok(o) => Arc::new(o),
        Err(e) => {
            eprintln!("tessera-load: {e}");
            std::process::exit(2);
        }
    };
    let errors = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..o.threads * o.clients)
        .map(|i| {
            let (o, errors, done) = (o.clone(), errors.clone(), done.clone());
            std::thread::spawn(move || client(&o, i as u64 + 1, &errors, &done))
        })
        .collect();
    let mut failed_connections = 0;
    for h in handles {
        if let Ok(Err(e)) | Err(e) = h
            .join()
            .map_err(|_| std::io::Error::other("client thread panicked"))
        {
            eprintln!("connection failed: {e}");
            failed_connections += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let total = done.load(Ordering::Relaxed);
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "{} requests in {:.2}s ({:.0} ops/s) over {} connections, pipeline {}, ratio {}:{}; {} bad replies, {} failed connections",
        total,
        secs,
        total as f64 / secs,
        o.threads * o.clients,
        o.pipeline,
        o.sets,
        o.gets,
        errors,
        failed_connections
    );
    if errors > 0 || failed_connections > 0 {
        std::process::exit(1);
    }
}
