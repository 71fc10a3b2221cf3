//! A listed tool stored straight from the JSON text the upstream listed it as, without building
//! rmcp's `Tool` and writing its input schema out again. Where the schema's text is byte for
//! byte what serde_json writes for the parsed schema — compact, each key once, integers only,
//! every string in its shortest escaping — that text is the stored schema as it is, and one
//! walk over it (allocating only for keys written with escapes) finds what is derived from it
//! (its parameter text, whether its type is `object`, whether a title or description hides
//! characters). Anything else (other
//! formatting, a float, a repeated key, a hidden character inside the schema, a field that is
//! not a string where one is expected) is left to the full parse, which stores the very same
//! definition the slower way: this module only ever answers `None` or that definition.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use rmcp::model::Tool;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::sanitize;
use crate::validation::{ListedTool, StoredTexts, push_parameter_part};

/// Deepest nesting the walk follows (serde_json's parse of a whole tool allows 126 levels in
/// its schema; deeper ones are left to it, so both give the same verdict).
const MAX_DEPTH: usize = 64;

/// The start of keys serde_json's `Value` gives a meaning of its own (a raw value's text).
const PRIVATE_KEY: &str = "$serde_json::private::";

/// The definition `text` lists, sanitised with `max_description_chars`, when it can be stored
/// as written; `None` sends it to the full parse (which also reports what is wrong with it).
pub(super) fn read(
    text: &str,
    max_description_chars: usize,
    source: u64,
) -> Option<Arc<ListedTool>> {
    let fields: Fields = serde_json::from_str(text).ok()?;
    let name = fields.name?;
    let schema = fields.input_schema?.get();
    let rest = rest(&name, &fields.others, max_description_chars)?;
    let description = fields
        .description
        .as_deref()
        .map(|text| sanitize::description(text, max_description_chars));
    let description_len = description.as_deref().map_or(0, str::len);
    let mut texts = Vec::with_capacity(description_len + schema.len() + 64);
    texts.extend_from_slice(description.as_deref().unwrap_or("").as_bytes());
    let schema_start = texts.len();
    texts.extend_from_slice(schema.as_bytes());
    let schema_end = texts.len();
    let mut walk = Walk {
        texts: &mut texts,
        parameters_start: schema_end,
        keys: Vec::new(),
        written: 0,
        depth: 0,
    };
    let mut reader = serde_json::Deserializer::from_str(schema);
    Node {
        walk: &mut walk,
        place: Place::Root,
        text_key: false,
    }
    .deserialize(&mut reader)
    .ok()?;
    if walk.written != schema.len() {
        return None; // not written as serde_json writes it
    }
    let stored = StoredTexts {
        texts: String::from_utf8(texts).ok()?,
        schema: schema_start..schema_end,
        has_description: description.is_some(),
        schema_problem: None,
    };
    Some(ListedTool::from_parts(rest, stored, Some(source)))
}

/// The definition's fields other than its name, description and input schema, as rmcp reads
/// them (sanitised): parsed from a text holding only those fields, so a large schema is never
/// parsed. `None` when they do not parse (the full parse reports why).
fn rest(
    name: &str,
    others: &[(Text<'_>, &RawValue)],
    max_description_chars: usize,
) -> Option<Tool> {
    let mut rest = if others.is_empty() {
        Tool::default()
    } else {
        let mut text = String::from(r#"{"name":"","inputSchema":{}"#);
        for (key, value) in others {
            text.push(',');
            text.push_str(&serde_json::to_string(key.0.as_ref()).ok()?);
            text.push(':');
            text.push_str(value.get());
        }
        text.push('}');
        sanitize::tool(serde_json::from_str(&text).ok()?, max_description_chars)
    };
    rest.name = Cow::Owned(name.to_string());
    Some(rest)
}

/// A string as listed: borrowed from the text when it holds no escape.
struct Text<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// A tool definition's top-level fields: the three the gateway stores itself, and the others
/// as text. A repeated one of the three, or one that is not what rmcp expects, fails it.
struct Fields<'a> {
    name: Option<Cow<'a, str>>,
    description: Option<Cow<'a, str>>,
    input_schema: Option<&'a RawValue>,
    others: Vec<(Text<'a>, &'a RawValue)>,
}

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a tool definition")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut fields = Fields {
                    name: None,
                    description: None,
                    input_schema: None,
                    others: Vec::new(),
                };
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    let repeated = match key.0.as_ref() {
                        "name" => fields.name.replace(map.next_value::<Text>()?.0).is_some(),
                        "description" => fields
                            .description
                            .replace(map.next_value::<Text>()?.0)
                            .is_some(),
                        "inputSchema" => fields.input_schema.replace(map.next_value()?).is_some(),
                        _ => {
                            fields.others.push((key, map.next_value()?));
                            false
                        }
                    };
                    if repeated {
                        return Err(de::Error::custom("a repeated field"));
                    }
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// What the walk over a schema's text has found so far.
struct Walk<'t, 'a> {
    /// The stored texts; the parameter text is appended as it is found.
    texts: &'t mut Vec<u8>,
    /// Where the parameter text begins in `texts`.
    parameters_start: usize,
    /// The keys of the objects being walked, innermost last (to find a repeated one).
    keys: Vec<Cow<'a, str>>,
    /// How many bytes serde_json writes for what was walked.
    written: usize,
    /// How deep the walk is.
    depth: usize,
}

impl Walk<'_, '_> {
    fn enter<E: de::Error>(&mut self) -> Result<(), E> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(E::custom("nested too deep"));
        }
        Ok(())
    }
}

/// Where a value is in the schema, for what is derived from it.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    /// The schema itself.
    Root,
    /// The schema's `type`.
    RootType,
    /// The schema's `properties`.
    Properties,
    /// One parameter's schema.
    Parameter,
    /// One parameter's `description`.
    ParameterDescription,
    /// Anywhere else.
    Other,
}

/// One value of the schema, walked.
struct Node<'w, 't, 'a> {
    walk: &'w mut Walk<'t, 'a>,
    place: Place,
    /// Whether the value is under a `title` or `description` key (its text is shown to models).
    text_key: bool,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// Bytes serde_json writes for `text` as a JSON string, or `None` for a control character it
/// writes as `\u00XX` (a listed text may spell its hex digits either way).
fn written_string_len(text: &str) -> Option<usize> {
    text.chars().try_fold(2, |len, c| match c {
        '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => Some(len + 2),
        c if c < ' ' => None,
        c => Some(len + c.len_utf8()),
    })
}

/// Digits (and sign) serde_json writes for an integer.
fn written_integer_len(magnitude: u64, negative: bool) -> usize {
    let digits = magnitude.checked_ilog10().map_or(1, |log| log as usize + 1);
    digits + usize::from(negative)
}

impl<'de> Node<'_, '_, 'de> {
    fn other_than_root<E: de::Error>(&self) -> Result<(), E> {
        match self.place {
            Place::Root | Place::RootType => Err(E::custom("the full parse judges this")),
            _ => Ok(()),
        }
    }

    fn string<E: de::Error>(self, text: &str, written: usize) -> Result<(), E> {
        if self.text_key && sanitize::has_hidden(text) {
            return Err(E::custom("to be cleaned by the full parse"));
        }
        match self.place {
            Place::Root => return Err(E::custom("not an object")),
            Place::RootType if text != "object" => return Err(E::custom("not an object type")),
            Place::ParameterDescription => {
                let start = self.walk.parameters_start;
                push_parameter_part(self.walk.texts, start, text);
            }
            _ => {}
        }
        self.walk.written += written;
        Ok(())
    }

    fn scalar<E: de::Error>(self, written: usize) -> Result<(), E> {
        self.other_than_root()?;
        self.walk.written += written;
        Ok(())
    }
}

impl<'de> Visitor<'de> for Node<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(if v { 4 } else { 5 })
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(4)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(written_integer_len(v, false))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(written_integer_len(v.unsigned_abs(), v < 0))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        // A float's text has many spellings of one value: the full parse writes it out.
        Err(E::custom("a float"))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.string(v, v.len() + 2)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let written = written_string_len(v).ok_or_else(|| E::custom("a control character"))?;
        self.string(v, written)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.other_than_root()?;
        self.walk.enter()?;
        let mut count: usize = 0;
        while seq
            .next_element_seed(Node {
                walk: &mut *self.walk,
                place: Place::Other,
                text_key: false,
            })?
            .is_some()
        {
            count += 1;
        }
        self.walk.written += 2 + count.saturating_sub(1);
        self.walk.depth -= 1;
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.place == Place::RootType {
            return Err(de::Error::custom("not an object type"));
        }
        self.walk.enter()?;
        let first_key = self.walk.keys.len();
        let mut count: usize = 0;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            let written = match &key {
                Cow::Borrowed(key) => key.len() + 2,
                Cow::Owned(key) => written_string_len(key)
                    .ok_or_else(|| de::Error::custom("a control character"))?,
            };
            if key.starts_with(PRIVATE_KEY) {
                return Err(de::Error::custom("a key serde_json reads its own way"));
            }
            let place = match (self.place, key.as_ref()) {
                (Place::Root, "type") => Place::RootType,
                (Place::Root, "properties") => Place::Properties,
                (Place::Properties, name) => {
                    let start = self.walk.parameters_start;
                    push_parameter_part(self.walk.texts, start, name);
                    Place::Parameter
                }
                (Place::Parameter, "description") => Place::ParameterDescription,
                _ => Place::Other,
            };
            let text_key = key == "title" || key == "description";
            self.walk.written += written + 1; // the key and its colon
            self.walk.keys.push(key);
            map.next_value_seed(Node {
                walk: &mut *self.walk,
                place,
                text_key,
            })?;
            count += 1;
        }
        self.walk.written += 2 + count.saturating_sub(1);
        let keys = self.walk.keys.get_mut(first_key..).unwrap_or_default();
        keys.sort_unstable();
        if keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(de::Error::custom("a repeated key"));
        }
        self.walk.keys.truncate(first_key);
        self.walk.depth -= 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: usize = 40;

    /// The definition the full parse stores for `text` (as `Known::adopt` would without this
    /// module), or `None` when it is not a definition.
    fn parsed(text: &str) -> Option<Arc<ListedTool>> {
        let tool: Tool = serde_json::from_str(text).ok()?;
        Some(ListedTool::from_listing(sanitize::tool(tool, CAP), Some(1)))
    }

    /// Checks that `text` is stored as the full parse stores it (or left to it), and says
    /// whether this module stored it.
    fn agrees(text: &str) -> bool {
        let direct = read(text, CAP, 1);
        if let Some(direct) = &direct {
            let parsed = parsed(text).unwrap_or_else(|| panic!("read a non-definition: {text}"));
            assert!(
                direct.same_definition(&parsed),
                "{text}\n direct: {direct:?}\n parsed: {parsed:?}"
            );
            assert_eq!(direct.source(), Some(1));
        }
        direct.is_some()
    }

    fn tool(schema: &str) -> String {
        format!(r#"{{"name":"t","description":"Does t","inputSchema":{schema}}}"#)
    }

    #[test]
    fn schemas_written_as_serde_json_writes_them_are_stored_as_they_are() {
        for schema in [
            r#"{"type":"object","properties":{"query":{"type":"string"},"limit":{"type":"integer","default":10}}}"#,
            r#"{}"#,
            r#"{"type":"object"}"#,
            r#"{"properties":{"a":{"description":"The a","enum":["x","y",null,true,false,-3,0]}},"required":["a"]}"#,
            r#"{"type":"object","properties":{"q":{"type":"string","description":"Line one\nline \"two\"\tand a \\ and é ✓ 𝄞"}}}"#,
            r#"{"type":"object","properties":{"b":{"type":"array","items":{"type":"object","properties":{"c":{"title":"C","description":"nested"}}}}}}"#,
            r#"{"type":"object","$defs":{"x":{"type":"integer","minimum":-9223372036854775808,"maximum":18446744073709551615}},"additionalProperties":false}"#,
            r#"{"type":"object","properties":{"é\n":{"description":""},"":{}},"x":[[],[{}],[[1]]]}"#,
        ] {
            assert!(agrees(&tool(schema)), "not stored as written: {schema}");
        }
        let stored = read(
            &tool(r#"{"type":"object","properties":{"q":{"description":"Words"},"n":{}}}"#),
            CAP,
            1,
        )
        .expect("stored");
        assert_eq!(stored.parameter_text(), "q Words n");
        assert_eq!(stored.description(), Some("Does t"));
    }

    #[test]
    fn every_other_spelling_is_left_to_the_full_parse() {
        for schema in [
            r#"{ "type": "object" }"#,
            "{\"type\":\"object\"\n}",
            r#"{"type":"object","properties":{"a":{"maximum":1.5}}}"#,
            r#"{"type":"object","properties":{"a":{"maximum":1e2}}}"#,
            r#"{"type":"object","properties":{"a":{"maximum":-0}}}"#,
            r#"{"type":"object","properties":{"a":{"maximum":123456789012345678901234}}}"#,
            r#"{"type":"object","properties":{"a":{"description":"caf\u00e9"}}}"#,
            r#"{"type":"object","properties":{"a":{"description":"a\/b"}}}"#,
            r#"{"type":"object","properties":{"a":{"description":"a\u000Ab"}}}"#,
            r#"{"type":"object","properties":{"a":{"description":"a\u001fb"}}}"#,
            r#"{"type":"object","properties":{"a":{"description":"a\u001Fb"}}}"#,
            r#"{"type":"object","type":"object"}"#,
            r#"{"type":"object","properties":{"a":{},"a":{"type":"string"}}}"#,
            r#"{"type":"object","properties":{"a":{"description":"hid\u200bden"}}}"#,
            "{\"type\":\"object\",\"properties\":{\"a\":{\"description\":\"hid\u{200b}den\"}}}",
            r#"{"type":"object","properties":{"a":{"enum":["a\u001Fb"]}}}"#,
            r#"{"type":"object","properties":{"a\u001Fb":{}}}"#,
            r#"{"type":"object","properties":{"a":{"enum":["a\u001fb"]}}}"#,
            "{\"type\":\"object\",\"title\":\"hid\u{202e}den\"}",
            r#"{"type":"object","properties":{"a":{"$serde_json::private::RawValue":"{}"}}}"#,
            r#"{"type":"string"}"#,
            r#"{"type":["object","null"]}"#,
            r#"{"type":{"const":"object"}}"#,
            r#"[]"#,
            r#""object""#,
            r#"3"#,
            r#"null"#,
        ] {
            assert!(!agrees(&tool(schema)), "stored as written: {schema}");
        }
        let deep = format!("{}1{}", r#"{"a":"#.repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        assert!(agrees(&tool(&deep)), "as deep as the walk goes");
        let deeper = format!(
            "{}1{}",
            r#"{"a":"#.repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(!agrees(&tool(&deeper)));
    }

    #[test]
    fn the_definitions_other_fields_and_its_description_are_as_the_full_parse_keeps_them() {
        let schema = r#"{"type":"object"}"#;
        for text in [
            format!(r#"{{"name":"t","inputSchema":{schema}}}"#),
            format!(r#"{{"inputSchema":{schema},"description":"","name":"t"}}"#),
            format!(
                r#"{{"name":"t\u00e9","description":"caf\u00e9 \u200bhidden","inputSchema":{schema}}}"#
            ),
            format!(
                r#"{{"name":"t","description":"{}","inputSchema":{schema}}}"#,
                "long ".repeat(20)
            ),
            format!(
                r#"{{"name":"t","title":"T\u200b","inputSchema":{schema},"outputSchema":{{"type":"object","description":"x\u202ey"}},"annotations":{{"readOnlyHint":true}},"icons":[{{"src":"https://example.test/i.png"}}],"_meta":{{"v":1.5}},"unknown":[1, 2]}}"#
            ),
            format!(r#"{{"name":"t","inputSchema":{schema},"unknown":1,"unknown":2}}"#),
        ] {
            assert!(agrees(&text), "not stored as written: {text}");
        }
        for text in [
            format!(r#"{{"name":"t","name":"u","inputSchema":{schema}}}"#),
            format!(r#"{{"name":"t","inputSchema":{schema},"inputSchema":{schema}}}"#),
            format!(r#"{{"name":"t","description":"a","description":"b","inputSchema":{schema}}}"#),
            format!(r#"{{"name":"t","description":null,"inputSchema":{schema}}}"#),
            format!(r#"{{"name":7,"inputSchema":{schema}}}"#),
            format!(r#"{{"description":"no name","inputSchema":{schema}}}"#),
            r#"{"name":"t"}"#.to_string(),
            format!(r#"{{"name":"t","inputSchema":{schema},"title":"a","title":"b"}}"#),
            format!(r#"{{"name":"t","inputSchema":{schema},"annotations":3}}"#),
            "[]".to_string(),
        ] {
            assert!(!agrees(&text), "stored as written: {text}");
        }
        let capped = read(
            &format!(
                r#"{{"name":"t","description":"{}","inputSchema":{schema}}}"#,
                "long ".repeat(20)
            ),
            CAP,
            1,
        )
        .expect("stored");
        assert_eq!(capped.description().map(|d| d.chars().count()), Some(CAP));
        let rich = read(
            &format!(r#"{{"name":"t","title":"T","inputSchema":{schema},"annotations":{{"readOnlyHint":true}}}}"#),
            CAP,
            1,
        )
        .expect("stored");
        assert_eq!(rich.tool().title.as_deref(), Some("T"));
        assert_eq!(rich.tool().name, "t");
    }

    /// A small deterministic generator of schema-like JSON values.
    struct Values(u64);

    impl Values {
        fn next(&mut self, below: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % below
        }

        fn text(&mut self) -> String {
            const PIECES: &[&str] = &[
                "a",
                "query",
                "type",
                "title",
                "description",
                "properties",
                "object",
                " ",
                "\n",
                "\"",
                "\\",
                "/",
                "é",
                "✓",
                "𝄞",
                "\u{7f}",
                "\u{1}",
                "\u{200b}",
                "\t",
            ];
            (0..self.next(4))
                .map(|_| PIECES[self.next(PIECES.len() as u64) as usize])
                .collect()
        }

        fn value(&mut self, depth: u32) -> serde_json::Value {
            use serde_json::Value;
            match self.next(if depth > 4 { 6 } else { 9 }) {
                0 => Value::Null,
                1 => Value::Bool(self.next(2) == 0),
                2 => Value::from(self.next(u64::MAX) as i64 >> self.next(64)),
                3 => Value::from(self.next(1000) as f64 / 8.0),
                4 | 5 => Value::String(self.text()),
                6 => Value::Array((0..self.next(4)).map(|_| self.value(depth + 1)).collect()),
                _ => Value::Object(self.object(depth + 1)),
            }
        }

        fn object(&mut self, depth: u32) -> serde_json::Map<String, serde_json::Value> {
            (0..self.next(5))
                .map(|_| (self.text(), self.value(depth)))
                .collect()
        }
    }

    #[test]
    fn generated_schemas_are_stored_as_the_full_parse_stores_them() {
        let mut values = Values(7);
        let mut stored = 0;
        for _ in 0..2000 {
            let mut schema = values.object(0);
            if values.next(2) == 0 {
                schema.insert("type".into(), "object".into());
            }
            let properties = values.object(1);
            schema.insert("properties".into(), properties.into());
            let compact = serde_json::to_string(&schema).expect("serialises");
            stored += usize::from(agrees(&tool(&compact)));
            let pretty = serde_json::to_string_pretty(&schema).expect("serialises");
            assert!(
                !agrees(&tool(&pretty)),
                "pretty text stored as written: {pretty}"
            );
        }
        assert!(
            stored > 400,
            "only {stored} of 2000 compact schemas stored as written"
        );
    }
}
