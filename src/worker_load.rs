//! How busy the request workers are, from the kernel's scheduler statistics. The log
//! sequencers linger only while the workers stay busy (`sigil_ctlog::linger`): a worker that
//! is neither running nor ready to run has no request left that is not waiting for a commit.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;
use std::time::Duration;

use sigil_ctlog::linger::Workload;

/// The request worker threads' `schedstat` files, opened by each worker as it starts.
#[derive(Debug, Default)]
pub struct WorkerLoad {
    // Thread ID and its open `schedstat`; a worker that builds the app twice is counted once.
    workers: Mutex<Vec<(i32, File)>>,
}

impl WorkerLoad {
    /// Counts the calling thread as a request worker. Outside Linux this does nothing and the
    /// workload stays unknown (the sequencers then keep a fixed linger).
    pub fn register_current_thread(&self) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            let tid = rustix::thread::gettid().as_raw_nonzero().get();
            let mut workers = self
                .workers
                .lock()
                .map_err(|_| std::io::Error::other("the worker list is poisoned"))?;
            if workers.iter().all(|(known, _)| *known != tid) {
                workers.push((tid, File::open("/proc/thread-self/schedstat")?));
            }
        }
        Ok(())
    }
}

impl Workload for WorkerLoad {
    fn busy(&self) -> Option<(Duration, u32)> {
        let workers = self.workers.lock().ok()?;
        let mut line = [0u8; 96];
        // A worker that has exited can no longer be read, and drops out of the count.
        let readings = workers.iter().filter_map(|(_, schedstat)| {
            // Reading at offset 0 makes the kernel render the file afresh.
            let n = schedstat.read_at(&mut line, 0).ok()?;
            busy_time(&line[..n])
        });
        let (total, threads) = readings.fold((Duration::ZERO, 0), |(total, n), busy| {
            (total + busy, n + 1)
        });
        Some((total, threads))
    }
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
            let start = std::time::Instant::now();
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
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while load.busy() != Some((Duration::ZERO, 0)) {
            assert!(
                std::time::Instant::now() < deadline,
                "exited workers still counted"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
