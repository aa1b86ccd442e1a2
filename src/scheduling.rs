//! Thread priorities: under load, the request workers yield to the log's commit path.
//!
//! Every request that logs an entry waits for the sequencer's next commit, which runs on the
//! tokio runtime and the database driver's thread. At equal priority the kernel shares the
//! cores evenly among those two and the request workers, so under load a commit takes several
//! times its idle duration, and the CPU idles at the end of it while every request waits for
//! it. Request workers a few nice levels lower let the commit run first; the workers lose
//! nothing, as the commit is what they are waiting for. Raising a thread's nice value needs no
//! privilege, unlike lowering it.

/// The nice value the request workers run at. It is fixed once, on the thread that starts the
/// server, and each worker sets it for itself: applying it twice to one thread leaves it where
/// it was, where lowering "by ten more" would not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerPriority {
    nice: Option<i32>,
}

impl WorkerPriority {
    /// Workers keep the priority they were started with.
    pub const UNCHANGED: WorkerPriority = WorkerPriority { nice: None };

    /// `by` nice levels below the calling thread (at most 19); zero is [`Self::UNCHANGED`].
    #[cfg(target_os = "linux")]
    pub fn below_current(by: i32) -> std::io::Result<WorkerPriority> {
        if by == 0 {
            return Ok(Self::UNCHANGED);
        }
        let current = rustix::process::getpriority_process(Some(rustix::thread::gettid()))?;
        Ok(WorkerPriority {
            nice: Some((current + by).min(19)),
        })
    }

    /// Other systems keep one priority per process, which would slow the commit path as well:
    /// workers are left as they are there.
    #[cfg(not(target_os = "linux"))]
    pub fn below_current(_by: i32) -> std::io::Result<WorkerPriority> {
        Ok(Self::UNCHANGED)
    }

    /// Sets the calling thread's nice value to this one. Linux keeps the nice value per
    /// thread: naming the thread's own ID changes only it.
    pub fn apply(&self) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        if let Some(nice) = self.nice {
            rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice)?;
        }
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn only_the_calling_thread_is_lowered_and_only_once() {
        let nice = || rustix::process::getpriority_process(Some(rustix::thread::gettid()));
        let before = nice().unwrap();
        let priority = WorkerPriority::below_current(3).unwrap();
        let lowered = std::thread::spawn(move || {
            priority.apply().unwrap();
            priority.apply().unwrap();
            nice().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (before + 3).min(19));
        assert_eq!(nice().unwrap(), before, "another thread's priority changed");
        let capped = WorkerPriority::below_current(40).unwrap();
        let capped = std::thread::spawn(move || {
            capped.apply().unwrap();
            nice().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(capped, 19);
        assert_eq!(
            WorkerPriority::below_current(0).unwrap(),
            WorkerPriority::UNCHANGED
        );
    }
}
