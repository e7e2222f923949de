//! Client-side caching on a four-shard server: a RESP3 client that caches what it reads never
//! keeps a stale value while writers on every shard change the keys; invalidations reach a
//! client it redirects to on another shard, BCAST clients hear every shard, and the table's
//! limit holds over all shards together. Single replies are compared with Redis in
//! tests/scripts/tracking.redis.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{parse_reply, RawConn, Reply, Server};

fn next(conn: &mut RawConn) -> Reply {
    let bytes = conn.read_reply().unwrap();
    parse_reply(&bytes).unwrap().unwrap().0
}

fn resp3(server: &Server) -> RawConn {
    let mut c = server.connect();
    c.send(&["HELLO", "3"]).unwrap();
    assert!(matches!(next(&mut c), Reply::Map(_)));
    c
}

/// The keys of an `invalidate` push (None for FLUSHALL's null), or None if `reply` is not one.
fn invalidated(reply: &Reply) -> Option<Option<Vec<Vec<u8>>>> {
    let Reply::Push(items) = reply else {
        return None;
    };
    assert_eq!(items[0], Reply::Bulk(b"invalidate".to_vec()), "{reply:?}");
    match &items[1] {
        Reply::Array(keys) => Some(Some(
            keys.iter()
                .map(|k| match k {
                    Reply::Bulk(k) => k.clone(),
                    other => panic!("{other:?}"),
                })
                .collect(),
        )),
        Reply::Null => Some(None),
        other => panic!("{other:?}"),
    }
}

/// A RESP3 tracking client with its cache: every reply it reads may be preceded by pushes,
/// which it applies to the cache as they come.
struct Cacher {
    conn: RawConn,
    cache: HashMap<Vec<u8>, Vec<u8>>,
    invalidations: usize,
}

impl Cacher {
    fn call(&mut self, args: &[&[u8]]) -> Reply {
        self.conn.send(args).unwrap();
        loop {
            let reply = next(&mut self.conn);
            match invalidated(&reply) {
                Some(Some(keys)) => {
                    self.invalidations += 1;
                    for k in keys {
                        self.cache.remove(&k);
                    }
                }
                Some(None) => self.cache.clear(),
                None => return reply,
            }
        }
    }

    fn get(&mut self, key: &[u8]) {
        if self.cache.contains_key(key) {
            return;
        }
        match self.call(&[b"GET", key]) {
            Reply::Bulk(v) => {
                self.cache.insert(key.to_vec(), v);
            }
            Reply::Null => {}
            other => panic!("{other:?}"),
        }
    }
}

fn keys(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("key:{i}").into_bytes()).collect()
}

#[test]
fn a_cache_is_never_left_stale_by_writers_on_other_shards() {
    let server = Server::tessera_threads(4, &[]);
    let keys = Arc::new(keys(64));
    let mut setup = server.connect();
    for k in keys.iter() {
        setup.send(&[&b"SET"[..], k, b"0"]).unwrap();
        setup.read_reply().unwrap();
    }
    let mut cacher = Cacher {
        conn: resp3(&server),
        cache: HashMap::new(),
        invalidations: 0,
    };
    assert_eq!(
        cacher.call(&[b"CLIENT", b"TRACKING", b"on"]),
        Reply::Simple(b"OK".to_vec())
    );
    let stop = Arc::new(AtomicBool::new(false));
    // Enough writer connections that the kernel puts some on every shard.
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (port, keys, stop) = (server.port, keys.clone(), stop.clone());
            thread::spawn(move || {
                let mut c = RawConn::connect(port).unwrap();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let k = &keys[(n as usize * 7 + w * 13) % keys.len()];
                    c.send(&[&b"SET"[..], k, format!("{w}-{n}").as_bytes()])
                        .unwrap();
                    c.read_reply().unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut i = 0;
    while Instant::now() < deadline {
        cacher.get(&keys[i % keys.len()]);
        i += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let writes: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    // Every writer has its replies: the invalidations of its writes are on their way to the
    // cacher's shard ahead of anything it sends now.
    assert_eq!(cacher.call(&[b"PING"]), Reply::Simple(b"PONG".to_vec()));
    let mut check = server.connect();
    let mut stale = Vec::new();
    for (k, cached) in &cacher.cache {
        check.send(&[&b"GET"[..], k]).unwrap();
        let bytes = check.read_reply().unwrap();
        let Reply::Bulk(now) = parse_reply(&bytes).unwrap().unwrap().0 else {
            panic!()
        };
        if &now != cached {
            stale.push(String::from_utf8_lossy(k).into_owned());
        }
    }
    assert!(stale.is_empty(), "stale after {writes} writes: {stale:?}");
    assert!(
        cacher.invalidations > 100,
        "{} invalidations for {writes} writes and {i} reads",
        cacher.invalidations
    );
}

#[test]
fn invalidations_reach_a_redirect_on_another_shard_and_a_broken_one_is_told() {
    let server = Server::tessera_threads(4, &[]);
    // Several subscribers, so that some live on another shard than the tracking client.
    let mut subscribers: Vec<(RawConn, i64)> = (0..6)
        .map(|_| {
            let mut c = server.connect();
            c.send(&["CLIENT", "ID"]).unwrap();
            let Reply::Integer(id) = next(&mut c) else {
                panic!()
            };
            c.send(&["SUBSCRIBE", "__redis__:invalidate"]).unwrap();
            next(&mut c);
            (c, id)
        })
        .collect();
    let mut writer = server.connect();
    for (n, (sub, id)) in subscribers.iter_mut().enumerate() {
        let mut tracker = server.connect();
        let id = id.to_string();
        tracker
            .send(&["CLIENT", "TRACKING", "on", "REDIRECT", &id])
            .unwrap();
        assert_eq!(next(&mut tracker), Reply::Simple(b"OK".to_vec()));
        tracker.send(&["CLIENT", "GETREDIR"]).unwrap();
        assert_eq!(next(&mut tracker), Reply::Integer(id.parse().unwrap()));
        let key = format!("{{k{n}}}x");
        tracker.send(&["GET", &key]).unwrap();
        next(&mut tracker);
        writer.send(&["SET", &key, "1"]).unwrap();
        next(&mut writer);
        assert_eq!(
            next(sub),
            Reply::Array(vec![
                Reply::Bulk(b"message".to_vec()),
                Reply::Bulk(b"__redis__:invalidate".to_vec()),
                Reply::Array(vec![Reply::Bulk(key.into_bytes())]),
            ])
        );
    }
    // A RESP3 tracker whose redirect leaves hears so at the next invalidation.
    let (mut gone, gone_id) = subscribers.pop().unwrap();
    let mut tracker = resp3(&server);
    tracker
        .send(&["CLIENT", "TRACKING", "on", "REDIRECT", &gone_id.to_string()])
        .unwrap();
    next(&mut tracker);
    tracker.send(&["GET", "{z}k"]).unwrap();
    next(&mut tracker);
    gone.send(&["QUIT"]).unwrap();
    next(&mut gone);
    thread::sleep(Duration::from_millis(50));
    writer.send(&["SET", "{z}k", "2"]).unwrap();
    next(&mut writer);
    assert_eq!(
        next(&mut tracker),
        Reply::Push(vec![
            Reply::Bulk(b"tracking-redir-broken".to_vec()),
            Reply::Integer(gone_id),
        ])
    );
    tracker.send(&["CLIENT", "INFO"]).unwrap();
    let Reply::Verbatim(info) = next(&mut tracker) else {
        panic!()
    };
    assert!(
        String::from_utf8_lossy(&info).contains("flags=tR "),
        "{info:?}"
    );
}

#[test]
fn bcast_clients_hear_every_shard() {
    let server = Server::tessera_threads(4, &[]);
    let mut listener = resp3(&server);
    listener
        .send(&[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "NOLOOP",
        ])
        .unwrap();
    next(&mut listener);
    let mut writers: Vec<RawConn> = (0..8).map(|_| server.connect()).collect();
    let mut expected = Vec::new();
    for (i, w) in writers.iter_mut().enumerate() {
        let key = format!("user:{i}");
        w.send(&["SET", &key, "x"]).unwrap();
        next(w);
        w.send(&["SET", &format!("other:{i}"), "x"]).unwrap();
        next(w);
        expected.push(key.into_bytes());
    }
    // Its own change is not sent back (NOLOOP).
    listener.send(&["SET", "user:mine", "x"]).unwrap();
    let mut heard = Vec::new();
    loop {
        let reply = next(&mut listener);
        match invalidated(&reply) {
            Some(Some(keys)) => heard.extend(keys),
            Some(None) => panic!("no flush here"),
            None => break,
        }
    }
    listener.send(&["PING"]).unwrap();
    loop {
        let reply = next(&mut listener);
        match invalidated(&reply) {
            Some(Some(keys)) => heard.extend(keys),
            _ => break,
        }
    }
    heard.sort();
    expected.sort();
    assert_eq!(heard, expected);
}

#[test]
fn the_table_limit_holds_over_all_shards_together() {
    let server = Server::tessera_threads(4, &[]);
    let mut cacher = Cacher {
        conn: resp3(&server),
        cache: HashMap::new(),
        invalidations: 0,
    };
    cacher.call(&[b"CLIENT", b"TRACKING", b"on"]);
    let keys = keys(100);
    for k in &keys {
        cacher.call(&[b"SET", k, b"v"]);
        cacher.get(k);
    }
    let mut admin = server.connect();
    let info = |admin: &mut RawConn| {
        admin.send(&["INFO", "stats"]).unwrap();
        let Reply::Bulk(text) = next(admin) else {
            panic!()
        };
        let text = String::from_utf8(text).unwrap();
        let field = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        (field("tracking_total_keys"), field("tracking_total_items"))
    };
    assert_eq!(info(&mut admin), (100, 100));
    admin
        .send(&["CONFIG", "SET", "tracking-table-max-keys", "10"])
        .unwrap();
    next(&mut admin);
    // Exactly the keys past the limit are invalidated, whichever shards held them.
    cacher.call(&[b"PING"]);
    assert_eq!(cacher.invalidations, 90);
    assert_eq!(cacher.cache.len(), 10);
    assert_eq!(info(&mut admin), (10, 10));
    admin
        .send(&["CONFIG", "SET", "tracking-table-max-keys", "1000000"])
        .unwrap();
    next(&mut admin);
}
