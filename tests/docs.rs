//! The docs say what the code does, because the parts that can be are
//! generated from it and checked here:
//! - the configuration chapters, from `config/default.toml`;
//! - the `--help` excerpts, from the binary;
//! - every internal link of the books and the README resolves;
//! - the Korean and English books have the same chapters, and the same
//!   commands in them.
//!
//! A generated part sits between `<!-- generated: WHAT -->` and
//! `<!-- end generated -->`. `KAKAO_WEBHOOKS_BLESS=1 cargo test --test docs`
//! rewrites them; without it, a difference fails the test.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

const EDITIONS: [&str; 2] = ["docs/en", "docs/ko"];
const END: &str = "<!-- end generated -->";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn bless() -> bool {
    std::env::var_os("KAKAO_WEBHOOKS_BLESS").is_some()
}

/// Every `(what, start, end)` of the generated parts in `text`: `start..end`
/// is the generated body.
fn generated_parts(text: &str) -> Vec<(String, usize, usize)> {
    let mut parts = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("<!-- generated: ") {
        let open = from + at;
        let close = open + text[open..].find("-->").expect("an unclosed marker") + 3;
        let what = text[open + "<!-- generated: ".len()..close - 3]
            .trim()
            .to_owned();
        let body_start = close + 1;
        let end = body_start + text[body_start..].find(END).expect("no end marker");
        parts.push((what, body_start, end));
        from = end + END.len();
    }
    parts
}

/// Checks (or, blessing, rewrites) each generated part of `file` against
/// what `generate` makes of its name.
fn check_generated(file: &Path, generate: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap();
    let mut fixed = text.clone();
    let mut stale = Vec::new();
    for (what, start, end) in generated_parts(&text).into_iter().rev() {
        let Some(wanted) = generate(&what) else {
            continue;
        };
        if text[start..end] != wanted {
            stale.push(format!("{}: {what}", file.display()));
            fixed.replace_range(start..end, &wanted);
        }
    }
    if bless() && fixed != text {
        fs::write(file, fixed).unwrap();
        return Vec::new();
    }
    stale
}

fn chapters(edition: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(repo(&format!("{edition}/src")))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    files.sort();
    files
}

/// One setting of `config/default.toml`.
struct Setting {
    section: (String, String),
    key: String,
    default: String,
    english: String,
    korean: String,
}

fn settings() -> Vec<Setting> {
    let text = fs::read_to_string(repo("config/default.toml")).unwrap();
    let mut section = (String::new(), String::new());
    let (mut english, mut korean) = (Vec::new(), Vec::new());
    let mut found = Vec::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("# ---- ") {
            let title = title.trim_end_matches(['-', ' ']);
            let (en, ko) = title
                .split_once(" | ")
                .expect("a section names itself in English | 한국어");
            section = (en.to_owned(), ko.to_owned());
            english.clear();
            korean.clear();
        } else if let Some(ko) = line.strip_prefix("# ko: ") {
            korean.push(ko.trim().to_owned());
        } else if let Some(en) = line.strip_prefix("# ") {
            english.push(en.trim().to_owned());
        } else if line.trim().is_empty() || line == "#" {
            english.clear();
            korean.clear();
        } else if let Some((key, value)) = line.split_once(" = ") {
            assert!(
                !english.is_empty() && !korean.is_empty(),
                "config/default.toml: `{key}` needs its English and Korean (`# ko:`) lines"
            );
            found.push(Setting {
                section: section.clone(),
                key: key.to_owned(),
                default: value.to_owned(),
                english: english.join(" "),
                korean: korean.join(" "),
            });
            english.clear();
            korean.clear();
        }
    }
    found
}

/// The configuration reference, in one edition's language.
fn configuration_table(korean: bool) -> String {
    let mut out = String::new();
    let mut section = String::new();
    for setting in settings() {
        let title = if korean {
            &setting.section.1
        } else {
            &setting.section.0
        };
        if *title != section {
            section = title.clone();
            let header = if korean {
                "| 환경 변수 | 기본값 | 뜻 |"
            } else {
                "| variable | default | meaning |"
            };
            out.push_str(&format!("\n### {title}\n\n{header}\n|---|---|---|\n"));
        }
        let default = match setting.default.as_str() {
            "\"\"" if korean => "(없음)".to_owned(),
            "\"\"" => "(unset)".to_owned(),
            value => format!("`{value}`"),
        };
        let meaning = if korean {
            &setting.korean
        } else {
            &setting.english
        };
        out.push_str(&format!(
            "| `{}` | {default} | {} |\n",
            setting.key.to_uppercase(),
            meaning.replace('|', "\\|")
        ));
    }
    out.push('\n');
    out
}

/// `kakao-webhooks ARGS` as the binary prints it, in a fenced block.
fn help_of(what: &str) -> Option<String> {
    let args = what.strip_prefix("kakao-webhooks ")?;
    let output = Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"))
        .args(args.split_whitespace())
        .env_clear()
        .output()
        .unwrap();
    assert!(output.status.success(), "{what} failed");
    let text = String::from_utf8(output.stdout).unwrap();
    Some(format!("```text\n{}\n```\n", text.trim_end()))
}

#[test]
fn the_configuration_chapters_are_generated_from_default_toml() {
    let mut stale = Vec::new();
    for (edition, korean) in [("docs/en", false), ("docs/ko", true)] {
        let file = repo(&format!("{edition}/src/configuration.md"));
        let text = fs::read_to_string(&file).unwrap();
        assert!(
            text.contains("<!-- generated: config/default.toml -->"),
            "{edition}: the reference must be the generated one"
        );
        stale.extend(check_generated(&file, |what| {
            (what == "config/default.toml").then(|| configuration_table(korean))
        }));
    }
    assert!(
        stale.is_empty(),
        "regenerate with KAKAO_WEBHOOKS_BLESS=1 cargo test --test docs: {stale:?}"
    );
}

#[test]
fn every_setting_is_in_the_reference_with_its_variable() {
    let reference = fs::read_to_string(repo("docs/en/src/configuration.md")).unwrap();
    let settings = settings();
    assert!(settings.len() > 50, "read {} settings", settings.len());
    for setting in settings {
        let variable = format!("`{}`", setting.key.to_uppercase());
        assert!(
            reference.contains(&variable),
            "{variable} is not documented"
        );
    }
}

#[test]
fn the_help_excerpts_are_what_the_binary_prints() {
    let mut stale = Vec::new();
    for edition in EDITIONS {
        for chapter in chapters(edition) {
            stale.extend(check_generated(&chapter, help_of));
        }
    }
    assert!(
        stale.is_empty(),
        "regenerate with KAKAO_WEBHOOKS_BLESS=1 cargo test --test docs: {stale:?}"
    );
}

/// GitHub's and mdBook's anchor of a heading: lower case, spaces to `-`,
/// punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            found.insert(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

/// The targets of the Markdown links `[text](target)` in `text`, outside
/// code.
fn link_targets(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut targets = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            targets.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    targets
}

/// Broken relative links of `file`: a missing file, or a missing heading.
fn broken_links(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap();
    let mut broken = Vec::new();
    for target in link_targets(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, fragment) = target.split_once('#').unwrap_or((&target, ""));
        let linked = if path.is_empty() {
            file.to_path_buf()
        } else {
            file.parent().unwrap().join(path)
        };
        if !linked.exists() {
            broken.push(format!("{}: {target} (no such file)", file.display()));
            continue;
        }
        if !fragment.is_empty() && linked.extension().is_some_and(|ext| ext == "md") {
            let headings = anchors(&fs::read_to_string(&linked).unwrap());
            if !headings.contains(fragment) {
                broken.push(format!("{}: {target} (no such heading)", file.display()));
            }
        }
    }
    broken
}

#[test]
fn every_internal_link_resolves() {
    let mut files = vec![repo("README.md"), repo("BENCHMARKS.md")];
    for edition in EDITIONS {
        files.extend(chapters(edition));
    }
    let broken: Vec<String> = files.iter().flat_map(|file| broken_links(file)).collect();
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}

#[test]
fn a_link_to_a_missing_heading_is_found() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("a.md"),
        "# Deploy it\n\nsee [b](b.md#no-such)\n",
    )
    .unwrap();
    fs::write(dir.path().join("b.md"), "# Other\n[a](a.md#deploy-it)\n").unwrap();
    assert_eq!(broken_links(&dir.path().join("a.md")).len(), 1);
    assert!(broken_links(&dir.path().join("b.md")).is_empty());
}

/// The commands of a chapter: its fenced `sh` blocks, without comments.
fn commands(text: &str) -> Vec<String> {
    let mut in_sh = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if in_sh {
            let code = line.split("  #").next().unwrap().trim_end();
            if !code.trim_start().starts_with('#') && !code.is_empty() {
                found.push(code.to_owned());
            }
        }
    }
    found
}

#[test]
fn both_editions_have_the_same_chapters_and_commands() {
    let names = |edition: &str| -> Vec<String> {
        chapters(edition)
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names("docs/en"), names("docs/ko"));
    for name in names("docs/en") {
        let read =
            |edition: &str| fs::read_to_string(repo(&format!("{edition}/src/{name}"))).unwrap();
        assert_eq!(
            commands(&read("docs/en")),
            commands(&read("docs/ko")),
            "{name}: the commands differ between the editions"
        );
    }
}
