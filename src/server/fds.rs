//! The descriptor limit `maxclients` needs, as Redis's `adjustOpenFilesLimit` raises it: each
//! client is a socket, and the server keeps some descriptors of its own.

/// Descriptors kept for the server's own use beside the clients': Redis's 32, plus each
/// shard's rings, bell and listening sockets.
pub fn reserved(shards: usize) -> u64 {
    32 + 8 * shards as u64
}

/// Raises the process's open-files limit to `wanted` if it is lower, or as close to it as the
/// system allows (Redis steps down by 16 until a setrlimit succeeds). Returns the limit now in
/// force, and the error of the last refused attempt, if any.
pub fn raise_limit(wanted: u64) -> (u64, Option<std::io::Error>) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into a live local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return (1024, Some(std::io::Error::last_os_error()));
    }
    let old = limit.rlim_cur;
    if old >= wanted {
        return (old, None);
    }
    let mut best = wanted;
    let mut error = None;
    while best > old {
        let attempt = libc::rlimit {
            rlim_cur: best,
            rlim_max: best.max(limit.rlim_max),
        };
        // SAFETY: setrlimit reads one live rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &attempt) } == 0 {
            return (best, error);
        }
        error = Some(std::io::Error::last_os_error());
        if best < 16 {
            break;
        }
        best -= 16;
    }
    (old, error)
}
