//! `tessera-server`: load the configuration, start the shards, serve until shutdown.

use std::sync::Arc;

#[global_allocator]
static GLOBAL: tessera::alloc::Counting = tessera::alloc::Counting;

fn main() {
    // A panic in any thread (a shard, the control thread) ends the process, as Redis's
    // serverPanic does: a server with a dead shard would hang its clients instead.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        tessera::log::bug_report(info);
        std::process::abort();
    }));
    // Prints --help / --version and exits by itself; any other problem comes back as the
    // message redis-server would print.
    let config = match tessera::config::load(std::env::args()) {
        Ok(c) => Arc::new(tessera::config::ConfigStore::new(c)),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    // From here on, problems go to the server's log, as redis-server reports them.
    if let Err(e) = tessera::server::run(config) {
        tessera::log!(Warning, "{e}");
        std::process::exit(1);
    }
}
