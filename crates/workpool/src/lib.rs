//! A fixed pool of OS threads for the CPU-bound part of requests: signature verification,
//! parsing and canonicalising what clients send. It keeps that work off the async workers
//! without what a general blocking pool does under load, which is to start a thread per job
//! in flight (hundreds of threads on two cores, most of the time spent switching between them).
//!
//! - One thread per core by default; jobs queue in FIFO order behind them, and a thread that
//!   finds the queue non-empty takes the next job without sleeping, so a busy pool costs no
//!   context switch per job.
//! - The queue is bounded: when it is full, [`WorkPool::run`] fails at once with
//!   [`PoolError::Busy`] (services answer 503 with `Retry-After`) instead of queueing without end.
//! - A job that panics fails only its own caller ([`PoolError::Panicked`]); its thread goes on.
//!
//! Not for work that waits (network, HSM round trips, fsync): a waiting job holds one of the few
//! threads. Those stay on `tokio::task::spawn_blocking` or their own threads.
//!
//! This crate has no async runtime of its own: results come back through a oneshot channel that
//! any executor can await.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};

/// Jobs the [`global`] pool queues per thread before it refuses more.
pub const DEFAULT_QUEUE_PER_THREAD: usize = 2048;

/// Why a job did not run to completion.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// The queue is full: the caller should refuse the request with 503 and `Retry-After`.
    #[error("server busy: the verification queue is full; retry later")]
    Busy,
    /// The job panicked.
    #[error("the job panicked")]
    Panicked,
}

type Job = Box<dyn FnOnce() + Send>;

struct Queue {
    jobs: VecDeque<Job>,
    /// Threads waiting for a job: a push only signals when one is asleep.
    sleeping: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    capacity: usize,
}

/// A fixed set of threads taking jobs from one bounded queue. Cheap to clone; the threads live
/// as long as the process (pools are made once, at start-up).
#[derive(Clone)]
pub struct WorkPool {
    shared: Arc<Shared>,
    threads: usize,
}

impl std::fmt::Debug for WorkPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkPool")
            .field("threads", &self.threads)
            .field("capacity", &self.shared.capacity)
            .finish_non_exhaustive()
    }
}

impl WorkPool {
    /// Start `threads` threads named `name-N` (at least one) behind a queue of `capacity` jobs
    /// (at least one).
    ///
    /// # Errors
    /// When the operating system refuses to start a thread.
    pub fn new(name: &str, threads: usize, capacity: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                sleeping: 0,
            }),
            ready: Condvar::new(),
            capacity: capacity.max(1),
        });
        for n in 0..threads {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || work(&shared))?;
        }
        Ok(Self { shared, threads })
    }

    /// Number of threads.
    #[must_use]
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Run `job` on one of the pool's threads and return its result.
    ///
    /// # Errors
    /// [`PoolError::Busy`] at once when the queue is full (the job is not run);
    /// [`PoolError::Panicked`] when the job panicked.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(Box::new(move || {
            // A caller that went away no longer wants the result.
            let _ = tx.send(job());
        }))?;
        // The sender is dropped without sending only when the job panicked.
        rx.await.map_err(|_| PoolError::Panicked)
    }

    fn submit(&self, job: Job) -> Result<(), PoolError> {
        let mut queue = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if queue.jobs.len() >= self.shared.capacity {
            return Err(PoolError::Busy);
        }
        queue.jobs.push_back(job);
        let wake = queue.sleeping > 0;
        drop(queue);
        if wake {
            self.shared.ready.notify_one();
        }
        Ok(())
    }
}

/// A pool thread: take jobs until the process ends.
fn work(shared: &Shared) {
    loop {
        let job = {
            let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                queue.sleeping += 1;
                queue = shared
                    .ready
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
                queue.sleeping -= 1;
            }
        };
        // The panic reaches the caller as a dropped result; the thread carries on.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

/// The process-wide pool: one thread per available core, [`DEFAULT_QUEUE_PER_THREAD`] queued
/// jobs per thread. Started on first use.
///
/// # Panics
/// When the operating system refuses to start its threads at first use (the process cannot
/// serve requests without them).
pub fn global() -> &'static WorkPool {
    static POOL: OnceLock<WorkPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        #[allow(clippy::expect_used)]
        WorkPool::new("sigstack-cpu", threads, threads * DEFAULT_QUEUE_PER_THREAD)
            .expect("starting the CPU work pool's threads")
    })
}

/// Run `job` on the [`global`] pool.
///
/// # Errors
/// As [`WorkPool::run`].
pub async fn run<T, F>(job: F) -> Result<T, PoolError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    global().run(job).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[tokio::test]
    async fn jobs_run_on_the_pools_threads_and_return_their_results() {
        let pool = WorkPool::new("test-pool", 2, 16).unwrap();
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("test-pool-"));
        assert_eq!(pool.run(|| 6 * 7).await, Ok(42));
    }

    // Multi-threaded: the test thread blocks on a std channel while the holding job starts.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once_and_runs_nothing() {
        let pool = WorkPool::new("full", 1, 1).unwrap();
        // Hold the only thread, then fill the one queue slot.
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let held = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move || {
                    started_tx.send(()).unwrap();
                    hold_rx.recv().unwrap();
                })
                .await
            }
        });
        started_rx.recv().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let queued = tokio::spawn({
            let (pool, ran) = (pool.clone(), Arc::clone(&ran));
            async move { pool.run(move || ran.fetch_add(1, Ordering::SeqCst)).await }
        });
        // Wait until the second job sits in the queue.
        while pool.shared.queue.lock().unwrap().jobs.is_empty() {
            tokio::task::yield_now().await;
        }
        let refused_ran = Arc::clone(&ran);
        let refused = pool
            .run(move || refused_ran.fetch_add(100, Ordering::SeqCst))
            .await;
        assert_eq!(refused, Err(PoolError::Busy));
        hold_tx.send(()).unwrap();
        assert_eq!(held.await.unwrap(), Ok(()));
        assert_eq!(queued.await.unwrap(), Ok(0));
        assert_eq!(ran.load(Ordering::SeqCst), 1, "the refused job never ran");
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_thread_goes_on() {
        let pool = WorkPool::new("panics", 1, 4).unwrap();
        let failed: Result<(), _> = pool
            .run(|| panic!("job panic (expected by the test)"))
            .await;
        assert_eq!(failed, Err(PoolError::Panicked));
        assert_eq!(pool.run(|| "still here").await, Ok("still here"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_jobs_run_at_once_than_the_pool_has_threads() {
        let pool = WorkPool::new("bounded", 2, 1024).unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut jobs = Vec::new();
        for _ in 0..64 {
            let (pool, running, most) = (pool.clone(), Arc::clone(&running), Arc::clone(&most));
            jobs.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        for job in jobs {
            assert_eq!(job.await.unwrap(), Ok(()));
        }
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=2).contains(&most),
            "{most} jobs ran at once on 2 threads"
        );
    }

    #[tokio::test]
    async fn the_global_pool_has_a_thread_per_core() {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        assert_eq!(global().threads(), cores);
        assert_eq!(run(|| 1 + 1).await, Ok(2));
    }
}
