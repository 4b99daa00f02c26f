//! Counting in this process: without `REDIS_URL`, and as the fallback while Redis is away.
//!
//! One small mutex-guarded window per subject, in bounded caches (idle subjects expire), so a
//! check is a cache lookup and an uncontended lock: tens of nanoseconds, no allocation on a hit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache;
use uuid::Uuid;

use super::window::{Counts, Verdict, split};
use super::{Subject, now_ms};

#[derive(Default)]
struct Window {
    minute: u64,
    current: u64,
    previous: u64,
}

impl Window {
    /// Moves the window to `minute` and returns its counts.
    fn counts_at(&mut self, minute: u64, elapsed_ms: u64) -> Counts {
        if minute != self.minute {
            self.previous = if minute == self.minute + 1 {
                self.current
            } else {
                0
            };
            self.current = 0;
            self.minute = minute;
        }
        Counts {
            current: self.current,
            previous: self.previous,
            elapsed_ms,
        }
    }
}

type Slot = Arc<Mutex<Window>>;

pub struct LocalCounter {
    tenants: Cache<String, Slot>,
    keys: Cache<Uuid, Slot>,
}

impl Default for LocalCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalCounter {
    pub fn new() -> Self {
        // Subjects are authenticated tenants and keys (never raw caller input), and idle ones
        // leave after two windows, so the caches stay small; the capacity is a backstop.
        const CAPACITY: u64 = 200_000;
        const IDLE: Duration = Duration::from_secs(180);
        Self {
            tenants: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(IDLE)
                .build(),
            keys: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(IDLE)
                .build(),
        }
    }

    fn slot(&self, subject: &Subject<'_>) -> Slot {
        match subject {
            Subject::Tenant(id) => match self.tenants.get(*id) {
                Some(slot) => slot,
                None => self
                    .tenants
                    .get_with((*id).to_owned(), || Arc::new(Mutex::new(Window::default()))),
            },
            Subject::Key(id) => self
                .keys
                .get_with(*id, || Arc::new(Mutex::new(Window::default()))),
        }
    }

    /// Checks every subject; counts the request in all of them only if all allow it.
    pub fn check(&self, subjects: &[(Subject<'_>, u32)]) -> Vec<Verdict> {
        let (minute, elapsed) = split(now_ms());
        let slots: Vec<Slot> = subjects.iter().map(|(s, _)| self.slot(s)).collect();
        // Locked in the order given (tenant, then key) by every caller: no deadlock.
        let mut guards: Vec<_> = slots
            .iter()
            .map(|slot| {
                slot.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            })
            .collect();
        let verdicts: Vec<Verdict> = guards
            .iter_mut()
            .zip(subjects)
            .map(|(window, (_, limit))| {
                Verdict::from_counts(window.counts_at(minute, elapsed), *limit)
            })
            .collect();
        if verdicts.iter().all(|v| v.allowed) {
            for window in guards.iter_mut() {
                window.current += 1;
            }
        }
        verdicts
    }
}
