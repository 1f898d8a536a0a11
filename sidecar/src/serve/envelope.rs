//! The JSON shapes of the data API: produce requests in, record envelopes out.
//!
//! A value that is JSON travels as `value` (its bytes are kept verbatim); anything else as
//! `value_base64`. Keys and header values that are not UTF-8 use the `*_base64` forms, so no
//! byte is lost either way.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use kafkadeps::{OutgoingRecord, Record};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `POST /v1/topics/{topic}/records`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProduceRequest {
    pub(crate) records: Vec<RecordIn>,
}

/// One record to produce.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordIn {
    key: Option<String>,
    key_base64: Option<String>,
    /// Any JSON value, stored as its JSON text. `null` (or no value at all) is a tombstone.
    value: Option<Box<RawValue>>,
    value_base64: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    partition: Option<i32>,
}

impl RecordIn {
    /// The record for `topic`; `index` names it in error messages.
    pub(crate) fn into_outgoing(self, topic: &str, index: usize) -> Result<OutgoingRecord, String> {
        let mut out = OutgoingRecord::new(topic);
        match (self.key, self.key_base64) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "records[{index}]: give `key` or `key_base64`, not both"
                ));
            }
            (Some(k), None) => out = out.with_key(k),
            (None, Some(k)) => {
                out = out
                    .with_key(decode(&k).map_err(|e| format!("records[{index}].key_base64: {e}"))?);
            }
            (None, None) => {}
        }
        match (self.value, self.value_base64) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "records[{index}]: give `value` or `value_base64`, not both"
                ));
            }
            (Some(v), None) => out = out.with_payload(v.get().as_bytes().to_vec()),
            (None, Some(v)) => {
                out = out.with_payload(
                    decode(&v).map_err(|e| format!("records[{index}].value_base64: {e}"))?,
                );
            }
            (None, None) => {}
        }
        for (name, value) in self.headers {
            out = out.with_header(name, value);
        }
        if let Some(p) = self.partition {
            if p < 0 {
                return Err(format!("records[{index}].partition: must not be negative"));
            }
            out = out.with_partition(p);
        }
        Ok(out)
    }
}

fn decode(text: &str) -> Result<Vec<u8>, String> {
    BASE64
        .decode(text)
        .map_err(|e| format!("not standard base64 ({e})"))
}

/// Where one produced record landed.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Offset {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
}

/// A consumed record as pushed to the app or returned by a poll.
#[derive(Debug, Serialize)]
pub(crate) struct Envelope<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
    headers: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers_base64: BTreeMap<&'a str, String>,
    /// Milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<i64>,
}

impl<'a> Envelope<'a> {
    /// The envelope of `record`, borrowing from it.
    pub(crate) fn of(record: &'a Record) -> Self {
        let (key, key_base64) = match record.key() {
            None => (None, None),
            Some(k) => match std::str::from_utf8(k) {
                Ok(s) => (Some(s), None),
                Err(_) => (None, Some(BASE64.encode(k))),
            },
        };
        let (value, value_base64) = match record.payload() {
            None => (None, None),
            Some(p) => match serde_json::from_slice::<&RawValue>(p) {
                Ok(v) => (Some(v), None),
                Err(_) => (None, Some(BASE64.encode(p))),
            },
        };
        let mut headers = BTreeMap::new();
        let mut headers_base64 = BTreeMap::new();
        for (name, v) in record.headers() {
            let v = v.unwrap_or_default();
            match std::str::from_utf8(v) {
                Ok(s) => {
                    headers.insert(name, s);
                }
                Err(_) => {
                    headers_base64.insert(name, BASE64.encode(v));
                }
            }
        }
        Self {
            topic: record.topic(),
            partition: record.partition(),
            offset: record.offset(),
            key,
            key_base64,
            value,
            value_base64,
            headers,
            headers_base64,
            timestamp: record.timestamp_millis(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(json: &str) -> Result<OutgoingRecord, String> {
        let r: RecordIn = serde_json::from_str(json).map_err(|e| e.to_string())?;
        r.into_outgoing("t", 0)
    }

    #[test]
    fn json_values_are_kept_verbatim() {
        let r = outgoing(r#"{"key":"k","value":{"a": [1, 2.50]},"headers":{"h":"v"}}"#).unwrap();
        assert_eq!(r.key(), Some(&b"k"[..]));
        assert_eq!(r.payload(), Some(&br#"{"a": [1, 2.50]}"#[..]));
        assert_eq!(r.headers(), &[("h".to_owned(), b"v".to_vec())]);
    }

    #[test]
    fn base64_values_and_tombstones() {
        let r = outgoing(r#"{"key_base64":"AP8=","value_base64":"AAEC"}"#).unwrap();
        assert_eq!(r.key(), Some(&[0u8, 255][..]));
        assert_eq!(r.payload(), Some(&[0u8, 1, 2][..]));
        assert_eq!(
            outgoing(r#"{"key":"k","value":null}"#).unwrap().payload(),
            None
        );
        assert_eq!(outgoing(r#"{"key":"k"}"#).unwrap().payload(), None);
    }

    #[test]
    fn refuses_ambiguity_and_bad_input() {
        assert!(
            outgoing(r#"{"value":1,"value_base64":"AA=="}"#)
                .unwrap_err()
                .contains("not both")
        );
        assert!(
            outgoing(r#"{"key":"a","key_base64":"AA=="}"#)
                .unwrap_err()
                .contains("not both")
        );
        assert!(
            outgoing(r#"{"value_base64":"%%"}"#)
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            outgoing(r#"{"valu":1}"#)
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(
            outgoing(r#"{"partition":-1}"#)
                .unwrap_err()
                .contains("negative")
        );
        assert!(outgoing(r#"{"headers":{"a":1}}"#).is_err());
    }

    #[test]
    fn envelopes_round_trip_bytes() {
        let r = Record::from_parts(
            "t",
            2,
            7,
            Some(&[0xff]),
            Some(b"not json"),
            &[("h", b"v"), ("bin", &[0xfe])],
        );
        let v = serde_json::to_value(Envelope::of(&r)).unwrap();
        assert_eq!(v["partition"], 2);
        assert_eq!(v["offset"], 7);
        assert_eq!(v["key_base64"], "/w==");
        assert_eq!(v["value_base64"], BASE64.encode(b"not json"));
        assert_eq!(v["headers"]["h"], "v");
        assert_eq!(v["headers_base64"]["bin"], "/g==");
        let j = Record::from_parts("t", 0, 0, Some(b"k"), Some(br#"{"n":1}"#), &[]);
        let v = serde_json::to_value(Envelope::of(&j)).unwrap();
        assert_eq!(v["value"]["n"], 1);
        assert_eq!(v["key"], "k");
        assert!(v.get("value_base64").is_none());
    }
}
