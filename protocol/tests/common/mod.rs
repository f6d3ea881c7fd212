//! Shared by the integration tests: the captured vectors and hex helpers.

#![allow(dead_code)] // each test binary uses a different subset

use serde_json::Value;

/// The capture file, parsed.
pub fn load() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vectors.json");
    let text = std::fs::read_to_string(path).expect("read vectors.json");
    serde_json::from_str(&text).expect("parse vectors.json")
}

/// Every record of the capture, in order.
pub fn records(v: &Value) -> impl Iterator<Item = &Value> {
    v["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .flat_map(|s| s["records"].as_array().expect("records").iter())
}

/// Decodes plain hex.
pub fn unhex(s: &str) -> Vec<u8> {
    assert_eq!(s.len() & 1, 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Encodes plain hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A captured hex string, possibly abbreviated as `<hex>...(N bytes[ total])`.
pub struct Captured {
    /// The bytes shown.
    pub prefix: Vec<u8>,
    /// The full length when abbreviated.
    pub total: Option<usize>,
}

/// Parses a possibly abbreviated captured hex string.
pub fn captured_hex(s: &str) -> Captured {
    match s.split_once("...(") {
        None => Captured {
            prefix: unhex(s),
            total: None,
        },
        Some((prefix, rest)) => {
            let n = rest
                .split(' ')
                .next()
                .expect("length")
                .parse()
                .expect("number");
            Captured {
                prefix: unhex(prefix),
                total: Some(n),
            }
        }
    }
}

/// A captured message's payload as far as the capture shows it.
pub struct Payload {
    /// `Some(true)` client → store frame, `Some(false)` store → client
    /// frame, `None` notification.
    pub request: Option<bool>,
    /// Frame type (27 for notifications).
    pub msg_type: i64,
    /// The payload bytes (a prefix when `complete` is false).
    pub bytes: Vec<u8>,
    /// Whether `bytes` is the whole payload.
    pub complete: bool,
}

/// The payload of every frame and notification record.
pub fn payloads(v: &Value) -> Vec<Payload> {
    records(v)
        .filter_map(|r| {
            let request = match (r["kind"].as_str()?, r["dir"].as_str()?) {
                ("frame", "c2s") => Some(true),
                ("frame", "s2c") => Some(false),
                ("notification", _) => None,
                _ => return None,
            };
            let c = captured_hex(r["payload_hex"].as_str()?);
            Some(Payload {
                request,
                msg_type: r["type"].as_i64()?,
                complete: c.total.is_none(),
                bytes: c.prefix,
            })
        })
        .collect()
}
