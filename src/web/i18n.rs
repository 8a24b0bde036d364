//! The citizen pages' words in Vietnamese and English, and which of the two a request
//! gets: `?lang=` first, then the browser's Accept-Language, then Vietnamese.

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
    /// `?lang=vi|en` if given, else the first of Vietnamese or English in the browser's
    /// Accept-Language by preference (`q`), else Vietnamese.
    pub fn negotiate(q: Option<&str>, headers: &axum::http::HeaderMap) -> Lang {
        match q {
            Some("en") => return Lang::En,
            Some("vi") => return Lang::Vi,
            _ => {}
        }
        let accept = headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        Lang::from_accept_language(accept)
    }

    /// The preferred of `vi` and `en` in an Accept-Language value (Vietnamese if neither).
    pub fn from_accept_language(accept: &str) -> Lang {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, item) in accept.split(',').enumerate() {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let primary = tag.split('-').next().unwrap_or("");
            let lang = match primary {
                "vi" => Lang::Vi,
                "en" => Lang::En,
                _ => continue,
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(|v| v.trim().parse::<f32>().unwrap_or(0.0)))
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            // Higher q wins; at equal q, the one listed first.
            if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map(|(_, _, l)| l).unwrap_or(Lang::Vi)
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
    pub legs_intro: &'static str,
    pub leg_title: &'static str,
    pub leg_arrived: &'static str,
    pub leg_waiting: &'static str,
    pub back: &'static str,
    pub not_found: &'static str,
    pub amount_not_accepted: &'static str,
    pub form_invalid: &'static str,
    pub receipt: &'static str,
    pub receipt_no: &'static str,
    pub transaction: &'static str,
    pub paid_at: &'static str,
    pub open_receipt: &'static str,
    pub receipt_pdf: &'static str,
    pub verify_code: &'static str,
    pub skip: &'static str,
    pub help_line: &'static str,
    pub page_not_found: &'static str,
    pub page_not_found_text: &'static str,
    pub payment_not_found_text: &'static str,
    pub home_title: &'static str,
    pub home_text: &'static str,
    pub to_portal: &'static str,
    pub to_portal_text: &'static str,
    pub method: &'static str,
    pub what_next: &'static str,
    pub expired_next: &'static str,
    pub cancelled_next: &'static str,
    pub refunded_next: &'static str,
    pub help_call: &'static str,
    pub help_contact: &'static str,
    pub phone: &'static str,
    pub last_failed: &'static str,
    pub last_failed_next: &'static str,
    pub agency: &'static str,
    pub deadline: &'static str,
    pub status: &'static str,
    pub waiting: &'static str,
    pub waiting_hint: &'static str,
    pub checked_at: &'static str,
    pub pending_other: &'static str,
    pub open_transfer: &'static str,
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
            legs_intro: "Các khoản của hồ sơ này nộp vào các tài khoản khác nhau: hãy chuyển từng khoản dưới đây, mỗi khoản một lần chuyển với đúng số tiền và nội dung của nó. Hồ sơ được ghi nhận đã thanh toán khi tất cả các khoản đã đến.",
            leg_title: "Khoản",
            leg_arrived: "Đã nhận",
            leg_waiting: "Đang chờ",
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
            receipt_pdf: "Tải biên lai (PDF)",
            verify_code: "Mã tra cứu",
            skip: "Bỏ qua, đến nội dung chính",
            help_line: "Tổng đài hỗ trợ",
            page_not_found: "Không tìm thấy trang",
            page_not_found_text: "Địa chỉ này không có trên trang thanh toán. Hãy quay lại cổng dịch vụ công, mở hồ sơ và bấm lại vào liên kết thanh toán.",
            payment_not_found_text: "Liên kết thanh toán sai hoặc đã cũ. Hãy quay lại cổng dịch vụ công, mở hồ sơ và bấm lại vào liên kết thanh toán.",
            home_title: "Thanh toán phí, lệ phí hồ sơ thủ tục hành chính",
            home_text: "Trang này nhận thanh toán phí, lệ phí của hồ sơ thủ tục hành chính. Để thanh toán, hãy mở hồ sơ của bạn trên cổng dịch vụ công và chọn “Thanh toán”: cổng sẽ đưa bạn đến đúng khoản cần nộp.",
            to_portal: "Về cổng dịch vụ công",
            to_portal_text: "Hãy quay lại cổng dịch vụ công để tiếp tục hồ sơ.",
            method: "Hình thức thanh toán",
            what_next: "Bạn cần làm gì tiếp theo",
            expired_next: "Khoản này không còn thanh toán được nữa. Hãy quay lại cổng dịch vụ công, mở hồ sơ và tạo lại yêu cầu thanh toán.",
            cancelled_next: "Yêu cầu thanh toán này đã bị hủy. Nếu hồ sơ vẫn cần nộp phí, lệ phí, hãy mở lại hồ sơ trên cổng dịch vụ công để có yêu cầu mới.",
            refunded_next: "Tiền đã được hoàn về tài khoản hoặc ví bạn đã dùng để thanh toán.",
            help_call: "Cần hỗ trợ, hãy gọi",
            help_contact: "Cần hỗ trợ, hãy liên hệ",
            phone: "điện thoại",
            last_failed: "Lần thanh toán trước không thành công",
            last_failed_next: "Bạn có thể chọn lại cách thanh toán bên dưới. Nếu tài khoản của bạn đã bị trừ tiền, đừng thanh toán lại mà hãy liên hệ cơ quan thu.",
            agency: "Cơ quan thu",
            deadline: "Hạn thanh toán",
            status: "Trạng thái",
            waiting: "Đang chờ tiền chuyển đến",
            waiting_hint: "Trang tự cập nhật mỗi 10 giây. Khi tiền đến, trang chuyển sang biên lai.",
            checked_at: "Cập nhật lúc",
            pending_other: "Đang có một lần thanh toán chưa xong qua",
            open_transfer: "Mở lại mã chuyển khoản",
        },
        Lang::En => Texts {
            header: "Pay dossier fees and charges",
            switch: "Tiếng Việt",
            dossier: "Dossier",
            procedure: "Procedure",
            total: "Total",
            choose: "Choose a bank or payment provider",
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
            legs_intro: "This dossier's fees go to different accounts: make each transfer below, one transfer each, with its own amount and content. The dossier is paid when every transfer has arrived.",
            leg_title: "Transfer",
            leg_arrived: "Received",
            leg_waiting: "Waiting",
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
            receipt_pdf: "Download the receipt (PDF)",
            verify_code: "Verification code",
            skip: "Skip to main content",
            help_line: "Help line",
            page_not_found: "Page not found",
            page_not_found_text: "This address does not exist on the payment site. Go back to the public service portal, open your dossier and follow its payment link again.",
            payment_not_found_text: "The payment link is wrong or out of date. Go back to the public service portal, open your dossier and follow its payment link again.",
            home_title: "Payment of administrative dossier fees and charges",
            home_text: "This site takes payment of the fees and charges of administrative dossiers. To pay, open your dossier on the public service portal and choose “Pay”: the portal brings you to the right payment.",
            to_portal: "Back to the public service portal",
            to_portal_text: "Go back to the public service portal to continue with your dossier.",
            method: "Payment method",
            what_next: "What to do next",
            expired_next: "This payment can no longer be paid. Go back to the public service portal, open your dossier and start the payment again.",
            cancelled_next: "This payment request was cancelled. If the dossier still needs its fees paid, open it again on the public service portal to get a new request.",
            refunded_next: "The money was returned to the account or wallet you paid with.",
            help_call: "For help, call",
            help_contact: "For help, contact",
            phone: "phone",
            last_failed: "Your last payment attempt did not go through",
            last_failed_next: "You may choose a way to pay again below. If money was taken from your account, do not pay again: contact the collecting agency.",
            agency: "Collecting agency",
            deadline: "Pay before",
            status: "Status",
            waiting: "Waiting for your transfer",
            waiting_hint: "This page updates itself every 10 seconds. When the money arrives it shows your receipt.",
            checked_at: "Checked at",
            pending_other: "A payment is under way through",
            open_transfer: "Show the transfer code again",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::Lang;

    #[test]
    fn accept_language_picks_the_preferred_of_vietnamese_and_english() {
        for (header, want) in [
            ("", Lang::Vi),
            ("en-US,en;q=0.9", Lang::En),
            ("vi-VN,vi;q=0.9,en;q=0.8", Lang::Vi),
            ("fr-FR,en;q=0.5,vi;q=0.7", Lang::Vi),
            ("fr-FR,en;q=0.5", Lang::En),
            ("de, ja", Lang::Vi),
            ("en;q=0, vi;q=0.1", Lang::Vi),
            ("EN-gb", Lang::En),
            ("en;q=garbage", Lang::Vi),
        ] {
            assert_eq!(Lang::from_accept_language(header), want, "{header:?}");
        }
    }
}
