//! Which CPUs the server's threads run on: the CPUs the process is allowed (taskset, cgroup
//! cpusets), narrowed by Redis's `server_cpulist`, `bio_cpulist`, `bgsave_cpulist` and
//! `aof_rewrite_cpulist` when they are set.

use std::sync::OnceLock;

/// The CPUs this process may run on, by number, in order; `[0]` if they cannot be read.
pub fn allowed() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a live cpu_set_t of `size` bytes; pid 0 is this thread.
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return vec![0];
    }
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if cpus.is_empty() {
        vec![0]
    } else {
        cpus
    }
}

/// The CPUs a Redis cpulist names ("0,2,4-7", "0-15:2"), in order. `None` for an empty or
/// malformed list, which Redis ignores (the thread keeps the CPUs it had).
pub fn parse_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let (range, step) = match part.split_once(':') {
            Some((range, step)) => (range, number(step)?),
            None => (part, 1),
        };
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            // A step belongs to a range: "5:2" is malformed.
            None if part.contains(':') => return None,
            None => (number(range)?, number(range)?),
        };
        if step == 0 || first > last || last >= libc::CPU_SETSIZE as usize {
            return None;
        }
        cpus.extend((first..=last).step_by(step));
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus).filter(|c| !c.is_empty())
}

fn number(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Restricts the calling thread to `cpus`. Like Redis, a failure (CPUs outside the cpuset,
/// say) leaves the thread where it was.
pub fn pin_current_thread(cpus: &[usize]) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: `parse_list` and `allowed` only yield CPUs below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a live cpu_set_t; pid 0 is the calling thread.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
}

/// `bio_cpulist`, for the background threads (lazy freeing, the child watcher, signals).
static BIO: OnceLock<Option<Vec<usize>>> = OnceLock::new();

/// Records `bio_cpulist` before any background thread starts.
pub fn set_bio_list(list: &str) {
    let _ = BIO.set(parse_list(list));
}

/// Pins the calling background thread to `bio_cpulist`, if set.
pub fn pin_bio_thread() {
    if let Some(Some(cpus)) = BIO.get() {
        pin_current_thread(cpus);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_read_as_redis_reads_them() {
        assert_eq!(parse_list("0"), Some(vec![0]));
        assert_eq!(parse_list("0,2,3"), Some(vec![0, 2, 3]));
        assert_eq!(parse_list("1-3"), Some(vec![1, 2, 3]));
        assert_eq!(parse_list("0-7:2"), Some(vec![0, 2, 4, 6]));
        assert_eq!(parse_list("4-5,0-1"), Some(vec![0, 1, 4, 5]));
        for bad in [
            "", "a", "1-", "-1", "3-1", "0-7:0", "1,,2", "1 ", "0-3:x", "5:2", "0-3,",
        ] {
            assert_eq!(parse_list(bad), None, "{bad:?}");
        }
    }
}
