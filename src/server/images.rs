//! Pictures: recognising PNG, JPEG, GIF and WebP by their first bytes, making a thumbnail, and
//! re-encoding a picture without its metadata. Blocking work: callers run it on
//! `spawn_blocking`, never on the async runtime.
//!
//! Stripping re-encodes the decoded pixels (after turning them upright by their EXIF
//! orientation): JPEG at quality 90, PNG and WebP losslessly. What is written is only the
//! pixels, so EXIF (with GPS), XMP, ICC profiles, comments and text chunks are gone. GIF files
//! carry no EXIF block and are served as uploaded.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// Largest picture file the server decodes; a bigger one is stored as a plain file.
pub(crate) const MAX_IMAGE_BYTES: u64 = 32 * 1024 * 1024;
/// Widest and tallest side of a thumbnail, in pixels.
pub(crate) const THUMBNAIL_PIXELS: u32 = 256;
/// Most memory one decode may take.
const MAX_DECODE_ALLOC: u64 = 128 * 1024 * 1024;
/// Widest and tallest picture decoded.
const MAX_SIDE: u32 = 16_384;

/// A picture format the server reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF.
    Gif,
    /// WebP.
    WebP,
}

impl Format {
    /// The format of a file starting with `head`, if it is a picture the server reads.
    pub(crate) fn sniff(head: &[u8]) -> Option<Format> {
        match image::guess_format(head).ok()? {
            ImageFormat::Png => Some(Format::Png),
            ImageFormat::Jpeg => Some(Format::Jpeg),
            ImageFormat::Gif => Some(Format::Gif),
            ImageFormat::WebP => Some(Format::WebP),
            _ => None,
        }
    }

    /// Its content type.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::Gif => "image/gif",
            Format::WebP => "image/webp",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Format::Png => ImageFormat::Png,
            Format::Jpeg => ImageFormat::Jpeg,
            Format::Gif => ImageFormat::Gif,
            Format::WebP => ImageFormat::WebP,
        }
    }
}

/// What was made of a picture.
#[derive(Debug)]
pub(crate) struct Processed {
    /// Its width, upright.
    pub width: u32,
    /// Its height, upright.
    pub height: u32,
    /// The thumbnail, a PNG.
    pub thumbnail: Vec<u8>,
    /// The picture re-encoded without metadata, when stripping was asked for and applies.
    pub stripped: Option<Vec<u8>>,
}

/// Why a picture could not be processed (it is then kept as a plain file).
#[derive(Debug, thiserror::Error)]
#[error("cannot process the picture: {0}")]
pub(crate) struct ImageError(#[from] image::ImageError);

/// The width and height of a picture, reading only its header.
pub(crate) fn dimensions(bytes: &[u8], format: Format) -> Result<(u32, u32), ImageError> {
    Ok(reader(bytes, format).into_dimensions()?)
}

/// Decodes `bytes`, makes its thumbnail and, with `strip`, re-encodes it without metadata.
pub(crate) fn process(bytes: &[u8], format: Format, strip: bool) -> Result<Processed, ImageError> {
    let mut decoder = reader(bytes, format).into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut picture = DynamicImage::from_decoder(decoder)?;
    picture.apply_orientation(orientation);
    let mut thumbnail = Vec::new();
    let small = picture.thumbnail(THUMBNAIL_PIXELS, THUMBNAIL_PIXELS);
    small.write_with_encoder(PngEncoder::new(&mut thumbnail))?;
    let stripped = match (strip, format) {
        (false, _) | (_, Format::Gif) => None,
        (true, Format::Jpeg) => {
            let mut out = Vec::new();
            DynamicImage::ImageRgb8(picture.to_rgb8())
                .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))?;
            Some(out)
        }
        (true, Format::Png) => {
            let mut out = Vec::new();
            picture.write_with_encoder(PngEncoder::new(&mut out))?;
            Some(out)
        }
        (true, Format::WebP) => {
            let mut out = Vec::new();
            DynamicImage::ImageRgba8(picture.to_rgba8()).write_with_encoder(WebPEncoder::new_lossless(&mut out))?;
            Some(out)
        }
    };
    Ok(Processed { width: picture.width(), height: picture.height(), thumbnail, stripped })
}

fn reader(bytes: &[u8], format: Format) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    reader
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_recognised_by_their_bytes_and_thumbnails_fit() {
        let mut png = Vec::new();
        DynamicImage::new_rgb8(600, 300).write_with_encoder(PngEncoder::new(&mut png)).expect("encodes");
        assert_eq!(Format::sniff(&png), Some(Format::Png));
        assert_eq!(Format::sniff(b"GIF89a...."), Some(Format::Gif));
        assert_eq!(Format::sniff(b"%PDF-1.7 hello"), None);
        assert_eq!(dimensions(&png, Format::Png).expect("header"), (600, 300));
        let processed = process(&png, Format::Png, true).expect("processes");
        assert_eq!((processed.width, processed.height), (600, 300));
        let thumbnail = image::load_from_memory(&processed.thumbnail).expect("a picture");
        assert_eq!((thumbnail.width(), thumbnail.height()), (THUMBNAIL_PIXELS, THUMBNAIL_PIXELS / 2));
        assert!(processed.stripped.is_some());
        assert!(process(b"\x89PNG\r\n\x1a\nbroken", Format::Png, true).is_err());
    }
}
