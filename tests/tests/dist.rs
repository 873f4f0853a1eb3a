//! `scripts/dist.sh`, the board binaries: stripped of their debug info, which is kept in a
//! file of its own that the binary links to, so a board ships small binaries and a crash
//! report can still be read. Runs on the release binaries `scripts/test.sh` builds (it
//! says SKIPPED when there are none).

use std::path::{Path, PathBuf};
use std::process::Command;

use fusionfb_tests::board::workspace_root;

fn release_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("release")
}

/// The ELF section names of `file` (through binutils' readelf).
fn sections(file: &Path) -> Vec<String> {
    let out = Command::new("readelf")
        .args(["-SW"])
        .arg(file)
        .output()
        .expect("readelf (binutils)");
    assert!(out.status.success(), "readelf {}", file.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l.strip_prefix('[')?.split_once(']')?.1;
            rest.split_whitespace().next().map(str::to_string)
        })
        .collect()
}

#[test]
fn dist_binaries_are_stripped_and_keep_their_debug_info_beside_them() {
    use std::io::Write;
    let release = release_dir();
    let have = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing = ["fusionfb", "fusionfb-paint", "fusion-status"]
        .iter()
        .find(|b| !release.join(b).is_file());
    if let Some(b) = missing.copied().or((!have("objcopy")).then_some("objcopy")) {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: dist_binaries_are_stripped_and_keep_their_debug_info_beside_them: \
             no {b} (cargo build --release --bins; binutils)"
        );
        return;
    }
    let out = std::env::temp_dir().join(format!("fusionfb-dist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(workspace_root().join("scripts/dist.sh"))
        .arg(&out)
        .env("FUSIONFB_DIST_NO_BUILD", "1")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for b in [
        "fusionfb",
        "fusionfb-paint",
        "fusionfb-clock",
        "fusion-status",
        "fusionfb-bench",
    ] {
        let shipped = out.join("bin").join(b);
        let debug = out.join("bin/.debug").join(format!("{b}.debug"));
        let s = sections(&shipped);
        // (`.debug_gdb_scripts` is loaded data, gdb's pretty-printer list, not debug info.)
        let debug_info = |n: &&String| n.starts_with(".debug_") && *n != ".debug_gdb_scripts";
        assert!(!s.iter().any(|n| debug_info(&n)), "{b}: {s:?}");
        assert!(
            s.iter().any(|n| n == ".symtab"),
            "{b} keeps its symbols: {s:?}"
        );
        assert!(s.iter().any(|n| n == ".gnu_debuglink"), "{b}: {s:?}");
        assert!(
            sections(&debug).iter().any(|n| n == ".debug_info"),
            "{b}.debug holds the debug info"
        );
        let (full, small) = (
            std::fs::metadata(release.join(b)).unwrap().len(),
            std::fs::metadata(&shipped).unwrap().len(),
        );
        assert!(small * 2 < full, "{b}: {small} bytes shipped of {full}");
        assert!(report.contains(b), "{report}");
    }
    // The stripped binary still runs.
    let help = Command::new(out.join("bin/fusionfb"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(help.status.success());
    let _ = std::fs::remove_dir_all(&out);
}

/// The release `fusionfb` is laid out by `compositor/link-order.txt` (compositor/build.rs):
/// the list still names the build's functions (it is made again with `scripts/link-order.sh`
/// when the dependencies change their symbol hashes), and those functions sit together at the
/// front of the code. Skipped without a release build, or where the toolchain is not the one
/// the list was made with (its hashes are that toolchain's).
#[test]
fn the_release_master_is_laid_out_by_a_current_link_order() {
    use std::io::Write;
    let name = "the_release_master_is_laid_out_by_a_current_link_order";
    let skip = |why: &str| {
        let _ = writeln!(std::io::stderr(), "SKIPPED: {name}: {why}");
    };
    let bin = release_dir().join("fusionfb");
    if !bin.is_file() {
        return skip("no release fusionfb (cargo build --release --bins)");
    }
    if let Some(why) = fusionfb_tests::link_order::cannot_check() {
        return skip(&why);
    }
    if let Err(e) = fusionfb_tests::link_order::check(&bin) {
        panic!("{e}");
    }
}
