#[derive(serde::Serialize, kafkadeps::Event)]
#[event(topik = "orders.v1")]
struct Order {
    order_id: String,
}

fn main() {}
