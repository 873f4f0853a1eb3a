//! `fusionfb-clock`: the local time, large, centred in its window, with the date below.
//!
//! `HH:MM:SS` is redrawn once a second, just after the second turns; only the time's box is
//! damaged and flipped (the date's box too, when the date changes). Between seconds the
//! clock sleeps in the master's event wait; touches are ignored. The time zone is the C
//! library's (`TZ`, else `/etc/localtime`).
//!
//! ```text
//! fusionfb-clock [--world NAME] [--x X] [--y Y] [--width W] [--height H] [--layer L]
//! ```

#![deny(unsafe_code)]

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use fusionfb_client::app::{self, App, AppError, WindowArgs, CLOCK_BACKGROUND};
use fusionfb_client::draw::{Canvas, Colour, Font, Rect, MAX_TEXT_PX};

/// A clock on a fusionfb display: the local time, large, and the date.
#[derive(Debug, Parser)]
#[command(name = "fusionfb-clock", version)]
struct Cli {
    #[command(flatten)]
    window: WindowArgs,
}

const TIME_COLOUR: Colour = Colour::rgb(0xe8, 0xec, 0xf0);
const DATE_COLOUR: Colour = Colour::rgb(0x9a, 0xa8, 0xb8);
/// The widest time there is (DejaVu's digits share one advance, but be safe).
const WIDEST_TIME: &str = "00:00:00";
/// About the widest date there is.
const WIDEST_DATE: &str = "Wednesday, 2000-00-00";

/// The local wall-clock time, broken down (the platform layer's `localtime_r`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LocalTime(fusionfb_sys::LocalTime);

impl std::ops::Deref for LocalTime {
    type Target = fusionfb_sys::LocalTime;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl LocalTime {
    fn of(t: SystemTime) -> LocalTime {
        let secs = t
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        LocalTime(fusionfb_sys::local_time(secs))
    }

    fn time(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }

    fn date(&self) -> String {
        const DAYS: [&str; 7] = [
            "Sunday",
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
        ];
        format!(
            "{}, {:04}-{:02}-{:02}",
            DAYS[self.weekday as usize], self.year, self.month, self.day
        )
    }
}

/// Where the two lines go in a `w`×`h` window.
#[derive(Debug, Clone, Copy)]
struct Layout {
    time_size: f32,
    date_size: f32,
    /// What a second's redraw covers.
    time_box: Rect,
    /// What a new day's redraw covers.
    date_box: Rect,
}

impl Layout {
    fn new(w: u32, h: u32) -> Layout {
        let font = Font::bundled();
        // Text size scales linearly: fit the widest line in 85 % of the width.
        let fit = |text: &str, fraction: f32| {
            let per_px = font.measure(100.0, text).width as f32 / 100.0;
            (w as f32 * fraction / per_px.max(0.01)).min(MAX_TEXT_PX)
        };
        let time_size = fit(WIDEST_TIME, 0.85).min(h as f32 * 0.45).max(6.0);
        let date_size = fit(WIDEST_DATE, 0.85).min(time_size * 0.28).max(6.0);
        let tm = font.measure(time_size, WIDEST_TIME);
        let dm = font.measure(date_size, WIDEST_DATE);
        let gap = (time_size * 0.1) as u32;
        let top = (h as i32 - (tm.height + gap + dm.height) as i32) / 2;
        let pad = (time_size * 0.08).ceil() as u32 + 2;
        let tw = tm.width + 2 * pad;
        let time_box = Rect::new(
            (w as i32 - tw as i32) / 2,
            top - pad as i32 / 2,
            tw,
            tm.height + pad,
        );
        let date_box = Rect::new(0, top + (tm.height + gap) as i32, w, dm.height + pad / 2);
        Layout {
            time_size,
            date_size,
            time_box,
            date_box,
        }
    }
}

/// Draws `text` centred in `area` (cleared first); returns the damage.
fn centred(c: &mut Canvas<'_>, area: Rect, size: f32, colour: Colour, text: &str) -> Rect {
    let damage = c.fill_rect(area, CLOCK_BACKGROUND);
    let m = c.measure_text(size, text);
    let at = area.centred(m.width, m.height);
    damage.bounding(&c.draw_text(at.x, at.y, size, colour, text))
}

fn run() -> Result<(), AppError> {
    let cli = Cli::parse();
    // No other thread exists yet.
    fusionfb_sys::load_time_zone();
    let mut app = App::open(&cli.window)?;
    let layout = Layout::new(app.width(), app.height());
    let mut shown: Option<LocalTime> = None;
    loop {
        let now = LocalTime::of(SystemTime::now());
        if shown != Some(now) {
            let new_day =
                shown.is_none_or(|s| (s.year, s.month, s.day) != (now.year, now.month, now.day));
            let first = shown.is_none();
            app.draw(|c| {
                let mut damage = Vec::new();
                if first {
                    damage.push(c.clear(CLOCK_BACKGROUND));
                }
                damage.push(centred(
                    c,
                    layout.time_box,
                    layout.time_size,
                    TIME_COLOUR,
                    &now.time(),
                ));
                if new_day {
                    damage.push(centred(
                        c,
                        layout.date_box,
                        layout.date_size,
                        DATE_COLOUR,
                        &now.date(),
                    ));
                }
                damage
            })?;
            shown = Some(now);
        }
        // Sleep until just after the next second (touches may wake us earlier; ignored).
        let into = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let left = Duration::from_nanos(1_000_000_000 - u64::from(into)) + Duration::from_millis(2);
        app.wait(Some(left))?;
    }
}

fn main() -> ExitCode {
    app::main("fusionfb-clock", run)
}
