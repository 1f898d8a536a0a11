//! Types bound to their topic, key and format: `#[derive(kafkadeps::Event)]` implements
//! [`Event`], and [`Producer::publish`](crate::Producer::publish) sends them.

use serde::Serialize;

/// The payload format of an [`Event`] type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventFormat {
    /// JSON (serde).
    Json,
    /// A CloudEvent (binary mode) with the JSON of the value as data.
    CloudEvents,
}

/// A type that knows where it goes. Usually derived:
///
/// ```
/// # #[cfg(feature = "derive")] {
/// #[derive(serde::Serialize, kafkadeps::Event)]
/// #[event(topic = "orders.v1", key = order_id, format = "cloudevents",
///         ce_type = "com.acme.order.created", ce_source = "/orders")]
/// struct OrderCreated { order_id: String, amount_cents: i64 }
///
/// use kafkadeps::Event;
/// let order = OrderCreated { order_id: "o-1".into(), amount_cents: 1200 };
/// assert_eq!(OrderCreated::TOPIC, "orders.v1");
/// assert_eq!(order.key().as_deref(), Some("o-1"));
/// # }
/// ```
pub trait Event: Serialize {
    /// The topic events of this type go to (must be declared as produced).
    const TOPIC: &'static str;
    /// The payload format.
    const FORMAT: EventFormat;
    /// CloudEvents `type` (with [`EventFormat::CloudEvents`]).
    const CE_TYPE: Option<&'static str>;
    /// CloudEvents `source` (with [`EventFormat::CloudEvents`]).
    const CE_SOURCE: Option<&'static str>;
    /// The record key (same key, same partition, in order).
    fn key(&self) -> Option<String>;
}
