//! Documents: what kinds there are, and what a file's bytes say it is.
//!
//! A file's type is read from its first bytes, never taken from the client's
//! `Content-Type` or file name, and only types a browser renders harmlessly
//! (PDF, images, plain text) are accepted.

use serde::{Deserialize, Serialize};

text_enum!(
    /// What a document is.
    DocumentKind {
        Insurance => "insurance",
        Registration => "registration",
        Manual => "manual",
        Receipt => "receipt",
        Inspection => "inspection",
        Photo => "photo",
        Warranty => "warranty",
        Other => "other",
    }
);

/// The content type the bytes show, or `None` for a type we do not accept.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"%PDF-") {
        Some("application/pdf")
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.len() >= 12
        && &bytes[4..8] == b"ftyp"
        && matches!(&bytes[8..12], b"heic" | b"heix" | b"mif1" | b"heif")
    {
        Some("image/heic")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some("image/tiff")
    } else if !bytes.is_empty() && !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok() {
        Some("text/plain; charset=utf-8")
    } else {
        None
    }
}

/// A file name safe for a `Content-Disposition` header: path parts and
/// control characters dropped, quotes and backslashes replaced, at most 120
/// characters, never empty.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if matches!(c, '"' | '\\' | ';') {
                '_'
            } else {
                c
            }
        })
        .take(120)
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').to_string();
    if trimmed.is_empty() {
        "document".to_string()
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0JFIF"), Some("image/jpeg"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(
            sniff(b"Policy number 123\n"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            sniff(b"MZ\x90\0\x03\0\0\0"),
            None,
            "executables are refused"
        );
        assert_eq!(
            sniff(b"<html><script>"),
            Some("text/plain; charset=utf-8"),
            "HTML is served as text, never as HTML"
        );
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn file_names_are_made_safe() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(
            safe_file_name("C:\\docs\\card \"2024\".pdf"),
            "card _2024_.pdf"
        );
        assert_eq!(safe_file_name("a\r\nb.pdf"), "ab.pdf");
        assert_eq!(safe_file_name(""), "document");
        assert_eq!(safe_file_name(".hidden"), "hidden");
    }
}
