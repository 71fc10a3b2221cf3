//! Name handling shared by the registry: exposing upstream names, folding for fuzzy lookup,
//! splitting into words, and inferring groups.

use std::borrow::Cow;

/// Longest exposed name (`^[A-Za-z0-9_-]{1,64}$`).
pub const MAX_NAME_LEN: usize = 64;

/// Whether `c` may appear in an exposed name.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The exposed form of an upstream name: characters outside `[A-Za-z0-9_-]` (dots, slashes,
/// spaces) become `_` (borrowed when there are none). `Err` when the result is empty or longer
/// than [`MAX_NAME_LEN`].
pub fn expose(original: &str) -> Result<Cow<'_, str>, String> {
    let exposed = if original.chars().all(is_name_char) {
        Cow::Borrowed(original)
    } else {
        Cow::Owned(
            original
                .chars()
                .map(|c| if is_name_char(c) { c } else { '_' })
                .collect(),
        )
    };
    if exposed.is_empty() {
        Err("empty tool name".into())
    } else if exposed.len() > MAX_NAME_LEN {
        Err(format!("name longer than {MAX_NAME_LEN} characters"))
    } else {
        Ok(exposed)
    }
}

/// Lower-case with every non-alphanumeric removed: `Contacts-Search` → `contactssearch`.
pub fn fold(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Lower-case words of a name or phrase: split on non-alphanumerics and camelCase boundaries.
/// `getUserID.v2` → `["get", "user", "id", "v2"]`.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_word(text, |word| out.push(word.to_string()));
    out
}

/// Calls `each` with every word [`words`] would return, in order, without building a list (a
/// snapshot splits every description and parameter of every tool).
pub fn for_each_word(text: &str, mut each: impl FnMut(&str)) {
    let mut current = String::new();
    if text.is_ascii() {
        // The same rules byte by byte: ASCII needs no Unicode tables, and a word is a slice of
        // the text (copied only to lower its case).
        let bytes = text.as_bytes();
        let mut start: Option<usize> = None;
        for (i, &c) in bytes.iter().enumerate() {
            if !c.is_ascii_alphanumeric() {
                if let Some(start) = start.take() {
                    each_lowered(text.get(start..i), &mut current, &mut each);
                }
                continue;
            }
            let Some(begun) = start else {
                start = Some(i);
                continue;
            };
            let p = bytes.get(i.wrapping_sub(1)).copied().unwrap_or_default();
            let next_lower = bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            let boundary = (p.is_ascii_lowercase() && c.is_ascii_uppercase())
                || (p.is_ascii_uppercase() && c.is_ascii_uppercase() && next_lower);
            if boundary {
                each_lowered(text.get(begun..i), &mut current, &mut each);
                start = Some(i);
            }
        }
        if let Some(start) = start {
            each_lowered(text.get(start..), &mut current, &mut each);
        }
        return;
    }
    let mut prev: Option<char> = None;
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            flush(&mut current, &mut each);
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = (p.is_lowercase() && c.is_uppercase())
                || (p.is_uppercase() && c.is_uppercase() && next_lower);
            if boundary {
                flush(&mut current, &mut each);
            }
        }
        current.extend(c.to_lowercase());
        prev = Some(c);
    }
    flush(&mut current, &mut each);
}

/// Calls `each` with an ASCII `word` in lower case: the word itself when it is, else a copy
/// lowered in `buffer`.
fn each_lowered(word: Option<&str>, buffer: &mut String, each: &mut impl FnMut(&str)) {
    let Some(word) = word.filter(|word| !word.is_empty()) else {
        return;
    };
    if word.bytes().any(|b| b.is_ascii_uppercase()) {
        buffer.clear();
        buffer.push_str(word);
        buffer.make_ascii_lowercase();
        each(buffer);
    } else {
        each(word);
    }
}

fn flush(current: &mut String, each: &mut impl FnMut(&str)) {
    if !current.is_empty() {
        each(current);
        current.clear();
    }
}

/// The seed's group rule: the `_` segment after a `{domain}_` prefix, else the first `_`
/// segment, else `general`.
pub fn infer_group<'a>(domain: &str, name: &'a str) -> &'a str {
    let prefixed = name
        .strip_prefix(domain)
        .and_then(|rest| rest.strip_prefix('_'));
    if let Some(segment) =
        prefixed.and_then(|rest| rest.split('_').next().filter(|s| !s.is_empty()))
    {
        return segment;
    }
    match name.split_once('_') {
        Some((first, _)) if !first.is_empty() => first,
        _ => "general",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_separators_and_camel_case() {
        assert_eq!(words("getUserID.v2"), ["get", "user", "id", "v2"]);
        assert_eq!(
            words("contacts_search-fast"),
            ["contacts", "search", "fast"]
        );
        assert_eq!(words("HTTPServer"), ["http", "server"]);
        assert_eq!(
            words("ÉtatCivil naïveTest"),
            ["état", "civil", "naïve", "test"]
        );
    }

    /// The ASCII fast path splits exactly as the general one.
    #[test]
    fn ascii_and_unicode_paths_agree() {
        for text in [
            "getUserID.v2",
            "HTTPServer2XMLParser",
            "a_b-c d.e/f",
            "ABCdef ghiJKL mNoP",
            "x",
            "__",
            "Search contacts by e-mail; returns IDs (max 100).",
            "A",
            "aB",
            "Ab",
            "ABc",
            " lead and trail ",
            "",
            "9Lives HTTP2Server xY_Zw",
        ] {
            // A trailing non-ASCII separator sends the same text down the general path.
            let general = words(&format!("{text}\u{00a0}"));
            assert_eq!(words(text), general, "{text}");
        }
        // And every mix of lower and upper case, digits and separators up to a few letters.
        const ALPHABET: &[u8] = b"aBz9Q _.";
        let mut state: u64 = 3;
        for _ in 0..3000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let len = (state >> 60) as usize;
            let text: String = (0..len)
                .map(|k| char::from(ALPHABET[((state >> (3 * k)) & 7) as usize]))
                .collect();
            let general = words(&format!("{text}\u{00a0}"));
            assert_eq!(words(&text), general, "{text:?}");
        }
    }

    #[test]
    fn groups_follow_the_seed_rule() {
        assert_eq!(infer_group("apollo", "apollo_people_search"), "people");
        assert_eq!(infer_group("apollo", "query_run"), "query");
        assert_eq!(infer_group("apollo", "search"), "general");
        assert_eq!(infer_group("crm", "crm_search"), "search");
        assert_eq!(infer_group("crm", "crm_"), "crm");
        assert_eq!(infer_group("crm", "crmx_search"), "crmx");
    }

    #[test]
    fn exposed_names_replace_foreign_characters() {
        assert_eq!(expose("files.read").as_deref(), Ok("files_read"));
        assert!(matches!(
            expose("get-weather"),
            Ok(Cow::Borrowed("get-weather"))
        ));
        assert!(expose("").is_err());
        assert!(expose(&"x".repeat(65)).is_err());
    }

    #[test]
    fn fold_ignores_case_and_separators() {
        assert_eq!(fold("Contacts-Search"), fold("contacts_search"));
    }
}
