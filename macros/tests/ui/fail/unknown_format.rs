#[derive(serde::Serialize, kafkadeps::Event)]
#[event(topic = "orders.v1", format = "xml")]
struct Order {
    order_id: String,
}

fn main() {}
