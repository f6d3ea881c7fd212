//! The spill workers: threads that do the core's disk work, so that the
//! event loop never waits on the disk. Work goes to them through one queue,
//! oldest first; each end comes back through a channel, and wakes the loop
//! (through the callback it gives).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::dir::SpillDir;
use super::files::{Copier, Failure};
use crate::arena::ArenaIo;
use crate::core::{DiskOp, RestoreError, SpillError, SpillFile};

/// Threads doing disk work: several, so that a small restore is not stuck
/// behind a 1 GiB write (they mostly wait on the disk, not on a CPU).
pub const WORKERS: usize = 4;

/// The end of a write or a read.
#[derive(Debug)]
pub enum Done {
    /// A write ended: the CRC-32 of the bytes written, or why not.
    Written {
        /// The file.
        file: SpillFile,
        /// The outcome.
        result: Result<u32, Failure<SpillError>>,
    },
    /// A read ended.
    Read {
        /// The file.
        file: SpillFile,
        /// The outcome.
        result: Result<(), Failure<RestoreError>>,
    },
}

/// Work not started yet, and whether to stop.
#[derive(Debug, Default)]
struct Queue {
    ops: Mutex<VecDeque<DiskOp>>,
    ready: Condvar,
}

/// The running workers; dropping them stops them (work under way is cut
/// short, work not started is dropped) and waits for them.
#[derive(Debug)]
pub struct Workers {
    queue: Arc<Queue>,
    stop: Arc<AtomicBool>,
    done: mpsc::Receiver<Done>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts the workers over `dir` and `arena`; each end of a write or a
    /// read is sent back, then `wake` is called.
    pub fn start(
        dir: &Arc<SpillDir>,
        arena: &ArenaIo,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<Workers> {
        let queue = Arc::new(Queue::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, done) = mpsc::channel();
        let mut workers = Workers {
            queue,
            stop,
            done,
            threads: Vec::with_capacity(WORKERS),
        };
        for n in 0..WORKERS {
            let copier = Copier::new(Arc::clone(dir), arena.clone(), Arc::clone(&workers.stop));
            let (queue, stop, tx, wake) = (
                Arc::clone(&workers.queue),
                Arc::clone(&workers.stop),
                tx.clone(),
                Arc::clone(&wake),
            );
            let thread = std::thread::Builder::new()
                .name(format!("plasma-spill-{n}"))
                .spawn(move || work(copier, &queue, &stop, &tx, &*wake))?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// Queues `op`.
    pub fn submit(&self, op: DiskOp) {
        self.queue
            .ops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(op);
        self.queue.ready.notify_one();
    }

    /// The ends reported since the last call.
    pub fn finished(&self) -> impl Iterator<Item = Done> + '_ {
        self.done.try_iter()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        {
            // Under the lock: no worker is between its check and its wait.
            let _ops = self
                .queue
                .ops
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.queue.ready.notify_all();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One worker: takes the oldest op, does it, reports it, until stopped.
fn work(
    mut copier: Copier,
    queue: &Queue,
    stop: &AtomicBool,
    tx: &mpsc::Sender<Done>,
    wake: &(dyn Fn() + Send + Sync),
) {
    loop {
        let op = {
            let mut ops = queue.ops.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Some(op) = ops.pop_front() {
                    break op;
                }
                ops = queue
                    .ready
                    .wait(ops)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let done = match op {
            DiskOp::Write { file, offset, len } => Done::Written {
                file,
                result: copier.write(file, offset, len),
            },
            DiskOp::Read {
                file,
                offset,
                len,
                crc,
            } => Done::Read {
                file,
                result: copier.read(file, offset, len, crc),
            },
            DiskOp::Remove { file } => {
                if let Err(e) = copier.remove(file) {
                    tracing::warn!(%file, "removing a spill file failed: {e}");
                }
                continue;
            }
        };
        if tx.send(done).is_err() {
            return; // the loop is gone
        }
        wake();
    }
}
