//! The rules of each card type and of carousels.

use super::{Checker, Rule, Segment};
use crate::skill::components::{
    BasicCard, ButtonLayout, Carousel, CarouselItems, CommerceCard, ItemCard, ListCard,
    ListItemAction, TextCard, Thumbnail,
};

impl Checker {
    pub(super) fn text_card(&mut self, card: &TextCard) {
        if card.title.is_none() && card.description.is_none() {
            self.fail("title", Rule::Needs("title or description"));
        }
        self.text("title", card.title.as_ref(), 0, 50);
        let description_max = if self.in_carousel { 128 } else { 400 };
        self.text("description", card.description.as_ref(), 0, description_max);
        self.buttons(
            &card.buttons,
            card.button_layout.unwrap_or(ButtonLayout::Vertical),
        );
    }

    pub(super) fn basic_card(&mut self, card: &BasicCard) {
        self.text("title", card.title.as_ref(), 0, 50);
        self.text("description", card.description.as_ref(), 0, 230);
        if self.in_carousel {
            self.lines("title", card.title.as_ref(), 2);
            self.lines("description", card.description.as_ref(), 2);
        }
        self.thumbnail("thumbnail", &card.thumbnail);
        if let Some(profile) = &card.profile {
            self.text("profile.nickname", Some(&profile.nickname), 1, usize::MAX);
        }
        // A square thumbnail lays its buttons out side by side.
        let default_layout = if card.thumbnail.fixed_ratio == Some(true) {
            ButtonLayout::Horizontal
        } else {
            ButtonLayout::Vertical
        };
        self.buttons(&card.buttons, card.button_layout.unwrap_or(default_layout));
    }

    pub(super) fn commerce_card(&mut self, card: &CommerceCard) {
        self.text("title", card.title.as_ref(), 0, 30);
        self.text("description", card.description.as_ref(), 0, 40);
        if card.currency.as_deref().is_some_and(|c| c != "won") {
            self.fail(
                "currency",
                Rule::Invalid("must be \"won\", the only currency supported"),
            );
        }
        if card.discount_rate.is_some() && card.discounted_price.is_none() {
            self.fail("discountRate", Rule::Needs("discountedPrice"));
        }
        if card.discount_rate.is_some() && card.discount.is_some() {
            self.fail("discount", Rule::ExclusiveWith("discountRate"));
        }
        self.count("thumbnails", card.thumbnails.len(), 1, 1);
        for (i, thumbnail) in card.thumbnails.iter().enumerate() {
            self.thumbnail(Segment::Item("thumbnails", i), thumbnail);
        }
        if let Some(profile) = &card.profile {
            self.text("profile.nickname", Some(&profile.nickname), 1, usize::MAX);
        }
        self.buttons(
            &card.buttons,
            card.button_layout.unwrap_or(ButtonLayout::Vertical),
        );
    }

    pub(super) fn list_card(&mut self, card: &ListCard) {
        self.text("header.title", Some(&card.header.title), 1, usize::MAX);
        let max_items = if self.in_carousel { 4 } else { 5 };
        self.count("items", card.items.len(), 1, max_items);
        for (i, item) in card.items.iter().enumerate() {
            self.scope(Segment::Item("items", i), |check| {
                check.text("title", Some(&item.title), 1, usize::MAX);
                if let Some(url) = &item.image_url {
                    check.url("imageUrl", Some(url));
                }
                if item.action == Some(ListItemAction::Block) && item.block_id.is_none() {
                    check.fail("blockId", Rule::Required);
                }
            });
        }
        self.buttons(
            &card.buttons,
            card.button_layout.unwrap_or(ButtonLayout::Vertical),
        );
    }

    pub(super) fn item_card(&mut self, card: &ItemCard) {
        let carousel = self.in_carousel;
        if let Some(thumbnail) = &card.thumbnail {
            self.thumbnail("thumbnail", thumbnail);
            // Without a size the image shows 1:1.
            let (w, h) = (thumbnail.width.unwrap_or(1), thumbnail.height.unwrap_or(1));
            let allowed = w == 2 * h || (w == h && !carousel);
            if !allowed {
                let rule = if carousel {
                    "must declare a 2:1 size in a carousel (e.g. width 800, height 400)"
                } else {
                    "must be 2:1 (800x400) or 1:1 (800x800)"
                };
                self.fail("thumbnail", Rule::Invalid(rule));
            }
        }
        if card.head.is_some() && card.profile.is_some() {
            self.fail("head", Rule::ExclusiveWith("profile"));
        }
        if let Some(head) = &card.head {
            self.text("head.title", Some(&head.title), 1, usize::MAX);
            self.lines("head.title", Some(&head.title), 1);
        }
        if let Some(profile) = &card.profile {
            self.text("profile.title", Some(&profile.title), 1, 15);
        }
        if let Some(image_title) = &card.image_title {
            self.text("imageTitle.title", Some(&image_title.title), 1, usize::MAX);
            self.lines("imageTitle.title", Some(&image_title.title), 2);
            self.lines(
                "imageTitle.description",
                image_title.description.as_ref(),
                1,
            );
        }
        self.count(
            "itemList",
            card.item_list.len(),
            1,
            if carousel { 5 } else { 10 },
        );
        for (i, entry) in card.item_list.iter().enumerate() {
            self.scope(Segment::Item("itemList", i), |check| {
                check.text("title", Some(&entry.title), 1, 6);
                check.lines("description", Some(&entry.description), 2);
            });
        }
        if let Some(summary) = &card.item_list_summary {
            self.text("itemListSummary.title", Some(&summary.title), 1, 6);
            self.text(
                "itemListSummary.description",
                Some(&summary.description),
                1,
                14,
            );
            if !is_amount(&summary.description) {
                self.fail(
                    "itemListSummary.description",
                    Rule::Invalid("must be an amount: digits, commas, currency signs, 2 decimals"),
                );
            }
        }
        if card.description.is_some() && card.title.is_none() {
            self.fail("description", Rule::Needs("title"));
        }
        let combined = [&card.title, &card.description]
            .iter()
            .filter_map(|t| t.as_ref())
            .map(|t| t.chars().count())
            .sum::<usize>();
        let max = if carousel { 100 } else { 200 };
        if combined > max {
            self.fail(
                "title",
                Rule::TooLong {
                    max,
                    actual: combined,
                },
            );
        }
        let lines = [&card.title, &card.description]
            .iter()
            .filter_map(|t| t.as_ref())
            .map(|t| t.lines().count())
            .sum::<usize>();
        if lines > 12 {
            self.fail(
                "description",
                Rule::TooManyLines {
                    max: 12,
                    actual: lines,
                },
            );
        }
        self.buttons(
            &card.buttons,
            card.button_layout.unwrap_or(ButtonLayout::Vertical),
        );
    }

    pub(super) fn carousel(&mut self, carousel: &Carousel) {
        let (count, max, header_allowed) = match &carousel.items {
            CarouselItems::TextCard(items) => (items.len(), 10, false),
            CarouselItems::BasicCard(items) => (items.len(), 10, true),
            CarouselItems::CommerceCard(items) => (items.len(), 10, true),
            CarouselItems::ListCard(items) => (items.len(), 5, false),
            CarouselItems::ItemCard(items) => (items.len(), 10, true),
        };
        self.count("items", count, 1, max);
        if let Some(header) = &carousel.header {
            if !header_allowed {
                self.fail(
                    "header",
                    Rule::Invalid("textCard and listCard carousels take no header"),
                );
            }
            self.text("header.title", Some(&header.title), 1, usize::MAX);
            self.lines("header.title", Some(&header.title), 2);
            self.lines("header.description", Some(&header.description), 3);
            self.thumbnail("header.thumbnail", &header.thumbnail);
        }
        self.in_carousel = true;
        match &carousel.items {
            CarouselItems::TextCard(items) => self.cards(items, Self::text_card),
            CarouselItems::BasicCard(items) => {
                self.cards(items, Self::basic_card);
                self.same_ratio(items.iter().map(|c| &c.thumbnail));
            }
            CarouselItems::CommerceCard(items) => {
                self.cards(items, Self::commerce_card);
                self.same_ratio(items.iter().flat_map(|c| &c.thumbnails));
            }
            CarouselItems::ListCard(items) => self.cards(items, Self::list_card),
            CarouselItems::ItemCard(items) => {
                self.cards(items, Self::item_card);
                self.uniform_item_cards(items);
            }
        }
        self.in_carousel = false;
    }

    /// thumbnail, head, profile and imageTitle: on every card or on none.
    pub(super) fn uniform_item_cards(&mut self, items: &[ItemCard]) {
        const FIELDS: [&str; 4] = ["thumbnail", "head", "profile", "imageTitle"];
        let present = |card: &ItemCard| {
            [
                card.thumbnail.is_some(),
                card.head.is_some(),
                card.profile.is_some(),
                card.image_title.is_some(),
            ]
        };
        for (i, field) in FIELDS.iter().enumerate() {
            let set = items.iter().filter(|card| present(card)[i]).count();
            if set != 0 && set != items.len() {
                self.fail(&format!("items[*].{field}"), Rule::NotUniform);
            }
        }
    }

    fn cards<T>(&mut self, items: &[T], check_card: fn(&mut Self, &T)) {
        for (i, item) in items.iter().enumerate() {
            self.scope(Segment::Item("items", i), |check| check_card(check, item));
        }
    }

    fn same_ratio<'a>(&mut self, thumbnails: impl Iterator<Item = &'a Thumbnail>) {
        let squares: Vec<bool> = thumbnails.map(Thumbnail::is_square).collect();
        if squares.windows(2).any(|pair| pair[0] != pair[1]) {
            self.fail("items", Rule::MixedImageRatios);
        }
    }
}

/// An itemListSummary amount: digits and commas with at most two decimals,
/// currency signs or words (원, ₩, $) around it.
fn is_amount(text: &str) -> bool {
    let number: String = text
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, ',' | '.'))
        .collect();
    let has_digit = number.chars().any(|c| c.is_ascii_digit());
    let decimals_ok = match number.split_once('.') {
        None => true,
        Some((_, fraction)) => fraction.len() <= 2 && !fraction.contains(['.', ',']),
    };
    let others_ok = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ',' | '.' | ' ') || !c.is_ascii_alphanumeric());
    has_digit && decimals_ok && others_ok
}
