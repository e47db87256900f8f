//! Text, basic and commerce cards.

use serde::{Deserialize, Serialize};

use super::{
    super::response::{Button, text_setters},
    ButtonLayout, Profile, Thumbnail, button_setters,
};

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextCard {
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    pub button_layout: Option<ButtonLayout>,
}

impl TextCard {
    pub fn new() -> Self {
        Self::default()
    }
    text_setters!(title, description);
    button_setters!();
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicCard {
    pub title: Option<String>,
    pub description: Option<String>,
    pub thumbnail: Thumbnail,
    pub profile: Option<Profile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    pub button_layout: Option<ButtonLayout>,
    /// Shows the forward icon; ignored for carousels and bubbles with buttons.
    pub forwardable: Option<bool>,
}

impl BasicCard {
    pub fn new(thumbnail: Thumbnail) -> Self {
        Self {
            title: None,
            description: None,
            thumbnail,
            profile: None,
            buttons: Vec::new(),
            button_layout: None,
            forwardable: None,
        }
    }
    text_setters!(title, description);
    button_setters!();

    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = Some(profile);
        self
    }

    pub fn forwardable(mut self, forwardable: bool) -> Self {
        self.forwardable = Some(forwardable);
        self
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommerceCard {
    pub title: Option<String>,
    pub description: Option<String>,
    pub price: u64,
    /// "won" is the only currency Kakao takes.
    pub currency: Option<String>,
    pub discount: Option<u64>,
    pub discount_rate: Option<u32>,
    /// The guide's field table spells it `dicountedPrice`; its prose and
    /// examples say `discountedPrice`, which is what we send. Both are read.
    #[serde(alias = "dicountedPrice")]
    pub discounted_price: Option<u64>,
    pub thumbnails: Vec<Thumbnail>,
    pub profile: Option<Profile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    pub button_layout: Option<ButtonLayout>,
}

impl CommerceCard {
    pub fn new(price: u64, thumbnail: Thumbnail) -> Self {
        Self {
            title: None,
            description: None,
            price,
            currency: Some("won".into()),
            discount: None,
            discount_rate: None,
            discounted_price: None,
            thumbnails: vec![thumbnail],
            profile: None,
            buttons: Vec::new(),
            button_layout: None,
        }
    }
    text_setters!(title, description);
    button_setters!();

    pub fn discount(mut self, amount: u64) -> Self {
        self.discount = Some(amount);
        self
    }

    /// A percentage shown next to the discounted price.
    pub fn discount_rate(mut self, percent: u32, discounted_price: u64) -> Self {
        self.discount_rate = Some(percent);
        self.discounted_price = Some(discounted_price);
        self
    }

    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = Some(profile);
        self
    }
}
