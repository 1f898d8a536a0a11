//! The intake: copying polled messages out of librdkafka and dispatching them, on a thread of
//! its own next to the poll thread.
//!
//! The poll thread only takes messages from librdkafka (up to a batch) and passes them on, so
//! the consumer takes the next messages while the intake copies the previous ones (and
//! librdkafka parses their headers). The copied messages come back to the poll thread to be
//! freed: what librdkafka's poll allocated is freed on the thread that allocates it again,
//! where the allocator reuses it at once (freed on the intake, every allocation of the poll
//! thread took the allocator's slow path). A rebalance waits until every batch polled
//! before it was dispatched ([`Backlog::wait_caught_up`]), so revoked partitions are drained
//! and committed with all their polled records, as without the intake.

use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::Scope;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;

use super::backlog::Backlog;
use super::context::RuntimeContext;
use super::partitions::lock;
use crate::record::FetchBuffer;

/// Batches the poll thread hands to the intake and not yet taken: the poll thread waits when the
/// intake is this far behind.
const QUEUED_BATCHES: usize = 4;

/// The poll thread's end of the intake.
pub(super) struct Intake<'a> {
    batches: SyncSender<Vec<BorrowedMessage<'a>>>,
    copied: Receiver<Vec<BorrowedMessage<'a>>>,
    /// Messages per batch.
    batch: usize,
}

impl<'a> Intake<'a> {
    /// Starts the intake thread in `scope`, for batches of up to `batch` messages.
    pub(super) fn start<'scope>(
        scope: &'scope Scope<'scope, 'a>,
        consumer: &'a BaseConsumer<RuntimeContext>,
        topics: &'a [String],
        batch: usize,
    ) -> std::io::Result<Self> {
        let (to_intake, batches) = sync_channel(QUEUED_BATCHES);
        let (to_poll, copied) = channel();
        std::thread::Builder::new()
            .name("kafkadeps-intake".into())
            .spawn_scoped(scope, move || run(&batches, &to_poll, consumer, topics))?;
        Ok(Self {
            batches: to_intake,
            copied,
            batch,
        })
    }

    /// An empty batch to fill, after freeing the messages the intake has copied.
    pub(super) fn next_batch(&self) -> Vec<BorrowedMessage<'a>> {
        let mut empty = None;
        while let Ok(mut copied) = self.copied.try_recv() {
            copied.clear();
            empty = Some(copied);
        }
        empty.unwrap_or_else(|| Vec::with_capacity(self.batch))
    }

    /// Hands a batch to the intake (waiting while it is [`QUEUED_BATCHES`] behind); an error
    /// if the intake thread has ended.
    pub(super) fn send(
        &self,
        backlog: &Backlog,
        messages: Vec<BorrowedMessage<'a>>,
    ) -> Result<(), IntakeEnded> {
        backlog.sent();
        self.batches.send(messages).map_err(|_| IntakeEnded)
    }
}

/// The intake thread has ended (it only ends when the poll thread hangs up, or by a bug).
#[derive(Debug)]
pub(super) struct IntakeEnded;

/// Marks the backlog closed when the intake thread ends, however it ends.
struct Closing<'a>(&'a Backlog);

impl Drop for Closing<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The intake thread: copies each batch of `batches` into records (see [`FetchBuffer`]), sends
/// the messages back to be freed, and dispatches the records to the partition workers, until
/// the poll thread hangs up.
fn run<'a>(
    batches: &Receiver<Vec<BorrowedMessage<'a>>>,
    copied: &Sender<Vec<BorrowedMessage<'a>>>,
    consumer: &BaseConsumer<RuntimeContext>,
    topics: &[String],
) {
    let ctx = consumer.context();
    let _closing = Closing(&ctx.backlog);
    let mut fetched = FetchBuffer::for_subscription(topics);
    for messages in batches {
        for message in &messages {
            fetched.push(message);
        }
        // Gone only when the poll thread has stopped: the messages are then freed here.
        let _ = copied.send(messages);
        let records = fetched.take();
        if !records.is_empty()
            && let Some(state) = lock(&ctx.state).as_mut()
        {
            state.dispatch(records, consumer);
        }
        ctx.backlog.dispatched();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_ended_intake_never_keeps_a_rebalance_waiting() {
        let backlog = Backlog::default();
        backlog.sent();
        {
            let _closing = Closing(&backlog);
        }
        assert!(backlog.wait_caught_up(Duration::from_secs(30)));
    }
}
