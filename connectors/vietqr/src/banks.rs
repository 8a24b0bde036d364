//! Bank BINs assigned by the State Bank of Vietnam (GATEWAYS.md §4.6).

/// (BIN, short bank name), from the SBV list as compiled by subiz/vietqr.
const BANKS: [(&str, &str); 31] = [
    ("970436", "Vietcombank"),
    ("970415", "VietinBank"),
    ("970418", "BIDV"),
    ("970405", "Agribank"),
    ("970407", "Techcombank"),
    ("970422", "MB Bank"),
    ("970416", "ACB"),
    ("970432", "VPBank"),
    ("970423", "TPBank"),
    ("970403", "Sacombank"),
    ("970437", "HDBank"),
    ("970441", "VIB"),
    ("970443", "SHB"),
    ("970426", "MSB"),
    ("970448", "OCB"),
    ("970431", "Eximbank"),
    ("970440", "SeABank"),
    ("970454", "Viet Capital Bank (BVBank)"),
    ("970419", "NCB"),
    ("970449", "LPBank"),
    ("970425", "ABBank"),
    ("970427", "VietABank"),
    ("970428", "Nam A Bank"),
    ("970429", "SCB"),
    ("970430", "PGBank"),
    ("970438", "BaoViet Bank"),
    ("970412", "PVcomBank"),
    ("970452", "KienLongBank"),
    ("970424", "Shinhan Bank VN"),
    ("970458", "UOB VN"),
    ("970410", "Standard Chartered VN"),
];

/// Every bank in the table: (BIN, short name), in the table's order.
pub fn bank_list() -> &'static [(&'static str, &'static str)] {
    &BANKS
}

/// The bank with this 6-digit BIN, when it is in the table. `970468` (the NAPAS spec's
/// example) is deliberately absent: it belongs to a finance company, not a bank.
pub fn bank_name(bin: &str) -> Option<&'static str> {
    BANKS.iter().find(|(b, _)| *b == bin).map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_bins_have_names_and_others_do_not() {
        assert_eq!(bank_name("970436"), Some("Vietcombank"));
        assert_eq!(bank_name("970415"), Some("VietinBank"));
        assert_eq!(bank_name("970454"), Some("Viet Capital Bank (BVBank)"));
        assert_eq!(bank_name("970468"), None);
        assert_eq!(bank_name(""), None);
    }

    #[test]
    fn every_bin_is_six_digits_and_listed_once() {
        for (i, (bin, _)) in BANKS.iter().enumerate() {
            assert!(bin.len() == 6 && bin.bytes().all(|b| b.is_ascii_digit()), "{bin}");
            assert!(BANKS[i + 1..].iter().all(|(other, _)| other != bin), "{bin} twice");
        }
    }
}
