//! What a media message says about its file besides the bytes: a small JPEG preview of an
//! image (`jpegThumbnail`, 32 pixels wide and JPEG quality 50 as WhatsApp Web makes it, from
//! JPEG, PNG or WebP) with the original's dimensions, and an Ogg audio file's duration
//! (`seconds`) read from its last page's granule position.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageReader, Limits};

use super::MediaError;

/// The largest side, in pixels, of an image we decode for a thumbnail.
const MAX_SIDE: u32 = 16_384;
/// The most memory one decode may take.
const MAX_ALLOC: u64 = 512 * 1024 * 1024;

/// A thumbnail and the size of the image it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// A JPEG `width` pixels wide (height by the aspect ratio) of the image in `bytes`.
pub fn image_thumbnail(bytes: &[u8], width: u32) -> Result<Thumbnail, MediaError> {
    if width == 0 || width > 4096 {
        return Err(MediaError::Argument(format!(
            "thumbnail width must be 1-4096, got {width}"
        )));
    }
    let img = decode(bytes)?;
    let (w, h) = (img.width(), img.height());
    let th = ((u64::from(h) * u64::from(width) + u64::from(w) / 2) / u64::from(w.max(1))).max(1);
    let small = img.thumbnail_exact(width, th.min(u64::from(MAX_SIDE)) as u32);
    let mut jpeg = Vec::new();
    small
        .into_rgb8()
        .write_with_encoder(JpegEncoder::new_with_quality(&mut jpeg, 50))
        .map_err(|e| MediaError::Decode(format!("thumbnail: {e}")))?;
    Ok(Thumbnail {
        jpeg,
        width: w,
        height: h,
    })
}

/// An image decoded within the size and memory limits above (JPEG, PNG, WebP, ...).
fn decode(bytes: &[u8]) -> Result<DynamicImage, MediaError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| MediaError::Decode(format!("image: {e}")))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|e| MediaError::Decode(format!("image: {e}")))
}

/// A profile picture: the image scaled to cover `width` x `height` and cut to it around the
/// centre (what `sharp`'s default `resize(w, h)` gives Baileys), JPEG quality 50.
pub fn profile_picture(bytes: &[u8], width: u32, height: u32) -> Result<Vec<u8>, MediaError> {
    if !(1..=4096).contains(&width) || !(1..=4096).contains(&height) {
        return Err(MediaError::Argument(format!(
            "profile picture size must be 1-4096 pixels a side, got {width}x{height}"
        )));
    }
    let img = decode(bytes)?.resize_to_fill(width, height, FilterType::Triangle);
    let mut jpeg = Vec::new();
    img.into_rgb8()
        .write_with_encoder(JpegEncoder::new_with_quality(&mut jpeg, 50))
        .map_err(|e| MediaError::Decode(format!("profile picture: {e}")))?;
    Ok(jpeg)
}

/// Ogg page header: capture pattern, version, flags, granule position (8 bytes, LE), ...
const OGG: &[u8; 4] = b"OggS";

/// The duration in seconds of an Ogg Opus or Vorbis file; `None` for anything else.
pub fn ogg_duration(bytes: &[u8]) -> Option<f64> {
    if !bytes.starts_with(OGG) {
        return None;
    }
    // The first page's packet says the codec: `OpusHead` (48 kHz granules, pre-skip) or the
    // Vorbis identification header (its sample rate).
    let segments = *bytes.get(26)? as usize;
    let first = bytes.get(27 + segments..)?;
    let (rate, skip) = if first.starts_with(b"OpusHead") {
        let pre_skip = u16::from_le_bytes([*first.get(10)?, *first.get(11)?]);
        (48_000f64, f64::from(pre_skip))
    } else if first.starts_with(b"\x01vorbis") {
        let rate = u32::from_le_bytes(first.get(12..16)?.try_into().ok()?);
        (f64::from(rate), 0.0)
    } else {
        return None;
    };
    if rate == 0.0 {
        return None;
    }
    let last = bytes.windows(4).rposition(|w| w == OGG)?;
    let granule = u64::from_le_bytes(bytes.get(last + 6..last + 14)?.try_into().ok()?);
    if granule == u64::MAX {
        return None;
    }
    Some(((granule as f64 - skip) / rate).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_keep_the_aspect_and_the_original_size() {
        let img = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let t = image_thumbnail(&png, 32).unwrap();
        assert_eq!((t.width, t.height), (640, 480));
        let back = image::load_from_memory(&t.jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (32, 24));
        assert!(matches!(
            image_thumbnail(b"not an image", 32),
            Err(MediaError::Decode(_))
        ));
        assert!(matches!(
            image_thumbnail(&png, 0),
            Err(MediaError::Argument(_))
        ));
    }

    #[test]
    fn profile_pictures_cover_the_size_around_the_centre() {
        // Left third red, middle green, right third blue: a centred square cut keeps green
        // in the middle and loses most of the sides.
        let img = image::RgbImage::from_fn(900, 300, |x, _| match x / 300 {
            0 => image::Rgb([255, 0, 0]),
            1 => image::Rgb([0, 255, 0]),
            _ => image::Rgb([0, 0, 255]),
        });
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let jpeg = profile_picture(&png, 64, 64).unwrap();
        let back = image::load_from_memory(&jpeg).unwrap().into_rgb8();
        assert_eq!(back.dimensions(), (64, 64));
        for x in [2, 32, 61] {
            let p = back.get_pixel(x, 32);
            assert!(
                p[1] > 200 && p[0] < 60 && p[2] < 60,
                "green at x={x}: {p:?}"
            );
        }
        assert!(matches!(
            profile_picture(&png, 0, 64),
            Err(MediaError::Argument(_))
        ));
        assert!(matches!(
            profile_picture(b"GIF89a garbage", 64, 64),
            Err(MediaError::Decode(_))
        ));
    }

    fn page(granule: u64, packet: &[u8]) -> Vec<u8> {
        let mut p = b"OggS\0\0".to_vec();
        p.extend_from_slice(&granule.to_le_bytes());
        p.extend_from_slice(&[0; 12]);
        p.push(1);
        p.push(packet.len() as u8);
        p.extend_from_slice(packet);
        p
    }

    #[test]
    fn ogg_durations_from_the_last_granule() {
        let mut head = b"OpusHead\x01\x01".to_vec();
        head.extend_from_slice(&312u16.to_le_bytes());
        let mut file = page(0, &head);
        file.extend(page(48_000 * 3 + 312, b"audio"));
        assert_eq!(ogg_duration(&file), Some(3.0));
        let mut vorbis = b"\x01vorbis\0\0\0\0\x02".to_vec();
        vorbis.extend_from_slice(&44_100u32.to_le_bytes());
        let mut file = page(0, &vorbis);
        file.extend(page(44_100 * 2, b"audio"));
        assert_eq!(ogg_duration(&file), Some(2.0));
        assert_eq!(ogg_duration(b"ID3 mp3"), None);
        assert_eq!(ogg_duration(b"OggS"), None);
    }
}
