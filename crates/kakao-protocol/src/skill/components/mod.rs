//! Output components of a SkillResponse: texts, images, cards and carousels.
//! This module holds the simple bubbles and the parts cards share (thumbnails,
//! links, profiles, button layout); the cards are in the submodules.

mod cards;
mod carousel;
mod lists;

use serde::{Deserialize, Serialize};

pub use self::{cards::*, carousel::*, lists::*};
use super::response::text_setters;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleText {
    pub text: String,
}

impl SimpleText {
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into() }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimpleImage {
    pub image_url: String,
    /// Read by screen readers; at most 50 characters.
    pub alt_text: Option<String>,
}

impl SimpleImage {
    pub fn new(image_url: impl Into<String>) -> Self {
        Self {
            image_url: image_url.into(),
            alt_text: None,
        }
    }
    text_setters!(alt_text);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ButtonLayout {
    Vertical,
    Horizontal,
}

/// Generates the `button` and `button_layout` setters every card shares.
macro_rules! button_setters {
    () => {
        pub fn button(mut self, button: Button) -> Self {
            self.buttons.push(button);
            self
        }

        pub fn button_layout(mut self, layout: ButtonLayout) -> Self {
            self.button_layout = Some(layout);
            self
        }
    };
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub pc: Option<String>,
    pub mobile: Option<String>,
    /// Wins over `pc` and `mobile`.
    pub web: Option<String>,
}

impl Link {
    pub fn web(url: impl Into<String>) -> Self {
        Self {
            web: Some(url.into()),
            ..Self::default()
        }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thumbnail {
    pub image_url: String,
    pub alt_text: Option<String>,
    pub link: Option<Link>,
    /// true: 1:1 with at most 2 side-by-side buttons; false (default): 2:1.
    pub fixed_ratio: Option<bool>,
    /// itemCard thumbnails give their size; the ratio must be 2:1 or 1:1.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl Thumbnail {
    pub fn new(image_url: impl Into<String>) -> Self {
        Self {
            image_url: image_url.into(),
            ..Self::default()
        }
    }
    text_setters!(alt_text);

    pub fn link(mut self, link: Link) -> Self {
        self.link = Some(link);
        self
    }

    pub fn fixed_ratio(mut self, fixed: bool) -> Self {
        self.fixed_ratio = Some(fixed);
        self
    }

    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = Some(width);
        self.height = Some(height);
        self
    }

    /// Square (1:1) rather than the default 2:1.
    pub(crate) fn is_square(&self) -> bool {
        match (self.width, self.height) {
            (Some(w), Some(h)) => w == h,
            _ => self.fixed_ratio == Some(true),
        }
    }
}

/// The profile of a basicCard or commerceCard.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub nickname: String,
    pub image_url: Option<String>,
}

impl Profile {
    pub fn new(nickname: impl Into<String>) -> Self {
        Self {
            nickname: nickname.into(),
            image_url: None,
        }
    }
    text_setters!(image_url);
}

pub(crate) use button_setters;
