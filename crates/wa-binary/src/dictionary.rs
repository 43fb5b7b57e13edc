//! The token dictionary (version 3): strings the wire replaces with one or two bytes.
//!
//! The table itself is data, kept in `dictionary_v3.txt` next to this file; it is parsed once on
//! first use. Tokens are numbered with one global id so the binding can name any of them with a
//! single integer: ids `1..=235` are the single-byte tokens (the id is the byte), and
//! `236 + dict * 256 + index` are the double-byte ones.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use crate::tags;

const SOURCE: &str = include_str!("dictionary_v3.txt");

/// Number of single-byte token slots (slot 0 is LIST_EMPTY and holds no token).
pub const SINGLE_BYTE_COUNT: usize = tags::DICTIONARY_0 as usize;
/// Number of double-byte dictionaries.
pub const DOUBLE_BYTE_DICTS: usize = 4;
/// Tokens per double-byte dictionary.
pub const DOUBLE_BYTE_SIZE: usize = 256;
/// Number of global token ids (`0` is unused).
pub const TOKEN_ID_COUNT: usize = SINGLE_BYTE_COUNT + DOUBLE_BYTE_DICTS * DOUBLE_BYTE_SIZE;

/// How a token is written on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// One byte, `1..=235`.
    Single(u8),
    /// `DICTIONARY_0 + dict`, then `index`.
    Double { dict: u8, index: u8 },
}

impl Token {
    /// The token's global id (see the module docs).
    pub fn id(self) -> u16 {
        match self {
            Token::Single(b) => u16::from(b),
            Token::Double { dict, index } => {
                SINGLE_BYTE_COUNT as u16
                    + u16::from(dict) * DOUBLE_BYTE_SIZE as u16
                    + u16::from(index)
            }
        }
    }
}

/// The parsed dictionary.
pub struct Dictionary {
    /// Indexed by global token id; id 0 is the empty string.
    by_id: Vec<&'static str>,
    lookup: HashMap<&'static str, Token, BuildHasherDefault<Fnv1a>>,
    longest: usize,
}

impl Dictionary {
    /// The string of a single-byte token, for bytes `1..=235`.
    pub fn single(&self, byte: u8) -> Option<&'static str> {
        let i = usize::from(byte);
        (1..SINGLE_BYTE_COUNT).contains(&i).then(|| self.by_id[i])
    }

    /// The string of a double-byte token.
    pub fn double(&self, dict: u8, index: u8) -> Option<&'static str> {
        let d = usize::from(dict);
        (d < DOUBLE_BYTE_DICTS)
            .then(|| self.by_id[SINGLE_BYTE_COUNT + d * DOUBLE_BYTE_SIZE + usize::from(index)])
    }

    /// The token that stands for `s`, if any.
    #[inline]
    pub fn token(&self, s: &str) -> Option<Token> {
        if s.len() > self.longest || s.is_empty() {
            return None;
        }
        self.lookup.get(s).copied()
    }

    /// Every token string by global id (id 0 is `""`). The binding hands this to JavaScript
    /// once, so decoded tokens cross the boundary as integers.
    pub fn strings_by_id(&self) -> &[&'static str] {
        &self.by_id
    }
}

/// The dictionary, parsed on first use.
pub fn dictionary() -> &'static Dictionary {
    static DICT: LazyLock<Dictionary> = LazyLock::new(|| parse(SOURCE));
    &DICT
}

fn parse(source: &'static str) -> Dictionary {
    let mut single: Vec<&'static str> = vec![""];
    let mut doubles: [Vec<&'static str>; DOUBLE_BYTE_DICTS] = Default::default();
    // None until the first section header; then Some(None) = single, Some(Some(d)) = double d.
    let mut section: Option<Option<usize>> = None;
    for line in source.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(match header {
                "single" => None,
                other => {
                    let d = other
                        .strip_prefix("double ")
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|d| *d < DOUBLE_BYTE_DICTS)
                        .expect("dictionary section is [single] or [double 0..3]");
                    Some(d)
                }
            });
            continue;
        }
        match section.expect("dictionary tokens follow a section header") {
            None => single.push(line),
            Some(d) => doubles[d].push(line),
        }
    }
    assert_eq!(single.len(), SINGLE_BYTE_COUNT, "single-byte token count");
    let mut by_id = single;
    for d in &doubles {
        assert_eq!(d.len(), DOUBLE_BYTE_SIZE, "double-byte dictionary size");
        by_id.extend_from_slice(d);
    }
    let mut lookup = HashMap::with_capacity_and_hasher(TOKEN_ID_COUNT, Default::default());
    for (i, s) in by_id.iter().enumerate().skip(1) {
        let token = if i < SINGLE_BYTE_COUNT {
            Token::Single(i as u8)
        } else {
            let j = i - SINGLE_BYTE_COUNT;
            Token::Double {
                dict: (j / DOUBLE_BYTE_SIZE) as u8,
                index: (j % DOUBLE_BYTE_SIZE) as u8,
            }
        };
        // A later entry wins, as in Baileys' TOKEN_MAP (double-byte tokens are added last).
        lookup.insert(*s, token);
    }
    let longest = by_id.iter().map(|s| s.len()).max().unwrap_or(0);
    Dictionary {
        by_id,
        lookup,
        longest,
    }
}

/// FNV-1a: tokens are short, and SipHash's setup costs more than the whole lookup.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shape_and_known_entries() {
        let d = dictionary();
        assert_eq!(d.strings_by_id().len(), TOKEN_ID_COUNT);
        assert_eq!(d.single(1), Some("xmlstreamstart"));
        assert_eq!(d.single(3), Some("s.whatsapp.net"));
        assert_eq!(d.single(0), None);
        assert_eq!(d.single(236), None);
        assert_eq!(d.double(0, 0), Some("read-self"));
        assert_eq!(d.double(4, 0), None);
        assert_eq!(d.token("s.whatsapp.net"), Some(Token::Single(3)));
        assert_eq!(
            d.token("read-self"),
            Some(Token::Double { dict: 0, index: 0 })
        );
        assert_eq!(d.token(""), None);
        assert_eq!(d.token("definitely-not-a-token"), None);
    }

    #[test]
    fn every_token_maps_back_to_its_id() {
        let d = dictionary();
        for (id, s) in d.strings_by_id().iter().enumerate().skip(1) {
            assert_eq!(d.token(s).map(Token::id), Some(id as u16), "{s}");
        }
    }
}
