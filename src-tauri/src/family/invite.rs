//! Invite texts and links: `ITC-…` or `itc://join/ITC-…`, as pasted, clicked or read from a
//! QR picture.

use super::FamilyError;
use iptincan::code::Invite;

/// The link form's prefix.
pub const LINK_PREFIX: &str = "itc://join/";

/// The invite text inside `text` (a link or the text itself, surrounding space ignored),
/// checked: it decodes as an invite.
pub fn invite_text(text: &str) -> Result<(String, Invite), FamilyError> {
    let text = text.trim();
    let bare = match text.get(..LINK_PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(LINK_PREFIX) => &text[LINK_PREFIX.len()..],
        _ => text,
    };
    let bare = bare.trim_end_matches('/');
    let invite = Invite::decode(bare).map_err(|_| FamilyError::NotAnInvite)?;
    Ok((bare.to_string(), invite))
}

/// The first argument that is an `itc://` link, as the OS passes a clicked link to the app.
pub fn link_in_args<I: IntoIterator<Item = String>>(args: I) -> Option<String> {
    args.into_iter().find(|arg| arg.get(..6).is_some_and(|scheme| scheme.eq_ignore_ascii_case("itc://")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iptincan::code::ConnectionCode;

    fn sample() -> String {
        let code = ConnectionCode {
            name: "Smiths".into(),
            host: "127.0.0.1".into(),
            port: 3784,
            tls: true,
            fingerprint: Some([7; 32]),
        };
        Invite { code, secret: Invite::new_secret() }.encode().expect("encodes")
    }

    #[test]
    fn accepts_the_text_and_the_link_and_nothing_else() {
        let text = sample();
        for form in [text.clone(), format!("  {LINK_PREFIX}{text}\n"), format!("ITC://JOIN/{text}/")] {
            let (bare, invite) = invite_text(&form).expect("an invite");
            assert_eq!(bare, text);
            assert_eq!(invite.code.name, "Smiths");
        }
        for bad in ["", "itc://join/", "https://example.com/ITC-x", "ITC-garbage", "itc://join/itc://join/x"] {
            assert!(matches!(invite_text(bad), Err(FamilyError::NotAnInvite)), "{bad}");
        }
        let args = ["iptincan-tray".to_string(), "--in-tray".into(), format!("itc://join/{text}")];
        assert_eq!(link_in_args(args), Some(format!("itc://join/{text}")));
        assert_eq!(link_in_args(["iptincan-tray".to_string()]), None);
    }
}
