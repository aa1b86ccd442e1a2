//! How long a loaded sequencer lets its next batch fill: as long as the threads that submit
//! entries stay busy, and no longer.
//!
//! A commit costs the same fsync, tile rewrites, tree head signature and thread switches for
//! one entry as for a hundred, so a longer linger leaves more of the CPU to requests. But every
//! request in a lingering batch is missing from the request threads, and once too many wait the
//! cores idle. Where that happens depends on the machine and on how many clients there are: on
//! the 2-core project machine P-384 issuance with 64 connections gained from 2 ms to 5 ms while
//! 16 connections lost a third, and another machine lost a fifth at 5 ms with 64
//! (`docs/performance-history.md`). So no fixed linger suits every deployment.
//!
//! [`LingerControl`] watches how much of the time the request threads had nothing to do (a
//! [`Workload`] tells it) over windows of [`WINDOW`]: above [`IDLE_HIGH`] it shortens the linger
//! by a quarter, below [`IDLE_LOW`] it lengthens it by a twentieth of the longest, and between
//! the two it keeps it. Some idle time is there at any linger (a thread between two requests),
//! so the band is not at zero.

use std::time::{Duration, Instant};

/// How the threads that submit entries (a server's request workers) spend their time.
pub trait Workload: Send + Sync {
    /// The time they have been running or ready to run since they started, summed over them,
    /// and how many there are; `None` when it cannot be read. Time a virtual machine's host
    /// held a running thread up belongs here too: that thread had work.
    fn busy(&self) -> Option<(Duration, u32)>;
}

impl std::fmt::Debug for dyn Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Workload")
    }
}

/// How long the idle time is measured before the linger changes.
pub const WINDOW: Duration = Duration::from_millis(25);

/// Above this share of idle time the linger shortens.
pub const IDLE_HIGH: f64 = 0.06;

/// Below this share of idle time the linger lengthens.
pub const IDLE_LOW: f64 = 0.03;

/// The linger of one sequencer, between zero and its longest.
#[derive(Debug)]
pub struct LingerControl {
    longest: Duration,
    current: Duration,
    // Where the current window started: when, and the workload's busy time then.
    window: Option<(Instant, Duration)>,
}

impl LingerControl {
    /// Starts at a quarter of `longest`, and stays there while the workload is unknown.
    pub fn new(longest: Duration) -> LingerControl {
        LingerControl {
            longest,
            current: longest / 4,
            window: None,
        }
    }

    /// The linger now.
    pub fn current(&self) -> Duration {
        self.current
    }

    /// Returns the linger for the next batch at `now`, calling `read` for the workload only
    /// when a window starts or ends: the sequencer wakes several times per window under load.
    pub fn update(
        &mut self,
        now: Instant,
        read: impl FnOnce() -> Option<(Duration, u32)>,
    ) -> Duration {
        if let Some((started, _)) = self.window
            && now.saturating_duration_since(started) < WINDOW
        {
            return self.current;
        }
        let Some((busy, threads)) = read().filter(|(_, threads)| *threads > 0) else {
            self.window = None;
            return self.current;
        };
        let Some((started, busy_then)) = self.window else {
            self.window = Some((now, busy));
            return self.current;
        };
        let elapsed = now.saturating_duration_since(started);
        let capacity = elapsed.as_secs_f64() * f64::from(threads);
        let idle = 1.0 - busy.saturating_sub(busy_then).as_secs_f64() / capacity;
        let step = self.longest / 20;
        if idle > IDLE_HIGH {
            self.current = self.current * 3 / 4;
            // Below one step a linger only costs timer wake-ups.
            if self.current < step {
                self.current = Duration::ZERO;
            }
        } else if idle < IDLE_LOW {
            self.current = (self.current + step).min(self.longest);
        }
        self.window = Some((now, busy));
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONGEST: Duration = Duration::from_millis(10);
    const THREADS: u32 = 2;

    /// A controller fed one reading per window, as a loaded sequencer feeds it.
    struct Feed {
        control: LingerControl,
        now: Instant,
        busy: Duration,
    }

    impl Feed {
        fn new() -> Feed {
            let mut feed = Feed {
                control: LingerControl::new(LONGEST),
                now: Instant::now(),
                busy: Duration::ZERO,
            };
            feed.control.update(feed.now, || Some((feed.busy, THREADS)));
            feed
        }

        /// `n` windows in which the threads were idle `idle` of the time; the linger after each.
        fn windows(&mut self, idle: f64, n: usize) -> Vec<Duration> {
            let busy = WINDOW.as_secs_f64() * f64::from(THREADS) * (1.0 - idle);
            (0..n)
                .map(|_| {
                    self.now += WINDOW;
                    self.busy += Duration::from_secs_f64(busy);
                    self.control.update(self.now, || Some((self.busy, THREADS)))
                })
                .collect()
        }
    }

    #[test]
    fn busy_threads_lengthen_the_linger_up_to_the_longest() {
        let mut feed = Feed::new();
        assert_eq!(feed.control.current(), LONGEST / 4);
        let lingers = feed.windows(0.0, 40);
        assert!(lingers.windows(2).all(|w| w[0] <= w[1]), "{lingers:?}");
        assert_eq!(lingers[0], LONGEST / 4 + LONGEST / 20);
        assert_eq!(*lingers.last().unwrap(), LONGEST);
    }

    #[test]
    fn idle_threads_shorten_it_to_zero() {
        let mut feed = Feed::new();
        let lingers = feed.windows(0.5, 30);
        assert_eq!(lingers[0], LONGEST / 4 * 3 / 4);
        assert!(lingers.windows(2).all(|w| w[0] > w[1] || w[1].is_zero()));
        assert_eq!(*lingers.last().unwrap(), Duration::ZERO);
        // From zero, busy threads bring it back a step at a time.
        assert_eq!(feed.windows(0.0, 2), [LONGEST / 20, LONGEST / 10]);
    }

    #[test]
    fn idle_time_inside_the_band_keeps_it() {
        let mut feed = Feed::new();
        let lingers = feed.windows((IDLE_LOW + IDLE_HIGH) / 2.0, 10);
        assert!(lingers.iter().all(|l| *l == LONGEST / 4), "{lingers:?}");
    }

    #[test]
    fn a_reading_within_the_window_changes_nothing() {
        let mut control = LingerControl::new(LONGEST);
        let start = Instant::now();
        let mut reads = 0;
        let mut idle = || {
            reads += 1;
            Some((Duration::ZERO, 2))
        };
        control.update(start, &mut idle);
        // Wholly idle, but for less than a window: too short to judge, and not even read.
        let linger = control.update(start + WINDOW / 2, &mut idle);
        assert_eq!(linger, LONGEST / 4);
        assert_eq!(reads, 1);
    }

    #[test]
    fn an_unknown_workload_keeps_a_quarter_of_the_longest() {
        let mut control = LingerControl::new(LONGEST);
        let start = Instant::now();
        for i in 0..10 {
            assert_eq!(control.update(start + WINDOW * i, || None), LONGEST / 4);
            assert_eq!(
                control.update(start + WINDOW * i, || Some((Duration::ZERO, 0))),
                LONGEST / 4
            );
        }
    }
}
