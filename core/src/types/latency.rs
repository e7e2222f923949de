//! The LATENCY monitor's event history: per-event time series, LATENCY GRAPH and LATENCY DOCTOR.
//!
//! Whenever an operation takes at least `latency-monitor-threshold` milliseconds the server
//! records a sample under an event name ("command", "fast-command", "expire-cycle", ...). Like
//! Redis, each event keeps the last [`LATENCY_TS_LEN`] seconds that had a spike (one sample per
//! second, the worst of that second) in a ring, plus the worst latency ever seen. Everything here
//! takes the current time as an argument, so the caller owns the clock and tests can fix it.
//!
//! Events are iterated in sorted (byte-wise) name order. Redis keeps them in an unordered dict,
//! so no client can depend on its order; sorted keeps replies stable across calls and runs.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Samples kept per event: Redis's `LATENCY_TS_LEN`.
pub const LATENCY_TS_LEN: usize = 160;

/// One second's worst latency for an event. A slot whose `time` is 0 has never been written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySample {
    /// Unix time, seconds.
    pub time: i64,
    /// Milliseconds.
    pub latency: u32,
}

/// One row of LATENCY LATEST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatestSample<'a> {
    pub event: &'a str,
    pub time: i64,
    pub latency: u32,
    /// The worst latency since the event was created or last reset.
    pub all_time_high: u32,
}

/// What LATENCY DOCTOR computes for one event (Redis's `struct latencyStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyStats {
    pub all_time_high: u32,
    /// Integer mean of the samples in the ring.
    pub avg: u32,
    pub min: u32,
    pub max: u32,
    /// Integer mean absolute deviation from `avg`.
    pub mad: u32,
    pub samples: u32,
    /// Seconds from the oldest sample to now, at least 1 when there are samples.
    pub period: i64,
}

/// Server state LATENCY DOCTOR bases its advice on.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DoctorFacts {
    /// `latency-monitor-threshold`, ms; 0 means the monitor is off.
    pub monitor_threshold_ms: u64,
    /// `slowlog-log-slower-than`, µs; negative means the slow log is off.
    pub slowlog_slower_than_us: i64,
    /// AOF is on with `appendfsync always`.
    pub appendfsync_always: bool,
    /// `hz`.
    pub hz: u32,
    /// GB copied per second by the last fork, when the server has measured one.
    pub fork_rate_gb_per_sec: Option<f64>,
    /// The process has transparent huge pages (non-zero AnonHugePages).
    pub huge_pages: bool,
}

#[derive(Clone, Debug)]
struct Series {
    /// Where the next new second is written; the slot before it is the latest.
    next: usize,
    all_time_high: u32,
    ring: [LatencySample; LATENCY_TS_LEN],
}

impl Series {
    fn new() -> Self {
        Series {
            next: 0,
            all_time_high: 0,
            ring: [LatencySample::default(); LATENCY_TS_LEN],
        }
    }

    fn last_index(&self) -> usize {
        (self.next + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN
    }

    /// Written samples, oldest first: the ring read from the write position round.
    fn chronological(&self) -> impl Iterator<Item = &LatencySample> {
        let (newer, older) = self.ring.split_at(self.next);
        older.iter().chain(newer).filter(|s| s.time != 0)
    }

    fn stats(&self, now_secs: i64) -> LatencyStats {
        let mut st = LatencyStats {
            all_time_high: self.all_time_high,
            ..LatencyStats::default()
        };
        let written = || self.ring.iter().filter(|s| s.time != 0);
        let mut sum: u64 = 0;
        let mut oldest = None::<i64>;
        for s in written() {
            if st.samples == 0 {
                st.min = s.latency;
                st.max = s.latency;
            }
            st.min = st.min.min(s.latency);
            st.max = st.max.max(s.latency);
            st.samples += 1;
            sum += u64::from(s.latency);
            oldest = Some(oldest.map_or(s.time, |o| o.min(s.time)));
        }
        let Some(oldest) = oldest else { return st };
        let n = u64::from(st.samples);
        // The mean of u32s fits a u32.
        st.avg = (sum / n) as u32;
        // Spikes all within the current second still span a second, as in Redis's report.
        st.period = match now_secs - oldest {
            0 => 1,
            p => p,
        };
        let deviation: u64 = written()
            .map(|s| u64::from(st.avg.abs_diff(s.latency)))
            .sum();
        st.mad = (deviation / n) as u32;
        st
    }
}

/// The latency monitor's per-event histories.
#[derive(Clone, Debug, Default)]
pub struct LatencyEvents {
    events: BTreeMap<String, Series>,
}

impl LatencyEvents {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of events with a history.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Records a spike of `latency_ms` for `event` at `now_secs`, keeping one sample per second:
    /// a second spike in the same second only raises that second's sample. The caller decides
    /// whether the latency crosses the threshold.
    pub fn add_sample(&mut self, event: &str, latency_ms: u64, now_secs: i64) {
        // Redis stores u32 milliseconds too; 49 days of latency is past caring about precision.
        let latency = u32::try_from(latency_ms).unwrap_or(u32::MAX);
        if !self.events.contains_key(event) {
            self.events.insert(event.to_owned(), Series::new());
        }
        let series = self.events.get_mut(event).expect("inserted above");
        series.all_time_high = series.all_time_high.max(latency);

        let last = series.last_index();
        if series.ring[last].time == now_secs {
            let prev = &mut series.ring[last].latency;
            *prev = (*prev).max(latency);
            return;
        }
        series.ring[series.next] = LatencySample {
            time: now_secs,
            latency,
        };
        series.next = (series.next + 1) % LATENCY_TS_LEN;
    }

    /// LATENCY RESET: drops the event named `event` (ASCII case-insensitively, as Redis's
    /// strcasecmp), or every event when `None`. Returns how many were dropped.
    pub fn reset(&mut self, event: Option<&str>) -> usize {
        let before = self.events.len();
        match event {
            None => self.events.clear(),
            Some(wanted) => self
                .events
                .retain(|name, _| !name.eq_ignore_ascii_case(wanted)),
        }
        before - self.events.len()
    }

    /// LATENCY LATEST: every event's most recent sample and all-time high.
    pub fn latest(&self) -> impl Iterator<Item = LatestSample<'_>> {
        self.events.iter().map(|(name, series)| {
            let last = series.ring[series.last_index()];
            LatestSample {
                event: name,
                time: last.time,
                latency: last.latency,
                all_time_high: series.all_time_high,
            }
        })
    }

    /// LATENCY HISTORY: `event`'s samples, oldest first; empty for an unknown event. The name
    /// matches exactly (Redis looks it up case-sensitively here, unlike RESET).
    pub fn history(&self, event: &str) -> Vec<LatencySample> {
        self.events
            .get(event)
            .map(|s| s.chronological().copied().collect())
            .unwrap_or_default()
    }

    /// Redis's analyzeLatencyForEvent; `None` for an unknown event.
    pub fn stats(&self, event: &str, now_secs: i64) -> Option<LatencyStats> {
        self.events.get(event).map(|s| s.stats(now_secs))
    }

    /// LATENCY GRAPH: the text Redis renders for `event`, byte for byte. `None` when the event
    /// has no history (Redis then replies "No samples available for event '<name>'").
    pub fn graph(&self, event: &str, now_secs: i64) -> Option<String> {
        let (name, series) = self.events.get_key_value(event)?;
        let points: Vec<GraphPoint> = series
            .chronological()
            .map(|s| GraphPoint {
                value: s.latency,
                label: age_label(now_secs - s.time),
            })
            .collect();
        let low = points.iter().map(|p| p.value).min().unwrap_or(0);
        let high = points.iter().map(|p| p.value).max().unwrap_or(0);

        let mut out = String::new();
        let _ = writeln!(
            out,
            "{name} - high {high} ms, low {low} ms (all time high {} ms)",
            series.all_time_high
        );
        out.push_str(&"-".repeat(GRAPH_COLUMNS));
        out.push('\n');
        render_sparkline(&mut out, &points);
        Some(out)
    }

    /// LATENCY DOCTOR: a human-readable report of every event with advice. Follows Redis's
    /// createLatencyReport in structure, statistics and per-event line.
    pub fn doctor(&self, now_secs: i64, facts: &DoctorFacts) -> String {
        let mut out = String::new();
        if self.events.is_empty() && facts.monitor_threshold_ms == 0 {
            out.push_str(
                "I'm sorry, Dave, I can't do that. Latency monitoring is disabled on this server. \
                 Turn it on with \"CONFIG SET latency-monitor-threshold <milliseconds>\" and ask \
                 me again once something has been slow.\n",
            );
            return out;
        }

        let mut advice = Advice::default();
        for (n, (name, series)) in self.events.iter().enumerate() {
            if n == 0 {
                out.push_str(
                    "Dave, I have observed latency spikes in this Redis instance. \
                     You don't mind talking about it, do you Dave?\n\n",
                );
            }
            let st = series.stats(now_secs);
            let _ = write!(
                out,
                "{}. {name}: {} latency spikes (average {}ms, mean deviation {}ms, \
                 period {:.2} sec). Worst all time event {}ms.",
                n + 1,
                st.samples,
                st.avg,
                st.mad,
                st.period as f64 / f64::from(st.samples),
                series.all_time_high,
            );
            if name.eq_ignore_ascii_case("fork") {
                if let Some(rate) = facts.fork_rate_gb_per_sec {
                    let quality = match rate {
                        r if r < 10.0 => "terrible",
                        r if r < 25.0 => "poor",
                        r if r < 100.0 => "good",
                        _ => "excellent",
                    };
                    advice.better_vm |= rate < 25.0;
                    let _ = write!(out, " Fork rate is {rate:.2} GB/sec ({quality}).");
                }
            }
            advice.note_event(name, facts);
            out.push('\n');
        }
        advice.huge_pages = facts.huge_pages;

        if !advice.any() {
            if self.events.is_empty() {
                out.push_str(
                    "Dave, no latency spike was observed during the lifetime of this Redis \
                     instance, not in the slightest bit. I honestly think you ought to sit down \
                     calmly, take a stress pill, and think things over.\n",
                );
            } else {
                out.push_str(
                    "\nThere are latency events, but none that I know an easy remedy for. \
                     If you ask for help, please include this report.\n",
                );
            }
            return out;
        }
        out.push_str("\nI have a few advices for you:\n\n");
        advice.write(&mut out, facts);
        out
    }
}

/// Which pieces of advice the report's events call for.
#[derive(Default)]
struct Advice {
    better_vm: bool,
    slowlog_enable: bool,
    slowlog_lower: bool,
    slowlog_inspect: bool,
    disk_contention: bool,
    scheduler: bool,
    data_writeback: bool,
    no_appendfsync_on_rewrite: bool,
    local_disk: bool,
    ssd: bool,
    write_load: bool,
    hz: bool,
    large_values: bool,
    mass_eviction: bool,
    relax_fsync: bool,
    huge_pages: bool,
}

impl Advice {
    fn note_event(&mut self, event: &str, facts: &DoctorFacts) {
        let is = |name: &str| event.eq_ignore_ascii_case(name);
        if is("command") {
            if facts.slowlog_slower_than_us < 0 {
                self.slowlog_enable = true;
            } else if facts.slowlog_slower_than_us / 1000 > facts.monitor_threshold_ms as i64 {
                self.slowlog_lower = true;
            }
            self.slowlog_inspect = true;
            self.large_values = true;
        }
        if is("fast-command") {
            self.scheduler = true;
        }
        if is("aof-write-pending-fsync") {
            self.local_disk = true;
            self.disk_contention = true;
            self.ssd = true;
            self.data_writeback = true;
        }
        if is("aof-write-active-child") {
            self.no_appendfsync_on_rewrite = true;
            self.data_writeback = true;
            self.ssd = true;
        }
        if is("aof-write-alone") {
            self.local_disk = true;
            self.data_writeback = true;
            self.ssd = true;
        }
        if is("aof-fsync-always") {
            self.relax_fsync = true;
        }
        if is("aof-fstat") || is("rdb-unlink-temp-file") {
            self.disk_contention = true;
            self.local_disk = true;
        }
        if is("aof-rewrite-diff-write") || is("aof-rename") {
            self.write_load = true;
            self.data_writeback = true;
            self.ssd = true;
            self.local_disk = true;
        }
        if is("expire-cycle") {
            self.hz = true;
            self.large_values = true;
        }
        if is("eviction-del") {
            self.large_values = true;
        }
        if is("eviction-cycle") {
            self.mass_eviction = true;
        }
    }

    /// Whether the report gets an advice section at all. Like Redis, a flag counts even when its
    /// text is then withheld (fsync policy already relaxed, hz already high).
    fn any(&self) -> bool {
        let Advice {
            better_vm,
            slowlog_enable,
            slowlog_lower,
            slowlog_inspect,
            disk_contention,
            scheduler,
            data_writeback,
            no_appendfsync_on_rewrite,
            local_disk,
            ssd,
            write_load,
            hz,
            large_values,
            mass_eviction,
            relax_fsync,
            huge_pages,
        } = *self;
        better_vm
            || slowlog_enable
            || slowlog_lower
            || slowlog_inspect
            || disk_contention
            || scheduler
            || data_writeback
            || no_appendfsync_on_rewrite
            || local_disk
            || ssd
            || write_load
            || hz
            || large_values
            || mass_eviction
            || relax_fsync
            || huge_pages
    }

    fn write(&self, out: &mut String, facts: &DoctorFacts) {
        let suggested_slowlog_us = facts.monitor_threshold_ms.saturating_mul(1000);
        let mut line = |on: bool, text: &str| {
            if on {
                out.push_str("- ");
                out.push_str(text);
                out.push('\n');
            }
        };
        line(
            self.better_vm,
            "fork() is slow on this machine. On a virtual machine, a bigger instance type or a \
             hypervisor with a faster fork() (Xen is known to be slow at it) shortens these pauses.",
        );
        line(
            self.slowlog_enable,
            &format!(
                "Commands are among the slow events, but the slow log is off, so it cannot tell \
                 you which ones. Turn it on with 'CONFIG SET slowlog-log-slower-than {suggested_slowlog_us}'."
            ),
        );
        line(
            self.slowlog_lower,
            &format!(
                "The slow log threshold is above the latency monitor threshold, so some of the \
                 slow commands counted here are missing from the slow log. Align them with \
                 'CONFIG SET slowlog-log-slower-than {suggested_slowlog_us}'."
            ),
        );
        line(
            self.slowlog_inspect,
            "SLOWLOG GET lists the slowest recent commands with their arguments: look there for \
             the commands behind these spikes.",
        );
        line(
            self.scheduler,
            "Code that makes no system calls is running slowly, which usually means the process \
             is not being given CPU time when it needs it. Things to try:\n\
             \x20 1) Reduce the load on the machine.\n\
             \x20 2) Give the server a machine or VM of its own if other software shares it.\n\
             \x20 3) Check for a \"noisy neighbour\" on shared hardware.\n\
             \x20 4) Measure the system's intrinsic latency with 'redis-cli --intrinsic-latency 100'.",
        );
        line(
            self.local_disk,
            "Keep persistence files, the AOF above all, on a local disk: network volumes offered \
             by hosting platforms are often slow to write and fsync.",
        );
        line(
            self.ssd,
            "An SSD lowers fsync latency and shortens snapshots and AOF rewrites. Treat it as a \
             last resort: ordinary disks should cope with a reasonable write load.",
        );
        line(
            self.data_writeback,
            "Mounting an ext3/ext4 filesystem with data=writeback rather than data=ordered can \
             speed up writes, but guarantees less: after a crash the AOF may end in a partly \
             written command that must be repaired before the server starts again.",
        );
        line(
            self.disk_contention,
            "Reduce disk contention: other disk-heavy processes on this machine (other servers \
             included) compete for the same device.",
        );
        line(
            self.no_appendfsync_on_rewrite,
            "If your durability needs allow it, set 'no-appendfsync-on-rewrite yes' so that no \
             fsync is issued while a child process writes a snapshot or rewrites the AOF, which \
             is when the disk is busiest.",
        );
        line(
            self.relax_fsync && facts.appendfsync_always,
            "appendfsync is 'always', so every write waits for the disk. 'everysec' is far \
             faster if losing up to a second of writes on a crash is acceptable.",
        );
        line(
            self.write_load,
            "Latency at the end of an AOF rewrite (writing the final difference, or the rename) \
             usually comes from a write load high enough to grow the AOF buffer a lot. Doing the \
             same work with fewer commands, for example grouped in a script, helps.",
        );
        line(
            self.hz && facts.hz < 100,
            "Setting 'hz' to 100 ('CONFIG SET hz 100') spreads the expiry of keys over smaller, \
             more frequent steps.",
        );
        line(
            self.large_values,
            "Deleting, expiring or evicting a very large value takes time. If such values are \
             removed often, consider splitting each into several smaller keys.",
        );
        line(
            self.mass_eviction,
            "Eviction ran long. A sudden cut of 'maxmemory' with CONFIG SET, or a burst of large \
             allocations (stored set or sorted set intersections, SORT ... STORE, RESTORE of big \
             keys during a migration) makes the server evict many keys at once.",
        );
        line(
            self.huge_pages,
            "The process uses transparent huge pages, which cause serious latency, around \
             persistence above all. Disable them with \
             'echo never > /sys/kernel/mm/transparent_hugepage/enabled' (and in your boot \
             scripts), then restart the server: pages already allocated stay until it restarts.",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// LATENCY GRAPH's sparkline: Redis's sparkline.c rendering in its "fill" mode, 4 rows high,
// wrapped at 80 columns, with each sample's age printed vertically below it.
// ---------------------------------------------------------------------------------------------

const GRAPH_COLUMNS: usize = 80;
const GRAPH_ROWS: usize = 4;
/// Each row resolves three levels; a column full above its top level is drawn as '|'.
const FILL_LEVELS: &[u8; 3] = b"_o#";
/// Blank lines between the curve and the labels.
const LABEL_MARGIN: usize = 1;

struct GraphPoint {
    value: u32,
    label: String,
}

/// How long ago a sample was, in the largest whole unit that keeps it readable.
fn age_label(elapsed: i64) -> String {
    match elapsed {
        // A sample from the future (clock stepped back) still lands here, as "-3s" in Redis too.
        e if e < 60 => format!("{e}s"),
        e if e < 3600 => format!("{}m", e / 60),
        e if e < 86_400 => format!("{}h", e / 3600),
        e => format!("{}d", e / 86_400),
    }
}

fn render_sparkline(out: &mut String, points: &[GraphPoint]) {
    let (Some(min), Some(max)) = (
        points.iter().map(|p| p.value).min(),
        points.iter().map(|p| p.value).max(),
    ) else {
        return;
    };
    // Every chunk shares the overall scale, so wrapped lines stay comparable.
    let span = u64::from(max - min).max(1);
    for (n, chunk) in points.chunks(GRAPH_COLUMNS).enumerate() {
        if n > 0 {
            out.push('\n');
        }
        render_chunk(out, chunk, min, span);
    }
}

fn render_chunk(out: &mut String, points: &[GraphPoint], min: u32, span: u64) {
    let levels = (FILL_LEVELS.len() * GRAPH_ROWS) as u64;
    // Integer division gives the same truncation as Redis's double arithmetic, which is exact
    // for operands this small.
    let heights: Vec<usize> = points
        .iter()
        .map(|p| ((u64::from(p.value - min) * levels / span).min(levels - 1)) as usize)
        .collect();

    let mut line = String::with_capacity(points.len() + 1);
    for row in 0..GRAPH_ROWS {
        let row_base = (GRAPH_ROWS - 1 - row) * FILL_LEVELS.len();
        line.clear();
        line.extend(heights.iter().map(|&h| match h.checked_sub(row_base) {
            Some(level) if level < FILL_LEVELS.len() => FILL_LEVELS[level] as char,
            Some(_) => '|',
            None => ' ',
        }));
        out.push_str(&line);
        out.push('\n');
    }
    for _ in 0..LABEL_MARGIN {
        out.extend(std::iter::repeat_n(' ', points.len()));
        out.push('\n');
    }
    // Labels are ASCII (digits, '-', a unit letter), so bytes are characters.
    let longest = points.iter().map(|p| p.label.len()).max().unwrap_or(0);
    for k in 0..longest {
        line.clear();
        line.extend(
            points
                .iter()
                .map(|p| p.label.as_bytes().get(k).map_or(' ', |&b| b as char)),
        );
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(time: i64, latency: u32) -> LatencySample {
        LatencySample { time, latency }
    }

    fn series(samples: &[(i64, u64)]) -> LatencyEvents {
        let mut ev = LatencyEvents::new();
        for &(t, ms) in samples {
            ev.add_sample("command", ms, t);
        }
        ev
    }

    #[test]
    fn same_second_keeps_the_worst() {
        let mut ev = LatencyEvents::new();
        ev.add_sample("command", 40, 1000);
        ev.add_sample("command", 60, 1000);
        ev.add_sample("command", 10, 1000);
        ev.add_sample("command", 5, 1001);
        let h = ev.history("command");
        assert_eq!(h, vec![at(1000, 60), at(1001, 5),]);
        let latest: Vec<_> = ev.latest().collect();
        assert_eq!(
            latest,
            vec![LatestSample {
                event: "command",
                time: 1001,
                latency: 5,
                all_time_high: 60
            }]
        );
    }

    #[test]
    fn ring_wraps_after_160_seconds() {
        let mut ev = LatencyEvents::new();
        for i in 0..(LATENCY_TS_LEN as i64 + 25) {
            ev.add_sample("expire-cycle", (i + 1) as u64, 5000 + i);
        }
        let h = ev.history("expire-cycle");
        assert_eq!(h.len(), LATENCY_TS_LEN);
        assert_eq!(h[0], at(5025, 26));
        assert_eq!(h[LATENCY_TS_LEN - 1], at(5184, 185));
        assert!(h.windows(2).all(|w| w[0].time + 1 == w[1].time));
        let latest = ev.latest().next().unwrap();
        assert_eq!(
            (latest.time, latest.latency, latest.all_time_high),
            (5184, 185, 185)
        );
        // A spike that has scrolled out of the ring still counts as the all-time high.
        let mut ev = LatencyEvents::new();
        ev.add_sample("x", 999, 1);
        for i in 0..LATENCY_TS_LEN as i64 {
            ev.add_sample("x", 2, 10 + i);
        }
        assert!(ev.history("x").iter().all(|s| s.latency == 2));
        assert_eq!(ev.latest().next().unwrap().all_time_high, 999);
    }

    #[test]
    fn history_is_oldest_first_and_exact_name() {
        let ev = series(&[(10, 3), (12, 1), (15, 2)]);
        let times: Vec<i64> = ev.history("command").iter().map(|s| s.time).collect();
        assert_eq!(times, [10, 12, 15]);
        assert!(ev.history("COMMAND").is_empty());
        assert!(ev.history("nope").is_empty());
        assert!(ev.graph("COMMAND", 20).is_none());
    }

    #[test]
    fn reset_by_name_ignores_case_and_all() {
        let mut ev = LatencyEvents::new();
        for name in ["command", "fast-command", "expire-cycle"] {
            ev.add_sample(name, 5, 100);
        }
        assert_eq!(ev.reset(Some("COMMAND")), 1);
        assert_eq!(ev.reset(Some("command")), 0);
        assert_eq!(ev.reset(Some("nope")), 0);
        let names: Vec<&str> = ev.latest().map(|l| l.event).collect();
        assert_eq!(names, ["expire-cycle", "fast-command"]);
        assert_eq!(ev.reset(None), 2);
        assert!(ev.is_empty());
        assert_eq!(ev.reset(None), 0);
    }

    // The graphs below were captured from redis-server 7.0.15: samples made with DEBUG SLEEP,
    // one per second, then TIME, LATENCY GRAPH and LATENCY HISTORY pipelined within one second.
    // The series here is that HISTORY reply and `now` that TIME reply.

    #[test]
    fn graph_single_sample() {
        let ev = series(&[(1796321742, 20)]);
        let expected = "command - high 20 ms, low 20 ms (all time high 20 ms)\n".to_owned()
            + &"-".repeat(80)
            + "\n \n \n \n_\n \n2\ns\n";
        assert_eq!(ev.graph("command", 1796321744).unwrap(), expected);
    }

    #[test]
    fn graph_flat_series() {
        let ev = series(&[(1796321745, 30), (1796321746, 30), (1796321747, 30)]);
        let expected = "command - high 30 ms, low 30 ms (all time high 30 ms)\n".to_owned()
            + &"-".repeat(80)
            + "\n   \n   \n   \n___\n   \n210\nsss\n";
        assert_eq!(ev.graph("command", 1796321747).unwrap(), expected);
    }

    #[test]
    fn graph_varied_series() {
        // Captured with a second DEBUG SLEEP in two of the seconds (60 after 40, 10 after 70).
        let mut ev = LatencyEvents::new();
        let sleeps: [(i64, &[u64]); 12] = [
            (1796321748, &[5]),
            (1796321749, &[40, 60]),
            (1796321750, &[12]),
            (1796321751, &[100]),
            (1796321752, &[70, 10]),
            (1796321753, &[1]),
            (1796321754, &[33]),
            (1796321755, &[66]),
            (1796321756, &[99]),
            (1796321757, &[20]),
            (1796321758, &[250]),
            (1796321759, &[8]),
        ];
        for (t, ms) in sleeps {
            for &m in ms {
                ev.add_sample("command", m, t);
            }
        }
        let expected = "command - high 250 ms, low 1 ms (all time high 250 ms)\n".to_owned()
            + &"-".repeat(80)
            + "\n"
            + "          # \n"
            + "          | \n"
            + "   o_  _o | \n"
            + "_#_||_o||_|_\n"
            + "            \n"
            + "111119876543\n"
            + "43210sssssss\n"
            + "sssss       \n";
        assert_eq!(ev.graph("command", 1796321762).unwrap(), expected);

        let st = ev.stats("command", 1796321762).unwrap();
        assert_eq!(
            (st.samples, st.avg, st.mad, st.min, st.max),
            (12, 60, 47, 1, 250)
        );
        assert_eq!(st.period, 14);
    }

    #[test]
    fn age_labels() {
        assert_eq!(age_label(0), "0s");
        assert_eq!(age_label(-3), "-3s");
        assert_eq!(age_label(59), "59s");
        assert_eq!(age_label(60), "1m");
        assert_eq!(age_label(3599), "59m");
        assert_eq!(age_label(3600), "1h");
        assert_eq!(age_label(86_399), "23h");
        assert_eq!(age_label(86_400), "1d");
        assert_eq!(age_label(10 * 86_400 + 5), "10d");
    }

    /// LATENCY HISTORY after 170 one-second DEBUG SLEEPs: the ring holds the last 160.
    const WRAPPED_START: i64 = 1796321777;
    #[rustfmt::skip]
    const WRAPPED_LATENCIES: [u64; 160] = [
        12, 49, 86, 3, 40, 77, 114, 31, 68, 105, 22, 59, 96, 13, 50, 87,
        4, 41, 78, 115, 32, 69, 106, 23, 60, 97, 14, 51, 88, 5, 42, 79,
        116, 33, 70, 107, 24, 61, 98, 15, 52, 89, 6, 43, 80, 117, 34, 71,
        108, 25, 62, 99, 16, 53, 90, 7, 44, 81, 118, 35, 72, 109, 26, 63,
        100, 17, 54, 91, 8, 45, 82, 119, 36, 73, 110, 27, 64, 101, 18, 55,
        92, 9, 46, 83, 120, 37, 74, 111, 29, 65, 102, 19, 56, 93, 10, 47,
        84, 124, 38, 75, 112, 29, 66, 103, 20, 57, 94, 11, 48, 85, 2, 39,
        76, 116, 30, 67, 104, 21, 58, 95, 12, 49, 86, 3, 40, 77, 114, 31,
        68, 105, 22, 59, 96, 13, 50, 87, 4, 41, 78, 115, 32, 69, 106, 23,
        60, 97, 14, 51, 88, 5, 42, 79, 116, 33, 70, 107, 24, 61, 98, 15,
    ];
    /// LATENCY GRAPH at 1796321936, one line per entry.
    const WRAPPED_GRAPH_NOW: [&str; 18] = [
        "command - high 124 ms, low 2 ms (all time high 124 ms)",
        "--------------------------------------------------------------------------------",
        "      #  o  _      #  o  _      #  o  _      #  o  _      #  o  _      #  o  _  ",
        "  #  o| _|  |  #  o| _|  |  #  o| _|  |  #  o| _|  |  #  o| _| _|  #  o| _| _|  ",
        " o| _|| || #| o| _|| || #| o| _||_|| #| o| o||_|| #| #| o||_|| || #| o||_|| || #",
        "_||_|||#||o||o||_|||#||#||o||_||||||#||o||_||||||#||o||_||||||#||o||_||||||#||o|",
        "                                                                                ",
        "22222222222222222222222222222222222222221111111111111111111111111111111111111111",
        "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm",
        "",
        "    #  o  _      #  o  _  _      #  o  _      #  o  _      #  o  _      #  o  _ ",
        "#  o| o| _|  #  #| o| _|  |  #  o| _|  |  #  o| _|  |  #  o| _|  |  #  o| _|  | ",
        "| o||_|| || #| o||_|| || #| o| _|| || #| o| _|| || #| o| _|| || #| o| _||_|| #| ",
        "|_||||||#||o||_||||||#||o||_||_|||#||o||_||_|||#||o||o||_|||#||#||o||_||||||#||o",
        "                                                                                ",
        "11111111111111111111555555555544444444443333333333222222222211111111119876543210",
        "mmmmmmmmmmmmmmmmmmmm98765432109876543210987654321098765432109876543210ssssssssss",
        "                    ssssssssssssssssssssssssssssssssssssssssssssssssss          ",
    ];
    /// LATENCY GRAPH at 1796322006, one line per entry.
    const WRAPPED_GRAPH_LATER: [&str; 17] = [
        "command - high 124 ms, low 2 ms (all time high 124 ms)",
        "--------------------------------------------------------------------------------",
        "      #  o  _      #  o  _      #  o  _      #  o  _      #  o  _      #  o  _  ",
        "  #  o| _|  |  #  o| _|  |  #  o| _|  |  #  o| _|  |  #  o| _| _|  #  o| _| _|  ",
        " o| _|| || #| o| _|| || #| o| _||_|| #| o| o||_|| #| #| o||_|| || #| o||_|| || #",
        "_||_|||#||o||o||_|||#||#||o||_||||||#||o||_||||||#||o||_||||||#||o||_||||||#||o|",
        "                                                                                ",
        "33333333333333333333333333333333333333333333333333222222222222222222222222222222",
        "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm",
        "",
        "    #  o  _      #  o  _  _      #  o  _      #  o  _      #  o  _      #  o  _ ",
        "#  o| o| _|  #  #| o| _|  |  #  o| _|  |  #  o| _|  |  #  o| _|  |  #  o| _|  | ",
        "| o||_|| || #| o||_|| || #| o| _|| || #| o| _|| || #| o| _|| || #| o| _||_|| #| ",
        "|_||||||#||o||_||||||#||o||_||_|||#||o||_||_|||#||o||o||_|||#||#||o||_||||||#||o",
        "                                                                                ",
        "22222222222222222222222222222211111111111111111111111111111111111111111111111111",
        "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm",
    ];

    #[test]
    fn graph_wraps_at_80_columns_after_the_ring_wrapped() {
        let mut ev = LatencyEvents::new();
        // The ten seconds the ring has since overwritten.
        for t in WRAPPED_START - 10..WRAPPED_START {
            ev.add_sample("command", 7, t);
        }
        for (t, &ms) in (WRAPPED_START..).zip(WRAPPED_LATENCIES.iter()) {
            ev.add_sample("command", ms, t);
        }
        let history = ev.history("command");
        assert_eq!(history.len(), LATENCY_TS_LEN);
        assert!((WRAPPED_START..)
            .zip(WRAPPED_LATENCIES)
            .eq(history.iter().map(|s| (s.time, u64::from(s.latency)))));

        let graph = |now| ev.graph("command", now).unwrap();
        assert_eq!(graph(1796321936), WRAPPED_GRAPH_NOW.join("\n") + "\n");
        assert_eq!(graph(1796322006), WRAPPED_GRAPH_LATER.join("\n") + "\n");

        // And Redis's doctor lines for the same two moments.
        let line = |now| ev.doctor(now, &facts()).lines().nth(2).unwrap().to_owned();
        assert_eq!(
            line(1796321936),
            "1. command: 160 latency spikes (average 60ms, mean deviation 30ms, \
             period 0.99 sec). Worst all time event 124ms."
        );
        assert_eq!(
            line(1796322006),
            "1. command: 160 latency spikes (average 60ms, mean deviation 30ms, \
             period 1.43 sec). Worst all time event 124ms."
        );
    }

    fn facts() -> DoctorFacts {
        DoctorFacts {
            monitor_threshold_ms: 1,
            slowlog_slower_than_us: 10_000,
            hz: 10,
            ..DoctorFacts::default()
        }
    }

    #[test]
    fn doctor_without_events() {
        let ev = LatencyEvents::new();
        assert!(ev
            .doctor(0, &facts())
            .starts_with("Dave, no latency spike was observed"));
        let off = DoctorFacts {
            monitor_threshold_ms: 0,
            ..facts()
        };
        assert!(ev.doctor(0, &off).starts_with("I'm sorry, Dave"));
        let thp = DoctorFacts {
            huge_pages: true,
            ..facts()
        };
        let report = ev.doctor(0, &thp);
        assert!(report.starts_with("\nI have a few advices for you:\n\n- The process uses"));
    }

    #[test]
    fn doctor_event_lines() {
        // Redis 7.0.15 printed this line for the varied series captured above.
        let ev = series(&[
            (1796321748, 5),
            (1796321749, 60),
            (1796321750, 12),
            (1796321751, 100),
            (1796321752, 70),
            (1796321753, 1),
            (1796321754, 33),
            (1796321755, 66),
            (1796321756, 99),
            (1796321757, 20),
            (1796321758, 250),
            (1796321759, 8),
        ]);
        let report = ev.doctor(1796321762, &facts());
        let mut lines = report.lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("Dave, I have observed latency spikes"));
        assert_eq!(lines.next(), Some(""));
        assert_eq!(
            lines.next(),
            Some(
                "1. command: 12 latency spikes (average 60ms, mean deviation 47ms, \
                 period 1.17 sec). Worst all time event 250ms."
            )
        );
        assert_eq!(lines.next(), Some(""));
        assert_eq!(lines.next(), Some("I have a few advices for you:"));
        assert_eq!(lines.next(), Some(""));
        // slowlog 10 ms > threshold 1 ms: lower it, inspect it, and mind big values.
        assert!(lines
            .next()
            .unwrap()
            .contains("slowlog-log-slower-than 1000"));
        assert!(lines.next().unwrap().starts_with("- SLOWLOG GET"));
        assert!(lines
            .next()
            .unwrap()
            .starts_with("- Deleting, expiring or evicting"));
        assert_eq!(lines.next(), None);

        // A period under a second still reads as one second.
        let ev = series(&[(50, 30), (51, 30), (52, 30)]);
        assert!(ev.doctor(52, &facts()).contains("period 0.67 sec"));
        let ev = series(&[(50, 30)]);
        assert!(ev.doctor(50, &facts()).contains("period 1.00 sec"));
    }

    #[test]
    fn doctor_withheld_advice_still_opens_the_section() {
        // Redis counts the fsync advice even when the policy is not 'always' and then prints
        // nothing for it; the section header stays.
        let mut ev = LatencyEvents::new();
        ev.add_sample("aof-fsync-always", 5, 10);
        let report = ev.doctor(10, &facts());
        assert!(report.ends_with("\nI have a few advices for you:\n\n"));
        let always = DoctorFacts {
            appendfsync_always: true,
            ..facts()
        };
        assert!(ev.doctor(10, &always).contains("- appendfsync is 'always'"));
    }

    #[test]
    fn doctor_unknown_event_has_no_advice() {
        let mut ev = LatencyEvents::new();
        ev.add_sample("while-blocked-cron", 5, 10);
        let report = ev.doctor(10, &facts());
        assert!(report.contains("none that I know an easy remedy for"));
        assert!(!report.contains("advices"));
    }
}
