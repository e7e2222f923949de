//! The request parser: turns the bytes a client sent into the arguments of one command.
//!
//! Redis accepts two request formats, and this file reproduces how Redis 7.0 reads both
//! (`processMultibulkBuffer` and `processInlineBuffer` in its `networking.c`): the multibulk
//! format every client library speaks (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`), and the inline format
//! people type into telnet (`GET k\r\n`, split like `sdssplitargs`). Compatibility extends to the
//! quirks a differential test would notice: the exact error texts, which malformed input is
//! rejected at once and which is simply waited on, the 64 KiB limit on a line that has not ended,
//! and that the two bytes after a bulk payload are skipped without being checked.
//!
//! The parser is stateless by default: [`parse_request`] looks at the front of the buffer and
//! either takes one whole request out of it or leaves the unfinished request where it is.
//! Arguments are zero-copy slices of the buffer. Nothing is ever allocated from a length a client
//! announced, only from bytes that have arrived, so `$536870000\r\n` followed by silence costs
//! nothing. A partial request is rescanned on every call, but only its headers are read, never a
//! payload: a 100 MB value arriving in 16 KB pieces is checked in constant time per piece.
//! [`RequestParser`] is the same parser with a memory of where it stopped, for the cases where
//! rescanning does add up (a command with a million small arguments, or a long line, arriving
//! slowly), and for the tighter limits Redis applies before a client has authenticated.

use std::fmt;

use super::split::split_args;
use bytes::{Buf, Bytes, BytesMut};

/// Redis's `PROTO_INLINE_MAX_SIZE`: how long a line (an inline request, or a `*`/`$` header) may
/// grow without ending before the client is judged to be sending garbage.
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;

/// The largest argument count Redis 7.0 accepts in a `*N` header (`INT_MAX`). Redis only
/// allocates room for the arguments that have arrived, and so do we, so a large count is harmless.
const MAX_MULTIBULK_LEN: i64 = i32::MAX as i64;

/// Limits Redis applies while a client still has to authenticate, so that a stranger cannot make
/// the server buffer much before its password has been checked.
const UNAUTHENTICATED_MAX_MULTIBULK_LEN: i64 = 10;
const UNAUTHENTICATED_MAX_BULK_LEN: i64 = 16 * 1024;

/// How many argument positions a request remembers on the stack while it is scanned. Requests
/// with more arguments (or resumed by a [`RequestParser`]) find their arguments with a second walk
/// over the validated headers instead, so that no request needs a heap allocation besides its
/// `Vec` of arguments.
const CACHED_SPANS: usize = 8;

// Error texts, spelled as Redis sends them after the '-'.
const INVALID_MULTIBULK_LEN: &str = "ERR Protocol error: invalid multibulk length";
const UNAUTHENTICATED_MULTIBULK_LEN: &str = "ERR Protocol error: unauthenticated multibulk length";
const INVALID_BULK_LEN: &str = "ERR Protocol error: invalid bulk length";
const UNAUTHENTICATED_BULK_LEN: &str = "ERR Protocol error: unauthenticated bulk length";
const TOO_BIG_MBULK_COUNT: &str = "ERR Protocol error: too big mbulk count string";
const TOO_BIG_BULK_COUNT: &str = "ERR Protocol error: too big bulk count string";
const TOO_BIG_INLINE: &str = "ERR Protocol error: too big inline request";
const UNBALANCED_QUOTES: &str = "ERR Protocol error: unbalanced quotes in request";
/// Redis closes such a client without a reply and only logs "Closing client that reached max
/// query buffer length"; the text exists so that the caller has something to log.
const QUERY_BUFFER_LIMIT: &str = "ERR Protocol error: query buffer limit exceeded";

/// Limits that Redis applies to requests.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `proto-max-bulk-len`: the longest single argument accepted (default 512 MiB).
    pub proto_max_bulk_len: usize,
    /// `client-query-buffer-limit`: how much of an unfinished request may be buffered before the
    /// client is disconnected (default 1 GiB).
    pub client_query_buffer_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
        }
    }
}

/// A request the server cannot read. The text is what Redis sends after the '-', error code
/// included (`ERR Protocol error: invalid multibulk length`); the caller replies with it and then
/// closes the connection, because nothing after a protocol error can be trusted to line up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(message: &str) -> Self {
        ProtocolError(message.to_owned())
    }

    /// The full error text, e.g. `ERR Protocol error: invalid bulk length`.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Parses one request from the front of `buf`.
///
/// * `Ok(Some(args))`: the request's bytes have been removed from `buf`; `args` are zero-copy
///   slices of them (inline requests, which may contain escapes, are copied).
/// * `Ok(None)`: no whole request yet; the caller reads more and calls again. Requests without
///   arguments (a blank line, `*0`, `*-1`) in front of the partial one have been removed, as Redis
///   skips them too; the partial request itself is left untouched.
/// * `Err(e)`: a protocol error; the caller replies with `e` and closes the connection.
pub fn parse_request(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    RequestParser::new().parse(buf, limits)
}

/// [`parse_request`] with a memory, one per connection.
///
/// It remembers where it stopped in an unfinished request, so each call continues from there
/// instead of reading again what it has already checked: the argument headers of a multibulk
/// request, and the part of a line that has no line end yet. That keeps the work per request
/// linear however the bytes are split, even for a command with a million small arguments or a
/// client sending a long line one byte at a time. (Redis rereads both on every read, which a
/// client sending a 64 KiB line a byte at a time turns into gigabytes of scanning on a core that
/// other clients share.) It also knows whether the client still has to authenticate, in which
/// case Redis's tighter limits apply.
///
/// Between calls the caller may only append to the buffer (and let this parser consume it); after
/// anything else, such as clearing the buffer, call [`reset`](Self::reset).
#[derive(Clone, Debug, Default)]
pub struct RequestParser {
    resume: Option<Resume>,
    auth_required: bool,
}

/// Where an unfinished request stopped.
#[derive(Clone, Copy, Debug)]
struct Resume {
    /// The buffer's length when the parser stopped. A shorter buffer means the caller did more
    /// than append, so the memory is dropped rather than trusted.
    seen_len: usize,
    /// The line being waited on (the first line, or the bulk header at `bulk.pos`) has no line end
    /// before this offset, so the search continues here.
    searched: usize,
    /// Progress through the arguments, once the `*N` header has been read.
    bulk: Option<BulkProgress>,
    /// The buffer length at which the argument being waited on will be complete, once its
    /// header has been read; 0 otherwise.
    complete_at: usize,
}

/// How far into a multibulk request's arguments the parser got: everything before `pos` is valid.
#[derive(Clone, Copy, Debug)]
struct BulkProgress {
    /// Offset of the first bulk string that has not fully arrived.
    pos: usize,
    /// Arguments still to come from `pos` on.
    remaining: usize,
    /// The argument count from the `*N` header.
    argc: usize,
}

impl RequestParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the limits Redis uses for a client that has not authenticated yet (when a password
    /// or ACL user requires it): at most 10 arguments, each at most 16 KiB.
    pub fn set_auth_required(&mut self, required: bool) {
        self.auth_required = required;
    }

    /// How many more bytes the argument being received needs before it is whole, when its
    /// header has been read: the caller can make room for a big argument at once, as Redis
    /// does, instead of growing its buffer step by step (which may take twice its size).
    pub fn missing(&self, buf_len: usize) -> usize {
        self.resume
            .filter(|r| r.seen_len == buf_len)
            .map_or(0, |r| r.complete_at.saturating_sub(buf_len))
    }

    /// Forgets any partially parsed request, for when the buffer was changed by something other
    /// than appending.
    pub fn reset(&mut self) {
        self.resume = None;
    }

    /// Parses one request from the front of `buf`; see [`parse_request`] for the contract.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            let resume = self.resume.take().filter(|r| r.seen_len <= buf.len());
            let mut spans = SpanCache::new();
            let step = match buf.first() {
                None => return Ok(None),
                // Redis picks the format by the first byte alone.
                Some(b'*') => self.scan_multibulk(buf, limits, resume, &mut spans)?,
                Some(_) => self.scan_inline(buf, resume)?,
            };
            match step {
                Step::Incomplete => {
                    if buf.len() > limits.client_query_buffer_limit {
                        self.resume = None;
                        return Err(ProtocolError::new(QUERY_BUFFER_LIMIT));
                    }
                    return Ok(None);
                }
                Step::Empty(consumed) => buf.advance(consumed),
                Step::Multibulk { end, argc } => {
                    return take_multibulk(buf, end, argc, &spans).map(Some)
                }
                Step::Inline { consumed, args } => {
                    buf.advance(consumed);
                    return Ok(Some(args));
                }
            }
        }
    }

    /// Remembers where an unfinished request stopped, and reports it unfinished.
    fn wait(&mut self, data: &[u8], searched: usize, bulk: Option<BulkProgress>) -> Step {
        self.resume = Some(Resume {
            seen_len: data.len(),
            searched,
            bulk,
            complete_at: 0,
        });
        Step::Incomplete
    }

    /// Checks the multibulk request at the front of `data` without consuming anything.
    fn scan_multibulk(
        &mut self,
        data: &[u8],
        limits: &Limits,
        resume: Option<Resume>,
        spans: &mut SpanCache,
    ) -> Result<Step, ProtocolError> {
        let (mut pos, mut remaining, argc, mut search_from) = match resume {
            Some(Resume {
                bulk: Some(b),
                searched,
                ..
            }) => (b.pos, b.remaining, b.argc, searched),
            _ => {
                let (count, next) = match header_line(data, 0, resume.map_or(0, |r| r.searched)) {
                    Line::Complete { value, next } => (value, next),
                    Line::Incomplete { searched } => return Ok(self.wait(data, searched, None)),
                    Line::TooLong => return Err(ProtocolError::new(TOO_BIG_MBULK_COUNT)),
                };
                let count = match count {
                    Some(n) if n <= MAX_MULTIBULK_LEN => n,
                    _ => return Err(ProtocolError::new(INVALID_MULTIBULK_LEN)),
                };
                if self.auth_required && count > UNAUTHENTICATED_MAX_MULTIBULK_LEN {
                    return Err(ProtocolError::new(UNAUTHENTICATED_MULTIBULK_LEN));
                }
                // Redis treats `*0` and any negative count as a request with nothing in it.
                let Ok(argc) = usize::try_from(count) else {
                    return Ok(Step::Empty(next));
                };
                if argc == 0 {
                    return Ok(Step::Empty(next));
                }
                spans.from_start = true;
                (next, argc, argc, next)
            }
        };

        while remaining > 0 {
            let progress = BulkProgress {
                pos,
                remaining,
                argc,
            };
            let (len, payload) = match header_line(data, pos, search_from) {
                Line::Complete { value, next } => (value, next),
                Line::Incomplete { searched } => {
                    return Ok(self.wait(data, searched, Some(progress)))
                }
                Line::TooLong => return Err(ProtocolError::new(TOO_BIG_BULK_COUNT)),
            };
            // Redis looks at the type byte only once the whole header line is there.
            if data[pos] != b'$' {
                return Err(expected_dollar(data[pos]));
            }
            let len = match len.and_then(|n| usize::try_from(n).ok()) {
                Some(n) if n <= limits.proto_max_bulk_len => n,
                _ => return Err(ProtocolError::new(INVALID_BULK_LEN)),
            };
            if self.auth_required && len as u64 > UNAUTHENTICATED_MAX_BULK_LEN as u64 {
                return Err(ProtocolError::new(UNAUTHENTICATED_BULK_LEN));
            }
            // Only a length comparison: the payload is never scanned, so a large value arriving
            // slowly costs the same small amount per call. Like Redis, the two bytes after the
            // payload are skipped without checking that they are CRLF.
            let available = data.len() - payload;
            match len.checked_add(2) {
                Some(need) if need <= available => {}
                // Next time the header is read again from `pos`, which the fast path does at once.
                _ => {
                    let step = self.wait(data, pos, Some(progress));
                    if let Some(r) = self.resume.as_mut() {
                        r.complete_at = payload.saturating_add(len).saturating_add(2);
                    }
                    return Ok(step);
                }
            }
            spans.push(payload, payload + len);
            pos = payload + len + 2;
            search_from = pos;
            remaining -= 1;
        }
        Ok(Step::Multibulk { end: pos, argc })
    }

    /// Checks the inline request at the front of `data` and splits it into arguments.
    fn scan_inline(&mut self, data: &[u8], resume: Option<Resume>) -> Result<Step, ProtocolError> {
        let from = resume
            .filter(|r| r.bulk.is_none())
            .map_or(0, |r| r.searched)
            .min(data.len());
        // Redis finds the newline with strchr, so a NUL byte hides everything after it: a line
        // with a NUL in it never ends, until it is too long. The search resumes at such a NUL.
        let newline = match memchr::memchr2(b'\n', 0, &data[from..]) {
            Some(i) if data[from + i] == b'\n' => from + i,
            _ if data.len() > PROTO_INLINE_MAX_SIZE => {
                return Err(ProtocolError::new(TOO_BIG_INLINE))
            }
            Some(nul) => return Ok(self.wait(data, from + nul, None)),
            None => return Ok(self.wait(data, data.len(), None)),
        };
        let line = &data[..newline];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let args: Vec<Bytes> = split_args(line)
            .ok_or_else(|| ProtocolError::new(UNBALANCED_QUOTES))?
            .into_iter()
            .map(Bytes::from)
            .collect();
        let consumed = newline + 1;
        Ok(if args.is_empty() {
            Step::Empty(consumed)
        } else {
            Step::Inline { consumed, args }
        })
    }
}

/// What the front of the buffer holds.
enum Step {
    /// Not a whole request yet.
    Incomplete,
    /// A request without arguments, this many bytes long, that Redis skips silently.
    Empty(usize),
    /// A whole, validated multibulk request of `argc` arguments in the first `end` bytes.
    Multibulk { end: usize, argc: usize },
    /// A whole inline request of `consumed` bytes, already split into arguments.
    Inline { consumed: usize, args: Vec<Bytes> },
}

/// Argument positions recorded while scanning, so that small requests need no second walk.
struct SpanCache {
    spans: [(usize, usize); CACHED_SPANS],
    len: usize,
    /// Whether scanning began at the request's first argument in this call; a resumed scan has
    /// seen only the later ones.
    from_start: bool,
}

impl SpanCache {
    fn new() -> Self {
        SpanCache {
            spans: [(0, 0); CACHED_SPANS],
            len: 0,
            from_start: false,
        }
    }

    #[inline]
    fn push(&mut self, start: usize, end: usize) {
        if let Some(slot) = self.spans.get_mut(self.len) {
            *slot = (start, end);
        }
        self.len += 1;
    }

    /// All of the request's argument positions, if they fit.
    fn complete(&self, argc: usize) -> Option<&[(usize, usize)]> {
        (self.from_start && self.len == argc)
            .then(|| self.spans.get(..argc))
            .flatten()
    }
}

/// Removes a validated multibulk request from the buffer and slices its arguments out of it.
fn take_multibulk(
    buf: &mut BytesMut,
    end: usize,
    argc: usize,
    spans: &SpanCache,
) -> Result<Vec<Bytes>, ProtocolError> {
    let frame = buf.split_to(end).freeze();
    if let Some(spans) = spans.complete(argc) {
        return Ok(spans
            .iter()
            .map(|&(start, end)| frame.slice(start..end))
            .collect());
    }
    // The headers were validated by the scan (or by earlier scans, for a resumed request), so
    // this walk fails only if the caller changed the buffer behind a `RequestParser`'s back.
    collect_args(&frame, argc).ok_or_else(|| ProtocolError::new(INVALID_MULTIBULK_LEN))
}

/// Walks the headers of a complete multibulk request again and slices out its arguments.
fn collect_args(frame: &Bytes, argc: usize) -> Option<Vec<Bytes>> {
    let Line::Complete { next: mut pos, .. } = header_line(frame, 0, 0) else {
        return None;
    };
    let mut args = Vec::with_capacity(argc);
    for _ in 0..argc {
        let Line::Complete {
            value: Some(len),
            next,
        } = header_line(frame, pos, pos)
        else {
            return None;
        };
        let end = next.checked_add(usize::try_from(len).ok()?)?;
        if end.checked_add(2)? > frame.len() {
            return None;
        }
        args.push(frame.slice(next..end));
        pos = end + 2;
    }
    (pos == frame.len()).then_some(args)
}

/// Redis's "expected '$'" error, which quotes the offending byte. Redis replaces CR and LF in
/// error texts with spaces so that the reply stays one line; a byte above 0x7f, which Redis sends
/// raw, is shown as the Latin-1 character of that value because the text has to be UTF-8.
fn expected_dollar(got: u8) -> ProtocolError {
    let shown = match got {
        b'\r' | b'\n' => ' ',
        other => char::from(other),
    };
    ProtocolError(format!("ERR Protocol error: expected '$', got '{shown}'"))
}

/// A `*N` or `$N` header line starting at some offset.
#[derive(Debug, PartialEq)]
enum Line {
    /// The line has ended. `value` is its number if that parses as Redis parses numbers; `next`
    /// is where the following element starts.
    Complete { value: Option<i64>, next: usize },
    /// The line has not ended yet; the search for its end can resume at `searched`.
    Incomplete { searched: usize },
    /// The line has not ended after [`PROTO_INLINE_MAX_SIZE`] bytes.
    TooLong,
}

/// Reads the header line that starts at `start`, the type byte (`*` or `$`) being left to the
/// caller, who checks it only once the line is complete, as Redis does. A previous call may have
/// found no line end before `search_from`.
#[inline]
fn header_line(data: &[u8], start: usize, search_from: usize) -> Line {
    header_fast(data, start).unwrap_or_else(|| header_slow(data, start, search_from))
}

/// The common case: a proper type byte, a few digits, CR, and at least one more byte. Anything
/// else (a sign, a leading zero, a long number, a line still arriving, a NUL type byte that hides
/// the line from Redis's search) is left to [`header_slow`].
#[inline(always)]
fn header_fast(data: &[u8], start: usize) -> Option<Line> {
    if !matches!(data.get(start), Some(b'*' | b'$')) {
        return None;
    }
    let digits = data.get(start + 1..)?;
    let first = *digits.first()?;
    if first == b'0' {
        return (digits.get(1) == Some(&b'\r')).then(|| line_end(data, start + 2, Some(0)));
    }
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut value = i64::from(first - b'0');
    // Eighteen digits stay below 10^18, so the sum cannot overflow.
    for (i, &b) in digits.iter().enumerate().take(18).skip(1) {
        match b {
            b'0'..=b'9' => value = value * 10 + i64::from(b - b'0'),
            b'\r' => return Some(line_end(data, start + 1 + i, Some(value))),
            _ => return None,
        }
    }
    None
}

/// The general case, mirroring Redis: find the CR wherever it is, then parse what precedes it.
#[cold]
fn header_slow(data: &[u8], start: usize, search_from: usize) -> Line {
    let from = search_from.clamp(start, data.len().max(start));
    let Some(rest) = data.get(from..) else {
        return Line::Incomplete { searched: start };
    };
    // Redis searches with strchr, which stops at a NUL byte as if the buffer ended there; the
    // next search starts at that NUL again, so that what follows it stays hidden.
    match memchr::memchr2(b'\r', 0, rest) {
        Some(i) if rest[i] == b'\r' => {
            let cr = from + i;
            line_end(data, cr, data.get(start + 1..cr).and_then(parse_i64))
        }
        _ if data.len() - start > PROTO_INLINE_MAX_SIZE => Line::TooLong,
        Some(nul) => Line::Incomplete {
            searched: from + nul,
        },
        None => Line::Incomplete {
            searched: data.len(),
        },
    }
}

/// The end of a header line whose CR is at `cr`. Redis requires one byte after the CR before it
/// goes on, and skips that byte without checking it is LF.
#[inline(always)]
fn line_end(data: &[u8], cr: usize, value: Option<i64>) -> Line {
    if cr + 2 <= data.len() {
        Line::Complete {
            value,
            next: cr + 2,
        }
    } else {
        Line::Incomplete { searched: cr }
    }
}

/// Parses a number the way Redis's `string2ll` does: optional '-', no '+', no leading zeros, no
/// spaces, no "-0", fewer than 21 characters, within `i64`.
fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let (&first, rest) = digits.split_first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut magnitude = u64::from(first - b'0');
    for &b in rest {
        if !b.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(b - b'0'))?;
    }
    if negative {
        // i64::MIN's magnitude is one more than i64::MAX's.
        (magnitude <= i64::MAX as u64 + 1).then(|| (magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    /// Everything a stream of bytes turned into: the requests, then the error that ended it, or
    /// else whatever was left waiting in the buffer.
    #[derive(Debug, PartialEq)]
    struct Outcome {
        requests: Vec<Vec<Vec<u8>>>,
        error: Option<String>,
        rest: Vec<u8>,
    }

    /// How a test drives the parser.
    #[derive(Clone, Copy, Debug)]
    enum Mode {
        Stateless,
        Stateful { auth_required: bool },
    }

    /// Fragment sizes in the manner of Seastar's parser tests; `usize::MAX` is "all at once".
    const FRAGMENTS: &[usize] = &[1, 2, 3, 5, 7, 10, 16, 64, 100, 1000, 16 * 1024, usize::MAX];

    fn run(input: &[u8], limits: &Limits, chunk: usize, mode: Mode) -> Outcome {
        let mut parser = RequestParser::new();
        if let Mode::Stateful { auth_required } = mode {
            parser.set_auth_required(auth_required);
        }
        let mut buf = BytesMut::new();
        let mut requests = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                let before = buf.len();
                let result = match mode {
                    Mode::Stateless => parse_request(&mut buf, limits),
                    Mode::Stateful { .. } => parser.parse(&mut buf, limits),
                };
                match result {
                    Ok(Some(args)) => {
                        assert!(buf.len() < before, "a request must consume bytes");
                        requests.push(args.iter().map(|a| a.to_vec()).collect());
                    }
                    Ok(None) => {
                        assert!(buf.len() <= before);
                        break;
                    }
                    // What is left in the buffer at an error depends on how much had arrived.
                    Err(e) => {
                        return Outcome {
                            requests,
                            error: Some(e.0),
                            rest: Vec::new(),
                        }
                    }
                }
            }
        }
        Outcome {
            requests,
            error: None,
            rest: buf.to_vec(),
        }
    }

    /// Runs `input` at every fragment size in both modes and checks that all agree with `expected`.
    fn check_with(input: &[u8], limits: &Limits, auth_required: bool, expected: &Outcome) {
        let mut modes = vec![Mode::Stateful { auth_required }];
        if !auth_required {
            modes.push(Mode::Stateless);
        }
        for &mode in &modes {
            for &chunk in FRAGMENTS {
                // The stateless parser rereads an unfinished line on every call, as Redis does;
                // feeding it 64 KiB lines byte by byte would only make the test slow.
                if matches!(mode, Mode::Stateless) && input.len() / chunk > 4096 {
                    continue;
                }
                let got = run(input, limits, chunk, mode);
                assert_eq!(
                    &got,
                    expected,
                    "input {:?}, fragment size {chunk}, {mode:?}",
                    show(input)
                );
            }
        }
    }

    fn show(input: &[u8]) -> String {
        let s = String::from_utf8_lossy(input);
        if s.len() > 120 {
            format!("{}... ({} bytes)", &s[..120], input.len())
        } else {
            s.into_owned()
        }
    }

    fn reqs(requests: &[&[&[u8]]]) -> Vec<Vec<Vec<u8>>> {
        requests
            .iter()
            .map(|r| r.iter().map(|a| a.to_vec()).collect())
            .collect()
    }

    /// `input` is exactly these requests, with nothing left over.
    fn assert_parses(input: &[u8], expected: &[&[&[u8]]]) {
        assert_parses_leaving(input, expected, b"");
    }

    fn assert_parses_leaving(input: &[u8], expected: &[&[&[u8]]], rest: &[u8]) {
        let expected = Outcome {
            requests: reqs(expected),
            error: None,
            rest: rest.to_vec(),
        };
        check_with(input, &Limits::default(), false, &expected);
    }

    /// `input` is not a whole request yet, and is left as it is.
    fn assert_incomplete(input: &[u8]) {
        assert_parses_leaving(input, &[], input);
    }

    fn assert_error(input: &[u8], message: &str) {
        assert_error_after(input, &[], message);
    }

    fn assert_error_after(input: &[u8], before: &[&[&[u8]]], message: &str) {
        let expected = Outcome {
            requests: reqs(before),
            error: Some(message.to_owned()),
            rest: Vec::new(),
        };
        check_with(input, &Limits::default(), false, &expected);
    }

    fn encode(args: &[Vec<u8>]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    // ---- Multibulk requests ----

    #[test]
    fn multibulk_basic() {
        assert_parses(b"*1\r\n$4\r\nPING\r\n", &[&[b"PING"]]);
        assert_parses(
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n",
            &[&[b"SET", b"k", b"hello"]],
        );
    }

    #[test]
    fn multibulk_binary_and_empty_arguments() {
        assert_parses(b"*2\r\n$4\r\na\r\nb\r\n$0\r\n\r\n", &[&[b"a\r\nb", b""]]);
        assert_parses(b"*1\r\n$3\r\n\x00\xff*\r\n", &[&[b"\x00\xff*"]]);
    }

    #[test]
    fn multibulk_many_arguments_take_the_second_walk() {
        let args: Vec<Vec<u8>> = (0..50).map(|i| format!("arg{i}").into_bytes()).collect();
        let expected: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        assert_parses(&encode(&args), &[&expected]);
    }

    #[test]
    fn multibulk_empty_requests_are_skipped() {
        let ping: &[&[u8]] = &[b"PING"];
        assert_parses(b"*0\r\n*1\r\n$4\r\nPING\r\n", &[ping]);
        assert_parses(b"*-1\r\n*-10\r\n*1\r\n$4\r\nPING\r\n", &[ping]);
        // Only an empty request: it is consumed, and nothing is returned.
        assert_parses(b"*0\r\n", &[]);
    }

    #[test]
    fn multibulk_count_limits() {
        // Redis 7.0 accepts counts up to INT_MAX and allocates only as arguments arrive.
        assert_incomplete(b"*20000000\r\n");
        assert_incomplete(b"*2147483647\r\n");
        assert_error(b"*2147483648\r\n", INVALID_MULTIBULK_LEN);
        assert_error(b"*3000000000\r\n", INVALID_MULTIBULK_LEN);
        assert_error(b"*99999999999999999999\r\n", INVALID_MULTIBULK_LEN);
    }

    #[test]
    fn multibulk_count_must_parse_like_string2ll() {
        for bad in [
            &b"*\r\n"[..],
            b"*x\r\n",
            b"*-0\r\n",
            b"*+1\r\n",
            b"*01\r\n",
            b"*1 \r\n",
            b"* 1\r\n",
            b"*-\r\n",
        ] {
            assert_error(bad, INVALID_MULTIBULK_LEN);
        }
    }

    #[test]
    fn multibulk_bulk_header_errors() {
        assert_error(b"*1\r\n$x\r\n", INVALID_BULK_LEN);
        assert_error(b"*1\r\n$-1\r\n", INVALID_BULK_LEN);
        assert_error(b"*1\r\n$01\r\n", INVALID_BULK_LEN);
        assert_error(b"*1\r\n$\r\n", INVALID_BULK_LEN);
        assert_error(b"*1\r\n$ 1\r\n", INVALID_BULK_LEN);
        assert_error(b"*1\r\n$536870913\r\n", INVALID_BULK_LEN);
        assert_error(b"*1\r\n$99999999999999999999\r\n", INVALID_BULK_LEN);
    }

    #[test]
    fn multibulk_expected_dollar() {
        assert_error_after(
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
            &[],
            "ERR Protocol error: expected '$', got 'f'",
        );
        // CR and LF are shown as spaces, as Redis does to keep the reply on one line.
        assert_error(b"*1\r\n\r\n", "ERR Protocol error: expected '$', got ' '");
        assert_error(b"*1\r\n\n\r\n", "ERR Protocol error: expected '$', got ' '");
        assert_error(
            b"*1\r\n\xff\r\n",
            "ERR Protocol error: expected '$', got '\u{ff}'",
        );
        // The type byte is only looked at once its line has ended.
        assert_incomplete(b"*1\r\nfoo");
    }

    #[test]
    fn multibulk_at_the_bulk_length_limit_waits() {
        assert_incomplete(b"*1\r\n$536870912\r\n");
        let limits = Limits {
            proto_max_bulk_len: 3,
            ..Limits::default()
        };
        let ok = Outcome {
            requests: reqs(&[&[b"abc"]]),
            error: None,
            rest: vec![],
        };
        check_with(b"*1\r\n$3\r\nabc\r\n", &limits, false, &ok);
        let err = Outcome {
            requests: vec![],
            error: Some(INVALID_BULK_LEN.into()),
            rest: vec![],
        };
        check_with(b"*1\r\n$4\r\nabcd\r\n", &limits, false, &err);
    }

    #[test]
    fn multibulk_quirks_match_redis() {
        // Redis skips the byte after a header's CR and the two bytes after a payload unchecked.
        assert_parses(b"*1\rx$4\r\nPING\r\n", &[&[b"PING"]]);
        assert_parses(b"*1\r\n$4\rxPINGxx", &[&[b"PING"]]);
        assert_parses(
            b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
            &[&[b"PING"], &[b"PING"]],
        );
        // A header's CR must be followed by one more byte before it counts.
        assert_incomplete(b"*1\r");
        assert_incomplete(b"*1\r\n$4\r");
        assert_incomplete(b"*1\r\n$4\r\nPING\r");
        // A NUL byte stops Redis's search for the CR, so these wait instead of failing.
        assert_incomplete(b"*1\x00\r\n");
        assert_incomplete(b"*1\r\n\x00\r\n");
        assert_incomplete(b"*1\r\n$4\x00\r\nPING\r\n");
        assert_incomplete(b"*1\r\n\x004\r\nPING\r\n");
    }

    #[test]
    fn multibulk_partial_requests_are_left_untouched() {
        let full = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        for cut in 1..full.len() {
            assert_incomplete(&full[..cut]);
        }
    }

    #[test]
    fn too_big_count_strings() {
        // Up to 64 KiB of an unfinished header line is waited on; one byte more is an error.
        let mut line = vec![b'*'];
        line.resize(PROTO_INLINE_MAX_SIZE, b'1');
        assert_incomplete(&line);
        line.push(b'1');
        assert_error(&line, TOO_BIG_MBULK_COUNT);

        let mut bulk = b"*1\r\n$".to_vec();
        bulk.resize(4 + PROTO_INLINE_MAX_SIZE, b'1');
        assert_incomplete(&bulk);
        bulk.push(b'1');
        assert_error(&bulk, TOO_BIG_BULK_COUNT);

        // A line that does end, however long, is judged by its number instead.
        let mut ended = b"*1\r\n$".to_vec();
        ended.resize(4 + PROTO_INLINE_MAX_SIZE, b'1');
        ended.extend_from_slice(b"\r\n");
        assert_error(&ended, INVALID_BULK_LEN);
    }

    // ---- Inline requests ----

    #[test]
    fn inline_basic() {
        assert_parses(b"PING\r\n", &[&[b"PING"]]);
        assert_parses(b"PING\n", &[&[b"PING"]]);
        assert_parses(b"SET  k\tv \r\n", &[&[b"SET", b"k", b"v"]]);
        assert_incomplete(b"PING");
        assert_incomplete(b"PING\r");
    }

    #[test]
    fn inline_blank_lines_are_skipped() {
        assert_parses(b"\r\n", &[]);
        assert_parses(b"\n", &[]);
        assert_parses(b"\r\n\r\n\r\nPING\r\n", &[&[b"PING"]]);
        assert_parses(b"   \r\n\nPING\r\n", &[&[b"PING"]]);
        assert_parses(b"\x0bPING\r\n", &[&[b"PING"]]);
        // The skipped blank line is consumed even though the request after it is unfinished.
        assert_parses_leaving(b"\r\n*1\r\n$4\r\nPI", &[], b"*1\r\n$4\r\nPI");
    }

    #[test]
    fn inline_quoting() {
        assert_parses(b"ECHO \"a b\"\r\n", &[&[b"ECHO", b"a b"]]);
        assert_parses(b"ECHO  \"a b\"  \r\n", &[&[b"ECHO", b"a b"]]);
        assert_parses(b"ECHO \"\"\r\n", &[&[b"ECHO", b""]]);
        assert_parses(b"ECHO ''\r\n", &[&[b"ECHO", b""]]);
        assert_parses(
            b"ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\\q\"\r\n",
            &[&[b"ECHO", b"\n\r\t\x08\x07\\\"q"]],
        );
        assert_parses(b"ECHO \"\\xff\\x00\\x4A\"\r\n", &[&[b"ECHO", b"\xff\x00J"]]);
        // A backslash-x without two hex digits is just an escaped 'x'.
        assert_parses(b"ECHO \"\\x4\"\r\n", &[&[b"ECHO", b"x4"]]);
        assert_parses(
            b"ECHO 'a\\'b' \"\\x41\\x4g\\q\"\r\n",
            &[&[b"ECHO", b"a'b", b"Ax4gq"]],
        );
        assert_parses(b"ECHO 'a\\nb'\r\n", &[&[b"ECHO", b"a\\nb"]]);
        // A quote may open in the middle of an argument.
        assert_parses(b"ECHO a\"b\"\r\n", &[&[b"ECHO", b"ab"]]);
        // Any C whitespace may follow a closing quote.
        assert_parses(b"ECHO \"a\"\x0b\r\n", &[&[b"ECHO", b"a"]]);
        assert_parses(b"ECHO \"a\"\tx\r\n", &[&[b"ECHO", b"a", b"x"]]);
    }

    #[test]
    fn inline_whitespace_rules() {
        // Only one CR before the LF belongs to the line ending; others separate arguments.
        assert_parses(b"ECHO a\r\r\n", &[&[b"ECHO", b"a"]]);
        assert_parses(b"ECHO \"a\"\r\r\n", &[&[b"ECHO", b"a"]]);
        assert_parses(b"ECHO a\rb\r\n", &[&[b"ECHO", b"a", b"b"]]);
        // Vertical tab and form feed separate arguments but do not end an unquoted one.
        assert_parses(b"ECHO a\x0bb\r\n", &[&[b"ECHO", b"a\x0bb"]]);
    }

    #[test]
    fn inline_unbalanced_quotes() {
        for bad in [
            &b"ECHO \"a\r\n"[..],
            b"ECHO \"a\"b\r\n",
            b"ECHO a\"b\"c\r\n",
            b"ECHO \"a\\\"\r\n",
            b"ECHO \"a\\\r\n",
            b"ECHO 'a\\\\'\r\n",
            b"ECHO 'a'b\r\n",
            b"ECHO 'a\r\n",
        ] {
            assert_error(bad, UNBALANCED_QUOTES);
        }
    }

    #[test]
    fn inline_nul_hides_the_newline() {
        assert_incomplete(b"PING\x00\r\n");
        assert_incomplete(b"PING\x00\r\nPING\r\n");
        let mut line = b"PING\x00\r\n".to_vec();
        line.resize(PROTO_INLINE_MAX_SIZE + 1, b'x');
        assert_error(&line, TOO_BIG_INLINE);
    }

    #[test]
    fn inline_too_big() {
        let mut line = vec![b'A'; PROTO_INLINE_MAX_SIZE];
        assert_incomplete(&line);
        line.push(b'A');
        assert_error(&line, TOO_BIG_INLINE);

        // The limit is on a line that has not ended: one whose end is already buffered is read,
        // however long, as Redis does when it arrives in one go.
        let mut long = b"ECHO ".to_vec();
        long.resize(70_000, b'A');
        long.extend_from_slice(b"\r\n");
        let args = parse_request(&mut BytesMut::from(&long[..]), &Limits::default());
        assert_eq!(args.unwrap().unwrap()[1].len(), 70_000 - 5);

        let mut after = b"*2\r\n$4\r\nECHO\r\n$1\r\n".to_vec();
        after.resize(after.len() + 70_000, b'x');
        assert_error_after(&after, &[&[b"ECHO", b"x"]], TOO_BIG_INLINE);
    }

    // ---- Pipelines ----

    #[test]
    fn pipelines_mix_formats() {
        let mut input = Vec::new();
        input.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        input.extend_from_slice(b"\r\n");
        input.extend_from_slice(b"GET k\r\n");
        input.extend_from_slice(b"*0\r\n");
        input.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        input.extend_from_slice(b"*1\r\n$4\r\nPI");
        assert_parses_leaving(
            &input,
            &[&[b"SET", b"k", b"v"], &[b"GET", b"k"], &[b"GET", b"k"]],
            b"*1\r\n$4\r\nPI",
        );
    }

    #[test]
    fn pipeline_stops_at_the_first_error() {
        assert_error_after(
            b"PING\r\n*1\r\n$x\r\nPING\r\n",
            &[&[b"PING"]],
            INVALID_BULK_LEN,
        );
    }

    // ---- Limits and resources ----

    #[test]
    fn query_buffer_limit() {
        let limits = Limits {
            client_query_buffer_limit: 100,
            ..Limits::default()
        };
        let mut partial = b"*1\r\n$200\r\n".to_vec();
        partial.resize(101, b'x');
        let err = Outcome {
            requests: vec![],
            error: Some(QUERY_BUFFER_LIMIT.into()),
            rest: vec![],
        };
        check_with(&partial, &limits, false, &err);
        // Whole requests are fine however much is buffered.
        let mut many = Vec::new();
        for _ in 0..20 {
            many.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        }
        let ok = Outcome {
            requests: vec![vec![b"PING".to_vec()]; 20],
            error: None,
            rest: vec![],
        };
        check_with(&many, &limits, false, &ok);
    }

    #[test]
    fn unauthenticated_limits() {
        let check = |input: &[u8], error: Option<&str>, requests: Vec<Vec<Vec<u8>>>| {
            let expected = Outcome {
                requests,
                error: error.map(str::to_owned),
                rest: vec![],
            };
            check_with(input, &Limits::default(), true, &expected);
        };
        check(b"*11\r\n", Some(UNAUTHENTICATED_MULTIBULK_LEN), vec![]);
        check(b"*1\r\n$16385\r\n", Some(UNAUTHENTICATED_BULK_LEN), vec![]);
        let ten: Vec<Vec<u8>> = (0..10).map(|_| vec![b'x'; 16384]).collect();
        check(&encode(&ten), None, vec![ten.clone()]);
        // An invalid count is still reported as invalid.
        check(b"*2147483648\r\n", Some(INVALID_MULTIBULK_LEN), vec![]);
    }

    #[test]
    fn announced_lengths_allocate_nothing() {
        for input in [
            &b"*1\r\n$536870000\r\n"[..],
            b"*2147483647\r\n",
            b"*2147483647\r\n$536870912\r\n",
        ] {
            let mut buf = BytesMut::with_capacity(64);
            buf.extend_from_slice(input);
            let capacity = buf.capacity();
            assert_eq!(parse_request(&mut buf, &Limits::default()), Ok(None));
            assert_eq!(&buf[..], input);
            assert_eq!(buf.capacity(), capacity);
        }
    }

    #[test]
    fn arguments_share_the_buffer() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let args = parse_request(&mut buf, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(args[0].as_ptr() as usize, base + 8);
        assert_eq!(args[1].as_ptr() as usize, base + 17);
    }

    #[test]
    fn big_value_in_small_pieces_is_linear() {
        const SIZE: usize = 100 * 1024 * 1024;
        let mut header = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n".to_vec();
        header.extend_from_slice(format!("${SIZE}\r\n").as_bytes());
        let piece = vec![b'v'; 16 * 1024];
        let started = Instant::now();
        for mode in [
            Mode::Stateless,
            Mode::Stateful {
                auth_required: false,
            },
        ] {
            let mut parser = RequestParser::new();
            let mut buf = BytesMut::from(&header[..]);
            let mut sent = 0;
            let args = loop {
                let result = match mode {
                    Mode::Stateless => parse_request(&mut buf, &Limits::default()),
                    Mode::Stateful { .. } => parser.parse(&mut buf, &Limits::default()),
                };
                if let Some(args) = result.unwrap() {
                    break args;
                }
                let n = (SIZE + 2 - sent).min(piece.len());
                assert!(n > 0, "the request should have completed");
                buf.extend_from_slice(&piece[..n]);
                sent += n;
            };
            assert_eq!(args.len(), 3);
            assert_eq!(args[2].len(), SIZE);
            assert!(buf.is_empty());
        }
        // Rescanning the payload each time would take minutes; reading headers only takes moments.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn many_arguments_in_small_pieces_resume() {
        const ARGS: usize = 1_000_000;
        let mut input = format!("*{ARGS}\r\n").into_bytes();
        for _ in 0..ARGS {
            input.extend_from_slice(b"$1\r\nx\r\n");
        }
        let started = Instant::now();
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut got = None;
        for piece in input.chunks(16 * 1024) {
            assert!(got.is_none());
            buf.extend_from_slice(piece);
            got = parser.parse(&mut buf, &Limits::default()).unwrap();
        }
        let args = got.expect("request should be complete");
        assert_eq!(args.len(), ARGS);
        assert!(args.iter().all(|a| a == &b"x"[..]));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn resumed_parser_survives_a_cleared_buffer() {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nke"[..]);
        assert_eq!(parser.parse(&mut buf, &Limits::default()), Ok(None));
        // The caller throws the buffer away without telling the parser: a shorter buffer is
        // noticed.
        buf.clear();
        buf.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let args = parser.parse(&mut buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(args, vec![Bytes::from_static(b"PING")]);
        // After reset, anything goes.
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nke"[..]);
        assert_eq!(parser.parse(&mut buf, &Limits::default()), Ok(None));
        parser.reset();
        buf.clear();
        buf.extend_from_slice(b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n");
        assert!(parser
            .parse(&mut buf, &Limits::default())
            .unwrap()
            .is_some());
    }

    #[test]
    fn misused_parser_does_not_panic() {
        // Rewriting the front of the buffer to something as long behind the parser's back gives
        // wrong answers, but never a panic.
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nke"[..]);
        assert_eq!(parser.parse(&mut buf, &Limits::default()), Ok(None));
        buf.clear();
        buf.extend_from_slice(b"*2\r\n$9\r\nGETGETGET\r\n$3\r\nkey\r\n");
        let _ = parser.parse(&mut buf, &Limits::default());
    }

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"+1",
            b"01",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"1a",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", show(bad));
        }
    }

    #[test]
    fn error_display() {
        let e = ProtocolError::new(INVALID_BULK_LEN);
        assert_eq!(e.to_string(), "ERR Protocol error: invalid bulk length");
        assert_eq!(e.message(), e.0);
    }

    // ---- Properties ----

    /// Bytes that look like protocol often enough to reach the deeper states.
    fn protocolish() -> impl Strategy<Value = Vec<u8>> {
        let token = prop_oneof![
            Just(b"*".to_vec()),
            Just(b"$".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\n".to_vec()),
            Just(b" ".to_vec()),
            Just(b"\"".to_vec()),
            Just(b"'".to_vec()),
            Just(b"\\".to_vec()),
            Just(b"\\x".to_vec()),
            Just(b"-".to_vec()),
            Just(vec![0u8]),
            (0u32..20).prop_map(|n| n.to_string().into_bytes()),
            prop::collection::vec(any::<u8>(), 1..4),
        ];
        prop::collection::vec(token, 0..60).prop_map(|tokens| tokens.concat())
    }

    fn small_limits() -> impl Strategy<Value = Limits> {
        (0usize..40, 0usize..300).prop_map(|(bulk, qbuf)| Limits {
            proto_max_bulk_len: bulk,
            client_query_buffer_limit: qbuf,
        })
    }

    fn arg() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..100)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary bytes never panic, and a request never takes more than it was given.
        #[test]
        fn arbitrary_bytes_are_safe(input in prop::collection::vec(any::<u8>(), 0..600)) {
            let mut buf = BytesMut::from(&input[..]);
            while let Ok(Some(_)) = parse_request(&mut buf, &Limits::default()) {
                prop_assert!(buf.len() < input.len());
            }
            prop_assert!(buf.len() <= input.len());
        }

        /// Whatever the input and however it is split, every way of feeding it gives the same
        /// outcome as feeding it all at once to the stateless parser.
        #[test]
        fn fragmentation_does_not_matter(
            input in prop_oneof![protocolish(), prop::collection::vec(any::<u8>(), 0..300)],
            chunk in 1usize..40,
        ) {
            let limits = Limits::default();
            let whole = run(&input, &limits, usize::MAX, Mode::Stateless);
            prop_assert_eq!(&run(&input, &limits, chunk, Mode::Stateless), &whole);
            let stateful = Mode::Stateful { auth_required: false };
            prop_assert_eq!(&run(&input, &limits, chunk, stateful), &whole);
        }

        /// With small limits the outcome can depend on how bytes arrive (as it does in Redis), but
        /// nothing panics and the stateful parser agrees with the stateless one.
        #[test]
        fn small_limits_are_safe(
            input in protocolish(),
            limits in small_limits(),
            chunk in 1usize..40,
            auth in any::<bool>(),
        ) {
            let stateless = run(&input, &limits, chunk, Mode::Stateless);
            let stateful = run(&input, &limits, chunk, Mode::Stateful { auth_required: false });
            prop_assert_eq!(stateless, stateful);
            let _ = run(&input, &limits, chunk, Mode::Stateful { auth_required: auth });
        }

        /// Serialized arguments come back as they were, at any fragment size.
        #[test]
        fn round_trip(args in prop::collection::vec(arg(), 1..20), chunk in 1usize..64) {
            let input = encode(&args);
            let expected = Outcome { requests: vec![args], error: None, rest: vec![] };
            for mode in [Mode::Stateless, Mode::Stateful { auth_required: false }] {
                prop_assert_eq!(&run(&input, &Limits::default(), chunk, mode), &expected);
            }
        }

        /// Several requests in one buffer come out in order, followed by an unfinished one.
        #[test]
        fn pipelines(
            requests in prop::collection::vec(prop::collection::vec(arg(), 1..5), 1..8),
            cut in any::<prop::sample::Index>(),
            chunk in 1usize..200,
        ) {
            let mut input = Vec::new();
            for request in &requests {
                input.extend_from_slice(&encode(request));
            }
            let tail = encode(&[b"unfinished".to_vec()]);
            let partial = &tail[..cut.index(tail.len())];
            input.extend_from_slice(partial);
            let expected = Outcome { requests, error: None, rest: partial.to_vec() };
            for mode in [Mode::Stateless, Mode::Stateful { auth_required: false }] {
                prop_assert_eq!(&run(&input, &Limits::default(), chunk, mode), &expected);
            }
        }

        /// Inline arguments made of plain characters split on spaces.
        #[test]
        fn inline_plain_words(
            words in prop::collection::vec("[a-zA-Z0-9_:.-]{1,12}", 1..8),
            chunk in 1usize..32,
        ) {
            let line = format!("{}\r\n", words.join(" "));
            let expected = Outcome {
                requests: vec![words.iter().map(|w| w.as_bytes().to_vec()).collect()],
                error: None,
                rest: vec![],
            };
            let got = run(line.as_bytes(), &Limits::default(), chunk, Mode::Stateless);
            prop_assert_eq!(got, expected);
        }
    }
}
