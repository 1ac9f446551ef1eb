//! Lookups by key, coalesced across requests: a lookup joins a queue; while fewer than `max_in_flight`
//! statements run, the queue goes to the database at once as one `WHERE key IN (…)`; otherwise it waits for the
//! next statement to finish and goes with everything queued behind it. An idle gateway answers each lookup with
//! its own statement, as before; a busy one sends a few statements for many lookups, which spares the database
//! its per-statement cost (what a point select spends most of its time on).
//!
//! Every lookup is answered by a statement sent after it joined the queue, so it sees every write acknowledged
//! before it arrived, as a statement of its own would. A statement runs in a task of its own: a lookup whose
//! request is dropped leaves the others' statement running.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use sea_orm::{ConnAcquireErr, DbErr};
use tokio::sync::oneshot;

/// What one statement answers: the values found, by key (a key without a value has none).
type Load<K, V> =
    dyn Fn(Vec<K>) -> Pin<Box<dyn Future<Output = Result<HashMap<K, V>, DbErr>> + Send>> + Send + Sync;

type Answer<V> = Result<Option<V>, Arc<DbErr>>;

struct Queue<K, V> {
    running: usize,
    waiting: Vec<(K, oneshot::Sender<Answer<V>>)>,
}

/// Coalesced lookups by key (see the module documentation).
pub struct Coalescer<K, V> {
    queue: Mutex<Queue<K, V>>,
    load: Box<Load<K, V>>,
    max_in_flight: usize,
    max_batch: usize,
}

impl<K, V> Coalescer<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Lookups answered by `load`, with at most `max_in_flight` statements at a time, each for at most
    /// `max_batch` keys.
    pub fn new<F, Fut>(max_in_flight: usize, max_batch: usize, load: F) -> Arc<Self>
    where
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<HashMap<K, V>, DbErr>> + Send + 'static,
    {
        Arc::new(Coalescer {
            queue: Mutex::new(Queue { running: 0, waiting: Vec::new() }),
            load: Box::new(move |keys| Box::pin(load(keys))),
            max_in_flight: max_in_flight.max(1),
            max_batch: max_batch.max(1),
        })
    }

    /// The value of `key`, read by a statement sent after this call began.
    pub async fn get(self: &Arc<Self>, key: K) -> Result<Option<V>, Arc<DbErr>> {
        let (tx, rx) = oneshot::channel();
        let batch = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.waiting.push((key, tx));
            if q.running < self.max_in_flight {
                q.running += 1;
                Some(self.take(&mut q))
            } else {
                None
            }
        };
        if let Some(batch) = batch {
            tokio::spawn(self.clone().run(batch));
        }
        // The sender is dropped only if the statement's task is (the runtime stops).
        rx.await.unwrap_or_else(|_| Err(Arc::new(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))))
    }

    fn take(&self, q: &mut Queue<K, V>) -> Vec<(K, oneshot::Sender<Answer<V>>)> {
        let n = q.waiting.len().min(self.max_batch);
        q.waiting.drain(..n).collect()
    }

    /// Sends `batch`, then whatever queued meanwhile, until the queue is empty.
    async fn run(self: Arc<Self>, mut batch: Vec<(K, oneshot::Sender<Answer<V>>)>) {
        loop {
            let mut keys: Vec<K> = batch.iter().map(|(k, _)| k.clone()).collect();
            keys.dedup();
            match (self.load)(keys).await {
                Ok(found) => {
                    for (k, tx) in batch {
                        let _ = tx.send(Ok(found.get(&k).cloned()));
                    }
                }
                Err(e) => {
                    let e = Arc::new(e);
                    for (_, tx) in batch {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.waiting.is_empty() {
                q.running -= 1;
                return;
            }
            batch = self.take(&mut q);
        }
    }
}

/// One waiter's copy of a statement's error (`DbErr` is not `Clone`): the error itself for the last waiter,
/// otherwise one of the same kind (unreachable database or failed statement) with the same text.
pub fn unshare(e: Arc<DbErr>) -> DbErr {
    match Arc::try_unwrap(e) {
        Ok(e) => e,
        Err(shared) => match &*shared {
            DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => {
                DbErr::Conn(sea_orm::RuntimeErr::Internal(shared.to_string()))
            }
            _ => DbErr::Query(sea_orm::RuntimeErr::Internal(shared.to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_lookups_share_statements_and_each_sees_a_later_one() {
        let statements = Arc::new(AtomicUsize::new(0));
        let version = Arc::new(AtomicUsize::new(0));
        let (s, v) = (statements.clone(), version.clone());
        // Each statement answers the version current when it starts.
        let c = Coalescer::new(1, 64, move |keys: Vec<u32>| {
            let (s, v) = (s.clone(), v.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                let seen = v.load(Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok(keys.into_iter().filter(|k| *k != 0).map(|k| (k, (k, seen))).collect())
            }
        });
        let tasks: Vec<_> = (0..50u32)
            .map(|k| {
                let c = c.clone();
                tokio::spawn(async move { c.get(k).await })
            })
            .collect();
        for (k, t) in tasks.into_iter().enumerate() {
            let got = t.await.unwrap().unwrap();
            if k == 0 {
                assert_eq!(got, None, "a key without a value");
            } else {
                assert_eq!(got.map(|(key, _)| key), Some(k as u32));
            }
        }
        let n = statements.load(Ordering::SeqCst);
        assert!(n <= 2, "50 lookups took {n} statements");

        // A write acknowledged before a lookup is seen by it.
        version.store(7, Ordering::SeqCst);
        assert_eq!(c.get(3).await.unwrap(), Some((3, 7)));
    }
}
