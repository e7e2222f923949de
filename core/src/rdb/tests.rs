use super::*;
use crate::db::EncodingLimits;

fn limits() -> EncodingLimits {
    EncodingLimits::default()
}

/// Type, encoding and contents in a comparable form (sets and hashes sorted).
fn contents(v: &Value) -> (&'static str, &'static str, Vec<Vec<u8>>) {
    let items: Vec<Vec<u8>> = match v {
        Value::Str(s) => vec![s.to_bytes().to_vec()],
        Value::List(l) => l.iter().map(|e| e.to_bytes().to_vec()).collect(),
        Value::Set(s) => {
            let mut m: Vec<Vec<u8>> = s.iter().map(|m| m.to_bytes().to_vec()).collect();
            m.sort();
            m
        }
        Value::ZSet(z) => z
            .iter()
            .flat_map(|(m, s)| [m.to_vec(), format!("{s:?}").into_bytes()])
            .collect(),
        Value::Hash(h) => {
            let mut p: Vec<Vec<u8>> = h
                .iter()
                .map(|(f, v)| {
                    [f.to_bytes().to_vec(), b"=".to_vec(), v.to_bytes().to_vec()].concat()
                })
                .collect();
            p.sort();
            p
        }
    };
    (v.type_name(), v.encoding(), items)
}

fn round_trip(v: &Value) {
    round_trip_with(v, &limits());
}

fn round_trip_with(v: &Value, l: &EncodingLimits) {
    for compress in [false, true] {
        let payload = dump_payload(v, compress);
        let back = parse_dump_payload(&payload, l).expect("payload decodes");
        let (want, got) = (contents(v), contents(&back));
        assert_eq!((want.0, &want.2), (got.0, &got.2), "compress={compress}");
        if !matches!(v, Value::Str(_)) {
            // Loading picks the encoding by the limits; a string's by its bytes (an integer
            // written by INCRBYFLOAT comes back int-encoded, as in Redis).
            assert_eq!(want.1, got.1);
        }
        // Deterministic encodings re-encode to the same bytes.
        assert!(
            dump_payload(&back, compress) == payload,
            "re-encoding differs"
        );
    }
}

fn small_list(elems: &[&str]) -> Value {
    Value::List(Box::new(List::from_elems(
        -2,
        elems.iter().map(|s| s.as_bytes()),
    )))
}

fn hash_of(pairs: &[(&str, &str)], l: &EncodingLimits) -> Value {
    Value::Hash(Hash::from_pairs(
        pairs.iter().map(|(f, v)| (f.as_bytes(), v.as_bytes())),
        hash_limits(l),
    ))
}

#[test]
fn strings_round_trip() {
    for s in [
        &b""[..],
        b"0",
        b"-1",
        b"127",
        b"-128",
        b"32767",
        b"2147483647",
        b"-2147483648",
        b"2147483648",
        b"9223372036854775807",
        b"007",
        b"hello",
        &[b'a'; 100],
        &[0xff; 300],
    ] {
        round_trip(&Value::from_bytes(s));
        round_trip(&Value::from_bytes_no_int(s));
    }
    let long: Vec<u8> = (0..100_000u32).map(|i| (i % 97) as u8).collect();
    round_trip(&Value::from_bytes(&long));
}

#[test]
fn collections_round_trip_in_every_encoding() {
    let l = limits();
    round_trip(&small_list(&["a", "1", "-5000", "hello world", ""]));
    let many: Vec<String> = (0..5000).map(|i| format!("element-{i}")).collect();
    round_trip(&Value::List(Box::new(List::from_elems(-2, many.iter()))));
    let mut fill3 = limits();
    fill3.list_max_listpack_size = 3;
    round_trip_with(
        &Value::List(Box::new(List::from_elems(3, many.iter()))),
        &fill3,
    );

    let ints = Set::from_members(["1", "2", "70000"], 512);
    assert_eq!(ints.encoding(), "intset");
    round_trip(&Value::Set(ints));
    round_trip(&Value::Set(Set::from_members(
        ["-9223372036854775808", "5"],
        512,
    )));
    let strs = Set::from_members(["a", "b", "3"], 512);
    assert_eq!(strs.encoding(), "hashtable");
    round_trip(&Value::Set(strs));

    let zl = zset_limits(&l);
    let small = ZSet::from_pairs([("a", 1.5), ("b", 2.0), ("c", 0.1), ("d", -3.0)], zl);
    assert_eq!(small.encoding(), "listpack");
    round_trip(&Value::ZSet(small));
    let members: Vec<(String, f64)> = (0..300)
        .map(|i| (format!("m{i}"), i as f64 / 7.0))
        .collect();
    let big = ZSet::from_pairs(members.iter().map(|(m, s)| (m.as_str(), *s)), zl);
    assert_eq!(big.encoding(), "skiplist");
    round_trip(&Value::ZSet(big));
    round_trip(&Value::ZSet(ZSet::from_pairs(
        [
            ("inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("big", 1e300),
        ],
        zl,
    )));

    let h = hash_of(&[("a", "1"), ("b", "hello"), ("123", "-77")], &l);
    assert_eq!(h.encoding(), "listpack");
    round_trip(&h);
    let long = "x".repeat(100);
    let h = hash_of(&[("a", "1"), ("long", &long)], &l);
    assert_eq!(h.encoding(), "hashtable");
    round_trip(&h);
}

/// Payloads captured from redis-server 7.0.15 (`DUMP`): Tessera decodes them and writes the
/// very same bytes back.
#[test]
fn redis_payloads_byte_identical() {
    let cases: &[&[u8]] = &[
        // HSET h a 1
        b"\x10\x0c\x0c\x00\x00\x00\x02\x00\x81a\x02\x01\x01\xff\n\x00\x84\xa6\x93\xe8\xaa\x17\xe4\xdb",
        // RPUSH l a 1 -5000
        b"\x12\x01\x02\x10\x10\x00\x00\x00\x03\x00\x81a\x02\x01\x01\xf1x\xec\x03\xff\n\x00\xbetw%\xa2q\x99\xb2",
        // ZADD z 1.5 a 2 b -0 c
        b"\x11\x19\x19\x00\x00\x00\x06\x00\x81c\x02\x00\x01\x81a\x02\x831.5\x04\x81b\x02\x02\x01\xff\n\x00J \x87\x97\x17\xf3\x06\xc3",
        // SADD s 1 2 70000
        b"\x0b\x14\x04\x00\x00\x00\x03\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00p\x11\x01\x00\n\x00\x85\xd5\xc1\x06[\x1d\xd0U",
        // SET a <100 x 'a'> (LZF)
        b"\x00\xc3\t@d\x01aa\xe0W\x00\x01aa\n\x00\xe8\xa3\xb5\x07\xb0m\xf2q",
        // SET i 12345
        b"\x00\xc190\n\x00\x9d\x94\xea'\x93\xfc\x08\xb9",
        // SET big 9223372036854775807
        b"\x00\x139223372036854775807\n\x00:e~\x94\x81\xe8_\"",
        // SADD k 1 -2 70000 5000000000 (an 8-byte-wide intset, LZF-compressed)
        b"\x0b\xc3 (\x04\x08\x00\x00\x00\x04 \x03\x01\xfe\xff\x80\x00\x00\x01 \x0b@\x00\x01p\x11\xa0\t\x02\xf2\x05* \t\x00\x00\n\x00\xc4\x82]CR\xa8\xd5\xd2",
        // ZADD zf 0.1 x (listpack LZF-compressed)
        b"\x11\xc3\x16\x1f\r\x1f\x00\x00\x00\x02\x00\x81x\x02\x930.10\xe0\x05\x00\x021\x14\xff\n\x00\xec\xb9\xc4\xc1\xcd\x1d\xf1\xdc",
    ];
    for payload in cases {
        let v = parse_dump_payload(payload, &limits()).expect("Redis payload decodes");
        let ours = dump_payload(&v, true);
        assert!(
            ours == *payload,
            "{v:?}\nours:  {ours:x?}\nredis: {payload:x?}"
        );
    }
    // list-max-listpack-size 2: three nodes, as Redis splits them.
    let ql: &[u8] = b"\x12\x03\x02\r\r\x00\x00\x00\x02\x00\x81a\x02\x81b\x02\xff\x02\r\r\x00\x00\x00\x02\x00\x81c\x02\x81d\x02\xff\x02\n\n\x00\x00\x00\x01\x00\x81e\x02\xff\n\x00\xecR6\xa7` \xa1\xdb";
    let mut l2 = limits();
    l2.list_max_listpack_size = 2;
    let v = parse_dump_payload(ql, &l2).expect("decodes");
    assert_eq!(dump_payload(&v, true), ql);
    // zset-max-listpack-entries 1: skiplist, written highest first.
    let zs: &[u8] = b"\x05\x02\x01b\x00\x00\x00\x00\x00\x00\x04@\x01a\x00\x00\x00\x00\x00\x00\xf0?\n\x00\xf4n\xb79\x19vr\x91";
    let mut l1 = limits();
    l1.zset_max_listpack_entries = 1;
    let v = parse_dump_payload(zs, &l1).expect("decodes");
    assert_eq!(v.encoding(), "skiplist");
    assert_eq!(dump_payload(&v, true), zs);
    // Under the default limits the same payload loads as a listpack, as Redis converts.
    assert_eq!(
        parse_dump_payload(zs, &limits()).map(|v| v.encoding()).ok(),
        Some("listpack")
    );
}

#[test]
fn dump_footer_checks() {
    let mut p = dump_payload(&Value::from_bytes(b"hello"), true);
    assert!(verify_dump_payload(&p).is_ok());
    let n = p.len();
    p[n - 1] ^= 1;
    assert!(verify_dump_payload(&p).is_err());
    p[n - 1] ^= 1;
    // Version 13 is refused even with a right checksum.
    let body = n - 10;
    p[body] = 13;
    let crc = crc64::crc64(0, &p[..body + 2]);
    p[body + 2..].copy_from_slice(&crc.to_le_bytes());
    assert!(verify_dump_payload(&p).is_err());
    assert!(verify_dump_payload(b"short").is_err());
}

fn raw(t: u8, bytes: Vec<u8>) -> RawValue {
    RawValue {
        type_byte: t,
        bytes,
    }
}

fn string_bytes(s: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    put_string(&mut out, s, false);
    out
}

#[test]
fn legacy_encodings_by_hand() {
    let l = limits();
    // LIST (1): linked list of strings, one int-encoded.
    let mut b = vec![3];
    b.extend(string_bytes(b"a"));
    b.extend([0xc0, 7]);
    b.extend(string_bytes(b"zz"));
    let v = decode_value(&raw(ty::LIST, b), &l).expect("list");
    assert_eq!(
        contents(&v).2,
        vec![b"a".to_vec(), b"7".to_vec(), b"zz".to_vec()]
    );

    // ZSET (3): string scores, including the special inf/nan bytes.
    let mut b = vec![2];
    b.extend(string_bytes(b"m1"));
    b.extend([3, b'1', b'.', b'5']);
    b.extend(string_bytes(b"m2"));
    b.push(254);
    let v = decode_value(&raw(ty::ZSET, b.clone()), &l).expect("zset");
    assert_eq!(
        contents(&v).2,
        vec![
            b"m1".to_vec(),
            b"1.5".to_vec(),
            b"m2".to_vec(),
            b"inf".to_vec()
        ]
    );
    let n = b.len();
    b[n - 1] = 253; // NaN score: refused
    assert!(decode_value(&raw(ty::ZSET, b), &l).is_err());

    // HASH_ZIPMAP (9)
    let zm = [2u8, 1, b'f', 1, 0, b'v', 1, b'g', 2, 0, b'4', b'2', 0xff];
    let v = decode_value(&raw(ty::HASH_ZIPMAP, string_bytes(&zm)), &l).expect("zipmap");
    assert_eq!(contents(&v).2, vec![b"f=v".to_vec(), b"g=42".to_vec()]);

    // LIST_ZIPLIST (10) and ZSET_ZIPLIST (12) and HASH_ZIPLIST (13) with a hand-made ziplist.
    let zl = ziplist(&[Zl::S(b"a"), Zl::I(5), Zl::S(b"b"), Zl::I(-2000)]);
    let v = decode_value(&raw(ty::LIST_ZIPLIST, string_bytes(&zl)), &l).expect("ziplist");
    assert_eq!(
        contents(&v).2,
        vec![
            b"a".to_vec(),
            b"5".to_vec(),
            b"b".to_vec(),
            b"-2000".to_vec()
        ]
    );
    let v = decode_value(&raw(ty::ZSET_ZIPLIST, string_bytes(&zl)), &l).expect("zset ziplist");
    assert_eq!(
        contents(&v).2,
        vec![
            b"b".to_vec(),
            b"-2000.0".to_vec(),
            b"a".to_vec(),
            b"5.0".to_vec()
        ]
    );
    let v = decode_value(&raw(ty::HASH_ZIPLIST, string_bytes(&zl)), &l).expect("hash ziplist");
    assert_eq!(contents(&v).2, vec![b"a=5".to_vec(), b"b=-2000".to_vec()]);
    // Duplicate field in a hash ziplist: refused.
    let dup = ziplist(&[Zl::S(b"a"), Zl::I(1), Zl::S(b"a"), Zl::I(2)]);
    assert!(decode_value(&raw(ty::HASH_ZIPLIST, string_bytes(&dup)), &l).is_err());

    // LIST_QUICKLIST (14): nodes are ziplists; an empty one is skipped.
    let mut b = vec![3];
    b.extend(string_bytes(&ziplist(&[Zl::S(b"x"), Zl::I(1)])));
    b.extend(string_bytes(&ziplist(&[])));
    b.extend(string_bytes(&ziplist(&[Zl::S(b"y")])));
    let v = decode_value(&raw(ty::LIST_QUICKLIST, b), &l).expect("quicklist v1");
    assert_eq!(
        contents(&v).2,
        vec![b"x".to_vec(), b"1".to_vec(), b"y".to_vec()]
    );

    // SET_INTSET (11) in each width, and SET_LISTPACK (20).
    for (width, vals) in [
        (2u32, vec![-5i64, 7]),
        (4, vec![-70000, 1]),
        (8, vec![i64::MIN, 0, i64::MAX]),
    ] {
        let mut is = vec![];
        is.extend(width.to_le_bytes());
        is.extend((vals.len() as u32).to_le_bytes());
        for v in &vals {
            is.extend(&v.to_le_bytes()[..width as usize]);
        }
        let v = decode_value(&raw(ty::SET_INTSET, string_bytes(&is)), &l).expect("intset");
        assert_eq!(v.encoding(), "intset");
        assert_eq!(v.as_set_len(), vals.len());
    }
    let mut lp = ListpackBuilder::new();
    for m in ["a", "1", "b"] {
        lp.push_bytes(m.as_bytes());
    }
    let v = decode_value(&raw(ty::SET_LISTPACK, string_bytes(&lp.finish())), &l).expect("set lp");
    assert_eq!(
        contents(&v).2,
        vec![b"1".to_vec(), b"a".to_vec(), b"b".to_vec()]
    );
}

impl Value {
    fn as_set_len(&self) -> usize {
        match self {
            Value::Set(s) => s.len(),
            _ => 0,
        }
    }
}

enum Zl<'a> {
    S(&'a [u8]),
    I(i64),
}

/// A ziplist, written by hand for tests (strings < 64 bytes, 16-bit integers).
fn ziplist(items: &[Zl]) -> Vec<u8> {
    let mut entries = vec![];
    let mut tail = 10;
    let mut prev = 0u8;
    for it in items {
        let e = match it {
            Zl::S(s) => [vec![s.len() as u8], s.to_vec()].concat(),
            Zl::I(n) if (0..=12).contains(n) => vec![0xf1 + *n as u8],
            Zl::I(n) => [vec![0xc0], (*n as i16).to_le_bytes().to_vec()].concat(),
        };
        tail = 10 + entries.len();
        entries.push(prev);
        entries.extend_from_slice(&e);
        prev = (e.len() + 1) as u8;
    }
    let mut zl = vec![];
    zl.extend(((11 + entries.len()) as u32).to_le_bytes());
    zl.extend((tail as u32).to_le_bytes());
    zl.extend((items.len() as u16).to_le_bytes());
    zl.extend(entries);
    zl.push(0xff);
    zl
}

#[test]
fn empty_collections_are_empty_keys() {
    let l = limits();
    for t in [
        ty::LIST,
        ty::SET,
        ty::ZSET_2,
        ty::HASH,
        ty::LIST_QUICKLIST_2,
    ] {
        assert!(
            matches!(decode_value(&raw(t, vec![0]), &l), Err(RdbError::EmptyKey)),
            "{t}"
        );
    }
    let empty_lp = ListpackBuilder::new().finish();
    for t in [ty::HASH_LISTPACK, ty::ZSET_LISTPACK, ty::SET_LISTPACK] {
        let r = decode_value(&raw(t, string_bytes(&empty_lp)), &l);
        assert!(matches!(r, Err(RdbError::EmptyKey)), "{t}");
    }
    // A quicklist whose only node is empty.
    let mut b = vec![1, 2];
    b.extend(string_bytes(&empty_lp));
    assert!(matches!(
        decode_value(&raw(ty::LIST_QUICKLIST_2, b), &l),
        Err(RdbError::EmptyKey)
    ));
    // An empty intset is corrupt, as Redis's integrity check says.
    let is = [2u8, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(
        decode_value(&raw(ty::SET_INTSET, string_bytes(&is)), &l),
        Err(RdbError::Format(_))
    ));
}

#[test]
fn duplicates_and_unsupported_types_are_errors() {
    let l = limits();
    let mut b = vec![2];
    b.extend(string_bytes(b"x"));
    b.extend(string_bytes(b"x"));
    assert!(decode_value(&raw(ty::SET, b.clone()), &l).is_err());
    assert!(decode_value(&raw(ty::LIST, b), &l).is_ok());
    for t in [6, 7, 15, 19, 21, 22, 25, 8, 30] {
        let mut p = vec![t, 0];
        p.extend(RDB_VERSION.to_le_bytes());
        let crc = crc64::crc64(0, &p);
        p.extend(crc.to_le_bytes());
        let e = parse_dump_payload(&p, &l).expect_err("unsupported");
        assert!(e.to_string().contains("not supported"), "{e}");
    }
}

fn sample_values() -> Vec<(Vec<u8>, Value)> {
    let l = limits();
    vec![
        (
            b"str".to_vec(),
            Value::from_bytes(b"hello world, hello world, hello world"),
        ),
        (b"int".to_vec(), Value::from_bytes(b"42")),
        (b"list".to_vec(), small_list(&["a", "b", "3"])),
        (
            b"set".to_vec(),
            Value::Set(Set::from_members(["1", "2"], 512)),
        ),
        (
            b"sset".to_vec(),
            Value::Set(Set::from_members(["x", "y"], 512)),
        ),
        (
            b"zset".to_vec(),
            Value::ZSet(ZSet::from_pairs([("a", 1.0)], zset_limits(&l))),
        ),
        (b"hash".to_vec(), hash_of(&[("f", "v")], &l)),
    ]
}

fn sample_file(opts: SaveOptions) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), opts);
    w.header().unwrap();
    w.aux(b"redis-ver", b"7.0.15").unwrap();
    w.aux(b"redis-bits", b"64").unwrap();
    w.select_db(0).unwrap();
    w.resize_db(7, 1).unwrap();
    for (i, (k, v)) in sample_values().iter().enumerate() {
        let (exp, meta) = match i {
            0 => (1_900_000_000_000, KeyMeta::None),
            1 => (0, KeyMeta::Idle(30)),
            2 => (0, KeyMeta::Freq(9)),
            _ => (0, KeyMeta::None),
        };
        w.entry(k, v, exp, meta).unwrap();
    }
    w.select_db(3).unwrap();
    w.entry(b"other", &Value::from_bytes(b"x"), 0, KeyMeta::None)
        .unwrap();
    let n = w.written();
    let out = w.finish().unwrap();
    assert_eq!(out.len() as u64, n + 9);
    out
}

fn read_all(bytes: &[u8]) -> Result<Vec<Item>, RdbError> {
    let mut r = RdbReader::new(bytes)?;
    let mut items = vec![];
    loop {
        let it = r.next()?;
        if matches!(it, Item::End) {
            assert_eq!(r.offset(), bytes.len() as u64);
            return Ok(items);
        }
        items.push(it);
    }
}

#[test]
fn file_round_trip() {
    for (compress, checksum) in [(true, true), (false, false)] {
        let file = sample_file(SaveOptions { compress, checksum });
        assert_eq!(&file[..9], b"REDIS0010");
        if !checksum {
            assert_eq!(&file[file.len() - 8..], &[0; 8]);
        }
        let items = read_all(&file).expect("reads back");
        assert!(
            matches!(&items[0], Item::Aux { key, value } if key == b"redis-ver" && value == b"7.0.15")
        );
        assert!(matches!(&items[1], Item::Aux { value, .. } if value == b"64"));
        assert!(matches!(items[2], Item::SelectDb(0)));
        assert!(matches!(
            items[3],
            Item::ResizeDb {
                keys: 7,
                expires: 1
            }
        ));
        let samples = sample_values();
        for (i, (k, v)) in samples.iter().enumerate() {
            let Item::Key {
                key,
                value,
                expire_at_ms,
                meta,
            } = &items[4 + i]
            else {
                panic!("expected a key, got {:?}", items[4 + i]);
            };
            assert_eq!(key, k);
            let back = decode_value(value, &limits()).expect("decodes");
            assert_eq!(contents(&back), contents(v));
            match i {
                0 => assert_eq!(*expire_at_ms, 1_900_000_000_000),
                1 => assert_eq!(*meta, KeyMeta::Idle(30)),
                2 => assert_eq!(*meta, KeyMeta::Freq(9)),
                _ => assert_eq!((*expire_at_ms, *meta), (0, KeyMeta::None)),
            }
        }
        assert!(matches!(items[4 + samples.len()], Item::SelectDb(3)));
    }
}

#[test]
fn file_corruption_is_detected() {
    let file = sample_file(SaveOptions {
        compress: true,
        checksum: true,
    });
    for cut in 0..file.len() {
        assert!(read_all(&file[..cut]).is_err(), "truncated at {cut}");
    }
    // A flipped byte in a string's data: framing holds, the checksum catches it.
    let mut bad = file.clone();
    let at = bad.windows(6).position(|w| w == b"7.0.15").unwrap();
    bad[at] = b'8';
    let e = read_all(&bad).expect_err("checksum");
    assert!(e.to_string().contains("checksum"), "{e}");
    assert!(read_all(b"REDIS0013\xff")
        .unwrap_err()
        .to_string()
        .contains("version 13"));
    assert!(read_all(b"RUDIS0010\xff").is_err());
    // Version 3 had no checksum.
    assert!(read_all(b"REDIS0003\xff").is_ok());
    // Unsupported opcodes and types name themselves.
    let e = read_all(b"REDIS0010\xf7").unwrap_err().to_string();
    assert!(e.contains("module"), "{e}");
    let e = read_all(b"REDIS0010\x0f\x03key").unwrap_err().to_string();
    assert!(e.contains("key 'key'") && e.contains("stream"), "{e}");
}

#[test]
fn old_expire_and_slot_info() {
    let mut f = b"REDIS0012".to_vec();
    f.push(244);
    f.extend([5, 1, 0]);
    f.push(253);
    f.extend(1000i32.to_le_bytes());
    f.extend([0, 1, b'k', 1, b'v']);
    f.push(255);
    let crc = crc64::crc64(0, &f);
    f.extend(crc.to_le_bytes());
    let items = read_all(&f).expect("reads");
    assert!(matches!(
        &items[0],
        Item::Key {
            expire_at_ms: 1_000_000,
            ..
        }
    ));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn payloads() -> Vec<Vec<u8>> {
        let l = limits();
        let mut v: Vec<Vec<u8>> = sample_values()
            .iter()
            .map(|(_, v)| dump_payload(v, true))
            .collect();
        let long: Vec<String> = (0..200).map(|i| format!("item-{i}")).collect();
        v.push(dump_payload(
            &Value::List(Box::new(List::from_elems(-2, long.iter()))),
            true,
        ));
        v.push(dump_payload(
            &Value::ZSet(ZSet::from_pairs(
                long.iter().map(|m| (m.as_str(), 1.5)),
                zset_limits(&l),
            )),
            false,
        ));
        v.push(dump_payload(
            &hash_of(&[("a", "1"), ("b", &"z".repeat(80))], &l),
            true,
        ));
        let zl = ziplist(&[Zl::S(b"a"), Zl::I(5)]);
        let mut p = vec![ty::HASH_ZIPLIST];
        p.extend(string_bytes(&zl));
        v.push(p);
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn mutated_payloads_never_panic(
            which in 0usize..11,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let all = payloads();
            let mut p = all[which % all.len()].clone();
            for (at, b) in edits {
                let n = p.len();
                p[at % n] = b;
            }
            let keep = p.len() - cut % (p.len() / 4 + 1);
            p.truncate(keep);
            // Decoding without the footer check exercises the value parsers.
            let _ = decode_dump_value(&p, &limits());
            if p.len() > 10 {
                let body = p[..p.len() - 10].to_vec();
                if let Some((&t, rest)) = body.split_first() {
                    let _ = decode_value(&RawValue { type_byte: t, bytes: rest.to_vec() }, &limits());
                }
            }
        }

        #[test]
        fn mutated_files_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        ) {
            let mut f = sample_file(SaveOptions { compress: true, checksum: false });
            for (at, b) in edits {
                let n = f.len();
                f[9 + at % (n - 9)] = b;
            }
            if let Ok(mut r) = RdbReader::new(&f[..]) {
                for _ in 0..100 {
                    match r.next() {
                        Ok(Item::End) | Err(_) => break,
                        Ok(Item::Key { value, .. }) => { let _ = decode_value(&value, &limits()); }
                        Ok(_) => {}
                    }
                }
            }
        }
    }
}

#[test]
fn hostile_lengths_fail_without_allocating_them() {
    // A string value claiming 2^60 bytes in a tiny file.
    let mut f = b"REDIS0010\x00\x01k\x81".to_vec();
    f.extend((1u64 << 60).to_be_bytes());
    f.extend(b"abc");
    let e = read_all(&f).expect_err("truncated");
    assert!(e.to_string().contains("unexpected end of file"), "{e}");
    // A list claiming 2^40 elements, and an LZF string claiming 1 GiB from 3 bytes.
    let mut v = vec![0x81];
    v.extend((1u64 << 40).to_be_bytes());
    assert!(decode_value(&raw(ty::LIST, v), &limits()).is_err());
    let lzf = vec![0xc3, 0x03, 0x80, 0x40, 0, 0, 0, 0x00, b'a', b'b'];
    assert!(decode_value(&raw(ty::STRING, lzf), &limits()).is_err());
}
