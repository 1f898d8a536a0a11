//! Table-driven tests of the whole contract, and the render/parse round trip.

use proptest::prelude::*;

use super::*;

const BOOT: (&str, &str) = ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092");

fn parse(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::from_vars(std::iter::once(BOOT).chain(vars.iter().copied()))
}

fn problems(vars: &[(&str, &str)]) -> Vec<String> {
    match parse(vars) {
        Ok(s) => panic!("expected problems for {vars:?}, got {s:?}"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn defaults_are_durable() {
    let s = parse(&[("KAFKA_TOPIC", "orders"), ("HOSTNAME", "orders-7d9f")]).unwrap();
    assert_eq!(s.client_id, "orders-7d9f");
    assert_eq!(s.app, "orders-7d9f");
    assert_eq!(s.group_id, "orders-7d9f");
    assert_eq!(s.topic_policy, TopicPolicy::Create);
    let t = s.topic("orders").unwrap();
    assert_eq!((t.spec.partitions, t.spec.replicas), (3, 3));
    assert_eq!(t.spec.config["min.insync.replicas"], "2");
    assert_eq!(t.spec.config["unclean.leader.election.enable"], "false");
    assert!(t.usage.produce && t.usage.consume);
    assert!(
        s.warnings
            .iter()
            .any(|w| matches!(w, crate::Warning::GroupIsClientId { .. })
                && w.to_string()
                    .contains("each replica may form its own group")),
        "{:?}",
        s.warnings
    );
}

#[test]
fn layers_builtin_then_defaults_then_declaration() {
    let s = parse(&[
        ("KAFKA_APP", "billing"),
        ("KAFKA_TOPIC_DEFAULTS", "partitions=6, retention.ms=1d"),
        (
            "KAFKA_PRODUCES",
            "orders.v1(partitions=12, retention.ms=7d), orders.audit(cleanup.policy=compact)",
        ),
        ("KAFKA_CONSUMES", "payments.v1"),
        ("KAFKA_TOPIC_POLICY", "Reconcile"),
    ])
    .unwrap();
    assert_eq!(s.group_id, "billing");
    assert_eq!(s.topic_policy, TopicPolicy::Reconcile);
    let names: Vec<_> = s.topics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "orders.audit",
            "orders.v1",
            "payments.v1",
            "payments.v1.dlq"
        ]
    );
    let dlq = s.topic("payments.v1.dlq").unwrap();
    assert!(
        dlq.usage.produce && !dlq.usage.consume,
        "the dead-letter topic is written by kafkadeps"
    );
    assert_eq!(dlq.spec, s.topic("payments.v1").unwrap().spec);
    let v1 = s.topic("orders.v1").unwrap();
    assert_eq!(v1.spec.partitions, 12);
    assert_eq!(v1.spec.config["retention.ms"], "604800000");
    let audit = s.topic("orders.audit").unwrap();
    assert_eq!(audit.spec.partitions, 6);
    assert_eq!(audit.spec.config["retention.ms"], "86400000");
    assert_eq!(audit.spec.config["cleanup.policy"], "compact");
    let payments = s.topic("payments.v1").unwrap();
    assert!(payments.usage.consume && !payments.usage.produce);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn same_topic_twice_merges_or_conflicts() {
    let s = parse(&[
        ("KAFKA_APP", "a"),
        ("KAFKA_PRODUCES", "t(partitions=4)"),
        ("KAFKA_CONSUMES", "t"),
    ])
    .unwrap();
    let t = s.topic("t").unwrap();
    assert!(t.usage.produce && t.usage.consume);
    assert_eq!(t.spec.partitions, 4);
    assert_eq!(
        problems(&[
            ("KAFKA_PRODUCES", "t(partitions=4, retention.ms=1d)"),
            ("KAFKA_CONSUMES", "t(partitions=5, retention.ms=2d)")
        ]),
        [
            "KAFKA_CONSUMES: topic `t` is also declared in KAFKA_PRODUCES with different partitions, retention.ms"
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once_naming_its_variable() {
    let got = problems(&[
        ("KAFKA_BOOTSTRAP_SERVERS", "broker-without-port"),
        (
            "KAFKA_PRODUCES",
            "orders!, ok(partitions=0, retention.mss=7d, replicas=x)",
        ),
        ("KAFKA_CONSUMES", "..,a(min.insync.replicas=4)"),
        ("KAFKA_TOPIC_POLICY", "yolo"),
        ("KAFKA_TOPIC_DEFAULTS", "partitions=2,"),
        ("KAFKA_CLIENT_ACKS", "0"),
        ("KAFKA_DURABILITY", "loose"),
        ("KAFKA_TOPIC_REPLICAS", "many"),
    ]);
    let want = [
        "KAFKA_BOOTSTRAP_SERVERS: `broker-without-port` is not host:port",
        "KAFKA_TOPIC_POLICY: `yolo` is not one of create, reconcile, verify",
        "KAFKA_TOPIC_REPLICAS: `many` is not one of strict, clamp",
        "KAFKA_DURABILITY: `loose` is not one of strict, relaxed",
        "KAFKA_TOPIC_DEFAULTS: expected key=value after `,`",
        "KAFKA_PRODUCES: topic name `orders!` contains `!`; only letters, digits, `.`, `_` and `-` are allowed",
        "KAFKA_PRODUCES: partitions=0 is out of range (1..=100000)",
        "KAFKA_PRODUCES: topic `ok`: unknown topic setting `retention.mss`; did you mean `retention.ms`?",
        "KAFKA_PRODUCES: replicas=`x` is not an integer",
        "KAFKA_CONSUMES: topic name `..` is not allowed",
        "KAFKA_CONSUMES: topic `a`: min.insync.replicas=4 is greater than replicas=3; no write could ever succeed",
        "KAFKA_CLIENT_ACKS: `acks=0` weakens durability: acknowledged records could be lost (durable: acks=all); set KAFKA_DURABILITY=relaxed to allow it",
    ];
    assert_eq!(got, want);
}

#[test]
fn invalid_inputs_table() {
    let long = "a".repeat(250);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("KAFKA_TOPIC", &long)],
            "must be 1 to 249 characters long",
        ),
        (
            vec![("KAFKA_TOPIC", "a, b")],
            "KAFKA_TOPIC: declares one topic; use KAFKA_PRODUCES / KAFKA_CONSUMES for several",
        ),
        (
            vec![("KAFKA_PRODUCES", "a(retention.ms=7w)")],
            "KAFKA_PRODUCES: topic `a`: retention.ms: `7w` has an unknown unit `w`",
        ),
        (
            vec![("KAFKA_PRODUCES", "a(segment.bytes=1GB)")],
            "KAFKA_PRODUCES: topic `a`: segment.bytes: `1GB` has an unknown unit `GB`",
        ),
        (
            vec![("KAFKA_PRODUCES", "a(colour=blue)")],
            "KAFKA_PRODUCES: topic `a`: unknown topic setting `colour`; see docs/declarations.md",
        ),
        (
            vec![("KAFKA_PRODUCES", "a(partitions=1, partitions=2)")],
            "KAFKA_PRODUCES: topic `a`: `partitions` is set twice (1 and 2)",
        ),
        (
            vec![("KAFKA_PRODUCES", "a(replicas=40000)")],
            "KAFKA_PRODUCES: replicas=40000 is out of range (1..=32767)",
        ),
        (
            vec![("KAFKA_PRODUCES", "a(cleanup.policy=forever)")],
            "`forever` is not one of compact, delete",
        ),
        (
            vec![("KAFKA_PRODUCES", "a(unclean.leader.election.enable=maybe)")],
            "`maybe` is not true or false",
        ),
        (
            vec![("KAFKA_PRODUCES", "a(b")],
            "KAFKA_PRODUCES: setting `b` has no value",
        ),
        (
            vec![("KAFKA_SECURITY_PROTOCOL", "tls")],
            "KAFKA_SECURITY_PROTOCOL: `tls` is not one of plaintext, ssl, sasl_plaintext, sasl_ssl",
        ),
        (
            vec![
                ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
                ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
                ("KAFKA_SASL_PASSWORD", "p"),
            ],
            "KAFKA_SASL_USERNAME: is required with KAFKA_SASL_MECHANISM",
        ),
        (
            vec![
                ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
                ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
                ("KAFKA_SASL_USERNAME", "u"),
            ],
            "KAFKA_SASL_PASSWORD: KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE is required with KAFKA_SASL_MECHANISM",
        ),
        (
            vec![
                ("KAFKA_SASL_MECHANISM", "PLAIN"),
                ("KAFKA_SASL_USERNAME", "u"),
                ("KAFKA_SASL_PASSWORD", "p"),
            ],
            "KAFKA_SASL_MECHANISM: is set but KAFKA_SECURITY_PROTOCOL is not sasl_plaintext or sasl_ssl",
        ),
        (
            vec![
                ("KAFKA_SASL_PASSWORD", "p"),
                ("KAFKA_SASL_PASSWORD_FILE", "/x"),
            ],
            "KAFKA_SASL_PASSWORD_FILE: set either KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both",
        ),
        (
            vec![("KAFKA_SASL_PASSWORD_FILE", "/nonexistent/kafkadeps")],
            "KAFKA_SASL_PASSWORD_FILE: cannot read `/nonexistent/kafkadeps`",
        ),
        (
            vec![("KAFKA_SSL_KEY_LOCATION", "/k.pem")],
            "KAFKA_SSL_KEY_LOCATION: KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION go together",
        ),
        (
            vec![("KAFKA_CLIENT_ENABLE_AUTO_COMMIT", "true")],
            "KAFKA_CLIENT_ENABLE_AUTO_COMMIT: `enable.auto.commit=true` weakens durability",
        ),
        (
            vec![("KAFKA_CLIENT_BOOTSTRAP_SERVERS", "x:1")],
            "KAFKA_CLIENT_BOOTSTRAP_SERVERS: `bootstrap.servers` is set by kafkadeps; use KAFKA_BOOTSTRAP_SERVERS instead",
        ),
    ];
    for (vars, want) in cases {
        let got = problems(&vars);
        assert_eq!(got.len(), 1, "{vars:?}: {got:?}");
        assert!(
            got[0].contains(want),
            "{vars:?}:\n got: {}\nwant: {want}",
            got[0]
        );
    }
    let missing = Settings::from_vars([("KAFKA_TOPIC", "a")]).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "invalid Kafka declarations (1 problem):\n  - KAFKA_BOOTSTRAP_SERVERS: is required (e.g. my-cluster-kafka-bootstrap:9092)"
    );
}

/// GSSAPI needs Cyrus SASL, linked only with the `gssapi` feature; without it the mechanism is
/// a configuration error up front instead of a librdkafka failure at the first connection.
#[test]
fn gssapi_only_when_built_in() {
    let vars = [
        ("KAFKA_SECURITY_PROTOCOL", "sasl_plaintext"),
        ("KAFKA_SASL_MECHANISM", "gssapi"),
    ];
    if cfg!(feature = "gssapi") {
        let s = parse(&vars).unwrap();
        assert_eq!(s.security.sasl_mechanism, Some(SaslMechanism::Gssapi));
    } else {
        let p = problems(&vars);
        assert!(
            p.iter().any(|p| p.starts_with(
                "KAFKA_SASL_MECHANISM: GSSAPI (Kerberos) is not built in: build kafkadeps with its `gssapi` feature"
            )),
            "{p:?}"
        );
    }
}

#[test]
fn warnings_for_allowed_but_risky_declarations() {
    let s = parse(&[
        ("KAFKA_APP", "a"),
        ("KAFKA_PRODUCES", "a.b, a_b, c(replicas=2)"),
    ])
    .unwrap();
    assert_eq!(
        s.warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "topic `c`: min.insync.replicas equals replicas (2): no broker may fail without blocking writes",
            "topics `a.b` and `a_b` collide once `.` and `_` are folded; Kafka refuses to create both",
        ]
    );
}

#[test]
fn secrets_never_show() {
    let dir = std::env::temp_dir().join(format!("kafkadeps-secret-{}", std::process::id()));
    std::fs::write(&dir, "from-file-s3cret\n").unwrap();
    let path = dir.to_string_lossy().into_owned();
    for vars in [
        vec![("KAFKA_SASL_PASSWORD", "env-s3cret")],
        vec![("KAFKA_SASL_PASSWORD_FILE", path.as_str())],
    ] {
        let mut all = vec![
            ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ("KAFKA_SASL_MECHANISM", "scram-sha-256"),
            ("KAFKA_SASL_USERNAME", "svc"),
        ];
        all.extend(vars);
        let s = parse(&all).unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("[redacted]"));
        assert!(
            s.security
                .sasl_password
                .as_ref()
                .unwrap()
                .expose()
                .ends_with("s3cret")
        );
        assert_eq!(s.security.sasl_mechanism, Some(SaslMechanism::ScramSha256));
    }
    // An invalid configuration's error does not carry the password either.
    let err = parse(&[
        ("KAFKA_SASL_PASSWORD", "env-s3cret"),
        ("KAFKA_SASL_MECHANISM", "PLAIN"),
    ])
    .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("s3cret"));
    std::fs::remove_file(dir).unwrap();
}

#[test]
fn builder_is_the_same_model() {
    let built = Settings::builder("127.0.0.1:9092")
        .app("orders")
        .produces(
            Declaration::new("orders.v1")
                .partitions(12)
                .config("retention.ms", "7d"),
        )
        .produces("orders.audit(cleanup.policy=compact)")
        .consumes(Declaration::new("payments.v1"))
        .client_property("linger.ms", "5")
        .build()
        .unwrap();
    let from_env = parse(&[
        ("KAFKA_APP", "orders"),
        (
            "KAFKA_PRODUCES",
            "orders.v1(partitions=12, retention.ms=7d), orders.audit(cleanup.policy=compact)",
        ),
        ("KAFKA_CONSUMES", "payments.v1"),
        ("KAFKA_CLIENT_LINGER_MS", "5"),
    ])
    .unwrap();
    assert_eq!(built.topics, from_env.topics);
    assert_eq!(built.client_properties, from_env.client_properties);
    assert!(
        Settings::builder("x:1")
            .produces(Declaration::new("bad name"))
            .build()
            .is_err()
    );
}

#[test]
fn consumed_only_topics_are_dependencies_with_requirements() {
    let s = parse(&[
        ("KAFKA_APP", "billing"),
        ("KAFKA_PRODUCES", "billing.v1"),
        (
            "KAFKA_CONSUMES",
            "payments.v1(min.partitions=6, cleanup.policy=compact), scratch(owned, partitions=2), billing.v1",
        ),
    ])
    .unwrap();
    let payments = s.topic("payments.v1").unwrap();
    assert_eq!(payments.ownership, Ownership::Dependency);
    assert_eq!(payments.requires.min_partitions, Some(6));
    assert_eq!(payments.requires.config["cleanup.policy"], "compact");
    assert_eq!(
        payments.spec.partitions, 6,
        "created with what it needs where missing"
    );
    let owned: Vec<&str> = s.owned_topics().map(|t| t.name.as_str()).collect();
    assert_eq!(
        owned,
        [
            "billing.v1",
            "billing.v1.dlq",
            "payments.v1.dlq",
            "scratch",
            "scratch.dlq"
        ],
        "produced, marked owned, and every dead-letter topic"
    );
    assert_eq!(s.topic("scratch").unwrap().spec.partitions, 2);
    assert!(s.topic("billing.v1").unwrap().requires.is_empty());
    assert!(
        parse(&[("KAFKA_CONSUMES", "t(owned=true)")])
            .unwrap()
            .topic("t")
            .unwrap()
            .is_owned()
    );
}

#[test]
fn a_dependency_cannot_declare_the_owners_settings() {
    let p = problems(&[("KAFKA_CONSUMES", "payments.v1(partitions=12)")]);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("KAFKA_CONSUMES: topic `payments.v1` is only consumed"),
        "{p:?}"
    );
    assert!(
        p[0].contains("min.partitions=N") && p[0].contains("`owned`"),
        "{p:?}"
    );
    let p = problems(&[("KAFKA_PRODUCES", "orders(min.partitions=3)")]);
    assert!(
        p[0].contains("an owned topic declares partitions=N"),
        "{p:?}"
    );
    let p = problems(&[("KAFKA_TOPIC_DEFAULTS", "min.partitions=3")]);
    assert!(p[0].starts_with("KAFKA_TOPIC_DEFAULTS: "), "{p:?}");
    let p = problems(&[("KAFKA_CONSUMES", "t(owned=maybe)")]);
    assert!(p[0].contains("owned=`maybe` is not true or false"), "{p:?}");
}

#[test]
fn topic_settings_that_weaken_durability_need_relaxed() {
    for (var, value, needle) in [
        (
            "KAFKA_PRODUCES",
            "t(min.insync.replicas=1)",
            "min.insync.replicas=1 weakens durability",
        ),
        (
            "KAFKA_PRODUCES",
            "t(unclean.leader.election.enable=true)",
            "unclean.leader.election.enable=true weakens",
        ),
        (
            "KAFKA_TOPIC",
            "t(min.insync.replicas=1)",
            "min.insync.replicas=1",
        ),
        (
            "KAFKA_TOPIC_DEFAULTS",
            "min.insync.replicas=1",
            "min.insync.replicas=1",
        ),
        (
            "KAFKA_TOPIC_DEFAULTS",
            "unclean.leader.election.enable=true",
            "unclean",
        ),
    ] {
        let vars = [
            ("KAFKA_APP", "a"),
            (var, value),
            ("KAFKA_PRODUCES", "other"),
        ];
        let vars: Vec<_> = if var == "KAFKA_PRODUCES" {
            vec![vars[0], vars[1]]
        } else {
            vars.to_vec()
        };
        let p = problems(&vars);
        assert_eq!(p.len(), 1, "{value}: {p:?}");
        assert!(p[0].starts_with(&format!("{var}: ")), "{value}: {p:?}");
        assert!(
            p[0].contains(needle) && p[0].contains("KAFKA_DURABILITY=relaxed"),
            "{p:?}"
        );
        let mut relaxed = vars.clone();
        relaxed.push(("KAFKA_DURABILITY", "relaxed"));
        assert!(parse(&relaxed).is_ok(), "{value} with relaxed durability");
    }
    // What a consumer requires of a topic it does not own is no weakening of its own.
    assert!(
        parse(&[
            ("KAFKA_APP", "a"),
            ("KAFKA_CONSUMES", "t(min.insync.replicas=1)")
        ])
        .is_ok()
    );
}

#[test]
fn unknown_kafka_variables_are_refused_with_a_did_you_mean() {
    let p = problems(&[("KAFKA_CONSUME", "orders"), ("KAFKA_APP", "a")]);
    assert_eq!(
        p,
        [
            "KAFKA_CONSUME: is not a kafkadeps variable; did you mean KAFKA_CONSUMES? (a platform that sets unrelated KAFKA_ variables sets KAFKA_UNKNOWN_VARIABLES=warn)"
        ]
    );
    let p = problems(&[("KAFKA_SIDECAR_LISTENN", "127.0.0.1:1")]);
    assert!(p[0].contains("did you mean KAFKA_SIDECAR_LISTEN?"), "{p:?}");
    // As a warning where the platform asks for it.
    let s = parse(&[
        ("KAFKA_CONSUME", "orders"),
        ("KAFKA_UNKNOWN_VARIABLES", "warn"),
    ])
    .unwrap();
    assert!(s.warnings.iter().any(|w| {
        w.to_string()
            .starts_with("KAFKA_CONSUME is not a kafkadeps variable")
    }));
    // Known: the contract, the sidecar's settings, client properties; and Kubernetes' service
    // links of a Service called `kafka` are no one's typo.
    assert!(
        parse(&[
            ("KAFKA_SIDECAR_LISTEN", "127.0.0.1:4195"),
            ("KAFKA_LOG_FORMAT", "pretty"),
            ("KAFKA_CLIENT_LINGER_MS", "5"),
            ("KAFKA_SERVICE_HOST", "10.0.0.7"),
            ("KAFKA_SERVICE_PORT", "9092"),
            ("KAFKA_SERVICE_PORT_TCP_CLIENT", "9092"),
            ("KAFKA_PORT", "tcp://10.0.0.7:9092"),
            ("KAFKA_PORT_9092_TCP", "tcp://10.0.0.7:9092"),
            ("KAFKA_PORT_9092_TCP_ADDR", "10.0.0.7"),
            ("KAFKA_UI_PORT_8080_TCP_PORT", "8080"),
        ])
        .is_ok()
    );
    assert!(problems(&[("KAFKA_UNKNOWN_VARIABLES", "ignore")])[0].contains("error, warn"));
}

fn topic_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,30}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn config_entry() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        (0i64..10_000_000_000).prop_map(|n| ("retention.ms".to_owned(), n.to_string())),
        (1i64..1_000_000).prop_map(|n| ("segment.bytes".to_owned(), format!("{n}KiB"))),
        prop::sample::select(vec!["compact", "delete", "compact,delete"])
            .prop_map(|v| ("cleanup.policy".to_owned(), v.to_owned())),
        any::<bool>().prop_map(|b| ("preallocate".to_owned(), b.to_string())),
        (2i64..4).prop_map(|n| ("min.insync.replicas".to_owned(), n.to_string())),
    ]
}

proptest! {
    /// What the model renders back to the grammar parses to the same model.
    #[test]
    fn render_then_parse_is_identity(
        topics in prop::collection::btree_map(topic_name(), (1i32..500, 3i32..6, prop::collection::vec(config_entry(), 0..4)), 1..5)
    ) {
        let decls: Vec<String> = topics.iter().map(|(name, (p, r, cfg))| {
            let mut d = Declaration::new(name.clone()).partitions(*p).replicas(*r);
            let mut seen = std::collections::HashSet::new();
            for (k, v) in cfg { if seen.insert(k.clone()) { d = d.config(k.clone(), v.clone()); } }
            d.to_string()
        }).collect();
        let first = parse(&[("KAFKA_APP", "p"), ("KAFKA_PRODUCES", &decls.join(", "))]);
        let first = match first { Ok(s) => s, Err(e) => { prop_assume!(!e.to_string().contains("collide")); panic!("{e}") } };
        let rendered: Vec<String> = first.topics.iter().map(Topic::to_declaration).collect();
        let second = parse(&[("KAFKA_APP", "p"), ("KAFKA_PRODUCES", &rendered.join(" , "))]).unwrap();
        prop_assert_eq!(first.topics, second.topics);
    }

    /// Any text in any variable of the contract ends in settings or in documented problems —
    /// never a panic — and every problem names a variable.
    #[test]
    fn any_text_in_any_variable_is_a_result_not_a_panic(
        values in prop::collection::vec((0usize..vars::ALL.len(), "\\PC{0,40}"), 0..6),
        grammarish in "[a-z.()=,'\" 0-9_-]{0,60}",
    ) {
        let mut pairs: Vec<(String, String)> = values
            .into_iter()
            .map(|(i, v)| (vars::ALL[i].to_owned(), v))
            .collect();
        pairs.push(("KAFKA_PRODUCES".into(), grammarish.clone()));
        pairs.push(("KAFKA_CONSUMES".into(), grammarish));
        if let Err(e) = Settings::from_vars(pairs) {
            prop_assert!(!e.problems.is_empty());
            for p in &e.problems {
                prop_assert!(p.variable.starts_with("KAFKA_"), "{p}");
                prop_assert!(!p.message.is_empty());
            }
        }
    }

    /// Mutations of a valid declaration list parse or fail cleanly, and what parses renders back
    /// to the same model.
    #[test]
    fn mutated_declarations_parse_or_fail_cleanly(
        cut in 0usize..80,
        insert in "[(),='\"a-z0-9 .]{0,3}",
    ) {
        let base = "orders.v1(partitions=12, retention.ms=7d), audit(cleanup.policy=\"compact,delete\"), x";
        let at = base.char_indices().map(|(i, _)| i).nth(cut % base.len()).unwrap_or(0);
        let text = format!("{}{insert}{}", &base[..at], &base[at..]);
        if let Ok(s) = parse(&[("KAFKA_APP", "p"), ("KAFKA_PRODUCES", &text)]) {
            let rendered: Vec<String> = s.topics.iter().map(Topic::to_declaration).collect();
            let again = parse(&[("KAFKA_APP", "p"), ("KAFKA_PRODUCES", &rendered.join(", "))]);
            prop_assert!(again.is_ok(), "{text} rendered as {rendered:?}: {again:?}");
        }
    }
}

#[test]
fn group_protocol_defaults_to_auto_and_classic_only_properties_make_auto_classic() {
    let s = parse(&[("KAFKA_TOPIC", "t")]).unwrap();
    assert_eq!(s.group_protocol, GroupProtocol::Auto);
    let s = parse(&[("KAFKA_TOPIC", "t"), ("KAFKA_GROUP_PROTOCOL", "Auto")]).unwrap();
    assert_eq!(s.group_protocol, GroupProtocol::Auto);
    let s = parse(&[("KAFKA_TOPIC", "t"), ("KAFKA_GROUP_PROTOCOL", "classic")]).unwrap();
    assert_eq!(s.group_protocol, GroupProtocol::Classic);
    // Unset means auto: a classic-only property chooses classic, as with `auto`.
    let s = parse(&[
        ("KAFKA_TOPIC", "t"),
        ("KAFKA_CLIENT_SESSION_TIMEOUT_MS", "6000"),
    ])
    .unwrap();
    assert_eq!(s.group_protocol, GroupProtocol::Classic);
    let s = parse(&[("KAFKA_TOPIC", "t"), ("KAFKA_GROUP_PROTOCOL", "consumer")]).unwrap();
    assert_eq!(s.group_protocol, GroupProtocol::Consumer);
    let s = parse(&[
        ("KAFKA_TOPIC", "t"),
        ("KAFKA_GROUP_PROTOCOL", "auto"),
        ("KAFKA_CLIENT_SESSION_TIMEOUT_MS", "6000"),
    ])
    .unwrap();
    assert_eq!(s.group_protocol, GroupProtocol::Classic);
    assert!(
        s.warnings.iter().any(
            |w| matches!(w, crate::Warning::ClassicProtocolChosen { properties }
                if properties.iter().any(|p| p == "session.timeout.ms"))
                && w.to_string().contains("classic")
        ),
        "{:?}",
        s.warnings
    );
}

#[test]
fn the_new_group_protocol_refuses_classic_only_properties_with_their_replacement() {
    let p = problems(&[
        ("KAFKA_TOPIC", "t"),
        ("KAFKA_GROUP_PROTOCOL", "consumer"),
        ("KAFKA_CLIENT_SESSION_TIMEOUT_MS", "6000"),
        ("KAFKA_CLIENT_PARTITION_ASSIGNMENT_STRATEGY", "range"),
    ]);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p.iter()
            .any(|m| m.starts_with("KAFKA_CLIENT_SESSION_TIMEOUT_MS:")
                && m.contains("group.consumer.session.timeout.ms")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.contains("KAFKA_CLIENT_GROUP_REMOTE_ASSIGNOR")),
        "{p:?}"
    );
    let p = problems(&[("KAFKA_TOPIC", "t"), ("KAFKA_GROUP_PROTOCOL", "new")]);
    assert!(p[0].starts_with("KAFKA_GROUP_PROTOCOL:"), "{p:?}");
    let p = problems(&[
        ("KAFKA_TOPIC", "t"),
        ("KAFKA_CLIENT_GROUP_PROTOCOL", "consumer"),
    ]);
    assert!(p[0].contains("use KAFKA_GROUP_PROTOCOL"), "{p:?}");
}

#[test]
fn park_mode_gives_each_consumed_topic_an_owned_retry_topic() {
    let s = parse(&[
        ("KAFKA_CONSUMES", "orders(min.partitions=6)"),
        ("KAFKA_PRODUCES", "billed"),
        ("KAFKA_RETRY_MODE", "park"),
    ])
    .unwrap();
    assert_eq!(s.retry_mode, RetryMode::Park);
    let retry = s.topics.iter().find(|t| t.name == "orders.retry").unwrap();
    let source = s.topics.iter().find(|t| t.name == "orders").unwrap();
    assert_eq!(retry.spec, source.spec, "same partitions and settings");
    assert!(retry.usage.produce && !retry.usage.consume && retry.is_owned());
    assert!(!s.topics.iter().any(|t| t.name.starts_with("billed.")));
    assert!(!s.topics.iter().any(|t| t.name == "orders.retry.dlq"));
    let in_place = parse(&[("KAFKA_CONSUMES", "orders")]).unwrap();
    assert_eq!(in_place.retry_mode, RetryMode::InPlace);
    assert!(!in_place.topics.iter().any(|t| t.name == "orders.retry"));
    let p = problems(&[("KAFKA_CONSUMES", "orders"), ("KAFKA_RETRY_MODE", "later")]);
    assert!(p[0].starts_with("KAFKA_RETRY_MODE:"), "{p:?}");
}

#[test]
fn the_producer_profile_is_throughput_unless_latency_is_chosen() {
    let default = parse(&[("KAFKA_PRODUCES", "orders")]).unwrap();
    assert_eq!(default.producer_profile, ProducerProfile::Throughput);
    assert_eq!(default.producer_profile.linger_ms(), "20");
    let latency = parse(&[
        ("KAFKA_PRODUCES", "orders"),
        ("KAFKA_PRODUCER_PROFILE", "latency"),
    ])
    .unwrap();
    assert_eq!(latency.producer_profile, ProducerProfile::Latency);
    assert_eq!(latency.producer_profile.linger_ms(), "0");
    let built = Settings::builder("127.0.0.1:9092")
        .produces("orders")
        .producer_profile(ProducerProfile::Latency)
        .build()
        .unwrap();
    assert_eq!(built.producer_profile, ProducerProfile::Latency);
    let p = problems(&[
        ("KAFKA_PRODUCES", "orders"),
        ("KAFKA_PRODUCER_PROFILE", "fast"),
    ]);
    assert!(
        p[0].starts_with("KAFKA_PRODUCER_PROFILE:") && p[0].contains("latency"),
        "{p:?}"
    );
}
