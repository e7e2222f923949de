//! Random commands of the collection families with hostile arguments (huge, negative and NaN
//! numbers, bad ranges, empty and long strings, stray keywords) against a two-shard server:
//! every command gets one well-formed reply within a second, and the server survives. The
//! seed is fixed, so a failure is reproducible; the failing command is printed.

mod common;

use std::time::Duration;

use common::{parse_reply, Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const COMMANDS: &[&str] = &[
    "LPUSH",
    "RPUSH",
    "LPUSHX",
    "RPUSHX",
    "LPOP",
    "RPOP",
    "LLEN",
    "LRANGE",
    "LINDEX",
    "LSET",
    "LINSERT",
    "LREM",
    "LTRIM",
    "LPOS",
    "LMOVE",
    "RPOPLPUSH",
    "LMPOP",
    "HSET",
    "HSETNX",
    "HGET",
    "HMGET",
    "HMSET",
    "HDEL",
    "HEXISTS",
    "HLEN",
    "HSTRLEN",
    "HKEYS",
    "HVALS",
    "HGETALL",
    "HINCRBY",
    "HINCRBYFLOAT",
    "HRANDFIELD",
    "HSCAN",
    "SADD",
    "SREM",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SMEMBERS",
    "SRANDMEMBER",
    "SPOP",
    "SMOVE",
    "SINTER",
    "SINTERCARD",
    "SINTERSTORE",
    "SUNION",
    "SUNIONSTORE",
    "SDIFF",
    "SDIFFSTORE",
    "SSCAN",
    "ZADD",
    "ZINCRBY",
    "ZREM",
    "ZCARD",
    "ZCOUNT",
    "ZLEXCOUNT",
    "ZSCORE",
    "ZMSCORE",
    "ZRANK",
    "ZREVRANK",
    "ZRANGE",
    "ZRANGESTORE",
    "ZRANGEBYSCORE",
    "ZREVRANGEBYSCORE",
    "ZRANGEBYLEX",
    "ZREVRANGEBYLEX",
    "ZREVRANGE",
    "ZREMRANGEBYRANK",
    "ZREMRANGEBYSCORE",
    "ZREMRANGEBYLEX",
    "ZPOPMIN",
    "ZPOPMAX",
    "ZMPOP",
    "ZRANDMEMBER",
    "ZUNION",
    "ZUNIONSTORE",
    "ZINTER",
    "ZINTERSTORE",
    "ZINTERCARD",
    "ZDIFF",
    "ZDIFFSTORE",
    "ZSCAN",
    "SORT",
    "SORT_RO",
    "BLPOP",
    "BRPOP",
    "BLMOVE",
    "BRPOPLPUSH",
    "BLMPOP",
    "BZPOPMIN",
    "BZPOPMAX",
    "BZMPOP",
    "OBJECT",
    "TYPE",
    "DEL",
];

const WORDS: &[&str] = &[
    "a",
    "b",
    "k1",
    "k2",
    "k3",
    "{t}x",
    "0",
    "1",
    "-1",
    "2",
    "3",
    "10",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "1.5",
    "(1",
    "[a",
    "(a",
    "-",
    "+",
    "LEFT",
    "RIGHT",
    "MIN",
    "MAX",
    "COUNT",
    "LIMIT",
    "WITHSCORES",
    "WITHVALUES",
    "BYSCORE",
    "BYLEX",
    "REV",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "STORE",
    "BY",
    "GET",
    "#",
    "w_*",
    "h_*->f",
    "ALPHA",
    "DESC",
    "ASC",
    "MATCH",
    "*",
    "TYPE",
    "WEIGHTS",
    "AGGREGATE",
    "SUM",
    "BEFORE",
    "AFTER",
    "RANK",
    "MAXLEN",
    "encoding",
    "",
];

#[test]
fn random_collection_commands_always_get_a_reply() {
    let server = Server::tessera(&[]);
    let mut conn = server.connect();
    conn.set_reply_timeout(Duration::from_secs(1)).unwrap();
    let mut rng = StdRng::seed_from_u64(20261128);
    let long = "x".repeat(70);
    for i in 0..20_000 {
        let name = COMMANDS[rng.gen_range(0..COMMANDS.len())];
        let mut args: Vec<String> = vec![name.to_string()];
        for _ in 0..rng.gen_range(0..8) {
            args.push(if rng.gen_ratio(1, 30) {
                long.clone()
            } else {
                WORDS[rng.gen_range(0..WORDS.len())].to_string()
            });
        }
        // Blocking commands wait at most 10 ms (their timeout is the last argument, or the
        // first for BLMPOP/BZMPOP).
        if name.starts_with('B') && args.len() > 1 {
            let at = if name.ends_with("MPOP") {
                1
            } else {
                args.len() - 1
            };
            args[at] = "0.01".into();
        }
        let reply = conn
            .command(&args)
            .unwrap_or_else(|e| panic!("command {i} {args:?} got no reply: {e}"));
        assert!(
            matches!(parse_reply(&reply), Ok(Some((_, n))) if n == reply.len()),
            "command {i} {args:?}: malformed reply {reply:?}"
        );
    }
    assert_eq!(server.connect().command(&["PING"]).unwrap(), b"+PONG\r\n");
}
