//! `tessera-server`: load the configuration, start the shards, serve until shutdown.

use std::sync::Arc;

#[global_allocator]
static GLOBAL: tessera::alloc::Counting = tessera::alloc::Counting;

fn main() {
    let config = match tessera::config::ConfigStore::from_args(std::env::args().collect()) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = tessera::server::run(config) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
