//! Cuts an AOF's bytes into records, with the offset of each, telling an incomplete last
//! record (a crash while appending) from bytes that break the format (corruption). Used by the
//! loader, the transaction scan and `tessera-check-aof`; it never allocates by a length the
//! file declares, and never panics, whatever the input.

/// One command read from the file: its arguments borrow the input.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Offset of the record's first byte (`*`).
    pub offset: usize,
    /// Offset just past the record.
    pub end: usize,
    pub args: Vec<&'a [u8]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The input ends inside the record starting at `offset` (or a zero-filled tail starts
    /// there): everything before is whole.
    Truncated { offset: usize },
    /// The record starting at `record` breaks the format at byte `offset`.
    Corrupt {
        record: usize,
        offset: usize,
        detail: String,
    },
}

pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

/// Why one piece of a record could not be read.
enum Stop {
    /// The input ended first.
    End,
    Bad(usize, String),
}

/// Longest decimal number accepted in a header: anything longer cannot be a real length.
const MAX_DIGITS: usize = 18;

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Reader<'a> {
        Reader { input, pos: 0 }
    }

    /// Offset of the next unread byte: after an `Ok` record, its end.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next command, skipping annotations; `None` at a clean end of input. After an
    /// error the reader stays where it is and keeps returning that error.
    pub fn next_record(&mut self) -> Option<Result<Record<'a>, ReadError>> {
        loop {
            let start = self.pos;
            let first = *self.input.get(start)?;
            if first == b'#' {
                match memchr::memchr(b'\n', &self.input[start..]) {
                    Some(nl) => {
                        self.pos = start + nl + 1;
                        continue;
                    }
                    None => return Some(Err(ReadError::Truncated { offset: start })),
                }
            }
            return Some(match self.parse(start) {
                Ok((args, end)) => {
                    self.pos = end;
                    Ok(Record {
                        offset: start,
                        end,
                        args,
                    })
                }
                Err(Stop::End) => Err(ReadError::Truncated { offset: start }),
                Err(Stop::Bad(at, _)) if self.input[at..].iter().all(|&b| b == 0) => {
                    Err(ReadError::Truncated { offset: start })
                }
                Err(Stop::Bad(offset, detail)) => Err(ReadError::Corrupt {
                    record: start,
                    offset,
                    detail,
                }),
            });
        }
    }

    fn parse(&self, start: usize) -> Result<(Vec<&'a [u8]>, usize), Stop> {
        let mut p = start;
        let argc = self.header(&mut p, b'*')?;
        if argc < 1 {
            return Err(Stop::Bad(start, format!("invalid argument count {argc}")));
        }
        let mut args = Vec::new();
        for _ in 0..argc {
            let len = self.header(&mut p, b'$')? as usize;
            let body_end = p.checked_add(len).ok_or(Stop::End)?;
            if body_end > self.input.len() {
                return Err(Stop::End);
            }
            let body = &self.input[p..body_end];
            p = body_end;
            self.crlf(&mut p)?;
            args.push(body);
        }
        Ok((args, p))
    }

    /// `<prefix><decimal>\r\n` at `*p`; the number must not be negative.
    fn header(&self, p: &mut usize, prefix: u8) -> Result<u64, Stop> {
        let at = *p;
        let got = *self.input.get(at).ok_or(Stop::End)?;
        if got != prefix {
            return Err(Stop::Bad(
                at,
                format!(
                    "expected prefix '{}', got: '{}'",
                    prefix as char,
                    got.escape_ascii()
                ),
            ));
        }
        let digits_at = at + 1;
        let mut n: u64 = 0;
        let mut q = digits_at;
        while let Some(&c) = self.input.get(q) {
            if !c.is_ascii_digit() {
                break;
            }
            if q - digits_at == MAX_DIGITS {
                return Err(Stop::Bad(q, "number too long".into()));
            }
            n = n * 10 + (c - b'0') as u64;
            q += 1;
        }
        if q == self.input.len() {
            return Err(Stop::End);
        }
        if q == digits_at {
            return Err(Stop::Bad(
                q,
                format!("expected a number, got: '{}'", self.input[q].escape_ascii()),
            ));
        }
        *p = q;
        self.crlf(p)?;
        Ok(n)
    }

    fn crlf(&self, p: &mut usize) -> Result<(), Stop> {
        for want in [b'\r', b'\n'] {
            let got = *self.input.get(*p).ok_or(Stop::End)?;
            if got != want {
                return Err(Stop::Bad(
                    *p,
                    format!("expected \\r\\n, got: '{}'", got.escape_ascii()),
                ));
            }
            *p += 1;
        }
        Ok(())
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Record<'a>, ReadError>;

    /// Like [`Reader::next_record`], but stops after the first error.
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.next_record()?;
        if item.is_err() {
            self.pos = self.input.len();
        }
        Some(item)
    }
}

/// A bracket around records that apply together or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `TESSERA.TX BEGIN <id> <parts>` ... `TESSERA.TX END <id>`: one shard's part.
    Tx { id: u64, parts: u32 },
    /// `MULTI` ... `EXEC`, as Redis writes transactions.
    Multi,
}

/// What the file holds, one step at a time: a command, or a whole bracketed block.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    Command(Record<'a>),
    Block {
        kind: BlockKind,
        /// Offset of the opening record: where the file is cut if the block is unfinished.
        offset: usize,
        records: Vec<Record<'a>>,
    },
}

/// Reads [`Event`]s: records grouped by their brackets, the brackets checked (no nesting, an
/// END or EXEC closes the open block of its kind and id). A block still open at the end of the
/// input is [`ReadError::Truncated`] at its opening record. Stops after the first error.
pub struct Walker<'a> {
    reader: Reader<'a>,
    done: bool,
}

/// A record's role in bracketing.
enum Marker {
    Begin(u64, u32),
    End(u64),
    Multi,
    Exec,
    None,
}

fn marker(args: &[&[u8]]) -> Result<Marker, String> {
    let name = args[0];
    if name.eq_ignore_ascii_case(super::TX_COMMAND.as_bytes()) {
        let num =
            |i: usize| -> Option<u64> { std::str::from_utf8(args.get(i)?).ok()?.parse().ok() };
        let sub = args.get(1).copied().unwrap_or_default();
        if sub.eq_ignore_ascii_case(b"BEGIN") && args.len() == 4 {
            if let (Some(id), Some(parts)) = (num(2), num(3)) {
                if let Ok(parts) = u32::try_from(parts) {
                    if parts >= 1 {
                        return Ok(Marker::Begin(id, parts));
                    }
                }
            }
        } else if sub.eq_ignore_ascii_case(b"END") && args.len() == 3 {
            if let Some(id) = num(2) {
                return Ok(Marker::End(id));
            }
        }
        return Err(format!("malformed {} record", super::TX_COMMAND));
    }
    if args.len() == 1 && name.eq_ignore_ascii_case(b"MULTI") {
        return Ok(Marker::Multi);
    }
    if args.len() == 1 && name.eq_ignore_ascii_case(b"EXEC") {
        return Ok(Marker::Exec);
    }
    Ok(Marker::None)
}

impl<'a> Walker<'a> {
    pub fn new(input: &'a [u8]) -> Walker<'a> {
        Walker {
            reader: Reader::new(input),
            done: false,
        }
    }

    fn step(&mut self) -> Option<Result<Event<'a>, ReadError>> {
        let mut open: Option<(BlockKind, usize, Vec<Record<'a>>)> = None;
        loop {
            let rec = match self.reader.next_record() {
                None => {
                    return open.map(|(_, offset, _)| Err(ReadError::Truncated { offset }));
                }
                Some(Err(ReadError::Truncated { offset })) => {
                    let offset = open.map_or(offset, |(_, start, _)| start);
                    return Some(Err(ReadError::Truncated { offset }));
                }
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(rec)) => rec,
            };
            let at = rec.offset;
            let bad = move |detail: String| {
                Some(Err(ReadError::Corrupt {
                    record: at,
                    offset: at,
                    detail,
                }))
            };
            let m = match marker(&rec.args) {
                Ok(m) => m,
                Err(detail) => return bad(detail),
            };
            match (m, &mut open) {
                (Marker::None, None) => return Some(Ok(Event::Command(rec))),
                (Marker::None, Some((_, _, records))) => records.push(rec),
                (Marker::Begin(id, parts), None) => {
                    open = Some((BlockKind::Tx { id, parts }, rec.offset, Vec::new()))
                }
                (Marker::Multi, None) => open = Some((BlockKind::Multi, rec.offset, Vec::new())),
                (Marker::Begin(..) | Marker::Multi, Some(_)) => {
                    return bad("a transaction opens inside another".into())
                }
                (Marker::End(end), Some((BlockKind::Tx { id, .. }, _, _))) if end == *id => {
                    let (kind, offset, records) = open.take()?;
                    return Some(Ok(Event::Block {
                        kind,
                        offset,
                        records,
                    }));
                }
                (Marker::Exec, Some((BlockKind::Multi, _, _))) => {
                    let (kind, offset, records) = open.take()?;
                    return Some(Ok(Event::Block {
                        kind,
                        offset,
                        records,
                    }));
                }
                (Marker::End(_), _) => {
                    return bad(format!("{} END closes no open part", super::TX_COMMAND))
                }
                (Marker::Exec, _) => return bad("EXEC without MULTI".into()),
            }
        }
    }
}

impl<'a> Iterator for Walker<'a> {
    type Item = Result<Event<'a>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.step();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<Result<Vec<Vec<u8>>, ReadError>> {
        Reader::new(input)
            .map(|r| r.map(|r| r.args.iter().map(|a| a.to_vec()).collect()))
            .collect()
    }

    #[test]
    fn reads_commands_and_skips_annotations() {
        let input = b"#TS:1700000000\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n*1\r\n$0\r\n\r\n";
        assert_eq!(
            all(input),
            vec![
                Ok(vec![b"DEL".to_vec(), b"k".to_vec()]),
                Ok(vec![Vec::new()])
            ]
        );
        let mut r = Reader::new(input);
        let rec = r.next_record().unwrap().unwrap();
        assert_eq!((rec.offset, rec.end), (16, 36));
    }

    #[test]
    fn an_unfinished_record_is_truncation() {
        let whole = b"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n";
        for cut in 1..whole.len() {
            let mut input = b"*1\r\n$4\r\nPING\r\n".to_vec();
            input.extend_from_slice(&whole[..cut]);
            let got = all(&input);
            assert_eq!(got.len(), 2, "cut {cut}");
            assert_eq!(
                got[1],
                Err(ReadError::Truncated { offset: 14 }),
                "cut {cut}"
            );
        }
        assert_eq!(all(b"#TS:1"), vec![Err(ReadError::Truncated { offset: 0 })]);
    }

    #[test]
    fn format_errors_are_corruption_but_a_zero_tail_is_not() {
        let bad = |input: &[u8]| match all(input).pop() {
            Some(Err(ReadError::Corrupt { offset, .. })) => offset,
            other => panic!("{other:?}"),
        };
        assert_eq!(bad(b"+OK\r\n"), 0);
        assert_eq!(bad(b"*1\r\n$4\r\nPINGxx*1\r\n"), 12);
        assert_eq!(bad(b"*0\r\n"), 0);
        assert_eq!(bad(b"*1\r\n:4\r\n"), 4);
        assert_eq!(bad(b"*x\r\n"), 1);
        assert_eq!(bad(b"*1\r\n$-1\r\n"), 5);
        assert_eq!(bad(b"*1\r\n$99999999999999999999\r\n"), 23);
        let mut zeros = b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI".to_vec();
        zeros.extend_from_slice(&[0; 100]);
        assert_eq!(
            all(&zeros).pop(),
            Some(Err(ReadError::Truncated { offset: 14 }))
        );
        let mut zeros = b"*1\r\n$4\r\nPING\r\n".to_vec();
        zeros.extend_from_slice(&[0; 10]);
        assert_eq!(
            all(&zeros).pop(),
            Some(Err(ReadError::Truncated { offset: 14 }))
        );
    }
}
