//! Kakao's published addresses (`GET https://kapi.kakao.com/v1/system/ips`):
//! which of them Kakao calls webhooks from.
//!
//! The answer holds inbound rules (the addresses Kakao calls *us* from, each
//! for `callback` or `scrap`) and outbound rules (Kakao's own domains, for an
//! egress firewall), with scheduled additions and exclusions. Its exact field
//! names are not documented where we could read them, so this reads it
//! tolerantly: every address or CIDR string under the inbound part, except
//! under a `scrap` entry or an outbound part; a scheduled addition counts
//! from its date, a scheduled exclusion until its date.

use serde_json::{Map, Value};
use time::{
    Date, OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description,
};

/// Why an answer gave no usable list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SystemIpsError {
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
    #[error("the answer lists no inbound callback address")]
    Empty,
}

/// The inbound callback networks in `body` at `now` (seconds since the
/// epoch), as text: `"203.0.113.0/24"` or a lone address `"203.0.113.7"`.
/// Sorted, without duplicates. Never empty: an answer that names none is an
/// error, so a good list is never replaced by an empty one.
pub fn inbound_callback_networks(body: &[u8], now: i64) -> Result<Vec<String>, SystemIpsError> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|err| SystemIpsError::NotJson(err.to_string()))?;
    let mut found = Vec::new();
    let inbound = inbound_parts(&answer);
    let roots: Vec<&Value> = if inbound.is_empty() {
        vec![&answer] // `?rule_type=inbound` may answer with the inbound part alone
    } else {
        inbound
    };
    for root in roots {
        collect(root, Scope::default(), now, 0, &mut found);
    }
    found.sort();
    found.dedup();
    if found.is_empty() {
        return Err(SystemIpsError::Empty);
    }
    Ok(found)
}

/// The values under keys naming the inbound rules, anywhere in the answer.
fn inbound_parts(value: &Value) -> Vec<&Value> {
    let mut parts = Vec::new();
    fn walk<'a>(value: &'a Value, depth: usize, parts: &mut Vec<&'a Value>) {
        if depth > MAX_DEPTH {
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    if key.to_ascii_lowercase().contains("inbound") {
                        parts.push(child);
                    } else {
                        walk(child, depth + 1, parts);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, depth + 1, parts)),
            _ => {}
        }
    }
    walk(value, 0, &mut parts);
    parts
}

/// Deeper than any real answer; bounds the walk on a hostile one.
const MAX_DEPTH: usize = 32;

/// What an enclosing entry says about the addresses under it.
#[derive(Debug, Clone, Copy, Default)]
struct Scope {
    /// Under a scheduled exclusion (`Some(date)` when its date is known).
    excluded: Option<Option<i64>>,
    /// Under a scheduled addition.
    added: Option<Option<i64>>,
}

impl Scope {
    fn admits(self, now: i64) -> bool {
        let excluded = match self.excluded {
            Some(Some(from)) => now >= from,
            Some(None) => true,
            None => false,
        };
        let pending = matches!(self.added, Some(Some(from)) if now < from);
        !excluded && !pending
    }
}

fn collect(value: &Value, scope: Scope, now: i64, depth: usize, found: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::String(text) => {
            if scope.admits(now)
                && let Some(network) = network(text)
            {
                found.push(network);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect(item, scope, now, depth + 1, found);
            }
        }
        Value::Object(map) => {
            if is_scrap_or_outbound(map) {
                return;
            }
            let date = entry_date(map);
            let mut scope = scope;
            // An entry marked as a scheduled change by one of its values.
            for (key, child) in map {
                if let Value::String(text) = child
                    && is_marker_key(key)
                {
                    scope = mark(scope, text, date);
                }
            }
            for (key, child) in map {
                let lower = key.to_ascii_lowercase();
                if lower.contains("outbound") {
                    continue;
                }
                // A list under a key naming the change: {"exclude": [...], "date": …}.
                collect(child, mark(scope, &lower, date), now, depth + 1, found);
            }
        }
        _ => {}
    }
}

/// Keys whose value says what kind of entry this is.
fn is_marker_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["type", "status", "state", "action", "kind", "change"]
        .iter()
        .any(|word| key.contains(word))
}

fn mark(mut scope: Scope, word: &str, date: Option<i64>) -> Scope {
    let word = word.to_ascii_lowercase();
    if ["exclu", "remov", "delet"].iter().any(|w| word.contains(w)) {
        scope.excluded = Some(date);
    } else if (word.contains("add") && !word.contains("addr"))
        || ["schedul", "new"].iter().any(|w| word.contains(w))
    {
        scope.added = Some(date);
    }
    scope
}

/// An entry for Kakao fetching web pages (`scrap`) or an outbound rule.
fn is_scrap_or_outbound(map: &Map<String, Value>) -> bool {
    map.iter().any(|(key, value)| {
        is_marker_key(key)
            && value.as_str().is_some_and(|v| {
                v.eq_ignore_ascii_case("scrap") || v.eq_ignore_ascii_case("outbound")
            })
    })
}

/// The date an entry gives for its scheduled change, seconds since the epoch.
fn entry_date(map: &Map<String, Value>) -> Option<i64> {
    map.iter().find_map(|(key, value)| {
        let key = key.to_ascii_lowercase();
        if !(key.contains("date")
            || key.ends_with("_at")
            || key.ends_with("at")
            || key.contains("time"))
        {
            return None;
        }
        parse_date(value.as_str()?)
    })
}

fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at.unix_timestamp());
    }
    let day = text.get(..10)?;
    let date = Date::parse(day, format_description!("[year]-[month]-[day]")).ok()?;
    // Kakao's dates are in Korean time: the day starts at 15:00 UTC the day before.
    Some(date.midnight().assume_utc().unix_timestamp() - 9 * 3600)
}

/// `text` as a network, if it is one: `a.b.c.d/n`, `a.b.c.d`, or IPv6 forms.
fn network(text: &str) -> Option<String> {
    let text = text.trim();
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let ip: std::net::IpAddr = address.parse().ok()?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    match prefix {
        None => Some(ip.to_string()),
        Some(prefix) => {
            let prefix: u8 = prefix.parse().ok()?;
            (prefix <= bits).then(|| format!("{ip}/{prefix}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEC_1: i64 = 1_764_514_800; // 2025-12-01 00:00 KST

    #[test]
    fn takes_inbound_callbacks_and_leaves_scrap_and_outbound() {
        let body = br#"{
            "inbound": [
                {"type": "callback", "ip": "203.0.113.0/24"},
                {"type": "scrap", "ip": "198.51.100.0/24"},
                {"type": "CALLBACK", "ips": ["192.0.2.7", "2001:db8::/32"]},
                {"type": "callback", "address": "192.0.2.9", "created_at": "2030-01-01"}
            ],
            "outbound": [{"domain": "kapi.kakao.com", "ip": "192.0.2.200/32"}]
        }"#;
        let networks = inbound_callback_networks(body, DEC_1).unwrap();
        assert_eq!(
            networks,
            ["192.0.2.7", "192.0.2.9", "2001:db8::/32", "203.0.113.0/24"]
        );
    }

    #[test]
    fn scheduled_changes_take_effect_on_their_date() {
        let body = br#"{"inbound_rules": {
            "callback": ["203.0.113.0/24"],
            "scheduled": [
                {"action": "add", "date": "2025-12-10", "cidr": "198.51.100.0/24"},
                {"action": "exclude", "date": "2025-12-10", "cidr": "203.0.113.0/25"}
            ]
        }}"#;
        let before = inbound_callback_networks(body, DEC_1).unwrap();
        assert_eq!(before, ["203.0.113.0/24", "203.0.113.0/25"]);
        let after = inbound_callback_networks(body, DEC_1 + 10 * 86_400).unwrap();
        assert_eq!(after, ["198.51.100.0/24", "203.0.113.0/24"]);
    }

    #[test]
    fn an_answer_without_addresses_is_an_error_not_an_empty_list() {
        assert_eq!(
            inbound_callback_networks(br#"{"inbound": []}"#, DEC_1),
            Err(SystemIpsError::Empty)
        );
        assert!(matches!(
            inbound_callback_networks(b"<html>", DEC_1),
            Err(SystemIpsError::NotJson(_))
        ));
        // Not networks: a prefix too long, a host name.
        let body = br#"{"inbound": ["10.0.0.0/33", "kakao.com"]}"#;
        assert_eq!(
            inbound_callback_networks(body, DEC_1),
            Err(SystemIpsError::Empty)
        );
    }
}
