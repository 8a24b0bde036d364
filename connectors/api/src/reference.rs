//! Finding our attempt reference in a bank transfer's content (nội dung chuyển khoản).
//!
//! Banks rewrite the content the payer's app sent: they prepend or append their own text
//! (`MBVCB.3278614911.FG0123456789.CT tu ...`), truncate, lower-case, or insert spaces. We
//! fold it to upper-case ASCII and look for `FG` + 10 Crockford base32 characters (digits
//! and A–Z without I, L, O, U), first as a whole word, then anywhere in the content with
//! spaces and punctuation removed.

use crate::text::ascii_fold;

/// The prefix of every feegate attempt reference.
pub const PREFIX: &str = "FG";
/// Characters after the prefix.
pub const BODY_LEN: usize = 10;

/// Whether `c` is in Crockford's base32 alphabet (upper case).
fn crockford(c: u8) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && !matches!(c, b'I' | b'L' | b'O' | b'U'))
}

/// Whether `s` is exactly a feegate attempt reference.
pub fn is_reference(s: &str) -> bool {
    s.len() == PREFIX.len() + BODY_LEN && s.starts_with(PREFIX) && s.bytes().skip(PREFIX.len()).all(crockford)
}

/// Why no single reference could be read from a content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentError {
    None,
    /// Several different references: we will not guess which one the payer meant.
    Ambiguous(Vec<String>),
}

/// Upper-case ASCII words of `content`: diacritics folded, anything not a letter or a
/// digit is a separator.
fn words(content: &str) -> Vec<String> {
    let mut folded = String::with_capacity(content.len());
    let mut buf = [0u8; 4];
    for c in content.chars() {
        let f = ascii_fold(c.encode_utf8(&mut buf));
        match f.as_bytes() {
            [b] if b.is_ascii_alphanumeric() => folded.push(b.to_ascii_uppercase() as char),
            _ => folded.push(' '),
        }
    }
    folded.split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

fn single(found: Vec<String>) -> Result<Option<String>, ContentError> {
    let mut distinct: Vec<String> = Vec::new();
    for f in found {
        if !distinct.contains(&f) {
            distinct.push(f);
        }
    }
    match distinct.len() {
        0 => Ok(None),
        1 => Ok(distinct.pop()),
        _ => Err(ContentError::Ambiguous(distinct)),
    }
}

/// The one feegate reference in `content`.
pub fn find_reference(content: &str) -> Result<String, ContentError> {
    let words = words(content);
    if let Some(r) = single(words.iter().filter(|w| is_reference(w)).cloned().collect())? {
        return Ok(r);
    }
    // No whole word: the bank glued text to it or split it. Search the squeezed content.
    let squeezed: Vec<u8> = words.concat().into_bytes();
    let n = PREFIX.len() + BODY_LEN;
    let mut found = Vec::new();
    for start in 0..squeezed.len().saturating_sub(n - 1) {
        if let Some(window) = squeezed.get(start..start + n) {
            let w = String::from_utf8_lossy(window);
            if is_reference(&w) {
                found.push(w.into_owned());
            }
        }
    }
    single(found)?.ok_or(ContentError::None)
}

/// The fewest reference characters after `FG` a truncated reference must keep to be worth
/// looking up (32⁶ ≈ 10⁹ possibilities: a prefix this long names one payment in practice).
pub const MIN_TRUNCATED_BODY: usize = 6;

/// A reference the bank cut short: `FG` and [`MIN_TRUNCATED_BODY`] to 9 characters at the very
/// end of the content (banks truncate from the end), spaces and punctuation squeezed out. Only
/// for contents where [`find_reference`] found nothing; the caller looks the prefix up among
/// its references and accepts it only if exactly one fits.
pub fn find_truncated(content: &str) -> Option<String> {
    let squeezed = words(content).concat();
    let bytes = squeezed.as_bytes();
    let n = bytes.len();
    (PREFIX.len() + MIN_TRUNCATED_BODY..PREFIX.len() + BODY_LEN).rev().find_map(|len| {
        let start = n.checked_sub(len)?;
        let tail = &squeezed[start..];
        (tail.starts_with(PREFIX) && tail.bytes().skip(PREFIX.len()).all(crockford)).then(|| tail.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_alphabet_is_crockford() {
        assert!(is_reference("FG0123456789"));
        assert!(is_reference("FGABCDEFGHJK"));
        for bad in ["FG012345678", "FG01234567890", "fg0123456789", "FG012345678O", "FGI123456789", "XX0123456789"] {
            assert!(!is_reference(bad), "{bad}");
        }
    }

    #[test]
    fn the_content_the_qr_carried_is_found_as_is() {
        assert_eq!(find_reference("FG0123456789"), Ok("FG0123456789".into()));
    }

    #[test]
    fn bank_text_around_the_reference_is_ignored() {
        for content in [
            "MBVCB.3278614911.FG0123456789.CT tu 0011004123456 NGUYEN VAN A toi 113366668888",
            "fg0123456789 chuyen tien",
            "Chuyển khoản FG0123456789 lệ phí",
            "IBFT FG0123456789-0011004-NGUYEN",
        ] {
            assert_eq!(find_reference(content), Ok("FG0123456789".into()), "{content}");
        }
    }

    #[test]
    fn glued_or_split_references_are_found_in_the_squeezed_content() {
        assert_eq!(find_reference("CTFG0123456789 TU ABC"), Ok("FG0123456789".into()));
        assert_eq!(find_reference("FG01234 56789"), Ok("FG0123456789".into()));
        assert_eq!(find_reference("ft25123 fg01-2345-6789"), Ok("FG0123456789".into()));
    }

    #[test]
    fn a_reference_cut_short_at_the_end_of_the_content_is_offered_as_a_prefix() {
        assert_eq!(find_truncated("MBVCB.3278614911.FG01234567"), Some("FG01234567".into()));
        assert_eq!(find_truncated("nop phi fg0123-45"), Some("FG012345".into()));
        assert_eq!(find_truncated("Nộp phí FG012345678"), Some("FG012345678".into()));
        assert_eq!(find_truncated("FG01234"), None, "too short to name one payment");
        assert_eq!(find_truncated("FG0123456 chuyen tien"), None, "not at the end: not a truncation");
        assert_eq!(find_truncated("chuyen tien"), None);
        assert_eq!(find_truncated("FGI1234567"), None, "I is not in the alphabet");
    }

    #[test]
    fn no_reference_and_several_references_are_told_apart() {
        assert_eq!(find_reference("chuyen tien hoc phi"), Err(ContentError::None));
        assert_eq!(find_reference(""), Err(ContentError::None));
        assert_eq!(find_reference("FG01234567"), Err(ContentError::None), "truncated by the bank");
        assert!(matches!(find_reference("FG0123456789 FG0123456788"), Err(ContentError::Ambiguous(_))));
        assert_eq!(find_reference("FG0123456789 fg0123456789"), Ok("FG0123456789".into()), "same one twice");
    }
}
