//! Text that people type: note text, attribute values, dropdown options, labels, team names.
//! It may not carry control characters (line breaks and tabs only in note text) or bidi
//! overrides, which would reach exports and other people's screens; text made only of
//! invisible characters counts as empty.

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineBreaks {
    Allowed,
    Refused,
}

/// The text trimmed, `""` when nothing visible is left, or `422` naming `field`.
pub fn typed<'a>(raw: &'a str, field: &str, breaks: LineBreaks) -> Result<&'a str, ApiError> {
    let allowed_control =
        |c: char| breaks == LineBreaks::Allowed && matches!(c, '\n' | '\r' | '\t');
    if raw
        .chars()
        .any(|c| (c.is_control() && !allowed_control(c)) || is_bidi_control(c))
    {
        let what = match breaks {
            LineBreaks::Allowed => "control characters other than line breaks and tabs",
            LineBreaks::Refused => "control characters",
        };
        return Err(ApiError::validation(
            field,
            format!("`{field}` must not contain {what} or bidirectional overrides"),
        ));
    }
    let text = raw.trim();
    Ok(if text.chars().all(is_invisible) {
        ""
    } else {
        text
    })
}

/// Typed text that must say something and fit: trimmed, 1..`max` characters, or `422` naming
/// `field` ("`what` must be 1..`max` characters").
pub fn bounded(
    raw: &str,
    field: &str,
    breaks: LineBreaks,
    max: usize,
    what: &str,
) -> Result<String, ApiError> {
    let text = typed(raw, field, breaks)?;
    let chars = text.chars().count();
    if chars == 0 || chars > max {
        return Err(ApiError::validation(
            field,
            format!("{what} must be 1..{max} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// Text a channel sent about a person (a name, a handle, a platform value): it cannot be
/// refused, as the message must land, so line breaks and tabs become spaces, other control
/// characters and bidirectional overrides are dropped, and it is cut to `max` characters;
/// `None` when nothing visible is left.
pub fn from_channel(raw: &str, max: usize) -> Option<String> {
    // Line breaks and tabs become spaces, so words they separated stay apart.
    let kept: String = raw
        .chars()
        .map(|c| {
            if matches!(c, '\n' | '\r' | '\t') {
                ' '
            } else {
                c
            }
        })
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect();
    let text: String = kept.trim().chars().take(max).collect();
    let text = text.trim_end();
    (!text.chars().all(is_invisible)).then(|| text.to_owned())
}

/// The longest URL kept from a channel or a CRM.
pub const URL_MAX_CHARS: usize = 2048;

/// An `https` URL with a host, of at most [`URL_MAX_CHARS`] characters and nothing a screen
/// would show differently (no control characters or bidirectional overrides): the link, as
/// sent, or `None`. A `javascript:` or `data:` URL is never one.
pub fn https_url(raw: &str) -> Option<&str> {
    let raw = raw.trim();
    let ok = raw.chars().count() <= URL_MAX_CHARS
        && !raw.chars().any(|c| c.is_control() || is_bidi_control(c))
        && url::Url::parse(raw).is_ok_and(|u| u.scheme() == "https" && u.host().is_some());
    ok.then_some(raw)
}

/// Embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069): they reorder what
/// follows them on screen, so text can be made to read as something else.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that draw nothing: Unicode's `White_Space` and `Default_Ignorable_Code_Point`
/// (zero-width spaces and joiners, format controls, fillers, variation selectors, tags), the
/// set `openapi.yaml` names.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_text_loses_control_characters_and_overrides_and_is_cut() {
        assert_eq!(
            from_channel(" Ana\u{0}\u{202E}Lima\nSilva ", 200).as_deref(),
            Some("AnaLima Silva")
        );
        assert_eq!(
            from_channel(&"é".repeat(300), 200).map(|t| t.chars().count()),
            Some(200)
        );
        assert_eq!(from_channel("\u{200B}\u{1}  ", 200), None);
    }

    #[test]
    fn only_https_urls_with_a_host_are_links() {
        assert_eq!(
            https_url(" https://cdn.example/a.png "),
            Some("https://cdn.example/a.png")
        );
        let long = format!("https://cdn.example/{}", "a".repeat(URL_MAX_CHARS));
        for bad in [
            "javascript:alert(1)",
            "JavaScript://cdn.example/%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "http://cdn.example/a.png",
            "https://cdn.example/\u{202E}gnp.exe",
            "https://",
            "cdn.example/a.png",
            long.as_str(),
        ] {
            assert_eq!(https_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn visible_text_is_trimmed() {
        assert_eq!(typed("  Gold ", "v", LineBreaks::Refused).unwrap(), "Gold");
        assert_eq!(
            typed("line one\nline\ttwo", "text", LineBreaks::Allowed).unwrap(),
            "line one\nline\ttwo"
        );
        assert_eq!(typed("مرحبا", "v", LineBreaks::Refused).unwrap(), "مرحبا");
        assert_eq!(typed("👍🏽", "v", LineBreaks::Refused).unwrap(), "👍🏽");
    }

    #[test]
    fn control_characters_and_bidi_overrides_are_refused() {
        for raw in [
            "a\0b",
            "a\u{7}",
            "a\u{1b}[31m",
            "a\u{85}",
            "evil\u{202E}txt.exe",
            "x\u{2066}y",
        ] {
            let err = typed(raw, "text", LineBreaks::Allowed).unwrap_err();
            assert_eq!(
                (err.code(), err.to_body()["error"]["field"].as_str()),
                ("validation_failed", Some("text")),
                "{raw:?}"
            );
        }
        assert!(typed("a\nb", "label", LineBreaks::Refused).is_err());
        assert!(typed("a\tb", "label", LineBreaks::Refused).is_err());
    }

    #[test]
    fn invisible_only_text_counts_as_empty() {
        for raw in [
            "\u{200B}\u{200B}",
            " \u{FEFF} ",
            "\u{2060}\u{00AD}",
            "\u{3164}",
            "\n\t",
        ] {
            assert_eq!(
                typed(raw, "text", LineBreaks::Allowed).unwrap(),
                "",
                "{raw:?}"
            );
        }
        assert_eq!(
            typed("a\u{200B}", "text", LineBreaks::Allowed).unwrap(),
            "a\u{200B}"
        );
    }

    #[test]
    fn bounded_text_is_one_to_max_characters_counted_as_scalars() {
        let bounded = |raw| bounded(raw, "label", LineBreaks::Refused, 3, "label");
        assert_eq!(bounded(" çãé ").unwrap(), "çãé");
        for raw in ["", " \u{200B} ", "abcd"] {
            let err = bounded(raw).unwrap_err();
            assert!(
                matches!(&err, ApiError::Validation { field, message }
                    if field == "label" && message == "label must be 1..3 characters"),
                "{raw:?}: {err:?}"
            );
        }
    }
}
