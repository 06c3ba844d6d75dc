//! Epoch ticks only while a guest may run.
//!
//! Epoch interruption needs someone to advance the engine's epoch so a busy guest reaches a
//! yield point. A thread ticking for ever costs every idle process CPU (100 wake-ups a second
//! each: a node with hundreds of idle pods was saturated by them alone), so the ticker sleeps on
//! a condition variable while no store is alive and ticks only while at least one is. A store
//! holds a [`GuestRunning`] guard for its whole life.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Owned by the [`crate::Engine`]; dropping it lets the thread end once no store is left.
pub(crate) struct EpochTicker {
    shared: Arc<Shared>,
}

/// Keeps the epoch advancing while it lives (one per store).
pub struct GuestRunning {
    shared: Arc<Shared>,
}

struct Shared {
    /// Live stores. Counted outside the mutex so a request pays one atomic add and one
    /// subtract; the mutex is taken only to wake the ticker from 0 to 1.
    running: AtomicUsize,
    /// Set when the engine handle goes away: the thread ends at the next idle moment.
    closed: Mutex<bool>,
    wake: Condvar,
}

impl EpochTicker {
    pub(crate) fn spawn(engine: wasmtime::EngineWeak, tick: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            running: AtomicUsize::new(0),
            closed: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || tick_while_running(&thread_shared, &engine, tick))?;
        Ok(Self { shared })
    }

    pub(crate) fn guest_running(&self) -> GuestRunning {
        if self.shared.running.fetch_add(1, Ordering::SeqCst) == 0 {
            // Taking the lock orders this wake-up after the ticker's check of the count, so it
            // cannot be lost between that check and its wait.
            let _closed = self.shared.closed.lock().expect("not poisoned");
            self.shared.wake.notify_one();
        }
        GuestRunning {
            shared: self.shared.clone(),
        }
    }

    #[cfg(test)]
    fn running(&self) -> usize {
        self.shared.running.load(Ordering::SeqCst)
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        *self.shared.closed.lock().expect("not poisoned") = true;
        self.shared.wake.notify_one();
    }
}

impl Drop for GuestRunning {
    fn drop(&mut self) {
        self.shared.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Ticks while a store is alive, even after the engine handle is gone (a guest still running
/// while its app is torn down must reach a yield point to be dropped), and ends when the
/// engine handle is gone and no store is left, or when wasmtime's engine itself is gone.
fn tick_while_running(shared: &Shared, engine: &wasmtime::EngineWeak, tick: Duration) {
    loop {
        {
            let mut closed = shared.closed.lock().expect("not poisoned");
            while shared.running.load(Ordering::SeqCst) == 0 {
                if *closed {
                    return;
                }
                closed = shared.wake.wait(closed).expect("not poisoned");
            }
        }
        std::thread::sleep(tick);
        match engine.upgrade() {
            Some(engine) => engine.increment_epoch(),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn engine() -> wasmtime::Engine {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        wasmtime::Engine::new(&config).unwrap()
    }

    /// The epoch as a store sees it: a deadline of 1 tick set now expires once the epoch moved.
    fn epoch_moves_within(engine: &wasmtime::Engine, within: Duration) -> bool {
        let mut store = wasmtime::Store::new(engine, ());
        store.set_epoch_deadline(1);
        let wasm = wat::parse_str(r#"(module (func (export "spin") (loop br 0)))"#).unwrap();
        let module = wasmtime::Module::new(engine, wasm).unwrap();
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            let result = spin.call(&mut store, ());
            let _ = done_tx.send(());
            result
        });
        let interrupted = done_rx.recv_timeout(within).is_ok();
        if !interrupted {
            // Nothing else will stop the loop: move the epoch ourselves.
            engine.increment_epoch();
        }
        assert!(
            handle.join().unwrap().is_err(),
            "the loop ends only by a trap"
        );
        interrupted
    }

    #[test]
    fn ticks_only_while_a_guest_runs() {
        let engine = engine();
        let ticker = EpochTicker::spawn(engine.weak(), Duration::from_millis(5)).unwrap();
        assert!(
            !epoch_moves_within(&engine, Duration::from_millis(200)),
            "the epoch moved with no guest running"
        );
        let guard = ticker.guest_running();
        let start = Instant::now();
        assert!(epoch_moves_within(&engine, Duration::from_secs(5)));
        assert!(start.elapsed() < Duration::from_secs(1));
        drop(guard);
        assert_eq!(ticker.running(), 0);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !epoch_moves_within(&engine, Duration::from_millis(200)),
            "the epoch still moved after the last guest ended"
        );
    }

    #[test]
    fn keeps_ticking_for_a_guest_that_outlives_the_engine_handle() {
        let engine = engine();
        let ticker = EpochTicker::spawn(engine.weak(), Duration::from_millis(5)).unwrap();
        let guard = ticker.guest_running();
        drop(ticker);
        assert!(epoch_moves_within(&engine, Duration::from_secs(5)));
        drop(guard);
    }
}
