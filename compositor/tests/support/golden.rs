//! Golden-image checks: a composed buffer is compared pixel by pixel with a reference PNG.
//!
//! References live in the crate (`compositor/tests/golden/NAME.png`) and are committed. A
//! mismatch fails with the first differing pixel and the number of differing pixels, and
//! writes what was produced to `target/golden-failures/NAME.actual.png` for a look. Setting
//! `FUSIONFB_BLESS=1` (re)writes the references instead of comparing; review the new images
//! before committing them.
//!
//! Comparison is exact. It goes through the PNG encoding on both sides, so buffers of any
//! format compare the way their PNG files look.
//!
//! It is a helper of `fusionfb`'s integration tests (`tests/support/`), not part of the
//! library: the master never compares images.
//!
//! ```ignore
//! use fusionfb::compose::{Format, PixelBuffer};
//! use support::golden::Golden;
//!
//! let frame = PixelBuffer::filled(160, 100, Format::Xrgb8888, 0x203040);
//! Golden::for_crate(env!("CARGO_MANIFEST_DIR")).assert("background", &frame.view());
//! ```

use std::path::{Path, PathBuf};

use fusionfb::compose::png::{self, PngError};
use fusionfb::compose::{PixelBuffer, PixelsRef};

/// The environment variable that turns checks into (re)writing references.
pub const BLESS_ENV: &str = "FUSIONFB_BLESS";

/// Where references are read and failures written.
#[derive(Debug, Clone)]
pub struct Golden {
    references: PathBuf,
    failures: PathBuf,
}

/// What a successful check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The buffer equals the reference.
    Matched,
    /// `FUSIONFB_BLESS=1`: the reference was written from the buffer.
    Blessed,
}

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    /// No reference exists yet.
    #[error("golden `{name}`: no reference at {path}; run with {BLESS_ENV}=1 to create it (actual written to {actual})")]
    Missing {
        /// Name of the check.
        name: String,
        /// Where the reference was looked for.
        path: PathBuf,
        /// Where the produced image was written.
        actual: PathBuf,
    },
    /// The sizes differ.
    #[error("golden `{name}`: size {actual_size:?} differs from the reference's {expected_size:?} (actual written to {actual})")]
    Size {
        /// Name of the check.
        name: String,
        /// Reference size.
        expected_size: (u32, u32),
        /// Produced size.
        actual_size: (u32, u32),
        /// Where the produced image was written.
        actual: PathBuf,
    },
    /// Pixels differ.
    #[error("golden `{name}`: {count} pixel(s) differ; first at ({x}, {y}): expected {expected:#010x}, got {got:#010x} (ARGB); actual written to {actual}; if the change is intended, rerun with {BLESS_ENV}=1")]
    Pixels {
        /// Name of the check.
        name: String,
        /// Number of differing pixels.
        count: u64,
        /// First differing pixel, in row order.
        x: u32,
        /// First differing pixel, in row order.
        y: u32,
        /// Reference value there.
        expected: u32,
        /// Produced value there.
        got: u32,
        /// Where the produced image was written.
        actual: PathBuf,
    },
    /// A PNG could not be read or written.
    #[error("golden: {0}")]
    Png(#[from] PngError),
}

impl Golden {
    /// References in `references`, failure images in `failures`.
    pub fn new(references: impl Into<PathBuf>, failures: impl Into<PathBuf>) -> Self {
        Golden {
            references: references.into(),
            failures: failures.into(),
        }
    }

    /// The layout for a crate: references in `MANIFEST_DIR/tests/golden`, failures in
    /// `target/golden-failures` of the workspace (`$CARGO_TARGET_DIR` if set).
    pub fn for_crate(manifest_dir: impl AsRef<Path>) -> Self {
        let manifest_dir = manifest_dir.as_ref();
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => manifest_dir
                .ancestors()
                .find(|d| d.join("Cargo.lock").exists())
                .unwrap_or(manifest_dir)
                .join("target"),
        };
        Golden::new(
            manifest_dir.join("tests").join("golden"),
            target.join("golden-failures"),
        )
    }

    /// Path of the reference for `name`.
    pub fn reference_path(&self, name: &str) -> PathBuf {
        self.references.join(format!("{name}.png"))
    }

    /// Path where a failing `name` is written.
    pub fn failure_path(&self, name: &str) -> PathBuf {
        self.failures.join(format!("{name}.actual.png"))
    }

    /// Compares `actual` with the reference `name`, or writes the reference when
    /// `FUSIONFB_BLESS=1`.
    pub fn check(&self, name: &str, actual: &PixelsRef<'_>) -> Result<Outcome, GoldenError> {
        let reference = self.reference_path(name);
        if std::env::var(BLESS_ENV).is_ok_and(|v| v == "1") {
            png::write(&reference, actual)?;
            return Ok(Outcome::Blessed);
        }
        let actual_path = self.failure_path(name);
        if !reference.exists() {
            png::write(&actual_path, actual)?;
            return Err(GoldenError::Missing {
                name: name.to_string(),
                path: reference,
                actual: actual_path,
            });
        }
        let expected = png::read(&reference)?;
        // Through PNG, so every format compares the way its file looks.
        let got = png::decode(&png::encode(actual)?)?;
        if (expected.width(), expected.height()) != (got.width(), got.height()) {
            png::write(&actual_path, actual)?;
            return Err(GoldenError::Size {
                name: name.to_string(),
                expected_size: (expected.width(), expected.height()),
                actual_size: (got.width(), got.height()),
                actual: actual_path,
            });
        }
        match differences(&expected, &got) {
            None => {
                let _ = std::fs::remove_file(&actual_path);
                Ok(Outcome::Matched)
            }
            Some((count, x, y)) => {
                png::write(&actual_path, actual)?;
                Err(GoldenError::Pixels {
                    name: name.to_string(),
                    count,
                    x,
                    y,
                    expected: expected.pixel(x, y),
                    got: got.pixel(x, y),
                    actual: actual_path,
                })
            }
        }
    }

    /// [`Golden::check`], panicking with the error's message on failure.
    #[track_caller]
    pub fn assert(&self, name: &str, actual: &PixelsRef<'_>) {
        if let Err(e) = self.check(name, actual) {
            panic!("{e}");
        }
    }
}

/// Number of differing pixels and the first one in row order, or `None` if equal.
fn differences(a: &PixelBuffer, b: &PixelBuffer) -> Option<(u64, u32, u32)> {
    let mut first = None;
    let mut count = 0;
    for y in 0..a.height() {
        for x in 0..a.width() {
            if a.pixel(x, y) != b.pixel(x, y) {
                count += 1;
                first.get_or_insert((x, y));
            }
        }
    }
    first.map(|(x, y)| (count, x, y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusionfb::compose::Format;

    #[test]
    fn reports_the_first_differing_pixel_and_writes_the_actual_image() {
        let dir = std::env::temp_dir().join(format!("fusionfb-golden-{}", std::process::id()));
        let golden = Golden::new(dir.join("refs"), dir.join("failures"));
        let mut b = PixelBuffer::filled(4, 3, Format::Xrgb8888, 0x102030);
        png::write(&golden.reference_path("t"), &b.view()).unwrap();
        if std::env::var(BLESS_ENV).is_err() {
            assert_eq!(golden.check("t", &b.view()).unwrap(), Outcome::Matched);
            b.set_pixel(2, 1, 0xff0000);
            b.set_pixel(3, 2, 0xff0000);
            let err = golden.check("t", &b.view()).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("2 pixel(s) differ; first at (2, 1)"), "{msg}");
            assert!(msg.contains("expected 0xff102030, got 0xffff0000"), "{msg}");
            assert!(golden.failure_path("t").exists());
            assert!(matches!(
                golden.check("missing", &b.view()),
                Err(GoldenError::Missing { .. })
            ));
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
