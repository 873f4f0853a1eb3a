//! Golden-image tests of the software compositor.
//!
//! References are `tests/golden/*.png`; on a mismatch the produced image is written to
//! `target/golden-failures/NAME.actual.png`. `FUSIONFB_BLESS=1 cargo test -p fusionfb --test
//! compose_golden` rewrites the references (look at them before committing).

mod support;

use support::golden::Golden;

use fusionfb::compose::{
    compose, compose_full, compose_via_scratch, frame_damage, Damage, Element, Format, PixelBuffer,
    PixelsRef, Rect, Scene, Size, Transform,
};

const W: u32 = 160;
const H: u32 = 100;
const SENTINEL: u32 = 0xff_00_ff;

fn golden(name: &str, buf: &PixelsRef<'_>) {
    Golden::for_crate(env!("CARGO_MANIFEST_DIR")).assert(name, buf);
}

/// An XRGB wallpaper: a diagonal blue-green gradient with a faint grid.
fn wallpaper(w: u32, h: u32) -> PixelBuffer {
    let mut b = PixelBuffer::new(w, h, Format::Xrgb8888);
    for y in 0..h {
        for x in 0..w {
            let grid = if x % 20 == 0 || y % 20 == 0 { 0x30 } else { 0 };
            let g = 0x20 + y * 0x60 / h + grid;
            let bl = 0x40 + x * 0x80 / w + grid;
            b.set_pixel(x, y, (grid << 16) | (g << 8) | bl);
        }
    }
    b
}

/// A premultiplied ARGB window of colour `rgb` whose alpha runs from `a0` at the left edge to
/// `a1` at the right, with an opaque 2-pixel title bar.
fn window(w: u32, h: u32, rgb: u32, a0: u32, a1: u32) -> PixelBuffer {
    let mut b = PixelBuffer::new(w, h, Format::Argb8888);
    for y in 0..h {
        for x in 0..w {
            let a = if y < 2 {
                255
            } else {
                let t = x as i32 * (a1 as i32 - a0 as i32) / (w as i32 - 1).max(1);
                (a0 as i32 + t) as u32
            };
            let pre = |c: u32| c * a / 255;
            let (r, g, bl) = ((rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff);
            b.set_pixel(x, y, (a << 24) | (pre(r) << 16) | (pre(g) << 8) | pre(bl));
        }
    }
    b
}

struct ThreeWindows {
    wall: PixelBuffer,
    a: PixelBuffer,
    b: PixelBuffer,
    c: PixelBuffer,
}

impl ThreeWindows {
    fn new() -> Self {
        ThreeWindows {
            wall: wallpaper(W, H),
            a: window(70, 50, 0xff_40_40, 255, 96),
            b: window(60, 45, 0x40_ff_40, 200, 200),
            c: window(64, 40, 0x60_60_ff, 64, 255),
        }
    }

    fn elements(&self) -> [Element<'_>; 4] {
        [
            Element::new(0, self.wall.view(), Rect::from_size(W, H)),
            Element::new(1, self.a.view(), Rect::new(10, 8, 70, 50)),
            Element::new(2, self.b.view(), Rect::new(50, 30, 60, 45)).with_opacity(0.75),
            Element::new(3, self.c.view(), Rect::new(88, 50, 64, 40)).with_opacity(0.5),
        ]
    }
}

fn scene<'s, 'a>(elements: &'s [Element<'a>], transform: Transform) -> Scene<'s, 'a> {
    Scene {
        elements,
        background: 0x20_20_28,
        transform,
    }
}

#[test]
fn background_only() {
    let mut target = PixelBuffer::new(W, H, Format::Xrgb8888);
    compose_full(&mut target.view_mut(), &scene(&[], Transform::Normal)).unwrap();
    assert_eq!(target.pixel(0, 0), 0xff_20_20_28);
    golden("background_only", &target.view());
}

#[test]
fn three_windows_with_alpha_and_opacity() {
    let tw = ThreeWindows::new();
    let elements = tw.elements();
    let mut target = PixelBuffer::new(W, H, Format::Xrgb8888);
    let stats = compose_full(&mut target.view_mut(), &scene(&elements, Transform::Normal)).unwrap();
    // The wallpaper is opaque and covers everything: no background fill.
    assert_eq!(stats.background_pixels, 0);
    assert_eq!(stats.elements_drawn, 4);
    golden("three_windows", &target.view());
}

#[test]
fn rgb565_source_and_target() {
    let mut src = PixelBuffer::new(96, 60, Format::Rgb565);
    for y in 0..60 {
        for x in 0..96 {
            src.set_pixel(x, y, ((x * 255 / 95) << 16) | ((y * 255 / 59) << 8) | 0x80);
        }
    }
    let over = window(40, 30, 0xff_ff_ff, 128, 128);
    let elements = [
        Element::new(1, src.view(), Rect::new(20, 10, 96, 60)),
        Element::new(2, over.view(), Rect::new(90, 50, 40, 30)),
    ];
    let mut target = PixelBuffer::new(W, H, Format::Xrgb8888);
    compose_full(&mut target.view_mut(), &scene(&elements, Transform::Normal)).unwrap();
    golden("rgb565_source", &target.view());

    let mut panel = PixelBuffer::new(W, H, Format::Rgb565);
    compose_full(&mut panel.view_mut(), &scene(&elements, Transform::Normal)).unwrap();
    golden("rgb565_target", &panel.view());
}

#[test]
fn partial_damage_repaints_only_the_damaged_area() {
    let tw = ThreeWindows::new();
    let elements = tw.elements();
    let s = scene(&elements, Transform::Normal);

    let mut full = PixelBuffer::new(W, H, Format::Xrgb8888);
    compose_full(&mut full.view_mut(), &s).unwrap();

    let damage = Damage::from_rects(
        W,
        H,
        [
            Rect::new(30, 20, 40, 30),
            Rect::new(100, 60, 30, 25),
            Rect::new(150, -5, 20, 10),
        ],
    );
    let mut target = PixelBuffer::filled(W, H, Format::Xrgb8888, SENTINEL);
    let stats = compose(&mut target.view_mut(), &s, &damage).unwrap();
    assert_eq!(stats.damaged_pixels, 40 * 30 + 30 * 25 + 10 * 5);
    for y in 0..H {
        for x in 0..W {
            let inside = damage.intersects(&Rect::new(x as i32, y as i32, 1, 1));
            let want = if inside {
                full.pixel(x, y)
            } else {
                0xff00_0000 | SENTINEL
            };
            assert_eq!(
                target.pixel(x, y),
                want,
                "pixel ({x}, {y}), damaged: {inside}"
            );
        }
    }
    golden("partial_damage", &target.view());
}

/// An asymmetric scene: every transform must look different.
struct Asymmetric {
    red: PixelBuffer,
    green: PixelBuffer,
    blue: PixelBuffer,
    dot: PixelBuffer,
}

impl Asymmetric {
    fn new() -> Self {
        let mut red = PixelBuffer::new(60, 30, Format::Argb8888);
        for y in 0..30 {
            for x in 0..60 {
                // Fades out to the right, so the mirror is visible.
                let a = 255 - x * 3;
                red.set_pixel(x, y, (a << 24) | (a << 16));
            }
        }
        Asymmetric {
            red,
            green: PixelBuffer::filled(12, 70, Format::Xrgb8888, 0x30_c0_30),
            blue: PixelBuffer::filled(50, 20, Format::Rgb565, 0x30_60_ff),
            dot: window(16, 16, 0xff_ff_40, 255, 255),
        }
    }

    fn elements(&self) -> [Element<'_>; 4] {
        [
            Element::new(1, self.red.view(), Rect::new(5, 5, 60, 30)),
            Element::new(2, self.green.view(), Rect::new(130, 10, 12, 70)),
            Element::new(3, self.blue.view(), Rect::new(70, 72, 50, 20)).with_opacity(0.8),
            Element::new(4, self.dot.view(), Rect::new(40, 25, 16, 16))
                .with_clip(Rect::new(40, 25, 12, 16)),
        ]
    }
}

#[test]
fn each_transform_on_an_asymmetric_scene() {
    let asym = Asymmetric::new();
    let elements = asym.elements();
    let mut upright = PixelBuffer::new(W, H, Format::Xrgb8888);
    compose_full(
        &mut upright.view_mut(),
        &scene(&elements, Transform::Normal),
    )
    .unwrap();

    for t in Transform::ALL {
        let (pw, ph) = t.transform_size(W, H);
        let mut target = PixelBuffer::new(pw, ph, Format::Xrgb8888);
        compose_full(&mut target.view_mut(), &scene(&elements, t)).unwrap();
        // Drawing through the transform equals rotating the upright picture.
        for y in 0..H as i32 {
            for x in 0..W as i32 {
                let p = t.rect_to_physical(Rect::new(x, y, 1, 1), Size::new(W, H));
                let (px, py) = p.origin_unsigned();
                assert_eq!(
                    target.pixel(px, py),
                    upright.pixel(x as u32, y as u32),
                    "{t:?}: logical ({x}, {y}) at physical ({}, {})",
                    p.x,
                    p.y
                );
            }
        }
        golden(&format!("transform_{}", t.name()), &target.view());

        // The scratch path gives the same pixels.
        let mut via = PixelBuffer::new(pw, ph, Format::Xrgb8888);
        let mut scratch = PixelBuffer::new(W, H, Format::Xrgb8888);
        let full = Damage::full(W, H);
        let s = scene(&elements, t);
        compose_via_scratch(&mut via.view_mut(), &mut scratch.view_mut(), &s, &full).unwrap();
        assert!(via == target, "{t:?}: scratch path differs");
    }
}

#[test]
fn partial_damage_under_a_transform() {
    let asym = Asymmetric::new();
    let elements = asym.elements();
    let t = Transform::Flipped90;
    let s = scene(&elements, t);
    let (pw, ph) = t.transform_size(W, H);
    let mut full = PixelBuffer::new(pw, ph, Format::Xrgb8888);
    compose_full(&mut full.view_mut(), &s).unwrap();

    let logical = Rect::new(20, 15, 50, 30);
    let damage = Damage::from_rects(W, H, [logical]);
    let mut target = PixelBuffer::filled(pw, ph, Format::Xrgb8888, SENTINEL);
    compose(&mut target.view_mut(), &s, &damage).unwrap();
    let mut via = PixelBuffer::filled(pw, ph, Format::Xrgb8888, SENTINEL);
    let mut scratch = PixelBuffer::filled(W, H, Format::Xrgb8888, 0x123456);
    compose_via_scratch(&mut via.view_mut(), &mut scratch.view_mut(), &s, &damage).unwrap();
    let physical = t.rect_to_physical(logical, Size::new(W, H));
    for y in 0..ph {
        for x in 0..pw {
            let inside = physical.contains_rect(&Rect::new(x as i32, y as i32, 1, 1));
            let want = if inside {
                full.pixel(x, y)
            } else {
                0xff00_0000 | SENTINEL
            };
            assert_eq!(target.pixel(x, y), want, "({x}, {y})");
            assert_eq!(via.pixel(x, y), want, "scratch path ({x}, {y})");
        }
    }
}

#[test]
fn scaled_element() {
    let tw = ThreeWindows::new();
    // The 70×50 window drawn at 2×, and the wallpaper shrunk to a thumbnail.
    let elements = [
        Element::new(1, tw.a.view(), Rect::new(5, 5, 140, 100)),
        Element::new(2, tw.wall.view(), Rect::new(100, 10, 48, 30)),
    ];
    let mut target = PixelBuffer::new(W, H, Format::Xrgb8888);
    compose_full(&mut target.view_mut(), &scene(&elements, Transform::Normal)).unwrap();
    golden("scaled", &target.view());
}

/// A buffer the client drew pre-rotated, with its transform declared, shows upright.
#[test]
fn pre_rotated_buffers_show_upright() {
    let tw = ThreeWindows::new();
    let content = &tw.a; // 70×50 upright
    for t in Transform::ALL {
        let (bw, bh) = t.transform_size(70, 50);
        let mut pre = PixelBuffer::new(bw, bh, Format::Argb8888);
        for y in 0..50 {
            for x in 0..70 {
                let p = t.rect_to_physical(Rect::new(x, y, 1, 1), Size::new(70, 50));
                let (px, py) = p.origin_unsigned();
                pre.set_pixel(px, py, content.pixel(x as u32, y as u32));
            }
        }
        let dst = Rect::new(30, 20, 70, 50);
        let upright = [Element::new(1, content.view(), dst)];
        let rotated = [Element::new(1, pre.view(), dst).with_buffer_transform(t)];
        let mut a = PixelBuffer::new(W, H, Format::Xrgb8888);
        let mut b = PixelBuffer::new(W, H, Format::Xrgb8888);
        compose_full(&mut a.view_mut(), &scene(&upright, Transform::Normal)).unwrap();
        compose_full(&mut b.view_mut(), &scene(&rotated, Transform::Normal)).unwrap();
        assert!(a == b, "buffer transform {t:?}");
    }
}

/// Repainting only [`frame_damage`] over the previous frame gives the same picture as a full
/// repaint, for moves, opacity changes, restacking, removal and client damage.
#[test]
fn incremental_frames_equal_full_repaints() {
    let tw = ThreeWindows::new();
    let mut changed_c = tw.c.clone();
    changed_c.fill_rect(Rect::new(10, 10, 8, 6), 0xff_ff_ff_ff);
    let client_damage = [Rect::new(10, 10, 8, 6)];
    let base = tw.elements();

    let frames: Vec<Vec<Element<'_>>> = vec![
        base.to_vec(),
        // Window a moves.
        vec![
            base[0],
            Element {
                dst: Rect::new(30, 20, 70, 50),
                ..base[1]
            },
            base[2],
            base[3],
        ],
        // Window b fades.
        vec![
            base[0],
            Element {
                dst: Rect::new(30, 20, 70, 50),
                ..base[1]
            },
            base[2].with_opacity(0.3),
            base[3],
        ],
        // Restack: a on top.
        vec![
            base[0],
            base[2].with_opacity(0.3),
            base[3],
            Element {
                dst: Rect::new(30, 20, 70, 50),
                ..base[1]
            },
        ],
        // b closes; c redraws a patch of itself.
        vec![
            base[0],
            Element {
                buffer: changed_c.view(),
                damage: &client_damage,
                ..base[3]
            },
            Element {
                dst: Rect::new(30, 20, 70, 50),
                ..base[1]
            },
        ],
    ];

    let mut screen = PixelBuffer::new(W, H, Format::Xrgb8888);
    compose_full(
        &mut screen.view_mut(),
        &scene(&frames[0], Transform::Normal),
    )
    .unwrap();
    for pair in frames.windows(2) {
        let prev: Vec<_> = pair[0].iter().map(Element::state).collect();
        let damage = frame_damage(&prev, &pair[1], W, H);
        assert!(!damage.is_empty());
        assert!(damage.area() < (W * H) as u64, "damage should be partial");
        compose(
            &mut screen.view_mut(),
            &scene(&pair[1], Transform::Normal),
            &damage,
        )
        .unwrap();
        let mut fresh = PixelBuffer::new(W, H, Format::Xrgb8888);
        compose_full(&mut fresh.view_mut(), &scene(&pair[1], Transform::Normal)).unwrap();
        assert!(
            screen == fresh,
            "incremental frame differs from a full repaint"
        );
    }
}
