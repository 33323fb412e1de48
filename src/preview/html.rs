//! What a page says about itself: its `og:title`, `og:description` and `og:image` meta tags,
//! else `<title>` and the `description` meta tag. A small tag scanner over the start of the
//! page (no DOM is built): enough for the head of a page, which is all a preview reads.

/// Longest title kept, in characters.
const MAX_TITLE_CHARS: usize = 200;
/// Longest description kept, in characters.
const MAX_DESCRIPTION_CHARS: usize = 500;
/// Longest image URL kept, in bytes.
const MAX_IMAGE_LEN: usize = 2048;

/// The title, description and image URL (as written, possibly relative) of a page.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PageInfo {
    /// `og:title`, else `<title>`.
    pub title: Option<String>,
    /// `og:description`, else the `description` meta tag.
    pub description: Option<String>,
    /// `og:image` (or `og:image:url`).
    pub image: Option<String>,
}

/// Reads a page's head.
pub fn page_info(html: &str) -> PageInfo {
    let lower = html.to_ascii_lowercase();
    let mut og = PageInfo::default();
    let (mut title, mut description) = (None, None);
    let mut at = 0;
    while let Some(found) = lower[at..].find('<') {
        let start = at + found;
        let Some(end) = lower[start..].find('>').map(|end| start + end) else { break };
        let tag = &html[start + 1..end];
        let name: String =
            tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        match name.as_str() {
            "meta" => {
                let attrs = attributes(&tag[name.len()..]);
                let get = |key: &str| attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
                let (Some(key), Some(content)) = (get("property").or_else(|| get("name")), get("content")) else {
                    at = end + 1;
                    continue;
                };
                let slot = match key.to_ascii_lowercase().as_str() {
                    "og:title" => &mut og.title,
                    "og:description" => &mut og.description,
                    "og:image" | "og:image:url" => &mut og.image,
                    "description" => &mut description,
                    _ => {
                        at = end + 1;
                        continue;
                    }
                };
                slot.get_or_insert(content);
            }
            "title" if title.is_none() => {
                if let Some(close) = lower[end..].find("</title") {
                    title = Some(decode_entities(&html[end + 1..end + close]));
                }
            }
            "body" => break,
            _ => {}
        }
        at = end + 1;
    }
    PageInfo {
        title: tidy(og.title.or(title), MAX_TITLE_CHARS),
        description: tidy(og.description.or(description), MAX_DESCRIPTION_CHARS),
        image: og.image.map(|image| image.trim().to_string()).filter(|i| !i.is_empty() && i.len() <= MAX_IMAGE_LEN),
    }
}

/// Collapses white space and shortens to `max` characters; `None` when nothing is left.
fn tidy(text: Option<String>, max: usize) -> Option<String> {
    let text = text?.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return None;
    }
    Some(if text.chars().count() > max {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    } else {
        text
    })
}

/// The attributes of a tag (after its name), names in lower case, values entity-decoded.
fn attributes(mut rest: &str) -> Vec<(String, String)> {
    let mut attrs = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        let name_len = rest.find(|c: char| c.is_whitespace() || c == '=' || c == '/').unwrap_or(rest.len());
        if name_len == 0 {
            return attrs;
        }
        let name = rest[..name_len].to_ascii_lowercase();
        rest = rest[name_len..].trim_start();
        let Some(after_eq) = rest.strip_prefix('=') else {
            attrs.push((name, String::new()));
            continue;
        };
        let after_eq = after_eq.trim_start();
        let (value, remainder) = match after_eq.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let inner = &after_eq[1..];
                let close = inner.find(quote).unwrap_or(inner.len());
                (&inner[..close], inner.get(close + 1..).unwrap_or(""))
            }
            _ => {
                let end = after_eq.find(char::is_whitespace).unwrap_or(after_eq.len());
                (&after_eq[..end], &after_eq[end..])
            }
        };
        attrs.push((name, decode_entities(value)));
        rest = remainder;
    }
}

/// Decodes the character references a head uses: `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`,
/// `&nbsp;` and numeric ones; others stay as written.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn og_tags_win_over_title_and_description() {
        let html = r#"<!doctype html><HTML><head><meta charset="utf-8"><title>Plain &amp; simple</title>
            <meta name="description" content="the plain one">
            <meta property='og:title' content="Grandma&#39;s   pie">
            <meta content="A pie &quot;recipe&quot;" property="og:description"/>
            <meta property=og:image content=https://example.com/pie.jpg>
            </head><body><meta property="og:title" content="not this"></body></html>"#;
        let info = page_info(html);
        assert_eq!(info.title.as_deref(), Some("Grandma's pie"));
        assert_eq!(info.description.as_deref(), Some("A pie \"recipe\""));
        assert_eq!(info.image.as_deref(), Some("https://example.com/pie.jpg"));
    }

    #[test]
    fn without_og_tags_the_title_and_description_serve_and_junk_is_harmless() {
        let info =
            page_info("<title>\n  Hello\n  world </title><meta name=Description content='Hi &#x1F600; &bogus; &'>");
        assert_eq!(info.title.as_deref(), Some("Hello world"));
        assert_eq!(info.description.as_deref(), Some("Hi 😀 &bogus; &"));
        assert_eq!(info.image, None);
        assert_eq!(page_info("<title>unclosed"), PageInfo::default());
        assert_eq!(page_info("<<<>>> <meta <title></title> < meta"), PageInfo::default());
        let long = format!("<title>{}</title>", "é".repeat(300));
        assert_eq!(page_info(&long).title.map(|t| t.chars().count()), Some(MAX_TITLE_CHARS));
    }
}
