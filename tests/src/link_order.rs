//! Whether a `fusionfb` binary is laid out by `compositor/link-order.txt`
//! (compositor/build.rs): the list still names the build's functions (it is made again with
//! `scripts/link-order.sh` when the dependencies change their symbol hashes), and those
//! functions sit together at the front of the code. The release build's check is in
//! `tests/dist.rs`, the Debian package's in `tests/board_deb.rs` (through its debug symbols).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crate::board::workspace_root;

/// Why the check cannot be made here (`None`: it can): the list's hashes are those of the
/// toolchain that made it, without RUSTFLAGS.
pub fn cannot_check() -> Option<String> {
    let list = list();
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
        return Some("no rustc here to tell which toolchain built the binary".into());
    }
    if !made_with.starts_with(rustc.trim_start_matches("rustc ")) {
        return Some(format!(
            "the list was made with rustc {made_with}, this is {rustc}"
        ));
    }
    if std::env::var_os("RUSTFLAGS").is_some()
        || std::env::var_os("CARGO_ENCODED_RUSTFLAGS").is_some_and(|f| !f.is_empty())
    {
        return Some("RUSTFLAGS is set (it changes the symbol hashes the list names)".into());
    }
    None
}

fn list() -> String {
    std::fs::read_to_string(workspace_root().join("compositor/link-order.txt"))
        .expect("compositor/link-order.txt")
}

/// Checks that `symbols` (the binary, or its debug file: anything `nm` reads the binary's
/// function symbols from) is laid out by the list; the error says what is wrong.
pub fn check(symbols: &Path) -> Result<(), String> {
    let list = list();
    // Every function of the binary: name -> (address, size).
    let out = Command::new("nm")
        .args(["-S", "--defined-only"])
        .arg(symbols)
        .output()
        .map_err(|e| format!("nm (binutils): {e}"))?;
    if !out.status.success() {
        return Err(format!("nm {}: {}", symbols.display(), out.status));
    }
    let nm = String::from_utf8_lossy(&out.stdout);
    let functions: HashMap<&str, (u64, u64)> = nm
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
    if found.len() * 100 < listed.len() * 95 {
        return Err(format!(
            "only {} of link-order.txt's {} functions are in {}: the dependencies (or their \
             features: a build of one package alone resolves them otherwise than the \
             workspace's) changed the symbol hashes; run scripts/link-order.sh (as root) and \
             commit the list",
            found.len(),
            listed.len(),
            symbols.display()
        ));
    }
    // Laid out together: the listed functions fill the front of the code, with no more than
    // alignment padding between them.
    let start = found.iter().map(|f| f.0).min().unwrap_or(0);
    let end = found.iter().map(|f| f.0 + f.1).max().unwrap_or(0);
    let total: u64 = found.iter().map(|f| f.1).sum();
    let text_start = functions.values().map(|f| f.0).min().unwrap_or(0);
    if start - text_start < 4096 && end - start < total + total / 8 + 4096 {
        Ok(())
    } else {
        Err(format!(
            "the listed functions ({total} bytes) span {start:#x}..{end:#x}, the code starts \
             at {text_start:#x}: compositor/build.rs did not pass the list to the linker"
        ))
    }
}
