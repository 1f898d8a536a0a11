#[derive(serde::Serialize, kafkadeps::Event)]
#[event(key = order_id)]
struct Order {
    order_id: String,
}

#[derive(serde::Serialize, kafkadeps::Event)]
struct NoAttribute {
    order_id: String,
}

fn main() {}
