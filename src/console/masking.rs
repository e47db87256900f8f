//! What the console hides of a stored payload: secrets always (tokens,
//! keys, passwords), personal data (email, phone number) unless the
//! operator asks to see it.

use serde_json::Value;

const HIDDEN: &str = "•••• (숨김 / hidden)";

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["token", "secret", "password", "authorization", "admin_key"]
        .iter()
        .any(|word| key.contains(word))
}

fn is_personal(key: &str) -> bool {
    matches!(
        key.to_ascii_lowercase().as_str(),
        "email" | "phone" | "phone_number" | "new-value" | "new_value"
    )
}

/// Masks `value` in place: secrets become [`HIDDEN`]; personal data is
/// shortened to a recognisable part unless `reveal`.
pub fn mask(value: &mut Value, reveal: bool) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if is_secret(key) && !field.is_null() {
                    *field = Value::String(HIDDEN.into());
                } else if is_personal(key) && !reveal {
                    if let Value::String(text) = field {
                        *text = personal(text);
                    }
                } else {
                    mask(field, reveal);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| mask(item, reveal)),
        _ => {}
    }
}

/// An email or phone number, masked: `k•••@example.com`, `•••••••5678`.
pub fn personal(text: &str) -> String {
    match text.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => {
            let chars: Vec<char> = text.chars().collect();
            let keep = chars.len().min(4);
            let hidden = "•".repeat(chars.len() - keep);
            let tail: String = chars[chars.len() - keep..].iter().collect();
            format!("{hidden}{tail}")
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_always_hidden_and_personal_data_unless_revealed() {
        let original = json!({
            "group_user_token": "gut-123",
            "callbackToken": "cb",
            "user_id": "1234",
            "subject": {"subject_type": "email", "email": "kim@example.com"},
            "list": [{"phone_number": "+82 10-1234-5678"}]
        });
        let mut masked = original.clone();
        mask(&mut masked, false);
        assert_eq!(masked["group_user_token"], HIDDEN);
        assert_eq!(masked["callbackToken"], HIDDEN);
        assert_eq!(masked["user_id"], "1234");
        assert_eq!(masked["subject"]["email"], "k•••@example.com");
        assert_eq!(masked["list"][0]["phone_number"], "••••••••••••5678");
        let mut revealed = original.clone();
        mask(&mut revealed, true);
        assert_eq!(revealed["subject"]["email"], "kim@example.com");
        assert_eq!(revealed["group_user_token"], HIDDEN);
    }
}
