use kafkadeps::{Event, EventFormat};

#[derive(serde::Serialize, kafkadeps::Event)]
#[event(topic = "audit_log-2")]
struct AuditEntry {
    line: String,
}

#[derive(serde::Serialize, kafkadeps::Event)]
#[event(topic = "metrics", key = "id", format = "json")]
struct Sample<T: serde::Serialize> {
    id: u64,
    value: T,
}

fn main() {
    let a = AuditEntry { line: "x".into() };
    assert_eq!(AuditEntry::FORMAT, EventFormat::Json);
    assert_eq!(a.key(), None);
    assert_eq!(AuditEntry::CE_TYPE, None);
    let s = Sample { id: 7, value: 1.5 };
    assert_eq!(s.key().as_deref(), Some("7"));
    assert_eq!(<Sample<f64> as Event>::TOPIC, "metrics");
    let _ = (a.line, s.value);
}
