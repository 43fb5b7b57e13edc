//! The path convention shared by every engine, and the escaping that keeps any JID or key
//! id inside one path segment and any segment inside one file name.
//!
//! A path is `/`-separated segments: `session/creds`, `session/signal/{type}/{id}`,
//! `contact/{jid}`, `chat/{jid}`, `chat/{jid}/message/{id}`,
//! `chat/{jid}/message/{id}/content`. Segments are never empty, `.` or `..`, and hold no
//! NUL, so no engine can be steered outside its base by a path.

use crate::error::{Result, StoreError};

/// Longest accepted path, in bytes.
pub const MAX_PATH: usize = 4096;
/// Longest accepted segment, in bytes (file names are at most 255 bytes on common file systems).
pub const MAX_SEGMENT: usize = 200;

/// Checks a full entry path against the convention.
pub fn check(path: &str) -> Result<()> {
    let bad = |reason| {
        Err(StoreError::BadPath {
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() {
        return bad("empty path");
    }
    if path.len() > MAX_PATH {
        return bad("path longer than 4096 bytes");
    }
    // Segment by segment, each found with memchr (paths are checked several times a
    // message); a segment's NUL is found before its end, so the reasons come in the order a
    // byte-by-byte pass would find them.
    let b = path.as_bytes();
    let mut start = 0;
    loop {
        let end = memchr::memchr(b'/', &b[start..]).map_or(b.len(), |i| start + i);
        let seg = &b[start..end];
        if memchr::memchr(0, seg).is_some() {
            return bad("NUL in path");
        }
        if seg.is_empty() {
            return bad("empty segment (leading, trailing or double '/')");
        }
        if seg == b"." || seg == b".." {
            return bad("'.' and '..' segments are not allowed");
        }
        if seg.len() > MAX_SEGMENT {
            return bad("segment longer than 200 bytes");
        }
        if end == b.len() {
            return Ok(());
        }
        start = end + 1;
    }
}

/// Normalizes a `list` prefix: `""` is the root, one trailing `/` is allowed.
pub fn check_prefix(prefix: &str) -> Result<&str> {
    let p = prefix.strip_suffix('/').unwrap_or(prefix);
    if p.is_empty() {
        return Ok("");
    }
    check(p)?;
    Ok(p)
}

/// Splits a checked path into its parent (`""` at the top) and last segment.
pub fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// Joins a (possibly empty) parent and a child segment.
pub fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// A JID as a path segment. JIDs never hold `/`; one that does is refused rather than
/// escaped, so a hostile JID cannot alias another entry.
pub fn jid(jid: &str) -> Result<&str> {
    let bad = |reason| {
        Err(StoreError::BadJid {
            jid: jid.to_owned(),
            reason,
        })
    };
    if jid.is_empty() {
        return bad("empty");
    }
    if jid.contains('/') {
        return bad("contains '/'");
    }
    if jid == "." || jid == ".." {
        return bad("is '.' or '..'");
    }
    if jid.contains('\0') {
        return bad("contains NUL");
    }
    if jid.len() > MAX_SEGMENT {
        return bad("longer than 200 bytes");
    }
    Ok(jid)
}

/// A message id as a path segment (same rules as a JID).
pub fn message_id(id: &str) -> Result<&str> {
    let bad = |reason| {
        Err(StoreError::BadId {
            id: id.to_owned(),
            reason,
        })
    };
    if id.is_empty() {
        return bad("empty");
    }
    if id.contains('/') {
        return bad("contains '/'");
    }
    if id == "." || id == ".." {
        return bad("is '.' or '..'");
    }
    if id.contains('\0') {
        return bad("contains NUL");
    }
    if id.len() > MAX_SEGMENT {
        return bad("longer than 200 bytes");
    }
    Ok(id)
}

/// Escapes a Signal key id (which may hold `/`, as app-state key ids in base64 do) into
/// one segment: `%` -> `%25`, `/` -> `%2F`, NUL -> `%00`, and `.`/`..` spelled `%2E`.
pub fn escape_id(id: &str) -> Result<String> {
    let mut out = String::with_capacity(id.len());
    escape_id_into(id, &mut out)?;
    Ok(out)
}

/// [`escape_id`], appended to `out` (a key's path is made in one string); on an error `out`
/// is left as it was.
pub fn escape_id_into(id: &str, out: &mut String) -> Result<()> {
    if id.is_empty() {
        return Err(StoreError::BadId {
            id: String::new(),
            reason: "empty",
        });
    }
    let start = out.len();
    if id == "." || id == ".." {
        out.push_str(&"%2E".repeat(id.len()));
    } else if memchr::memchr3(b'%', b'/', 0, id.as_bytes()).is_none() {
        // Nearly every id (JIDs, numbers, base64 without '/').
        out.push_str(id);
    } else {
        for c in id.chars() {
            match c {
                '%' => out.push_str("%25"),
                '/' => out.push_str("%2F"),
                '\0' => out.push_str("%00"),
                c => out.push(c),
            }
        }
    }
    if out.len() - start > MAX_SEGMENT {
        out.truncate(start);
        return Err(StoreError::BadId {
            id: id.to_owned(),
            reason: "longer than 200 bytes",
        });
    }
    Ok(())
}

/// Reverses [`escape_id`] (and percent-decoding in general).
pub fn unescape(seg: &str) -> Option<String> {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// File names the file engine uses itself inside a node's directory.
pub const VALUE_FILE: &str = "index";
pub const CONTENT_FILE: &str = "content";

/// A segment as a directory name that is safe on any file system: bytes outside
/// `[A-Za-z0-9@._+=,-]` become `%XX`, and a name that would start with `.` or equal one
/// of the engine's own file names has its first byte escaped. Reversible by [`unescape`].
pub fn file_name(seg: &str) -> String {
    let mut out = String::with_capacity(seg.len() + 8);
    for (i, b) in seg.bytes().enumerate() {
        let safe = b.is_ascii_alphanumeric() || b"@._+=,-".contains(&b);
        if safe && !(i == 0 && b == b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out == VALUE_FILE || out == CONTENT_FILE {
        let first = out.as_bytes()[0];
        out.replace_range(0..1, &format!("%{first:02X}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    #[test]
    fn paths_are_refused_for_the_first_thing_wrong_in_them() {
        let reason = |p: &str| match check(p) {
            Ok(()) => "ok",
            Err(StoreError::BadPath { reason, .. }) => reason,
            Err(e) => panic!("{e}"),
        };
        let long = "x".repeat(MAX_SEGMENT + 1);
        let cases: Vec<(String, &str)> = vec![
            ("session/signal/session/a.0".into(), "ok"),
            ("a".into(), "ok"),
            (".a/..b/a.".into(), "ok"),
            (format!("a/{}", "x".repeat(MAX_SEGMENT)), "ok"),
            ("".into(), "empty path"),
            (
                "/a".into(),
                "empty segment (leading, trailing or double '/')",
            ),
            (
                "a/".into(),
                "empty segment (leading, trailing or double '/')",
            ),
            (
                "a//b".into(),
                "empty segment (leading, trailing or double '/')",
            ),
            ("a/./b".into(), "'.' and '..' segments are not allowed"),
            ("..".into(), "'.' and '..' segments are not allowed"),
            ("a/b\0c".into(), "NUL in path"),
            (format!("a/{long}"), "segment longer than 200 bytes"),
            // The first segment's fault is the one reported.
            (format!("{long}/a\0"), "segment longer than 200 bytes"),
            (format!("a\0{long}/"), "NUL in path"),
            ("../a\0".into(), "'.' and '..' segments are not allowed"),
            ("x".repeat(MAX_PATH + 1), "path longer than 4096 bytes"),
        ];
        for (p, want) in cases {
            assert_eq!(reason(&p), want, "{p:?}");
        }
    }

    /// The convention read segment by segment, the plain way: what `check` (two `memchr`s a
    /// segment) must agree with, reason for reason.
    fn reason_by_segments(p: &str) -> &'static str {
        if p.is_empty() {
            return "empty path";
        }
        if p.len() > MAX_PATH {
            return "path longer than 4096 bytes";
        }
        for seg in p.split('/') {
            if seg.contains('\0') {
                return "NUL in path";
            }
            if seg.is_empty() {
                return "empty segment (leading, trailing or double '/')";
            }
            if seg == "." || seg == ".." {
                return "'.' and '..' segments are not allowed";
            }
            if seg.len() > MAX_SEGMENT {
                return "segment longer than 200 bytes";
            }
        }
        "ok"
    }

    proptest::proptest! {
        #[test]
        fn check_agrees_with_a_reading_by_segments(
            segs in proptest::collection::vec(
                proptest::prop_oneof![
                    "[a./\\x00]{0,4}",
                    (190usize..215, "[a\\x00]{0,1}").prop_map(|(n, t)| format!("{}{t}", "x".repeat(n))),
                ],
                0..6,
            ),
        ) {
            let p = segs.join("/");
            let got = match check(&p) {
                Ok(()) => "ok",
                Err(StoreError::BadPath { reason, .. }) => reason,
                Err(e) => panic!("{e}"),
            };
            proptest::prop_assert_eq!(got, reason_by_segments(&p), "{:?}", p);
        }
    }

    #[test]
    fn paths_that_escape_or_alias_are_refused() {
        for p in [
            "", "/a", "a/", "a//b", "../x", "a/../b", "a/./b", ".", "a/\0",
        ] {
            assert_eq!(
                check(p).unwrap_err().code(),
                "ERR_WA_STORE_BAD_PATH",
                "{p:?}"
            );
        }
        for p in [
            "session/creds",
            "chat/1@g.us/message/ABC",
            "contact/ünï cødé@s.whatsapp.net",
        ] {
            check(p).unwrap();
        }
    }

    #[test]
    fn jids_with_slash_are_refused() {
        assert_eq!(
            jid("a/b@s.whatsapp.net").unwrap_err().code(),
            "ERR_WA_STORE_BAD_JID"
        );
        assert_eq!(jid("..").unwrap_err().code(), "ERR_WA_STORE_BAD_JID");
        assert_eq!(jid("123:4@s.whatsapp.net").unwrap(), "123:4@s.whatsapp.net");
    }

    #[test]
    fn ids_escape_and_unescape() {
        for id in ["abc/def+==", "%2F", "..", ".", "a\0b", "x%y/z"] {
            let e = escape_id(id).unwrap();
            assert!(!e.contains('/'));
            check(&e).unwrap();
            assert_eq!(unescape(&e).unwrap(), id);
        }
    }

    #[test]
    fn an_id_is_escaped_onto_a_path_or_not_at_all() {
        let mut p = "session/signal/session/".to_owned();
        escape_id_into("1555_1.0", &mut p).unwrap();
        assert_eq!(p, "session/signal/session/1555_1.0");
        escape_id_into("/a%", &mut p).unwrap();
        assert_eq!(p, "session/signal/session/1555_1.0%2Fa%25");
        let before = p.clone();
        assert!(escape_id_into(&"x".repeat(MAX_SEGMENT + 1), &mut p).is_err());
        assert!(escape_id_into(&"/".repeat(MAX_SEGMENT / 3 + 1), &mut p).is_err());
        assert!(escape_id_into("", &mut p).is_err());
        assert_eq!(p, before, "a refused id leaves the path as it was");
        assert_eq!(
            escape_id(&"x".repeat(MAX_SEGMENT)).unwrap().len(),
            MAX_SEGMENT
        );
    }

    #[test]
    fn file_names_are_safe_and_reversible() {
        for seg in [
            "index", "content", ".hidden", "a:b@lid", "ümlaut", "x%y", "CON", "-",
        ] {
            let f = file_name(seg);
            assert!(f != "index" && f != "content" && !f.starts_with('.'), "{f}");
            assert!(
                f.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"@._+=,-%".contains(&b))
            );
            assert_eq!(unescape(&f).unwrap(), seg);
        }
    }
}
