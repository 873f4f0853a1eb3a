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
    let list = std::fs::read_to_string(workspace_root().join("compositor/link-order.txt"))
        .expect("compositor/link-order.txt");
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let made_with = list
        .lines()
        .find_map(|l| l.strip_prefix("# rustc "))
        .and_then(|l| l.split(';').next())
        .unwrap_or("");
    if rustc.is_empty() {
        return skip("no rustc here to tell which toolchain built the binary");
    }
    if !made_with.starts_with(rustc.trim_start_matches("rustc ")) {
        return skip(&format!(
            "the list was made with rustc {made_with}, this is {rustc}"
        ));
    }
    if std::env::var_os("RUSTFLAGS").is_some()
        || std::env::var_os("CARGO_ENCODED_RUSTFLAGS").is_some_and(|f| !f.is_empty())
    {
        return skip("RUSTFLAGS is set (it changes the symbol hashes the list names)");
    }
    // Every function of the binary: name -> (address, size).
    let out = Command::new("nm")
        .args(["-S", "--defined-only"])
        .arg(&bin)
        .output()
        .expect("nm (binutils)");
    assert!(out.status.success(), "nm {}", bin.display());
    let nm = String::from_utf8_lossy(&out.stdout);
    let functions: std::collections::HashMap<&str, (u64, u64)> = nm
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (addr, size, kind, name) = (f.next()?, f.next()?, f.next()?, f.next()?);
            "tTwW".contains(kind).then_some(())?;
            Some((
                name,
                (
                    u64::from_str_radix(addr, 16).ok()?,
                    u64::from_str_radix(size, 16).ok()?,
                ),
            ))
        })
        .collect();
    let listed: Vec<&str> = list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let found: Vec<(u64, u64)> = listed
        .iter()
        .filter_map(|n| functions.get(n).copied())
        .collect();
    assert!(
        found.len() * 100 >= listed.len() * 95,
        "only {} of link-order.txt's {} functions are in {}: the dependencies changed the \
         symbol hashes; run scripts/link-order.sh (as root) and commit the list",
        found.len(),
        listed.len(),
        bin.display()
    );
    // Laid out together: the listed functions fill the front of the code, with no more than
    // alignment padding between them.
    let start = found.iter().map(|f| f.0).min().unwrap();
    let end = found.iter().map(|f| f.0 + f.1).max().unwrap();
    let total: u64 = found.iter().map(|f| f.1).sum();
    let text_start = functions.values().map(|f| f.0).min().unwrap();
    assert!(
        start - text_start < 4096 && end - start < total + total / 8 + 4096,
        "the listed functions ({total} bytes) span {start:#x}..{end:#x}, the code starts at \
         {text_start:#x}: compositor/build.rs did not pass the list to the linker"
    );
}
