//! Kakao's documented limits for a SkillResponse (the answer_json_format guide).
//!
//! Kakao drops a reply that breaks them without telling the user, and repeated
//! violations get the block restricted, so nothing invalid is ever sent: the
//! server checks every reply and answers a fallback text instead.
//! Lengths count characters (Unicode scalar values), not bytes.
//!
//! Every documented limit is enforced, even where Kakao's own examples break
//! it (the buttonLayout example's 9-character side-by-side label, the itemCard
//! example's 8-character item titles and 18-character label): we are strict in
//! what we send. tests/skill_response/golden.rs (in this crate) records those exceptions.

mod cards;

use std::fmt;

use super::{
    components::{ButtonLayout, Thumbnail},
    response::{Button, ButtonAction, Component, QuickReplyAction, SkillResponse, VERSION},
};

/// The whole reply must stay under 30 KB; counted as 30,000 bytes of JSON to
/// stay on the safe side of "KB".
pub const MAX_RESPONSE_BYTES: usize = 30_000;

/// One broken rule, at a JSON path such as `template.outputs[0].basicCard.buttons[3]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub rule: Rule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    Required,
    TooLong {
        max: usize,
        actual: usize,
    },
    TooManyLines {
        max: usize,
        actual: usize,
    },
    TooMany {
        max: usize,
        actual: usize,
    },
    TooFew {
        min: usize,
        actual: usize,
    },
    TooLarge {
        max_bytes: usize,
        actual: usize,
    },
    NotHttpUrl,
    UnsupportedVersion,
    /// Another field of the same object must be set too.
    Needs(&'static str),
    /// Two fields that cannot be used together.
    ExclusiveWith(&'static str),
    /// All cards of a carousel must use the same image ratio.
    MixedImageRatios,
    /// A field set on some cards of a carousel but not all.
    NotUniform,
    /// A rule specific to one component, described.
    Invalid(&'static str),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Required => write!(f, "is required"),
            Rule::TooLong { max, actual } => write!(f, "is {actual} characters; at most {max}"),
            Rule::TooManyLines { max, actual } => write!(f, "is {actual} lines; at most {max}"),
            Rule::TooMany { max, actual } => write!(f, "has {actual} entries; at most {max}"),
            Rule::TooFew { min, actual } => write!(f, "has {actual} entries; at least {min}"),
            Rule::TooLarge { max_bytes, actual } => {
                write!(f, "is {actual} bytes of JSON; at most {max_bytes}")
            }
            Rule::NotHttpUrl => write!(f, "must be an http or https URL"),
            Rule::UnsupportedVersion => write!(f, "must be \"{VERSION}\""),
            Rule::Needs(other) => write!(f, "needs {other} to be set too"),
            Rule::ExclusiveWith(other) => write!(f, "cannot be used together with {other}"),
            Rule::MixedImageRatios => write!(f, "mixes 1:1 and 2:1 images; use one ratio"),
            Rule::NotUniform => write!(f, "must be set on every card of the carousel or on none"),
            Rule::Invalid(why) => write!(f, "{why}"),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.path, self.rule)
    }
}

/// Every violation found in one response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SkillResponse: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct Violations(pub Vec<Violation>);

impl SkillResponse {
    /// Checks the response against Kakao's limits table.
    pub fn validate(&self) -> Result<(), Violations> {
        self.validate_sized(json_size(self))
    }

    /// The response as the JSON sent, if it is valid: serialized once, and
    /// the size rule read off those bytes (counting them apart was a second
    /// serialization on every skill POST).
    pub fn to_checked_json(&self) -> Result<CheckedJson, Violations> {
        let mut body = Vec::with_capacity(512);
        // Serializing our own types into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut body, self);
        self.validate_sized(body.len())?;
        Ok(CheckedJson(body.into()))
    }

    /// [`SkillResponse::validate`], with the size of the JSON already known.
    fn validate_sized(&self, size: usize) -> Result<(), Violations> {
        let mut check = Checker::default();
        if self.version != VERSION {
            check.fail("version", Rule::UnsupportedVersion);
        }
        if let Some(template) = &self.template {
            check.scope("template", |check| {
                if self.use_callback {
                    check.fail("", Rule::ExclusiveWith("useCallback (Kakao ignores it)"));
                }
                check.count("outputs", template.outputs.len(), 1, 3);
                for (i, output) in template.outputs.iter().enumerate() {
                    check.scope(Segment::Item("outputs", i), |check| check.component(output));
                }
                check.count("quickReplies", template.quick_replies.len(), 0, 10);
                for (i, reply) in template.quick_replies.iter().enumerate() {
                    check.scope(Segment::Item("quickReplies", i), |check| {
                        check.text("label", Some(&reply.label), 1, usize::MAX);
                        if reply.action == QuickReplyAction::Block && reply.block_id.is_none() {
                            check.fail("blockId", Rule::Required);
                        }
                    });
                }
            });
        }
        if let Some(context) = &self.context {
            for (i, value) in context.values.iter().enumerate() {
                check.scope(Segment::Item("context.values", i), |check| {
                    check.text("name", Some(&value.name), 1, usize::MAX);
                    if value.params.values().any(|v| !v.is_string()) {
                        check.fail("params", Rule::Invalid("takes string values only"));
                    }
                });
            }
        }
        if size > MAX_RESPONSE_BYTES {
            check.fail(
                "",
                Rule::TooLarge {
                    max_bytes: MAX_RESPONSE_BYTES,
                    actual: size,
                },
            );
        }
        if check.found.is_empty() {
            Ok(())
        } else {
            Err(Violations(check.found))
        }
    }
}

/// A SkillResponse that passed [`SkillResponse::validate`], as its JSON.
#[derive(Debug, Clone)]
pub struct CheckedJson(bytes::Bytes);

impl CheckedJson {
    pub fn bytes(&self) -> &bytes::Bytes {
        &self.0
    }

    pub fn into_bytes(self) -> bytes::Bytes {
        self.0
    }

    /// Sent without the check: the answers a server builds itself from its
    /// settings (the fallback text, the useCallback wait).
    pub fn unchecked(response: &SkillResponse) -> Self {
        Self(serde_json::to_vec(response).unwrap_or_default().into())
    }
}

/// The length of the JSON Kakao receives, counted without building it.
fn json_size(response: &SkillResponse) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Serializing our own types into a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, response);
    counter.0
}

/// One step of a JSON path, written out only when a violation names it:
/// a valid response, the usual case, allocates no path.
#[derive(Clone, Copy)]
enum Segment {
    Field(&'static str),
    Item(&'static str, usize),
}

impl From<&'static str> for Segment {
    fn from(field: &'static str) -> Self {
        Self::Field(field)
    }
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Field(field) => f.write_str(field),
            Self::Item(field, i) => write!(f, "{field}[{i}]"),
        }
    }
}

/// Walks a response, remembering the JSON path for each violation.
#[derive(Default)]
struct Checker {
    path: Vec<Segment>,
    in_carousel: bool,
    found: Vec<Violation>,
}

impl Checker {
    fn scope(&mut self, segment: impl Into<Segment>, f: impl FnOnce(&mut Self)) {
        self.path.push(segment.into());
        f(self);
        self.path.pop();
    }

    fn fail(&mut self, field: &str, rule: Rule) {
        let mut path = self
            .path
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(".");
        if !field.is_empty() {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(field);
        }
        self.found.push(Violation { path, rule });
    }

    fn count(&mut self, field: &str, actual: usize, min: usize, max: usize) {
        if actual < min {
            self.fail(field, Rule::TooFew { min, actual });
        } else if actual > max {
            self.fail(field, Rule::TooMany { max, actual });
        }
    }

    /// An optional text of at most `max` characters; `min` 1 makes it required.
    fn text(&mut self, field: &str, value: Option<&String>, min: usize, max: usize) {
        let chars = value.map_or(0, |v| v.chars().count());
        if chars < min {
            self.fail(field, Rule::Required);
        } else if chars > max {
            self.fail(field, Rule::TooLong { max, actual: chars });
        }
    }

    fn lines(&mut self, field: &str, value: Option<&String>, max: usize) {
        let lines = value.map_or(0, |v| v.lines().count());
        if lines > max {
            self.fail(field, Rule::TooManyLines { max, actual: lines });
        }
    }

    fn url(&mut self, field: &str, value: Option<&String>) {
        let Some(value) = value else {
            return self.fail(field, Rule::Required);
        };
        match url::Url::parse(value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => self.fail(field, Rule::NotHttpUrl),
        }
    }

    fn component(&mut self, component: &Component) {
        match component {
            Component::SimpleText(c) => self.scope("simpleText", |check| {
                check.text("text", Some(&c.text), 1, 1000);
            }),
            Component::SimpleImage(c) => self.scope("simpleImage", |check| {
                check.url("imageUrl", Some(&c.image_url));
                check.text("altText", c.alt_text.as_ref(), 0, 50);
            }),
            Component::TextCard(c) => self.scope("textCard", |check| check.text_card(c)),
            Component::BasicCard(c) => self.scope("basicCard", |check| check.basic_card(c)),
            Component::CommerceCard(c) => {
                self.scope("commerceCard", |check| check.commerce_card(c))
            }
            Component::ListCard(c) => self.scope("listCard", |check| check.list_card(c)),
            Component::ItemCard(c) => self.scope("itemCard", |check| check.item_card(c)),
            Component::Carousel(c) => self.scope("carousel", |check| check.carousel(c)),
        }
    }

    fn buttons(&mut self, buttons: &[Button], layout: ButtonLayout) {
        let max = match layout {
            ButtonLayout::Vertical => 3,
            ButtonLayout::Horizontal => 2,
        };
        self.count("buttons", buttons.len(), 0, max);
        // Two labels side by side get 8 characters each.
        let label_max = if layout == ButtonLayout::Horizontal && buttons.len() == 2 {
            8
        } else {
            14
        };
        for (i, button) in buttons.iter().enumerate() {
            self.scope(Segment::Item("buttons", i), |check| {
                check.text("label", Some(&button.label), 1, label_max);
                match &button.action {
                    ButtonAction::WebLink => check.url("webLinkUrl", button.web_link_url.as_ref()),
                    ButtonAction::Phone => {
                        check.text("phoneNumber", button.phone_number.as_ref(), 1, usize::MAX)
                    }
                    ButtonAction::Block => {
                        check.text("blockId", button.block_id.as_ref(), 1, usize::MAX)
                    }
                    // The rest need no field of their own; an action this
                    // version does not know is Kakao's to judge, not ours.
                    _ => {}
                }
            });
        }
    }

    fn thumbnail(&mut self, field: impl Into<Segment>, thumbnail: &Thumbnail) {
        self.scope(field, |check| {
            check.url("imageUrl", Some(&thumbnail.image_url));
            check.text("altText", thumbnail.alt_text.as_ref(), 0, 50);
        });
    }
}
