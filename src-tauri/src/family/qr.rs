//! Reads an invite from a picture of its QR code (a screenshot or a photo, PNG or JPEG),
//! in Rust: `image` decodes the file, `rqrr` finds and reads the code.

use super::FamilyError;

/// The text of the first QR code found in the picture `bytes`.
pub fn read(bytes: &[u8]) -> Result<String, FamilyError> {
    let picture = image::load_from_memory(bytes).map_err(|_| FamilyError::NotAPicture)?.into_luma8();
    let (width, height) = (picture.width() as usize, picture.height() as usize);
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| picture.get_pixel(x as u32, y as u32).0[0]);
    prepared
        .detect_grids()
        .iter()
        .find_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .ok_or(FamilyError::NoQrCode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_engines_own_qr_picture_and_refuses_others() {
        let path = std::env::temp_dir().join(format!("itc-qr-test-{}.png", std::process::id()));
        iptincan::code::write_qr_png("ITC-example.secret", &path, 6).expect("writes the QR");
        let bytes = std::fs::read(&path).expect("reads it back");
        std::fs::remove_file(&path).expect("cleans up");
        assert_eq!(read(&bytes).expect("decodes"), "ITC-example.secret");
        assert!(matches!(read(b"not a picture"), Err(FamilyError::NotAPicture)));
    }
}
