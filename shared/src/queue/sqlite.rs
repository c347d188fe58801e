//! The embedded queue: SQS's semantics on two tables of the shared SQLite file, so one machine
//! runs the pipeline exactly as AWS does. A message is hidden until its delay passes; a receive
//! hides it for the visibility timeout and hands out a new receipt (older receipts go stale);
//! a message already received `max_receives` times moves to the dead-letter table on its next
//! receive instead of being delivered. Every time comes from the injected clock.
//!
//! This is not a message broker: there is no long polling (workers poll) and no ordering
//! guarantee beyond "oldest visible first".

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, TransactionBehavior};

use super::{
    check_receive, check_send, Delivery, Queue, QueueDepth, QueueError, QueueName, MAX_VISIBILITY,
};
use crate::clock::Clock;
use crate::store::sqlite::Database;

#[derive(Debug, Clone)]
pub struct SqliteQueue {
    db: Database,
    max_receives: u32,
    clock: Arc<dyn Clock>,
}

impl SqliteQueue {
    /// `max_receives` is SQS's `maxReceiveCount`: how often a message may be received before
    /// its next receive sends it to the dead-letter table.
    pub fn new(db: Database, max_receives: u32, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            max_receives,
            clock,
        }
    }

    /// Run `f` on the database, turning any failure into this queue's `Unavailable`.
    async fn run<T, F>(&self, queue: QueueName, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let unavailable = |message: String| QueueError::Unavailable { queue, message };
        self.db
            .call(f)
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .map_err(|e| unavailable(format!("SQLite: {e}")))
    }
}

/// `now + d` in the tables' unit, microseconds since the epoch.
fn micros_after(now: DateTime<Utc>, d: Duration) -> i64 {
    let d = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    now.timestamp_micros().saturating_add(d)
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, queue: QueueName, body: &str, delay: Duration) -> Result<(), QueueError> {
        check_send(queue, body, delay)?;
        let now = self.clock.now();
        let (id, body) = (uuid::Uuid::new_v4().to_string(), body.to_string());
        self.run(queue, move |c| {
            c.execute(
                "INSERT INTO queue_messages (id, queue, body, sent_at_us, visible_at_us, receive_count)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                params![id, queue.as_str(), body, now.timestamp_micros(), micros_after(now, delay)],
            )
        })
        .await?;
        Ok(())
    }

    async fn receive(
        &self,
        queue: QueueName,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        check_receive(queue, max, visibility)?;
        let now = self.clock.now();
        let max_receives = self.max_receives;
        let (deliveries, dead) = self
            .run(queue, move |c| {
                receive(c, queue, max, visibility, max_receives, now)
            })
            .await?;
        if dead > 0 {
            tracing::warn!(%queue, count = dead, max_receives, "moved messages to the dead-letter queue");
        }
        Ok(deliveries)
    }

    async fn delete(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_string();
        let deleted = self
            .run(queue, move |c| {
                c.execute(
                    "DELETE FROM queue_messages WHERE queue = ?1 AND receipt = ?2",
                    params![queue.as_str(), receipt],
                )
            })
            .await?;
        if deleted == 0 {
            return Err(QueueError::StaleReceipt(queue));
        }
        Ok(())
    }

    async fn retry_after(
        &self,
        queue: QueueName,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        // SQS's ChangeMessageVisibility allows up to the 12-hour visibility maximum.
        if delay > MAX_VISIBILITY {
            return Err(QueueError::Invalid {
                queue,
                message: format!(
                    "a retry delay of {}s is over the 12 hour maximum",
                    delay.as_secs()
                ),
            });
        }
        let visible_at = micros_after(self.clock.now(), delay);
        let receipt = receipt.to_string();
        let changed = self
            .run(queue, move |c| {
                c.execute(
                    "UPDATE queue_messages SET visible_at_us = ?3 WHERE queue = ?1 AND receipt = ?2",
                    params![queue.as_str(), receipt, visible_at],
                )
            })
            .await?;
        if changed == 0 {
            return Err(QueueError::StaleReceipt(queue));
        }
        Ok(())
    }

    async fn redrive(&self, queue: QueueName, max: u64) -> Result<u64, QueueError> {
        let now = self.clock.now().timestamp_micros();
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        // One transaction: a message is in exactly one of the two tables, before and after.
        let moved = self
            .run(queue, move |c| {
                let tx = c.transaction()?;
                let moved = tx.execute(
                    "INSERT INTO queue_messages (id, queue, body, sent_at_us, visible_at_us, receive_count)
                     SELECT id, queue, body, ?2, ?2, 0 FROM queue_dead_letters
                     WHERE queue = ?1 ORDER BY dead_at_us, id LIMIT ?3",
                    params![queue.as_str(), now, max],
                )?;
                // The moved ones keep their ids, now in the live table.
                tx.execute(
                    "DELETE FROM queue_dead_letters
                     WHERE queue = ?1 AND id IN (SELECT id FROM queue_messages WHERE queue = ?1)",
                    params![queue.as_str()],
                )?;
                tx.commit()?;
                Ok(moved)
            })
            .await?;
        Ok(u64::try_from(moved).unwrap_or(0))
    }

    async fn depth(&self, queue: QueueName) -> Result<QueueDepth, QueueError> {
        let now = self.clock.now().timestamp_micros();
        let (visible, in_flight, dead) = self
            .run(queue, move |c| {
                c.query_row(
                    "SELECT
                       (SELECT COUNT(*) FROM queue_messages WHERE queue = ?1 AND visible_at_us <= ?2),
                       (SELECT COUNT(*) FROM queue_messages WHERE queue = ?1 AND visible_at_us > ?2),
                       (SELECT COUNT(*) FROM queue_dead_letters WHERE queue = ?1)",
                    params![queue.as_str(), now],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)),
                )
            })
            .await?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(QueueDepth {
            visible: count(visible),
            in_flight: count(in_flight),
            dead: count(dead),
        })
    }
}

/// One receive, atomically: first move the visible messages that used up their receives to
/// the dead-letter table, then take up to `max` of the rest, oldest visible first.
fn receive(
    conn: &mut Connection,
    queue: QueueName,
    max: u32,
    visibility: Duration,
    max_receives: u32,
    now: DateTime<Utc>,
) -> rusqlite::Result<(Vec<Delivery>, usize)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now_us = now.timestamp_micros();
    let dead = tx.execute(
        "INSERT INTO queue_dead_letters (id, queue, body, sent_at_us, receive_count, dead_at_us)
         SELECT id, queue, body, sent_at_us, receive_count, ?3 FROM queue_messages
         WHERE queue = ?1 AND visible_at_us <= ?3 AND receive_count >= ?2",
        params![queue.as_str(), max_receives, now_us],
    )?;
    tx.execute(
        "DELETE FROM queue_messages WHERE queue = ?1 AND visible_at_us <= ?3 AND receive_count >= ?2",
        params![queue.as_str(), max_receives, now_us],
    )?;
    let picked: Vec<(String, String, u32)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT id, body, receive_count FROM queue_messages
             WHERE queue = ?1 AND visible_at_us <= ?2
             ORDER BY visible_at_us, sent_at_us, id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![queue.as_str(), now_us, max], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let hidden_until = micros_after(now, visibility);
    let mut deliveries = Vec::with_capacity(picked.len());
    for (id, body, count) in picked {
        let receipt = uuid::Uuid::new_v4().to_string();
        tx.execute(
            "UPDATE queue_messages SET receive_count = ?2, receipt = ?3, visible_at_us = ?4 WHERE id = ?1",
            params![id, count + 1, receipt, hidden_until],
        )?;
        deliveries.push(Delivery {
            message_id: id,
            receipt,
            body,
            receive_count: count + 1,
        });
    }
    tx.commit()?;
    Ok((deliveries, dead))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::sqlite::tests::temp_db;

    const Q: QueueName = QueueName::Download;
    const VISIBILITY: Duration = Duration::from_secs(30);

    fn queue(max_receives: u32) -> (tempfile::TempDir, SqliteQueue, Arc<ManualClock>) {
        let (dir, db) = temp_db();
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap(),
        ));
        let q = SqliteQueue::new(db, max_receives, clock.clone());
        (dir, q, clock)
    }

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    #[tokio::test]
    async fn a_delayed_message_stays_hidden_until_its_delay_has_passed() {
        let (_dir, q, clock) = queue(3);
        q.send(Q, "later", Duration::from_secs(600)).await.unwrap();

        assert!(q.receive(Q, 10, VISIBILITY).await.unwrap().is_empty());
        assert_eq!(
            q.depth(Q).await.unwrap(),
            QueueDepth {
                visible: 0,
                in_flight: 1,
                dead: 0
            }
        );
        clock.advance(secs(599));
        assert!(q.receive(Q, 10, VISIBILITY).await.unwrap().is_empty());
        clock.advance(secs(1));

        let got = q.receive(Q, 10, VISIBILITY).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].body.as_str(), got[0].receive_count), ("later", 1));
    }

    #[tokio::test]
    async fn an_undeleted_message_comes_back_after_its_visibility_timeout_with_a_new_receipt() {
        let (_dir, q, clock) = queue(3);
        q.send(Q, "m", Duration::ZERO).await.unwrap();
        let first = q.receive(Q, 1, VISIBILITY).await.unwrap().remove(0);

        clock.advance(secs(29));
        assert!(q.receive(Q, 1, VISIBILITY).await.unwrap().is_empty());
        assert_eq!(
            q.depth(Q).await.unwrap(),
            QueueDepth {
                visible: 0,
                in_flight: 1,
                dead: 0
            }
        );
        clock.advance(secs(1));
        let second = q.receive(Q, 1, VISIBILITY).await.unwrap().remove(0);

        assert_eq!(second.message_id, first.message_id);
        assert_eq!(second.receive_count, 2);
        assert_ne!(second.receipt, first.receipt);
        assert!(matches!(
            q.delete(Q, &first.receipt).await,
            Err(QueueError::StaleReceipt(Q))
        ));
        assert!(matches!(
            q.retry_after(Q, &first.receipt, Duration::ZERO).await,
            Err(QueueError::StaleReceipt(Q))
        ));
        q.delete(Q, &second.receipt).await.unwrap();
        assert_eq!(q.depth(Q).await.unwrap(), QueueDepth::default());
    }

    #[tokio::test]
    async fn a_message_received_max_receives_times_goes_to_the_dead_letters_on_the_next_receive() {
        let (_dir, q, clock) = queue(2);
        q.send(Q, "poison", Duration::ZERO).await.unwrap();
        for n in 1..=2 {
            let got = q.receive(Q, 1, VISIBILITY).await.unwrap();
            assert_eq!(got[0].receive_count, n);
            clock.advance(secs(30));
        }

        assert!(q.receive(Q, 1, VISIBILITY).await.unwrap().is_empty());

        assert_eq!(
            q.depth(Q).await.unwrap(),
            QueueDepth {
                visible: 0,
                in_flight: 0,
                dead: 1
            }
        );
        clock.advance(secs(3600));
        assert!(q.receive(Q, 10, VISIBILITY).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_dead_message_does_not_take_the_place_of_a_live_one_in_the_batch() {
        let (_dir, q, clock) = queue(1);
        q.send(Q, "poison", Duration::ZERO).await.unwrap();
        q.receive(Q, 1, VISIBILITY).await.unwrap();
        clock.advance(secs(30));
        q.send(Q, "good", Duration::ZERO).await.unwrap();

        let got = q.receive(Q, 1, VISIBILITY).await.unwrap();

        assert_eq!(
            got.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(),
            ["good"]
        );
        assert_eq!(q.depth(Q).await.unwrap().dead, 1);
    }

    #[tokio::test]
    async fn retry_after_hides_the_message_for_the_delay_and_keeps_the_receipt() {
        let (_dir, q, clock) = queue(3);
        q.send(Q, "m", Duration::ZERO).await.unwrap();
        let d = q.receive(Q, 1, VISIBILITY).await.unwrap().remove(0);

        q.retry_after(Q, &d.receipt, Duration::from_secs(120))
            .await
            .unwrap();

        clock.advance(secs(119));
        assert!(q.receive(Q, 1, VISIBILITY).await.unwrap().is_empty());
        clock.advance(secs(1));
        assert_eq!(q.depth(Q).await.unwrap().visible, 1);
        let again = q.receive(Q, 1, VISIBILITY).await.unwrap();
        assert_eq!(again[0].receive_count, 2);
    }

    #[tokio::test]
    async fn queues_are_separate_and_oldest_visible_messages_come_first() {
        let (_dir, q, clock) = queue(3);
        q.send(Q, "first", Duration::ZERO).await.unwrap();
        clock.advance(secs(1));
        q.send(Q, "second", Duration::ZERO).await.unwrap();
        q.send(QueueName::Publish, "other", Duration::ZERO)
            .await
            .unwrap();

        let got = q.receive(Q, 10, VISIBILITY).await.unwrap();

        assert_eq!(
            got.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(),
            ["first", "second"]
        );
        assert_eq!(q.depth(QueueName::Publish).await.unwrap().visible, 1);
    }

    #[tokio::test]
    async fn a_made_up_receipt_is_stale() {
        let (_dir, q, _clock) = queue(3);
        assert!(matches!(
            q.delete(Q, "nope").await,
            Err(QueueError::StaleReceipt(Q))
        ));
    }
}
