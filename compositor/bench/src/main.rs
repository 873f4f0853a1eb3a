//! The `fusionfb-bench` command: the display server's benchmarks (`fusionfb bench` runs it).

#![deny(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "fusionfb-bench",
    version,
    about = "Measure the display server: composition, start-up, join time, memory, \
             touch-to-app latency, bytes composed per frame, flip-to-present latency"
)]
struct Cli {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Fewer samples (a smoke run).
    #[arg(long)]
    quick: bool,
    /// Only fusionfb beside Weston (when installed), each measured from outside in the same
    /// run: RSS idle, CPU per frame with 4 wl_shm clients, wl_display_roundtrip.
    #[arg(long)]
    peers: bool,
    /// The world of a bench client (the bench itself runs in a world of its own).
    #[arg(long, global = true, hide = true)]
    world: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// A client process of the measurements (started by the bench itself).
    #[command(hide = true)]
    Client {
        /// Animate a 256x256 surface at this position instead of idling.
        #[arg(long)]
        animate: Option<i32>,
        /// What to do (see `fusionfb_bench::ClientRole`).
        #[arg(long, value_enum, default_value = "idle")]
        role: fusionfb_bench::ClientRole,
        /// Where a `touch` client puts its window.
        #[arg(long, default_value_t = 0)]
        x: i32,
        /// Where a `touch` client puts its window.
        #[arg(long, default_value_t = 0)]
        y: i32,
        /// A Wayland client's compositor socket (default: the bench master's).
        #[arg(long)]
        socket: Option<std::path::PathBuf>,
    },
    /// `wl_display.sync` round trips against a running compositor's socket (to profile one
    /// side by side with the bench's own figure); prints the median and p99 in µs.
    #[command(hide = true)]
    Roundtrips {
        /// The socket's path.
        socket: std::path::PathBuf,
        /// How many.
        #[arg(long, default_value_t = 20000)]
        n: usize,
    },
    /// A long churn against a master, its memory and descriptors printed as it goes (must
    /// stay flat): what `fusionfb soak` runs.
    Soak {
        /// How long.
        #[arg(long, default_value_t = 10.0)]
        minutes: f64,
        /// Seconds between samples.
        #[arg(long, default_value_t = 60.0)]
        seconds_per_sample: f64,
    },
    /// Master death to the first frame shown again, alone (the figure of the full run):
    /// SIGKILLs `FUSIONFB` (default: `fusionfb` next to this program) `--n` times.
    #[command(hide = true)]
    Restarts {
        /// How many kills.
        #[arg(long, default_value_t = 30)]
        n: usize,
    },
}

fn main() -> ExitCode {
    // The restart figure kills masters on purpose: their clients' "the master is gone" is
    // expected there.
    fusionfb::init_logging(&format!(
        "{},fusion::slave=error",
        fusionfb::QUIET_LOG_FILTER
    ));
    let cli = Cli::parse();
    let world = cli
        .world
        .clone()
        .unwrap_or_else(fusion::world::default_world_name);
    let result = match cli.command {
        None if cli.peers => std::env::current_exe()
            .map_err(anyhow::Error::from)
            .and_then(|exe| {
                fusionfb_bench::peers::run(&fusionfb_bench::fusionfb_program(), &exe, cli.quick)
            })
            .and_then(|figures| {
                if cli.json {
                    println!("{}", serde_json::to_string_pretty(&figures)?);
                } else {
                    fusionfb_bench::print_table(&figures);
                }
                Ok(())
            }),
        None => fusionfb_bench::run(cli.quick).and_then(|figures| {
            if cli.json {
                let s = serde_json::to_string_pretty(&figures)?;
                println!("{s}");
            } else {
                fusionfb_bench::print_table(&figures);
            }
            Ok(())
        }),
        Some(Command::Roundtrips { socket, n }) => fusionfb_bench::wayland::roundtrips(&socket, n)
            .map(|mut v| {
                let med = fusionfb_bench::percentile(&mut v, 0.5);
                let p99 = fusionfb_bench::percentile(&mut v, 0.99);
                println!("{n} round trips: median {med:.1} us, p99 {p99:.1} us");
            }),
        Some(Command::Soak {
            minutes,
            seconds_per_sample,
        }) => fusionfb_bench::soak::run(&fusionfb_bench::soak::SoakOptions {
            minutes,
            seconds_per_sample,
        }),
        Some(Command::Restarts { n }) => fusionfb_bench::restart::master_restarts(
            &fusionfb_bench::fusionfb_program(),
            n,
        )
        .map(|mut v| {
            let med = fusionfb_bench::percentile(&mut v, 0.5);
            let p99 = fusionfb_bench::percentile(&mut v, 0.99);
            println!("{n} master kills: death to first frame median {med:.1} ms, p99 {p99:.1} ms");
        }),
        Some(Command::Client {
            animate,
            role,
            x,
            y,
            socket,
        }) => match animate {
            Some(x) => fusionfb_bench::animating_client(&world, x),
            None => fusionfb_bench::run_client(&world, role, (x, y), socket.as_deref()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fusionfb-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
