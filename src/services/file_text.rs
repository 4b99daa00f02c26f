//! The text of a file people have, for ingestion: `.txt` and `.md` as they are, `.html`
//! without its markup (html2text: scripts and styles dropped, entities decoded), `.pdf` from
//! its text layer (lopdf; a scanned PDF without one is refused, not stored empty). Shared by
//! `tenantgate ingest` and the multipart form of `POST /documents`, so both read a file alike.
//!
//! Every bound here exists because the file comes from a caller: decompression inside a PDF is
//! capped per stream and per page, and the extracted text as a whole is capped, so a small
//! upload cannot inflate into an unbounded allocation.

use std::path::Path;

/// Said when a file is of another type.
pub const KINDS_TEXT: &str = ".txt, .md, .html or .pdf";

/// Any single compressed stream of a PDF, and any page's content, decompresses to at most this.
const MAX_PDF_STREAM_BYTES: usize = 32 * 1024 * 1024;
/// The text extracted from one file, at most (more than a whole book).
const MAX_TEXT_BYTES: usize = 16 * 1024 * 1024;
/// HTML paragraphs are wrapped at this width; a newline inside a paragraph is harmless for
/// search and chunking, and a bounded width keeps html2text from padding lines.
const HTML_WIDTH: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Markdown,
    Html,
    Pdf,
}

impl Kind {
    /// The kind of a file by its name's extension, or `None` for a type not ingested.
    pub fn of(name: &str) -> Option<Self> {
        let extension = Path::new(name)
            .extension()
            .and_then(|e| e.to_str())?
            .to_ascii_lowercase();
        match extension.as_str() {
            "txt" => Some(Self::Text),
            "md" | "markdown" => Some(Self::Markdown),
            "html" | "htm" => Some(Self::Html),
            "pdf" => Some(Self::Pdf),
            _ => None,
        }
    }
}

/// A file's text and the title found in it (a Markdown heading, an HTML `<title>`).
#[derive(Debug)]
pub struct FileText {
    pub text: String,
    pub title: Option<String>,
}

/// Reads the text of a file named `name` (its extension says the kind). The error says what
/// is wrong in words, without the file name (the caller puts it in front).
pub fn extract(name: &str, bytes: &[u8]) -> Result<FileText, String> {
    let kind = Kind::of(name).ok_or_else(|| format!("not a {KINDS_TEXT} file"))?;
    let file = match kind {
        Kind::Text | Kind::Markdown => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| "not UTF-8 text".to_owned())?
                .to_owned();
            let title = if kind == Kind::Markdown {
                markdown_title(&text)
            } else {
                None
            };
            FileText { text, title }
        }
        Kind::Html => html_text(bytes)?,
        Kind::Pdf => pdf_text(bytes)?,
    };
    if file.text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "holds more than {} MiB of text",
            MAX_TEXT_BYTES / 1024 / 1024
        ));
    }
    Ok(file)
}

fn markdown_title(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("# "))
        .map(|l| l.trim_start_matches("# ").trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// Elements nested deeper than this are refused: parsing and rendering HTML costs time
/// growing with the square of the nesting (2 MiB of `<div>`s would take hours), and real
/// pages stay far below it.
const MAX_HTML_DEPTH: usize = 256;

/// Elements that never hold others (void) or whose end tag may be left out (a new `<p>`,
/// `<li>`, `<td>` closes the previous one): not counted as nesting.
const UNCOUNTED: [&str; 34] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "param", "keygen", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th",
    "thead", "tbody", "tfoot", "colgroup", "caption", "rb", "rt", "rp", "html", "head",
];

/// How deeply the page's elements nest, at most, read from its tags (a lenient scan: it
/// only needs to be close for the pages that matter, deeply nested ones).
fn html_depth_exceeds(bytes: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut i = 0;
    let find = |from: usize, needle: &[u8]| {
        memchr::memmem::find(&bytes[from.min(bytes.len())..], needle).map(|at| from + at)
    };
    while let Some(at) = memchr::memchr(b'<', &bytes[i..]).map(|at| i + at) {
        let rest = &bytes[at + 1..];
        if rest.starts_with(b"!--") {
            i = find(at + 4, b"-->").map_or(bytes.len(), |end| end + 3);
            continue;
        }
        let closing = rest.first() == Some(&b'/');
        let name_start = at + 1 + usize::from(closing);
        let name_len = bytes[name_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let name =
            String::from_utf8_lossy(&bytes[name_start..name_start + name_len]).to_ascii_lowercase();
        let Some(end) = memchr::memchr(b'>', &bytes[name_start..]).map(|e| name_start + e) else {
            break;
        };
        i = end + 1;
        if name.is_empty() || UNCOUNTED.contains(&name.as_str()) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else if bytes[end - 1] != b'/' {
            if matches!(name.as_str(), "script" | "style" | "textarea" | "title") {
                // Their text is not markup: skip to their end tag.
                i = find(i, format!("</{name}").as_bytes()).unwrap_or(bytes.len());
                continue;
            }
            depth += 1;
            if depth > max {
                return true;
            }
        }
    }
    false
}

fn html_text(bytes: &[u8]) -> Result<FileText, String> {
    if html_depth_exceeds(bytes, MAX_HTML_DEPTH) {
        return Err(format!(
            "HTML nested more than {MAX_HTML_DEPTH} elements deep"
        ));
    }
    // Raw mode renders table cells one after the other instead of laying out columns.
    let render = |input: &[u8]| {
        html2text::config::plain_no_decorate()
            .raw_mode(true)
            .allow_width_overflow()
            .string_from_read(input, HTML_WIDTH)
            .map_err(|e| format!("not readable HTML: {e}"))
    };
    let text = render(bytes)?;
    let title = html_title(bytes)
        .and_then(|inner| render(inner.as_bytes()).ok())
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty());
    Ok(FileText { text, title })
}

/// The markup inside `<title>…</title>` (entities still encoded), if the page has one.
fn html_title(bytes: &[u8]) -> Option<String> {
    static TITLE: std::sync::LazyLock<Option<regex::bytes::Regex>> =
        std::sync::LazyLock::new(|| {
            regex::bytes::Regex::new(r"(?is)<title[^>]*>(.*?)</title").ok()
        });
    let found = TITLE.as_ref()?.captures(bytes)?.get(1)?;
    let inner = String::from_utf8_lossy(found.as_bytes());
    // A title is a line, not a page: a runaway match is not one.
    (inner.len() <= 4096).then(|| inner.into_owned())
}

fn pdf_text(bytes: &[u8]) -> Result<FileText, String> {
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(MAX_PDF_STREAM_BYTES),
        ..Default::default()
    };
    // A parser bug on a hostile file must be a refused file, not a lost request.
    let loaded =
        std::panic::catch_unwind(|| lopdf::Document::load_mem_with_options(bytes, options))
            .map_err(|_| "not a readable PDF".to_owned())?;
    let document = loaded.map_err(|e| format!("not a readable PDF: {e}"))?;
    let mut text = String::new();
    for page in document.get_pages().keys() {
        let page_text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            document.extract_text_with_limit(&[*page], MAX_PDF_STREAM_BYTES)
        }))
        .map_err(|_| format!("page {page} could not be read"))?
        .map_err(|e| format!("page {page} could not be read: {e}"))?;
        text.push_str(&page_text);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if text.len() > MAX_TEXT_BYTES {
            break;
        }
    }
    if text.trim().is_empty() {
        return Err("a PDF without a text layer (a scan? run OCR on it first)".into());
    }
    Ok(FileText {
        text: unligature(&text),
        title: None,
    })
}

/// Typesetters (LaTeX, Chromium, word processors) write `office` with the single glyph `ﬃ`;
/// as text it would never match what a person types, so the Latin ligatures are spelled out.
fn unligature(text: &str) -> String {
    if !text.chars().any(|c| ('\u{FB00}'..='\u{FB06}').contains(&c)) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_extension() {
        assert_eq!(Kind::of("a/Guide.MD"), Some(Kind::Markdown));
        assert_eq!(Kind::of("page.htm"), Some(Kind::Html));
        assert_eq!(Kind::of("report.PDF"), Some(Kind::Pdf));
        assert_eq!(Kind::of("image.png"), None);
        assert_eq!(Kind::of("README"), None);
    }

    #[test]
    fn html_loses_its_markup_scripts_and_styles() {
        let page = b"<html><head><title>Tea &amp; biscuits</title><style>p{color:red}</style>\
            <script>var secret = 1;</script></head><body><h1>Brewing</h1>\
            <p>Steep the <b>oolong</b> for three minutes.</p>\
            <table><tr><td>Green</td><td>80&deg;C</td></tr></table></body></html>";
        let file = extract("tea.html", page).expect("html");
        assert!(
            file.text.contains("Steep the oolong for three minutes."),
            "{}",
            file.text
        );
        assert!(file.text.contains("Green"), "{}", file.text);
        assert!(file.text.contains("80°C"), "{}", file.text);
        for markup in ["<", "color:red", "secret"] {
            assert!(!file.text.contains(markup), "{markup} in {}", file.text);
        }
        assert_eq!(file.title.as_deref(), Some("Tea & biscuits"));
    }

    #[test]
    fn deeply_nested_html_is_refused_quickly() {
        let deep = format!("{}x{}", "<div>".repeat(400_000), "</div>".repeat(400_000));
        let started = std::time::Instant::now();
        let refused = extract("deep.html", deep.as_bytes()).unwrap_err();
        assert!(refused.contains("nested more than 256"), "{refused}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Wide is fine: many siblings, unclosed paragraphs and list items, void elements.
        let wide = format!(
            "<ul>{}</ul>{}<div><script>{}</script></div>",
            "<li>item<br><img src=x>".repeat(5000),
            "<p>para".repeat(5000),
            "<div>".repeat(1000)
        );
        assert!(!html_depth_exceeds(wide.as_bytes(), 256));
        let ok = format!("{}x{}", "<div>".repeat(200), "</div>".repeat(200));
        assert!(extract("ok.html", ok.as_bytes()).is_ok());
    }

    #[test]
    fn ligatures_are_spelled_out() {
        assert_eq!(
            unligature("the \u{FB01}rst \u{FB02}u\u{FB00}y o\u{FB03}ce"),
            "the first fluffy office"
        );
        assert_eq!(unligature("plain"), "plain");
    }

    #[test]
    fn unreadable_files_say_why() {
        assert!(
            extract("notes.txt", &[0xff, 0xfe, 0x00])
                .unwrap_err()
                .contains("UTF-8")
        );
        assert!(
            extract("broken.pdf", b"not a pdf at all")
                .unwrap_err()
                .contains("PDF")
        );
        assert!(extract("image.png", b"x").unwrap_err().contains(".pdf"));
    }
}
