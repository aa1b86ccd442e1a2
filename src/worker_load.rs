//! How busy the request workers are, from the kernel's scheduler statistics. The log
//! sequencers linger only while the workers stay busy (`sigil_ctlog::linger`): a worker that
//! is neither running nor ready to run has no request left that is not waiting for a commit.
//!
//! On a virtual machine the host takes some of the CPUs' time (steal time), and a worker the
//! host held up while it ran counts as neither running nor waiting in `schedstat`. Such time
//! is not idle: the worker had work. The project's machines lose 3–5% of their time that way
//! whenever the guest keeps both cores busy, which alone filled most of the linger's idle band
//! and kept batches short. So the workers are credited with the CPUs' share of steal time.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sigil_ctlog::linger::Workload;

/// How often the machine's steal time is read. `/proc/stat` counts it in clock ticks of 10 ms,
/// too coarse for one linger window of 25 ms, so its share is averaged over this long.
const STEAL_PERIOD: Duration = Duration::from_secs(1);

/// The request worker threads' `schedstat` files, opened by each worker as it starts, and the
/// machine's steal time.
#[derive(Debug, Default)]
pub struct WorkerLoad {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    // Thread ID and its open `schedstat`; a worker that builds the app twice is counted once.
    workers: Vec<(i32, File)>,
    steal: StealCredit,
}

impl WorkerLoad {
    /// Counts the calling thread as a request worker. Outside Linux this does nothing and the
    /// workload stays unknown (the sequencers then keep a fixed linger).
    pub fn register_current_thread(&self) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            let tid = rustix::thread::gettid().as_raw_nonzero().get();
            let mut state = self
                .state
                .lock()
                .map_err(|_| std::io::Error::other("the worker list is poisoned"))?;
            if state.workers.iter().all(|(known, _)| *known != tid) {
                let schedstat = File::open("/proc/thread-self/schedstat")?;
                state.workers.push((tid, schedstat));
            }
        }
        Ok(())
    }
}

impl Workload for WorkerLoad {
    fn busy(&self) -> Option<(Duration, u32)> {
        let mut state = self.state.lock().ok()?;
        let mut line = [0u8; 96];
        // A worker that has exited can no longer be read, and drops out of the count.
        let readings = state.workers.iter().filter_map(|(_, schedstat)| {
            // Reading at offset 0 makes the kernel render the file afresh.
            let n = schedstat.read_at(&mut line, 0).ok()?;
            busy_time(&line[..n])
        });
        let (total, threads) = readings.fold((Duration::ZERO, 0), |(total, n), busy| {
            (total + busy, n + 1)
        });
        let credited = state.steal.credit(Instant::now(), threads);
        Some((total + credited, threads))
    }
}

/// The steal time credited to the workers: since the last call, each worker is credited with
/// the share of each CPU's time the host has recently taken, from `/proc/stat`. That share is
/// zero where it cannot be read (outside Linux, or on bare metal, where it stays zero anyway).
#[derive(Debug, Default)]
struct StealCredit {
    // The last reading: when, and the steal time of all CPUs together until then.
    read: Option<(Instant, Duration)>,
    share: f64,
    // Steal time credited so far, and when it was last credited.
    credited: Duration,
    credited_at: Option<Instant>,
}

impl StealCredit {
    /// The steal time credited so far, after crediting `threads` workers up to `now`.
    fn credit(&mut self, now: Instant, threads: u32) -> Duration {
        let share = self.share_at(now);
        if let Some(then) = self.credited_at {
            let elapsed = now.saturating_duration_since(then).as_secs_f64();
            self.credited += Duration::from_secs_f64(elapsed * share * f64::from(threads));
        }
        self.credited_at = Some(now);
        self.credited
    }

    fn share_at(&mut self, now: Instant) -> f64 {
        if let Some((then, _)) = self.read
            && now.saturating_duration_since(then) < STEAL_PERIOD
        {
            return self.share;
        }
        let Some((stolen, cpus)) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| steal_time(&stat))
        else {
            return self.share;
        };
        if let Some((then, stolen_then)) = self.read {
            let capacity = now.saturating_duration_since(then).as_secs_f64() * f64::from(cpus);
            let taken = stolen.saturating_sub(stolen_then).as_secs_f64();
            self.share = (taken / capacity).clamp(0.0, 1.0);
        }
        self.read = Some((now, stolen));
        self.share
    }
}

/// The steal time of all CPUs together and how many CPUs there are, from `/proc/stat`
/// (`proc_stat(5)`): the eighth number of its `cpu` line, in clock ticks, and one `cpuN` line
/// per CPU.
fn steal_time(stat: &str) -> Option<(Duration, u32)> {
    let mut lines = stat.lines();
    let total = lines.next()?.strip_prefix("cpu ")?;
    let ticks: u64 = total.split_ascii_whitespace().nth(7)?.parse().ok()?;
    let cpus = lines
        .take_while(|line| line.starts_with("cpu"))
        .filter(|line| line.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    let cpus = u32::try_from(cpus).ok().filter(|n| *n > 0)?;
    let per_second = ticks_per_second()?;
    Some((
        Duration::from_secs_f64(ticks as f64 / per_second as f64),
        cpus,
    ))
}

#[cfg(target_os = "linux")]
fn ticks_per_second() -> Option<u64> {
    Some(rustix::param::clock_ticks_per_second()).filter(|n| *n > 0)
}

#[cfg(not(target_os = "linux"))]
fn ticks_per_second() -> Option<u64> {
    None
}

/// The time in a `schedstat` line (`proc(5)`): nanoseconds on a CPU plus nanoseconds runnable
/// but waiting for one.
fn busy_time(line: &[u8]) -> Option<Duration> {
    let mut fields = std::str::from_utf8(line).ok()?.split_ascii_whitespace();
    let running: u64 = fields.next()?.parse().ok()?;
    let waiting: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_nanos(running.saturating_add(waiting)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedstat_line_is_running_plus_waiting_time() {
        assert_eq!(
            busy_time(b"74986559 377256 49\n"),
            Some(Duration::from_nanos(74_986_559 + 377_256))
        );
        assert_eq!(busy_time(b"12\n"), None);
        assert_eq!(busy_time(b"x 1 2\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn steal_time_is_the_cpu_lines_eighth_number_and_the_cpus_are_counted() {
        let stat = "cpu  181457 21968 11982 95759 1241 0 1264 1839 0 0\n\
                    cpu0 90000 10000 6000 48000 600 0 600 900 0 0\n\
                    cpu1 91457 11968 5982 47759 641 0 664 939 0 0\n\
                    intr 123 4 5\nctxt 99\n";
        let per_second = ticks_per_second().unwrap() as f64;
        assert_eq!(
            steal_time(stat),
            Some((Duration::from_secs_f64(1839.0 / per_second), 2))
        );
        assert_eq!(
            steal_time("cpu  1 2 3\ncpu0 1 2 3\n"),
            None,
            "no steal field"
        );
        assert_eq!(steal_time("intr 1\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn time_the_host_steals_counts_as_busy() {
        let load = WorkerLoad::default();
        load.register_current_thread().unwrap();
        load.state.lock().unwrap().steal = StealCredit {
            read: Some((Instant::now(), Duration::ZERO)),
            share: 0.5,
            ..StealCredit::default()
        };
        let start = Instant::now();
        let (before, _) = load.busy().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let (after, threads) = load.busy().unwrap();
        let elapsed = start.elapsed();
        assert_eq!(threads, 1);
        // The thread slept: what it gained is half the time that passed, plus a little of its
        // own running.
        let gained = after - before;
        assert!(gained >= Duration::from_millis(50), "{gained:?}");
        assert!(
            gained <= elapsed / 2 + Duration::from_millis(10),
            "{gained:?}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_spinning_worker_is_busy_and_a_sleeping_one_is_not() {
        use std::sync::{Arc, Barrier};
        let load = Arc::new(WorkerLoad::default());
        assert_eq!(load.busy(), Some((Duration::ZERO, 0)));
        // Both workers stay alive until their time has been read: an exited one drops out.
        let read = Arc::new(Barrier::new(3));
        let worker = |work: fn()| {
            let (load, read) = (load.clone(), read.clone());
            std::thread::spawn(move || {
                load.register_current_thread().unwrap();
                load.register_current_thread().unwrap();
                work();
                read.wait();
                read.wait();
            })
        };
        let spinner = worker(|| {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(200) {
                std::hint::spin_loop();
            }
        });
        let sleeper = worker(|| std::thread::sleep(Duration::from_millis(200)));
        read.wait();
        let (busy, threads) = load.busy().unwrap();
        read.wait();
        spinner.join().unwrap();
        sleeper.join().unwrap();
        assert_eq!(threads, 2, "a thread that registered twice counts once");
        // The spinner ran (or waited for a core) the whole 200 ms, less what a virtual
        // machine's host took from it (steal time counts as neither); the sleeper hardly ran.
        assert!(busy >= Duration::from_millis(120), "{busy:?}");
        assert!(busy < Duration::from_millis(350), "{busy:?}");
        // A thread is gone from /proc shortly after it is joined, not necessarily at once.
        let deadline = Instant::now() + Duration::from_secs(5);
        while load.busy().map(|(_, threads)| threads) != Some(0) {
            assert!(Instant::now() < deadline, "exited workers still counted");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
