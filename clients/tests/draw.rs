//! The drawing helpers against real pixels, on every target format and on both of the
//! canvas's paths (tiny-skia in place for 32-bit rows without padding, the scratch for
//! RGB565 and padded pitches).

use fusionfb_client::draw::{Canvas, Colour, Font, Image, Rect};
use gfx_drivers::format::{premultiply, Format};

const BG: Colour = Colour::rgb(0x20, 0x40, 0x60);
const RED: Colour = Colour::rgb(0xff, 0, 0);

/// Every target: each format, with rows tight and with rows padded (a pitch a DRM dumb
/// buffer might choose; forces the scratch path for 32-bit formats).
fn targets(w: u32, h: u32) -> Vec<gfx_drivers::Image> {
    let mut out = Vec::new();
    for format in Format::ALL {
        for pad in [0, 24] {
            let pitch = format.pitch(w) + pad;
            out.push(gfx_drivers::Image {
                width: w,
                height: h,
                format,
                pitch,
                // Padding bytes hold a marker that drawing must never change.
                data: vec![0xa5; pitch * h as usize],
            });
        }
    }
    out
}

fn label(img: &gfx_drivers::Image) -> String {
    format!("{} pitch {}", img.format, img.pitch)
}

/// Channel-wise distance of two `0xAARRGGBB` pixels.
fn distance(a: u32, b: u32) -> u32 {
    (0..4)
        .map(|i| ((a >> (i * 8)) & 0xff).abs_diff((b >> (i * 8)) & 0xff))
        .max()
        .unwrap()
}

/// What `c` reads back as from `format` (RGB565 quantises).
fn as_stored(c: Colour, format: Format) -> u32 {
    let mut px = [0u8; 4];
    format.write_pixel(c.to_argb(), &mut px);
    format.read_pixel(&px)
}

fn assert_px(img: &gfx_drivers::Image, x: u32, y: u32, want: Colour) {
    let got = img.pixel(x, y);
    let want = as_stored(want, img.format);
    assert_eq!(
        got,
        want,
        "{} at ({x}, {y}): {got:#010x} != {want:#010x}",
        label(img)
    );
}

/// A pixel strictly between two colours in every channel that differs: anti-aliased.
fn assert_partial(img: &gfx_drivers::Image, x: u32, y: u32, from: Colour, to: Colour) {
    let got = img.pixel(x, y);
    let (a, b) = (as_stored(from, img.format), as_stored(to, img.format));
    for shift in [0, 8, 16] {
        let (g, lo, hi) = (
            (got >> shift) & 0xff,
            ((a >> shift) & 0xff).min((b >> shift) & 0xff),
            ((a >> shift) & 0xff).max((b >> shift) & 0xff),
        );
        if lo != hi {
            assert!(
                lo < g && g < hi,
                "{} at ({x}, {y}): {got:#010x} not strictly between {a:#010x} and {b:#010x}",
                label(img)
            );
        }
    }
}

/// The bounding box of the pixels that differ, and whether the padding bytes survived.
fn changed(before: &gfx_drivers::Image, after: &gfx_drivers::Image) -> Rect {
    let row = before.width as usize * before.format.bytes_per_pixel();
    for y in 0..before.height as usize {
        let pad = y * before.pitch + row..(y + 1) * before.pitch;
        assert_eq!(
            before.data[pad.clone()],
            after.data[pad],
            "{}: row {y}'s padding was written",
            label(before)
        );
    }
    let mut r = Rect::default();
    for y in 0..before.height {
        for x in 0..before.width {
            if before.pixel(x, y) != after.pixel(x, y) {
                r = r.bounding(&Rect::new(x as i32, y as i32, 1, 1));
            }
        }
    }
    r
}

/// Runs `op` on a canvas cleared to BG over each target, and checks that the damage it
/// reports is `want_damage` and holds every pixel that changed; with `tight`, it is exactly
/// their bounding box. `check` then looks at specific pixels.
fn each_target(
    w: u32,
    h: u32,
    op: impl Fn(&mut Canvas<'_>) -> Rect,
    want_damage: Rect,
    check: impl Fn(&gfx_drivers::Image),
) {
    each_target_with(w, h, op, want_damage, true, check)
}

fn each_target_with(
    w: u32,
    h: u32,
    op: impl Fn(&mut Canvas<'_>) -> Rect,
    want_damage: Rect,
    tight: bool,
    check: impl Fn(&gfx_drivers::Image),
) {
    for mut img in targets(w, h) {
        Canvas::for_image(&mut img).clear(BG);
        let before = img.clone();
        let damage = op(&mut Canvas::for_image(&mut img));
        assert_eq!(damage, want_damage, "{}: damage", label(&img));
        let ch = changed(&before, &img);
        if tight {
            assert_eq!(ch, damage, "{}: changes", label(&img));
        } else {
            assert_eq!(ch.bounding(&damage), damage, "{}: changes", label(&img));
        }
        check(&img);
    }
}

#[test]
fn clear_sets_every_pixel_and_keeps_the_padding() {
    for mut img in targets(7, 5) {
        let before = img.clone();
        let d = Canvas::for_image(&mut img).clear(RED);
        assert_eq!(d, Rect::new(0, 0, 7, 5));
        changed(&before, &img); // checks the padding
        for (x, y) in [(0, 0), (6, 4), (3, 2)] {
            assert_px(&img, x, y, RED);
        }
    }
    // Replacing, not blending: a translucent clear on ARGB leaves translucent pixels.
    let mut img = gfx_drivers::Image::new(2, 2, Format::Argb8888);
    Canvas::for_image(&mut img).clear(Colour::rgba(255, 0, 0, 128));
    assert_eq!(img.pixel(1, 1), 0x8080_0000);
    // XRGB is written with x = 0xff.
    let mut img = gfx_drivers::Image::new(1, 1, Format::Xrgb8888);
    Canvas::for_image(&mut img).clear(Colour::rgb(1, 2, 3));
    assert_eq!(img.data, [3, 2, 1, 0xff]);
}

#[test]
fn fill_rect_opaque_and_translucent() {
    each_target(
        20,
        10,
        |c| c.fill_rect(Rect::new(2, 3, 5, 4), RED),
        Rect::new(2, 3, 5, 4),
        |img| {
            assert_px(img, 2, 3, RED);
            assert_px(img, 6, 6, RED);
            assert_px(img, 1, 3, BG);
            assert_px(img, 7, 6, BG);
            assert_px(img, 2, 7, BG);
        },
    );
    // Half-transparent white over BG: each channel half-way, on every format.
    each_target(
        20,
        10,
        |c| c.fill_rect(Rect::new(-5, -5, 10, 10), Colour::rgba(255, 255, 255, 128)),
        Rect::new(0, 0, 5, 5),
        |img| {
            let want = Colour::rgb(0x8f, 0x9f, 0xaf);
            let got = img.pixel(2, 2);
            assert!(
                distance(got, as_stored(want, img.format)) <= 8,
                "{}: {got:#x}",
                label(img)
            );
            assert_px(img, 5, 5, BG);
        },
    );
}

#[test]
fn fill_circle_inside_outside_and_edge() {
    // Radius 6 around (10, 8): pixels 4..16 × 2..14.
    each_target(
        24,
        16,
        |c| c.fill_circle(10.0, 8.0, 6.0, RED),
        Rect::new(4, 2, 12, 12),
        |img| {
            assert_px(img, 10, 8, RED);
            assert_px(img, 7, 7, RED);
            // Bounding-box corner: outside the circle.
            assert_px(img, 4, 2, BG);
            assert_px(img, 17, 8, BG);
            // On the diagonal the edge cuts through pixel (5, 4): partly covered.
            assert_partial(img, 5, 4, BG, RED);
        },
    );
}

#[test]
fn fill_circle_off_pixel_centres_is_anti_aliased_on_its_edge() {
    // Centred on a pixel's middle with radius 3.3: the edge crosses pixels 7 and 13.
    each_target(
        20,
        20,
        |c| c.fill_circle(10.5, 10.5, 3.3, RED),
        Rect::new(7, 7, 7, 7),
        |img| {
            assert_px(img, 10, 10, RED);
            assert_partial(img, 7, 10, BG, RED);
            assert_partial(img, 13, 10, BG, RED);
            assert_px(img, 6, 10, BG);
        },
    );
}

#[test]
fn fill_rounded_rect_rounds_only_the_corners() {
    each_target(
        30,
        20,
        |c| c.fill_rounded_rect(Rect::new(3, 2, 20, 12), 5.0, RED),
        Rect::new(3, 2, 20, 12),
        |img| {
            assert_px(img, 3, 2, BG); // the corner pixel is cut away
            assert_px(img, 13, 2, RED); // the middle of the top edge is full
            assert_px(img, 3, 8, RED); // the middle of the left edge is full
            assert_px(img, 12, 7, RED);
            assert_partial(img, 4, 3, BG, RED); // on the corner's arc
            assert_px(img, 23, 8, BG);
        },
    );
}

#[test]
fn stroke_line_has_width_and_round_caps() {
    // Horizontal, 4 px wide, from x = 5 to x = 15 along y = 10: the body covers rows 8..12,
    // the round caps reach x = 3 and x = 17.
    each_target(
        24,
        20,
        |c| c.stroke_line(5.0, 10.0, 15.0, 10.0, 4.0, RED),
        Rect::new(3, 8, 14, 4),
        |img| {
            assert_px(img, 10, 8, RED);
            assert_px(img, 10, 11, RED);
            assert_px(img, 10, 12, BG);
            assert_px(img, 10, 7, BG);
            // The cap: a half disc, so the extreme column is only partly covered, less at
            // the corners than at the middle rows; nothing beyond it.
            assert_partial(img, 3, 9, BG, RED);
            assert_partial(img, 3, 8, BG, RED);
            assert!(img.pixel(3, 8) >> 16 & 0xff < img.pixel(3, 9) >> 16 & 0xff);
            assert_px(img, 2, 10, BG);
        },
    );
    // A diagonal line: pixels on it are full, the ones beside it partial.
    each_target(
        24,
        24,
        |c| c.stroke_line(4.0, 4.0, 20.0, 20.0, 3.0, RED),
        Rect::new(2, 2, 20, 20),
        |img| {
            assert_px(img, 12, 12, RED);
            assert_px(img, 20, 4, BG);
            assert_partial(img, 13, 11, BG, RED);
        },
    );
}

#[test]
fn a_tap_is_a_dot() {
    each_target(
        10,
        10,
        |c| c.stroke_line(5.0, 5.0, 5.0, 5.0, 4.0, RED),
        Rect::new(3, 3, 4, 4),
        |img| {
            assert_px(img, 4, 4, RED);
            assert_px(img, 5, 5, RED);
        },
    );
}

/// 3×2 image: opaque red, half-transparent white, transparent; then green, blue, black.
fn sprite() -> Image {
    let px = [
        0xffff_0000u32,
        0x80ff_ffff,
        0x0000_0000,
        0xff00_ff00,
        0xff00_00ff,
        0xff00_0000,
    ];
    let data = px
        .iter()
        .flat_map(|&p| premultiply(p).to_le_bytes())
        .collect();
    Image::from_argb8888(3, 2, data).unwrap()
}

#[test]
fn blit_honours_alpha() {
    let img = sprite();
    // The damage is the image's rectangle; its transparent pixel (6, 5) changes nothing.
    each_target_with(
        10,
        10,
        |c| c.blit(&img, 4, 5),
        Rect::new(4, 5, 3, 2),
        false,
        |t| {
            assert_px(t, 4, 5, RED);
            assert_px(t, 4, 6, Colour::rgb(0, 255, 0));
            assert_px(t, 6, 6, Colour::BLACK);
            assert_px(t, 6, 5, BG);
            let half = t.pixel(5, 5);
            let want = as_stored(Colour::rgb(0x8f, 0x9f, 0xaf), t.format);
            assert!(distance(half, want) <= 8, "{}: {half:#x}", label(t));
        },
    );
    // The same with alpha 128: the opaque red comes out half over BG.
    each_target_with(
        10,
        10,
        |c| c.blit_alpha(&img, 4, 5, 128),
        Rect::new(4, 5, 3, 2),
        false,
        |t| {
            let got = t.pixel(4, 5);
            let want = as_stored(Colour::rgb(0x8f, 0x20, 0x30), t.format);
            assert!(distance(got, want) <= 8, "{}: {got:#x}", label(t));
        },
    );
    // Clipped at the canvas's corner.
    each_target(
        10,
        10,
        |c| c.blit(&img, 8, -1),
        Rect::new(8, 0, 2, 1),
        |t| assert_px(t, 8, 0, Colour::rgb(0, 255, 0)),
    );
}

#[test]
fn blit_pixels_from_other_buffers() {
    // An RGB565 source, opaque: converted straight in.
    let mut src = gfx_drivers::Image::new(4, 3, Format::Rgb565);
    Canvas::for_image(&mut src).clear(Colour::rgb(0, 0, 255));
    src.set_pixel(0, 0, 0xffff_ffff);
    let pixels = src.view();
    each_target(
        8,
        8,
        |c| c.blit_pixels(&pixels, -1, 6, 255),
        Rect::new(0, 6, 3, 2),
        |t| {
            assert_px(t, 0, 6, Colour::rgb(0, 0, 255));
            assert_px(t, 2, 7, Colour::rgb(0, 0, 255));
            assert_px(t, 3, 6, BG);
        },
    );
    // An ARGB source at half alpha, blended.
    let mut src = gfx_drivers::Image::new(2, 2, Format::Argb8888);
    Canvas::for_image(&mut src).clear(Colour::WHITE);
    let pixels = src.view();
    each_target(
        8,
        8,
        |c| c.blit_pixels(&pixels, 3, 3, 128),
        Rect::new(3, 3, 2, 2),
        |t| {
            let want = as_stored(Colour::rgb(0x8f, 0x9f, 0xaf), t.format);
            assert!(distance(t.pixel(4, 4), want) <= 8, "{}", label(t));
        },
    );
}

#[test]
fn text_is_dark_inside_its_box_and_nowhere_else() {
    let text = "Hello, fusionfb! 0123";
    let size = 20.0;
    let font = Font::bundled();
    let m = font.measure(size, text);
    assert!(m.width > 150 && m.width < 260, "{m:?}");
    assert!(m.height >= 20 && m.height <= 26, "{m:?}");
    assert!(m.baseline > 14 && m.baseline < 20, "{m:?}");
    // For plain ASCII in DejaVu Sans the ink stays inside the layout box.
    let layout = Rect::new(0, 0, m.width, m.height);
    assert_eq!(layout.bounding(&m.ink), layout, "{m:?}");
    let (x, y) = (7, 5);
    for mut img in targets(300, 40) {
        Canvas::for_image(&mut img).clear(Colour::WHITE);
        let mut canvas = Canvas::for_image(&mut img);
        assert_eq!(canvas.measure_text(size, text), m);
        let damage = canvas.draw_text(x, y, size, Colour::BLACK, text);
        let ink = Rect::new(m.ink.x + x, m.ink.y + y, m.ink.w, m.ink.h);
        assert_eq!(damage, ink, "{}", label(&img));
        let mut dark = 0;
        for py in 0..img.height {
            for px in 0..img.width {
                let p = img.pixel(px, py);
                let inside = ink.bounding(&Rect::new(px as i32, py as i32, 1, 1)) == ink;
                if inside {
                    dark += usize::from(p & 0xff < 0x40);
                } else {
                    assert_eq!(p, 0xffff_ffff, "{}: ink at ({px}, {py})", label(&img));
                }
            }
        }
        assert!(dark > 200, "{}: only {dark} dark pixels", label(&img));
    }
}

#[test]
fn text_is_clipped_and_cached() {
    let mut img = gfx_drivers::Image::new(40, 12, Format::Xrgb8888);
    let mut canvas = Canvas::for_image(&mut img);
    canvas.clear(Colour::WHITE);
    // Half above the canvas, running off its right edge.
    let d = canvas.draw_text(-3, -8, 20.0, Colour::BLACK, "Wide text, clipped");
    assert_eq!(d.x, 0);
    assert_eq!(d.y, 0);
    assert_eq!(d.w, 40);
    assert!(d.h > 0 && d.h <= 12);
    assert!(canvas
        .draw_text(0, 50, 20.0, Colour::BLACK, "below")
        .is_empty());
    assert!(canvas
        .draw_text(i32::MAX - 5, i32::MIN, 20.0, Colour::BLACK, "far")
        .is_empty());
    for size in [0.0, -3.0, f32::NAN, f32::INFINITY, 1e9] {
        assert!(canvas.draw_text(0, 0, size, Colour::BLACK, "x").is_empty());
        assert_eq!(canvas.measure_text(size, "x").width, 0);
    }
    // The cache: a repeated string rasterises nothing new.
    let font = Font::from_bytes(include_bytes!("../fonts/DejaVuSans.ttf")).unwrap();
    canvas.draw_text_with(&font, 0, 0, 11.0, Colour::BLACK, "abcabc");
    assert_eq!(font.cached_glyphs(), 3);
    canvas.draw_text_with(&font, 0, 0, 11.0, Colour::BLACK, "cab");
    assert_eq!(font.cached_glyphs(), 3);
    canvas.draw_text_with(&font, 0, 0, 12.0, Colour::BLACK, "a");
    assert_eq!(font.cached_glyphs(), 4);
}

#[test]
fn text_lines_and_translucent_colour() {
    let m = Font::bundled().measure(16.0, "one\ntwo");
    let one = Font::bundled().measure(16.0, "one");
    assert!(m.height > one.height + 10, "{m:?} vs {one:?}");
    let mut img = gfx_drivers::Image::new(60, 50, Format::Rgb565);
    let mut canvas = Canvas::for_image(&mut img);
    canvas.clear(Colour::WHITE);
    let d = canvas.draw_text(0, 0, 16.0, Colour::rgba(0, 0, 0, 128), "one\ntwo");
    assert_eq!(d, m.ink);
    // Half-transparent black never gets darker than half grey.
    for y in 0..50 {
        for x in 0..60 {
            assert!(img.pixel(x, y) & 0xff >= 0x78, "({x}, {y})");
        }
    }
}

#[test]
fn drawing_outside_the_canvas_is_clipped_without_panicking() {
    for mut img in targets(16, 9) {
        let before = img.clone();
        let mut c = Canvas::for_image(&mut img);
        let huge = [1e9f32, -1e9, f32::MAX, f32::MIN, f32::INFINITY, f32::NAN];
        let mut damage = Rect::default();
        for &v in &huge {
            damage = damage.bounding(&c.fill_circle(v, v, 3.0, RED));
            damage = damage.bounding(&c.fill_circle(4.0, 4.0, v, RED));
            damage = damage.bounding(&c.stroke_line(v, 0.0, -v, 0.0, 2.0, RED));
            damage = damage.bounding(&c.stroke_line(0.0, 0.0, 5.0, 5.0, v, RED));
            damage = damage.bounding(&c.fill_rounded_rect(Rect::new(0, 0, 3, 3), v, RED));
        }
        for (x, y) in [
            (-100, 3),
            (16, 0),
            (0, 9),
            (i32::MIN, i32::MIN),
            (i32::MAX, 0),
        ] {
            assert!(c.fill_rect(Rect::new(x, y, 5, 5), RED).is_empty());
            assert!(c.blit(&sprite(), x, y).is_empty());
        }
        assert!(c.fill_circle(-10.0, -10.0, 5.0, RED).is_empty());
        assert!(c.stroke_line(-10.0, 20.0, -5.0, 25.0, 3.0, RED).is_empty());
        assert!(c.fill_rect(Rect::new(3, 3, 0, 4), RED).is_empty());
        assert!(c.fill_circle(3.0, 3.0, 2.0, Colour::TRANSPARENT).is_empty());
        let big = c.fill_rect(Rect::new(i32::MIN, i32::MIN, u32::MAX, u32::MAX), RED);
        assert_eq!(big, Rect::new(0, 0, 16, 9));
        damage = damage.bounding(&big);
        // Whatever happened stayed on the canvas, and the padding is untouched.
        let ch = changed(&before, &img);
        assert_eq!(damage.bounding(&ch), damage, "{}", label(&img));
        assert_eq!(damage.clip(16, 9), Some(damage));
    }
    // A canvas of no pixels draws nothing.
    let mut none: [u8; 0] = [];
    let mut c = Canvas::new(&mut none, 0, 0, 0, Format::Xrgb8888).unwrap();
    assert!(c.clear(RED).is_empty());
    assert!(c.fill_circle(0.0, 0.0, 5.0, RED).is_empty());
    assert!(c.draw_text(0, 0, 12.0, RED, "x").is_empty());
}

#[test]
fn canvas_rejects_memory_that_does_not_fit() {
    let mut small = vec![0u8; 15];
    assert!(Canvas::new(&mut small, 2, 2, 8, Format::Xrgb8888).is_err());
    assert!(Canvas::new(&mut small, 2, 2, 4, Format::Xrgb8888).is_err());
    // The last row needs no padding.
    let mut exact = vec![0u8; 8 + 6];
    assert!(Canvas::new(&mut exact, 3, 2, 8, Format::Rgb565).is_ok());
}

#[test]
fn in_place_and_scratch_paths_draw_the_same_pixels() {
    let scene = |c: &mut Canvas<'_>| {
        c.clear(BG);
        c.fill_circle(13.3, 9.7, 7.1, Colour::rgba(200, 30, 90, 200));
        c.fill_rounded_rect(Rect::new(20, 3, 19, 14), 4.5, Colour::rgb(10, 200, 40));
        c.stroke_line(2.0, 25.0, 37.5, 18.2, 2.5, Colour::rgba(255, 255, 0, 160));
        c.blit_alpha(&sprite(), 30, 22, 190);
        c.draw_text(1, 14, 12.0, Colour::WHITE, "Ag");
    };
    for format in [Format::Xrgb8888, Format::Argb8888] {
        let mut tight = gfx_drivers::Image::new(40, 30, format);
        scene(&mut Canvas::for_image(&mut tight));
        let pitch = format.pitch(40) + 36;
        let mut padded = gfx_drivers::Image {
            width: 40,
            height: 30,
            format,
            pitch,
            data: vec![0; pitch * 30],
        };
        scene(&mut Canvas::for_image(&mut padded));
        assert_eq!(tight, padded.convert(format), "{format}");
    }
}

#[test]
fn drawing_into_an_image() {
    let mut img = Image::new(8, 8).unwrap();
    let d = img
        .canvas()
        .fill_circle(4.0, 4.0, 3.0, Colour::rgb(0, 0, 255));
    assert_eq!(d, Rect::new(1, 1, 6, 6));
    assert_eq!(img.pixel(4, 4), 0xff00_00ff);
    assert_eq!(img.pixel(0, 0), 0);
    // Partly covered edge pixels are premultiplied: colour never above alpha.
    let p = img.pixel(1, 4);
    assert!(
        p >> 24 > 0 && p >> 24 < 255 && (p & 0xff) == p >> 24,
        "{p:#x}"
    );
}

// ---- images ------------------------------------------------------------------------------

fn encode_png(
    w: u32,
    h: u32,
    colour: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(colour);
    enc.set_depth(depth);
    if colour == png::ColorType::Indexed {
        enc.set_palette(vec![255, 0, 0, 0, 0, 255]);
        enc.set_trns(vec![255, 64]);
    }
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(data).unwrap();
    writer.finish().unwrap();
    out
}

#[test]
fn png_round_trip_rgba() {
    // A 16×9 gradient with every kind of alpha.
    let (w, h) = (16u32, 9u32);
    let mut rgba = Vec::new();
    for y in 0..h {
        for x in 0..w {
            rgba.extend([(x * 16) as u8, (y * 28) as u8, 200, (x * 17 + y) as u8]);
        }
    }
    let bytes = encode_png(w, h, png::ColorType::Rgba, png::BitDepth::Eight, &rgba);
    let img = Image::from_png(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (w, h));
    for y in 0..h {
        for x in 0..w {
            let s = &rgba[((y * w + x) * 4) as usize..][..4];
            let straight = u32::from_be_bytes([s[3], s[0], s[1], s[2]]);
            assert_eq!(img.pixel(x, y), premultiply(straight), "({x}, {y})");
        }
    }
}

#[test]
fn png_other_colour_types() {
    let grey = Image::from_png(&encode_png(
        2,
        1,
        png::ColorType::Grayscale,
        png::BitDepth::Eight,
        &[0, 200],
    ))
    .unwrap();
    assert_eq!(grey.pixel(1, 0), 0xffc8_c8c8);
    let rgb16 = Image::from_png(&encode_png(
        1,
        1,
        png::ColorType::Rgb,
        png::BitDepth::Sixteen,
        &[0xff, 0xff, 0x80, 0x00, 0x00, 0x00],
    ))
    .unwrap();
    assert_eq!(rgb16.pixel(0, 0), 0xffff_8000);
    let indexed = Image::from_png(&encode_png(
        2,
        1,
        png::ColorType::Indexed,
        png::BitDepth::Eight,
        &[0, 1],
    ))
    .unwrap();
    assert_eq!(indexed.pixel(0, 0), 0xffff_0000);
    assert_eq!(indexed.pixel(1, 0), premultiply(0x4000_00ff));
    let ga = Image::from_png(&encode_png(
        1,
        1,
        png::ColorType::GrayscaleAlpha,
        png::BitDepth::Eight,
        &[255, 128],
    ))
    .unwrap();
    assert_eq!(ga.pixel(0, 0), 0x8080_8080);
    assert!(Image::from_png(b"not a png").is_err());
    assert!(Image::load_png("/nonexistent/fusionfb.png").is_err());
}

#[test]
fn scaling_keeps_colours_and_averages_detail() {
    // Solid colour: unchanged at any size.
    let mut solid = Image::new(10, 6).unwrap();
    solid.canvas().clear(Colour::rgba(40, 80, 120, 255));
    for (w, h) in [(25, 15), (3, 2), (1, 1)] {
        let s = solid.scaled(w, h).unwrap();
        assert_eq!((s.width(), s.height()), (w, h));
        for y in 0..h {
            for x in 0..w {
                assert!(
                    distance(s.pixel(x, y), 0xff28_5078) <= 1,
                    "{w}x{h} ({x}, {y})"
                );
            }
        }
    }
    // A one-pixel checkerboard shrunk 8×: every pixel is the average grey, not aliased.
    let mut check = Image::new(64, 64).unwrap();
    for y in 0..64 {
        for x in 0..64 {
            if (x + y) % 2 == 0 {
                check
                    .canvas()
                    .fill_rect(Rect::new(x, y, 1, 1), Colour::WHITE);
            } else {
                check
                    .canvas()
                    .fill_rect(Rect::new(x, y, 1, 1), Colour::BLACK);
            }
        }
    }
    let small = check.scaled(8, 8).unwrap();
    for y in 0..8 {
        for x in 0..8 {
            assert!(
                distance(small.pixel(x, y), 0xff80_8080) <= 3,
                "({x}, {y}): {:#x}",
                small.pixel(x, y)
            );
        }
    }
    assert!(solid.scaled(0, 5).is_err());
}

// ---- the golden scene ----------------------------------------------------------------------

/// A small scene on XRGB8888: a background, a rounded panel, a dot, a stroke, a scaled
/// image with alpha and a line of text.
fn golden_scene() -> gfx_drivers::Image {
    let mut target = gfx_drivers::Image::new(160, 96, Format::Xrgb8888);
    let mut c = Canvas::for_image(&mut target);
    c.clear(Colour::parse("#1d2b3a").unwrap());
    c.fill_rounded_rect(
        Rect::new(8, 8, 144, 56),
        10.0,
        Colour::parse("#f4efe6").unwrap(),
    );
    c.fill_circle(34.5, 36.0, 16.0, Colour::parse("#e4572e").unwrap());
    c.stroke_line(
        58.0,
        54.0,
        144.0,
        18.0,
        3.0,
        Colour::rgba(41, 128, 185, 200),
    );
    let mut icon = Image::new(4, 4).unwrap();
    {
        let mut ic = icon.canvas();
        ic.fill_rect(Rect::new(0, 0, 2, 2), Colour::rgb(255, 200, 0));
        ic.fill_rect(Rect::new(2, 2, 2, 2), Colour::rgba(0, 180, 90, 160));
        ic.fill_rect(Rect::new(2, 0, 2, 2), Colour::rgba(255, 255, 255, 80));
    }
    c.blit(&icon.scaled(24, 24).unwrap(), 124, 66);
    c.draw_text(10, 68, 18.0, Colour::WHITE, "fusionfb ✓ Ag");
    target
}

#[test]
fn golden_scene_matches() {
    let got = golden_scene();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/scene.png");
    if std::env::var_os("FUSIONFB_BLESS").is_some_and(|v| v == "1") {
        let mut rgba = Vec::new();
        for y in 0..got.height {
            for x in 0..got.width {
                let p = got.pixel(x, y);
                rgba.extend([(p >> 16) as u8, (p >> 8) as u8, p as u8, 0xff]);
            }
        }
        let bytes = encode_png(
            got.width,
            got.height,
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            &rgba,
        );
        std::fs::write(path, bytes).unwrap();
        eprintln!("wrote {path}");
        return;
    }
    let want = Image::load_png(path)
        .unwrap_or_else(|e| panic!("{e} — run with FUSIONFB_BLESS=1 to create it"));
    assert_eq!((want.width(), want.height()), (got.width, got.height));
    let mut diff = 0;
    for y in 0..got.height {
        for x in 0..got.width {
            if want.pixel(x, y) != got.pixel(x, y) {
                diff += 1;
            }
        }
    }
    assert_eq!(
        diff, 0,
        "{diff} pixels differ from {path} (FUSIONFB_BLESS=1 rewrites it)"
    );
}
