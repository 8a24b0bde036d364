//! An amount of đồng in Vietnamese words, as a receipt (biên lai) writes its total:
//! 135 000 → "Một trăm ba mươi lăm nghìn đồng". The rules: groups of three digits named
//! nghìn, triệu, tỷ (10^12 is "một nghìn tỷ"); a group after a larger one reads its
//! hundreds even when zero ("không trăm"); a zero ten before a unit is "linh"; one after
//! "mươi" is "mốt"; five after "mười"/"mươi" is "lăm"; a whole zero group is skipped.
//! [`parse`] reads such words back, so tests can check that every amount reads back.

const DIGITS: [&str; 10] = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"];
const BILLION: u64 = 1_000_000_000;

/// `amount` đồng in words, capitalised, ending in "đồng".
pub fn dong_in_words(amount: u64) -> String {
    let mut s = number_in_words(amount);
    if let Some(first) = s.chars().next() {
        s.replace_range(..first.len_utf8(), &first.to_uppercase().to_string());
    }
    s.push_str(" đồng");
    s
}

/// `n` in words, lower case ("không" for zero).
pub fn number_in_words(n: u64) -> String {
    if n == 0 {
        return DIGITS[0].to_owned();
    }
    let mut words = Vec::new();
    read(n, false, &mut words);
    words.join(" ")
}

/// Reads `n` (> 0); `after` says a larger part was read before it, so its first group
/// reads all three places.
fn read(n: u64, after: bool, out: &mut Vec<&'static str>) {
    let (billions, rest) = (n / BILLION, n % BILLION);
    let mut after = after;
    if billions > 0 {
        read(billions, after, out);
        out.push("tỷ");
        after = true;
    }
    for (scale, name) in [(1_000_000, Some("triệu")), (1_000, Some("nghìn")), (1, None)] {
        let group = (rest / scale % 1000) as usize;
        if group == 0 {
            continue;
        }
        three(group, after, out);
        out.extend(name);
        after = true;
    }
}

/// One group of three digits (1..=999).
fn three(g: usize, full: bool, out: &mut Vec<&'static str>) {
    let (h, t, u) = (g / 100, g / 10 % 10, g % 10);
    if h > 0 || full {
        out.push(DIGITS[h]);
        out.push("trăm");
    }
    match t {
        0 if u > 0 && (h > 0 || full) => out.push("linh"),
        0 => {}
        1 => out.push("mười"),
        _ => {
            out.push(DIGITS[t]);
            out.push("mươi");
        }
    }
    match u {
        0 => {}
        1 if t >= 2 => out.push("mốt"),
        5 if t >= 1 => out.push("lăm"),
        _ => out.push(DIGITS[u]),
    }
}

/// Reads words written by [`dong_in_words`] or [`number_in_words`] back into a number
/// (also "lẻ" for "linh" and "tư" for four after "mươi"); `None` for a word it does not know.
pub fn parse(text: &str) -> Option<u64> {
    let text = text.trim().to_lowercase();
    let text = text.strip_suffix("đồng").unwrap_or(&text);
    let (mut total, mut section, mut small, mut last) = (0u64, 0u64, 0u64, 0u64);
    for word in text.split_whitespace() {
        match word {
            "mươi" => {
                small = small.saturating_sub(last).saturating_add(last * 10);
                last = 0;
            }
            "mười" => small = small.saturating_add(10),
            "trăm" => {
                small = small.saturating_sub(last).saturating_add(last * 100);
                last = 0;
            }
            "linh" | "lẻ" => {}
            "nghìn" | "ngàn" => {
                section = section.saturating_add(small.saturating_mul(1_000));
                (small, last) = (0, 0);
            }
            "triệu" => {
                section = section.saturating_add(small.saturating_mul(1_000_000));
                (small, last) = (0, 0);
            }
            "tỷ" | "tỉ" => {
                total = total.saturating_add(section).saturating_add(small).saturating_mul(BILLION);
                (section, small, last) = (0, 0, 0);
            }
            w => {
                let d = match w {
                    "mốt" => 1,
                    "tư" => 4,
                    "lăm" => 5,
                    _ => DIGITS.iter().position(|&x| x == w)? as u64,
                };
                small = small.saturating_add(d);
                last = d;
            }
        }
    }
    Some(total.saturating_add(section).saturating_add(small))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_read_as_a_receipt_writes_them() {
        for (n, words) in [
            (0, "Không đồng"),
            (1, "Một đồng"),
            (5, "Năm đồng"),
            (10, "Mười đồng"),
            (11, "Mười một đồng"),
            (15, "Mười lăm đồng"),
            (21, "Hai mươi mốt đồng"),
            (24, "Hai mươi bốn đồng"),
            (25, "Hai mươi lăm đồng"),
            (100, "Một trăm đồng"),
            (105, "Một trăm linh năm đồng"),
            (110, "Một trăm mười đồng"),
            (115, "Một trăm mười lăm đồng"),
            (1_000, "Một nghìn đồng"),
            (1_005, "Một nghìn không trăm linh năm đồng"),
            (1_050, "Một nghìn không trăm năm mươi đồng"),
            (10_000, "Mười nghìn đồng"),
            (50_000, "Năm mươi nghìn đồng"),
            (135_000, "Một trăm ba mươi lăm nghìn đồng"),
            (200_500, "Hai trăm nghìn năm trăm đồng"),
            (1_000_000, "Một triệu đồng"),
            (1_000_005, "Một triệu không trăm linh năm đồng"),
            (1_005_000, "Một triệu không trăm linh năm nghìn đồng"),
            (2_150_000, "Hai triệu một trăm năm mươi nghìn đồng"),
            (21_000_001, "Hai mươi mốt triệu không trăm linh một đồng"),
            (1_000_000_000, "Một tỷ đồng"),
            (1_000_000_001, "Một tỷ không trăm linh một đồng"),
            (15_000_000_000, "Mười lăm tỷ đồng"),
            (1_000_000_000_000, "Một nghìn tỷ đồng"),
            (999_999_999_999, "Chín trăm chín mươi chín tỷ chín trăm chín mươi chín triệu chín trăm chín mươi chín nghìn chín trăm chín mươi chín đồng"),
        ] {
            assert_eq!(dong_in_words(n), words, "{n}");
            assert_eq!(parse(words), Some(n), "{words}");
        }
    }

    #[test]
    fn parse_refuses_a_word_it_does_not_know() {
        assert_eq!(parse("một trăm đô la"), None);
        assert_eq!(parse("Hai mươi tư nghìn đồng"), Some(24_000));
        assert_eq!(parse("một trăm lẻ năm"), Some(105));
        // Nonsense in known words does not panic.
        assert!(parse("năm nghìn mươi tỷ tỷ tỷ tỷ tỷ").is_some());
    }

    /// Amounts with many zero digits (zero groups, "linh", "không trăm"), which a uniform
    /// draw below 10^12 almost never makes.
    fn sparse() -> impl Strategy<Value = u64> {
        prop::collection::vec(prop_oneof![3 => Just(0u64), 1 => 1u64..10, 1 => Just(1u64), 1 => Just(5u64)], 12)
            .prop_map(|digits| digits.into_iter().fold(0, |n, d| n * 10 + d))
    }

    proptest! {
        /// Every amount up to 10^12 reads back, and keeps the spelling rules.
        #[test]
        fn every_amount_reads_back_in_words(n in prop_oneof![0u64..=1_000_000_000_000, sparse()]) {
            let words = dong_in_words(n);
            prop_assert_eq!(parse(&words), Some(n), "{}", words);
            let lower = words.to_lowercase();
            let w: Vec<&str> = lower.split(' ').collect();
            prop_assert!(w.iter().all(|x| !x.is_empty()), "{}", words);
            if n > 0 {
                prop_assert!(!lower.starts_with("không"), "{}", words);
            }
            for (k, x) in w.iter().enumerate() {
                let before = if k > 0 { w[k - 1] } else { "" };
                match *x {
                    "mốt" => prop_assert_eq!(before, "mươi", "{}", words),
                    "lăm" => prop_assert!(before == "mươi" || before == "mười", "{}", words),
                    "linh" => prop_assert_eq!(before, "trăm", "{}", words),
                    _ => {}
                }
            }
        }
    }
}
