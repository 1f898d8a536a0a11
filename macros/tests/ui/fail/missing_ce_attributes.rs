#[derive(serde::Serialize, kafkadeps::Event)]
#[event(topic = "orders.v1", format = "cloudevents", ce_source = "/orders")]
struct Order {
    order_id: String,
}

fn main() {}
