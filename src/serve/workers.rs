//! The threads that do requests' CPU work (`AppState::cpu`): one per core, kept for the
//! server's life, so what a thread keeps (its PROJ transformations, ~25 ms to make) is made
//! once, where tokio's blocking threads come and go. They are not rayon's: a request's work
//! that ranks on every core waits for its own parts there, and never takes up another
//! request's work while it waits (rayon's threads do, and a request waiting inside a
//! once-only initialisation could then run another that waits for the same).

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads taking jobs in the order given.
pub struct Workers {
    jobs: Sender<Job>,
    threads: usize,
}

impl Workers {
    /// `n` threads (at least one), named `sitefinder-cpu-K`; they end when the workers are
    /// dropped.
    pub fn new(n: usize) -> Workers {
        let (jobs, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..n.max(1))
            .filter(|k| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("sitefinder-cpu-{k}"))
                    .spawn(move || work(&rx))
                    .map_err(|e| tracing::error!("a thread for requests' work not started: {e}"))
                    .is_ok()
            })
            .count();
        Workers { jobs, threads }
    }

    /// Gives `job` to the next free thread; false if there is none to give it to.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) -> bool {
        self.threads > 0 && self.jobs.send(Box::new(job)).is_ok()
    }
}

/// A thread's life: the next job, until there are no more.
fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for a job, not while doing it.
        let next = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        match next {
            Ok(job) => job(),
            Err(_) => return,
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
        drop(w);
    }
}
