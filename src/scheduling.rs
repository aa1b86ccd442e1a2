//! Thread priorities: under load, the request workers yield to the log's commit path.
//!
//! Every request that logs an entry waits for the sequencer's next commit, which runs on the
//! tokio runtime and the database driver's thread. At equal priority the kernel shares the
//! cores evenly among those two and the request workers, so under load a commit takes several
//! times its idle duration, and the CPU idles at the end of it while every request waits for
//! it. Request workers a few nice levels lower let the commit run first; the workers lose
//! nothing, as the commit is what they are waiting for. Raising a thread's nice value needs no
//! privilege, unlike lowering it.

/// Raises the calling thread's nice value by `by` (lower priority), to at most 19. Zero
/// leaves it as it is.
#[cfg(target_os = "linux")]
pub fn lower_current_thread(by: i32) -> std::io::Result<()> {
    use rustix::process::{getpriority_process, setpriority_process};
    if by == 0 {
        return Ok(());
    }
    // Linux keeps the nice value per thread: naming the thread's own ID changes only it.
    let thread = Some(rustix::thread::gettid());
    let current = getpriority_process(thread)?;
    setpriority_process(thread, (current + by).min(19))?;
    Ok(())
}

/// Other systems keep one priority per process, which would slow the commit path as well:
/// nothing is changed there.
#[cfg(not(target_os = "linux"))]
pub fn lower_current_thread(_by: i32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn only_the_calling_thread_is_lowered() {
        let nice = || rustix::process::getpriority_process(Some(rustix::thread::gettid()));
        let before = nice().unwrap();
        let lowered = std::thread::spawn(move || {
            lower_current_thread(3).unwrap();
            nice().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (before + 3).min(19));
        assert_eq!(nice().unwrap(), before, "another thread's priority changed");
        let capped = std::thread::spawn(move || {
            lower_current_thread(40).unwrap();
            nice().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(capped, 19);
    }
}
