//! The Debian package (issue 15, item 4): `scripts/deb.sh` (`cargo deb -p fusionfb`) makes
//! `fusionfb_<version>_<arch>.deb`, and the emulated board installs it with `dpkg -i`, as a
//! board's owner would, then boots into the service.
//!
//! - On the host: the package's name, control fields (the cross variant's `Depends` the
//!   same as dpkg-shlibdeps finds here) and contents — the shipped binaries
//!   stripped of their debug info (which is in the `-dbgsym.ddeb` beside it), every
//!   `configs/*.toml` as a conffile in `/etc/fusionfb/`, the systemd unit whose paths are
//!   files of the package, the udev rules.
//! - On the board (bochs; a guest with nothing of fusionfb but the `.deb`): `dpkg -i` works
//!   twice (the postinst is idempotent), the files are those of the package, the `fusionfb`
//!   group exists, the unit is enabled, the packaged udev rules are live (the touchscreen's
//!   `/dev/input/touchscreen` link); then the service starts — `systemctl start` where systemd
//!   is PID 1, else the unit's `ExecStart` with its `Environment` (the board's PID 1 is the
//!   harness's `init`) — and the glass shows the packaged config's background; a user in the
//!   `fusionfb` group joins the world (one outside it is refused), runs `fusionfb-paint`, and
//!   a tap on the touchscreen paints under the finger; `dpkg --purge` then leaves nothing of
//!   the package but the group.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fusionfb_tests::board::master::plain;
use fusionfb_tests::board::{guest_package, workspace_root, Board, BoardSpec, Gpu, Install};

/// What the package ships in `/usr/bin` (`scripts/dist.sh`'s list).
const BINARIES: [&str; 7] = [
    "fusionfb",
    "fusionfb-paint",
    "fusionfb-clock",
    "fusionfb-gallery",
    "fusionfb-calibrate",
    "fusion-status",
    "fusionfb-bench",
];

/// Where the package puts the unit (cargo-deb's systemd directory).
const UNIT: &str = "usr/lib/systemd/system/fusionfb.service";

const SLOW: Duration = Duration::from_secs(60);

fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn package() -> PathBuf {
    guest_package().unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a host command and returns its stdout; panics with its output when it fails.
fn host(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The package unpacked (`dpkg-deb -x`) into a fresh directory.
fn unpacked(deb: &Path, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fusionfb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    host(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&dir));
    dir
}

/// The ELF section names of `file` (binutils' readelf).
fn sections(file: &Path) -> Vec<String> {
    host(Command::new("readelf").arg("-SW").arg(file))
        .lines()
        .filter_map(|l| {
            let rest = l.trim_start().strip_prefix('[')?.split_once(']')?.1;
            rest.split_whitespace().next().map(str::to_string)
        })
        .collect()
}

/// The workspace's board profiles, `configs/*.toml`, by file name.
fn profiles() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace_root().join("configs"))
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.ends_with(".toml").then_some(name)
        })
        .collect();
    names.sort();
    names
}

/// The value of each uncommented `key=` line of a systemd unit, in order.
fn unit_values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(str::trim)
        .collect()
}

#[test]
fn the_package_ships_stripped_binaries_configs_unit_and_udev_rules() {
    let deb = package();
    let field = |f: &str| host(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(f));
    let arch = host(Command::new("dpkg").arg("--print-architecture"));
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        deb.file_name().unwrap().to_string_lossy(),
        format!("fusionfb_{version}_{}.deb", arch.trim())
    );
    assert_eq!(field("Package").trim(), "fusionfb");
    assert_eq!(field("Version").trim(), version);
    // dpkg-shlibdeps found the libraries the binaries link.
    let depends = field("Depends");
    for lib in [
        "libc6",
        "libudev1",
        "libinput10",
        "libxkbcommon0",
        "libpixman-1-0",
        "xkb-data",
    ] {
        assert!(
            depends.split(',').any(|d| d.trim().starts_with(lib)),
            "Depends lacks {lib}: {depends}"
        );
    }
    // libseat is loaded at run time where a seat manager runs, not linked.
    assert!(
        !depends.contains("libseat"),
        "Depends names libseat: {depends}"
    );
    let recommends = field("Recommends");
    assert!(
        recommends.split(',').any(|d| d.trim() == "libseat1"),
        "Recommends lacks libseat1: {recommends}"
    );
    // The cross variant names what dpkg-shlibdeps finds here.
    let manifest: toml::Table = toml::from_str(
        &std::fs::read_to_string(workspace_root().join("compositor/Cargo.toml")).unwrap(),
    )
    .unwrap();
    let cross = manifest["package"]["metadata"]["deb"]["variants"]["cross"]["depends"]
        .as_str()
        .expect("[package.metadata.deb.variants.cross] depends");
    let set = |list: &str| {
        let mut v: Vec<String> = list.split(',').map(|d| d.trim().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(
        set(cross),
        set(depends.trim()),
        "compositor/Cargo.toml's cross variant must depend on what dpkg-shlibdeps finds"
    );
    let control = |file: &str| host(Command::new("dpkg-deb").arg("-I").arg(&deb).arg(file));
    let conffiles = control("conffiles");
    // The postinst: the package's own part once, cargo-deb's systemd snippet once after it.
    let postinst = control("postinst");
    for (what, times) in [
        ("addgroup --quiet --system fusionfb", 1),
        ("deb-systemd-helper enable fusionfb.service", 1),
    ] {
        assert_eq!(postinst.matches(what).count(), times, "{what}:\n{postinst}");
    }

    let root = unpacked(&deb, "deb");
    for b in BINARIES {
        let bin = root.join("usr/bin").join(b);
        let s = sections(&bin);
        // (`.debug_gdb_scripts` is loaded data, gdb's pretty-printer list, not debug info.)
        let debug: Vec<_> = s
            .iter()
            .filter(|n| n.starts_with(".debug_") && *n != ".debug_gdb_scripts")
            .collect();
        assert!(debug.is_empty(), "{b} keeps debug info: {debug:?}");
        assert!(s.iter().any(|n| n == ".gnu_debuglink"), "{b}: {s:?}");
    }
    let help = Command::new(root.join("usr/bin/fusionfb"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(help.status.success(), "the packaged fusionfb does not run");

    // Every board profile, byte for byte, as a conffile.
    for name in profiles() {
        let shipped = std::fs::read(root.join("etc/fusionfb").join(&name))
            .unwrap_or_else(|e| panic!("/etc/fusionfb/{name}: {e}"));
        assert_eq!(
            shipped,
            std::fs::read(workspace_root().join("configs").join(&name)).unwrap(),
            "{name}"
        );
        assert!(
            conffiles
                .lines()
                .any(|l| l == format!("/etc/fusionfb/{name}")),
            "/etc/fusionfb/{name} is no conffile: {conffiles}"
        );
    }
    // The service's config admits the group the postinst makes.
    let config = fusionfb::config::Config::load(root.join("etc/fusionfb/fusionfb.toml")).unwrap();
    assert_eq!(
        config.world.group.map(|g| g.to_string()).as_deref(),
        Some("fusionfb")
    );

    // The unit names files the package installs.
    let unit = std::fs::read_to_string(root.join(UNIT)).unwrap();
    let exec = unit_values(&unit, "ExecStart");
    assert_eq!(exec.len(), 1, "{unit}");
    let mut words = exec[0].split_whitespace();
    let program = words.next().unwrap();
    assert_eq!(program, "/usr/bin/fusionfb");
    let config = words
        .skip_while(|w| *w != "--config")
        .nth(1)
        .expect("ExecStart names its --config");
    for path in [program, config] {
        assert!(
            root.join(&path[1..]).is_file(),
            "{path} is not in the package"
        );
    }
    for doc in unit_values(&unit, "Documentation") {
        let path = doc
            .strip_prefix("file://")
            .expect("a file:// documentation");
        assert!(
            root.join(&path[1..]).is_file(),
            "{doc} is not in the package"
        );
    }
    assert!(root.join("lib/udev/rules.d/99-fusionfb.rules").is_file());

    // The debug info went into the -dbgsym package beside it.
    let ddeb = deb.with_file_name(format!("fusionfb-dbgsym_{version}_{}.ddeb", arch.trim()));
    let debug = unpacked(&ddeb, "ddeb");
    let files = host(Command::new("find").arg(&debug).args(["-name", "*.debug"]));
    assert!(
        files.lines().count() >= BINARIES.len(),
        "{} has {} .debug files",
        ddeb.display(),
        files.lines().count()
    );
    let first = files.lines().next().unwrap();
    assert!(sections(Path::new(first))
        .iter()
        .any(|n| n == ".debug_info"));
    let size = std::fs::metadata(&deb).unwrap().len();
    report(&format!(
        "deb: {} is {:.1} MB",
        deb.display(),
        size as f64 / 1e6
    ));
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&debug);
}

/// The packaged master is laid out by compositor/link-order.txt for its idle memory, as the
/// release build is (tests/dist.rs): cargo-deb builds with the workspace's features (a build
/// of the one package would resolve them otherwise, and have other symbol hashes than the list
/// names). Checked through its debug symbols, in the `-dbgsym` package beside it (the binary
/// is stripped).
#[test]
fn the_packaged_master_is_laid_out_by_the_link_order() {
    let name = "the_packaged_master_is_laid_out_by_the_link_order";
    if let Some(why) = fusionfb_tests::link_order::cannot_check() {
        return report(&format!("SKIPPED: {name}: {why}"));
    }
    let deb = package();
    let dir = deb.parent().unwrap();
    let ddeb = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("fusionfb-dbgsym_") && n.ends_with(".ddeb")
            })
        })
        .unwrap_or_else(|| panic!("no fusionfb-dbgsym_*.ddeb beside {}", deb.display()));
    let root = unpacked(&deb, "layout");
    let debug = unpacked(&ddeb, "layout-dbgsym");
    // The debug file is named after the binary's build id.
    let notes = host(
        Command::new("readelf")
            .arg("-n")
            .arg(root.join("usr/bin/fusionfb")),
    );
    let id = notes
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID:"))
        .map(str::trim)
        .expect("the packaged fusionfb has a build id");
    let file = debug.join(format!(
        "usr/lib/debug/.build-id/{}/{}.debug",
        &id[..2],
        &id[2..]
    ));
    assert!(
        file.is_file(),
        "{} is not in {}",
        file.display(),
        ddeb.display()
    );
    if let Err(e) = fusionfb_tests::link_order::check(&file) {
        panic!("the packaged fusionfb: {e}");
    }
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&debug);
}

#[test]
fn the_board_installs_the_package_with_dpkg_and_boots_into_the_service() {
    let started = Instant::now();
    let deb = package();
    let spec = BoardSpec {
        install: Install::Package(deb.clone()),
        ..BoardSpec::new(Gpu::Bochs)
    };
    let Some(mut board) = Board::boot_or_skip(spec) else {
        return;
    };
    let guest_deb = format!(
        "/opt/fusionfb/{}",
        deb.file_name().unwrap().to_string_lossy()
    );
    assert!(
        !board.run("command -v fusionfb").unwrap().success(),
        "fusionfb is on the board before the package"
    );

    // Installed, then installed again over itself (the postinst runs twice).
    for round in ["install", "reinstall"] {
        let t = Instant::now();
        let out = board
            .run_timeout(&format!("dpkg -i {guest_deb}"), Duration::from_secs(300))
            .unwrap();
        assert!(out.success(), "dpkg -i ({round}): {out}{}", board.context());
        report(&format!(
            "board: dpkg -i ({round}) took {:.1} s",
            t.elapsed().as_secs_f64()
        ));
    }
    let status = board.ok("dpkg-query -W -f '${Status} ${Version}' fusionfb");
    assert_eq!(
        status,
        format!("install ok installed {}", env!("CARGO_PKG_VERSION"))
    );

    // The files are the package's (the host test checks those are stripped).
    let root = unpacked(&deb, "board-deb");
    let mut files: Vec<String> = BINARIES.iter().map(|b| format!("usr/bin/{b}")).collect();
    files.extend(profiles().iter().map(|p| format!("etc/fusionfb/{p}")));
    files.extend([
        UNIT.to_string(),
        "lib/udev/rules.d/99-fusionfb.rules".into(),
    ]);
    let list = files.join(" ");
    let guest = board.ok(&format!("cd / && sha256sum {list}"));
    let host_sums = host(
        Command::new("sh")
            .arg("-c")
            .arg(format!("cd {} && sha256sum {list}", root.display())),
    );
    assert_eq!(
        guest, host_sums,
        "the installed files differ from the package's"
    );
    let _ = std::fs::remove_dir_all(&root);

    // The group for [world] group, and the unit enabled for the next boot.
    let group = board.ok("getent group fusionfb");
    let gid: u32 = group.split(':').nth(2).unwrap().parse().unwrap();
    assert!(gid < 1000, "fusionfb is no system group: {group}");
    let wants = board.ok("readlink /etc/systemd/system/multi-user.target.wants/fusionfb.service");
    assert!(
        wants.trim().ends_with("/systemd/system/fusionfb.service"),
        "{wants}"
    );

    // The packaged udev rules apply: the touchscreen gets its stable name.
    let mut touch = board
        .add_touchscreen("fusionfb-touch")
        .unwrap_or_else(|e| panic!("{e}"));
    board
        .wait_for("test -L /dev/input/touchscreen", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("the packaged udev rules did not name the touchscreen: {e}"));

    // The service: systemd where it runs, else the unit's command line as systemd would run
    // it (its Environment, no XDG_RUNTIME_DIR: a root service's world is in /run/fusionfb).
    let unit = board.ok(&format!("cat /{UNIT}"));
    let pid1 = board.ok("cat /proc/1/comm");
    let service = if pid1.trim() == "systemd" {
        board.ok("systemctl start fusionfb");
        None
    } else {
        let exec = unit_values(&unit, "ExecStart");
        let env = unit_values(&unit, "Environment").join(" ");
        report(&format!(
            "board: PID 1 is {:?}, not systemd: starting the unit's ExecStart",
            pid1.trim()
        ));
        Some(
            board
                .spawn(&format!(
                    "exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NO_COLOR=1 {env} {}",
                    exec[0]
                ))
                .unwrap(),
        )
    };
    let log = |b: &mut Board| match &service {
        Some(s) => plain(&b.log(s).unwrap_or_default()),
        None => b.ok("journalctl -u fusionfb --no-pager"),
    };
    if let Err(e) = board.wait_for("fusionfb status >/dev/null", SLOW) {
        panic!("{e}\nthe service's log:\n{}", log(&mut board));
    }
    // Its world is open to the group and no one else.
    let world = board.ok("stat -c '%G %a' /run/fusionfb/default");
    assert_eq!(world.trim(), "fusionfb 770");

    // The glass shows the packaged config's background.
    let config = board.ok("cat /etc/fusionfb/fusionfb.toml");
    let background = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("background = \"#"))
        .and_then(|v| v.strip_suffix('"'))
        .expect("fusionfb.toml sets a background");
    let bg: Vec<u8> = (0..3)
        .map(|i| u8::from_str_radix(&background[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let bg = [bg[0], bg[1], bg[2]];
    assert_ne!(bg, [0, 0, 0], "a black background proves nothing");
    let glass = board
        .wait_for_screen(SLOW, "the service's background", |img| {
            img.count(|p| p == bg) * 100 >= (img.width() * img.height()) as usize * 99
        })
        .unwrap_or_else(|e| panic!("{e}\nthe service's log:\n{}", log(&mut board)));
    let (w, h) = (glass.width(), glass.height());

    // A user in the group joins the world; one outside it does not.
    board.ok("getent passwd kiosk >/dev/null || useradd -M -U -G fusionfb kiosk");
    let as_user = |user: &str, group: &str, cmd: &str| {
        format!(
            "exec setpriv --reuid={user} --regid={group} --init-groups \
             env -i PATH=/usr/bin:/bin {cmd}"
        )
    };
    board.ok(&as_user("kiosk", "kiosk", "fusionfb status >/dev/null"));
    let refused = board
        .run(&as_user("nobody", "nogroup", "fusionfb status"))
        .unwrap();
    assert!(!refused.success(), "nobody joined the world: {refused}");
    report(&format!(
        "board: nobody is refused: {}",
        refused.stderr.lines().next().unwrap_or_default()
    ));

    // And paints on the glass with a finger.
    let paint = board
        .spawn(&as_user(
            "kiosk",
            "kiosk",
            &format!("fusionfb-paint --x 0 --y 0 --width {w} --height {h}"),
        ))
        .unwrap();
    board.tap_paints(&mut touch, w, h).unwrap_or_else(|e| {
        panic!(
            "{e}\nthe service's log:\n{}\npaint: {}",
            log(&mut board),
            board.log(&paint).unwrap_or_default()
        )
    });

    // Stopped as systemd stops it (SIGTERM to the main process), the service ends and the
    // application leaves with it.
    if let Some(service) = &service {
        board.stop(service, false).unwrap_or_else(|e| panic!("{e}"));
        board
            .wait_until(SLOW, "fusionfb-paint to leave", |b| {
                Ok((!b.running(&paint)?).then_some(()))
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // Purged, the package leaves nothing of itself but the group (system groups stay, as
    // Debian's packages leave theirs).
    let purge = board
        .run_timeout("dpkg --purge fusionfb", Duration::from_secs(120))
        .unwrap();
    assert!(purge.success(), "dpkg --purge: {purge}");
    let left = board.ok(&format!(
        "cd / && for f in {list} etc/fusionfb etc/systemd/system/multi-user.target.wants/fusionfb.service; \
         do if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo \"$f\"; fi; done"
    ));
    assert_eq!(left, "", "left behind by dpkg --purge");
    board.ok("getent group fusionfb >/dev/null");
    report(&format!(
        "board: the package test took {:.1} s (boot {:.1} s)",
        started.elapsed().as_secs_f64(),
        board.boot_time().as_secs_f64()
    ));
}
