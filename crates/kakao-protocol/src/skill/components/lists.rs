//! List cards and item cards: cards made of rows.

use serde::{Deserialize, Serialize};

use super::{
    super::response::{Button, text_setters},
    ButtonLayout, Link, Thumbnail, button_setters,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListCardHeader {
    pub title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ListItemAction {
    Block,
    Message,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListItem {
    pub title: String,
    pub description: Option<String>,
    pub image_url: Option<String>,
    pub link: Option<Link>,
    pub action: Option<ListItemAction>,
    pub block_id: Option<String>,
    pub message_text: Option<String>,
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ListItem {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            description: None,
            image_url: None,
            link: None,
            action: None,
            block_id: None,
            message_text: None,
            extra: None,
        }
    }
    text_setters!(description, image_url);

    pub fn link(mut self, link: Link) -> Self {
        self.link = Some(link);
        self
    }

    pub fn on_press_message(mut self, text: impl Into<String>) -> Self {
        self.action = Some(ListItemAction::Message);
        self.message_text = Some(text.into());
        self
    }

    pub fn on_press_block(mut self, block_id: impl Into<String>) -> Self {
        self.action = Some(ListItemAction::Block);
        self.block_id = Some(block_id.into());
        self
    }

    /// Reaches the next skill request as `action.clientExtra`.
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.extra
            .get_or_insert_with(serde_json::Map::new)
            .insert(key.into(), value.into());
        self
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListCard {
    pub header: ListCardHeader,
    pub items: Vec<ListItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    pub button_layout: Option<ButtonLayout>,
}

impl ListCard {
    pub fn new(header_title: impl Into<String>) -> Self {
        Self {
            header: ListCardHeader {
                title: header_title.into(),
            },
            items: Vec::new(),
            buttons: Vec::new(),
            button_layout: None,
        }
    }
    button_setters!();

    pub fn item(mut self, item: ListItem) -> Self {
        self.items.push(item);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemCardHead {
    pub title: String,
}

/// The profile of an itemCard (titled, unlike a basicCard's).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemCardProfile {
    pub title: String,
    pub image_url: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageTitle {
    pub title: String,
    pub description: Option<String>,
    pub image_url: Option<String>,
}

impl ImageTitle {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            ..Self::default()
        }
    }
    text_setters!(description, image_url);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemListEntry {
    pub title: String,
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemListAlignment {
    Left,
    Right,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemCard {
    pub thumbnail: Option<Thumbnail>,
    pub head: Option<ItemCardHead>,
    pub profile: Option<ItemCardProfile>,
    pub image_title: Option<ImageTitle>,
    pub item_list: Vec<ItemListEntry>,
    pub item_list_alignment: Option<ItemListAlignment>,
    /// Title ≤ 6 characters; description an amount (digits, comma, 2 decimals).
    pub item_list_summary: Option<ItemListEntry>,
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    pub button_layout: Option<ButtonLayout>,
}

impl ItemCard {
    pub fn new() -> Self {
        Self::default()
    }
    text_setters!(title, description);
    button_setters!();

    pub fn item(mut self, title: impl Into<String>, description: impl Into<String>) -> Self {
        self.item_list.push(ItemListEntry {
            title: title.into(),
            description: description.into(),
        });
        self
    }

    pub fn thumbnail(mut self, thumbnail: Thumbnail) -> Self {
        self.thumbnail = Some(thumbnail);
        self
    }

    pub fn head(mut self, title: impl Into<String>) -> Self {
        self.head = Some(ItemCardHead {
            title: title.into(),
        });
        self
    }

    pub fn profile(mut self, title: impl Into<String>, image_url: Option<String>) -> Self {
        self.profile = Some(ItemCardProfile {
            title: title.into(),
            image_url,
            width: None,
            height: None,
        });
        self
    }

    pub fn image_title(mut self, image_title: ImageTitle) -> Self {
        self.image_title = Some(image_title);
        self
    }

    pub fn alignment(mut self, alignment: ItemListAlignment) -> Self {
        self.item_list_alignment = Some(alignment);
        self
    }

    pub fn summary(mut self, title: impl Into<String>, amount: impl Into<String>) -> Self {
        self.item_list_summary = Some(ItemListEntry {
            title: title.into(),
            description: amount.into(),
        });
        self
    }
}
