//! The dependency graph: services → the topics they produce and consume → the consumer groups,
//! with each consuming edge's lag and each topic's owner; as JSON, Graphviz DOT or Mermaid.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use super::services::Service;

/// A group's lag on one topic, as last sampled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub(super) struct Lag {
    pub(super) messages: i64,
    pub(super) seconds: f64,
}

/// A node of the graph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "name")]
pub(crate) enum Node {
    Service(String),
    Topic(String),
    Group(String),
}

/// An edge: a service produces to a topic, a group reads a topic (with its lag), a service is a
/// member of a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Edge {
    from: Node,
    to: Node,
    /// `produces`, `consumed-by` or `member`.
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    lag: Option<Lag>,
}

/// A topic and the service that owns it (declares it as produced or owned), if one is seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Topic {
    name: String,
    owner: Option<String>,
}

/// The whole graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Graph {
    services: Vec<String>,
    topics: Vec<Topic>,
    groups: Vec<String>,
    edges: Vec<Edge>,
}

impl Graph {
    /// The graph of `services`, with the `lags` last sampled per (group, topic).
    pub(crate) fn of(services: &[Service], lags: &BTreeMap<(String, String), Lag>) -> Self {
        let mut names = BTreeSet::new();
        let mut topics: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut groups = BTreeSet::new();
        let mut edges = Vec::new();
        for s in services {
            names.insert(s.name.clone());
            // The first service that owns a topic is shown as its owner (two consumers of one
            // topic both write its dead-letter topic).
            for t in s.settings.owned_topics() {
                let owner = topics.entry(t.name.clone()).or_insert(None);
                if owner.is_none() {
                    *owner = Some(s.name.clone());
                }
            }
            for t in s.settings.produced_topics() {
                topics.entry(t.name.clone()).or_insert(None);
                edges.push(Edge {
                    from: Node::Service(s.name.clone()),
                    to: Node::Topic(t.name.clone()),
                    role: "produces",
                    lag: None,
                });
            }
            let group = &s.settings.group_id;
            let mut consumes = false;
            for t in s.settings.consumed_topics() {
                consumes = true;
                topics.entry(t.name.clone()).or_insert(None);
                edges.push(Edge {
                    from: Node::Topic(t.name.clone()),
                    to: Node::Group(group.clone()),
                    role: "consumed-by",
                    lag: lags.get(&(group.clone(), t.name.clone())).copied(),
                });
            }
            if consumes {
                groups.insert(group.clone());
                edges.push(Edge {
                    from: Node::Group(group.clone()),
                    to: Node::Service(s.name.clone()),
                    role: "member",
                    lag: None,
                });
            }
        }
        // Replicas of one service declare the same edges once.
        let mut seen = BTreeSet::new();
        edges.retain(|e| seen.insert((e.from.clone(), e.to.clone(), e.role)));
        Self {
            services: names.into_iter().collect(),
            topics: topics
                .into_iter()
                .map(|(name, owner)| Topic { name, owner })
                .collect(),
            groups: groups.into_iter().collect(),
            edges,
        }
    }

    fn label(&self, node: &Node) -> String {
        match node {
            Node::Service(s) | Node::Group(s) => s.clone(),
            Node::Topic(t) => match self
                .topics
                .iter()
                .find(|x| &x.name == t)
                .and_then(|x| x.owner.as_ref())
            {
                Some(owner) => format!("{t}\\n(owner: {owner})"),
                None => t.clone(),
            },
        }
    }

    fn nodes(&self) -> Vec<Node> {
        self.services
            .iter()
            .map(|s| Node::Service(s.clone()))
            .chain(self.topics.iter().map(|t| Node::Topic(t.name.clone())))
            .chain(self.groups.iter().map(|g| Node::Group(g.clone())))
            .collect()
    }

    fn edge_label(edge: &Edge) -> String {
        match &edge.lag {
            Some(lag) => format!("lag {} ({:.1} s)", lag.messages, lag.seconds),
            None => edge.role.to_owned(),
        }
    }

    /// Graphviz DOT.
    pub(crate) fn dot(&self) -> String {
        let id = |n: &Node| match n {
            Node::Service(s) => format!("\"service:{s}\""),
            Node::Topic(t) => format!("\"topic:{t}\""),
            Node::Group(g) => format!("\"group:{g}\""),
        };
        let mut out = String::from("digraph kafkadeps {\n  rankdir=LR;\n");
        for n in self.nodes() {
            let shape = match n {
                Node::Service(_) => "box",
                Node::Topic(_) => "ellipse",
                Node::Group(_) => "diamond",
            };
            let _ = writeln!(
                out,
                "  {} [shape={shape}, label=\"{}\"];",
                id(&n),
                self.label(&n)
            );
        }
        for e in &self.edges {
            let _ = writeln!(
                out,
                "  {} -> {} [label=\"{}\"];",
                id(&e.from),
                id(&e.to),
                Self::edge_label(e)
            );
        }
        out.push_str("}\n");
        out
    }

    /// A Mermaid flowchart.
    pub(crate) fn mermaid(&self) -> String {
        let nodes = self.nodes();
        let id = |n: &Node| {
            nodes
                .iter()
                .position(|m| m == n)
                .map_or_else(|| "unknown".to_owned(), |i| format!("n{i}"))
        };
        let mut out = String::from("flowchart LR\n");
        for n in &nodes {
            let label = self.label(n).replace("\\n", "<br/>").replace('"', "'");
            let _ = match n {
                Node::Service(_) => writeln!(out, "  {}[\"{label}\"]", id(n)),
                Node::Topic(_) => writeln!(out, "  {}([\"{label}\"])", id(n)),
                Node::Group(_) => writeln!(out, "  {}{{\"{label}\"}}", id(n)),
            };
        }
        for e in &self.edges {
            let _ = writeln!(
                out,
                "  {} -->|\"{}\"| {}",
                id(&e.from),
                Self::edge_label(e),
                id(&e.to)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::observe::services::service;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn services_topics_and_groups_with_lag_and_owners() {
        let orders = service("orders", &env(&[("KAFKA_PRODUCES", "orders.v1")]), "b:9092").unwrap();
        let billing = service(
            "billing",
            &env(&[
                ("KAFKA_CONSUMES", "orders.v1"),
                ("KAFKA_GROUP_ID", "billing-g"),
            ]),
            "b:9092",
        )
        .unwrap();
        let lags = BTreeMap::from([(
            ("billing-g".to_owned(), "orders.v1".to_owned()),
            Lag {
                messages: 7,
                seconds: 1.5,
            },
        )]);
        let g = Graph::of(&[orders, billing.clone(), billing], &lags);
        assert_eq!(g.services, ["billing", "orders"]);
        assert_eq!(g.groups, ["billing-g"]);
        let topic = g.topics.iter().find(|t| t.name == "orders.v1").unwrap();
        assert_eq!(topic.owner.as_deref(), Some("orders"));
        let consumed = g.edges.iter().find(|e| e.role == "consumed-by").unwrap();
        assert_eq!(consumed.lag.unwrap().messages, 7);
        assert_eq!(
            g.edges.iter().filter(|e| e.role == "member").count(),
            1,
            "replicas count once"
        );
        let dot = g.dot();
        assert!(
            dot.contains("\"service:orders\" -> \"topic:orders.v1\" [label=\"produces\"]"),
            "{dot}"
        );
        assert!(
            dot.contains("\"topic:orders.v1\" -> \"group:billing-g\" [label=\"lag 7 (1.5 s)\"]"),
            "{dot}"
        );
        let mermaid = g.mermaid();
        assert!(mermaid.starts_with("flowchart LR\n"));
        assert!(mermaid.contains("-->|\"lag 7 (1.5 s)\"|"), "{mermaid}");
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(json["edges"][0]["from"]["kind"], "service");
    }
}
