//! memtier-style pipelined load against four shards: every reply is checked by the load tool.

mod common;

use std::process::Command;

use common::Server;

#[test]
fn pipelined_mixed_load_runs_without_errors() {
    let server = Server::tessera_threads(4, &[]);
    for (pipeline, ratio) in [("16", "1:10"), ("1", "1:1")] {
        let out = Command::new(env!("CARGO_BIN_EXE_tessera-load"))
            .args([
                "--port",
                &server.port.to_string(),
                "--threads",
                "2",
                "--clients",
                "8",
            ])
            .args([
                "--pipeline",
                pipeline,
                "--ratio",
                ratio,
                "--requests",
                "3000",
                "--keys",
                "2000",
            ])
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "load failed: {report}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            report.contains("0 bad replies, 0 failed connections"),
            "{report}"
        );
    }
}
