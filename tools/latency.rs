//! `tessera-latency`: a lone client's round trip, measured to the microsecond.
//!
//! One connection sends one command at a time, waits for the whole reply, and records how long
//! that took; then prints the percentiles. redis-benchmark reports latencies in coarse buckets
//! (31, 39, 47 ... µs at this scale), too coarse to compare two servers that differ by a few
//! microseconds; this is the second client of `bench/latency.py`.
//!
//! Usage: tessera-latency [--port 6379] [--requests 20000] [--warmup 1000] COMMAND [ARG ...]
//! Prints: `p50 <µs> p90 <µs> p99 <µs> p999 <µs> max <µs>`, with one decimal.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

fn main() {
    let mut port = 6379u16;
    let mut requests = 20_000usize;
    let mut warmup = 1_000usize;
    let mut args = std::env::args().skip(1).peekable();
    while let Some(flag) = args.peek().filter(|a| a.starts_with("--")).cloned() {
        args.next();
        let value = args.next().unwrap_or_default();
        let n: usize = value
            .parse()
            .unwrap_or_else(|_| fail(&format!("{flag}: not a number")));
        match flag.as_str() {
            "--port" => port = n as u16,
            "--requests" => requests = n.max(1),
            "--warmup" => warmup = n,
            _ => fail(&format!("unknown option {flag}")),
        }
    }
    let command: Vec<String> = args.collect();
    if command.is_empty() {
        fail("no command given");
    }
    let mut request = format!("*{}\r\n", command.len()).into_bytes();
    for a in &command {
        request.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| fail(&e.to_string()));
    stream.set_nodelay(true).ok();
    let mut writer = stream.try_clone().unwrap_or_else(|e| fail(&e.to_string()));
    let mut reader = BufReader::new(stream);
    let mut nanos = Vec::with_capacity(requests);
    for i in 0..warmup + requests {
        let start = Instant::now();
        writer
            .write_all(&request)
            .and_then(|_| skip_reply(&mut reader))
            .unwrap_or_else(|e| fail(&e.to_string()));
        if i >= warmup {
            nanos.push(start.elapsed().as_nanos() as u64);
        }
    }
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() as f64 * q) as usize).min(nanos.len() - 1)] as f64 / 1e3;
    println!(
        "p50 {:.1} p90 {:.1} p99 {:.1} p999 {:.1} max {:.1}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}

/// Reads one whole RESP2/RESP3 reply; an error reply is a failure (the benchmark is wrong).
fn skip_reply(r: &mut BufReader<TcpStream>) -> std::io::Result<()> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let (kind, rest) = line.trim_end().split_at(1.min(line.len()));
    let n = || rest.parse::<i64>().unwrap_or(-1);
    match kind {
        "+" | ":" | "_" | "," | "#" | "(" => Ok(()),
        "-" | "" => Err(std::io::Error::other(format!("reply: {}", line.trim_end()))),
        "$" | "=" | "!" if n() >= 0 => {
            let mut buf = vec![0; n() as usize + 2];
            r.read_exact(&mut buf)
        }
        "$" => Ok(()),
        "*" | "~" | ">" => (0..n().max(0)).try_for_each(|_| skip_reply(r)),
        "%" | "|" => (0..2 * n().max(0)).try_for_each(|_| skip_reply(r)),
        _ => Err(std::io::Error::other(format!("unknown reply {line:?}"))),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("tessera-latency: {msg}");
    std::process::exit(2)
}
