//! The console's words, Vietnamese first, English second: one table of `(key, vi, en)`, so
//! that a text missing in one language cannot compile away.

use super::super::i18n::Lang;
use std::collections::BTreeMap;

const TEXTS: &[(&str, &str, &str)] = &[
    ("system", "Quản lý thu phí, lệ phí trực tuyến", "Online fee collection console"),
    ("skip", "Bỏ qua, đến nội dung chính", "Skip to main content"),
    ("nav", "Điều hướng chính", "Main navigation"),
    ("nav_today", "Hôm nay", "Today"),
    ("nav_payments", "Thanh toán", "Payments"),
    ("switch", "English", "Tiếng Việt"),
    ("switch_label", "Switch to English", "Chuyển sang tiếng Việt"),
    ("signed_in_as", "Người dùng", "Signed in as"),
    ("sign_out", "Đăng xuất", "Sign out"),
    ("sign_in", "Đăng nhập", "Sign in"),
    (
        "sign_in_lead",
        "Dành cho cán bộ tài chính, kế toán và quản trị hệ thống.",
        "For finance, accounting and system staff.",
    ),
    ("username", "Tên đăng nhập", "Username"),
    ("password", "Mật khẩu", "Password"),
    ("wrong", "Tên đăng nhập hoặc mật khẩu không đúng.", "Wrong username or password."),
    (
        "locked",
        "Tài khoản tạm khóa vì nhập sai mật khẩu nhiều lần. Vui lòng thử lại sau",
        "This account is locked after repeated wrong passwords. Try again after",
    ),
    ("signed_out", "Bạn đã đăng xuất.", "You have signed out."),
    ("expired", "Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.", "Your session has ended; please sign in again."),
    (
        "form_stale",
        "Biểu mẫu đã cũ hoặc không hợp lệ. Không có gì thay đổi; vui lòng thử lại.",
        "This form is stale or invalid. Nothing was changed; please try again.",
    ),
    ("forbidden", "Vai trò của bạn không được thực hiện thao tác này.", "Your role may not do that."),
    ("not_found", "Không tìm thấy.", "Not found."),
    ("error", "Có lỗi xảy ra", "Something went wrong"),
    ("unavailable", "Hệ thống tạm thời không trả lời được, vui lòng thử lại.", "The system cannot answer now; retry."),
    ("today_title", "Hôm nay", "Today"),
    ("collected_today", "Đã thu hôm nay", "Collected today"),
    ("payments_n", "khoản", "payments"),
    ("waiting", "Đang chờ người nộp thanh toán", "Waiting for the payer"),
    ("failed_webhooks", "Thông báo cho cổng DVC bị lỗi", "Portal webhooks failing"),
    ("open_cases", "Vụ việc đối soát chưa xử lý", "Open reconciliation cases"),
    ("cases_later", "trang vụ việc chưa có trong bảng điều khiển", "the cases page is not in the console yet"),
    ("by_agency_gateway", "Thu theo cơ quan và cổng thanh toán", "By agency and gateway"),
    ("agency", "Cơ quan", "Agency"),
    ("gateway", "Cổng thanh toán", "Gateway"),
    ("count", "Số khoản", "Count"),
    ("amount", "Số tiền", "Amount"),
    ("total", "Tổng cộng", "Total"),
    ("nothing_today", "Chưa có khoản nào được thanh toán hôm nay.", "Nothing has been paid today yet."),
    ("view_list", "xem danh sách", "see the list"),
    ("payments_title", "Tra cứu thanh toán", "Payments"),
    ("search", "Điều kiện tìm kiếm", "Search"),
    ("dossier", "Mã hồ sơ", "Dossier code"),
    ("reference", "Mã giao dịch (tham chiếu)", "Reference"),
    ("status", "Trạng thái", "Status"),
    ("any", "Tất cả", "Any"),
    ("from", "Tạo từ ngày", "Created from"),
    ("to", "Đến ngày", "Created to"),
    ("find", "Tìm kiếm", "Search"),
    ("clear", "Xóa điều kiện", "Clear"),
    ("results", "Kết quả", "Results"),
    ("no_results", "Không có khoản thanh toán nào phù hợp.", "No payment matches."),
    ("next_page", "Trang sau", "Next page"),
    ("first_page", "Về trang đầu", "First page"),
    ("created", "Thời điểm tạo", "Created"),
    ("description", "Nội dung", "Description"),
    ("paid_on", "Đã thanh toán ngày", "Paid on"),
    ("webhook_failed_filter", "Chỉ khoản có thông báo lỗi", "Only failed webhooks"),
    ("payment_title", "Khoản thanh toán", "Payment"),
    ("summary", "Thông tin chung", "Summary"),
    ("procedure", "Mã thủ tục hành chính", "Procedure code"),
    ("payer", "Người nộp", "Payer"),
    ("paid_at", "Thời điểm thanh toán", "Paid at"),
    ("expires_at", "Hạn thanh toán", "Pay before"),
    ("refunded_amount", "Đã hoàn", "Refunded"),
    ("lines", "Các khoản phí, lệ phí và tài khoản thụ hưởng", "Lines and receiving accounts"),
    ("kind", "Loại", "Kind"),
    ("code", "Mã", "Code"),
    ("account", "Tài khoản thụ hưởng", "Receiving account"),
    ("fee", "Phí", "Fee"),
    ("charge", "Lệ phí", "Charge"),
    ("attempts", "Các lần thanh toán", "Attempts"),
    ("gateway_ref", "Mã của cổng", "Gateway ref"),
    ("failure", "Lý do lỗi", "Failure"),
    ("none", "Chưa có.", "None."),
    ("events", "Diễn biến trạng thái", "Status history"),
    ("event", "Sự kiện", "Event"),
    ("at", "Thời điểm", "At"),
    ("change", "Thay đổi", "Change"),
    ("refunds", "Hoàn tiền", "Refunds"),
    ("reason", "Lý do", "Reason"),
    ("requested_by", "Người yêu cầu", "Requested by"),
    ("bank_reference", "Mã chứng từ ngân hàng", "Bank reference"),
    ("audit", "Nhật ký kiểm toán", "Audit journal"),
    ("actor", "Người / hệ thống", "Actor"),
    ("details", "Chi tiết", "Details"),
    ("actions", "Thao tác", "Actions"),
    ("cancel", "Hủy khoản thanh toán", "Cancel the payment"),
    ("cancel_hint", "Chỉ hủy được khi người nộp chưa thanh toán.", "Only while nobody has paid."),
    ("cancelled_ok", "Đã hủy khoản thanh toán.", "The payment was cancelled."),
    ("no_actions", "Vai trò của bạn chỉ được xem.", "Your role may only read."),
    ("st_created", "Mới tạo", "Created"),
    ("st_pending", "Đang chờ thanh toán", "Pending"),
    ("st_succeeded", "Thành công", "Succeeded"),
    ("st_expired", "Hết hạn", "Expired"),
    ("st_cancelled", "Đã hủy", "Cancelled"),
    ("st_partially_refunded", "Hoàn một phần", "Partially refunded"),
    ("st_refunded", "Đã hoàn tiền", "Refunded"),
    ("st_failed", "Thất bại", "Failed"),
    ("st_unknown", "Chưa rõ", "Unknown"),
    ("st_pending_manual", "Chờ chi thủ công", "Pending manual payout"),
    ("role_admin", "Quản trị", "Administrator"),
    ("role_finance", "Kế toán", "Finance"),
    ("role_viewer", "Chỉ xem", "Viewer"),
    ("scope", "Phạm vi", "Scope"),
    ("all_agencies", "Tất cả cơ quan", "All agencies"),
    ("footer", "Giờ hiển thị theo giờ Việt Nam (GMT+7).", "Times are Vietnam time (GMT+7)."),
];

/// The texts of `lang`, by key.
pub fn texts(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    TEXTS.iter().map(|(k, vi, en)| (*k, if lang == Lang::En { *en } else { *vi })).collect()
}

/// The text of `key` in `lang` (empty for a key not in the table).
pub fn text(lang: Lang, key: &str) -> &'static str {
    TEXTS.iter().find(|(k, _, _)| *k == key).map(|(_, vi, en)| if lang == Lang::En { *en } else { *vi }).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_once_and_has_both_languages() {
        let mut seen = std::collections::HashSet::new();
        for (k, vi, en) in TEXTS {
            assert!(seen.insert(k), "{k} twice");
            assert!(!vi.is_empty() && !en.is_empty(), "{k}");
        }
    }
}
