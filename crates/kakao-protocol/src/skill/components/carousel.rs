//! Carousels: up to ten cards of one type, with an optional header.

use serde::{Deserialize, Serialize};

use super::{BasicCard, CommerceCard, ItemCard, ListCard, TextCard, Thumbnail};

/// The cards of a carousel, all of one type. Serialized as `type` + `items`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "items", rename_all = "camelCase")]
pub enum CarouselItems {
    TextCard(Vec<TextCard>),
    BasicCard(Vec<BasicCard>),
    CommerceCard(Vec<CommerceCard>),
    ListCard(Vec<ListCard>),
    ItemCard(Vec<ItemCard>),
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Carousel {
    #[serde(flatten)]
    pub items: CarouselItems,
    /// Only for basicCard, commerceCard and itemCard carousels.
    pub header: Option<CarouselHeader>,
}

impl Carousel {
    pub fn new(items: CarouselItems) -> Self {
        Self {
            items,
            header: None,
        }
    }

    pub fn header(mut self, header: CarouselHeader) -> Self {
        self.header = Some(header);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CarouselHeader {
    pub title: String,
    pub description: String,
    pub thumbnail: Thumbnail,
}
