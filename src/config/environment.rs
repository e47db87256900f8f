//! The environment, read for names that are not settings. A name within two
//! edits of a setting is a typo that would otherwise be ignored without a
//! word (`KAKAO_ADMINKEY`): start-up refuses it, naming the setting meant.
//! Any other name with one of our prefixes gets a warning line.

use super::ConfigError;

/// The prefixes of our settings' names.
const PREFIXES: &[&str] = &["KAKAO_", "SKILL_", "APP_", "ALERT_", "INTERNAL_"];
/// Read by the project's own tools (the test suite, CI); never settings.
const TOOLS: &str = "KAKAO_WEBHOOKS_";
/// Edits within which an unknown name is taken for a typo of a setting.
const TYPO_EDITS: usize = 2;
/// Shorter names are too close to too much to be judged typos.
const TYPO_MIN_LEN: usize = 6;

/// Checks `names` against `known` (settings in lower case, as in
/// `config/default.toml`): an error for the first typo, else a warning line
/// for each unknown name with our prefixes.
pub(super) fn check<'a>(
    names: impl IntoIterator<Item = &'a str>,
    known: &[&str],
) -> Result<Vec<String>, ConfigError> {
    let known: Vec<String> = known.iter().map(|k| k.to_ascii_uppercase()).collect();
    let mut warnings = Vec::new();
    for name in names {
        let upper = name.to_ascii_uppercase();
        if known.contains(&upper) || upper.starts_with(TOOLS) {
            continue;
        }
        let nearest = known
            .iter()
            .map(|k| (strsim::levenshtein(k, &upper), k))
            .min();
        if let Some((edits, meant)) = nearest
            && edits <= TYPO_EDITS
            && upper.len() >= TYPO_MIN_LEN
        {
            return Err(ConfigError::new(
                name,
                format!("is not a setting; did you mean {meant}?"),
            ));
        }
        if PREFIXES.iter().any(|prefix| upper.starts_with(prefix)) {
            warnings.push(format!(
                "{name} is not a setting and is ignored (config/default.toml lists every setting)"
            ));
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::check;

    const KNOWN: &[&str] = &["kakao_admin_key", "kakao_app_id", "bind_addr"];

    #[test]
    fn a_name_two_edits_from_a_setting_is_refused_naming_it() {
        let err = check(["KAKAO_ADMINKEY"], KNOWN).unwrap_err();
        assert_eq!(err.setting, "KAKAO_ADMINKEY");
        assert!(
            err.to_string().contains("did you mean KAKAO_ADMIN_KEY?"),
            "{err}"
        );
        assert!(check(["BIND_ADR"], KNOWN).is_err());
        assert!(check(["kakao_app_idd"], KNOWN).is_err());
    }

    #[test]
    fn settings_and_foreign_names_pass_and_our_prefixes_warn() {
        let warnings = check(
            [
                "KAKAO_ADMIN_KEY",
                "kakao_app_id",
                "PATH",
                "HOME",
                "TEST_DATABASE_URL",
            ],
            KNOWN,
        )
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let warnings = check(["KAKAO_SOMETHING_ELSE", "KAKAO_WEBHOOKS_AXE"], KNOWN).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("KAKAO_SOMETHING_ELSE is not a setting"));
    }
}
