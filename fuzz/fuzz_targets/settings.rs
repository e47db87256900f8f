//! The settings' value parsers (URLs, durations, lists, addresses, host
//! patterns, secrets, schedules, stream URLs...), through the one door they
//! all sit behind: `Settings::from_vars`, as the process environment is read.
//! Each input line is `<byte><value>`; the byte picks a setting. Anything is
//! a fine answer but a panic, memory past the bound, an error that does
//! not name a setting, or an error that repeats a secret's value.
#![no_main]

#[path = "../../crates/kakao-protocol/fuzz/fuzz_targets/bounded.rs"]
mod bounded;

use std::sync::LazyLock;

use kakao_webhooks::config::{Settings, setting_names};
use libfuzzer_sys::fuzz_target;

static NAMES: LazyLock<Vec<String>> = LazyLock::new(setting_names);

/// The defaults (`config/default.toml`) are parsed for every input: their
/// figment and the settings built from them are a fixed cost, not the
/// input's (142,542 bytes for an empty input, seen with a bound of 1 KiB).
const DEFAULTS: usize = 2 * 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let names = &*NAMES;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut vars = Vec::new();
    for line in text.split('\n') {
        let mut chars = line.chars();
        let Some(pick) = chars.next() else { continue };
        let name = names[pick as usize % names.len()].as_str();
        vars.push((name, chars.as_str()));
    }
    bounded::check_within(data.len(), DEFAULTS, || {
        if let Err(err) = Settings::from_vars(None, vars.iter().copied()) {
            assert!(
                names.contains(&err.setting) || err.setting == "CONFIG",
                "the error names no setting: {err:?}"
            );
            assert!(!err.reason.is_empty(), "the error says nothing: {err:?}");
            for (name, value) in &vars {
                let value = value.trim();
                assert!(
                    !(is_secret(name) && value.len() >= 12 && err.reason.contains(value)),
                    "the error about {} repeats the value of {name}",
                    err.setting
                );
            }
        }
    });
});

/// Settings whose values are keys, tokens or secrets (and their
/// `_PREVIOUS`): never printed.
fn is_secret(name: &str) -> bool {
    let name = name.strip_suffix("_PREVIOUS").unwrap_or(name);
    ["_KEY", "_TOKEN", "_SECRET"]
        .iter()
        .any(|end| name.ends_with(end))
}
