//! `fusionfb-layer-client`: a test client that takes a layer exclusively and paints a known
//! pattern into the plane's own scan-out buffer (the zero-copy path: on DRM the buffers are
//! the card's dumb buffers, exported as PRIME dma-bufs and mapped here; every CPU access is
//! bracketed with `DMA_BUF_IOCTL_SYNC` by `gfx_drivers::buffer::Buffer`).
//!
//! ```text
//! fusionfb-layer-client [--world NAME] [--layer L] [--frames N]
//! ```
//!
//! The pattern is four quadrants, [`QUADRANTS`] from top-left clockwise, drawn into every
//! buffer of the surface; the client flips `N` times (default 1), one frame each, then prints
//! `fusionfb-layer-client: shown WxH dma-buf=BOOL flips=N` and stays until the master ends
//! the session (or it is killed). When the master dies and a new one takes it back, it
//! prints `fusionfb-layer-client: rejoined lost=N`. A failure (e.g. the driver cannot export its buffers) is
//! printed as `fusionfb-layer-client: ERROR` and the error, exit status 1.

#![deny(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use fusionfb_client::display::Display;
use gfx_drivers::backend::Rect;

/// The pattern's colours (premultiplied opaque ARGB): top-left, top-right, bottom-right,
/// bottom-left.
pub const QUADRANTS: [u32; 4] = [0xffd0_2030, 0xff20_c040, 0xffe0_c020, 0xff20_40d0];

struct Args {
    world: Option<String>,
    layer: u32,
    frames: u32,
}

/// What `--help` prints.
const USAGE: &str = "\
fusionfb-layer-client: takes a layer exclusively and paints four coloured quadrants straight
into its scan-out buffers (the zero-copy path; a test client of fusionfb's board tests)

Usage: fusionfb-layer-client [--world NAME] [--layer L] [--frames N]

Options:
  --world NAME  the world to join [default: $FUSIONFB_WORLD, else default]
  --layer L     the layer to take exclusively [default: 0]
  --frames N    how many frames to flip before waiting [default: 1]
  -h, --help    print this help

Prints `fusionfb-layer-client: shown WxH dma-buf=BOOL flips=N` once the pattern is on the
glass, then stays until the master ends the session. A failure (a driver that cannot export
its buffers) prints `fusionfb-layer-client: ERROR <why>` and exits 1.
";

fn args() -> Result<Args, String> {
    let mut a = Args {
        world: None,
        layer: 0,
        frames: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--world" => a.world = Some(value()?),
            "--layer" => a.layer = value()?.parse().map_err(|e| format!("--layer: {e}"))?,
            "--frames" => a.frames = value()?.parse().map_err(|e| format!("--frames: {e}"))?,
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(a)
}

fn run() -> Result<(), String> {
    let args = args()?;
    let mut display = Display::connect(args.world.as_deref()).map_err(|e| e.to_string())?;
    let mut surface = display
        .acquire_layer(args.layer)
        .map_err(|e| format!("acquiring layer {}: {e}", args.layer))?;
    let (w, h) = (surface.width(), surface.height());
    let (hw, hh) = (w / 2, h / 2);
    let rects = [
        Rect::new(0, 0, hw, hh),
        Rect::new(hw as i32, 0, w - hw, hh),
        Rect::new(hw as i32, hh as i32, w - hw, h - hh),
        Rect::new(0, hh as i32, hw, h - hh),
    ];
    for b in surface.buffers() {
        for (r, c) in rects.iter().zip(QUADRANTS) {
            b.fill_rect(*r, c).map_err(|e| format!("drawing: {e}"))?;
        }
    }
    let dma_buf = surface.buffers().iter().all(|b| b.is_dma_buf());
    for _ in 0..args.frames.max(1) {
        display
            .flip(&mut surface, &[])
            .map_err(|e| format!("flip: {e}"))?;
        display
            .wait_frame(&surface, Duration::from_secs(10))
            .map_err(|e| format!("waiting for the frame: {e}"))?;
    }
    println!(
        "fusionfb-layer-client: shown {w}x{h} dma-buf={dma_buf} flips={}",
        args.frames.max(1)
    );
    // The master died and a new one took the layer back from us: say so (the restart
    // tests read it).
    fusionfb_tests::stay(&mut display, |lost| {
        println!("fusionfb-layer-client: rejoined lost={lost}")
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("fusionfb-layer-client: ERROR {e}");
            eprintln!("fusionfb-layer-client: {e}");
            ExitCode::FAILURE
        }
    }
}
