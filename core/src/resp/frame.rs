//! Replies as values, rendered at the edge.
//!
//! Shard-side code builds a [`Frame`] and never writes protocol bytes itself: a reply may be
//! computed on another core and carried back through a queue, and only the connection knows
//! whether its client speaks RESP2 or RESP3. [`Frame::write`] is the one place that knows how each
//! kind of reply looks in each protocol version.

use bytes::{BufMut, Bytes, BytesMut};

/// One reply, independent of the protocol version it will be written in.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+OK`: a status line. Never contains CR or LF.
    Simple(Bytes),
    /// `-ERR ...`: the full error text after the dash, e.g. `ERR syntax error`.
    Error(Bytes),
    Integer(i64),
    Bulk(Bytes),
    /// The null bulk string (`$-1` in RESP2).
    Null,
    /// The null array (`*-1` in RESP2), which Redis uses for e.g. a BLPOP timeout.
    NullArray,
    Array(Vec<Frame>),
    /// A RESP3 map; RESP2 clients get a flat array of key, value, key, value...
    Map(Vec<(Frame, Frame)>),
    /// A RESP3 set; RESP2 clients get an array.
    Set(Vec<Frame>),
    /// Pairs that RESP3 clients get as an array of two-element arrays and RESP2 clients as one
    /// flat array (ZRANGE ... WITHSCORES, ZRANDMEMBER ... WITHSCORES), as Redis replies them.
    Pairs(Vec<(Frame, Frame)>),
    /// A RESP3 double; RESP2 clients get a bulk string in Redis's `%.17g` format.
    Double(f64),
    /// A RESP3 boolean; RESP2 clients get the integer 1 or 0.
    Boolean(bool),
    /// A RESP3 verbatim string with its three-letter format (`txt`); RESP2 gets a bulk string.
    Verbatim(&'static str, Bytes),
    /// A RESP3 push message (pub/sub); RESP2 clients get an array.
    Push(Vec<Frame>),
    /// A reply already written out, in bytes that RESP2 and RESP3 share (see
    /// [`BulkArray`]): big replies take the memory of their bytes, not of a frame per
    /// element, and go to the socket without another copy.
    Encoded(Bytes),
}

/// An array of bulk strings written straight into its RESP form, which is the same in RESP2
/// and RESP3. The caller says up front how many elements and how many bytes of them there
/// will be, so that the buffer is allocated once, at its final size.
pub struct BulkArray {
    buf: Vec<u8>,
}

impl BulkArray {
    /// The size of an element of `len` bytes written out: `$<len>\r\n<bytes>\r\n`.
    pub fn element_len(len: usize) -> usize {
        1 + decimal_len(len as u64) + 2 + len + 2
    }

    /// An array of `count` elements that take `elements` bytes written out (the sum of
    /// [`element_len`](Self::element_len) over them). None when that memory cannot be had.
    pub fn new(count: usize, elements: usize) -> Option<BulkArray> {
        let header = 1 + decimal_len(count as u64) + 2;
        let mut buf = Vec::new();
        buf.try_reserve_exact(header.checked_add(elements)?).ok()?;
        buf.push(b'*');
        buf.extend_from_slice(itoa::Buffer::new().format(count).as_bytes());
        buf.extend_from_slice(b"\r\n");
        Some(BulkArray { buf })
    }

    pub fn push(&mut self, element: &[u8]) {
        self.buf.push(b'$');
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(element.len()).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        self.buf.extend_from_slice(element);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn finish(self) -> Frame {
        // Bytes takes the vector's allocation over: no copy.
        Frame::Encoded(Bytes::from(self.buf))
    }
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

impl Frame {
    pub const fn ok() -> Frame {
        Frame::Simple(Bytes::from_static(b"OK"))
    }

    pub fn simple(s: &'static str) -> Frame {
        Frame::Simple(Bytes::from_static(s.as_bytes()))
    }

    pub fn error(s: impl Into<String>) -> Frame {
        Frame::error_bytes(s.into().into_bytes())
    }

    /// An error whose text may quote client input (names, arguments) in any bytes. A CR or LF
    /// there would end the line early and desynchronise the client, so they become spaces, as
    /// Redis's `addReplyErrorFormat` does.
    pub fn error_bytes(mut text: Vec<u8>) -> Frame {
        for b in text.iter_mut() {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        Frame::Error(Bytes::from(text))
    }

    pub fn bulk(b: impl Into<Bytes>) -> Frame {
        Frame::Bulk(b.into())
    }

    pub fn bulk_str(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// About how many bytes the frame takes written out: its payload plus a few bytes of
    /// framing per element. For budgets, not for exact sizes.
    pub fn approx_len(&self) -> usize {
        const FRAMING: usize = 8;
        FRAMING
            + match self {
                Frame::Simple(b)
                | Frame::Error(b)
                | Frame::Bulk(b)
                | Frame::Verbatim(_, b)
                | Frame::Encoded(b) => b.len(),
                Frame::Integer(_) | Frame::Double(_) => 16,
                Frame::Null | Frame::NullArray | Frame::Boolean(_) => 0,
                Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
                    v.iter().map(Frame::approx_len).sum()
                }
                Frame::Map(v) | Frame::Pairs(v) => {
                    v.iter().map(|(a, b)| a.approx_len() + b.approx_len()).sum()
                }
            }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }

    /// Appends this reply to `out` in the given protocol version (2 or 3).
    pub fn write(&self, out: &mut BytesMut, resp3: bool) {
        match self {
            Frame::Simple(s) => line(out, b'+', s),
            Frame::Error(e) => line(out, b'-', e),
            Frame::Integer(n) => write_int_line(out, b':', *n),
            Frame::Bulk(b) => write_bulk(out, b),
            Frame::Encoded(b) => out.put_slice(b),
            Frame::Null | Frame::NullArray if resp3 => out.put_slice(b"_\r\n"),
            Frame::Null => out.put_slice(b"$-1\r\n"),
            Frame::NullArray => out.put_slice(b"*-1\r\n"),
            Frame::Array(items) => {
                write_int_line(out, b'*', items.len() as i64);
                items.iter().for_each(|f| f.write(out, resp3));
            }
            Frame::Set(items) => {
                write_int_line(out, if resp3 { b'~' } else { b'*' }, items.len() as i64);
                items.iter().for_each(|f| f.write(out, resp3));
            }
            Frame::Push(items) => {
                write_int_line(out, if resp3 { b'>' } else { b'*' }, items.len() as i64);
                items.iter().for_each(|f| f.write(out, resp3));
            }
            Frame::Pairs(pairs) => {
                let n = pairs.len() as i64;
                write_int_line(out, b'*', if resp3 { n } else { 2 * n });
                for (a, b) in pairs {
                    if resp3 {
                        out.put_slice(b"*2\r\n");
                    }
                    a.write(out, resp3);
                    b.write(out, resp3);
                }
            }
            Frame::Map(pairs) => {
                if resp3 {
                    write_int_line(out, b'%', pairs.len() as i64);
                } else {
                    write_int_line(out, b'*', 2 * pairs.len() as i64);
                }
                for (k, v) in pairs {
                    k.write(out, resp3);
                    v.write(out, resp3);
                }
            }
            Frame::Double(d) => {
                let text = format_double(*d);
                if resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    write_bulk(out, text.as_bytes());
                }
            }
            Frame::Boolean(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Frame::Boolean(b) => write_int_line(out, b':', *b as i64),
            Frame::Verbatim(format, body) => {
                if resp3 {
                    write_int_line(out, b'=', body.len() as i64 + 4);
                    out.put_slice(format.as_bytes());
                    out.put_u8(b':');
                    out.put_slice(body);
                    out.put_slice(b"\r\n");
                } else {
                    write_bulk(out, body);
                }
            }
        }
    }
}

fn line(out: &mut BytesMut, prefix: u8, body: &[u8]) {
    out.reserve(body.len() + 3);
    out.put_u8(prefix);
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

fn write_int_line(out: &mut BytesMut, prefix: u8, n: i64) {
    let mut buf = itoa::Buffer::new();
    line(out, prefix, buf.format(n).as_bytes());
}

fn write_bulk(out: &mut BytesMut, body: &[u8]) {
    write_int_line(out, b'$', body.len() as i64);
    out.reserve(body.len() + 2);
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

/// Formats a double as Redis 7.0's `addReplyDouble` does: `%.17g`, with `inf`/`-inf`.
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    format_g17(d)
}

/// C's `printf("%.17g", d)` for a finite double.
pub fn format_g17(d: f64) -> String {
    format_g(d, 17)
}

/// C's `printf("%.<precision>g", d)` as glibc prints it, infinities and NaNs included (Lua
/// 5.1 turns numbers into strings with `%.14g`).
pub fn format_g(d: f64, precision: usize) -> String {
    if d.is_nan() {
        return if d.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let precision = precision.max(1);
    // %g: exponential notation when exp < -4 or exp >= precision.
    let sci = format!("{:.*e}", precision - 1, d);
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    if exp < -4 || exp >= precision as i32 {
        let mantissa = trim_fraction_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", mantissa, sign, exp.abs())
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        let fixed = format!("{:.*}", decimals, d);
        trim_fraction_zeros(&fixed).to_string()
    }
}

fn trim_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_bulk_array_writes_what_an_array_of_bulks_writes_in_both_protocols() {
        let items: [&[u8]; 4] = [b"", b"a", b"0123456789", &[b'x'; 1000]];
        let size = items.iter().map(|i| BulkArray::element_len(i.len())).sum();
        let mut array = BulkArray::new(items.len(), size).unwrap();
        items.iter().for_each(|i| array.push(i));
        let encoded = array.finish();
        let frames = Frame::Array(items.iter().map(|i| Frame::bulk(i.to_vec())).collect());
        for resp3 in [false, true] {
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            encoded.write(&mut a, resp3);
            frames.write(&mut b, resp3);
            assert_eq!(a, b);
            assert_eq!(encoded.approx_len() - 8, a.len());
        }
        let Frame::Encoded(bytes) = encoded else {
            unreachable!()
        };
        assert_eq!(bytes.len(), 4 + size, "sized exactly");
        assert!(BulkArray::new(usize::MAX, usize::MAX).is_none());
    }

    use super::*;

    fn render(f: &Frame, resp3: bool) -> String {
        let mut out = BytesMut::new();
        f.write(&mut out, resp3);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn g17_matches_c() {
        assert_eq!(format_g17(1.1), "1.1000000000000001");
        assert_eq!(format_g17(1.0), "1");
        assert_eq!(format_g17(0.5), "0.5");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(123456789.0), "123456789");
        assert_eq!(format_g17(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_g17(0.0001), "0.0001");
        assert_eq!(format_g17(-2.5), "-2.5");
        assert_eq!(format_g17(1e16), "10000000000000000");
        assert_eq!(format_g17(1e17), "1e+17");
    }

    #[test]
    fn maps_flatten_in_resp2() {
        let m = Frame::Map(vec![(Frame::bulk_str("a"), Frame::Integer(1))]);
        assert_eq!(render(&m, false), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(render(&m, true), "%1\r\n$1\r\na\r\n:1\r\n");
    }

    #[test]
    fn pairs_nest_only_in_resp3() {
        let p = Frame::Pairs(vec![(Frame::bulk_str("a"), Frame::Integer(1))]);
        assert_eq!(render(&p, false), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(render(&p, true), "*1\r\n*2\r\n$1\r\na\r\n:1\r\n");
    }

    #[test]
    fn errors_never_break_the_line() {
        let e = Frame::error("ERR unknown command 'a\r\nb'");
        assert_eq!(render(&e, false), "-ERR unknown command 'a  b'\r\n");
    }

    #[test]
    fn nulls_per_version() {
        assert_eq!(render(&Frame::Null, false), "$-1\r\n");
        assert_eq!(render(&Frame::NullArray, false), "*-1\r\n");
        assert_eq!(render(&Frame::Null, true), "_\r\n");
    }
}
