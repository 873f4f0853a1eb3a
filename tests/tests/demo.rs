//! `fusionfb demo` as a newcomer runs it: the master, the three apps as processes, the
//! scripted touches, the screenshot — and its own checks passing.

use fusionfb_tests::binary;

#[test]
fn the_demo_runs_its_apps_plays_touches_and_writes_a_screenshot() {
    let dir = std::env::temp_dir().join(format!("fusionfb-demo-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("demo.png");
    let out = std::process::Command::new(binary("fusionfb"))
        .env("FUSIONFB_RUNTIME_DIR", &dir)
        .args(["demo", "--screenshot"])
        .arg(&shot)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "started fusionfb-paint",
        "started fusionfb-clock",
        "started fusionfb-gallery",
        "all checks passed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let img = fusionfb::compose::png::read(&shot).unwrap();
    assert_eq!((img.width(), img.height()), (1280, 800));
    // The paint canvas's light background is on the left, the clock's dark one top right.
    let paint = img.pixel(600, 100) & 0xff_ffff;
    let clock = img.pixel(660, 20) & 0xff_ffff;
    assert!(paint > 0xc0_c0_c0, "paint background {paint:#x}");
    assert!(clock < 0x40_40_40, "clock background {clock:#x}");
}
