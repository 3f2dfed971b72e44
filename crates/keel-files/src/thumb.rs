//! Thumbnails in PocketBase's forms, made from an image's bytes:
//!
//! - `WxH`  resize to cover W×H, then crop the middle;
//! - `WxHt` the same, cropping from the top; `WxHb` from the bottom;
//! - `WxHf` fit inside W×H without cropping;
//! - `0xH` / `Wx0` resize to that height / width, keeping the aspect ratio.
//!
//! The thumbnail is encoded in the original's format (by its file name; PNG when unknown),
//! EXIF orientation applied, first frame only for animations. Decoding is bounded (pixels
//! and memory), and it is CPU work: callers run [`make`] on the blocking pool.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// The largest source image decoded, in pixels per side.
const MAX_SIDE: u32 = 16_384;
/// The most memory one decode may allocate.
const MAX_ALLOC: u64 = 512 * 1024 * 1024;

/// How a thumbnail fits its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Cover the box, crop the middle (`WxH`).
    Center,
    /// Cover the box, crop from the top (`WxHt`).
    Top,
    /// Cover the box, crop from the bottom (`WxHb`).
    Bottom,
    /// Fit inside the box (`WxHf`).
    Inside,
}

/// A parsed thumb size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThumbSize {
    pub width: u32,
    pub height: u32,
    pub fit: Fit,
}

impl ThumbSize {
    /// Parses `WxH`, `WxHt`, `WxHb`, `WxHf`, `0xH`, `Wx0`; `None` for anything else
    /// (including `0x0`).
    pub fn parse(s: &str) -> Option<ThumbSize> {
        let (w, rest) = s.split_once('x')?;
        let (h, fit) = match rest.as_bytes().last()? {
            b't' => (&rest[..rest.len() - 1], Fit::Top),
            b'b' => (&rest[..rest.len() - 1], Fit::Bottom),
            b'f' => (&rest[..rest.len() - 1], Fit::Inside),
            _ => (rest, Fit::Center),
        };
        let digits = |t: &str| !t.is_empty() && t.len() <= 5 && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(w) || !digits(h) {
            return None;
        }
        let (width, height) = (w.parse().ok()?, h.parse().ok()?);
        if width == 0 && height == 0 {
            return None;
        }
        Some(ThumbSize { width, height, fit })
    }
}

/// Whether thumbnails are made for a file of this name (jpg, jpeg, png, gif, webp).
pub fn is_image(file_name: &str) -> bool {
    let ext = file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png" | "gif" | "webp"))
}

/// Makes the thumbnail of `original` (the bytes of the file `file_name`) at `size`.
pub fn make(original: &[u8], file_name: &str, size: ThumbSize) -> Result<Vec<u8>, String> {
    let mut reader = ImageReader::new(Cursor::new(original))
        .with_guessed_format()
        .map_err(|e| format!("cannot read the image: {e}"))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| format!("cannot decode the image: {e}"))?;
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| format!("cannot decode the image: {e}"))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    let thumb = resize(&img, size);
    let format = ImageFormat::from_path(file_name).unwrap_or(ImageFormat::Png);
    let thumb = match format {
        // JPEG has no alpha channel.
        ImageFormat::Jpeg => DynamicImage::ImageRgb8(thumb.to_rgb8()),
        _ => thumb,
    };
    let mut out = Cursor::new(Vec::new());
    thumb
        .write_to(&mut out, format)
        .map_err(|e| format!("cannot encode the thumbnail: {e}"))?;
    Ok(out.into_inner())
}

fn resize(img: &DynamicImage, size: ThumbSize) -> DynamicImage {
    let (w, h) = (img.width().max(1), img.height().max(1));
    let filter = FilterType::Triangle;
    if size.width == 0 || size.height == 0 {
        // Keep the aspect ratio along the one side given.
        let (tw, th) = if size.width == 0 {
            (scaled(w, size.height, h), size.height)
        } else {
            (size.width, scaled(h, size.width, w))
        };
        return img.resize_exact(tw.max(1), th.max(1), filter);
    }
    match size.fit {
        Fit::Inside => img.resize(size.width, size.height, filter),
        Fit::Center | Fit::Top | Fit::Bottom => {
            // Scale to cover the box, then crop it out.
            let scale = f64::max(
                f64::from(size.width) / f64::from(w),
                f64::from(size.height) / f64::from(h),
            );
            let cw = ((f64::from(w) * scale).round() as u32).max(size.width);
            let ch = ((f64::from(h) * scale).round() as u32).max(size.height);
            let covered = img.resize_exact(cw, ch, filter);
            let x = (cw - size.width) / 2;
            let y = match size.fit {
                Fit::Top => 0,
                Fit::Bottom => ch - size.height,
                _ => (ch - size.height) / 2,
            };
            covered.crop_imm(x, y, size.width, size.height)
        }
    }
}

/// `side × target / reference`, rounded.
fn scaled(side: u32, target: u32, reference: u32) -> u32 {
    ((u64::from(side) * u64::from(target) + u64::from(reference) / 2) / u64::from(reference)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GenericImageView, Rgba, RgbaImage};

    fn png(w: u32, h: u32) -> Vec<u8> {
        // Top half red, bottom half blue.
        let img = RgbaImage::from_fn(w, h, |_, y| {
            if y < h / 2 {
                Rgba([255, 0, 0, 255])
            } else {
                Rgba([0, 0, 255, 255])
            }
        });
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgba8(img)
            .write_to(&mut out, ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    fn dims(bytes: &[u8]) -> (u32, u32) {
        image::load_from_memory(bytes).unwrap().dimensions()
    }

    #[test]
    fn parses_pocketbase_forms() {
        assert_eq!(ThumbSize::parse("100x50").map(|s| s.fit), Some(Fit::Center));
        assert_eq!(ThumbSize::parse("100x50t").map(|s| s.fit), Some(Fit::Top));
        assert_eq!(ThumbSize::parse("100x50b").map(|s| s.fit), Some(Fit::Bottom));
        assert_eq!(ThumbSize::parse("100x50f").map(|s| s.fit), Some(Fit::Inside));
        assert!(ThumbSize::parse("0x50").is_some());
        assert!(ThumbSize::parse("50x0").is_some());
        for bad in ["0x0", "x50", "50x", "50x50z", "-1x5", "abc", "1x1ff", "999999x1"] {
            assert_eq!(ThumbSize::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes_match_each_form() {
        let src = png(400, 200);
        let t = |s: &str| dims(&make(&src, "a.png", ThumbSize::parse(s).unwrap()).unwrap());
        assert_eq!(t("100x100"), (100, 100));
        assert_eq!(t("100x100t"), (100, 100));
        assert_eq!(t("100x100b"), (100, 100));
        assert_eq!(t("100x100f"), (100, 50));
        assert_eq!(t("0x50"), (100, 50));
        assert_eq!(t("200x0"), (200, 100));
    }

    #[test]
    fn top_and_bottom_crops_keep_their_side() {
        // A tall image: cropping a wide box from the top keeps red, from the bottom blue.
        let src = png(100, 400);
        let pixel = |s: &str| {
            let out = make(&src, "a.png", ThumbSize::parse(s).unwrap()).unwrap();
            image::load_from_memory(&out).unwrap().get_pixel(5, 5)
        };
        assert_eq!(pixel("100x50t").0[..3], [255, 0, 0]);
        assert_eq!(pixel("100x50b").0[..3], [0, 0, 255]);
    }

    #[test]
    fn jpeg_and_garbage() {
        let src = png(50, 50);
        let out = make(&src, "a.jpg", ThumbSize::parse("10x10").unwrap()).unwrap();
        assert_eq!(image::guess_format(&out).unwrap(), ImageFormat::Jpeg);
        assert!(make(b"not an image", "a.png", ThumbSize::parse("10x10").unwrap()).is_err());
    }
}
