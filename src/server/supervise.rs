//! Running under a supervisor or in the background, as redis-server does: `supervised`
//! (systemd's notify protocol, upstart's stop signal) and `daemonize`.

use crate::config::Config;

/// Who is told when the server is ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Supervisor {
    None,
    /// systemd's `Type=notify`: READY=1 on the socket in `NOTIFY_SOCKET`.
    Systemd,
    /// upstart's `expect stop`: the process stops itself once ready.
    Upstart,
}

/// Which supervisor `supervised` names, or finds with `auto`, as Redis's `redisIsSupervised`
/// decides (with its warnings when the one asked for is not there).
pub fn detect(config: &Config) -> Supervisor {
    let upstart = std::env::var_os("UPSTART_JOB").is_some();
    let systemd = std::env::var_os("NOTIFY_SOCKET").is_some();
    match config.supervised() {
        "upstart" if upstart => Supervisor::Upstart,
        "upstart" => {
            crate::log!(
                Warning,
                "upstart supervision requested, but UPSTART_JOB not found!"
            );
            Supervisor::None
        }
        "systemd" | "auto" if systemd => Supervisor::Systemd,
        "auto" if upstart => Supervisor::Upstart,
        "systemd" => {
            crate::log!(
                Warning,
                "systemd supervision requested or auto-detected, but NOTIFY_SOCKET not found!"
            );
            Supervisor::None
        }
        _ => Supervisor::None,
    }
}

impl Supervisor {
    /// The server accepts connections.
    pub fn ready(self) {
        match self {
            Supervisor::Systemd => {
                crate::log!(Notice, "supervised by systemd, will signal readiness");
                notify_systemd("STATUS=Ready to accept connections\n");
                notify_systemd("READY=1\n");
            }
            Supervisor::Upstart => {
                crate::log!(
                    Notice,
                    "supervised by upstart, will stop to signal readiness."
                );
                // SAFETY: raising a signal on our own process.
                unsafe { libc::raise(libc::SIGSTOP) };
                std::env::remove_var("UPSTART_JOB");
            }
            Supervisor::None => {}
        }
    }
}

/// One datagram to systemd's notification socket (`@name` is an abstract address).
fn notify_systemd(message: &str) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let addr = match path.as_encoded_bytes().strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name),
        None => SocketAddr::from_pathname(&path),
    };
    let sent =
        addr.and_then(|addr| UnixDatagram::unbound()?.send_to_addr(message.as_bytes(), &addr));
    if let Err(e) = sent {
        crate::log!(Warning, "Can't send notification to systemd: {e}");
    }
}

/// `daemonize yes`: the process forks, the parent exits, and the child carries on in a new
/// session with its standard streams on /dev/null (a log on stdout is then lost, as with
/// Redis). Must run before any thread exists: only the calling thread survives a fork.
pub fn daemonize() {
    // SAFETY: fork before any other thread exists; the parent exits at once without running
    // anything of its own.
    match unsafe { libc::fork() } {
        -1 => {
            crate::log!(
                Warning,
                "Can't daemonize: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
        0 => {}
        _ => std::process::exit(0),
    }
    // SAFETY: plain system calls on descriptors this process owns.
    unsafe {
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
}
