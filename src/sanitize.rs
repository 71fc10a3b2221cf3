//! Tool definitions from upstreams made safe to show an LLM: characters a reader cannot see but a
//! model reads (control characters, zero-width and bidi controls, Unicode tag characters that
//! smuggle ASCII) are removed from a tool's title and description and from every `title` and
//! `description` inside its schemas, and the description is cut to a configured length. Applied
//! once per listed tool, when the listing arrives.

use std::borrow::Cow;

use rmcp::model::{JsonObject, Tool};
use serde_json::Value;

/// Marks a description cut at the configured length.
const CUT_MARK: char = '…';

/// Whether `c` is invisible or reorders text: removed. Newline and tab stay (descriptions use
/// them for layout).
pub fn is_hidden(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        c if c.is_control() => true,
        // Zero-width space/joiners, LRM/RLM, word joiner and invisible operators, BOM.
        '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' => true,
        // Bidi embeddings, overrides and isolates; Arabic letter mark.
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}' => true,
        // Soft hyphen, Mongolian vowel separator, interlinear annotations.
        '\u{00AD}' | '\u{180E}' | '\u{FFF9}'..='\u{FFFB}' => true,
        // Tag characters: invisible copies of ASCII.
        '\u{E0000}'..='\u{E007F}' => true,
        // Variation selectors (can encode bytes invisibly), Hangul fillers, shorthand-format and
        // musical formatting controls.
        '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}' => true,
        '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' => true,
        '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' => true,
        _ => false,
    }
}

/// Whether `text` holds a character [`is_hidden`] removes. ASCII text (most of it) is checked
/// byte by byte: its only hidden characters are the control ones.
pub fn has_hidden(text: &str) -> bool {
    if text.is_ascii() {
        text.bytes()
            .any(|b| b.is_ascii_control() && b != b'\n' && b != b'\t')
    } else {
        text.chars().any(is_hidden)
    }
}

/// `text` without hidden characters (borrowed when there were none).
pub fn clean(text: &str) -> Cow<'_, str> {
    if has_hidden(text) {
        Cow::Owned(text.chars().filter(|&c| !is_hidden(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// `text` cut to at most `max_chars` characters, the last one being `…` when cut.
pub fn cap(text: &str, max_chars: usize) -> Cow<'_, str> {
    if text.len() <= max_chars {
        return Cow::Borrowed(text); // no more characters than bytes
    }
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some(_) => {
            let keep = max_chars.saturating_sub(1);
            let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
            Cow::Owned(format!("{}{CUT_MARK}", &text[..end]))
        }
    }
}

/// A tool's `description` cleaned and capped at `max_chars` (borrowed when unchanged).
pub fn description(description: &str, max_chars: usize) -> Cow<'_, str> {
    match clean(description) {
        Cow::Borrowed(cleaned) => cap(cleaned, max_chars),
        Cow::Owned(cleaned) => Cow::Owned(cap(&cleaned, max_chars).into_owned()),
    }
}

/// `tool` with its texts cleaned and its description capped at `max_description_chars`.
pub fn tool(mut tool: Tool, max_description_chars: usize) -> Tool {
    if let Some(text) = &tool.description
        && let Cow::Owned(sanitized) = description(text, max_description_chars)
    {
        tool.description = Some(sanitized.into());
    }
    if let Some(title) = &tool.title
        && let Cow::Owned(cleaned) = clean(title)
    {
        tool.title = Some(cleaned);
    }
    if schema_needs_cleaning(&tool.input_schema) {
        let mut schema = tool.input_schema.as_ref().clone();
        clean_schema(&mut schema);
        tool.input_schema = schema.into();
    }
    if let Some(output) = &tool.output_schema
        && schema_needs_cleaning(output)
    {
        let mut schema = output.as_ref().clone();
        clean_schema(&mut schema);
        tool.output_schema = Some(schema.into());
    }
    tool
}

/// Whether any `title`/`description` string in `schema` holds a hidden character.
fn schema_needs_cleaning(schema: &JsonObject) -> bool {
    schema.iter().any(|(key, value)| match value {
        Value::String(text) if key == "title" || key == "description" => has_hidden(text),
        Value::Object(inner) => schema_needs_cleaning(inner),
        Value::Array(items) => items
            .iter()
            .any(|item| item.as_object().is_some_and(schema_needs_cleaning)),
        _ => false,
    })
}

fn clean_schema(schema: &mut JsonObject) {
    for (key, value) in schema.iter_mut() {
        match value {
            Value::String(text) if key == "title" || key == "description" => {
                if let Cow::Owned(cleaned) = clean(text) {
                    *text = cleaned;
                }
            }
            Value::Object(inner) => clean_schema(inner),
            Value::Array(items) => {
                for item in items.iter_mut() {
                    if let Value::Object(inner) = item {
                        clean_schema(inner);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{cap, clean, has_hidden, is_hidden};

    #[test]
    fn hidden_characters_go_and_layout_stays() {
        let hostile =
            "Adds\u{200B} two\u{202E}sbmun\u{202C} numbers.\u{E0049}\u{E0067}\n\tDone\u{7}";
        assert_eq!(clean(hostile), "Adds twosbmun numbers.\n\tDone");
        assert!(matches!(clean("plain text"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(clean("naïve café – ok ✓"), "naïve café – ok ✓");
        // Variation selectors can smuggle bytes; Hangul fillers look like nothing.
        assert_eq!(clean("a\u{FE0F}b\u{E0101}c\u{3164}d"), "abcd");
        // ASCII is checked byte by byte, with the same verdict as character by character.
        for byte in 0u8..=0x7f {
            let text = format!("a{}b", char::from(byte));
            assert_eq!(has_hidden(&text), is_hidden(char::from(byte)), "{byte:#x}");
            assert_eq!(
                clean(&text).len() == 2,
                is_hidden(char::from(byte)),
                "{byte:#x}"
            );
        }
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(cap("short", 10), "short");
        assert_eq!(cap("abcdef", 6), "abcdef");
        assert_eq!(cap("abcdefg", 6), "abcde…");
        assert_eq!(cap("ééééé", 3), "éé…");
        assert_eq!(cap("éé", 2), "éé", "4 bytes, 2 characters: not cut");
    }
}
