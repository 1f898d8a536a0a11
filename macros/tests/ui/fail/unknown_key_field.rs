#[derive(serde::Serialize, kafkadeps::Event)]
#[event(topic = "orders.v1", key = order_idd)]
struct Order {
    order_id: String,
    amount_cents: i64,
}

fn main() {}
