//! Fleet behaviour: a cluster restart, simulated. Hundreds of sidecars
//! (`--once`, then daemons) start at the same moment against one fake STS
//! that allows a fixed request rate (a token bucket) and answers
//! `Throttling` beyond it. Measured: time until every sidecar holds
//! credentials, requests per sidecar, total requests, throttled share, and
//! the peak offered rate, which shows whether retries pile up (a storm) or
//! spread out (full jitter working).
//!
//! `#[ignore]`d: run by `make fleet` / `make stress`, which set
//! `FLEET_RESULTS` so the figures land in `bench/fleet-results.md`.
//! Only 127.0.0.1; stops by itself within a couple of minutes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::ini;
use crate::harness::{Answer, Daemon, Harness, HOUR};

/// Everything stops after this, finished or not.
const BOUND: Duration = Duration::from_secs(110);

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A token bucket: `rate` per second, holding at most one second's worth.
struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Run {
    label: String,
    sidecars: usize,
    /// Seconds from the start until each sidecar held credentials
    /// (`None`: never, within the bound).
    done_at: Vec<Option<f64>>,
    /// Requests each sidecar sent until the last one held credentials.
    per_sidecar: Vec<usize>,
    throttled: usize,
    total: usize,
    /// Most requests that arrived within any one second.
    peak_rate: usize,
    /// The same, leaving out the first second (the restart itself, which
    /// no client-side jitter can spread).
    peak_later: usize,
    /// Requests that arrived in each second after the start.
    by_second: Vec<usize>,
    failed: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn fleet(daemon: bool, sidecars: usize, rate: usize) -> Run {
    let bucket = Arc::new(Mutex::new(Bucket {
        rate: rate as f64,
        tokens: rate as f64,
        last: Instant::now(),
    }));
    let throttled = Arc::new(Mutex::new(Vec::<String>::new()));
    let (b, t) = (Arc::clone(&bucket), Arc::clone(&throttled));
    let h = Harness::new(
        if daemon { "fleet_daemon" } else { "fleet_once" },
        move |_, req| {
            if b.lock().expect("bucket").take() {
                Answer::issue(HOUR)
            } else {
                t.lock()
                    .expect("throttled")
                    .push(req.param("RoleSessionName").unwrap_or_default());
                Answer::throttling()
            }
        },
    );
    let files: Vec<PathBuf> = (0..sidecars)
        .map(|i| h.scratch.join(format!("pod-{i}/credentials")))
        .collect();
    // The bucket starts full at the first request, as after a quiet night.
    {
        let mut bk = bucket.lock().expect("bucket");
        bk.tokens = bk.rate;
        bk.last = Instant::now();
    }
    let started = Instant::now();
    let mode: &[&str] = if daemon { &[] } else { &["--once"] };
    let mut children: Vec<Daemon> = files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            h.cmd(mode)
                .env_remove("AWS_SHARED_CREDENTIALS_FILE")
                .arg("--file")
                .arg(file)
                .arg("--session-name")
                .arg(format!("fleet-{i}"))
                .spawn()
        })
        .collect();
    let mut done_at: Vec<Option<f64>> = vec![None; sidecars];
    let mut failed = 0;
    let mut exited = vec![false; sidecars];
    while started.elapsed() < BOUND && done_at.iter().any(Option::is_none) {
        for i in 0..sidecars {
            if done_at[i].is_some() || exited[i] {
                continue;
            }
            if daemon {
                let ok = fs::read_to_string(&files[i])
                    .ok()
                    .is_some_and(|t| ini::profile(&t, "default").is_ok());
                if ok {
                    done_at[i] = Some(started.elapsed().as_secs_f64());
                }
            } else if let Some(status) = children[i].try_exit() {
                exited[i] = true;
                if status.success() {
                    done_at[i] = Some(started.elapsed().as_secs_f64());
                } else {
                    failed += 1;
                }
            }
        }
        if !daemon && exited.iter().all(|e| *e) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let all_done = started.elapsed();
    // Requests counted up to the moment the last sidecar was done.
    let requests = h.sts.requests();
    for c in &mut children {
        if c.try_exit().is_none() {
            c.signal(libc::SIGTERM);
        }
    }
    // Ten seconds each to stop; dropping a sidecar kills it if it has not,
    // and checks its output for secrets.
    for mut c in children {
        c.wait_exit(Duration::from_secs(10));
    }
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        *per.entry(r.param("RoleSessionName").unwrap_or_default())
            .or_default() += 1;
    }
    // Sliding one-second windows at 100 ms steps.
    let mut peak_rate = 0;
    let mut peak_later = 0;
    let arrivals: Vec<u128> = requests
        .iter()
        .map(|r| r.received.saturating_duration_since(started).as_millis())
        .collect();
    let last = arrivals.iter().copied().max().unwrap_or(0);
    let mut from = 0u128;
    while from <= last {
        let n = arrivals
            .iter()
            .filter(|&&a| a >= from && a < from + 1000)
            .count();
        peak_rate = peak_rate.max(n);
        if from >= 1000 {
            peak_later = peak_later.max(n);
        }
        from += 100;
    }
    let mut by_second = vec![0; (last / 1000) as usize + 1];
    for a in &arrivals {
        by_second[(a / 1000) as usize] += 1;
    }
    let per_sidecar: Vec<usize> = (0..sidecars)
        .map(|i| per.get(&format!("fleet-{i}")).copied().unwrap_or(0))
        .collect();
    let throttled = throttled.lock().expect("throttled").len();
    eprintln!(
        "{}: {sidecars} sidecars, all done after {all_done:.1?}, {} requests, {throttled} throttled",
        if daemon { "daemon" } else { "--once" },
        requests.len()
    );
    Run {
        label: if daemon {
            "daemon (backoff cap 60 s)".into()
        } else {
            "`--once` (backoff cap 10 s, default `--once-timeout 1m`)".into()
        },
        sidecars,
        done_at,
        per_sidecar,
        throttled,
        total: requests.len(),
        peak_rate,
        peak_later,
        by_second,
        failed,
    }
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cores} cores of {cpu}, Linux {}, {} build, shared with other jobs",
        kernel.trim(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    )
}

fn report(runs: &[Run], rate: usize) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## Fleet restart\n");
    let _ = writeln!(
        md,
        "A cluster restart, simulated on one machine: every sidecar starts at the same moment \
         against one fake STS on 127.0.0.1 that admits {rate} requests/s (a token bucket holding \
         one second's worth, full at the start) and answers `Throttling` beyond that. Each \
         sidecar has its own credentials file and session name. \"Done\" is the moment a \
         sidecar holds credentials (`--once`: exited 0; daemon: its file holds the profile). \
         Requests per sidecar are counted until the last one was done.\n"
    );
    let _ = writeln!(
        md,
        "| mode | sidecars | all done | p50 done | p95 done | failed | total requests | per sidecar mean / p50 / p95 / max | throttled | peak offered rate: first second / later |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
    for r in runs {
        let mut done: Vec<f64> = r.done_at.iter().flatten().copied().collect();
        done.sort_by(f64::total_cmp);
        let missing = r.done_at.iter().filter(|d| d.is_none()).count();
        let mut per: Vec<f64> = r.per_sidecar.iter().map(|&n| n as f64).collect();
        per.sort_by(f64::total_cmp);
        let mean = per.iter().sum::<f64>() / per.len().max(1) as f64;
        let all = if missing == 0 {
            format!("{:.1} s", done.last().copied().unwrap_or(0.0))
        } else {
            format!("not all: {missing} missing after {} s", BOUND.as_secs())
        };
        let _ = writeln!(
            md,
            "| {} | {} | {all} | {:.1} s | {:.1} s | {} | {} | {mean:.2} / {:.0} / {:.0} / {:.0} | {:.0} % | {} / {} req/s |",
            r.label,
            r.sidecars,
            percentile(&done, 0.5),
            percentile(&done, 0.95),
            r.failed,
            r.total,
            percentile(&per, 0.5),
            percentile(&per, 0.95),
            per.last().copied().unwrap_or(0.0),
            100.0 * r.throttled as f64 / r.total.max(1) as f64,
            r.peak_rate,
            r.peak_later,
        );
    }
    let n = runs.first().map_or(0, |r| r.sidecars);
    let ideal = n.saturating_sub(rate) as f64 / rate as f64;
    let _ = writeln!(
        md,
        "\nThe floor is {ideal:.1} s: {n} sidecars at {rate}/s after a burst of {rate}, with one \
         request each. The first second holds every sidecar's first request plus the first \
         retries of those throttled (the first backoff is 0.1-1 s); the later peak is the \
         retries that follow."
    );
    for r in runs {
        let seconds: Vec<String> = r.by_second.iter().take(25).map(|n| n.to_string()).collect();
        let _ = writeln!(
            md,
            "\n{}: requests arriving in each second from the start: {}{}.",
            r.label,
            seconds.join(", "),
            if r.by_second.len() > 25 { ", …" } else { "" }
        );
    }
    // A storm is retries multiplying the load: many requests per sidecar,
    // or an offered rate that does not fall back towards what STS admits.
    let verdict = runs
        .iter()
        .map(|r| {
            let per = r.total as f64 / r.sidecars.max(1) as f64;
            let tail = r.by_second.iter().skip(3).copied().max().unwrap_or(0);
            let storm = per > 6.0 || tail as f64 > 2.0 * rate as f64;
            format!(
                "{}: {per:.1} requests per sidecar; after the first second the offered rate peaks at {} req/s \
                 (the first retry wave: the first backoff is at most 1 s) and from the fourth second on \
                 stays at or below {tail} req/s — {}",
                r.label,
                r.peak_later,
                if storm {
                    "**a retry storm**: retries keep the load far above what STS admits"
                } else {
                    "no retry storm: full jitter spreads the retries and the load decays to the admitted rate"
                }
            )
        })
        .collect::<Vec<_>>()
        .join(". ");
    let _ = writeln!(md);
    let _ = writeln!(md, "{verdict}.\n");
    let _ = writeln!(
        md,
        "Machine: {}. Rerun: `make fleet` (or `make stress`; `FLEET_SIDECARS` and `FLEET_RATE` \
         change the size), which runs `cargo test --release --test it -- --ignored fleet::` and \
         rewrites this file.",
        machine()
    );
    md
}

#[test]
#[ignore = "stress: run by `make fleet` / `make stress`"]
fn fleet_restart() {
    let sidecars = env_num("FLEET_SIDECARS", 300);
    let rate = env_num("FLEET_RATE", 50);
    let runs = vec![fleet(false, sidecars, rate), fleet(true, sidecars, rate)];
    let md = report(&runs, rate);
    println!("{md}");
    if let Ok(path) = std::env::var("FLEET_RESULTS") {
        fs::write(&path, &md).unwrap_or_else(|e| panic!("write {path}: {e}"));
        eprintln!("wrote {path}");
    }
    for r in &runs {
        assert!(
            r.done_at.iter().all(Option::is_some),
            "{}: not every sidecar got credentials within {BOUND:?}",
            r.label
        );
    }
}
