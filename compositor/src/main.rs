//! The `fusionfb` command.

#![deny(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "fusionfb",
    version,
    about = "An embedded display server in the tradition of DirectFB"
)]
struct Cli {
    /// The world to use (default: $FUSIONFB_WORLD, else "default").
    #[arg(long, global = true)]
    world: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the master (the display server) until SIGTERM or SIGINT.
    Run {
        /// A board profile (TOML), e.g. configs/headless.toml.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        /// The display backend, overriding the config: auto, drm, fbdev, headless, window.
        #[arg(long, value_parser = parse_backend)]
        backend: Option<fusionfb::config::Backend>,
        /// Run the master in this process, without the supervisor that starts it again
        /// (and keeps the world's socket) when it dies.
        #[arg(long)]
        no_restart: bool,
    },
    /// Write what the master shows to a PNG file.
    Screenshot {
        /// The file to write.
        file: std::path::PathBuf,
        /// The output to capture, by name (`fusionfb status` lists them) [default: the
        /// first].
        #[arg(long)]
        output: Option<String>,
    },
    /// Feed synthetic input to the running master (through the same routing as devices).
    Input {
        #[command(subcommand)]
        action: InputAction,
    },
    /// Make the running master read its config file again (as SIGHUP does) and apply what
    /// can change live: background, touch calibration, keymap, cursor, placement rules.
    Reload,
    /// Turn the running master's display off (`on`) or back on (`off`); the next touch, key
    /// or pointer event turns it on too.
    Blank {
        /// `on` (blank the display) or `off` (show it again).
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Print the world's snapshot: fusionees, pools, locks, calls, reactors, refs, objects.
    Status {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// The demo: the master, the paint, clock and gallery apps, a scripted touch sequence,
    /// and a screenshot.
    ///
    /// It runs in a world of its own, `demo-<pid>` (not $FUSIONFB_WORLD), so it never meets
    /// a master already running; --world NAME picks the world instead.
    Demo {
        /// The display backend (default: the best available; headless without a display).
        #[arg(long, value_parser = parse_backend)]
        backend: Option<fusionfb::config::Backend>,
        /// Where to write the screenshot.
        #[arg(long, default_value = "fusionfb-demo.png")]
        screenshot: std::path::PathBuf,
    },
    /// Measure the display server: composition, start-up, join time, memory, touch-to-app
    /// latency, bytes composed per frame, flip-to-present latency.
    ///
    /// Runs the `fusionfb-bench` program (next to this one, else on PATH; build it with
    /// `cargo build --release -p fusionfb-bench`).
    Bench {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Fewer samples (a smoke run).
        #[arg(long)]
        quick: bool,
        /// Only fusionfb beside Weston (when installed), in the same run: RSS idle, CPU per
        /// frame with 4 wl_shm clients, wl_display_roundtrip, with the ratios.
        #[arg(long)]
        peers: bool,
    },
    /// The Fusion arena demo: a master, slave processes, a crash, and the world's snapshot.
    /// A long churn (clients joining, leaving and dying, windows, flips, taps) against a
    /// headless master, printing its memory and descriptors per sample; fails if they grow
    /// (runs `fusionfb-bench soak`).
    Soak {
        /// How long.
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        /// Seconds between samples.
        #[arg(long, default_value_t = 60.0)]
        seconds_per_sample: f64,
    },
    ArenaDemo {
        /// How many slave processes to start.
        #[arg(long, default_value_t = 3)]
        slaves: u32,
    },
    /// A slave process of the arena demo (started by `fusionfb arena-demo`).
    #[command(hide = true)]
    ArenaClient {
        /// Its index.
        index: u32,
    },
}

/// The longest swipe `fusionfb input swipe --duration` plays, in ms.
const MAX_SWIPE_MS: u64 = 10_000;

/// Positions are output pixels: `0 <= X < width`, `0 <= Y < height`; the master refuses
/// others and says the output's size.
#[derive(Subcommand)]
enum InputAction {
    /// A finger down and up at output position X Y.
    #[command(allow_negative_numbers = true)]
    Tap {
        /// Output x.
        x: f32,
        /// Output y.
        y: f32,
        /// Multi-touch slot.
        #[arg(long, default_value_t = 0)]
        slot: u32,
    },
    /// A finger dragged from X1 Y1 to X2 Y2.
    #[command(allow_negative_numbers = true)]
    Swipe {
        /// Start x.
        x1: f32,
        /// Start y.
        y1: f32,
        /// End x.
        x2: f32,
        /// End y.
        y2: f32,
        /// How long the drag takes, in milliseconds (at most 10000).
        #[arg(long, default_value_t = 300,
              value_parser = clap::value_parser!(u64).range(0..=MAX_SWIPE_MS))]
        duration: u64,
        /// Motion events on the way (1 to 1000).
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
        steps: u32,
        /// Multi-touch slot.
        #[arg(long, default_value_t = 0)]
        slot: u32,
    },
    /// A key pressed and released, by the keysym it types (`a`, `Return`, `F1`).
    Key {
        /// Keysym name.
        name: String,
    },
    /// The pointer moves to X Y (and clicks there with --click).
    #[command(allow_negative_numbers = true)]
    Pointer {
        /// Output x.
        x: f32,
        /// Output y.
        y: f32,
        /// Click the left button there.
        #[arg(long)]
        click: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    fusionfb::init_logging(match cli.command {
        Command::Run { .. } => fusionfb::DEFAULT_LOG_FILTER,
        _ => fusionfb::QUIET_LOG_FILTER,
    });
    let world = cli
        .world
        .clone()
        .unwrap_or_else(fusion::world::default_world_name);
    let result = match cli.command {
        Command::Run {
            config,
            backend,
            no_restart,
        } => {
            let stop = catch_stop_signals();
            let opts = fusionfb::cli::run::RunOptions {
                config,
                backend,
                world: cli.world.clone(),
                no_restart,
            };
            fusionfb::cli::run::run(&opts, &stop)
        }
        Command::Screenshot { file, output } => fusionfb::cli::screenshot::screenshot(
            fusion::WorldConfig::new(&world),
            &file,
            output.as_deref(),
        )
        .map(|(w, h)| {
            println!("fusionfb: wrote {} ({w}x{h})", file.display());
        }),
        Command::Status { json } => status(&world, json),
        Command::Reload => fusionfb::cli::reload::reload(fusion::WorldConfig::new(&world))
            .map(|report| print!("{report}")),
        Command::Blank { state } => {
            fusionfb::cli::blank::blank(fusion::WorldConfig::new(&world), state == "on")
                .map(|line| print!("{line}"))
        }
        Command::Input { action } => {
            use fusionfb::cli::input::Action;
            let action = match action {
                InputAction::Tap { x, y, slot } => Action::Tap { x, y, slot },
                InputAction::Swipe {
                    x1,
                    y1,
                    x2,
                    y2,
                    duration,
                    steps,
                    slot,
                } => Action::Swipe {
                    from: (x1, y1),
                    to: (x2, y2),
                    duration: std::time::Duration::from_millis(duration),
                    steps,
                    slot,
                },
                InputAction::Key { name } => Action::Key { name },
                InputAction::Pointer { x, y, click } => Action::Pointer { x, y, click },
            };
            fusionfb::cli::input::run(&world, &action)
        }
        Command::Demo {
            backend,
            screenshot,
        } => fusionfb::cli::demo::run(&fusionfb::cli::demo::DemoOptions {
            backend,
            screenshot,
            world: cli.world.clone(),
        }),
        Command::Bench { json, quick, peers } => {
            let flags = [("--json", json), ("--quick", quick), ("--peers", peers)];
            let args: Vec<std::ffi::OsString> = flags
                .into_iter()
                .filter(|&(_, on)| on)
                .map(|(flag, _)| flag.into())
                .collect();
            fusionfb::cli::bench::run(&args)
        }
        Command::Soak {
            minutes,
            seconds_per_sample,
        } => fusionfb::cli::bench::run(&[
            "soak".into(),
            "--minutes".into(),
            minutes.to_string().into(),
            "--seconds-per-sample".into(),
            seconds_per_sample.to_string().into(),
        ]),
        Command::ArenaDemo { slaves } => fusionfb::cli::arena::run(&world, slaves),
        Command::ArenaClient { index } => fusionfb::cli::arena::client(&world, index),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain: "world \"w\": no master in world …".
            eprintln!("fusionfb: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn status(world: &str, json: bool) -> anyhow::Result<()> {
    print!(
        "{}",
        fusionfb::cli::status::status(fusion::WorldConfig::new(world), json)?
    );
    Ok(())
}

fn parse_backend(s: &str) -> anyhow::Result<fusionfb::config::Backend> {
    use fusionfb::config::Backend::*;
    Ok(match s {
        "auto" => Auto,
        "drm" => Drm,
        "fbdev" => Fbdev,
        "headless" => Headless,
        "window" => Window,
        other => {
            return Err(anyhow::anyhow!(
                "{other:?}: use auto, drm, fbdev, headless or window"
            ))
        }
    })
}

/// SIGTERM and SIGINT store their number in the returned flag (signal-hook; the handler does
/// nothing else); `fusionfb run` wakes on them (cli::run) and says which one stopped it.
fn catch_stop_signals() -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for sig in [SIGTERM, SIGINT] {
        if let Err(e) = signal_hook::flag::register_usize(sig, stop.clone(), sig as usize) {
            eprintln!("fusionfb: cannot catch signal {sig}: {e}");
        }
    }
    stop
}
