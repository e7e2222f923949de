//! The command table against a live `redis-server`.
//!
//! Tessera's table rows decide dispatch: arity errors, write/read-only, key positions for
//! routing, ACL categories. They are also what COMMAND INFO reports, and clients act on that
//! report (cluster clients route by the key positions). So every row, subcommands included,
//! must say what Redis 7.0 says for the same command; this test asks both servers for
//! COMMAND INFO of every command Tessera has and compares the entries, each subcommand on its
//! own (Tessera may implement only some of a container's subcommands).
//!
//! Tips and key specs come from Redis's own record (`src/cmd/redis-commands.resp`), so this
//! also catches a record that is out of date with the installed Redis.

mod common;

use common::{escape, parse_reply, require_redis, RawConn, Reply, Server};

fn info(conn: &mut RawConn, args: &[&[u8]]) -> Reply {
    let bytes = conn.command(args).expect("COMMAND INFO answers");
    parse_reply(&bytes)
        .expect("a valid reply")
        .expect("a whole reply")
        .0
}

/// The fields of a COMMAND INFO entry and its subcommand entries.
fn split(entry: &Reply) -> (String, &[Reply], &[Reply]) {
    let Reply::Array(fields) = entry else {
        panic!("an entry is an array: {entry:?}")
    };
    let Reply::Bulk(name) = &fields[0] else {
        panic!("an entry starts with its name")
    };
    let subs = match &fields[9] {
        Reply::Array(subs) | Reply::Set(subs) => &subs[..],
        other => panic!("element 10 lists subcommands: {other:?}"),
    };
    (
        String::from_utf8_lossy(name).into_owned(),
        &fields[..9],
        subs,
    )
}

fn compare(redis: &mut RawConn, entry: &Reply, problems: &mut Vec<String>) {
    let (name, fields, subs) = split(entry);
    let theirs = match info(redis, &[b"COMMAND", b"INFO", name.as_bytes()]) {
        Reply::Array(mut entries) if entries.len() == 1 => entries.pop().expect("one entry"),
        other => panic!("COMMAND INFO {name} from redis: {other:?}"),
    };
    if matches!(theirs, Reply::Null) {
        // A command of Tessera's own: nothing to compare with.
        return;
    }
    let (_, their_fields, their_subs) = split(&theirs);
    if fields != their_fields {
        problems.push(format!(
            "{name}:\n    redis:   {}\n    tessera: {}",
            escape(&Reply::Array(their_fields.to_vec()).to_bytes(), 600),
            escape(&Reply::Array(fields.to_vec()).to_bytes(), 600)
        ));
    }
    if their_subs.is_empty() != subs.is_empty() {
        problems.push(format!(
            "{name}: redis has {} subcommands, tessera {}",
            their_subs.len(),
            subs.len()
        ));
    }
    for sub in subs {
        compare(redis, sub, problems);
    }
}

#[test]
fn every_row_matches_redis_command_info() {
    require_redis();
    let redis = Server::redis(&[]);
    let tessera = Server::tessera(&[]);
    let mut redis = redis.connect();
    let mut tessera = tessera.connect();
    // RESP3, so that sets and maps are told apart from arrays.
    for conn in [&mut redis, &mut tessera] {
        conn.command(&["HELLO", "3"]).expect("HELLO 3 answers");
    }
    let Reply::Array(entries) = info(&mut tessera, &[b"COMMAND"]) else {
        panic!("COMMAND is an array")
    };
    assert!(!entries.is_empty());
    let mut problems = Vec::new();
    for entry in &entries {
        compare(&mut redis, entry, &mut problems);
    }
    assert!(
        problems.is_empty(),
        "{} command(s) differ from redis-server:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
