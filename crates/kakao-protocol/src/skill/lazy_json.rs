//! A part of a skill payload kept as its JSON text and parsed on first use.
//!
//! Most handlers read the utterance and the block and never look at the
//! entity maps, the user's properties or the contexts. Building those maps on
//! every request was most of a skill POST's parse (BENCHMARKS.md, issue 17).
//! The text is still checked as JSON when the request is parsed; only the
//! building of maps waits.

use std::{
    fmt,
    ops::{Deref, DerefMut},
    sync::OnceLock,
};

use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::value::RawValue;

/// `T` parsed from the text on first use. Text that is not a `T` (`null`,
/// `"null"`, an array where an object belongs) reads as `T::default()`:
/// Kakao sends all of these, and a handler would rather see an empty map than
/// the whole request refused.
pub struct LazyJson<T> {
    text: Option<Box<RawValue>>,
    /// Boxed, so that a request of many parts stays small to move.
    parsed: OnceLock<Box<T>>,
}

impl<T: DeserializeOwned + Default> LazyJson<T> {
    fn parsed(&self) -> &T {
        self.parsed.get_or_init(|| {
            Box::new(
                self.text
                    .as_deref()
                    .and_then(|text| serde_json::from_str(text.get()).ok())
                    .unwrap_or_default(),
            )
        })
    }
}

impl<T: DeserializeOwned + Default> Deref for LazyJson<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.parsed()
    }
}

/// Parsed now if it was not yet, for changing it as before it was lazy.
impl<T: DeserializeOwned + Default> DerefMut for LazyJson<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.parsed();
        self.parsed.get_mut().expect("parsed() just filled it")
    }
}

impl<T> Default for LazyJson<T> {
    fn default() -> Self {
        Self {
            text: None,
            parsed: OnceLock::new(),
        }
    }
}

impl<T: Clone> Clone for LazyJson<T> {
    fn clone(&self) -> Self {
        Self {
            text: self.text.clone(),
            parsed: self.parsed.clone(),
        }
    }
}

impl<T: DeserializeOwned + Default + fmt::Debug> fmt::Debug for LazyJson<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.parsed().fmt(f)
    }
}

impl<'de, T> Deserialize<'de> for LazyJson<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self {
            text: Some(Box::<RawValue>::deserialize(deserializer)?),
            parsed: OnceLock::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::*;

    fn lazy<T>(text: &str) -> LazyJson<T> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn parses_on_first_use() {
        let map: LazyJson<Map<String, Value>> = lazy(r#"{"from":"quickReply"}"#);
        assert!(map.parsed.get().is_none(), "nothing is built before use");
        assert_eq!(map["from"], "quickReply");
        assert!(map.parsed.get().is_some());
    }

    #[test]
    fn text_of_another_type_reads_as_the_default() {
        for text in ["null", r#""null""#, "[]", "42"] {
            let map: LazyJson<Map<String, Value>> = lazy(text);
            assert!(map.is_empty(), "{text}");
        }
    }

    #[test]
    fn invalid_json_is_refused_at_once() {
        let refused = serde_json::from_str::<LazyJson<Map<String, Value>>>(r#"{"a":}"#);
        assert!(refused.is_err());
    }

    #[test]
    fn a_clone_and_a_change_keep_the_value() {
        let mut map: LazyJson<Map<String, Value>> = lazy(r#"{"a":1}"#);
        let copy = map.clone();
        map.insert("b".into(), json!(2));
        assert_eq!(Value::Object((*map).clone()), json!({"a": 1, "b": 2}));
        assert_eq!(Value::Object((*copy).clone()), json!({"a": 1}));
    }
}
