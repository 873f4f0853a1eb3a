//! [`ConfigError`] and the way from a byte span to `file:line:column: key:`.
//!
//! Two kinds of mistakes reach the user, and both end up pointing into the file:
//!
//! - what `toml` and `serde` find while reading (bad syntax, unknown keys, wrong types, a
//!   mode or colour that does not parse) comes with a **byte span**; the key path is found by
//!   looking up which key or value of the document covers that span;
//! - what validation finds afterwards (a duplicate layer id, an opacity out of range) comes
//!   with a **key path**; the span is found by walking the document along that path (to the
//!   nearest table that exists when the key itself was left out).
//!
//! The document is toml's own spanned tree ([`DeTable`]), parsed once and kept beside the
//! plain structs while loading.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Where in the file: 1-based line and column (the column counts characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text` (clamped to the text's end).
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// A configuration that could not be loaded, and where the problem is.
///
/// Displayed as `FILE:LINE:COLUMN: KEY: MESSAGE`, for instance
/// `configs/board.toml:12:11: layer[1].opacity: 1.5 is out of range 0..=1`. The location is
/// left out when there is none (the file could not be read) and the key when the problem is
/// not under one (a syntax error between keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file's name as given to [`Config::load`](super::Config::load) or
    /// [`Config::from_str`](super::Config::from_str).
    pub file: String,
    /// Where in the file, when known.
    pub location: Option<Location>,
    /// The key path, such as `display.mode` or `layer[1].opacity`; empty when none applies.
    pub key: String,
    /// What is wrong, in lower case, without a final full stop.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(Location { line, column }) = self.location {
            write!(f, ":{line}:{column}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// One step of a key path: a table key or an index into an array (of tables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A path from the document's root, shown as `layer[1].opacity` or `app[0].env."A.B"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(pub(crate) Vec<Seg>);

impl KeyPath {
    /// The path of a root key.
    pub(crate) fn root(key: &str) -> Self {
        KeyPath(vec![Seg::Key(key.to_string())])
    }

    /// This path with `key` appended.
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }

    /// This path with `index` appended.
    pub(crate) fn index(&self, index: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(index));
        p
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Which part of a `key = value` pair an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// The key itself (a bad name).
    Key,
    /// The value (a bad value; for a table, its header).
    Value,
}

/// The parsed document, for looking up spans and key paths.
pub(crate) struct Doc<'i> {
    root: Spanned<DeTable<'i>>,
}

impl<'i> Doc<'i> {
    pub(crate) fn new(root: Spanned<DeTable<'i>>) -> Self {
        Doc { root }
    }

    /// The key path of the smallest key or value whose span covers `span` (the deepest one
    /// when several cover it equally, so a `[[layer]]` header means that layer, not the
    /// whole array).
    pub(crate) fn path_at(&self, span: &Range<usize>) -> KeyPath {
        let mut best: Option<(usize, KeyPath)> = None;
        let mut consider = |s: Range<usize>, path: &KeyPath| {
            if s.start <= span.start && span.end <= s.end {
                let len = s.end - s.start;
                if best.as_ref().is_none_or(|(b, _)| len <= *b) {
                    best = Some((len, path.clone()));
                }
            }
        };
        visit_table(self.root.get_ref(), &KeyPath::default(), &mut consider);
        best.map(|(_, p)| p).unwrap_or_default()
    }

    /// The span of `part` at `path`, or of the nearest ancestor present in the file.
    pub(crate) fn span_of(&self, path: &KeyPath, part: Part) -> Option<Range<usize>> {
        let mut table = self.root.get_ref();
        let mut value: Option<&Spanned<DeValue>> = None;
        let mut found = None;
        for (i, seg) in path.0.iter().enumerate() {
            let last = i + 1 == path.0.len();
            let next = match (seg, value.map(|v| v.get_ref())) {
                (Seg::Key(k), None) => table.get_key_value(k.as_str()),
                (Seg::Key(k), Some(DeValue::Table(t))) => t.get_key_value(k.as_str()),
                (Seg::Index(n), Some(DeValue::Array(a))) => {
                    let Some(item) = a.get(*n) else { break };
                    value = Some(item);
                    found = Some(item.span());
                    continue;
                }
                _ => None,
            };
            let Some((key, v)) = next else { break };
            found = Some(if last && part == Part::Key {
                key.span()
            } else {
                v.span()
            });
            value = Some(v);
            if let DeValue::Table(t) = v.get_ref() {
                table = t;
            }
        }
        found
    }
}

fn visit_table(t: &DeTable, path: &KeyPath, f: &mut impl FnMut(Range<usize>, &KeyPath)) {
    for (k, v) in t.iter() {
        let p = path.key(k.get_ref());
        f(k.span(), &p);
        visit_value(v, &p, f);
    }
}

fn visit_value(v: &Spanned<DeValue>, path: &KeyPath, f: &mut impl FnMut(Range<usize>, &KeyPath)) {
    f(v.span(), path);
    match v.get_ref() {
        DeValue::Table(t) => visit_table(t, path, f),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                visit_value(item, &path.index(i), f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "a = 1\nbé = 'x'\n";
        assert_eq!(
            Location::of_offset(text, 0),
            Location { line: 1, column: 1 }
        );
        assert_eq!(
            Location::of_offset(text, 6),
            Location { line: 2, column: 1 }
        );
        // 'é' is two bytes but one column.
        assert_eq!(
            Location::of_offset(text, 12),
            Location { line: 2, column: 6 }
        );
        assert_eq!(
            Location::of_offset(text, 999),
            Location { line: 3, column: 1 }
        );
    }

    #[test]
    fn paths_display_like_toml_keys() {
        let p = KeyPath::root("app").index(0).key("env").key("A.B");
        assert_eq!(p.to_string(), "app[0].env.\"A.B\"");
        assert_eq!(
            KeyPath::root("layer").index(1).key("opacity").to_string(),
            "layer[1].opacity"
        );
    }

    #[test]
    fn spans_and_paths_meet() {
        let text = "[display]\nmode = 'x'\n\n[[layer]]\nid = 0\n\n[[layer]]\nid = 1\n";
        let doc = Doc::new(DeTable::parse(text).unwrap());
        let id1 = KeyPath::root("layer").index(1).key("id");
        let span = doc.span_of(&id1, Part::Value).unwrap();
        assert_eq!(&text[span.clone()], "1");
        assert_eq!(doc.path_at(&span), id1);
        let key = doc.span_of(&id1, Part::Key).unwrap();
        assert_eq!(&text[key], "id");
        // A missing key falls back to its table's header.
        let missing = doc.span_of(&KeyPath::root("layer").index(1).key("kind"), Part::Value);
        assert_eq!(&text[missing.unwrap()], "[[layer]]");
        let header = text.find("[[layer]]").unwrap();
        assert_eq!(
            doc.path_at(&(header..header + 9)),
            KeyPath::root("layer").index(0)
        );
    }
}
