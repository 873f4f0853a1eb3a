//! Display modes: how a DRM mode's timings become a [`Mode`], and which mode an output runs
//! ([`ModeChoice`], from the config's `display.mode`). Pure logic, unit-tested here; the
//! DRM calls are in the parent module.

use crate::backend::Mode;

/// Which mode to run, as the config's `display.mode` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModeChoice {
    /// The connector's preferred mode (from EDID or the driver); its first mode if none is
    /// marked preferred.
    #[default]
    Preferred,
    /// The mode the CRTC runs already (what the boot splash or firmware set): no modeset
    /// flash. The preferred one when the CRTC is off.
    Current,
    /// This size; at this refresh rate (mHz, within half a hertz) or, when `None`, the
    /// fastest the size offers.
    Exact {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Refresh rate in mHz, or `None` for the fastest.
        refresh_mhz: Option<u32>,
    },
}

/// One mode a connector offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The mode.
    pub mode: Mode,
    /// Whether the connector marks it preferred.
    pub preferred: bool,
}

/// The refresh rate in mHz of a mode with a pixel clock of `clock_khz`, `htotal` × `vtotal`
/// pixels per frame, interlaced (two fields a frame) and/or double-scanned: the exact rate,
/// where DRM's `vrefresh` rounds to whole hertz.
pub fn refresh_mhz(
    clock_khz: u32,
    htotal: u16,
    vtotal: u16,
    interlaced: bool,
    doublescan: bool,
) -> u32 {
    let mut pixels = u64::from(htotal) * u64::from(vtotal);
    if doublescan {
        pixels *= 2;
    }
    if pixels == 0 {
        return 0;
    }
    let mut mhz = (u64::from(clock_khz) * 1_000_000 + pixels / 2) / pixels;
    if interlaced {
        mhz *= 2;
    }
    mhz.min(u64::from(u32::MAX)) as u32
}

/// The order [`crate::backend::OutputInfo::modes`] lists `modes` in: preferred first, then as
/// the connector listed them. Returns indices into `modes`.
pub fn order(modes: &[Candidate]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..modes.len()).collect();
    idx.sort_by_key(|&i| !modes[i].preferred);
    idx
}

/// Picks the mode to run among `modes` (indices into it), or says why none fits. `current`
/// is what the CRTC runs now, if anything.
pub fn select(
    choice: ModeChoice,
    modes: &[Candidate],
    current: Option<Mode>,
) -> Result<usize, String> {
    if modes.is_empty() {
        return Err("the connector offers no modes".into());
    }
    let preferred = || modes.iter().position(|m| m.preferred).unwrap_or(0);
    match choice {
        ModeChoice::Preferred => Ok(preferred()),
        ModeChoice::Current => Ok(current
            .and_then(|c| modes.iter().position(|m| m.mode == c))
            .unwrap_or_else(preferred)),
        ModeChoice::Exact {
            width,
            height,
            refresh_mhz,
        } => {
            let sized = modes
                .iter()
                .enumerate()
                .filter(|(_, m)| m.mode.width == width && m.mode.height == height);
            let best = match refresh_mhz {
                None => sized.max_by_key(|(_, m)| m.mode.refresh_mhz),
                Some(want) => sized
                    .filter(|(_, m)| m.mode.refresh_mhz.abs_diff(want) <= 500)
                    .min_by_key(|(_, m)| m.mode.refresh_mhz.abs_diff(want)),
            };
            best.map(|(i, _)| i).ok_or_else(|| {
                let have: Vec<String> = modes.iter().map(|m| m.mode.to_string()).collect();
                let want = match refresh_mhz {
                    Some(r) => format!("{width}x{height}@{}.{:03}", r / 1000, r % 1000),
                    None => format!("{width}x{height}"),
                };
                format!(
                    "the connector has no mode {want}; it offers {}",
                    have.join(", ")
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(w: u32, h: u32, mhz: u32, preferred: bool) -> Candidate {
        Candidate {
            mode: Mode::new(w, h, mhz),
            preferred,
        }
    }

    #[test]
    fn refresh_from_timings() {
        // CEA 1080p60: 148.5 MHz, 2200 x 1125.
        assert_eq!(refresh_mhz(148_500, 2200, 1125, false, false), 60_000);
        // 1080p59.94: 148.352 MHz.
        assert_eq!(refresh_mhz(148_352, 2200, 1125, false, false), 59_940);
        // 1080i60: two fields per frame.
        assert_eq!(refresh_mhz(74_250, 2200, 1125, true, false), 60_000);
        assert_eq!(refresh_mhz(74_250, 2200, 1125, false, true), 15_000);
        assert_eq!(refresh_mhz(74_250, 0, 1125, false, false), 0);
    }

    #[test]
    fn preferred_first_and_fallback() {
        let modes = [
            c(1024, 768, 60_000, false),
            c(1280, 800, 60_000, true),
            c(800, 600, 60_000, false),
        ];
        assert_eq!(order(&modes), vec![1, 0, 2]);
        assert_eq!(select(ModeChoice::Preferred, &modes, None), Ok(1));
        let none_preferred = [c(1024, 768, 60_000, false), c(800, 600, 60_000, false)];
        assert_eq!(select(ModeChoice::Preferred, &none_preferred, None), Ok(0));
        assert!(select(ModeChoice::Preferred, &[], None).is_err());
    }

    #[test]
    fn current_keeps_the_crtc_mode_or_falls_back_to_preferred() {
        let modes = [c(1280, 800, 60_000, true), c(1024, 768, 75_000, false)];
        let cur = Some(Mode::new(1024, 768, 75_000));
        assert_eq!(select(ModeChoice::Current, &modes, cur), Ok(1));
        assert_eq!(select(ModeChoice::Current, &modes, None), Ok(0));
        let odd = Some(Mode::new(640, 480, 60_000));
        assert_eq!(select(ModeChoice::Current, &modes, odd), Ok(0));
    }

    #[test]
    fn exact_matches_size_and_rate_within_half_a_hertz() {
        let modes = [
            c(1920, 1080, 60_000, true),
            c(1920, 1080, 59_940, false),
            c(1920, 1080, 50_000, false),
            c(1280, 720, 60_000, false),
        ];
        let exact = |w, h, r| ModeChoice::Exact {
            width: w,
            height: h,
            refresh_mhz: r,
        };
        assert_eq!(select(exact(1920, 1080, Some(59_940)), &modes, None), Ok(1));
        assert_eq!(select(exact(1920, 1080, Some(60_000)), &modes, None), Ok(0));
        assert_eq!(select(exact(1920, 1080, Some(50_000)), &modes, None), Ok(2));
        assert_eq!(select(exact(1920, 1080, None), &modes, None), Ok(0));
        let err = select(exact(1920, 1080, Some(30_000)), &modes, None).unwrap_err();
        assert!(err.contains("no mode 1920x1080@30.000"), "{err}");
        assert!(err.contains("1280x720@60.000"), "{err}");
        assert!(select(exact(640, 480, None), &modes, None).is_err());
    }
}
