#[derive(serde::Serialize, kafkadeps::Event)]
#[event(topic = "orders v1!")]
struct Order {
    id: String,
}

fn main() {}
