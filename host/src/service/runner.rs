//! Deployments on a bounded pool of worker threads, not a thread each.
//!
//! A deployment is a [`Slot`]: its engine, its feed and what to do when it
//! ends, behind a lock. Nothing runs for it until something happens: its
//! hub queues a bar and *wakes* it (the slot is put on the pool's queue),
//! an operator stops it, or the pool's ticker comes by (every 200 ms, for
//! STALE detection and stops). A worker takes the slot, polls its feed
//! without waiting, steps the engine through the bars that are ready (at
//! most [`BUDGET`] per turn, so that a deployment recovering a long journal
//! takes turns with the others), and puts it back. A deployment is never on
//! two workers at once; one that faults ends alone; one that spins is cut
//! off by the sandbox's CPU budget, holding one worker meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use crate::data::market::Bar;
use crate::engine::{Engine, RunResult};
use crate::execution::Venue;

/// Most bars one deployment processes in one turn on a worker.
pub const BUDGET: usize = 256;
/// A turn also ends after this much time, so that a slow strategy takes
/// turns with the others instead of holding a worker for 256 bars.
pub const SLICE: Duration = Duration::from_millis(20);

/// A feed the pool can poll without waiting.
pub trait PollFeed: Send {
    /// Append up to `max` bars that are ready; 0 if none.
    fn poll(&mut self, out: &mut Vec<Bar>, max: usize) -> usize;
    /// Take back bars a turn had no time for; they come first next time.
    fn unpoll(&mut self, bars: &[Bar]);
}

/// What a slot runs.
pub struct Work {
    /// The deployment's engine.
    pub engine: Engine<'static, Box<dyn Venue + Send>>,
    /// Its bars.
    pub feed: Box<dyn PollFeed>,
    /// Next bar's sequence number.
    pub seq: u64,
    /// Called once with the run's result when it ends.
    pub on_end: Box<dyn FnOnce(RunResult) + Send>,
    /// Asked before each bar (with its sequence number) whether it may be
    /// processed now; `false` leaves it in the feed until the slot is woken
    /// (an account holding its deployments at a rebalance).
    pub gate: Option<Gate>,
}

/// See [`Work::gate`].
pub type Gate = Box<dyn FnMut(&Bar, u64) -> bool + Send>;

/// One deployment on the pool.
pub struct Slot {
    work: Mutex<Option<Work>>,
    queued: AtomicBool,
    again: AtomicBool,
    /// Set to end the run (the feed sees it too).
    pub stop: Arc<AtomicBool>,
    finished: (Mutex<bool>, Condvar),
    queue: Sender<Arc<Slot>>,
}

impl Slot {
    /// Put the slot on the queue (once, however often it is woken).
    pub fn schedule(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::SeqCst) {
            let _ = self.queue.send(self.clone());
        }
    }

    /// A waker for the slot's hub subscription.
    pub fn waker(self: &Arc<Self>) -> crate::data::live::Wake {
        let weak: Weak<Slot> = Arc::downgrade(self);
        Arc::new(move || {
            if let Some(s) = weak.upgrade() {
                s.schedule();
            }
        })
    }

    /// Give the slot its work and schedule it.
    pub fn start(self: &Arc<Self>, work: Work) {
        *self.work.lock().expect("slot lock") = Some(work);
        self.schedule();
    }

    /// Ask the run to end and wait until it has (at most `timeout`).
    pub fn stop_and_wait(self: &Arc<Self>, timeout: Duration) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        self.schedule();
        self.wait(timeout)
    }

    /// Wait until the run has ended (at most `timeout`).
    pub fn wait(&self, timeout: Duration) -> bool {
        let (lock, cv) = &self.finished;
        let done = lock.lock().expect("finished lock");
        let (done, _) = cv
            .wait_timeout_while(done, timeout, |d| !*d)
            .expect("finished lock");
        *done
    }

    /// Whether the run has ended.
    pub fn is_finished(&self) -> bool {
        *self.finished.0.lock().expect("finished lock")
    }

    fn finish(&self) {
        *self.finished.0.lock().expect("finished lock") = true;
        self.finished.1.notify_all();
    }

    /// One turn on a worker.
    fn turn(self: &Arc<Self>) {
        self.queued.store(false, Ordering::SeqCst);
        let Ok(mut guard) = self.work.try_lock() else {
            // Another worker has it: it looks again when done.
            self.again.store(true, Ordering::SeqCst);
            return;
        };
        let Some(w) = guard.as_mut() else {
            return;
        };
        let mut end: Option<Result<u64, crate::store::journal::JournalError>> = None;
        let mut bars = Vec::with_capacity(BUDGET);
        let began = std::time::Instant::now();
        let mut more = false;
        if self.stop.load(Ordering::SeqCst) {
            end = Some(Ok(w.seq));
        } else {
            w.feed.poll(&mut bars, BUDGET);
            more = bars.len() == BUDGET;
            let mut done = 0;
            for bar in &bars {
                if began.elapsed() >= SLICE {
                    // Out of time: the rest waits in the feed for the next turn.
                    more = true;
                    break;
                }
                // A live venue's news first; while it reconciles, bars wait
                // (its courier wakes the slot when it has answered).
                if let Err(e) = w.engine.tick(w.seq) {
                    end = Some(Err(e));
                    break;
                }
                if !w.engine.venue_ready() || w.gate.as_mut().is_some_and(|g| !g(bar, w.seq)) {
                    more = false;
                    break;
                }
                done += 1;
                match w.engine.step(bar, w.seq) {
                    Ok(true) => w.seq += 1,
                    Ok(false) => {
                        end = Some(Ok(w.seq));
                        break;
                    }
                    Err(e) => {
                        end = Some(Err(e));
                        break;
                    }
                }
            }
            if done < bars.len() && end.is_none() {
                w.feed.unpoll(&bars[done..]);
            }
            // What a live venue said meanwhile is booked even while no bar
            // comes (a quiet or dead feed).
            if end.is_none()
                && let Err(e) = w.engine.tick(w.seq)
            {
                end = Some(Err(e));
            }
        }
        match end {
            Some(how) => {
                let w = guard.take().expect("work");
                drop(guard);
                let result = match how {
                    Ok(seq) => w.engine.end(seq),
                    Err(e) => Err(e),
                };
                (w.on_end)(result);
                self.finish();
            }
            None => {
                drop(guard);
                if more || self.again.swap(false, Ordering::SeqCst) {
                    self.schedule();
                }
            }
        }
    }
}

/// The worker threads and the queue.
pub struct Pool {
    queue: Sender<Arc<Slot>>,
    slots: Arc<Mutex<Vec<Weak<Slot>>>>,
    /// Number of workers.
    pub workers: usize,
}

impl Pool {
    /// `workers` threads (at least one) and a ticker.
    pub fn new(workers: usize) -> Pool {
        let workers = workers.max(1);
        let (tx, rx) = channel::<Arc<Slot>>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx: Arc<Mutex<Receiver<Arc<Slot>>>> = rx.clone();
            std::thread::Builder::new()
                .name(format!("deploy-worker-{i}"))
                .spawn(move || {
                    loop {
                        let next = rx.lock().expect("queue lock").recv();
                        match next {
                            Ok(slot) => slot.turn(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("spawning a worker");
        }
        let slots: Arc<Mutex<Vec<Weak<Slot>>>> = Arc::default();
        let ticked = slots.clone();
        std::thread::Builder::new()
            .name("deploy-ticker".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(200));
                    let live: Vec<Arc<Slot>> = {
                        let mut s = ticked.lock().expect("slots lock");
                        s.retain(|w| w.upgrade().is_some_and(|s| !s.is_finished()));
                        s.iter().filter_map(Weak::upgrade).collect()
                    };
                    for s in live {
                        s.schedule();
                    }
                }
            })
            .expect("spawning the ticker");
        Pool {
            queue: tx,
            slots,
            workers,
        }
    }

    /// A new slot whose run ends when `stop` is set.
    pub fn slot(&self, stop: Arc<AtomicBool>) -> Arc<Slot> {
        let slot = Arc::new(Slot {
            work: Mutex::new(None),
            queued: AtomicBool::new(false),
            again: AtomicBool::new(false),
            stop,
            finished: (Mutex::new(false), Condvar::new()),
            queue: self.queue.clone(),
        });
        self.slots
            .lock()
            .expect("slots lock")
            .push(Arc::downgrade(&slot));
        slot
    }
}
