//! One shard's pending AOF bytes: commands are appended on the shard thread as they run, and
//! the writer takes them in batches (see the module docs of [`crate::aof`] for the format).

use super::TX_COMMAND;

/// One shard's pending AOF bytes, appended on the shard thread as commands run.
#[derive(Debug, Default)]
pub struct AofLog {
    buf: Vec<u8>,
    /// Bytes handed to the writer so far.
    taken: u64,
    /// The database of the last record written; `None` forces a SELECT before the next one.
    db: Option<usize>,
}

impl AofLog {
    pub fn new() -> AofLog {
        AofLog::default()
    }

    /// Bytes the buffer holds allocated (INFO's mem_aof_buffer).
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends one command as a RESP multibulk, preceded by `SELECT <db>` when `db` differs
    /// from the database of the last command written (as Redis does).
    pub fn command<A: AsRef<[u8]>>(&mut self, db: usize, args: &[A]) {
        if self.db != Some(db) {
            let mut n = itoa::Buffer::new();
            encode(
                &mut self.buf,
                &[b"SELECT".as_slice(), n.format(db).as_bytes()],
            );
            self.db = Some(db);
        }
        encode(&mut self.buf, args);
    }

    /// Opens this shard's part of a write spanning `parts` shards. `id` must be unique across
    /// shards; every part must be closed with [`AofLog::tx_end`] before anything else is
    /// logged on this shard.
    pub fn tx_begin(&mut self, id: u64, parts: u32) {
        let (mut a, mut b) = (itoa::Buffer::new(), itoa::Buffer::new());
        encode(
            &mut self.buf,
            &[
                TX_COMMAND.as_bytes(),
                b"BEGIN",
                a.format(id).as_bytes(),
                b.format(parts).as_bytes(),
            ],
        );
    }

    pub fn tx_end(&mut self, id: u64) {
        let mut a = itoa::Buffer::new();
        encode(
            &mut self.buf,
            &[TX_COMMAND.as_bytes(), b"END", a.format(id).as_bytes()],
        );
    }

    /// Appends the records of `other`, a log of its own (a transaction's part), which starts
    /// with its own SELECT; the next record here must SELECT again.
    pub fn append(&mut self, other: AofLog) {
        self.buf.extend_from_slice(&other.buf);
        self.db = None;
    }

    /// Bytes appended since creation (monotonic): the writer fsyncs "up to position P", and a
    /// client's write is acknowledged once the position after its command is durable.
    pub fn position(&self) -> u64 {
        self.taken + self.buf.len() as u64
    }

    /// Bytes pending, not yet taken.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Hands the pending bytes to the writer.
    pub fn take(&mut self) -> Vec<u8> {
        self.taken += self.buf.len() as u64;
        std::mem::take(&mut self.buf)
    }

    /// Like [`AofLog::take`], but keeps `recycled` (cleared) as the next buffer, so that a
    /// writer handing its written buffers back avoids reallocating.
    pub fn swap(&mut self, mut recycled: Vec<u8>) -> Vec<u8> {
        recycled.clear();
        self.taken += self.buf.len() as u64;
        std::mem::replace(&mut self.buf, recycled)
    }

    /// After the writer switches files (rewrite), the next command must re-SELECT: each file
    /// is read from database 0.
    pub fn forget_db(&mut self) {
        self.db = None;
    }
}

/// Appends `args` to `out` as a RESP multibulk of bulk strings.
pub fn encode<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    let mut n = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(n.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(n.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_only_when_the_database_changes() {
        let mut log = AofLog::new();
        log.command(0, &["SET", "k", "v"]);
        log.command(0, &["DEL", "k"]);
        log.command(3, &["INCR", "n"]);
        assert_eq!(
            log.take(),
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n\
              *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n\
              *2\r\n$3\r\nDEL\r\n$1\r\nk\r\n\
              *2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n\
              *2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"
        );
        log.command(3, &["INCR", "n"]);
        log.forget_db();
        log.command(3, &["INCR", "n"]);
        assert_eq!(
            log.take(),
            b"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n\
              *2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n\
              *2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"
        );
    }

    #[test]
    fn position_counts_every_byte_ever_appended() {
        let mut log = AofLog::new();
        assert_eq!(log.position(), 0);
        log.command(0, &[b"PING".as_slice()]);
        let p = log.position();
        assert_eq!(p as usize, log.pending());
        let first = log.swap(Vec::with_capacity(64));
        assert_eq!(first.len() as u64, p);
        assert_eq!(log.position(), p);
        log.tx_begin(7, 2);
        log.tx_end(7);
        let second = log.take();
        assert_eq!(
            second,
            b"*4\r\n$10\r\nTESSERA.TX\r\n$5\r\nBEGIN\r\n$1\r\n7\r\n$1\r\n2\r\n\
              *3\r\n$10\r\nTESSERA.TX\r\n$3\r\nEND\r\n$1\r\n7\r\n"
        );
        assert_eq!(log.position(), p + second.len() as u64);
    }

    #[test]
    fn binary_arguments_are_length_prefixed() {
        let mut out = Vec::new();
        encode(&mut out, &[b"SET".as_slice(), b"a\r\nb", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n$0\r\n\r\n");
    }
}
