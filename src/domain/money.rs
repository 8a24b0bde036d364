//! Exact money: amounts are whole minor units (đồng for VND). No floats anywhere.

use rust_decimal::Decimal;
use std::str::FromStr;

/// The largest amount feegate accepts for one payment or line: 10^12 đồng.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// A positive amount of đồng, at most [`MAX_AMOUNT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(i64);

/// Why a JSON value is not an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountError {
    NotANumber,
    Fractional,
    NotPositive,
    TooLarge,
}

impl AmountError {
    /// Human text for the error.
    pub fn message(self) -> &'static str {
        match self {
            AmountError::NotANumber => "amount must be a string of digits, e.g. \"135000\"",
            AmountError::Fractional => "VND has no minor unit: amounts are whole đồng",
            AmountError::NotPositive => "amount must be greater than zero",
            AmountError::TooLarge => "amount is larger than 1000000000000 đồng",
        }
    }
}

impl Amount {
    /// Parses a JSON amount: a string of digits, or a whole JSON number.
    pub fn from_json(v: &serde_json::Value) -> Result<Amount, AmountError> {
        let text = match v {
            serde_json::Value::String(s) => s.trim().to_owned(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return Err(AmountError::NotANumber),
        };
        Self::parse(&text)
    }

    /// Parses decimal text exactly (`"135000"`, `"135000.00"`; not `"1.5"`, `"1e3"`).
    pub fn parse(text: &str) -> Result<Amount, AmountError> {
        if text.is_empty() || text.len() > 40 || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') {
            return Err(AmountError::NotANumber);
        }
        let d = Decimal::from_str(text).map_err(|_| AmountError::NotANumber)?;
        if d.is_sign_negative() || d.is_zero() {
            return Err(AmountError::NotPositive);
        }
        if d.fract() != Decimal::ZERO {
            return Err(AmountError::Fractional);
        }
        if d > Decimal::from(MAX_AMOUNT) {
            return Err(AmountError::TooLarge);
        }
        let whole: i64 = d.trunc().to_string().parse().map_err(|_| AmountError::TooLarge)?;
        Ok(Amount(whole))
    }

    /// Wraps a stored value (already checked when written).
    pub fn from_stored(v: i64) -> Amount {
        Amount(v)
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// Adds two amounts; `None` beyond [`MAX_AMOUNT`].
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).filter(|v| *v <= MAX_AMOUNT).map(Amount)
    }
}

/// Formats đồng the Vietnamese way: `135.000 ₫`.
pub fn format_vnd(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    if amount < 0 {
        out.insert(0, '-');
    }
    format!("{out} ₫")
}

/// Splits `amount` across `weights` in proportion, in whole đồng: each part is the exact
/// pro rata share rounded down, and the đồng left over go one each to the largest
/// remainders, ties to the earlier weight (largest remainder). The parts add up to
/// `amount` exactly and each is within one đồng of its exact share. A negative weight
/// counts as none; when no weight is positive every part is 0. This is the one rule for a
/// share of money (a refund's share of a payment's lines, an account's share of a
/// settlement line), so two figures of the same share never differ by a đồng.
pub fn split(amount: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    if sum <= 0 {
        return vec![0; weights.len()];
    }
    let mut parts: Vec<i64> = Vec::with_capacity(weights.len());
    let mut rems: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = i128::from(amount) * i128::from((*w).max(0));
        // |exact / sum| <= |amount|, so the floor fits an i64.
        parts.push(exact.div_euclid(sum) as i64);
        rems.push((exact.rem_euclid(sum), i));
    }
    let mut left = i128::from(amount) - parts.iter().map(|p| i128::from(*p)).sum::<i128>();
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rems {
        if left <= 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// The share of `amount` that falls to `part` of `whole` (an account's share of a payment
/// routed to several): the first part of [`split`] over `part` and the rest, so it is the
/// figure [`split`] gives when the part is one of two.
pub fn share(amount: i64, part: i64, whole: i64) -> i64 {
    if part >= whole {
        return amount;
    }
    split(amount, &[part, whole - part])[0]
}

/// Each refund's share of a payment's lines (one row per refund, in the order of `refunds`,
/// which is the order they succeeded), cumulatively: refund k takes
/// `split(r1 + ... + rk) - split(r1 + ... + r(k-1))`. So the refunds of a payment never take
/// more from a line than it carried, a full refund gives every line back exactly, and every
/// figure of a refund's share (the settlement report, a statement's expected debit or batch
/// credit) is this one: two rules could differ by a đồng (`split` of each refund alone
/// gives 1 + 1 + 1 of `[1, 1]` as 3 to the first line).
pub fn refund_line_shares(lines: &[i64], refunds: &[i64]) -> Vec<Vec<i64>> {
    let mut cum = 0i64;
    let mut before = vec![0i64; lines.len()];
    let mut out = Vec::with_capacity(refunds.len());
    for r in refunds {
        cum = cum.saturating_add(*r);
        let after = split(cum, lines);
        out.push(after.iter().zip(&before).map(|(a, b)| a - b).collect());
        before = after;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_split_gives_the_leftover_dong_to_the_largest_remainders() {
        assert_eq!(split(35_000, &[135_000, 50_000]), vec![25_541, 9_459]);
        assert_eq!(split(185_000, &[135_000, 50_000]), vec![135_000, 50_000]);
        assert_eq!(split(1, &[1, 1]), vec![1, 0], "ties go to the earlier weight");
        assert_eq!(split(10, &[]), Vec::<i64>::new());
        assert_eq!(split(10, &[0, 0]), vec![0, 0]);
        assert_eq!(share(35_000, 135_000, 185_000), 25_541, "not the 25_540 of rounding down");
        assert_eq!(share(35_000, 135_000, 135_000), 35_000);
    }

    proptest! {
        #[test]
        fn a_split_sums_exactly_and_each_part_is_within_one_dong_of_pro_rata(
            amount in any::<i64>(),
            weights in proptest::collection::vec(0i64..=MAX_AMOUNT * 1_000, 1..12),
        ) {
            let parts = split(amount, &weights);
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert_eq!(&parts, &split(amount, &weights), "deterministic");
            let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
            let total: i128 = parts.iter().map(|p| i128::from(*p)).sum();
            if sum == 0 {
                prop_assert!(parts.iter().all(|p| *p == 0));
            } else {
                prop_assert_eq!(total, i128::from(amount));
                for (p, w) in parts.iter().zip(&weights) {
                    // |p - amount * w / sum| < 1, in integers.
                    let off = i128::from(*p) * sum - i128::from(amount) * i128::from(*w);
                    prop_assert!(off.abs() < sum, "part {} of weight {} is off by {}/{}", p, w, off, sum);
                }
            }
        }

        #[test]
        fn a_share_is_the_first_part_of_the_split(amount in 0i64..=MAX_AMOUNT, part in 1i64..=MAX_AMOUNT, rest in 0i64..=MAX_AMOUNT) {
            prop_assert_eq!(share(amount, part, part + rest), split(amount, &[part, rest])[0]);
        }
    }

    #[test]
    fn refunds_share_the_lines_cumulatively_not_each_alone() {
        // Two refunds of 35_000 of 135_000 + 50_000: alone each would give the second line
        // 9_459, 18_918 in all; together they are 70_000, of which the second line's share is
        // 18_919. The second refund takes the đồng.
        let s = refund_line_shares(&[135_000, 50_000], &[35_000, 35_000]);
        assert_eq!(s, vec![vec![25_541, 9_459], vec![25_540, 9_460]]);
        assert_eq!(split(35_000, &[135_000, 50_000])[1] * 2, 18_918, "the rule of one refund alone");
        assert_eq!(refund_line_shares(&[1, 1], &[1, 1, 0]), vec![vec![1, 0], vec![0, 1], vec![0, 0]]);
        assert_eq!(refund_line_shares(&[10], &[]), Vec::<Vec<i64>>::new());
    }

    proptest! {
        #[test]
        fn refund_shares_add_up_to_each_refund_and_a_full_refund_gives_every_line_back(
            lines in proptest::collection::vec(1i64..=1_000_000, 1..6),
            cuts in proptest::collection::vec(1i64..=1_000_000, 0..6),
        ) {
            let paid: i64 = lines.iter().sum();
            // Refunds that add up to at most the payment, then the rest of it.
            let mut refunds = Vec::new();
            let mut left = paid;
            for c in cuts {
                let r = c.min(left);
                if r == 0 { break }
                refunds.push(r);
                left -= r;
            }
            let partial = refunds.len();
            if left > 0 { refunds.push(left) }
            let shares = refund_line_shares(&lines, &refunds);
            let mut taken = vec![0i64; lines.len()];
            for (row, r) in shares.iter().zip(&refunds) {
                prop_assert_eq!(row.iter().sum::<i64>(), *r);
                for (t, p) in taken.iter_mut().zip(row) {
                    prop_assert!(*p >= 0);
                    *t += p;
                }
            }
            prop_assert_eq!(&taken, &lines, "{} partial refunds and the rest", partial);
        }
    }

    #[test]
    fn strings_and_whole_numbers_are_amounts() {
        assert_eq!(Amount::from_json(&json!("135000")).unwrap().get(), 135_000);
        assert_eq!(Amount::from_json(&json!(135000)).unwrap().get(), 135_000);
        assert_eq!(Amount::from_json(&json!("135000.00")).unwrap().get(), 135_000);
        assert_eq!(Amount::from_json(&json!(1_000_000_000_000i64)).unwrap().get(), MAX_AMOUNT);
    }

    #[test]
    fn bad_amounts_are_refused_with_their_reason() {
        assert_eq!(Amount::from_json(&json!("-5")), Err(AmountError::NotPositive));
        assert_eq!(Amount::from_json(&json!(0)), Err(AmountError::NotPositive));
        assert_eq!(Amount::from_json(&json!("10.5")), Err(AmountError::Fractional));
        assert_eq!(Amount::from_json(&json!(10.5)), Err(AmountError::Fractional));
        assert_eq!(Amount::from_json(&json!("1000000000001")), Err(AmountError::TooLarge));
        assert_eq!(Amount::from_json(&json!(1e30)), Err(AmountError::NotANumber));
        assert_eq!(Amount::from_json(&json!("1e3")), Err(AmountError::NotANumber));
        assert_eq!(Amount::from_json(&json!("abc")), Err(AmountError::NotANumber));
        assert_eq!(Amount::from_json(&json!(true)), Err(AmountError::NotANumber));
        assert_eq!(Amount::from_json(&json!(null)), Err(AmountError::NotANumber));
    }

    #[test]
    fn vnd_is_formatted_with_dots() {
        assert_eq!(format_vnd(135_000), "135.000 ₫");
        assert_eq!(format_vnd(1_500), "1.500 ₫");
        assert_eq!(format_vnd(999), "999 ₫");
        assert_eq!(format_vnd(1_000_000_000_000), "1.000.000.000.000 ₫");
    }
}
