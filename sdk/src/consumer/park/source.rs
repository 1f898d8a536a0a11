//! The source side of parking: the handler the runtime calls for records of the consumed
//! topics. A record of a parked key goes behind it in the retry topic; a record that fails
//! retryably parks its key.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use kafkadeps_core::naming::retry_topic;

use super::Parked;
use super::headers;
use crate::consumer::handler::{FailureKind, HandlerError};
use crate::consumer::metrics::{ConsumerMetrics, RecordRetried};
use crate::consumer::options::ConsumerOptions;
use crate::consumer::worker::{Handler, Tp};
use crate::producer::Producer;
use crate::record::Record;

/// The user's handler, with parking around it.
pub(crate) struct Parking<H> {
    shared: Arc<Shared<H>>,
}

struct Shared<H> {
    handler: Arc<H>,
    parked: Arc<Parked>,
    producer: Producer,
    options: ConsumerOptions,
}

impl<H: Handler> Parking<H> {
    pub(crate) fn new(
        handler: Arc<H>,
        parked: Arc<Parked>,
        producer: Producer,
        options: ConsumerOptions,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                handler,
                parked,
                producer,
                options,
            }),
        }
    }
}

type Handling = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>;

impl<H: Handler> Handler for Parking<H> {
    type Future = Handling;

    fn call(&self, record: Record) -> Handling {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let Shared {
                handler,
                parked,
                producer,
                options,
            } = &*shared;
            let Some(key) = record.key().map(<[u8]>::to_vec) else {
                // Keyless: retried in place (no key order to keep apart from the partition's).
                return handler.call(record).await;
            };
            let tp: Tp = (Arc::clone(record.topic_arc()), record.partition());
            if !parked.wait_ready(&tp).await {
                return handler.call(record).await;
            }
            if parked.park_behind(&tp, &key, record.offset()) {
                return park(parked, producer, &tp, &key, &record, 0, SystemTime::now()).await;
            }
            let outcome = handler.call(record.clone()).await;
            match outcome {
                Err(error)
                    if error.kind() == FailureKind::Retryable && options.max_attempts > 1 =>
                {
                    RecordRetried {
                        record: &record,
                        attempt: 1,
                        error: &error,
                    }
                    .emit(&ConsumerMetrics::global().lane(record.topic()));
                    parked.park(&tp, &key, record.offset());
                    let due = SystemTime::now() + options.backoff(1);
                    park(parked, producer, &tp, &key, &record, 1, due)
                        .await
                        // The retry topic is out of reach: retried in place instead.
                        .map_err(|_| error)
                }
                other => other,
            }
        })
    }
}

/// Writes `record` (counted as parked already) to its retry partition; when that fails it is
/// uncounted again and the error says to retry it in place.
async fn park(
    parked: &Parked,
    producer: &Producer,
    tp: &Tp,
    key: &[u8],
    record: &Record,
    attempts: u32,
    due: SystemTime,
) -> Result<(), HandlerError> {
    let out = headers::parked(
        record,
        &retry_topic(record.topic()),
        attempts,
        due,
        (record.topic(), record.partition(), record.offset()),
    );
    match producer.send(out).await {
        Ok(_) => Ok(()),
        Err(e) => {
            parked.finished(tp, key, record.offset());
            tracing::warn!(topic = record.topic(), partition = record.partition(), offset = record.offset(), error = %e, "Cannot park the record in the retry topic; retrying it in place.");
            Err(HandlerError::retryable(e))
        }
    }
}
