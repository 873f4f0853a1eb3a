//! `fusionfb-calibrate`: the touchscreen calibration client (what `ts_calibrate` and
//! `weston-touch-calibrator` do).
//!
//! It covers the output with a window, asks the master for calibration mode (every touch then
//! comes to it raw: the panel's own normalized, uncalibrated reading), shows five crosshairs
//! one after the other, takes the first touch-down on each, fits the matrix by least squares
//! (`fusionfb_input::Calibration::solve`) and prints it as the config line, or writes it into
//! `--config FILE` (`[input] calibration = [...]`, the rest of the file untouched).
//!
//! The targets are placed in the upright picture; the master says how the panel is mounted,
//! so the matrix is computed on the panel's own axes, where libinput and udev's
//! `LIBINPUT_CALIBRATION_MATRIX` apply it.

#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use fusionfb_client::display::{ClientEvent, Display};
use fusionfb_client::draw::{Canvas, Colour, Rect};
use fusionfb_client::protocol::TouchPhase;
use fusionfb_client::Format;
use fusionfb_input::{Calibration, Transform};

#[derive(Parser)]
#[command(name = "fusionfb-calibrate", about = "Calibrate the touchscreen")]
struct Args {
    /// The world (default: $FUSIONFB_WORLD, else "default").
    #[arg(long)]
    world: Option<String>,
    /// Write the matrix into this config file's `[input]` table (else print it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Give up after this many seconds without a touch.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

/// Where the targets are, as fractions of the output.
const TARGETS: [(f64, f64); 5] = [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9), (0.5, 0.5)];

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fusionfb-calibrate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let err = |e: fusionfb_client::display::ClientError| e.to_string();
    let mut d = Display::connect(args.world.as_deref()).map_err(err)?;
    let (w, h) = (d.output().width, d.output().height);
    let mut surface = d.create_surface(w, h, Format::Xrgb8888, 1).map_err(err)?;
    let window = d.create_window(&surface, 0, 0, 0).map_err(err)?;
    let (turns, flipped) = d.calibration_mode(&window, true).map_err(err)?;
    let panel = Transform::from_parts(turns, flipped);
    let mut samples = Vec::new();
    for (i, &(fx, fy)) in TARGETS.iter().enumerate() {
        let (tx, ty) = ((fx * w as f64) as i32, (fy * h as f64) as i32);
        let back = surface.back();
        let pitch = back.pitch();
        back.with_bytes_mut(|bytes| {
            if let Ok(mut c) = Canvas::new(bytes, w, h, pitch, Format::Xrgb8888) {
                draw_target(&mut c, tx, ty);
            }
        })
        .map_err(|e| e.to_string())?;
        d.flip(&mut surface, &[]).map_err(err)?;
        let raw = wait_touch(&mut d, Duration::from_secs(args.timeout))?;
        eprintln!(
            "fusionfb-calibrate: target {}/{} at ({tx}, {ty}): panel reads ({:.4}, {:.4})",
            i + 1,
            TARGETS.len(),
            raw.0,
            raw.1
        );
        // The target on the panel's own axes (normalized), where the matrix applies.
        samples.push((raw, panel.normalized_to_physical(fx, fy)));
    }
    d.calibration_mode(&window, false).map_err(err)?;
    let m = Calibration::solve(&samples)
        .ok_or("the touches do not determine a matrix (all on one line?)")?;
    let line = config_line(&m);
    match &args.config {
        None => println!("{line}"),
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            std::fs::write(path, with_calibration(&text, &line))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            println!("fusionfb-calibrate: wrote {line} to {}", path.display());
        }
    }
    Ok(())
}

/// The first touch-down that comes, as the panel read it.
fn wait_touch(d: &mut Display, timeout: Duration) -> Result<(f64, f64), String> {
    let end = Instant::now() + timeout;
    loop {
        while let Some(e) = d.next_event() {
            match e {
                ClientEvent::RawTouch { touch, .. } if touch.phase == TouchPhase::Down => {
                    return Ok((touch.u as f64, touch.v as f64));
                }
                ClientEvent::MasterGone | ClientEvent::LeaveRequested => {
                    return Err("the master went away".into())
                }
                _ => {}
            }
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("no touch came".into());
        }
        d.dispatch(Some(left.min(Duration::from_millis(100))))
            .map_err(|e| e.to_string())?;
    }
}

fn draw_target(c: &mut Canvas<'_>, x: i32, y: i32) {
    c.clear(Colour::rgb(0x10, 0x10, 0x18));
    let white = Colour::WHITE;
    c.fill_rect(Rect::new(x - 20, y, 41, 1), white);
    c.fill_rect(Rect::new(x, y - 20, 1, 41), white);
    c.fill_rect(Rect::new(x - 3, y - 3, 7, 7), Colour::rgb(0xe0, 0x40, 0x40));
}

/// `calibration = [a, b, c, d, e, f]`.
fn config_line(m: &Calibration) -> String {
    let v: Vec<String> = m.0.iter().map(|x| format!("{x:.6}")).collect();
    format!("calibration = [{}]", v.join(", "))
}

/// `text` with `line` as its `[input]` table's `calibration`: an existing `calibration = …`
/// there (even spread over several lines) is replaced, else the line goes right under the
/// `[input]` header, else an `[input]` table is appended. Nothing else changes.
fn with_calibration(text: &str, line: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let header = |l: &str| l.trim_start().starts_with('[');
    let is_input = |l: &str| {
        let t = l.trim();
        t == "[input]" || t.starts_with("[input]") && t[7..].trim_start().starts_with('#')
    };
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    let mut done = false;
    while i < lines.len() {
        let l = lines[i];
        out.push(l.to_string());
        i += 1;
        if done || !is_input(l) {
            continue;
        }
        // Inside [input]: find an existing key before the next table.
        let start = i;
        let mut j = start;
        while j < lines.len() && !header(lines[j]) {
            let t = lines[j].trim_start();
            if t.starts_with("calibration")
                && t["calibration".len()..].trim_start().starts_with('=')
            {
                let mut end = j;
                // A multi-line array runs to its closing bracket.
                while !lines[end].contains(']') && end + 1 < lines.len() {
                    end += 1;
                }
                out.extend(lines[start..j].iter().map(|s| s.to_string()));
                out.push(line.to_string());
                i = end + 1;
                done = true;
                break;
            }
            j += 1;
        }
        if !done {
            out.push(line.to_string());
            done = true;
        }
    }
    if !done {
        if out.last().is_some_and(|l| !l.is_empty()) {
            out.push(String::new());
        }
        out.push("[input]".into());
        out.push(line.into());
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "calibration = [1, 0, 0, 0, 1, 0]";

    #[test]
    fn the_matrix_replaces_an_old_one_and_keeps_the_rest() {
        let text = "# board\n[display]\nbackend = \"drm\"\n\n[input] # touch\nseat = \"seat0\"\ncalibration = [\n  0.9, 0, 0,\n  0, 0.9, 0]\ncursor-visible = false\n\n[[layer]]\nid = 0\n";
        let out = with_calibration(text, LINE);
        assert_eq!(
            out,
            "# board\n[display]\nbackend = \"drm\"\n\n[input] # touch\nseat = \"seat0\"\ncalibration = [1, 0, 0, 0, 1, 0]\ncursor-visible = false\n\n[[layer]]\nid = 0\n"
        );
    }

    #[test]
    fn the_matrix_goes_into_an_input_table_or_a_new_one() {
        assert_eq!(
            with_calibration("[input]\nseat = \"seat1\"\n[world]\n", LINE),
            "[input]\ncalibration = [1, 0, 0, 0, 1, 0]\nseat = \"seat1\"\n[world]\n"
        );
        assert_eq!(
            with_calibration("[world]\nname = \"x\"\n", LINE),
            "[world]\nname = \"x\"\n\n[input]\ncalibration = [1, 0, 0, 0, 1, 0]\n"
        );
    }
}
