//! Shared reads of the data generations.
//!
//! Every indicator answer must include every write acknowledged before its request arrived, by any process, so
//! each answer needs a generation read from the database that started after its request arrived. Under load,
//! a read per request would queue the requests on the connection pool. A [`SharedReads`] lets all the requests that
//! wait for the same key share one read: a request takes a ticket when it arrives and accepts a result only from
//! a read that started after that ticket was taken; otherwise it starts one (at most one read per key runs at a
//! time). When a read ends, every request it serves is woken at once, and one of those it does not serve starts
//! the next. A request waits for at most two reads.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// One key's latest read (the ticket count when it started, and its value) and whether a read is running.
struct Slot<V> {
    state: Mutex<SlotState<V>>,
    /// Wakes every waiter at once when a read ends.
    ended: Notify,
}

struct SlotState<V> {
    latest: Option<(u64, V)>,
    running: bool,
}

/// Ends a running read: the slot is free for the next one and its waiters look again (also when the read's
/// request was dropped halfway).
struct Running<'a, V>(&'a Slot<V>);

impl<V> Drop for Running<'_, V> {
    fn drop(&mut self) {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner()).running = false;
        self.0.ended.notify_waiters();
    }
}

/// Coalesces concurrent reads of a value by key (see the module documentation).
pub struct SharedReads<V> {
    tickets: AtomicU64,
    slots: Mutex<HashMap<String, Arc<Slot<V>>>>,
}

impl<V> Default for SharedReads<V> {
    fn default() -> Self {
        SharedReads { tickets: AtomicU64::new(0), slots: Mutex::new(HashMap::new()) }
    }
}

impl<V: Clone> SharedReads<V> {
    /// The value of `key`, read by `read` (or by a read of another caller) after this call began.
    pub async fn get<F, Fut, E>(&self, key: &str, read: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let ticket = self.tickets.fetch_add(1, Ordering::SeqCst) + 1;
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            match slots.get(key) {
                Some(s) => s.clone(),
                None => {
                    let s = Arc::new(Slot {
                        state: Mutex::new(SlotState { latest: None, running: false }),
                        ended: Notify::new(),
                    });
                    slots.insert(key.to_owned(), s.clone());
                    s
                }
            }
        };
        let mut read = Some(read);
        loop {
            // Registered before the state is looked at, so that a read ending in between still wakes it.
            let ended = slot.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            let start = {
                let mut st = slot.state.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((started, value)) = &st.latest
                    && *started >= ticket
                {
                    return Ok(value.clone());
                }
                if st.running {
                    None
                } else {
                    st.running = true;
                    // Every ticket taken so far belongs to a request that arrived before this read starts.
                    Some(self.tickets.load(Ordering::SeqCst))
                }
            };
            let Some(started) = start else {
                ended.await;
                continue;
            };
            let _running = Running(&slot);
            // A caller starts at most one read: it returns after it.
            let Some(read) = read.take() else { continue };
            let value = read().await?;
            slot.state.lock().unwrap_or_else(|e| e.into_inner()).latest = Some((started, value.clone()));
            return Ok(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI64;

    #[tokio::test]
    async fn concurrent_callers_share_reads_and_never_see_an_older_value() {
        let probe: Arc<SharedReads<i64>> = Arc::new(SharedReads::default());
        let reads = Arc::new(AtomicI64::new(0));
        let read = |reads: Arc<AtomicI64>| async move {
            let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok::<i64, ()>(n)
        };
        // 100 callers at once: the first read serves the first caller, one more read serves all the others.
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (probe, reads) = (probe.clone(), reads.clone());
                tokio::spawn(async move { probe.get("k", || read(reads)).await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().unwrap() >= 1);
        }
        assert!(reads.load(Ordering::SeqCst) <= 2, "{} reads", reads.load(Ordering::SeqCst));

        // A caller that arrives after a read finished gets a new read, never the old value.
        let before = reads.load(Ordering::SeqCst);
        let v = probe.get("k", || read(reads.clone())).await.unwrap();
        assert_eq!(v, before + 1);
        // Another key has its own reads.
        assert_eq!(probe.get("other", || read(reads.clone())).await.unwrap(), before + 2);
    }
}
