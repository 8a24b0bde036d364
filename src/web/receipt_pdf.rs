//! A receipt as a PDF, A4 or A5 (`GET /receipts/{token}.pdf`): the same signed content as
//! the receipt's page, laid out by hand and written by `krilla` with Noto Sans (OFL, subset
//! to the letters a Vietnamese receipt needs, `assets/fonts/`) embedded and its text shaped,
//! so that tone marks sit where they belong and the text can be copied and searched. No
//! browser is involved.
//!
//! Layout first, drawing second: [`layout`] turns a receipt into pages of [`Op`]s (text,
//! rules, boxes, the QR code), breaking the lines' table over as many pages as it needs
//! (a payment has up to 100 lines) with its header row repeated; [`render`] draws them. The
//! page is laid out in A4 points; A5 is the same page scaled to its width.

use crate::domain::money::format_vnd;
use crate::domain::receipt::Content;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Transform};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};
use krilla::Document;
use std::sync::LazyLock;

const REGULAR: &[u8] = include_bytes!("../../assets/fonts/NotoSans-Regular.ttf");
const BOLD: &[u8] = include_bytes!("../../assets/fonts/NotoSans-Bold.ttf");

/// A4 in points.
const W: f32 = 595.28;
const H: f32 = 841.89;
const MARGIN: f32 = 48.0;
/// Where the body may run to before the page's foot line.
const BODY_BOTTOM: f32 = H - 64.0;

/// Paper size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    A4,
    A5,
}

impl Paper {
    /// `a4` (the default) or `a5`; anything else is not a paper size.
    pub fn parse(s: Option<&str>) -> Option<Paper> {
        match s.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("a4") => Some(Paper::A4),
            Some("a5") => Some(Paper::A5),
            _ => None,
        }
    }

    /// The page's width and height in points.
    fn size(self) -> (f32, f32) {
        match self {
            Paper::A4 => (W, H),
            Paper::A5 => (419.53, 595.28),
        }
    }

    /// The A4 layout scaled to fit the paper's width.
    fn scale(self) -> f32 {
        self.size().0 / W
    }
}

/// What else the PDF shows besides the signed content.
pub struct Extra<'a> {
    pub verification_code: &'a str,
    pub verify_url: &'a str,
    pub key_id: &'a str,
    /// The cancellation, as printed ("reason (time)").
    pub cancelled: Option<&'a str>,
    pub paid_at: &'a str,
    pub issued_at: &'a str,
    /// The agency's external provider's e-receipt of it, as printed ("name: series, number,
    /// lookup code"), once the provider issued it.
    pub provider: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ink {
    Text,
    Muted,
    Red,
    Line,
    Shade,
}

impl Ink {
    fn rgb(self) -> rgb::Color {
        match self {
            Ink::Text => rgb::Color::new(0x1d, 0x23, 0x30),
            Ink::Muted => rgb::Color::new(0x59, 0x61, 0x73),
            Ink::Red => rgb::Color::new(0x9f, 0x1c, 0x1c),
            Ink::Line => rgb::Color::new(0xb8, 0xc0, 0xcc),
            Ink::Shade => rgb::Color::new(0xf1, 0xf3, 0xf6),
        }
    }
}

/// One thing drawn on a page, in A4 points from the top left; text at its baseline.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Text { x: f32, y: f32, size: f32, bold: bool, ink: Ink, text: String },
    Rule { x1: f32, y1: f32, x2: f32, y2: f32, width: f32, ink: Ink },
    Box { x: f32, y: f32, w: f32, h: f32, fill: Option<Ink>, stroke: Option<Ink> },
    Qr { x: f32, y: f32, size: f32, data: String },
}

struct Face {
    font: Font,
    shaper: rustybuzz::Face<'static>,
}

struct Fonts {
    regular: Face,
    bold: Face,
}

/// The embedded fonts, parsed once. They are this crate's own files: `None` is a broken
/// build, caught by the tests (and [`render`] refuses), never a payer's problem.
static FONTS: LazyLock<Option<Fonts>> = LazyLock::new(|| {
    let face = |bytes: &'static [u8]| {
        Some(Face { font: Font::new(bytes.into(), 0)?, shaper: rustybuzz::Face::from_slice(bytes, 0)? })
    };
    Some(Fonts { regular: face(REGULAR)?, bold: face(BOLD)? })
});

fn face(bold: bool) -> Option<&'static Face> {
    let fonts = FONTS.as_ref()?;
    Some(if bold { &fonts.bold } else { &fonts.regular })
}

/// The width of `text` set in one line, in points.
fn width(text: &str, size: f32, bold: bool) -> f32 {
    let Some(f) = face(bold) else { return 0.0 };
    let mut buffer = rustybuzz::UnicodeBuffer::new();
    buffer.push_str(text);
    let shaped = rustybuzz::shape(&f.shaper, &[], buffer);
    let units: i32 = shaped.glyph_positions().iter().map(|p| p.x_advance).sum();
    units as f32 * size / f32::from(f.shaper.units_per_em() as u16)
}

/// `text` broken into lines no wider than `max` (at spaces; a word wider than a line is
/// broken between characters, as a long URL must be).
fn wrap(text: &str, size: f32, bold: bool, max: f32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
        if width(&candidate, size, bold) <= max {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if width(word, size, bold) <= max {
            line = word.to_owned();
            continue;
        }
        for c in word.chars() {
            let mut next = line.clone();
            next.push(c);
            if !line.is_empty() && width(&next, size, bold) > max {
                lines.push(std::mem::take(&mut line));
                next = c.to_string();
            }
            line = next;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Pages being filled.
struct Pages {
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Pages {
    fn op(&mut self, op: Op) {
        if let Some(p) = self.pages.last_mut() {
            p.push(op);
        }
    }

    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, ink: Ink, text: impl Into<String>) {
        self.op(Op::Text { x, y, size, bold, ink, text: text.into() });
    }

    fn right(&mut self, right: f32, y: f32, size: f32, bold: bool, ink: Ink, text: &str) {
        self.text(right - width(text, size, bold), y, size, bold, ink, text);
    }

    fn centre(&mut self, y: f32, size: f32, bold: bool, ink: Ink, text: &str) {
        self.text((W - width(text, size, bold)) / 2.0, y, size, bold, ink, text);
    }

    fn rule(&mut self, y: f32, width: f32, ink: Ink) {
        self.op(Op::Rule { x1: MARGIN, y1: y, x2: W - MARGIN, y2: y, width, ink });
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = MARGIN + 8.0;
    }

    /// Room for `h` more points on this page, or a new page.
    fn room(&mut self, h: f32) -> bool {
        if self.y + h > BODY_BOTTOM {
            self.new_page();
            return false;
        }
        true
    }
}

/// The lines' table: its columns' left edges and the right edge of the amounts.
const COL_NO: f32 = MARGIN;
const COL_KIND: f32 = MARGIN + 30.0;
const COL_CODE: f32 = MARGIN + 112.0;
const COL_ITEM: f32 = MARGIN + 188.0;
const COL_AMOUNT: f32 = W - MARGIN - 100.0;
const ROW_PAD: f32 = 5.0;
const TABLE_SIZE: f32 = 9.0;
const LEADING: f32 = 12.0;

fn table_header(p: &mut Pages) {
    let y = p.y;
    let h = LEADING * 2.0 + ROW_PAD * 2.0;
    p.op(Op::Box { x: MARGIN, y, w: W - 2.0 * MARGIN, h, fill: Some(Ink::Shade), stroke: Some(Ink::Line) });
    let (a, b) = (y + ROW_PAD + 9.0, y + ROW_PAD + 9.0 + LEADING);
    p.text(COL_NO + 4.0, a, TABLE_SIZE, true, Ink::Text, "STT");
    p.text(COL_NO + 4.0, b, 7.5, false, Ink::Muted, "No.");
    p.text(COL_KIND + 4.0, a, TABLE_SIZE, true, Ink::Text, "Loại");
    p.text(COL_KIND + 4.0, b, 7.5, false, Ink::Muted, "Kind");
    p.text(COL_CODE + 4.0, a, TABLE_SIZE, true, Ink::Text, "Mã");
    p.text(COL_CODE + 4.0, b, 7.5, false, Ink::Muted, "Code");
    p.text(COL_ITEM + 4.0, a, TABLE_SIZE, true, Ink::Text, "Nội dung");
    p.text(COL_ITEM + 4.0, b, 7.5, false, Ink::Muted, "Item");
    p.right(W - MARGIN - 4.0, a, TABLE_SIZE, true, Ink::Text, "Số tiền (đồng)");
    p.right(W - MARGIN - 4.0, b, 7.5, false, Ink::Muted, "Amount (VND)");
    p.y += h;
}

/// The receipt laid out: one list of drawing operations per page.
fn layout(c: &Content, x: &Extra<'_>) -> Vec<Vec<Op>> {
    let mut p = Pages { pages: Vec::new(), y: 0.0 };
    p.new_page();

    // The agency (left) and the receipt's symbols (right).
    let mut left = MARGIN + 4.0;
    for l in wrap(&c.agency.name.to_uppercase(), 11.0, true, 300.0) {
        p.text(MARGIN, left + 8.0, 11.0, true, Ink::Text, l);
        left += 15.0;
    }
    if !c.agency.tax_code.is_empty() {
        p.text(MARGIN, left + 8.0, 8.5, false, Ink::Muted, format!("Mã số thuế / Tax code: {}", c.agency.tax_code));
        left += 12.0;
    }
    if !c.agency.address.is_empty() {
        for l in wrap(&format!("Địa chỉ / Address: {}", c.agency.address), 8.5, false, 300.0) {
            p.text(MARGIN, left + 8.0, 8.5, false, Ink::Muted, l);
            left += 12.0;
        }
    }
    let right = W - MARGIN;
    let top = MARGIN + 12.0;
    p.right(right, top, 8.5, false, Ink::Muted, &format!("Mẫu số / Template: {}", c.template));
    p.right(right, top + 13.0, 8.5, false, Ink::Muted, &format!("Ký hiệu / Series: {}", c.series));
    p.right(right, top + 30.0, 12.0, true, Ink::Red, &format!("Số / No. {:07}", c.number));
    p.y = left.max(top + 36.0) + 6.0;
    p.rule(p.y, 1.5, Ink::Red);

    // The title.
    let (title, title_en) = if c.kind == "adjustment" {
        ("BIÊN LAI ĐIỀU CHỈNH", "Adjustment receipt")
    } else {
        ("BIÊN LAI THU PHÍ, LỆ PHÍ", "Receipt for fees and charges")
    };
    p.y += 30.0;
    p.centre(p.y, 17.0, true, Ink::Red, title);
    p.y += 15.0;
    p.centre(p.y, 9.0, false, Ink::Muted, title_en);
    if let Some(r) = &c.refers_to {
        p.y += 13.0;
        p.centre(p.y, 9.0, false, Ink::Muted, &format!("Điều chỉnh cho biên lai / Adjusts receipt {r}"));
    }
    if let Some(reason) = x.cancelled {
        p.y += 12.0;
        let lines = wrap(&format!("ĐÃ HỦY / CANCELLED: {reason}"), 10.0, true, W - 2.0 * MARGIN - 16.0);
        let h = lines.len() as f32 * 13.0 + 10.0;
        p.op(Op::Box { x: MARGIN, y: p.y, w: W - 2.0 * MARGIN, h, fill: Some(Ink::Shade), stroke: Some(Ink::Red) });
        let mut y = p.y + 15.0;
        for l in lines {
            p.text(MARGIN + 8.0, y, 10.0, true, Ink::Red, l);
            y += 13.0;
        }
        p.y += h;
    }
    p.y += 16.0;

    // Who paid what for which dossier, how and when.
    let payer = match (&c.payer_name, &c.payer_id_number) {
        (Some(n), Some(id)) => format!("{n} · CCCD {id}"),
        (Some(n), None) => n.clone(),
        (None, Some(id)) => format!("CCCD {id}"),
        (None, None) => "—".to_owned(),
    };
    let fields: [(&str, String); 6] = [
        ("Người nộp / Payer", payer),
        ("Mã hồ sơ / Dossier", c.dossier_code.clone()),
        ("Thủ tục / Procedure", format!("{} ({})", c.description, c.procedure_code)),
        ("Hình thức / Paid through", c.gateway.clone()),
        ("Mã giao dịch / Transaction", c.gateway_txn.clone().unwrap_or_else(|| c.reference.clone())),
        ("Thời gian nộp / Paid at", format!("{} (GMT+7)", x.paid_at)),
    ];
    let value_x = MARGIN + 150.0;
    for (label, value) in fields {
        p.text(MARGIN, p.y + 10.0, 9.0, false, Ink::Muted, label);
        for l in wrap(&value, 10.0, true, W - MARGIN - value_x) {
            p.text(value_x, p.y + 10.0, 10.0, true, Ink::Text, l);
            p.y += 14.0;
        }
        p.y += 2.0;
    }
    p.y += 10.0;

    // The lines, over as many pages as they need.
    table_header(&mut p);
    for (i, l) in c.lines.iter().enumerate() {
        let kind = match l.kind.as_str() {
            "fee" => "Phí / Fee",
            "charge" => "Lệ phí / Charge",
            _ => "Hoàn trả / Refund",
        };
        let item = wrap(&l.name, TABLE_SIZE, false, COL_AMOUNT - COL_ITEM - 8.0);
        let code = wrap(&l.code, TABLE_SIZE, false, COL_ITEM - COL_CODE - 8.0);
        let rows = item.len().max(code.len()).max(1);
        let h = rows as f32 * LEADING + ROW_PAD * 2.0;
        if !p.room(h) {
            table_header(&mut p);
        }
        let y0 = p.y;
        p.op(Op::Box { x: MARGIN, y: y0, w: W - 2.0 * MARGIN, h, fill: None, stroke: Some(Ink::Line) });
        let base = y0 + ROW_PAD + 9.0;
        p.text(COL_NO + 4.0, base, TABLE_SIZE, false, Ink::Text, (i + 1).to_string());
        p.text(COL_KIND + 4.0, base, TABLE_SIZE, false, Ink::Text, kind);
        for (k, s) in code.iter().enumerate() {
            p.text(COL_CODE + 4.0, base + k as f32 * LEADING, TABLE_SIZE, false, Ink::Text, s.clone());
        }
        for (k, s) in item.iter().enumerate() {
            p.text(COL_ITEM + 4.0, base + k as f32 * LEADING, TABLE_SIZE, false, Ink::Text, s.clone());
        }
        p.right(W - MARGIN - 4.0, base, TABLE_SIZE, false, Ink::Text, &dong(l.amount));
        p.y += h;
    }
    // The total and the words.
    let words = wrap(&format!("Bằng chữ / In words: {}", c.total_words), 9.5, false, W - 2.0 * MARGIN);
    let total_h = LEADING + ROW_PAD * 2.0;
    if !p.room(total_h + words.len() as f32 * 13.0 + 8.0) {
        table_header(&mut p);
    }
    p.op(Op::Box {
        x: MARGIN,
        y: p.y,
        w: W - 2.0 * MARGIN,
        h: total_h,
        fill: Some(Ink::Shade),
        stroke: Some(Ink::Line),
    });
    let base = p.y + ROW_PAD + 9.0;
    p.text(COL_NO + 4.0, base, 10.0, true, Ink::Text, "Tổng cộng / Total");
    p.right(W - MARGIN - 4.0, base, 10.0, true, Ink::Text, &dong(c.total));
    p.y += total_h + 16.0;
    for l in words {
        p.text(MARGIN, p.y, 9.5, false, Ink::Text, l);
        p.y += 13.0;
    }

    // The proof: issued when, the code, where to verify (and its QR code), the key.
    const QR: f32 = 96.0;
    let text_w = W - 2.0 * MARGIN - QR - 16.0;
    let url = wrap(x.verify_url, 7.5, false, text_w);
    let proof_h = (52.0 + url.len() as f32 * 10.0 + 34.0 + if x.provider.is_some() { 26.0 } else { 0.0 }).max(QR + 8.0);
    p.room(proof_h + 14.0);
    p.y += 8.0;
    p.rule(p.y, 0.6, Ink::Line);
    let top = p.y + 8.0;
    p.op(Op::Qr { x: W - MARGIN - QR, y: top, size: QR, data: x.verify_url.to_owned() });
    let mut y = top + 10.0;
    p.text(MARGIN, y, 9.0, false, Ink::Muted, format!("Ngày phát hành / Issued: {} (GMT+7)", x.issued_at));
    y += 16.0;
    p.text(MARGIN, y, 9.0, false, Ink::Muted, "Mã tra cứu / Verification code:");
    p.text(MARGIN + 150.0, y, 11.0, true, Ink::Text, x.verification_code);
    y += 15.0;
    p.text(MARGIN, y, 8.0, false, Ink::Muted, "Tra cứu tại (hoặc quét mã QR) / Verify at (or scan the QR code):");
    y += 11.0;
    for l in url {
        p.text(MARGIN, y, 7.5, false, Ink::Text, l);
        y += 10.0;
    }
    if let Some(provided) = x.provider {
        y += 4.0;
        for l in wrap(&format!("Biên lai điện tử / E-receipt: {provided}"), 8.0, true, text_w) {
            p.text(MARGIN, y, 8.0, true, Ink::Text, l);
            y += 11.0;
        }
    }
    y += 4.0;
    p.text(MARGIN, y, 7.5, false, Ink::Muted, format!("Khóa ký / Signing key: {} (Ed25519)", x.key_id));
    y += 12.0;
    for l in wrap(
        &format!(
            "Biên lai điện tử do {} phát hành, có chữ ký số. / An electronic receipt, digitally signed by the agency.",
            c.agency.name
        ),
        7.5,
        false,
        text_w,
    ) {
        p.text(MARGIN, y, 7.5, false, Ink::Muted, l);
        y += 10.0;
    }
    p.y = y.max(top + QR);

    // Every page's foot: which receipt, which page.
    let n = p.pages.len();
    let foot = format!("{} · {} · {:07}", c.template, c.series, c.number);
    for (i, page) in p.pages.iter_mut().enumerate() {
        page.push(Op::Rule { x1: MARGIN, y1: H - 44.0, x2: W - MARGIN, y2: H - 44.0, width: 0.4, ink: Ink::Line });
        page.push(Op::Text { x: MARGIN, y: H - 32.0, size: 7.5, bold: false, ink: Ink::Muted, text: foot.clone() });
        let label = format!("Trang / Page {}/{}", i + 1, n);
        page.push(Op::Text {
            x: W - MARGIN - width(&label, 7.5, false),
            y: H - 32.0,
            size: 7.5,
            bold: false,
            ink: Ink::Muted,
            text: label,
        });
    }
    p.pages
}

/// Digits grouped by dots (the column says đồng); an adjustment's minus kept.
fn dong(amount: i64) -> String {
    format_vnd(amount).trim_end_matches(" ₫").to_owned()
}

fn fill(ink: Ink) -> Fill {
    Fill { paint: ink.rgb().into(), opacity: NormalizedF32::ONE, rule: Default::default() }
}

fn draw(surface: &mut krilla::surface::Surface<'_>, op: &Op) {
    match op {
        Op::Text { x, y, size, bold, ink, text } => {
            let Some(face) = face(*bold) else { return };
            surface.set_stroke(None);
            surface.set_fill(Some(fill(*ink)));
            surface.draw_text(
                Point::from_xy(*x, *y),
                face.font.clone(),
                *size,
                text,
                false,
                TextDirection::LeftToRight,
            );
        }
        Op::Rule { x1, y1, x2, y2, width, ink } => {
            let mut pb = PathBuilder::new();
            pb.move_to(*x1, *y1);
            pb.line_to(*x2, *y2);
            if let Some(path) = pb.finish() {
                surface.set_fill(None);
                surface.set_stroke(Some(Stroke { paint: ink.rgb().into(), width: *width, ..Default::default() }));
                surface.draw_path(&path);
            }
        }
        Op::Box { x, y, w, h, fill: fill_ink, stroke } => {
            let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) else { return };
            let mut pb = PathBuilder::new();
            pb.push_rect(rect);
            let Some(path) = pb.finish() else { return };
            if let Some(f) = fill_ink {
                surface.set_stroke(None);
                surface.set_fill(Some(fill(*f)));
                surface.draw_path(&path);
            }
            if let Some(s) = stroke {
                surface.set_fill(None);
                surface.set_stroke(Some(Stroke { paint: s.rgb().into(), width: 0.6, ..Default::default() }));
                surface.draw_path(&path);
            }
        }
        Op::Qr { x, y, size, data } => {
            let Ok(code) = qrcode::QrCode::new(data.as_bytes()) else { return };
            let n = code.width();
            let colors = code.to_colors();
            // Four modules of quiet zone on each side, inside `size`.
            let module = size / (n as f32 + 8.0);
            let mut pb = PathBuilder::new();
            for row in 0..n {
                let mut col = 0;
                while col < n {
                    if colors[row * n + col] == qrcode::Color::Dark {
                        let start = col;
                        while col < n && colors[row * n + col] == qrcode::Color::Dark {
                            col += 1;
                        }
                        if let Some(r) = Rect::from_xywh(
                            x + (start as f32 + 4.0) * module,
                            y + (row as f32 + 4.0) * module,
                            (col - start) as f32 * module,
                            module,
                        ) {
                            pb.push_rect(r);
                        }
                    } else {
                        col += 1;
                    }
                }
            }
            if let Some(path) = pb.finish() {
                surface.set_stroke(None);
                surface.set_fill(Some(fill(Ink::Text)));
                surface.draw_path(&path);
            }
        }
    }
}

/// The receipt as a PDF on `paper`.
pub fn render(c: &Content, x: &Extra<'_>, paper: Paper) -> Result<Vec<u8>, String> {
    if FONTS.is_none() {
        return Err("the embedded fonts do not parse".into());
    }
    let pages = layout(c, x);
    let scale = paper.scale();
    let mut doc = Document::new();
    doc.set_metadata(
        Metadata::new()
            .title(format!("Biên lai {} số {:07}", c.series, c.number))
            .language("vi".to_owned())
            .creator("feegate".to_owned())
            .producer("feegate (krilla)".to_owned()),
    );
    for ops in &pages {
        let (w, h) = paper.size();
        let settings = PageSettings::from_wh(w, h).ok_or("page size")?;
        let mut page = doc.start_page_with(settings);
        let mut surface = page.surface();
        surface.push_transform(&Transform::from_scale(scale, scale));
        for op in ops {
            draw(&mut surface, op);
        }
        surface.pop();
        surface.finish();
        page.finish();
    }
    doc.finish().map_err(|e| format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_at_spaces_and_a_long_url_between_characters() {
        let lines = wrap("Lệ phí cấp giấy phép lái xe hạng B2 cho người nộp", 10.0, false, 100.0);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(lines.iter().all(|l| width(l, 10.0, false) <= 100.0), "{lines:?}");
        assert_eq!(lines.join(" "), "Lệ phí cấp giấy phép lái xe hạng B2 cho người nộp");
        let url = "https://pay.example.gov.vn/receipts/verify?agency=H12.20&series=GT-26E&number=1&code=ABCDE-FGHJK";
        let lines = wrap(url, 7.5, false, 120.0);
        assert!(lines.len() > 2 && lines.concat() == url, "{lines:?}");
        assert_eq!(wrap("", 9.0, false, 100.0), vec![String::new()]);
    }

    #[test]
    fn bold_is_wider_than_regular_and_width_grows_with_size() {
        let s = "Một trăm ba mươi lăm nghìn đồng";
        assert!(width(s, 10.0, true) > width(s, 10.0, false));
        assert!((width(s, 20.0, false) - 2.0 * width(s, 10.0, false)).abs() < 0.01);
    }

    #[test]
    fn paper_sizes_parse() {
        assert_eq!(Paper::parse(None), Some(Paper::A4));
        assert_eq!(Paper::parse(Some("A5")), Some(Paper::A5));
        assert_eq!(Paper::parse(Some("letter")), None);
    }
}
