//! Pictures for the file tests: a blank PNG of a given size, made in memory.

/// A transparent PNG of `width` × `height` pixels.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::new_rgba8(width, height)
        .write_with_encoder(image::codecs::png::PngEncoder::new(&mut out))
        .expect("a blank picture encodes");
    out
}
