//! The `fusionfb` command.

use std::process::ExitCode;
use std::time::Duration;

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
    /// Run the master of a world until interrupted.
    Run,
    /// Print the world's snapshot: fusionees, pools, locks, calls, reactors, refs, objects.
    Status {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Run the Fusion arena demo: a master, several slave processes, a crash, and a snapshot.
    Demo {
        /// How many slave processes to start.
        #[arg(long, default_value_t = 3)]
        slaves: u32,
    },
    /// A slave process of the demo (started by `fusionfb demo`).
    #[command(hide = true)]
    DemoClient {
        /// Its index.
        index: u32,
    },
}

fn main() -> ExitCode {
    fusionfb::init_logging();
    let cli = Cli::parse();
    let world = cli
        .world
        .clone()
        .unwrap_or_else(fusion::world::default_world_name);
    let result = match cli.command {
        Command::Run => run(&world),
        Command::Status { json } => status(&world, json),
        Command::Demo { slaves } => fusionfb::demo::run(&world, slaves),
        Command::DemoClient { index } => fusionfb::demo::client(&world, index),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fusionfb: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(world: &str) -> Result<(), String> {
    let mut master = fusion::Master::create(fusion::WorldConfig::new(world))
        .map_err(|e| format!("world {world:?}: {e}"))?;
    eprintln!(
        "fusionfb: master of world {world:?} (pid {}), socket {}",
        master.pid(),
        master.world().socket_path().display()
    );
    catch_stop_signals();
    while !STOP.load(std::sync::atomic::Ordering::Relaxed) {
        master
            .dispatch(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        while let Some(e) = master.next_event() {
            tracing::info!("{e:?}");
        }
    }
    master.kill(None, Duration::from_secs(2));
    let _ = master.dispatch_until(Duration::from_secs(3), |m| m.fusionees().is_empty());
    Ok(())
}

fn status(world: &str, json: bool) -> Result<(), String> {
    let cfg = fusion::WorldConfig::new(world).client_name("fusionfb status");
    let snap = fusion::status::fetch(cfg).map_err(|e| format!("world {world:?}: {e}"))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&snap).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", snap.to_table());
    }
    Ok(())
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// SIGTERM and SIGINT set [`STOP`]; the loop checks it every 200 ms.
fn catch_stop_signals() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}
