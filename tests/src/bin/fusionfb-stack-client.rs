//! `fusionfb-stack-client`: a test client with one window and, on request, many more surfaces
//! than it shows, so that taking them back after a master's death (the rejoin) lasts long
//! enough for a test to catch it half-way.
//!
//! ```text
//! fusionfb-stack-client [--world NAME] [--at X,Y] [--size S] [--colour ARGB] [--extra N]
//! ```
//!
//! It creates a surface, a window on it at `X,Y` (an `S`x`S` square filled with `ARGB`),
//! then `N` surfaces of the same size that no window shows, flips the window's surface and
//! prints `fusionfb-stack-client: shown` once the frame is on the glass (on its standard
//! error, as everything it says, where the tests' process harness keeps a log). It then stays until
//! the master ends the session (or it is killed), printing
//! `fusionfb-stack-client: rejoined lost=N` each time it took its things back into a new
//! master. A failure prints `fusionfb-stack-client: ERROR` and the error, exit status 1.

#![deny(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use fusionfb_client::display::Display;
use fusionfb_client::Format;

struct Args {
    world: Option<String>,
    at: (i32, i32),
    size: u32,
    colour: u32,
    extra: u32,
}

/// What `--help` prints.
const USAGE: &str = "\
fusionfb-stack-client: one window and N surfaces no window shows (a test client of fusionfb's
restart tests: its rejoin lasts as long as N asks)

Usage: fusionfb-stack-client [--world NAME] [--at X,Y] [--size S] [--colour ARGB] [--extra N]

Options:
  --world NAME   the world to join [default: $FUSIONFB_WORLD, else default]
  --at X,Y       where the window goes [default: 0,0]
  --size S       the window's width and height [default: 64]
  --colour ARGB  its colour, hexadecimal [default: ff808080]
  --extra N      how many more surfaces to hold [default: 0]
  -h, --help     print this help

Prints `fusionfb-stack-client: shown` once the window is on the glass and
`fusionfb-stack-client: rejoined lost=N` after each rejoin, on standard error.
";

fn args() -> Result<Args, String> {
    let mut a = Args {
        world: None,
        at: (0, 0),
        size: 64,
        colour: 0xff80_8080,
        extra: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--world" => a.world = Some(value()?),
            "--at" => {
                let v = value()?;
                let (x, y) = v.split_once(',').ok_or(format!("--at {v:?}: not X,Y"))?;
                let n = |s: &str| s.parse().map_err(|e| format!("--at {v:?}: {e}"));
                a.at = (n(x)?, n(y)?);
            }
            "--size" => a.size = value()?.parse().map_err(|e| format!("--size: {e}"))?,
            "--colour" => {
                a.colour =
                    u32::from_str_radix(&value()?, 16).map_err(|e| format!("--colour: {e}"))?
            }
            "--extra" => a.extra = value()?.parse().map_err(|e| format!("--extra: {e}"))?,
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
    let e = |what: &'static str| {
        move |err: fusionfb_client::display::ClientError| format!("{what}: {err}")
    };
    let mut display = Display::connect(args.world.as_deref()).map_err(e("connecting"))?;
    let mut surface = display
        .create_surface(args.size, args.size, Format::Xrgb8888, 2)
        .map_err(e("surface"))?;
    let _window = display
        .create_window(&surface, 0, args.at.0, args.at.1)
        .map_err(e("window"))?;
    // Held, never shown: what makes the rejoin last.
    let _extra = (0..args.extra)
        .map(|_| display.create_surface(args.size, args.size, Format::Xrgb8888, 1))
        .collect::<Result<Vec<_>, _>>()
        .map_err(e("extra surface"))?;
    surface
        .back()
        .fill(args.colour)
        .map_err(|err| format!("drawing: {err}"))?;
    display.flip(&mut surface, &[]).map_err(e("flip"))?;
    display
        .wait_frame(&surface, Duration::from_secs(10))
        .map_err(e("waiting for the frame"))?;
    eprintln!("fusionfb-stack-client: shown");
    fusionfb_tests::stay(&mut display, |lost| {
        eprintln!("fusionfb-stack-client: rejoined lost={lost}")
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fusionfb-stack-client: ERROR {e}");
            ExitCode::FAILURE
        }
    }
}
