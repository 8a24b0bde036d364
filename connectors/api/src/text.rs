//! Text helpers for gateway wires that accept only plain ASCII.

/// Removes Vietnamese diacritics (`Lệ phí cấp đổi` -> `Le phi cap doi`), keeps ASCII
/// letters, digits, space and `-_.,:/#`, drops everything else, and folds runs of spaces.
pub fn ascii_fold(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        let mapped = fold_char(c);
        match mapped {
            Some(m) if m.is_ascii_alphanumeric() || " -_.,:/#".contains(m) => {
                if m == ' ' && (out.is_empty() || out.ends_with(' ')) {
                    continue;
                }
                out.push(m)
            }
            _ => {}
        }
    }
    out.trim_end().to_owned()
}

/// Keeps only ASCII letters and digits after folding (for transfer contents).
pub fn alnum_fold(input: &str) -> String {
    ascii_fold(input).chars().filter(char::is_ascii_alphanumeric).collect()
}

fn fold_char(c: char) -> Option<char> {
    if c.is_ascii() {
        return Some(if c.is_ascii_whitespace() { ' ' } else { c });
    }
    const GROUPS: [(&str, char); 14] = [
        ("àáạảãâầấậẩẫăằắặẳẵ", 'a'),
        ("ÀÁẠẢÃÂẦẤẬẨẪĂẰẮẶẲẴ", 'A'),
        ("èéẹẻẽêềếệểễ", 'e'),
        ("ÈÉẸẺẼÊỀẾỆỂỄ", 'E'),
        ("ìíịỉĩ", 'i'),
        ("ÌÍỊỈĨ", 'I'),
        ("òóọỏõôồốộổỗơờớợởỡ", 'o'),
        ("ÒÓỌỎÕÔỒỐỘỔỖƠỜỚỢỞỠ", 'O'),
        ("ùúụủũưừứựửữ", 'u'),
        ("ÙÚỤỦŨƯỪỨỰỬỮ", 'U'),
        ("ỳýỵỷỹ", 'y'),
        ("ỲÝỴỶỸ", 'Y'),
        ("đ", 'd'),
        ("Đ", 'D'),
    ];
    GROUPS.iter().find(|(set, _)| set.contains(c)).map(|(_, a)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_is_folded_to_plain_ascii() {
        assert_eq!(ascii_fold("Lệ phí cấp đổi GPLX (Sở GTVT)"), "Le phi cap doi GPLX So GTVT");
        assert_eq!(ascii_fold("ĐĂNG KÝ  *~!'()  xe"), "DANG KY xe");
        assert_eq!(alnum_fold("FG-12 ab"), "FG12ab");
    }
}
