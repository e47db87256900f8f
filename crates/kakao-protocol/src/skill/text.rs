//! Splitting long text (an LLM answer, say) into simpleText bubbles.
//!
//! A simpleText takes at most 1000 characters (over 500 collapse behind
//! "전체 보기") and a response at most three outputs.

/// Characters per simpleText.
pub const MAX_TEXT_CHARS: usize = 1000;
/// Outputs per response.
pub const MAX_OUTPUTS: usize = 3;

/// Splits `text` into at most three parts of at most 1000 characters each,
/// preferring line breaks, then sentence ends, then word gaps. Text beyond
/// three parts is cut, and the last part ends with "…".
pub fn split_text(text: &str) -> Vec<String> {
    split_text_with(text, MAX_TEXT_CHARS, MAX_OUTPUTS)
}

/// [`split_text`] with other limits. `max_chars` must be at least 2.
pub fn split_text_with(text: &str, max_chars: usize, max_parts: usize) -> Vec<String> {
    let max_chars = max_chars.max(2);
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_chars = 0;
    for piece in pieces(text, max_chars) {
        let piece_chars = piece.chars().count();
        if current_chars + piece_chars > max_chars {
            push_part(&mut parts, &current);
            current.clear();
            current_chars = 0;
        }
        current.push_str(piece);
        current_chars += piece_chars;
    }
    push_part(&mut parts, &current);

    if parts.len() > max_parts {
        parts.truncate(max_parts);
        if let Some(last) = parts.last_mut() {
            let kept: String = last.chars().take(max_chars - 1).collect();
            *last = format!("{}…", kept.trim_end());
        }
    }
    parts
}

fn push_part(parts: &mut Vec<String>, part: &str) {
    let part = part.trim();
    if !part.is_empty() {
        parts.push(part.to_owned());
    }
}

/// Pieces of at most `max` characters, each ending at the best boundary found.
fn pieces(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.chars().count() <= max {
            out.push(line);
            continue;
        }
        for sentence in line.split_inclusive(['.', '?', '!', '。']) {
            if sentence.chars().count() <= max {
                out.push(sentence);
                continue;
            }
            for word in sentence.split_inclusive(' ') {
                hard_split(word, max, &mut out);
            }
        }
    }
    out
}

/// Cuts a piece with no boundary into runs of `max` characters.
fn hard_split<'a>(mut text: &'a str, max: usize, out: &mut Vec<&'a str>) {
    while text.chars().count() > max {
        let cut = text.char_indices().nth(max).map_or(text.len(), |(i, _)| i);
        out.push(&text[..cut]);
        text = &text[cut..];
    }
    out.push(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_text("안녕하세요"), vec!["안녕하세요"]);
        assert!(split_text("   ").is_empty());
    }

    #[test]
    fn splits_on_lines_and_respects_the_limit() {
        let line = format!("{}\n", "가".repeat(600));
        let text = line.repeat(3);
        let parts = split_text(&text);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() == 600));
    }

    #[test]
    fn splits_long_lines_on_sentences() {
        let sentence = format!("{}다. ", "나".repeat(298));
        let text = sentence.repeat(5); // 1500 characters on one line
        let parts = split_text(&text);
        assert_eq!(parts.len(), 2);
        assert!(parts[0].ends_with("다."));
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_TEXT_CHARS));
    }

    #[test]
    fn unbroken_text_is_cut_hard_and_truncated_with_an_ellipsis() {
        let text = "x".repeat(5000);
        let parts = split_text(&text);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_TEXT_CHARS));
        assert!(parts[2].ends_with('…'));
    }
}
