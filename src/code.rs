//! Connection codes (`ITC-…`) and their QR rendering.
//!
//! A connection code is `ITC-` followed by unpadded base64url of a versioned binary payload:
//!
//! ```text
//! version u8 (=1) | flags u8 (bit0 TLS, bit1 fingerprint present) | port u16 BE
//! | [fingerprint 32 bytes, SHA-256 of the server certificate's DER]
//! | host_len u8 | host UTF-8 | name_len u8 | name UTF-8
//! | check 4 bytes = first 4 bytes of SHA-256 over everything before it
//! ```
//!
//! The check bytes turn a mistyped or truncated code into a clear error instead of a wrong
//! server.
//!
//! An invite is a connection code, a `.` (never part of base64url), and the invite's secret
//! (16 random bytes, base64url): `ITC-<code>.<secret>`. One QR code holds everything a new
//! member needs: where the server is, how to trust it, and the right to make an account.
//!
//! Either text also exists as a link, `itc://join/` followed by the text ([`LINK_PREFIX`]), so a
//! click in an e-mail opens the app. Every decoder here accepts both forms: the scheme and the
//! `join` host in any letter case, one trailing `/`, and percent-encoded characters; it rejects
//! other schemes, other `itc://` actions, further path parts, queries and fragments.
//!
//! Sans-IO except for [`write_qr_png`], which writes a file.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use qrcode::{Color, QrCode};
use std::borrow::Cow;
use std::path::Path;

/// What every connection code starts with.
pub(crate) const PREFIX: &str = "ITC-";
/// What the link form of an invite or connection code starts with.
pub const LINK_PREFIX: &str = "itc://join/";
const VERSION: u8 = 1;
const FLAG_TLS: u8 = 1;
const FLAG_FINGERPRINT: u8 = 2;
const CHECK_LEN: usize = 4;

/// Everything a client needs to reach and trust a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionCode {
    /// Server name, for display.
    pub name: String,
    /// Host name or IP address.
    pub host: String,
    /// Control port (TCP).
    pub port: u16,
    /// Whether the control port speaks TLS.
    pub tls: bool,
    /// SHA-256 of the server certificate (DER); pins it from the first connection.
    pub fingerprint: Option<[u8; 32]>,
}

/// Why a string is not a valid connection code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeError {
    /// It does not start with `ITC-`.
    #[error("a connection code starts with \"ITC-\"")]
    MissingPrefix,
    /// Characters outside base64url.
    #[error("the connection code contains characters that cannot appear in one; check for typos")]
    BadCharacters,
    /// The check bytes do not match: mistyped or cut short.
    #[error("the connection code is damaged (mistyped or cut short); copy it again")]
    Corrupted,
    /// Made by a newer version.
    #[error("the connection code has version {0}; this program understands version {VERSION} (update it)")]
    UnsupportedVersion(u8),
    /// No host to put in the code.
    #[error("cannot make a connection code without a host")]
    EmptyHost,
    /// A field is too long to encode.
    #[error("cannot make a connection code: {0} is longer than 255 bytes")]
    FieldTooLong(&'static str),
    /// Not an invite: no `.` and secret after the connection code.
    #[error("this is a connection code, not an invite (an invite ends with \".\" and a secret)")]
    NotAnInvite,
    /// The secret after the `.` is not 16 bytes of base64url.
    #[error("the invite's secret is damaged (mistyped or cut short); copy the invite again")]
    BadInviteSecret,
    /// A link that is not an `itc://join/ITC-…` link (another scheme, action, path, query…).
    #[error("this link is not an IPTinCan invite; an invite link looks like itc://join/ITC-…")]
    BadLink,
}

/// Separates the connection code from the secret in an invite.
pub const INVITE_SEPARATOR: char = '.';
/// Bytes of randomness in an invite secret.
pub(crate) const INVITE_SECRET_BYTES: usize = 16;

/// A connection code plus the secret that lets its holder create an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// Where the server is and how to trust it.
    pub code: ConnectionCode,
    /// The secret (base64url of [`INVITE_SECRET_BYTES`] bytes) the server redeems.
    pub secret: String,
}

impl Invite {
    /// A fresh random secret.
    pub fn new_secret() -> String {
        URL_SAFE_NO_PAD.encode(crate::random::random_bytes::<INVITE_SECRET_BYTES>())
    }

    /// The `ITC-<code>.<secret>` text.
    pub fn encode(&self) -> Result<String, CodeError> {
        check_secret(&self.secret)?;
        Ok(format!("{}{INVITE_SEPARATOR}{}", self.code.encode()?, self.secret))
    }

    /// The `itc://join/ITC-<code>.<secret>` link.
    pub fn link(&self) -> Result<String, CodeError> {
        Ok(format!("{LINK_PREFIX}{}", self.encode()?))
    }

    /// Parses and checks an invite text or link. Surrounding whitespace is ignored.
    pub fn decode(text: &str) -> Result<Invite, CodeError> {
        let text = unwrap_link(text)?;
        let text = text.as_ref();
        let code = ConnectionCode::decode(text.split(INVITE_SEPARATOR).next().unwrap_or(text))?;
        let secret = text.split_once(INVITE_SEPARATOR).map(|(_, secret)| secret).ok_or(CodeError::NotAnInvite)?;
        check_secret(secret)?;
        Ok(Invite { code, secret: secret.to_string() })
    }
}

/// The connection code in a connection code or an invite, either in text or link form.
pub fn decode_code_or_invite(text: &str) -> Result<ConnectionCode, CodeError> {
    if text.contains(INVITE_SEPARATOR) {
        Ok(Invite::decode(text)?.code)
    } else {
        ConnectionCode::decode(text)
    }
}

/// Whether `text` is meant as a connection code or invite, in text or link form (rather than
/// an address): it starts with `ITC-` or has a URL scheme.
pub(crate) fn is_code_like(text: &str) -> bool {
    let text = text.trim();
    text.get(..PREFIX.len()).is_some_and(|prefix| prefix.eq_ignore_ascii_case(PREFIX)) || text.contains("://")
}

/// The code or invite text inside an `itc://join/` link, or the trimmed text itself when it is
/// not a link.
fn unwrap_link(text: &str) -> Result<Cow<'_, str>, CodeError> {
    let text = text.trim();
    if !text.contains("://") {
        return Ok(Cow::Borrowed(text));
    }
    let body = match text.get(..LINK_PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(LINK_PREFIX) => &text[LINK_PREFIX.len()..],
        _ => return Err(CodeError::BadLink),
    };
    let body = body.strip_suffix('/').unwrap_or(body);
    if body.is_empty() || body.contains(['/', '?', '#']) {
        return Err(CodeError::BadLink);
    }
    let body = percent_decode(body)?;
    if body.contains(char::is_whitespace) {
        return Err(CodeError::BadLink);
    }
    Ok(Cow::Owned(body))
}

/// Undoes `%XX` escapes; a `%` not followed by two hex digits, or escapes that do not make
/// UTF-8, are a bad link. What the escapes decode to is checked by the code's own decoder.
fn percent_decode(text: &str) -> Result<String, CodeError> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail.get(..2).and_then(|hex| std::str::from_utf8(hex).ok()).ok_or(CodeError::BadLink)?;
            bytes.push(u8::from_str_radix(hex, 16).map_err(|_| CodeError::BadLink)?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).map_err(|_| CodeError::BadLink)
}

fn check_secret(secret: &str) -> Result<(), CodeError> {
    match URL_SAFE_NO_PAD.decode(secret) {
        Ok(bytes) if bytes.len() == INVITE_SECRET_BYTES => Ok(()),
        _ => Err(CodeError::BadInviteSecret),
    }
}

/// Why a QR picture could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The text does not fit in a QR code.
    #[error("text too long for a QR code: {0}")]
    TooLong(#[from] qrcode::types::QrError),
    /// The PNG could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl ConnectionCode {
    /// The `ITC-…` text.
    pub fn encode(&self) -> Result<String, CodeError> {
        if self.host.is_empty() {
            return Err(CodeError::EmptyHost);
        }
        let mut body = vec![VERSION, 0, 0, 0];
        if self.tls {
            body[1] |= FLAG_TLS;
        }
        body[2..4].copy_from_slice(&self.port.to_be_bytes());
        if let Some(fingerprint) = &self.fingerprint {
            body[1] |= FLAG_FINGERPRINT;
            body.extend_from_slice(fingerprint);
        }
        push_short_string(&mut body, &self.host, "host")?;
        push_short_string(&mut body, &self.name, "server name")?;
        let check = ring::digest::digest(&ring::digest::SHA256, &body);
        body.extend_from_slice(&check.as_ref()[..CHECK_LEN]);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(body)))
    }

    /// Parses and checks an `ITC-…` text or its link. Surrounding whitespace is ignored.
    pub fn decode(text: &str) -> Result<Self, CodeError> {
        let text = unwrap_link(text)?;
        let text = text.as_ref();
        let encoded = match text.get(..PREFIX.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(PREFIX) => &text[PREFIX.len()..],
            _ => return Err(CodeError::MissingPrefix),
        };
        let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|err| match err {
            base64::DecodeError::InvalidByte(..) => CodeError::BadCharacters,
            _ => CodeError::Corrupted,
        })?;
        if bytes.len() < CHECK_LEN + 1 {
            return Err(CodeError::Corrupted);
        }
        let (body, check) = bytes.split_at(bytes.len() - CHECK_LEN);
        let expected = ring::digest::digest(&ring::digest::SHA256, body);
        if &expected.as_ref()[..CHECK_LEN] != check {
            return Err(CodeError::Corrupted);
        }
        let mut reader = Reader { rest: body };
        let version = reader.byte()?;
        if version != VERSION {
            return Err(CodeError::UnsupportedVersion(version));
        }
        let flags = reader.byte()?;
        let port = u16::from_be_bytes([reader.byte()?, reader.byte()?]);
        let fingerprint = if flags & FLAG_FINGERPRINT != 0 {
            let mut fingerprint = [0u8; 32];
            fingerprint.copy_from_slice(reader.take(32)?);
            Some(fingerprint)
        } else {
            None
        };
        let host = reader.short_string()?;
        let name = reader.short_string()?;
        if !reader.rest.is_empty() || host.is_empty() {
            return Err(CodeError::Corrupted);
        }
        Ok(ConnectionCode { name, host, port, tls: flags & FLAG_TLS != 0, fingerprint })
    }
}

fn push_short_string(out: &mut Vec<u8>, value: &str, field: &'static str) -> Result<(), CodeError> {
    let len = u8::try_from(value.len()).map_err(|_| CodeError::FieldTooLong(field))?;
    out.push(len);
    out.extend_from_slice(value.as_bytes());
    Ok(())
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodeError> {
        if self.rest.len() < n {
            return Err(CodeError::Corrupted);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, CodeError> {
        Ok(self.take(1)?[0])
    }

    fn short_string(&mut self) -> Result<String, CodeError> {
        let len = self.byte()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CodeError::Corrupted)
    }
}

/// The QR code of `text` as lines of Unicode half blocks, for a terminal.
pub fn render_qr_terminal(text: &str) -> Result<String, QrError> {
    let code = QrCode::new(text.as_bytes())?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// The QR code of `text` as an SVG picture (black on white, with its quiet zone), for a page.
pub(crate) fn render_qr_svg(text: &str) -> Result<String, QrError> {
    let code = QrCode::new(text.as_bytes())?;
    Ok(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(256, 256).quiet_zone(true).build())
}

/// Writes the QR code of `text` as a black-on-white PNG, `scale` pixels per module.
pub fn write_qr_png(text: &str, path: &Path, scale: u32) -> Result<(), QrError> {
    let code = QrCode::new(text.as_bytes())?;
    let modules = code.width() as u32;
    let quiet = 4;
    let side = (modules + 2 * quiet) * scale;
    let colors = code.to_colors();
    let mut pixels = vec![255u8; (side * side) as usize];
    for (index, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (index as u32 % modules, index as u32 / modules);
        for y in 0..scale {
            let row = (my + quiet) * scale + y;
            let start = (row * side + (mx + quiet) * scale) as usize;
            pixels[start..start + scale as usize].fill(0);
        }
    }
    let write_err = |source| QrError::Write { path: path.display().to_string(), source };
    let file = std::fs::File::create(path).map_err(write_err)?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let to_io = |err: png::EncodingError| std::io::Error::other(err.to_string());
    let mut writer = encoder.write_header().map_err(to_io).map_err(write_err)?;
    writer.write_image_data(&pixels).map_err(to_io).map_err(write_err)?;
    writer.finish().map_err(to_io).map_err(write_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ConnectionCode {
        ConnectionCode {
            name: "Smith family".into(),
            host: "192.168.1.20".into(),
            port: 3784,
            tls: true,
            fingerprint: Some([0xab; 32]),
        }
    }

    #[test]
    fn round_trips() {
        let code = sample();
        let text = code.encode().expect("encodes");
        assert!(text.starts_with("ITC-"));
        assert_eq!(ConnectionCode::decode(&text), Ok(code));
        let plain = ConnectionCode { tls: false, fingerprint: None, name: "Zoë's 🏠".into(), ..sample() };
        let text = plain.encode().expect("encodes");
        assert_eq!(ConnectionCode::decode(&format!("  {text}\n")), Ok(plain));
    }

    #[test]
    fn every_single_character_change_is_caught() {
        let text = sample().encode().expect("encodes");
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for index in PREFIX.len()..text.len() {
            let original = text.as_bytes()[index] as char;
            let replacement = alphabet.chars().find(|c| *c != original).expect("alphabet");
            let mut damaged = text.clone();
            damaged.replace_range(index..index + 1, &replacement.to_string());
            // The last character may carry only padding bits, which base64 decoders may ignore.
            if let Ok(decoded) = ConnectionCode::decode(&damaged) {
                assert_eq!(decoded, sample(), "change at {index} decoded to a different server");
            }
        }
    }

    #[test]
    fn clear_errors() {
        let text = sample().encode().expect("encodes");
        assert_eq!(ConnectionCode::decode("XYZ-abc"), Err(CodeError::MissingPrefix));
        assert_eq!(ConnectionCode::decode("ITC-ab$c"), Err(CodeError::BadCharacters));
        assert_eq!(ConnectionCode::decode(&text[..text.len() - 6]), Err(CodeError::Corrupted));
        assert_eq!(ConnectionCode::decode("ITC-"), Err(CodeError::Corrupted));

        let mut future = vec![9u8, 0, 0, 1, 1, b'h', 0];
        let check = ring::digest::digest(&ring::digest::SHA256, &future);
        future.extend_from_slice(&check.as_ref()[..4]);
        let future = format!("ITC-{}", URL_SAFE_NO_PAD.encode(future));
        assert_eq!(ConnectionCode::decode(&future), Err(CodeError::UnsupportedVersion(9)));

        let long = ConnectionCode { host: "h".repeat(256), ..sample() };
        assert_eq!(long.encode(), Err(CodeError::FieldTooLong("host")));
        let hostless = ConnectionCode { host: String::new(), ..sample() };
        assert_eq!(hostless.encode(), Err(CodeError::EmptyHost));
        let text = sample().encode().expect("encodes");
        assert_eq!(ConnectionCode::decode(&text.replacen("ITC", "Itc", 1)), Ok(sample()));
    }

    #[test]
    fn invites_round_trip_and_explain_their_errors() {
        let invite = Invite { code: sample(), secret: Invite::new_secret() };
        let text = invite.encode().expect("encodes");
        assert_eq!(Invite::decode(&format!("  {text}\n")), Ok(invite.clone()));
        assert_eq!(ConnectionCode::decode(&text), Err(CodeError::BadCharacters), "an invite is not a bare code");
        assert_eq!(Invite::decode(&sample().encode().expect("encodes")), Err(CodeError::NotAnInvite));
        assert_eq!(Invite::decode(&text[..text.len() - 3]), Err(CodeError::BadInviteSecret));
        let code_part = text.split('.').next().expect("code part");
        assert_eq!(Invite::decode(&format!("{code_part}.{}", "x".repeat(22))), Err(CodeError::BadInviteSecret));
        let mut damaged = text.clone().into_bytes();
        damaged[10] = if damaged[10] == b'A' { b'B' } else { b'A' };
        assert_eq!(Invite::decode(&String::from_utf8(damaged).expect("ascii")), Err(CodeError::Corrupted));
        assert_ne!(Invite::new_secret(), Invite::new_secret());
    }

    #[test]
    fn links_decode_like_the_text() {
        let invite = Invite { code: sample(), secret: Invite::new_secret() };
        let text = invite.encode().expect("encodes");
        let link = invite.link().expect("links");
        assert_eq!(link, format!("itc://join/{text}"));
        for accepted in [
            link.clone(),
            format!("  {link}\n"),
            format!("{link}/"),
            link.replacen("itc://join/", "ITC://Join/", 1),
            link.replacen('.', "%2E", 1),
            link.replacen("ITC-", "%49TC-", 1),
        ] {
            assert_eq!(Invite::decode(&accepted), Ok(invite.clone()), "{accepted:?}");
        }
        let code_link = format!("itc://join/{}", sample().encode().expect("encodes"));
        assert_eq!(ConnectionCode::decode(&code_link), Ok(sample()));
        assert_eq!(Invite::decode(&code_link), Err(CodeError::NotAnInvite));
    }

    #[test]
    fn hostile_links_are_refused() {
        let text = Invite { code: sample(), secret: Invite::new_secret() }.encode().expect("encodes");
        let bad_link = [
            format!("https://join/{text}"),
            format!("http://example.com/itc://join/{text}"),
            format!("javascript://join/{text}"),
            format!("itc://leave/{text}"),
            format!("itc://join/extra/{text}"),
            format!("itc://join/{text}/extra"),
            format!("itc://join/{text}//"),
            format!("itc://join/{text}?secret=x"),
            format!("itc://join/{text}#x"),
            format!("itc://join/{text}%2Fx"),
            format!("itc://join/{text}%"),
            format!("itc://join/{text}%4"),
            format!("itc://join/{text}%zz"),
            format!("itc://join/{text}%ff"),
            "itc://join/".to_string(),
            "itc://join//".to_string(),
            "itc://".to_string(),
        ];
        for link in bad_link {
            let result = Invite::decode(&link);
            assert!(result.is_err(), "{link:?} decoded");
            // `%2F` decodes to `/`, which the code's own decoder rejects as a character.
            assert!(
                matches!(result, Err(CodeError::BadLink | CodeError::BadCharacters | CodeError::BadInviteSecret)),
                "{link:?}: {result:?}"
            );
        }
        for wrapped in [
            format!("itc://join/{}", text.replacen('-', "- ", 1)),
            format!("itc://join/ {text}"),
            format!("itc://join/%20{text}"),
        ] {
            assert!(Invite::decode(&wrapped).is_err(), "{wrapped:?} decoded");
        }
        assert!(is_code_like(" itc://join/x") && is_code_like("itc-x") && is_code_like("https://x"));
        assert!(!is_code_like("chat.example.com:3784"));
    }

    #[test]
    fn terminal_qr_has_square_shape() {
        let art = render_qr_terminal("ITC-test").expect("renders");
        let lines: Vec<&str> = art.lines().collect();
        assert!(lines.len() > 10);
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|line| line.chars().count() == width));
    }
}
