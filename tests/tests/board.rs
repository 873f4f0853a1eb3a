//! The emulated board itself, before any fusionfb backend runs on it: the kernel's DRM
//! drivers give the device nodes, a uinput touchscreen is tagged for libinput, pixels written
//! to the bochs framebuffer reach QEMU's screendump, and the workspace's binaries run in the
//! guest. These prove the harness (`fusionfb_tests::board`) that the DRM, fbdev and input
//! scenarios build on. Each boots a board (about 25 s; boards take turns on a machine).

use fusionfb_tests::board::{Board, BoardSpec, Gpu};
use std::io::Write;
use std::time::Duration;

/// The colour written to the framebuffer, and its bytes in fb0's XRGB8888 (little-endian
/// B, G, R, X) as octal `printf` escapes.
const FILL: [u8; 3] = [0x20, 0xc0, 0x60];
const FILL_BYTES: &str = r"\140\300\040\000";

fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The workspace's binaries and configs are in the guest, and the binaries run there.
fn binaries_run(board: &mut Board) {
    let version = board.ok("fusionfb --version");
    assert!(
        version.starts_with("fusionfb "),
        "fusionfb --version said {version:?}"
    );
    board.ok("fusionfb status --help >/dev/null");
    board.ok("command -v fusionfb-paint fusionfb-clock fusionfb-gallery");
    board.ok("test -f /opt/fusionfb/configs/qemu-bochs.toml");
}

#[test]
fn bochs_board_has_drm_fbdev_a_touchscreen_and_runs_the_binaries() {
    let Some(mut board) = Board::boot_or_skip(BoardSpec::new(Gpu::Bochs)) else {
        return;
    };

    board.ok("test -c /dev/dri/card0");
    let driver = board.ok("basename $(readlink /sys/class/drm/card0/device/driver)");
    assert_eq!(driver.trim(), "bochs-drm", "card0's driver");

    binaries_run(&mut board);

    // A touchscreen on uinput, tagged for libinput by udev (the helper waits for the tag).
    let touch = board
        .add_touchscreen("fusionfb-touch")
        .unwrap_or_else(|e| panic!("{e}"));
    let props = board.ok(&format!("udevadm info --query=property {}", touch.path));
    assert!(
        props.lines().any(|l| l == "ID_INPUT_TOUCHSCREEN=1"),
        "udev did not tag {} as a touchscreen:\n{props}",
        touch.path
    );

    // The glass, before anything is drawn: bochs' fbdev emulation sets its preferred mode.
    let mode = board.ok("cat /sys/class/graphics/fb0/virtual_size");
    let (w, h) = mode
        .trim()
        .split_once(',')
        .expect("fb0 virtual_size is W,H");
    let (w, h): (u32, u32) = (w.parse().unwrap(), h.parse().unwrap());
    let first = board.screendump().unwrap();
    report(&format!(
        "board: bochs fb0 is {w}x{h}; the screendump is {}x{}",
        first.width(),
        first.height()
    ));
    assert!(
        [(1024, 768), (1280, 800)].contains(&(first.width(), first.height())),
        "unexpected bochs mode {}x{}",
        first.width(),
        first.height()
    );
    assert_eq!(
        (first.width(), first.height()),
        (w, h),
        "screendump vs fb0 size"
    );

    // A solid colour written to /dev/fb0 (no fusionfb backend involved) reaches the screendump.
    // The console's cursor would blink into it, so it is switched off first. The frame goes in
    // one write(): the fbdev emulation turns each write into a damage rectangle, and writes
    // that end mid-scanline left stripes unflushed (seen with 8 KiB writes on 6.1).
    board.ok("echo 0 > /sys/class/graphics/fbcon/cursor_blink || true");
    board.ok(&format!(
        "printf '{FILL_BYTES}' > /tmp/px && for i in $(seq 22); do cat /tmp/px /tmp/px > /tmp/px2 \
         && mv /tmp/px2 /tmp/px; done && stride=$(cat /sys/class/graphics/fb0/stride) && \
         dd if=/tmp/px of=/dev/fb0 bs=$((stride * {h})) count=1 status=none"
    ));
    let total = (w * h) as usize;
    let img = board
        .wait_for_screen(
            Duration::from_secs(30),
            "the fill colour on the glass",
            |img| img.count(|p| p == FILL) * 100 >= total * 99,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    for (x, y) in [(w / 2, h / 2), (0, h - 1), (w - 1, h - 1), (w - 1, 0)] {
        assert_eq!(img.pixel(x, y), FILL, "pixel ({x}, {y})");
    }
}

#[test]
fn virtio_gpu_board_has_card_and_render_node() {
    let Some(mut board) = Board::boot_or_skip(BoardSpec::new(Gpu::VirtioGpu)) else {
        return;
    };
    board.ok("test -c /dev/dri/card0 && test -c /dev/dri/renderD128");
    // card0's parent is the PCI function; the virtio device below it is virtio-gpu's.
    let driver = board.ok("basename $(readlink /sys/class/drm/card0/device/virtio*/driver)");
    assert_eq!(driver.trim(), "virtio_gpu", "card0's virtio driver");
    binaries_run(&mut board);
    // No bochs on this board: the agent reports failing commands as failures.
    let bochs = board.run("test -e /sys/module/bochs").unwrap();
    assert!(!bochs.success(), "bochs is loaded on the virtio-gpu board");

    // The agent: a command that outlives its limit is ended (status 124) and the next one is
    // answered; a background process keeps running and its output lands in its log; a file
    // with quotes, newlines and non-ASCII bytes arrives intact.
    let slow = board
        .run_timeout("sleep 30", Duration::from_secs(2))
        .unwrap();
    assert_eq!(slow.status, 124, "the guest's timeout: {slow}");
    assert_eq!(board.ok("echo still here"), "still here\n");
    let bg = board.spawn("echo started; sleep 300").unwrap();
    board
        .wait_for(
            &format!("grep -q started {}", bg.log),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(board.running(&bg).unwrap(), "{} ended", bg.cmd);
    let data: Vec<u8> = (0..=255u8)
        .cycle()
        .take(10_000)
        .chain(*b"it's \"q\"\n")
        .collect();
    board.write_file("/tmp/data", &data).unwrap();
    let sum = board.ok("md5sum < /tmp/data");
    let mut expected = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("md5sum on the host");
    expected.stdin.take().unwrap().write_all(&data).unwrap();
    let expected = expected.wait_with_output().unwrap();
    assert_eq!(
        sum,
        String::from_utf8_lossy(&expected.stdout),
        "/tmp/data arrived changed"
    );
}
