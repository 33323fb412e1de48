//! Invites as the app meets them: pasted, read from a QR picture, or an `itc://join/` link the
//! OS passed on. The engine's `code::Invite` parses both forms.

use super::FamilyError;
use iptincan::code::Invite;

/// The invite in `text` (its text or its link), checked, with its bare `ITC-…` text.
pub fn invite_text(text: &str) -> Result<(String, Invite), FamilyError> {
    let invite = Invite::decode(text).map_err(|_| FamilyError::NotAnInvite)?;
    let bare = invite.encode().map_err(|_| FamilyError::NotAnInvite)?;
    Ok((bare, invite))
}

/// The first argument that is an `itc://` link, as the OS passes a clicked link to the app.
pub fn link_in_args<I: IntoIterator<Item = String>>(args: I) -> Option<String> {
    args.into_iter().find(|arg| arg.get(..6).is_some_and(|scheme| scheme.eq_ignore_ascii_case("itc://")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iptincan::code::ConnectionCode;

    #[test]
    fn accepts_the_text_and_the_link_and_finds_the_link_in_arguments() {
        let code = ConnectionCode {
            name: "Smiths".into(),
            host: "127.0.0.1".into(),
            port: 3784,
            tls: true,
            fingerprint: Some([7; 32]),
        };
        let invite = Invite { code, secret: Invite::new_secret() };
        let (text, link) = (invite.encode().expect("encodes"), invite.link().expect("links"));
        for form in [text.clone(), format!("  {link}\n")] {
            let (bare, read) = invite_text(&form).expect("an invite");
            assert_eq!(bare, text);
            assert_eq!(read.code.name, "Smiths");
        }
        for bad in ["", "itc://join/", "https://example.com/ITC-x", "ITC-garbage"] {
            assert!(matches!(invite_text(bad), Err(FamilyError::NotAnInvite)), "{bad}");
        }
        let args = ["iptincan-tray".to_string(), "--in-tray".into(), link.clone()];
        assert_eq!(link_in_args(args), Some(link));
        assert_eq!(link_in_args(["iptincan-tray".to_string()]), None);
    }
}
