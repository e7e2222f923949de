//! The reply parser: reads RESP3 replies back into [`Frame`]s.
//!
//! Tessera writes replies far more often than it reads them; today the only replies it reads
//! are the ones recorded from a real redis-server for COMMAND INFO and COMMAND DOCS
//! (`cmd/meta.rs`). RESP3 is the form to record, because it keeps what RESP2 flattens away (a
//! set is not an array, a map is not a list of pairs), so a parsed reply renders again as
//! Redis would in either protocol version.
//!
//! Only the types a [`Frame`] can hold are accepted; attributes, big numbers and verbatim
//! strings are refused rather than approximated.

use bytes::Bytes;

use crate::resp::Frame;

/// Parses the reply at the front of `input`: the frame and how many bytes it took. Incomplete or
/// malformed input is an error; the caller reads whole, trusted files.
pub fn parse_reply(input: &[u8]) -> Result<(Frame, usize), String> {
    let mut pos = 0;
    let frame = value(input, &mut pos)?;
    Ok((frame, pos))
}

fn value(input: &[u8], pos: &mut usize) -> Result<Frame, String> {
    let start = *pos;
    let line = line(input, pos)?;
    let (&kind, rest) = line
        .split_first()
        .ok_or_else(|| format!("empty line at byte {start}"))?;
    let number = || -> Result<i64, String> {
        std::str::from_utf8(rest)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad length or integer at byte {start}"))
    };
    let count = || -> Result<usize, String> {
        usize::try_from(number()?).map_err(|_| format!("negative count at byte {start}"))
    };
    Ok(match kind {
        b'+' => Frame::Simple(Bytes::copy_from_slice(rest)),
        b'-' => Frame::Error(Bytes::copy_from_slice(rest)),
        b':' => Frame::Integer(number()?),
        b'_' => Frame::Null,
        b'#' => match rest {
            b"t" => Frame::Boolean(true),
            b"f" => Frame::Boolean(false),
            _ => return Err(format!("bad boolean at byte {start}")),
        },
        b',' => Frame::Double(
            std::str::from_utf8(rest)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad double at byte {start}"))?,
        ),
        b'$' => {
            let len = count()?;
            let body = input
                .get(*pos..*pos + len)
                .filter(|_| input.get(*pos + len..*pos + len + 2) == Some(b"\r\n"))
                .ok_or_else(|| format!("truncated bulk string at byte {start}"))?;
            *pos += len + 2;
            Frame::Bulk(Bytes::copy_from_slice(body))
        }
        b'*' | b'~' | b'>' => {
            let items = (0..count()?)
                .map(|_| value(input, pos))
                .collect::<Result<Vec<_>, _>>()?;
            match kind {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                _ => Frame::Push(items),
            }
        }
        b'%' => Frame::Map(
            (0..count()?)
                .map(|_| Ok((value(input, pos)?, value(input, pos)?)))
                .collect::<Result<Vec<_>, String>>()?,
        ),
        other => {
            return Err(format!(
                "unsupported reply type {:?} at byte {start}",
                other as char
            ))
        }
    })
}

/// The line at `pos` without its CRLF; moves `pos` past it.
fn line<'a>(input: &'a [u8], pos: &mut usize) -> Result<&'a [u8], String> {
    let rest = &input[*pos..];
    let end = memchr::memmem::find(rest, b"\r\n")
        .ok_or_else(|| format!("unterminated line at byte {pos}"))?;
    *pos += end + 2;
    Ok(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    /// Every type a Frame holds comes back as the same bytes in RESP3.
    #[test]
    fn round_trips_through_frame() {
        for bytes in [
            &b"+OK\r\n"[..],
            b"-ERR x\r\n",
            b":-3\r\n",
            b"$0\r\n\r\n",
            b"$4\r\na\r\nb\r\n",
            b"_\r\n",
            b"#t\r\n",
            b",1.5\r\n",
            b"*2\r\n:1\r\n~1\r\n+a\r\n",
            b"%1\r\n$1\r\nk\r\n*0\r\n",
            b">1\r\n:1\r\n",
        ] {
            let (frame, used) = parse_reply(bytes).unwrap();
            assert_eq!(used, bytes.len());
            let mut out = BytesMut::new();
            frame.write(&mut out, true);
            assert_eq!(&out[..], bytes);
        }
    }

    #[test]
    fn refuses_what_it_cannot_hold() {
        for bad in [
            &b"*2\r\n:1\r\n"[..],
            b"$5\r\nab\r\n",
            b"=7\r\ntxt:abc\r\n",
            b"+OK",
            b"*-1\r\n",
        ] {
            assert!(parse_reply(bad).is_err(), "{bad:?}");
        }
    }
}
