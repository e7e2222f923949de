//! The slow log: the latest commands that took longer than `slowlog-log-slower-than`, newest
//! first, each with a unique id, as SLOWLOG GET shows them.
//!
//! An entry keeps a bounded copy of the command: at most [`MAX_ARGS`] arguments and
//! [`MAX_ARG_BYTES`] bytes of each, with a note of what was cut, as Redis keeps it, so that a
//! command with a million arguments costs the log no more than a short one.

use std::collections::VecDeque;

use bytes::Bytes;

/// Arguments kept per entry; the last one kept says how many more there were.
pub const MAX_ARGS: usize = 32;
/// Bytes kept per argument; the rest is counted.
pub const MAX_ARG_BYTES: usize = 128;

#[derive(Clone, Debug, PartialEq)]
pub struct SlowEntry {
    pub id: u64,
    /// Unix seconds when the command ended.
    pub time: i64,
    pub micros: u64,
    pub args: Vec<Bytes>,
    /// The client's address (`ip:port`) and name, as CLIENT LIST shows them.
    pub peer: String,
    pub name: Bytes,
}

#[derive(Default, Debug)]
pub struct SlowLog {
    /// Newest first.
    entries: VecDeque<SlowEntry>,
    next_id: u64,
}

impl SlowLog {
    /// Logs a command, then forgets the oldest entries past `max_len` (a shorter
    /// `slowlog-max-len` takes effect at the next entry, as in Redis). Ids keep counting
    /// across RESET.
    pub fn push(
        &mut self,
        args: &[Bytes],
        micros: u64,
        time: i64,
        peer: String,
        name: Bytes,
        max_len: usize,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push_front(SlowEntry {
            id,
            time,
            micros,
            args: kept_args(args),
            peer,
            name,
        });
        self.entries.truncate(max_len);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The newest `count` entries, newest first.
    pub fn newest(&self, count: usize) -> impl Iterator<Item = &SlowEntry> {
        self.entries.iter().take(count)
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }
}

/// What an entry keeps of a command's arguments.
fn kept_args(args: &[Bytes]) -> Vec<Bytes> {
    let cut_args = args.len() > MAX_ARGS;
    let kept = if cut_args { MAX_ARGS - 1 } else { args.len() };
    let mut out: Vec<Bytes> = args[..kept]
        .iter()
        .map(|a| {
            if a.len() <= MAX_ARG_BYTES {
                // A copy, not a view: a view would pin the whole request buffer it came from.
                Bytes::copy_from_slice(a)
            } else {
                let mut cut = a[..MAX_ARG_BYTES].to_vec();
                cut.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_ARG_BYTES).as_bytes(),
                );
                Bytes::from(cut)
            }
        })
        .collect();
    if cut_args {
        out.push(Bytes::from(format!(
            "... ({} more arguments)",
            args.len() - kept
        )));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn push(log: &mut SlowLog, a: &[Bytes], max_len: usize) {
        log.push(a, 5, 100, "127.0.0.1:1".into(), Bytes::new(), max_len);
    }

    #[test]
    fn newest_first_with_increasing_ids_bounded_by_max_len() {
        let mut log = SlowLog::default();
        for i in 0..5 {
            push(&mut log, &args(&["ping", &i.to_string()]), 3);
        }
        assert_eq!(log.len(), 3);
        let ids: Vec<u64> = log.newest(10).map(|e| e.id).collect();
        assert_eq!(ids, [4, 3, 2]);
        assert_eq!(log.newest(1).next().unwrap().args, args(&["ping", "4"]));
        log.reset();
        assert!(log.is_empty());
        push(&mut log, &args(&["ping"]), 3);
        assert_eq!(log.newest(1).next().unwrap().id, 5);
    }

    #[test]
    fn long_commands_are_cut_as_redis_cuts_them() {
        let mut many = args(&["sadd", "set"]);
        many.extend((3..=33).map(|i| Bytes::from(i.to_string())));
        let kept = kept_args(&many);
        assert_eq!(kept.len(), 32);
        assert_eq!(kept[30], "31");
        assert_eq!(kept[31], "... (2 more arguments)");

        let long = Bytes::from("A".repeat(129));
        let kept = kept_args(&[Bytes::from("sadd"), long]);
        assert_eq!(kept[1], format!("{}... (1 more bytes)", "A".repeat(128)));
        // Exactly 32 arguments are all kept.
        assert_eq!(kept_args(&many[..32]).len(), 32);
        assert_eq!(kept_args(&many[..32])[31], "32");
    }
}
