//! The client's `execute_tool` arguments kept as the text it wrote, so the upstream reads that
//! text rather than the gateway's re-serialised copy: serde_json holds numbers as `u64`/`i64`/
//! `f64`, and writing the parsed copy back would turn `12345678901234567890123` into
//! `1.2345678901234568e+22`, `0.10000000000000001` into `0.1` and `1e2` into `100.0`.
//!
//! The text is kept only when it is an object in which no key repeats, so the upstream reads
//! exactly what the gateway validated (a repeated key's last value is the one checked; the
//! upstream's parser might take the first).

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use rmcp::model::JsonObject;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// The key of `execute_tool`'s arguments that holds the routed tool's own arguments.
const INNER_KEY: &str = "arguments";

/// The key by which serde_json (with `raw_value`) reads an object as the JSON text in its value.
/// `serde_json::Value` does so; [`Checked`] refuses it, so such a body goes to rmcp's parser.
const RAW_VALUE_KEY: &str = "$serde_json::private::RawValue";

/// Levels of nesting allowed inside the routed tool's arguments: a message reaches them at the
/// fourth level (message, `params`, `execute_tool`'s arguments, then theirs), and serde_json,
/// which parses the whole message the same way when the direct path declines it, stops at its
/// 127th.
const INNER_DEPTH: usize = 124;

/// The routed tool's arguments object as the client wrote it, forwarded in place of the
/// re-serialised copy that was validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgumentText(Bytes);

impl ArgumentText {
    /// The JSON text of the object, as it came.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text of `raw`, shared with `body` when it is a part of it (else copied).
    pub(crate) fn within(body: &Bytes, raw: &RawValue) -> ArgumentText {
        let part = raw.get().as_bytes();
        let start = (part.as_ptr() as usize).wrapping_sub(body.as_ptr() as usize);
        match start.checked_add(part.len()) {
            // In range, `start` is where `part` begins in `body`: the same memory.
            Some(end) if end <= body.len() => ArgumentText(body.slice(start..end)),
            _ => ArgumentText(Bytes::copy_from_slice(part)),
        }
    }
}

/// A `tools/call`'s `arguments` object read in one pass: every member parsed, and the text of
/// its `arguments` member (the routed tool's arguments) kept when it is an object in which no
/// key repeats and it appears once.
pub(crate) struct CallArguments<'de> {
    /// The object, parsed.
    pub object: JsonObject,
    /// The `arguments` member's text, when it may be forwarded as it is.
    pub inner_text: Option<&'de RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for CallArguments<'a> {
    fn deserialize<D: de::Deserializer<'de>>(input: D) -> Result<Self, D::Error> {
        input.deserialize_map(CallArgumentsVisitor(PhantomData))
    }
}

struct CallArgumentsVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for CallArgumentsVisitor<'a> {
    type Value = CallArguments<'a>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Self::Value, A::Error> {
        let mut object = JsonObject::new();
        let mut inner_text = None;
        let mut inner_seen = false;
        while let Some(key) = members.next_key::<String>()? {
            let value = if key == INNER_KEY {
                let raw: &'de RawValue = members.next_value()?;
                let repeated = Cell::new(false);
                let value = parse_checked(raw.get(), &repeated).map_err(de::Error::custom)?;
                let forwardable = value.is_object() && !repeated.get() && !inner_seen;
                inner_text = forwardable.then_some(raw);
                inner_seen = true;
                value
            } else {
                members.next_value::<Value>()?
            };
            object.insert(key, value);
        }
        Ok(CallArguments { object, inner_text })
    }
}

/// `text` parsed as serde_json parses a `Value` (a repeated key's last value kept), within
/// [`INNER_DEPTH`] levels; `repeated` is set if any object in it repeats a key.
fn parse_checked(text: &str, repeated: &Cell<bool>) -> Result<Value, serde_json::Error> {
    let mut input = serde_json::Deserializer::from_str(text);
    let value = Checked {
        depth_left: INNER_DEPTH,
        repeated,
    }
    .deserialize(&mut input)?;
    input.end()?;
    Ok(value)
}

/// A `Value` seed that counts its nesting and notes repeated keys.
#[derive(Clone, Copy)]
struct Checked<'r> {
    depth_left: usize,
    repeated: &'r Cell<bool>,
}

impl Checked<'_> {
    /// The seed for the members of an array or object opened here, if one more level is
    /// allowed.
    fn nested<E: de::Error>(self) -> Result<Self, E> {
        let depth_left = self
            .depth_left
            .checked_sub(1)
            .ok_or_else(|| E::custom("recursion limit exceeded"))?;
        Ok(Checked {
            depth_left,
            repeated: self.repeated,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Checked<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, input: D) -> Result<Value, D::Error> {
        input.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let seed = self.nested()?;
        let mut array = Vec::with_capacity(items.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = items.next_element_seed(seed)? {
            array.push(item);
        }
        Ok(Value::Array(array))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Value, A::Error> {
        let seed = self.nested()?;
        let mut object = Map::new();
        while let Some(key) = members.next_key::<String>()? {
            if key == RAW_VALUE_KEY {
                return Err(de::Error::custom("a raw-value object"));
            }
            let value = members.next_value_seed(seed)?;
            if object.insert(key, value).is_some() {
                self.repeated.set(true);
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Option<(Value, bool)> {
        let repeated = Cell::new(false);
        let value = parse_checked(text, &repeated).ok()?;
        Some((value, repeated.get()))
    }

    #[test]
    fn values_parse_as_serde_json_parses_them() {
        for text in [
            r#"{"a":1,"b":-2,"c":2.5,"d":"caf\u00e9","e":[true,false,null],"f":{"g":{}}}"#,
            r#"{"big":12345678901234567890123,"long":0.12345678901234567890123,"tiny":1e-400}"#,
            r#"[1, "x", {"y": [ ]}]"#,
            "18446744073709551615",
            "-9223372036854775808",
            r#""\ud83d\ude00""#,
        ] {
            let expected = serde_json::from_str::<Value>(text).ok();
            assert!(expected.is_some(), "{text}");
            assert_eq!(read(text).map(|(value, _)| value), expected, "{text}");
            assert_eq!(read(text).map(|(_, repeated)| repeated), Some(false));
        }
        // What a `Value` reads otherwise (an object read as the text in its value) is refused.
        for text in [
            r#"{"a":"\udc00"}"#,
            r#"{"n":1e400}"#,
            "{",
            r#"{"a":1}x"#,
            r#"{"x":{"$serde_json::private::RawValue":"\"s\""}}"#,
        ] {
            assert!(read(text).is_none(), "{text}");
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_and_is_noted() {
        let text = r#"{"a":{"k":1,"k":2},"b":3}"#;
        assert_eq!(
            read(text),
            serde_json::from_str::<Value>(text).ok().map(|v| (v, true))
        );
        assert_eq!(
            read(r#"{"a":{"k":1},"b":{"k":1}}"#).map(|(_, r)| r),
            Some(false)
        );
        assert_eq!(read(r#"[{"k":1,"k":1}]"#).map(|(_, r)| r), Some(true));
    }

    #[test]
    fn nesting_stops_at_the_inner_depth() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(read(&nested(INNER_DEPTH)).is_some());
        assert!(read(&nested(INNER_DEPTH + 1)).is_none());
    }

    #[test]
    fn the_text_is_shared_with_the_body_or_copied() {
        let body = Bytes::from_static(br#"{"arguments":{"n":1}}"#);
        let Some(raw) = body
            .get(13..20)
            .and_then(|part| std::str::from_utf8(part).ok())
            .and_then(|part| serde_json::from_str::<&RawValue>(part).ok())
        else {
            panic!("the part parses");
        };
        let text = ArgumentText::within(&body, raw);
        assert_eq!(text.as_bytes(), br#"{"n":1}"#);
        assert_eq!(
            text.as_bytes().as_ptr(),
            body.get(13..).map_or(std::ptr::null(), <[u8]>::as_ptr)
        );
        let elsewhere = Bytes::from_static(b"{}");
        assert_eq!(
            ArgumentText::within(&elsewhere, raw).as_bytes(),
            br#"{"n":1}"#
        );
    }
}
