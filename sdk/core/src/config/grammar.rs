//! The declaration list grammar, shared by `KAFKA_PRODUCES`, `KAFKA_CONSUMES`, `KAFKA_TOPIC`,
//! `KAFKA_TOPIC_DEFAULTS` and the `kafkadeps.io/*` annotations:
//!
//! ```text
//! list     := decl ("," decl)*
//! decl     := topic [ "(" settings ")" ]
//! settings := setting ("," setting)*
//! setting  := key "=" value | "owned"
//! value    := bare | '"' text '"' | "'" text "'"
//! ```
//!
//! `owned` alone is `owned=true`.
//!
//! Whitespace around tokens is ignored. A bare value ends at `,` or `)`; quote values that contain
//! them (`cleanup.policy="compact,delete"`). This module only splits text; meaning and validation
//! live in [`super::model`].

/// The one setting that may stand without a value.
const FLAG: &str = "owned";

/// One `topic(key=value, ...)` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawDecl {
    pub(crate) topic: String,
    pub(crate) settings: Vec<(String, String)>,
}

struct Scanner<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    text: &'a str,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            chars: text.char_indices().peekable(),
            text,
        }
    }

    fn skip_ws(&mut self) {
        while self.chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.peek().map(|&(_, c)| c)
    }

    fn pos(&mut self) -> usize {
        self.chars.peek().map_or(self.text.len(), |&(i, _)| i)
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        self.chars.next_if(|&(_, x)| x == c).is_some()
    }

    /// A bare token: everything up to one of `stops` (trimmed).
    fn token(&mut self, stops: &[char]) -> String {
        self.skip_ws();
        let start = self.pos();
        while self.chars.next_if(|(_, c)| !stops.contains(c)).is_some() {}
        let end = self.pos();
        self.text[start..end].trim().to_owned()
    }

    fn value(&mut self, stops: &[char]) -> Result<String, String> {
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.chars.next();
                let start = self.pos();
                while self.chars.next_if(|&(_, c)| c != q).is_some() {}
                let end = self.pos();
                if !self.eat(q) {
                    return Err(format!(
                        "unterminated quote starting at character {}",
                        start
                    ));
                }
                Ok(self.text[start..end].to_owned())
            }
            _ => Ok(self.token(stops)),
        }
    }
}

/// Parses `key=value, key=value` until `close` (or the end when `close` is `None`).
fn settings(s: &mut Scanner<'_>, close: Option<char>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let stops: &[char] = if close.is_some() {
        &[',', ')', '=']
    } else {
        &[',', '=']
    };
    loop {
        if close.is_some_and(|c| s.peek() == Some(c)) || (close.is_none() && s.peek().is_none()) {
            if out.is_empty() && close.is_some() {
                return Err("empty settings `()`; remove the parentheses or add key=value".into());
            }
            if out.is_empty() {
                return Ok(out);
            }
            return Err("expected key=value after `,`".into());
        }
        let key = s.token(stops);
        if key.is_empty() {
            return Err(format!("expected a setting name at character {}", s.pos()));
        }
        let value_stops: &[char] = if close.is_some() { &[',', ')'] } else { &[','] };
        let value = if s.eat('=') {
            s.value(value_stops)?
        } else if key == FLAG {
            "true".to_owned()
        } else {
            return Err(format!(
                "setting `{key}` has no value; write `{key}=<value>`"
            ));
        };
        if value.is_empty() {
            return Err(format!("setting `{key}` has an empty value"));
        }
        if s.eat(',') {
            out.push((key, value));
            continue;
        }
        let result = match (s.peek(), close) {
            (None, None) => Ok(()),
            (Some(c), Some(want)) if c == want => Ok(()),
            (None, Some(want)) => Err(format!("missing `{want}` after the settings of a topic")),
            (Some(c), _) => Err(format!("unexpected `{c}` after `{key}`")),
        };
        out.push((key, value));
        return result.map(|()| out);
    }
}

/// Parses a declaration list. An empty or blank text is an empty list.
pub(crate) fn parse_list(text: &str) -> Result<Vec<RawDecl>, String> {
    let mut s = Scanner::new(text);
    let mut out = Vec::new();
    if s.peek().is_none() {
        return Ok(out);
    }
    loop {
        let topic = s.token(&[',', '(', ')']);
        if topic.is_empty() {
            return Err(match s.peek() {
                Some('(') => "settings `(...)` without a topic name before them".into(),
                _ => format!("empty topic name at character {} (stray comma?)", s.pos()),
            });
        }
        let mut decl = RawDecl {
            topic,
            settings: Vec::new(),
        };
        if s.eat('(') {
            decl.settings = settings(&mut s, Some(')'))?;
            if !s.eat(')') {
                return Err(format!(
                    "missing `)` after the settings of `{}`",
                    decl.topic
                ));
            }
        }
        out.push(decl);
        match s.peek() {
            None => return Ok(out),
            Some(',') => {
                s.eat(',');
                if s.peek().is_none() {
                    return Err("trailing comma at the end of the list".into());
                }
            }
            Some(c) => {
                return Err(format!(
                    "unexpected `{c}` after `{}`; separate declarations with `,`",
                    out.last().map_or("", |d| d.topic.as_str())
                ));
            }
        }
    }
}

/// Parses a bare settings list (`KAFKA_TOPIC_DEFAULTS`): `key=value, key=value`.
pub(crate) fn parse_settings(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut s = Scanner::new(text);
    settings(&mut s, None)
}

/// Renders one value, quoting it when the bare form would not parse back.
pub(crate) fn render_value(value: &str) -> String {
    if value.is_empty() || value.contains([',', '(', ')', '=', '"', '\'']) || value.trim() != value
    {
        format!("\"{value}\"")
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(topic: &str, settings: &[(&str, &str)]) -> RawDecl {
        RawDecl {
            topic: topic.into(),
            settings: settings
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }

    #[test]
    fn parses_valid_lists() {
        let cases: &[(&str, Vec<RawDecl>)] = &[
            ("", vec![]),
            ("   ", vec![]),
            ("orders", vec![d("orders", &[])]),
            (" a , b ", vec![d("a", &[]), d("b", &[])]),
            (
                "orders.v1(partitions=12, retention.ms=7d), orders.audit(cleanup.policy=compact)",
                vec![
                    d("orders.v1", &[("partitions", "12"), ("retention.ms", "7d")]),
                    d("orders.audit", &[("cleanup.policy", "compact")]),
                ],
            ),
            (
                "t ( cleanup.policy = \"compact,delete\" )",
                vec![d("t", &[("cleanup.policy", "compact,delete")])],
            ),
            ("t(x='a)b')", vec![d("t", &[("x", "a)b")])]),
        ];
        for (text, want) in cases {
            assert_eq!(parse_list(text).as_ref(), Ok(want), "input: {text:?}");
        }
    }

    #[test]
    fn rejects_invalid_lists_with_a_reason() {
        let cases = [
            ("a,,b", "empty topic name at character 2 (stray comma?)"),
            ("a,", "trailing comma at the end of the list"),
            (
                "(partitions=1)",
                "settings `(...)` without a topic name before them",
            ),
            (
                "a(partitions=1",
                "missing `)` after the settings of a topic",
            ),
            (
                "a()",
                "empty settings `()`; remove the parentheses or add key=value",
            ),
            (
                "a(partitions)",
                "setting `partitions` has no value; write `partitions=<value>`",
            ),
            ("a(partitions=)", "setting `partitions` has an empty value"),
            ("a(x=\"open)", "unterminated quote starting at character 5"),
            (
                "a) b",
                "unexpected `)` after `a`; separate declarations with `,`",
            ),
            (
                "a(x=1) b",
                "unexpected `b` after `a`; separate declarations with `,`",
            ),
            ("a(x=1,)", "expected key=value after `,`"),
            ("a(=1)", "expected a setting name at character 2"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_list(text), Err(want.to_owned()), "input: {text:?}");
        }
    }

    #[test]
    fn parses_bare_settings() {
        assert_eq!(
            parse_settings("partitions=6, retention.ms=1d"),
            Ok(vec![
                ("partitions".into(), "6".into()),
                ("retention.ms".into(), "1d".into())
            ])
        );
        assert_eq!(parse_settings(""), Ok(vec![]));
        assert_eq!(
            parse_settings("partitions=6,"),
            Err("expected key=value after `,`".to_owned())
        );
    }
}
