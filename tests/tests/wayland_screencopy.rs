//! Wayland screenshot tools read the glass through `zwlr_screencopy_manager_v1`: Debian's
//! `grim` writes a PNG equal, pixel for pixel, to what `fusionfb screenshot` takes of the
//! same still picture (a native `fusionfb-paint`, untouched, beside the background), and
//! `grim -g` writes the region it asked for. A program that is not installed makes its test
//! print `SKIPPED:` and pass.

use std::path::Path;

use fusionfb_tests::wayland::{find_program, WaylandMaster, LIMIT};
use fusionfb_tests::{skipped, wait_for};

/// A PNG as rows of `0xRRGGBB`.
fn read_png(path: &Path) -> (u32, u32, Vec<u32>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{path:?}");
    let px = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]))
        .collect();
    (info.width, info.height, px)
}

#[test]
fn grim_writes_what_fusionfb_screenshot_takes() {
    let Some(grim) = find_program("grim") else {
        skipped("grim is not installed (Debian package grim)");
        return;
    };
    let mut m = WaylandMaster::start("wl-grim");
    let _paint = fusionfb_tests::Process::spawn(
        "fusionfb-paint",
        &m.world,
        &[
            "--x", "100", "--y", "50", "--width", "400", "--height", "300",
        ],
    );
    let ours = m.runtime.join("fusionfb.png");
    let theirs = m.runtime.join("grim.png");
    // Wait until paint is on the glass (the picture is still from then on).
    let bg = fusionfb_client::app::PAINT_BACKGROUND.to_argb() & 0xff_ffff;
    wait_for("paint on the glass", LIMIT, || {
        m.fusionfb(&["screenshot", ours.to_str().unwrap()])?;
        let (_, _, px) = read_png(&ours);
        (px[300 * 1280 + 300] == bg).then_some(())
    });
    let mut c = m.client(&grim, &[theirs.to_str().unwrap()], "grim");
    let status = c.wait();
    assert!(status.success(), "grim failed ({status}):\n{}", c.output());
    let (w, h, a) = read_png(&ours);
    let (gw, gh, b) = read_png(&theirs);
    assert_eq!((gw, gh), (w, h), "grim's picture has the output's size");
    let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert_eq!(
        differ, 0,
        "{differ} pixels differ between grim and fusionfb screenshot"
    );

    // A region: grim -g "X,Y WxH" (logical output coordinates).
    let part = m.runtime.join("grim-part.png");
    let mut c = m.client(
        &grim,
        &["-g", "90,40 40x30", part.to_str().unwrap()],
        "grim-part",
    );
    let status = c.wait();
    assert!(
        status.success(),
        "grim -g failed ({status}):\n{}",
        c.output()
    );
    let (pw, ph, p) = read_png(&part);
    assert_eq!((pw, ph), (40, 30));
    for y in 0..30 {
        for x in 0..40 {
            assert_eq!(
                p[(y * 40 + x) as usize],
                a[((40 + y) * w + 90 + x) as usize],
                "pixel ({x}, {y}) of the region"
            );
        }
    }
    m.assert_running();
}
