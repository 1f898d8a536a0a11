use kafkadeps::{Event, EventFormat};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, kafkadeps::Event)]
#[event(topic = "orders.v1", key = order_id, format = "cloudevents",
        ce_type = "com.acme.order.created", ce_source = "/orders")]
struct OrderCreated {
    order_id: String,
    amount_cents: i64,
}

fn main() {
    let o = OrderCreated { order_id: "o-1".into(), amount_cents: 5 };
    assert_eq!(OrderCreated::TOPIC, "orders.v1");
    assert_eq!(OrderCreated::FORMAT, EventFormat::CloudEvents);
    assert_eq!(OrderCreated::CE_TYPE, Some("com.acme.order.created"));
    assert_eq!(OrderCreated::CE_SOURCE, Some("/orders"));
    assert_eq!(o.key().as_deref(), Some("o-1"));
    let _ = o.amount_cents;
}
