//! The threads that do requests' CPU work (`AppState::cpu`): one per core, kept for the
//! server's life, so what a thread keeps (its PROJ transformations, ~25 ms to make) is made
//! once, where tokio's blocking threads come and go. They are not rayon's: a request's work
//! that ranks on every core waits for its own parts there, and never takes up another
//! request's work while it waits (rayon's threads do, and a request waiting inside a
//! once-only initialisation could then run another that waits for the same).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send>;

/// What a thread is given: a job, or the word to end.
enum Message {
    Run(Job),
    Stop,
}

/// A fixed set of threads taking jobs in the order given.
pub struct Workers {
    jobs: Sender<Message>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Whether any thread started.
    started: bool,
    stopped: AtomicBool,
}

impl Workers {
    /// `n` threads (at least one), named `sitefinder-cpu-K`, until [`Workers::stop`] (or,
    /// without waiting for them, until the workers are dropped).
    pub fn new(n: usize) -> Workers {
        let (jobs, rx) = channel::<Message>();
        let rx = Arc::new(Mutex::new(rx));
        let threads: Vec<JoinHandle<()>> = (0..n.max(1))
            .filter_map(|k| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("sitefinder-cpu-{k}"))
                    .spawn(move || work(&rx))
                    .map_err(|e| tracing::error!("a thread for requests' work not started: {e}"))
                    .ok()
            })
            .collect();
        Workers {
            jobs,
            started: !threads.is_empty(),
            threads: Mutex::new(threads),
            stopped: AtomicBool::new(false),
        }
    }

    /// Gives `job` to the next free thread; false if there is none to give it to (none
    /// started, or they are stopped).
    pub fn run(&self, job: impl FnOnce() + Send + 'static) -> bool {
        self.started
            && !self.stopped.load(Ordering::Acquire)
            && self.jobs.send(Message::Run(Box::new(job))).is_ok()
    }

    /// Lets the threads finish the jobs already given, then ends them and waits, for at most
    /// `wait`, until they have ended (all but the calling thread, if it is one of them); true
    /// if they all did. A process that exits while a thread ends races it: the thread drops
    /// what it keeps (its PROJ transformations) while the exit tears down PROJ's own state,
    /// which corrupted the heap now and then, so a stopping server calls this before it
    /// exits. Jobs given afterwards are refused. Only the first call stops and waits.
    pub fn stop(&self, wait: std::time::Duration) -> bool {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return false;
        }
        let threads = match self.threads.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => return false,
        };
        // One word to end per thread, after every job given before it: each thread takes
        // one and ends.
        for _ in &threads {
            let _ = self.jobs.send(Message::Stop);
        }
        let me = std::thread::current().id();
        let mut others: Vec<JoinHandle<()>> = threads
            .into_iter()
            .filter(|t| t.thread().id() != me)
            .collect();
        // A thread that has finished is joined (its thread-local values dropped by then);
        // one still at a job after `wait` is left to it.
        let until = std::time::Instant::now() + wait;
        loop {
            let (done, running): (Vec<_>, Vec<_>) =
                others.into_iter().partition(JoinHandle::is_finished);
            for t in done {
                let _ = t.join();
            }
            others = running;
            if others.is_empty() {
                return true;
            }
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

impl Drop for Workers {
    /// Stops the threads without waiting for them.
    fn drop(&mut self) {
        self.stop(std::time::Duration::ZERO);
    }
}

/// A thread's life: the next job, until it is told to end or no one can give it another.
fn work(rx: &Mutex<Receiver<Message>>) {
    loop {
        // The lock is held only while waiting for a job, not while doing it.
        let next = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        match next {
            Ok(Message::Run(job)) => job(),
            Ok(Message::Stop) | Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_on_the_workers_threads_until_they_go() {
        let w = Workers::new(2);
        let (tx, rx) = channel();
        for k in 0..20 {
            let tx = tx.clone();
            assert!(w.run(move || {
                let name = std::thread::current().name().map(String::from);
                tx.send((k, name)).unwrap();
            }));
        }
        let mut got: Vec<(i32, Option<String>)> = (0..20).map(|_| rx.recv().unwrap()).collect();
        got.sort();
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            (0..20).collect::<Vec<_>>()
        );
        assert!(got.iter().all(|(_, n)| n
            .as_deref()
            .is_some_and(|n| n.starts_with("sitefinder-cpu-"))));
        assert!(w.stop(std::time::Duration::from_secs(60)));
        assert!(!w.run(|| {}), "a job given after the stop is refused");
    }

    /// Stopping waits for the jobs given before it, and for the threads to end.
    #[test]
    fn a_stop_finishes_the_jobs_given_and_waits_for_the_threads() {
        let w = Workers::new(2);
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ended = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        struct Ends(Arc<std::sync::atomic::AtomicUsize>);
        impl Drop for Ends {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        thread_local! {
            static ENDS: std::cell::RefCell<Option<Ends>> = const { std::cell::RefCell::new(None) };
        }
        for _ in 0..10 {
            let done = done.clone();
            let ended = ended.clone();
            assert!(w.run(move || {
                // What a thread keeps is dropped when it ends, as its PROJ transformations are.
                ENDS.with(|e| {
                    e.borrow_mut().get_or_insert_with(|| Ends(ended));
                });
                std::thread::sleep(std::time::Duration::from_millis(20));
                done.fetch_add(1, Ordering::SeqCst);
            }));
        }
        assert!(w.stop(std::time::Duration::from_secs(60)));
        assert_eq!(done.load(Ordering::SeqCst), 10);
        let kept = ended.load(Ordering::SeqCst);
        assert!((1..=2).contains(&kept), "{kept} threads kept something");
        assert!(!w.stop(std::time::Duration::from_secs(60)), "stopped once");
    }

    /// A thread still at its job when the wait is over is left to it, and the stop says so.
    #[test]
    fn a_stop_waits_no_longer_than_it_is_given() {
        let w = Workers::new(1);
        let (go, wait) = channel::<()>();
        assert!(w.run(move || {
            let _ = wait.recv();
        }));
        let t = std::time::Instant::now();
        assert!(!w.stop(std::time::Duration::from_millis(50)));
        assert!(t.elapsed() < std::time::Duration::from_secs(30));
        go.send(()).unwrap();
    }
}
