//! The checkout's words in Vietnamese and English.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

impl Lang {
    pub fn from_query(q: Option<&str>) -> Lang {
        if q == Some("en") {
            Lang::En
        } else {
            Lang::Vi
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }
}

/// Every text the pages show.
#[derive(Serialize)]
pub struct Texts {
    pub header: &'static str,
    pub switch: &'static str,
    pub dossier: &'static str,
    pub procedure: &'static str,
    pub total: &'static str,
    pub choose: &'static str,
    pub not_available: &'static str,
    pub expires: &'static str,
    pub fee: &'static str,
    pub charge: &'static str,
    pub paid: &'static str,
    pub expired: &'static str,
    pub cancelled: &'static str,
    pub refunded: &'static str,
    pub scan: &'static str,
    pub scan_hint: &'static str,
    pub manual: &'static str,
    pub bank: &'static str,
    pub account: &'static str,
    pub account_name: &'static str,
    pub amount: &'static str,
    pub content: &'static str,
    pub content_hint: &'static str,
    pub open_sim: &'static str,
    pub back: &'static str,
    pub not_found: &'static str,
    pub amount_not_accepted: &'static str,
    pub form_invalid: &'static str,
    pub receipt: &'static str,
    pub receipt_no: &'static str,
    pub transaction: &'static str,
    pub paid_at: &'static str,
    pub open_receipt: &'static str,
    pub verify_code: &'static str,
}

pub fn texts(lang: Lang) -> Texts {
    match lang {
        Lang::Vi => Texts {
            header: "Thanh toán phí, lệ phí hồ sơ",
            switch: "English",
            dossier: "Mã hồ sơ",
            procedure: "Mã TTHC",
            total: "Tổng cộng",
            choose: "Chọn ngân hàng / trung gian thanh toán",
            not_available: "không dùng được cho khoản này (nhiều tài khoản thụ hưởng)",
            expires: "Hạn thanh toán:",
            fee: "Phí",
            charge: "Lệ phí",
            paid: "Đã thanh toán. Cảm ơn bạn!",
            expired: "Khoản thanh toán đã hết hạn.",
            cancelled: "Khoản thanh toán đã bị hủy.",
            refunded: "Khoản thanh toán đã được hoàn tiền.",
            scan: "Quét mã VietQR bằng ứng dụng ngân hàng",
            scan_hint: "Số tiền và nội dung đã có sẵn trong mã.",
            manual: "Hoặc chuyển khoản thủ công",
            bank: "Ngân hàng",
            account: "Số tài khoản",
            account_name: "Chủ tài khoản",
            amount: "Số tiền",
            content: "Nội dung chuyển khoản",
            content_hint: "Ghi đúng nội dung để hệ thống tự xác nhận thanh toán.",
            open_sim: "Mở ứng dụng ngân hàng mô phỏng",
            back: "Quay lại chọn cách thanh toán",
            not_found: "Không tìm thấy khoản thanh toán.",
            amount_not_accepted: "không nhận số tiền này",
            form_invalid: "Trang thanh toán đã cũ hoặc không hợp lệ. Không có gì thay đổi; vui lòng chọn lại.",
            receipt: "Biên lai thu phí, lệ phí",
            receipt_no: "Ký hiệu, số biên lai",
            transaction: "Mã giao dịch",
            paid_at: "Thời gian thanh toán",
            open_receipt: "Xem và in biên lai",
            verify_code: "Mã tra cứu",
        },
        Lang::En => Texts {
            header: "Pay dossier fees and charges",
            switch: "Tiếng Việt",
            dossier: "Dossier",
            procedure: "Procedure",
            total: "Total",
            choose: "Choose a bank or payment provider",
            not_available: "not available for this payment (several beneficiary accounts)",
            expires: "Pay before:",
            fee: "Fee",
            charge: "Charge",
            paid: "Paid. Thank you!",
            expired: "This payment has expired.",
            cancelled: "This payment was cancelled.",
            refunded: "This payment was refunded.",
            scan: "Scan the VietQR code with your banking app",
            scan_hint: "Amount and transfer content are in the code.",
            manual: "Or transfer by hand",
            bank: "Bank",
            account: "Account number",
            account_name: "Account name",
            amount: "Amount",
            content: "Transfer content",
            content_hint: "Type the content exactly so the payment is confirmed automatically.",
            open_sim: "Open the simulated banking app",
            back: "Back to payment choices",
            not_found: "Payment not found.",
            amount_not_accepted: "does not take this amount",
            form_invalid: "This payment page is stale or invalid. Nothing was changed; please choose again.",
            receipt: "Receipt for fees and charges",
            receipt_no: "Receipt series and number",
            transaction: "Transaction number",
            paid_at: "Paid at",
            open_receipt: "View and print the receipt",
            verify_code: "Verification code",
        },
    }
}
