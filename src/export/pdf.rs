//! A small page writer over `pdf-writer` for the site report: A4 pages, text in the base-14
//! Helvetica and Helvetica-Bold with WinAnsi encoding (every PDF reader has them, so no font
//! is embedded and `pdftotext` reads the text back), lines, rectangles and filled polygons.
//! Coordinates are points from the top-left corner of the page (y grows downwards); the
//! PDF's own origin, bottom-left, is applied when drawing.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

/// A4 in points.
pub const PAGE_W: f32 = 595.0;
pub const PAGE_H: f32 = 842.0;

/// An RGB colour, each part 0..1.
pub type Rgb = [f32; 3];

pub const BLACK: Rgb = [0.0, 0.0, 0.0];
pub const GREY: Rgb = [0.38, 0.38, 0.38];
pub const WHITE: Rgb = [1.0, 1.0, 1.0];

/// A colour from `0xRRGGBB`.
pub const fn hex(c: u32) -> Rgb {
    [
        ((c >> 16) & 0xFF) as f32 / 255.0,
        ((c >> 8) & 0xFF) as f32 / 255.0,
        (c & 0xFF) as f32 / 255.0,
    ]
}

/// `c` seen through `1 - alpha` of white paper (a fill of opacity `alpha`, without
/// transparency groups).
pub fn on_white(c: Rgb, alpha: f32) -> Rgb {
    c.map(|v| v * alpha + (1.0 - alpha))
}

/// Helvetica advance widths, 1/1000 em, for ASCII 32..=126 (Adobe's core-14 metrics).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// Helvetica-Bold advance widths, 1/1000 em, for ASCII 32..=126.
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667,
    611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556,
    278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

/// The WinAnsi (Windows-1252) byte of a character, if it has one.
fn winansi_byte(c: char) -> Option<u8> {
    let u = c as u32;
    match u {
        0x20..=0x7E | 0xA0..=0xFF => Some(u as u8),
        _ => Some(match c {
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8A,
            '‹' => 0x8B,
            'Œ' => 0x8C,
            'Ž' => 0x8E,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9A,
            '›' => 0x9B,
            'œ' => 0x9C,
            'ž' => 0x9E,
            'Ÿ' => 0x9F,
            _ => return None,
        }),
    }
}

/// What a character without a WinAnsi byte is written as: the nearest ASCII, else `?`.
fn ascii_stand_in(c: char) -> &'static str {
    match c {
        '\t' | '\n' | '\r' | '\u{2002}' | '\u{2003}' | '\u{2009}' | '\u{202F}' => " ",
        '−' | '‐' | '‑' | '‒' => "-",
        '≈' | '∼' => "~",
        '≤' => "<=",
        '≥' => ">=",
        '→' => "->",
        '←' => "<-",
        '×' => "x",
        '✓' | '✔' => "yes",
        '³' => "3",
        '′' => "'",
        '″' => "\"",
        'ł' => "l",
        'Ł' => "L",
        'ő' => "o",
        'ű' => "u",
        'ć' | 'č' => "c",
        'ś' => "s",
        'ń' => "n",
        'ę' => "e",
        'ą' => "a",
        'ż' | 'ź' => "z",
        'ğ' => "g",
        'ı' => "i",
        'ş' => "s",
        _ => "?",
    }
}

/// Text as WinAnsi bytes: every character that has a byte keeps it (`²`, `£`, `é`, `–`, `’`),
/// a few others become their ASCII look-alike, anything else `?`. Never more than one byte
/// per byte of meaning, never a stray escape.
pub fn winansi(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match winansi_byte(c) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(ascii_stand_in(c).as_bytes()),
        }
    }
    out
}

/// The width of `s` in points at `size`.
pub fn width(s: &str, size: f32, bold: bool) -> f32 {
    let table = if bold { &HELVETICA_BOLD } else { &HELVETICA };
    let units: u32 = winansi(s)
        .iter()
        .map(|&b| match b {
            0x20..=0x7E => table[(b - 0x20) as usize] as u32,
            // Latin-1 letters are as wide as their base letters or less; a capital-M-ish
            // width keeps lines inside their box.
            _ => 667,
        })
        .sum();
    units as f32 * size / 1000.0
}

/// `s` broken into lines no wider than `max` points (at spaces; a word longer than a line is
/// cut). Widths add up character by character, so the work grows with the text, not its square.
pub fn wrap(s: &str, max: f32, size: f32, bold: bool) -> Vec<String> {
    let space = width(" ", size, bold);
    let mut lines = vec![];
    for para in s.split('\n') {
        let mut line = String::new();
        let mut line_w = 0.0f32;
        for word in para.split_whitespace() {
            let word_w = width(word, size, bold);
            let with = if line.is_empty() {
                word_w
            } else {
                line_w + space + word_w
            };
            if with <= max {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(word);
                line_w = with;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // A word wider than the line on its own: cut it, character by character.
            line_w = 0.0;
            for ch in word.chars() {
                let ch_w = width(ch.encode_utf8(&mut [0u8; 4]), size, bold);
                if line_w + ch_w > max && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    line_w = 0.0;
                }
                line.push(ch);
                line_w += ch_w;
            }
        }
        lines.push(line);
    }
    lines
}

/// `s` shortened with "..." to fit `max` points on one line.
pub fn fit(s: &str, max: f32, size: f32, bold: bool) -> String {
    if width(s, size, bold) <= max {
        return s.to_string();
    }
    let mut out: String = s.to_string();
    while !out.is_empty() && width(&format!("{out}..."), size, bold) > max {
        out.pop();
    }
    format!("{}...", out.trim_end())
}

/// `s` cut to at most `max` characters, the last three "..." if cut.
pub fn fit_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let kept: String = s.chars().take(max.saturating_sub(3)).collect();
    format!("{}...", kept.trim_end())
}

/// One page being drawn.
pub struct Page {
    content: Content,
}

impl Default for Page {
    fn default() -> Self {
        Page::new()
    }
}

impl Page {
    pub fn new() -> Page {
        Page {
            content: Content::new(),
        }
    }

    /// Text with its left end at `x` and its baseline at `y` (from the top).
    pub fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, colour: Rgb, s: &str) {
        let bytes = winansi(s);
        self.content
            .set_fill_rgb(colour[0], colour[1], colour[2])
            .begin_text()
            .set_font(Name(if bold { b"F2" } else { b"F1" }), size)
            .next_line(x, PAGE_H - y)
            .show(Str(&bytes))
            .end_text();
    }

    /// Text with its right end at `x`.
    pub fn text_right(&mut self, x: f32, y: f32, size: f32, bold: bool, colour: Rgb, s: &str) {
        let w = width(s, size, bold);
        self.text(x - w, y, size, bold, colour, s);
    }

    /// Text centred on `x`.
    pub fn text_centred(&mut self, x: f32, y: f32, size: f32, bold: bool, colour: Rgb, s: &str) {
        let w = width(s, size, bold);
        self.text(x - w / 2.0, y, size, bold, colour, s);
    }

    /// A rectangle with its top-left corner at `(x, y)`: filled with `fill`, outlined with
    /// `stroke` (and its line width) if given.
    pub fn rect(
        &mut self,
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Option<Rgb>,
        stroke: Option<(Rgb, f32)>,
    ) {
        self.content.rect(x, PAGE_H - y - h, w, h);
        self.paint(fill, stroke, false);
    }

    /// A straight line.
    pub fn line(&mut self, from: [f32; 2], to: [f32; 2], colour: Rgb, width: f32) {
        self.content
            .set_stroke_rgb(colour[0], colour[1], colour[2])
            .set_line_width(width)
            .move_to(from[0], PAGE_H - from[1])
            .line_to(to[0], PAGE_H - to[1])
            .stroke();
    }

    /// Closed rings (page points) as one path, filled even-odd (holes stay empty) and/or
    /// outlined.
    pub fn rings(
        &mut self,
        rings: &[Vec<[f32; 2]>],
        fill: Option<Rgb>,
        stroke: Option<(Rgb, f32)>,
    ) {
        let mut any = false;
        for ring in rings {
            let Some(first) = ring.first() else { continue };
            self.content.move_to(first[0], PAGE_H - first[1]);
            for p in &ring[1..] {
                self.content.line_to(p[0], PAGE_H - p[1]);
            }
            self.content.close_path();
            any = true;
        }
        if any {
            self.paint(fill, stroke, true);
        }
    }

    /// An open line through points, dashed if `dash` is given (on, off lengths).
    pub fn polyline(&mut self, pts: &[[f32; 2]], colour: Rgb, width: f32, dash: Option<[f32; 2]>) {
        let Some(first) = pts.first() else { return };
        self.content.save_state();
        if let Some(d) = dash {
            self.content.set_dash_pattern(d, 0.0);
        }
        self.content
            .set_stroke_rgb(colour[0], colour[1], colour[2])
            .set_line_width(width)
            .move_to(first[0], PAGE_H - first[1]);
        for p in &pts[1..] {
            self.content.line_to(p[0], PAGE_H - p[1]);
        }
        self.content.stroke().restore_state();
    }

    fn paint(&mut self, fill: Option<Rgb>, stroke: Option<(Rgb, f32)>, even_odd: bool) {
        if let Some(f) = fill {
            self.content.set_fill_rgb(f[0], f[1], f[2]);
        }
        if let Some((s, w)) = stroke {
            self.content
                .set_stroke_rgb(s[0], s[1], s[2])
                .set_line_width(w);
        }
        match (fill.is_some(), stroke.is_some(), even_odd) {
            (true, true, true) => self.content.fill_even_odd_and_stroke(),
            (true, true, false) => self.content.fill_nonzero_and_stroke(),
            (true, false, true) => self.content.fill_even_odd(),
            (true, false, false) => self.content.fill_nonzero(),
            (false, true, _) => self.content.stroke(),
            (false, false, _) => self.content.end_path(),
        };
    }

    /// Everything drawn until [`Page::unclip`] shows only inside this rectangle.
    pub fn clip(&mut self, x: f32, y: f32, w: f32, h: f32) {
        self.content
            .save_state()
            .rect(x, PAGE_H - y - h, w, h)
            .clip_nonzero()
            .end_path();
    }

    pub fn unclip(&mut self) {
        self.content.restore_state();
    }
}

/// The document's file: the pages in order, with a title.
pub fn document(title: &str, pages: Vec<Page>) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first = 6;
    let page_ids: Vec<Ref> = (0..pages.len())
        .map(|i| Ref::new(first + 2 * i as i32))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(pages.len() as i32);
    for (font, name) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
        pdf.type1_font(font)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.document_info(info)
        .title(TextStr(title))
        .producer(TextStr(concat!("sitefinder ", env!("CARGO_PKG_VERSION"))));
    for (page, id) in pages.into_iter().zip(&page_ids) {
        let content_id = Ref::new(id.get() + 1);
        let mut p = pdf.page(*id);
        p.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(tree)
            .contents(content_id);
        p.resources()
            .fonts()
            .pair(Name(b"F1"), regular)
            .pair(Name(b"F2"), bold);
        p.finish();
        // Page contents deflated: a page's map is thousands of vertices.
        let raw = page.content.finish();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        let packed = std::io::Write::write_all(&mut z, &raw)
            .and_then(|()| z.finish())
            .ok();
        match packed {
            Some(bytes) => {
                pdf.stream(content_id, &bytes)
                    .filter(pdf_writer::Filter::FlateDecode);
            }
            None => {
                pdf.stream(content_id, &raw);
            }
        }
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_winansi_without_garbage() {
        assert_eq!(winansi("150 m²"), b"150 m\xB2");
        assert_eq!(winansi("£9,100"), b"\xA39,100");
        assert_eq!(winansi("1–3 ‘x’ Café"), b"1\x963 \x91x\x92 Caf\xE9");
        assert_eq!(winansi("≈ 5 ≥ 4 − 1 → ✓"), b"~ 5 >= 4 - 1 -> yes");
        assert_eq!(winansi("山"), b"?");
    }

    #[test]
    fn lines_wrap_inside_their_width() {
        let s = "LSOA E01005402 (Rochdale 014B) in IMD decile 1 (IMD 2025 score 62.1); population-weighted IMD score within 800 m is 48.3";
        let lines = wrap(s, 150.0, 8.0, false);
        assert!(lines.len() > 2, "{lines:?}");
        assert!(lines.iter().all(|l| width(l, 8.0, false) <= 150.0));
        assert_eq!(lines.join(" "), s);
        assert_eq!(wrap("", 100.0, 8.0, false), [""]);
        let long = wrap("abcdefghijklmnopqrstuvwxyz", 30.0, 8.0, true);
        assert!(long.len() > 1 && long.concat() == "abcdefghijklmnopqrstuvwxyz");
        assert!(long.iter().all(|l| width(l, 8.0, true) <= 30.0), "{long:?}");
        // A 10,000-character word (a pasted link, say) wraps quickly and whole.
        let word = "x".repeat(10_000);
        let cut = wrap(&word, 200.0, 9.0, false);
        assert_eq!(cut.concat(), word);
        assert!(fit(s, 100.0, 8.0, false).ends_with("..."));
        assert!(width(&fit(s, 100.0, 8.0, false), 8.0, false) <= 100.0);
    }

    #[test]
    fn a_document_has_its_pages() {
        let mut p = Page::new();
        p.text(40.0, 40.0, 12.0, true, BLACK, "Title £ m²");
        let bytes = document("t", vec![p, Page::new()]);
        assert!(bytes.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("/Count 2"), "{text}");
        assert!(text.contains("/FlateDecode"), "page contents are deflated");
        assert!(text.contains("/WinAnsiEncoding"));
    }
}
