//! Redis's own test suite, run against Tessera as a user would run it (Redis 7.0.15's Tcl
//! tests in `../shared/redis-suite`, external mode: a fresh server per unit, started with the
//! flags the reference Redis ran with). Each unit named in `tests/redis-suite-floor.txt` must
//! pass at least as many tests as that file says, so that a regression fails the build; raise
//! the floor as features land; a unit below its floor runs once more before the test fails.
//! docs/compatibility.md has the table for every unit, next to Redis's own results.

use std::path::Path;
use std::process::Command;

#[test]
fn units_pass_at_least_their_floor() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runner = root.join("../shared/redis-suite/run.sh");
    assert!(
        runner.exists(),
        "Redis's test suite is expected at {} (CI has ../shared beside the clone)",
        runner.display()
    );
    let floor = root.join("tests/redis-suite-floor.txt");
    let units: Vec<String> = std::fs::read_to_string(&floor)
        .expect("the floor file")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    let server = format!(
        "{} --threads 2 --save '' --appendonly no --enable-debug-command yes \
         --enable-protected-configs yes --enable-module-command yes",
        env!("CARGO_BIN_EXE_tessera-server")
    );
    let run = |units: &[String]| {
        let out = Command::new("bash")
            .arg(&runner)
            .args(units)
            .env("SERVER_CMD", &server)
            .env("FLOOR", &floor)
            // Away from the ports other tests pick (the kernel's ephemeral range is above).
            .env("PORT", "27611")
            .env("UNIT_TIMEOUT", "300")
            .output()
            .expect("bash runs the suite's runner");
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        println!("{report}{}", String::from_utf8_lossy(&out.stderr));
        (out.status.success(), report)
    };
    let (passed, report) = run(&units);
    if passed {
        return;
    }
    // Some tests race clients on different connections, which reach different shards (e.g.
    // two BRPOPLPUSH sent back to back are expected to block in the order sent): a busy machine can
    // reorder them and end a unit early. A lost feature fails twice; a slow moment does not.
    let below: Vec<String> = report
        .lines()
        .filter_map(|l| l.trim().strip_prefix("below floor: "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(!below.is_empty(), "the suite's runner failed:\n{report}");
    println!("running again, once: {}", below.join(" "));
    let (passed, again) = run(&below);
    assert!(
        passed,
        "a unit passed fewer tests than its floor, twice:\n{report}\n{again}"
    );
}
