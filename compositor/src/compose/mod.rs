//! # compose — the master's software compositor
//!
//! Windows that do not own a layer are drawn by the master into the shared layer's scan-out
//! buffer. This module is that drawing, and nothing else: no window policy, no devices, no
//! timing. It takes pixels in and writes pixels out, so it is tested with golden images and
//! measured by the composition benchmark of `fusionfb-bench` (`compositor/bench/`), next to
//! [`compose_bare`], bare pixman.
//!
//! ## Concepts
//!
//! - A **target** ([`PixelsMut`]) is the memory being scanned out (or about to be): a DRM dumb
//!   buffer, an fbdev mapping, a headless frame. `Xrgb8888`, or `Rgb565` for small panels.
//! - An **element** ([`Element`]) is one client buffer ([`PixelsRef`]: `Xrgb8888`, `Argb8888`
//!   premultiplied, or `Rgb565`) placed on a **destination rectangle** of the output, with a
//!   global **opacity**, an **opaque** flag, an optional **clip**, and the client's **damage**
//!   since the previous frame. A [`Scene`] lists elements bottom to top over a background
//!   colour.
//! - **Logical vs physical**: elements, clips and damage are in *logical* coordinates, the
//!   upright picture the user sees. The target is *physical*: what the panel scans out. The
//!   output [`Transform`] (0/90/180/270, each optionally mirrored) maps one to the other.
//! - **Damage** ([`Damage`]) is the set of logical pixels to repaint. Pixels of the target
//!   outside it are never written, so a target that kept last frame's picture only needs the
//!   damage of what changed since then ([`frame_damage`] works it out from two frames).
//!
//! ## How a frame is composed ([`compose`])
//!
//! 1. **Occlusion**, top to bottom, with pixman regions: each element's visible region is its
//!    destination ∩ clip ∩ damage, minus what opaque elements above it cover. An element is
//!    opaque when its format has no alpha or it says so, and its opacity is 1.
//! 2. **Background**: the damage no opaque element covers is filled with the background colour
//!    (`pixman_image_fill_boxes`, SRC).
//! 3. **Elements**, bottom to top: the target's clip region is set to the element's visible
//!    region, mapped to physical coordinates, and one `pixman_image_composite32` draws it —
//!    SRC for an opaque element (a copy), OVER otherwise, with a solid mask carrying the
//!    opacity when it is below 1.
//!
//! Each pixel is therefore written at most once per visible layer, never outside the damage,
//! and never under an opaque element.
//!
//! ## Damage and scan-out
//!
//! The master keeps, per output, the [`ElementState`]s of the last frame. For the next frame
//! [`frame_damage`] damages the old and new areas of elements that appeared, disappeared,
//! moved, resized, changed opacity or stacking, and maps each client's own damage (buffer
//! coordinates, from its flip) through its placement to the output. [`Damage`] clips to the
//! output, keeps disjoint rectangles and collapses to its bounding box past
//! [`DEFAULT_MAX_RECTS`]. With more than one scan-out buffer, the damage to repaint into a
//! buffer is the union of the frames' damages since that buffer was last shown (its age);
//! the frame loop keeps that history, and uses [`Damage::full`] for a new buffer, a mode or
//! transform change.
//!
//! Before composing, [`scanout_candidate`] says whether one opaque element covers the whole
//! output with the right size, format and transform, in which case its buffer can go on the
//! plane as is (DESIGN.md: "a single opaque full-screen window is scanned out directly").
//!
//! ## Transforms
//!
//! The output transform is applied by pixman while sampling, not by a second pass: every
//! element gets one affine map *physical target pixel → source buffer pixel*
//! (inverse output transform, then placement, then scaling, then the buffer's own transform,
//! chained with [`Affine`]), and pixman draws straight into the physical target. When that map
//! is a whole-pixel translation (no rotation, no scaling — the usual case) no pixman transform
//! is set at all and pixman's plain copy/blend paths run; rotations use nearest sampling with
//! pixel centres mapping exactly to pixel centres, so rotated output is bit-identical to
//! rotating the upright output. Scaled elements use bilinear filtering with edge padding.
//!
//! The alternative — compose upright into a logical-size scratch buffer, then copy the damaged
//! area into the target through the rotation — is [`compose_via_scratch`]. Neither wins
//! everywhere (release build, 1280×800, shared x86 cores; `fusionfb-bench`'s composition cases):
//!
//! | rotated 90°, full damage            | direct (`compose`) | via scratch |
//! |-------------------------------------|--------------------|-------------|
//! | one opaque full-screen window       | ≈0.75 ms           | ≈1.4–2 ms   |
//! | 4 overlapping translucent windows   | ≈2.8–4.2 ms        | ≈2.5 ms     |
//! | (upright, for reference)            | ≈0.7–1.0 ms        | —           |
//!
//! pixman has dedicated paths for a rotated SRC copy but blends through a rotation on its
//! generic path, so the direct way pays per translucent layer and the scratch way pays one
//! extra pass plus a full logical frame of memory. `compose` is direct: it needs no extra
//! memory, and the cases that matter on rotated kiosk panels (one opaque app, small damage)
//! are its good ones. An output with stacked translucent windows can switch to the scratch.
//!
//! ## What is hand-written
//!
//! Blending, format conversion, filtering, rotation, fills and region arithmetic are pixman's.
//! Written here, because pixman has no notion of them: the occlusion walk, the coordinate maps
//! (pixman takes the final matrix), [`Damage`] simplification, [`frame_damage`], the scan-out
//! test, and for tests and screenshots the pixel accessors of [`PixelBuffer`] and the PNG
//! conversion of [`png`]. The only `unsafe` code is the pixman image glue over borrowed
//! memory (`pixman_glue.rs`).
//!
//! ## Example
//!
//! ```
//! use fusionfb::compose::{compose, Damage, Element, Format, PixelBuffer, Rect, Scene, Transform};
//!
//! let mut target = PixelBuffer::new(64, 48, Format::Xrgb8888);
//! let window = PixelBuffer::filled(16, 16, Format::Argb8888, 0x80_80_00_00); // half red
//! let elements = [Element::new(1, window.view(), Rect::new(8, 8, 16, 16))];
//! let scene = Scene { elements: &elements, background: 0x00_00_00_ff, transform: Transform::Normal };
//! compose(&mut target.view_mut(), &scene, &Damage::full(64, 48)).unwrap();
//! assert_eq!(target.pixel(0, 0), 0xff_00_00_ff);
//! assert_eq!(target.pixel(10, 10), 0xff_80_00_7f);
//! ```

mod buffer;
mod damage;
mod geometry;
#[allow(unsafe_code)] // pixman's C API: see the module doc
mod pixman_glue;
mod scale;
mod scanout;

pub mod png;

pub use buffer::{pixman_ready, BufferError, Format, PixelBuffer, PixelsMut, PixelsRef};
pub use damage::{frame_damage, Damage, ElementState, DEFAULT_MAX_RECTS};
pub use geometry::{Affine, Logical, Physical, Rect, Size, Transform};
pub use gfx_drivers::format::{argb_to_rgb565, rgb565_to_argb};
pub use scale::scale_into;
pub use scanout::{scanout_candidate, Output};

use crate::compose::buffer::FormatExt;
use fusionfb_types::geometry::Buffer;
use geometry::{from_box, pixman_size, to_box, to_pixman};
use pixman::{Color, Filter, Operation, Region32, Repeat, Solid};

/// One client buffer placed on the output.
#[derive(Debug, Clone, Copy)]
pub struct Element<'a> {
    /// Identity across frames, for [`frame_damage`] (the surface id, say). Unique in a scene.
    pub id: u64,
    /// The pixels.
    pub buffer: PixelsRef<'a>,
    /// Where the buffer is drawn, logical output coordinates. A size different from the
    /// buffer's (after [`Element::buffer_transform`]) scales it.
    pub dst: Rect,
    /// Global opacity, `0.0..=1.0`, multiplied into every pixel.
    pub opacity: f32,
    /// The client promises every pixel is opaque (lets an `Argb8888` buffer be copied instead
    /// of blended, hide what is under it, and be scanned out). `Xrgb8888` and `Rgb565` buffers
    /// are opaque regardless.
    pub opaque: bool,
    /// Only this part of the output is drawn, logical output coordinates.
    pub clip: Option<Rect>,
    /// How the client pre-rotated its content (the buffer is the upright content laid out by
    /// this transform). Equal to the output transform, it makes scan-out possible on a rotated
    /// panel.
    pub buffer_transform: Transform,
    /// What the client redrew since the previous frame, buffer coordinates (from its flip).
    pub damage: &'a [Rect<Buffer>],
    /// Where the pixels are read when they are drawn, if not from [`Element::buffer`] (which
    /// then only gives the size and format): see [`LatePixels`].
    pub late: Option<&'a dyn LatePixels>,
}

/// Pixels an element reads only while it is being drawn, one element at a time: a Wayland
/// client's `wl_shm` pool, which may be read only inside smithay's SIGBUS guard, and that
/// guard covers one pool at a time. [`compose`] asks for them once per element and frame.
pub trait LatePixels: std::fmt::Debug {
    /// Calls `draw` with the pixels (the element's size and format; any pitch). An error
    /// when they cannot be read (the pool was truncated): the element is left out.
    fn with_pixels(&self, draw: &mut dyn FnMut(PixelsRef<'_>)) -> Result<(), String>;
}

impl<'a> Element<'a> {
    /// An element at full opacity, opaque only if its format is, unclipped, not pre-rotated,
    /// with no client damage.
    pub fn new(id: u64, buffer: PixelsRef<'a>, dst: Rect) -> Self {
        Element {
            id,
            buffer,
            dst,
            opacity: 1.0,
            opaque: false,
            clip: None,
            buffer_transform: Transform::Normal,
            damage: &[],
            late: None,
        }
    }

    /// The same element drawn from `late`'s pixels; its buffer gives only the size and
    /// format.
    pub fn with_late(self, late: &'a dyn LatePixels) -> Self {
        Element {
            late: Some(late),
            ..self
        }
    }

    /// The same element with another opacity (clamped to `0.0..=1.0`).
    pub fn with_opacity(self, opacity: f32) -> Self {
        Element {
            opacity: opacity.clamp(0.0, 1.0),
            ..self
        }
    }

    /// The same element, declared opaque or not.
    pub fn with_opaque(self, opaque: bool) -> Self {
        Element { opaque, ..self }
    }

    /// The same element, clipped.
    pub fn with_clip(self, clip: Rect) -> Self {
        Element {
            clip: Some(clip),
            ..self
        }
    }

    /// The same element with a pre-rotated buffer.
    pub fn with_buffer_transform(self, buffer_transform: Transform) -> Self {
        Element {
            buffer_transform,
            ..self
        }
    }

    /// Whether the element hides what is under it: opaque pixels at full opacity.
    pub fn is_opaque(&self) -> bool {
        (self.opaque || self.buffer.format().is_opaque()) && self.opacity >= 1.0
    }

    /// What [`frame_damage`] remembers of this element for the next frame.
    pub fn state(&self) -> ElementState {
        ElementState {
            id: self.id,
            dst: self.dst,
            clip: self.clip,
            opacity: self.opacity,
            opaque: self.opaque,
            buffer_size: (self.buffer.width(), self.buffer.height()),
            format: self.buffer.format(),
            buffer_transform: self.buffer_transform,
        }
    }

    /// The buffer's size once its transform is undone: the size of the upright content.
    fn content_size(&self) -> Size {
        // The buffer is the content laid out by `buffer_transform`, so the content size is the
        // buffer size with axes swapped back for the 90° variants.
        let (w, h) = self
            .buffer_transform
            .transform_size(self.buffer.width(), self.buffer.height());
        Size::new(w, h)
    }

    fn is_scaled(&self) -> bool {
        self.content_size() != self.dst.size()
    }

    /// Logical output → buffer coordinates.
    fn output_to_buffer(&self) -> Affine {
        let content = self.content_size();
        let to_local = Affine::translation(-f64::from(self.dst.x), -f64::from(self.dst.y));
        let scale = Affine::scale(
            f64::from(content.w) / f64::from(self.dst.w),
            f64::from(content.h) / f64::from(self.dst.h),
        );
        self.buffer_transform
            .to_physical(content)
            .then_after(&scale.then_after(&to_local))
    }

    /// A rectangle of the buffer (client damage) as a rectangle of the output, clipped to what
    /// the element can touch.
    pub(crate) fn buffer_rect_to_output(&self, r: Rect<Buffer>) -> Option<Rect> {
        let bounds = self.state().bounds()?;
        let mut out: Rect = self.output_to_buffer().inverse().map_rect(r);
        if self.is_scaled() {
            out = Rect::new(out.x - 1, out.y - 1, out.w + 2, out.h + 2);
        }
        out.intersect(&bounds)
    }
}

/// What to draw: elements bottom to top over a background, and the output transform.
#[derive(Debug, Clone, Copy)]
pub struct Scene<'s, 'a> {
    /// Elements, bottom to top.
    pub elements: &'s [Element<'a>],
    /// Background colour, `0x??RRGGBB` (alpha ignored).
    pub background: u32,
    /// Logical → physical transform of the output.
    pub transform: Transform,
}

/// Why a frame could not be composed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    /// The target's format cannot be written (`Argb8888`).
    #[error("cannot compose into a {0:?} target")]
    UnsupportedTarget(Format),
    /// The damage was made for an output of another size.
    #[error("damage is for a {damage:?} output, the target is {logical:?} logical")]
    DamageSize {
        /// Size the damage was made for.
        damage: (u32, u32),
        /// Logical size of the target under the scene's transform.
        logical: (u32, u32),
    },
    /// The scratch buffer of [`compose_via_scratch`] is not the logical output size.
    #[error("scratch is {scratch:?}, the output is {logical:?} logical")]
    ScratchSize {
        /// Size of the scratch buffer.
        scratch: (u32, u32),
        /// Logical size of the target under the scene's transform.
        logical: (u32, u32),
    },
    /// pixman refused to create an image or set a property (out of memory, bad transform).
    #[error("pixman failed: {0}")]
    Pixman(&'static str),
    /// Pixels pixman cannot take as they are (see [`pixman_ready`]).
    #[error("{what}: {error}")]
    Buffer {
        /// Which image.
        what: &'static str,
        /// What is wrong with it.
        error: BufferError,
    },
}

/// Turns the glue's refusal to make image `what` into a [`ComposeError`].
fn image_error(what: &'static str) -> impl Fn(pixman_glue::ImageError) -> ComposeError {
    move |e| match e {
        pixman_glue::ImageError::Buffer(error) => ComposeError::Buffer { what, error },
        pixman_glue::ImageError::Pixman => ComposeError::Pixman(what),
    }
}

/// What a call to [`compose`] did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ComposeStats {
    /// Damaged pixels (logical).
    pub damaged_pixels: u64,
    /// Pixels filled with the background.
    pub background_pixels: u64,
    /// Elements drawn (some part visible in the damage).
    pub elements_drawn: usize,
    /// Pixels drawn by elements, summed over elements.
    pub element_pixels: u64,
}

fn region_area(r: &Region32) -> u64 {
    r.rectangles()
        .iter()
        .map(|b| from_box::<Logical>(b).area())
        .sum()
}

/// Composes `scene` into `target`, repainting only the pixels of `damage` (logical
/// coordinates; its size must be the target's logical size under `scene.transform`). See the
/// module docs for the steps.
pub fn compose(
    target: &mut PixelsMut<'_>,
    scene: &Scene<'_, '_>,
    damage: &Damage,
) -> Result<ComposeStats, ComposeError> {
    if !target.format().is_target() {
        return Err(ComposeError::UnsupportedTarget(target.format()));
    }
    let (lw, lh) = scene
        .transform
        .transform_size(target.width(), target.height());
    let db = damage.bounds();
    if (db.w, db.h) != (lw, lh) {
        return Err(ComposeError::DamageSize {
            damage: (db.w, db.h),
            logical: (lw, lh),
        });
    }
    let mut stats = ComposeStats {
        damaged_pixels: damage.area(),
        ..ComposeStats::default()
    };
    if damage.is_empty() {
        return Ok(stats);
    }

    // 1. Occlusion, top to bottom.
    let damage_region = damage.to_region();
    let mut covered = Region32::default();
    let mut visible: Vec<(&Element<'_>, Region32)> = Vec::new();
    for e in scene.elements.iter().rev() {
        if e.opacity <= 0.0 || e.dst.is_empty() {
            continue;
        }
        let Some(bounds) = e.state().bounds() else {
            continue;
        };
        let b = bounds;
        let region = damage_region
            .intersect_rect(b.x, b.y, b.w, b.h)
            .subtract(&covered);
        if e.is_opaque() {
            covered = covered.union_rect(b.x, b.y, b.w, b.h);
        }
        if region.is_non_empty() {
            visible.push((e, region));
        }
    }
    let background = damage_region.subtract(&covered);

    let to_physical = scene.transform.to_physical(Size::new(lw, lh));
    let physical_boxes = |r: &Region32| -> Vec<pixman::Box32> {
        r.rectangles()
            .iter()
            .map(|b| to_box(to_physical.map_rect::<Logical, Physical>(from_box(b))))
            .collect()
    };
    let mut dst = pixman_glue::target_image(target).map_err(image_error("target image"))?;

    // 2. Background.
    if background.is_non_empty() {
        stats.background_pixels = region_area(&background);
        dst.fill_boxes(
            Operation::Src,
            Color::from_u32(scene.background | 0xff00_0000),
            &physical_boxes(&background),
        )
        .map_err(|_| ComposeError::Pixman("fill background"))?;
    }

    // 3. Elements, bottom to top.
    let physical_to_logical = to_physical.inverse();
    for (e, region) in visible.iter().rev() {
        stats.elements_drawn += 1;
        stats.element_pixels += region_area(region);
        let clip = Region32::init_rects(&physical_boxes(region));
        let ext = clip
            .rectangles()
            .iter()
            .map(from_box::<Physical>)
            .reduce(|a, b| a.bounding(&b))
            .expect("non-empty region");
        dst.set_clip_region32(Some(&clip))
            .map_err(|_| ComposeError::Pixman("set clip"))?;

        let map = e.output_to_buffer().then_after(&physical_to_logical);
        let mut draw = |pixels: &PixelsRef<'_>| -> Result<(), ComposeError> {
            let mut src = pixman_glue::source_image(pixels).map_err(image_error("source image"))?;
            let src_loc = match map.integer_translation() {
                Some((tx, ty)) => (ext.x + tx, ext.y + ty),
                None => {
                    src.set_transform(to_pixman(&map))
                        .map_err(|_| ComposeError::Pixman("set transform"))?;
                    if e.is_scaled() {
                        src.set_filter(Filter::Bilinear, &[])
                            .map_err(|_| ComposeError::Pixman("set filter"))?;
                        src.set_repeat(Repeat::Pad);
                    } else {
                        src.set_filter(Filter::Nearest, &[])
                            .map_err(|_| ComposeError::Pixman("set filter"))?;
                    }
                    (ext.x, ext.y)
                }
            };
            let mask = if e.opacity < 1.0 {
                let alpha = (e.opacity * 255.0).round() as u16 * 257;
                Some(
                    Solid::new(Color::new(0, 0, 0, alpha))
                        .map_err(|_| ComposeError::Pixman("opacity mask"))?,
                )
            } else {
                None
            };
            let op = if e.is_opaque() {
                Operation::Src
            } else {
                Operation::Over
            };
            dst.composite32(
                op,
                &src,
                mask.as_deref(),
                src_loc,
                (0, 0),
                (ext.x, ext.y),
                pixman_size(ext),
            );
            Ok(())
        };
        match e.late {
            None => draw(&e.buffer)?,
            Some(late) => {
                let want = (e.buffer.width(), e.buffer.height(), e.buffer.format());
                let mut drawn = None;
                let read = late.with_pixels(&mut |p| {
                    if (p.width(), p.height(), p.format()) == want {
                        drawn = Some(draw(&p));
                    }
                });
                match drawn {
                    Some(r) if read.is_ok() => r?,
                    // Pixels that could not be read, or not of the element's size and
                    // format: the element is left out of this frame.
                    _ => stats.elements_drawn -= 1,
                }
            }
        }
    }
    Ok(stats)
}

/// [`compose`] for a rotated output through an upright scratch frame: the damage is composed
/// into `scratch` (logical size, any target format; its pixels outside the damage do not
/// matter), then copied into `target` through the output transform, one SRC composite
/// clipped to the damage.
///
/// Same pixels as [`compose`], different cost: blending through a rotation takes pixman's
/// generic transformed path for every translucent layer, while a rotated SRC copy has
/// dedicated fast paths, so with several overlapping translucent windows this is faster
/// (see `fusionfb-bench`'s composition cases) — at the price of a logical-size scratch buffer and of one more pass over
/// the damage, which makes it slower for opaque windows. With [`Transform::Normal`] the scratch
/// is not used.
pub fn compose_via_scratch(
    target: &mut PixelsMut<'_>,
    scratch: &mut PixelsMut<'_>,
    scene: &Scene<'_, '_>,
    damage: &Damage,
) -> Result<ComposeStats, ComposeError> {
    if scene.transform == Transform::Normal {
        return compose(target, scene, damage);
    }
    if !target.format().is_target() {
        return Err(ComposeError::UnsupportedTarget(target.format()));
    }
    let (lw, lh) = scene
        .transform
        .transform_size(target.width(), target.height());
    if (scratch.width(), scratch.height()) != (lw, lh) {
        return Err(ComposeError::ScratchSize {
            scratch: (scratch.width(), scratch.height()),
            logical: (lw, lh),
        });
    }
    let upright = Scene {
        transform: Transform::Normal,
        ..*scene
    };
    let stats = compose(scratch, &upright, damage)?;
    if damage.is_empty() {
        return Ok(stats);
    }
    let to_physical = scene.transform.to_physical(Size::new(lw, lh));
    let boxes: Vec<pixman::Box32> = damage
        .rects()
        .iter()
        .map(|r| to_box(to_physical.map_rect::<Logical, Physical>(*r)))
        .collect();
    let clip = Region32::init_rects(&boxes);
    let ext: Rect<Physical> = damage
        .extents()
        .map(|r| to_physical.map_rect(r))
        .expect("non-empty damage");
    let src = scratch.as_ref();
    let mut src = pixman_glue::source_image(&src).map_err(image_error("source image"))?;
    src.set_transform(to_pixman(&to_physical.inverse()))
        .map_err(|_| ComposeError::Pixman("set transform"))?;
    src.set_filter(Filter::Nearest, &[])
        .map_err(|_| ComposeError::Pixman("set filter"))?;
    let mut dst = pixman_glue::target_image(target).map_err(image_error("target image"))?;
    dst.set_clip_region32(Some(&clip))
        .map_err(|_| ComposeError::Pixman("set clip"))?;
    dst.composite32(
        Operation::Src,
        &src,
        None,
        (ext.x, ext.y),
        (0, 0),
        (ext.x, ext.y),
        pixman_size(ext),
    );
    Ok(stats)
}

/// The floor under [`compose`]: the same pixels drawn with pixman alone, for benchmarks and
/// for checking that `compose` draws what pixman would. The whole target is filled with
/// `background` (`0x??RRGGBB`, alpha ignored), then each element, bottom to top, is one OVER
/// composite of its whole buffer at its destination's top-left corner — no occlusion, damage,
/// clip, opacity, scaling or transform, so it is only equal to [`compose`] for a scene of
/// unscaled, untransformed, fully opaque-or-premultiplied elements at full opacity on an
/// upright output.
pub fn compose_bare(
    target: &mut PixelsMut<'_>,
    background: u32,
    elements: &[Element<'_>],
) -> Result<(), ComposeError> {
    if !target.format().is_target() {
        return Err(ComposeError::UnsupportedTarget(target.format()));
    }
    let all = [to_box(Rect::<Physical>::from_size(
        target.width(),
        target.height(),
    ))];
    let mut dst = pixman_glue::target_image(target).map_err(image_error("target image"))?;
    dst.fill_boxes(
        Operation::Src,
        Color::from_u32(background | 0xff00_0000),
        &all,
    )
    .map_err(|_| ComposeError::Pixman("fill"))?;
    for e in elements {
        let src = pixman_glue::source_image(&e.buffer).map_err(image_error("source image"))?;
        dst.composite32(
            Operation::Over,
            &src,
            None,
            (0, 0),
            (0, 0),
            (e.dst.x, e.dst.y),
            pixman_size(e.dst),
        );
    }
    Ok(())
}

/// [`compose`] with the whole output damaged.
pub fn compose_full(
    target: &mut PixelsMut<'_>,
    scene: &Scene<'_, '_>,
) -> Result<ComposeStats, ComposeError> {
    let (lw, lh) = scene
        .transform
        .transform_size(target.width(), target.height());
    compose(target, scene, &Damage::full(lw, lh))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene<'s, 'a>(elements: &'s [Element<'a>]) -> Scene<'s, 'a> {
        Scene {
            elements,
            background: 0x10_20_30,
            transform: Transform::Normal,
        }
    }

    #[test]
    fn premultiplied_over_matches_the_formula() {
        let mut target = PixelBuffer::new(4, 4, Format::Xrgb8888);
        // 50% red, premultiplied, over white: 0x80 + 0xff·(1 − 0x80/0xff) = 0xff, 0x7f, 0x7f.
        let src = PixelBuffer::filled(2, 2, Format::Argb8888, 0x80_80_00_00);
        let elements = [Element::new(1, src.view(), Rect::new(1, 1, 2, 2))];
        let s = Scene {
            background: 0xff_ff_ff,
            ..scene(&elements)
        };
        compose_full(&mut target.view_mut(), &s).unwrap();
        assert_eq!(target.pixel(0, 0), 0xff_ff_ff_ff);
        assert_eq!(target.pixel(1, 1), 0xff_ff_7f_7f);
    }

    #[test]
    fn opacity_scales_an_opaque_source() {
        let mut target = PixelBuffer::new(2, 1, Format::Xrgb8888);
        let src = PixelBuffer::filled(1, 1, Format::Xrgb8888, 0xff_ff_ff);
        let elements = [Element::new(1, src.view(), Rect::new(0, 0, 1, 1)).with_opacity(0.5)];
        let s = Scene {
            background: 0,
            ..scene(&elements)
        };
        compose_full(&mut target.view_mut(), &s).unwrap();
        assert_eq!(target.pixel(0, 0), 0xff_80_80_80);
        assert_eq!(target.pixel(1, 0), 0xff_00_00_00);
    }

    #[test]
    fn opaque_elements_hide_what_is_under_them() {
        let mut target = PixelBuffer::new(10, 10, Format::Xrgb8888);
        let under = PixelBuffer::filled(10, 10, Format::Argb8888, 0xff_ff_00_00);
        let over = PixelBuffer::filled(10, 10, Format::Xrgb8888, 0x00_ff_00);
        let elements = [
            Element::new(1, under.view(), Rect::from_size(10, 10)),
            Element::new(2, over.view(), Rect::from_size(10, 10)),
        ];
        let stats = compose_full(&mut target.view_mut(), &scene(&elements)).unwrap();
        assert_eq!(stats.elements_drawn, 1);
        assert_eq!(stats.background_pixels, 0);
        assert_eq!(stats.element_pixels, 100);
        assert_eq!(target.pixel(5, 5), 0xff_00_ff_00);
    }

    #[test]
    fn clip_and_empty_damage() {
        let mut target = PixelBuffer::filled(10, 10, Format::Xrgb8888, 0xabcdef);
        let src = PixelBuffer::filled(10, 10, Format::Xrgb8888, 0x00_ff_00);
        let elements = [
            Element::new(1, src.view(), Rect::from_size(10, 10)).with_clip(Rect::new(2, 2, 2, 2))
        ];
        let stats = compose(
            &mut target.view_mut(),
            &scene(&elements),
            &Damage::empty(10, 10),
        )
        .unwrap();
        assert_eq!(stats, ComposeStats::default());
        assert_eq!(target.pixel(0, 0), 0xff_ab_cd_ef);
        compose_full(&mut target.view_mut(), &scene(&elements)).unwrap();
        assert_eq!(target.pixel(2, 2), 0xff_00_ff_00);
        assert_eq!(target.pixel(4, 4), 0xff_10_20_30);
    }

    #[test]
    fn errors() {
        let mut argb = PixelBuffer::new(4, 4, Format::Argb8888);
        assert_eq!(
            compose_full(&mut argb.view_mut(), &scene(&[])),
            Err(ComposeError::UnsupportedTarget(Format::Argb8888))
        );
        let mut target = PixelBuffer::new(4, 2, Format::Xrgb8888);
        let s = Scene {
            transform: Transform::Rotate90,
            ..scene(&[])
        };
        assert_eq!(
            compose(&mut target.view_mut(), &s, &Damage::full(4, 2)),
            Err(ComposeError::DamageSize {
                damage: (4, 2),
                logical: (2, 4)
            })
        );
    }

    /// Pixels handed over only while drawn, or not at all.
    #[derive(Debug)]
    struct Late(Option<PixelBuffer>);

    impl LatePixels for Late {
        fn with_pixels(&self, draw: &mut dyn FnMut(PixelsRef<'_>)) -> Result<(), String> {
            let p = self.0.as_ref().ok_or("truncated")?;
            draw(p.view());
            Ok(())
        }
    }

    #[test]
    fn late_pixels_are_drawn_instead_of_the_buffer_and_unreadable_ones_not_at_all() {
        let mut target = PixelBuffer::filled(6, 2, Format::Xrgb8888, 0xab_cd_ef);
        let stale = PixelBuffer::filled(2, 2, Format::Xrgb8888, 0xff_00_00);
        let green = Late(Some(PixelBuffer::filled(
            2,
            2,
            Format::Xrgb8888,
            0x00_ff_00,
        )));
        let gone = Late(None);
        let wrong = Late(Some(PixelBuffer::filled(
            1,
            2,
            Format::Xrgb8888,
            0x00_00_ff,
        )));
        let elements = [
            Element::new(1, stale.view(), Rect::new(0, 0, 2, 2)).with_late(&green),
            Element::new(2, stale.view(), Rect::new(2, 0, 2, 2)).with_late(&gone),
            Element::new(3, stale.view(), Rect::new(4, 0, 2, 2)).with_late(&wrong),
        ];
        let stats = compose_full(&mut target.view_mut(), &scene(&elements)).unwrap();
        assert_eq!(target.pixel(1, 1), 0xff_00_ff_00, "the late pixels");
        // Unreadable, or not of the element's size: left out, and (opaque, so nothing was
        // drawn under them) the target keeps what it had there.
        assert_eq!(target.pixel(3, 1), 0xff_ab_cd_ef);
        assert_eq!(target.pixel(5, 1), 0xff_ab_cd_ef);
        assert_eq!(stats.elements_drawn, 1);
    }

    #[test]
    fn scaled_elements_fill_their_destination() {
        let mut target = PixelBuffer::new(8, 8, Format::Xrgb8888);
        let src = PixelBuffer::filled(2, 2, Format::Xrgb8888, 0x00_00_ff);
        let elements = [Element::new(1, src.view(), Rect::new(2, 2, 4, 4))];
        compose_full(&mut target.view_mut(), &scene(&elements)).unwrap();
        for y in 0..8 {
            for x in 0..8 {
                let inside = (2..6).contains(&x) && (2..6).contains(&y);
                let want = if inside { 0xff_00_00_ff } else { 0xff_10_20_30 };
                assert_eq!(target.pixel(x, y), want, "({x}, {y})");
            }
        }
    }
}
