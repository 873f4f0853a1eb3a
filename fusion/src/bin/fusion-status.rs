//! `fusion-status`: prints a Fusion world's snapshot (what `/proc/fusion` showed for DirectFB).
//!
//! ```text
//! fusion-status [--world NAME] [--json]
//! ```
//!
//! It enters the world as a slave, asks the master for the snapshot, prints it as tables
//! (or JSON with `--json`) and leaves. The world defaults to `FUSIONFB_WORLD`, else `default`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut world = fusion::world::default_world_name();
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--world" => match args.next() {
                Some(w) => world = w,
                None => return usage("--world needs a name"),
            },
            "-h" | "--help" => {
                println!("usage: fusion-status [--world NAME] [--json]");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let cfg = fusion::WorldConfig::new(&world).client_name("fusion-status");
    match fusion::status::fetch(cfg) {
        Ok(snap) if json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&snap).expect("serialisable")
            );
            ExitCode::SUCCESS
        }
        Ok(snap) => {
            print!("{}", snap.to_table());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fusion-status: world {world:?}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("fusion-status: {msg}\nusage: fusion-status [--world NAME] [--json]");
    ExitCode::from(2)
}
