//! SVG to PNG with resvg, the text set in the bundled font so that no system font is needed.

use resvg::{tiny_skia, usvg};

use super::FONT;

/// PNG pixels per SVG pixel: sharp text and lines when the figure is shown at the SVG's size.
pub(super) const PNG_SCALE: f32 = 2.0;

/// The family name inside the bundled font file.
const FONT_NAME: &str = "DejaVu Sans";

pub(super) fn png(svg: &str) -> Result<Vec<u8>, String> {
    let mut options = usvg::Options::default();
    let fonts = options.fontdb_mut();
    fonts.load_font_data(FONT.to_vec());
    // The SVG names the generic family (draw::FAMILY).
    fonts.set_sans_serif_family(FONT_NAME);
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| e.to_string())?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(PNG_SCALE)
        .ok_or("the figure has no size")?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("the figure has no size")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    let scale = tiny_skia::Transform::from_scale(PNG_SCALE, PNG_SCALE);
    resvg::render(&tree, scale, &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| e.to_string())
}
