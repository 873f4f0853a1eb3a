//! The master's configuration: every board profile loads, valid files become the expected
//! structs, and every mistake is reported as `file:line:column: key: message`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fusionfb::config::{
    Allocator, App, Backend, BufferMode, Color, Config, Display, Group, Input, Keyboard, Layer,
    LayerKind, Location, Mode, PixelFormat, Position, Restart, Size, Transform, Vt, Wayland, World,
};

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs")
}

/// The error `text` gives, as the user sees it.
fn error(text: &str) -> String {
    match Config::from_str(text, "board.toml") {
        Ok(cfg) => panic!("{text:?} was accepted: {cfg:#?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_wayland_socket_with_a_slash_is_refused_with_its_place() {
    let err = Config::from_str("[wayland]\nsocket = \"a/b\"\n", "w.toml").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("w.toml:2:10: wayland.socket: \"a/b\" is not a socket name"),
        "{err}"
    );
    let ok = Config::from_str("[wayland]\nsocket = \"/run/wl-0\"\n", "w.toml").unwrap();
    assert_eq!(ok.wayland.socket.as_deref(), Some("/run/wl-0"));
    assert!(ok.wayland.enabled);
}

#[test]
fn an_empty_file_gives_the_defaults() {
    for text in ["", "\n", "# nothing but a comment\n\n"] {
        assert_eq!(
            Config::from_str(text, "empty.toml").unwrap(),
            Config::default()
        );
    }
    let d = Config::default();
    assert_eq!(d.world, World::default());
    assert_eq!(d.world.name, None);
    assert_eq!(d.display.backend, Backend::Auto);
    assert_eq!(d.display.mode, Mode::Preferred);
    assert_eq!(d.display.transform, Transform::Normal);
    assert_eq!(d.display.background, Color::BLACK);
    assert_eq!(d.layers.len(), 1);
    let primary = d.primary_layer();
    assert_eq!((primary.id, primary.kind), (0, LayerKind::Primary));
    assert_eq!(primary.size, None);
    assert_eq!(primary.opacity, 1.0);
    assert_eq!(primary.pixel_format, PixelFormat::Xrgb8888);
    assert_eq!(primary.buffer_mode, BufferMode::Double);
    assert!(!primary.allow_exclusive);
    assert_eq!(d.input.seat, "seat0");
    assert!(d.input.devices.is_empty());
    assert_eq!(d.input.calibration, None);
    assert_eq!(d.input.cursor_visible, None);
    assert_eq!(
        (d.input.keyboard.repeat_delay, d.input.keyboard.repeat_rate),
        (600, 25)
    );
    assert!(d.apps.is_empty());
    // Empty sections are as good as none.
    let sections = "[world]\n[display]\n[input]\n[input.keyboard]\n";
    assert_eq!(Config::from_str(sections, "s.toml").unwrap(), d);
}

const FULL: &str = r##"
[world]
name = "kiosk"
group = "video"
abi = 7

[display]
backend = "headless"
mode = "1920x1080@59.94"
transform = "flipped-270"
background = "#80102030"
refresh = 59.94
vt = "off"
allocator = "gbm"
output = "HDMI-A-1"
blank-after = "5m"

[[layer]]
id = 0
kind = "primary"
pixel-format = "RGB565"
buffer-mode = "triple"
background = "#ffffff"

[[layer]]
id = 3
kind = "overlay"
size = [320, 240]
position = [-10, 20]
opacity = 0.5
z-order = 5
allow-exclusive = false

[[layer]]
id = 9
kind = "cursor"

[input]
seat = "seat1"
devices = ["/dev/input/event3", "/dev/input/by-path/platform-touch-event"]
calibration = [0, -1, 1, 1, 0, 0]
touch-output = "DSI-1"
cursor-visible = true
keyboard = { layout = "de,us", variant = "nodeadkeys", options = "ctrl:nocaps", repeat-delay = 250, repeat-rate = 0 }

[[app]]
command = "/usr/bin/kiosk"
args = ["--url", "http://localhost/"]
env = { LANG = "de_DE.UTF-8", "X.Y" = "1" }
restart = "on-failure"

[[app]]
command = "clock"

[wayland]
enabled = false
socket = "wayland-1"
"##;

#[test]
fn a_full_file_parses_to_the_expected_structs() {
    let cfg = Config::from_str(FULL, "full.toml").unwrap();
    let expected = Config {
        world: World {
            name: Some("kiosk".into()),
            group: Some(Group::Name("video".into())),
            abi: 7,
        },
        display: Display {
            backend: Backend::Headless,
            device: None,
            mode: Mode::Exact {
                width: 1920,
                height: 1080,
                refresh_mhz: Some(59_940),
            },
            transform: Transform::Flipped270,
            background: Color {
                a: 0x80,
                r: 0x10,
                g: 0x20,
                b: 0x30,
            },
            refresh: Some(59.94),
            vt: Vt::Off,
            allocator: Allocator::Gbm,
            output: Some("HDMI-A-1".into()),
            blank_after: fusionfb::config::IdleTime(Some(std::time::Duration::from_secs(300))),
        },
        outputs: vec![],
        layers: vec![
            Layer {
                id: 0,
                kind: LayerKind::Primary,
                size: None,
                position: Position { x: 0, y: 0 },
                opacity: 1.0,
                z_order: 0,
                pixel_format: PixelFormat::Rgb565,
                buffer_mode: BufferMode::Triple,
                background: Some(Color::rgb(255, 255, 255)),
                allow_exclusive: false,
                output: None,
            },
            Layer {
                id: 3,
                kind: LayerKind::Overlay,
                size: Some(Size::new(320, 240)),
                position: Position { x: -10, y: 20 },
                opacity: 0.5,
                z_order: 5,
                pixel_format: PixelFormat::Argb8888,
                buffer_mode: BufferMode::Double,
                background: None,
                allow_exclusive: false,
                output: None,
            },
            Layer {
                id: 9,
                kind: LayerKind::Cursor,
                size: Some(Size::new(64, 64)),
                position: Position::default(),
                opacity: 1.0,
                z_order: 2,
                pixel_format: PixelFormat::Argb8888,
                buffer_mode: BufferMode::Single,
                background: None,
                allow_exclusive: false,
                output: None,
            },
        ],
        input: Input {
            seat: "seat1".into(),
            devices: vec![
                "/dev/input/event3".into(),
                "/dev/input/by-path/platform-touch-event".into(),
            ],
            calibration: Some([0.0, -1.0, 1.0, 1.0, 0.0, 0.0]),
            touch_output: Some("DSI-1".into()),
            keyboard: Keyboard {
                layout: "de,us".into(),
                variant: "nodeadkeys".into(),
                options: "ctrl:nocaps".into(),
                repeat_delay: 250,
                repeat_rate: 0,
            },
            cursor_visible: Some(true),
        },
        apps: vec![
            App {
                command: "/usr/bin/kiosk".into(),
                args: vec!["--url".into(), "http://localhost/".into()],
                env: BTreeMap::from([
                    ("LANG".into(), "de_DE.UTF-8".into()),
                    ("X.Y".into(), "1".into()),
                ]),
                output: None,
                restart: Restart::OnFailure,
            },
            App {
                command: "clock".into(),
                args: vec![],
                env: BTreeMap::new(),
                output: None,
                restart: Restart::Never,
            },
        ],
        wayland: Wayland {
            enabled: false,
            socket: Some("wayland-1".into()),
            rules: vec![],
        },
    };
    assert_eq!(cfg, expected);
    // The stack: primary (z 0), cursor (z 2), overlay (z 5).
    let order: Vec<u32> = cfg.layers_bottom_to_top().iter().map(|l| l.id).collect();
    assert_eq!(order, [0, 9, 3]);
    assert_eq!(cfg.display.headless_mode(), (Size::new(1920, 1080), 59_940));
}

#[test]
fn other_spellings_are_accepted() {
    let text = "[world]\ngroup = 44\n[display]\ntransform = 90\nbackground = \"#ABCDEF\"\n\
                mode = \"current\"\n[[layer]]\nid = 0\nkind = \"primary\"\npixel-format = \"argb8888\"\n";
    let cfg = Config::from_str(text, "s.toml").unwrap();
    assert_eq!(cfg.world.group, Some(Group::Gid(44)));
    assert_eq!(cfg.display.transform, Transform::Rotate90);
    assert_eq!(cfg.display.background, Color::rgb(0xab, 0xcd, 0xef));
    assert_eq!(cfg.display.mode, Mode::Current);
    assert_eq!(cfg.layers[0].pixel_format, PixelFormat::Argb8888);
    // Dotted keys and inline tables locate errors as well as headers do.
    assert_eq!(
        error("display.mode = \"1x\"\n"),
        "board.toml:1:16: display.mode: \"1x\" is not a mode: use \"preferred\", \"current\" or \
         WIDTHxHEIGHT[@HZ] such as \"1280x800@60\""
    );
}

#[test]
fn every_board_profile_loads() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(configs_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = Config::load(&path) {
                panic!("{e}");
            }
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    for expected in [
        "desktop.toml",
        "fusionfb.toml",
        "generic.toml",
        "headless.toml",
        "kiosk.toml",
        "paint-kiosk.toml",
        "qemu-bochs.toml",
        "rpi-vc4.toml",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing");
    }
}

#[test]
fn the_profiles_say_what_their_comments_say() {
    let load = |name: &str| Config::load(configs_dir().join(name)).unwrap();

    let headless = load("headless.toml");
    assert_eq!(headless.display.backend, Backend::Headless);
    assert_eq!(headless.display.mode, Mode::exact(1280, 800, 60));
    let kinds: Vec<LayerKind> = headless.layers.iter().map(|l| l.kind).collect();
    assert_eq!(kinds, [LayerKind::Primary, LayerKind::Overlay]);
    assert_eq!(
        headless.display.headless_mode(),
        (Size::new(1280, 800), 60_000)
    );

    let qemu = load("qemu-bochs.toml");
    assert_eq!(qemu.display.backend, Backend::Drm);
    assert_eq!(qemu.display.device, Some("/dev/dri/card0".into()));
    assert_eq!(qemu.display.mode, Mode::Preferred);
    assert_eq!(qemu.input.touch_output.as_deref(), Some("Virtual-1"));

    let pi = load("rpi-vc4.toml");
    assert_eq!(pi.display.backend, Backend::Drm);
    assert_eq!(pi.display.transform, Transform::Rotate180);
    assert_eq!(pi.display.mode, Mode::exact(800, 480, 60));
    assert_eq!(pi.input.touch_output.as_deref(), Some("DSI-1"));
    assert_eq!(pi.input.cursor_visible, Some(false));
    assert_eq!(pi.apps.len(), 1);

    let desktop = load("desktop.toml");
    assert_eq!(desktop.display.backend, Backend::Window);
    assert_eq!(
        desktop.display.mode,
        Mode::Exact {
            width: 800,
            height: 480,
            refresh_mhz: None
        }
    );
    assert_eq!(desktop.world.name.as_deref(), Some("desktop"));

    let kiosk = load("paint-kiosk.toml");
    assert_eq!(kiosk.world.name.as_deref(), Some("kiosk"));
    assert_eq!(kiosk.display.backend, Backend::Auto);
    assert_eq!(kiosk.layers, Config::default().layers);
    assert_eq!(kiosk.apps.len(), 1);
    assert_eq!(kiosk.apps[0].command, "fusionfb-paint");
    assert!(kiosk.apps[0].args.is_empty(), "full screen: no geometry");
    assert_eq!(kiosk.apps[0].restart, Restart::Always);

    // The Wayland kiosk: one application above an on-screen keyboard, both restarted.
    let wayland = load("kiosk.toml");
    let apps: Vec<&str> = wayland.apps.iter().map(|a| a.command.as_str()).collect();
    assert_eq!(apps, ["weston-terminal", "wvkbd-mobintl"]);
    assert!(wayland.apps.iter().all(|a| a.restart == Restart::Always));

    let generic = load("generic.toml");
    assert_eq!(generic.display.backend, Backend::Auto);
    assert_eq!(generic.layers, Config::default().layers);

    // The packaged service's: the world open to the group the package's postinst makes, a
    // background that shows the service is up, no apps.
    let service = load("fusionfb.toml");
    assert_eq!(service.world.group, Some(Group::Name("fusionfb".into())));
    assert_eq!(service.world.name, None);
    assert_ne!(service.display.background, Color::BLACK);
    assert!(service.apps.is_empty());

    // The error quoted at the top of headless.toml is the one it gets.
    let text = std::fs::read_to_string(configs_dir().join("headless.toml")).unwrap();
    let quoted = text
        .lines()
        .find_map(|l| l.strip_prefix("#     configs/headless.toml:"))
        .unwrap();
    let quoted = format!(
        "configs/headless.toml:{}",
        quoted.split("   (").next().unwrap()
    );
    let bad = text.replace("opacity = 0.9 ", "opacity = 1.5 ");
    let err = Config::from_str(&bad, "configs/headless.toml").unwrap_err();
    assert_eq!(err.to_string(), quoted);
}

/// Each bad input and the exact error it gives.
const BAD: &[(&str, &str)] = &[
    // Syntax.
    (
        "[display]\nmode = 1280x800\n",
        "board.toml:2:8: display.mode: string values must be quoted, expected literal string",
    ),
    (
        "[display\n",
        "board.toml:1:9: display: unclosed table, expected `]`",
    ),
    (
        "[world]\nname = \"a\" abi = 1\n",
        "board.toml:2:12: unexpected key or value, expected newline, `#`",
    ),
    (
        "[display]\nmode = \"preferred\"\nmode = \"current\"\n",
        "board.toml:3:1: duplicate key `mode`",
    ),
    (
        "[display]\n[input]\n[display]\n",
        "board.toml:3:2: display: duplicate key `display`",
    ),
    // Types and enumerations.
    (
        "[display]\nbackend = \"kms\"\n",
        "board.toml:2:11: display.backend: unknown variant `kms`, expected one of `auto`, \
         `drm`, `fbdev`, `headless`, `window`",
    ),
    (
        "[[layer]]\nid = 0\nkind = \"primary\"\nopacity = \"high\"\n",
        "board.toml:4:11: layer[0].opacity: invalid type: string \"high\", expected f32",
    ),
    (
        "[[layer]]\nid = -1\nkind = \"primary\"\n",
        "board.toml:2:6: layer[0].id: invalid value: integer `-1`, expected u32",
    ),
    (
        "[[layer]]\nkind = \"primary\"\n",
        "board.toml:1:1: layer[0]: missing field `id`",
    ),
    (
        "[world]\ngroup = -5\n",
        "board.toml:2:9: world.group: -5 is not a gid: use 0..=4294967294",
    ),
    // Mode syntax and range.
    (
        "[display]\nmode = \"1280x800@\"\n",
        "board.toml:2:8: display.mode: \"1280x800@\" is not a mode: use \"preferred\", \
         \"current\" or WIDTHxHEIGHT[@HZ] such as \"1280x800@60\"",
    ),
    (
        "[display]\nmode = \"0x800@60\"\n",
        "board.toml:2:8: display.mode: \"0x800@60\": width and height must be 1..=16384 pixels",
    ),
    (
        "[display]\nmode = \"1280x800@0\"\n",
        "board.toml:2:8: display.mode: \"1280x800@0\": the refresh rate must be above 0 and \
         at most 1000 Hz",
    ),
    // Colour and transform syntax.
    (
        "[display]\nbackground = \"#12345\"\n",
        "board.toml:2:14: display.background: \"#12345\" is not a colour: use \"#rrggbb\" or \
         \"#aarrggbb\"",
    ),
    (
        "[[layer]]\nid = 0\nkind = \"primary\"\nbackground = \"red\"\n",
        "board.toml:4:14: layer[0].background: \"red\" is not a colour: use \"#rrggbb\" or \
         \"#aarrggbb\"",
    ),
    (
        "[display]\ntransform = 45\n",
        "board.toml:2:13: display.transform: 45 is not a transform: use \"normal\", \"90\", \
         \"180\", \"270\", \"flipped\", \"flipped-90\", \"flipped-180\" or \"flipped-270\"",
    ),
    (
        "[display]\ntransform = \"upside-down\"\n",
        "board.toml:2:13: display.transform: \"upside-down\" is not a transform: use \"normal\", \
         \"90\", \"180\", \"270\", \"flipped\", \"flipped-90\", \"flipped-180\" or \"flipped-270\"",
    ),
    // World and display checks.
    (
        "[world]\nname = \"my world\"\n",
        "board.toml:2:8: world.name: \"my world\" is not a world name: use 1-64 letters, \
         digits, '-', '_' or '.'",
    ),
    (
        "[display]\nbackend = \"drm\"\ndevice = \"dri/card0\"\n",
        "board.toml:3:10: display.device: \"dri/card0\" is not an absolute path",
    ),
    (
        "[display]\nbackend = \"headless\"\ndevice = \"/dev/fb0\"\n",
        "board.toml:3:10: display.device: the headless backend uses no device: device applies \
         to drm, fbdev and auto",
    ),
    (
        "[display]\nbackend = \"drm\"\nrefresh = 30\n",
        "board.toml:3:11: display.refresh: refresh applies to the headless backend only; drm \
         follows the display's own vblank (put the rate in mode = \"WxH@HZ\")",
    ),
    (
        "[display]\nbackend = \"headless\"\nmode = \"800x600@60\"\nrefresh = 30\n",
        "board.toml:4:11: display.refresh: 30 Hz contradicts the mode's 60 Hz",
    ),
    (
        "[display]\nrefresh = -1.0\n",
        "board.toml:2:11: display.refresh: -1 is out of range: use a rate above 0 and at most \
         1000 Hz",
    ),
    // Layers.
    (
        "[[layer]]\nid = 0\nkind = \"primary\"\n\n[[layer]]\nid = 1\nkind = \"overlay\"\n\
         opacity = 1.5\n",
        "board.toml:8:11: layer[1].opacity: 1.5 is out of range 0..=1",
    ),
    (
        "[[layer]]\nid = 0\nkind = \"primary\"\n[[layer]]\nid = 2\nkind = \"overlay\"\n\
         [[layer]]\nid = 2\nkind = \"cursor\"\n",
        "board.toml:8:6: layer[2].id: layer id 2 is already used by layer[1]",
    ),
    (
        "[[layer]]\nid = 1\nkind = \"overlay\"\n[[layer]]\nid = 2\nkind = \"cursor\"\n",
        "board.toml:1:1: layer: no layer is primary: exactly one layer must have kind = \
         \"primary\"",
    ),
    (
        "[[layer]]\nid = 0\nkind = \"primary\"\n[[layer]]\nid = 1\nkind = \"primary\"\n",
        "board.toml:6:8: layer[1].kind: layer[0] is already the primary layer: there can be \
         only one primary layer",
    ),
    (
        "[[layer]]\nid = 0\nkind = \"primary\"\n[[layer]]\nid = 1\nkind = \"cursor\"\n\
         [[layer]]\nid = 2\nkind = \"cursor\"\n",
        "board.toml:9:8: layer[2].kind: layer[1] is already the cursor layer: there can be \
         only one cursor layer",
    ),
    (
        "[[layer]]\nid = 0\nkind = \"primary\"\nsize = [0, 600]\n",
        "board.toml:4:8: layer[0].size: 0x600: width and height must be 1..=16384 pixels",
    ),
    (
        "[[layer]]\nid = 0\nkind = \"primary\"\nsize = [800, 600, 2]\n",
        "board.toml:4:8: layer[0].size: expected 2 numbers [width, height], found 3",
    ),
    (
        "[[layer]]\nid = 0\nkind = \"primary\"\npixel-format = \"BGR888\"\n",
        "board.toml:4:16: layer[0].pixel-format: unknown variant `BGR888`, expected one of \
         `XRGB8888`, `xrgb8888`, `ARGB8888`, `argb8888`, `RGB565`, `rgb565`",
    ),
    // Input.
    (
        "[input]\ncalibration = [1.0, 0.0, 0.0, 0.0]\n",
        "board.toml:2:15: input.calibration: expected 6 numbers [a, b, c, d, e, f], found 4",
    ),
    (
        "[input]\ncalibration = [1.0, 0.0, 0.0, 0.0, 1.0, nan]\n",
        "board.toml:2:15: input.calibration: NaN is not a finite number",
    ),
    (
        "[input]\nseat = \"\"\n",
        "board.toml:2:8: input.seat: the seat name is empty",
    ),
    (
        "[input]\ndevices = [\"/dev/input/event0\", \"event1\"]\n",
        "board.toml:2:33: input.devices[1]: \"event1\" is not an absolute path",
    ),
    (
        "[input]\ndevices = [\"/dev/input/event0\", \"/dev/input/event0\"]\n",
        "board.toml:2:33: input.devices[1]: \"/dev/input/event0\" is listed twice (also \
         devices[0])",
    ),
    (
        "[input.keyboard]\nrepeat-rate = 5000\n",
        "board.toml:2:15: input.keyboard.repeat-rate: 5000 is out of range 0..=1000 per second \
         (0 turns repeat off)",
    ),
    (
        "[input]\nkeyboard = { repeat-delay = 20000 }\n",
        "board.toml:2:29: input.keyboard.repeat-delay: 20000 is out of range 0..=10000 ms",
    ),
    // Apps.
    (
        "[[app]]\ncommand = \"  \"\n",
        "board.toml:2:11: app[0].command: the command is empty",
    ),
    (
        "[[app]]\nargs = [\"-v\"]\n",
        "board.toml:1:1: app[0]: missing field `command`",
    ),
    (
        "[[app]]\ncommand = \"ui\"\nenv = { \"A=B\" = \"1\" }\n",
        "board.toml:3:9: app[0].env.\"A=B\": \"A=B\" is not an environment variable name: it \
         must be non-empty, without '=' or NUL",
    ),
    (
        "[[app]]\ncommand = \"ui\"\nrestart = \"sometimes\"\n",
        "board.toml:3:11: app[0].restart: unknown variant `sometimes`, expected one of \
         `never`, `on-failure`, `always`",
    ),
];

#[test]
fn each_mistake_gives_its_exact_error() {
    let mut failures = Vec::new();
    for (text, expected) in BAD {
        let got = error(text);
        if got != *expected {
            failures.push(format!(
                "input:    {text:?}\nexpected: {expected}\ngot:      {got}\n"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn unknown_keys_are_errors_that_name_the_key() {
    let cases = [
        (
            "[dispaly]\nmode = \"preferred\"\n",
            "board.toml:1:2: dispaly: unknown field `dispaly`, expected one of `world`, \
             `display`, `output`, `layer`, `input`, `app`, `wayland`",
        ),
        (
            "\n[display]\nbakend = \"drm\"\n",
            "board.toml:3:1: display.bakend: unknown field `bakend`, expected one of \
             `backend`, `device`, `mode`, `transform`, `background`, `refresh`, `vt`, `allocator`, `output`, `blank-after`",
        ),
        (
            "[[layer]]\nid = 0\nkind = \"primary\"\nalpha = 0.5\n",
            "board.toml:4:1: layer[0].alpha: unknown field `alpha`, expected one of `id`, \
             `kind`, `size`, `position`, `opacity`, `z-order`, `pixel-format`, `buffer-mode`, \
             `background`, `allow-exclusive`, `output`",
        ),
        (
            "[input]\nkeyboard = { layout = \"us\", rate = 30 }\n",
            "board.toml:2:29: input.keyboard.rate: unknown field `rate`, expected one of \
             `layout`, `variant`, `options`, `repeat-delay`, `repeat-rate`",
        ),
        (
            "[world]\nname = \"a\"\nz_order = 1\n",
            "board.toml:3:1: world.z_order: unknown field `z_order`, expected one of `name`, \
             `group`, `abi`",
        ),
        (
            "[[app]]\ncommand = \"ui\"\nrestart-delay = 5\n",
            "board.toml:3:1: app[0].restart-delay: unknown field `restart-delay`, expected \
             one of `command`, `args`, `env`, `output`, `restart`",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error(text), expected, "for {text:?}");
    }
}

#[test]
fn errors_carry_their_parts() {
    let e = Config::from_str(
        "\n[[layer]]\nid = 0\nkind = \"primary\"\nopacity = 2\n",
        "b.toml",
    )
    .unwrap_err();
    assert_eq!(e.file, "b.toml");
    assert_eq!(
        e.location,
        Some(Location {
            line: 5,
            column: 11
        })
    );
    assert_eq!(e.key, "layer[0].opacity");
    assert_eq!(e.message, "2 is out of range 0..=1");
}

#[test]
fn load_names_the_file() {
    let dir = std::env::temp_dir().join(format!("fusionfb-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let missing = dir.join("missing.toml");
    let e = Config::load(&missing).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: cannot read: ", missing.display())),
        "{e}"
    );

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[display]\n\nmode = \"fast\"\n").unwrap();
    let e = Config::load(&bad).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:3:8: display.mode: \"fast\" is not a mode: use \"preferred\", \"current\" or \
             WIDTHxHEIGHT[@HZ] such as \"1280x800@60\"",
            bad.display()
        )
    );

    let binary = dir.join("binary.toml");
    std::fs::write(&binary, b"[world]\nname = \"\xff\"\n").unwrap();
    let e = Config::load(&binary).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{}:2:9: the file is not UTF-8 text", binary.display())
    );

    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_world_section_becomes_a_fusion_world() {
    let cfg =
        Config::from_str("[world]\nname = \"kiosk\"\ngroup = 0\nabi = 3\n", "w.toml").unwrap();
    let world = cfg.world.fusion_config(None).unwrap();
    assert_eq!(
        (world.name.as_str(), world.abi, world.group),
        ("kiosk", 3, Some(0))
    );
    // --world wins over the file.
    let world = cfg.world.fusion_config(Some("other")).unwrap();
    assert_eq!(world.name, "other");
    // A group that does not exist is reported when the world is made, not when the file is read.
    let cfg = Config::from_str("[world]\ngroup = \"no-such-group-fusionfb\"\n", "w.toml").unwrap();
    assert!(cfg.world.fusion_config(Some("x")).is_err());
}

#[test]
fn wayland_rules_are_read_and_their_mistakes_named() {
    let cfg = Config::from_str(
        "[[layer]]\nid = 0\nkind = \"primary\"\n[[layer]]\nid = 2\nkind = \"overlay\"\n\
         [[wayland.rule]]\napp-id = \"org.example.*\"\nposition = [10, 20]\nsize = [640, 480]\n\
         layer = 2\n[[wayland.rule]]\napp-id = \"video\"\nfullscreen = true\n",
        "w.toml",
    )
    .unwrap();
    let rules = &cfg.wayland.rules;
    assert_eq!(rules.len(), 2);
    assert_eq!(
        (rules[0].position, rules[0].size, rules[0].layer),
        (Some([10, 20]), Some([640, 480]), Some(2))
    );
    assert!(rules[0].matches("org.example.Viewer") && !rules[0].matches("org.other"));
    assert!(rules[1].fullscreen && rules[1].matches("video") && !rules[1].matches("video2"));
    for (text, want) in [
        (
            "[[wayland.rule]]\napp-id = \"a\"\nposition = [1, 2]\n",
            "w.toml:3:12: wayland.rule[0].position: a position needs a size",
        ),
        (
            "[[wayland.rule]]\napp-id = \"a\"\nlayer = 5\n",
            "w.toml:3:9: wayland.rule[0].layer: there is no layer 5: the layers are 0",
        ),
        (
            "[[wayland.rule]]\napp-id = \"a\"\nfullscreen = true\nsize = [1, 1]\n",
            "w.toml:3:14: wayland.rule[0].fullscreen: a fullscreen window has the whole output",
        ),
        (
            "[[wayland.rule]]\napp-id = \"a\"\nsize = [0, 10]\n",
            "w.toml:3:8: wayland.rule[0].size: 0x10: width and height must be 1..=16384",
        ),
        (
            "[[wayland.rule]]\napp-id = \"\"\n",
            "w.toml:2:10: wayland.rule[0].app-id: the app-id is empty",
        ),
    ] {
        let err = Config::from_str(text, "w.toml").unwrap_err().to_string();
        assert!(err.starts_with(want), "{text:?}: {err}");
    }
}

#[test]
fn output_tables_are_read_and_their_mistakes_named() {
    let cfg = Config::from_str(
        "[display]\ntransform = \"90\"\n\
         [[output]]\nname = \"Virtual-1\"\n\
         [[output]]\nname = \"Virtual-2\"\nmode = \"800x600@50\"\ntransform = \"normal\"\n\
         background = \"#102030\"\nposition = [1024, 0]\n\
         [[output]]\nname = \"HDMI-A-1\"\nenabled = false\n\
         [[app]]\ncommand = \"clock\"\noutput = \"Virtual-2\"\n",
        "o.toml",
    )
    .unwrap();
    let names: Vec<&str> = cfg.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["Virtual-1", "Virtual-2", "HDMI-A-1"]);
    let second = &cfg.outputs[1];
    assert_eq!(
        second.mode,
        Some(Mode::Exact {
            width: 800,
            height: 600,
            refresh_mhz: Some(50_000)
        })
    );
    assert_eq!(second.transform, Some(Transform::Normal));
    assert_eq!(second.background, Some(Color::rgb(0x10, 0x20, 0x30)));
    assert_eq!(second.position, Some(Position { x: 1024, y: 0 }));
    assert!(second.enabled && !cfg.outputs[2].enabled);
    assert_eq!(cfg.outputs[0].transform, None, "left to [display]");
    assert_eq!(cfg.apps[0].output.as_deref(), Some("Virtual-2"));
    for (text, want) in [
        (
            "[[output]]\nname = \"\"\n",
            "o.toml:2:8: output[0].name: the output name is empty",
        ),
        (
            "[[output]]\nname = \"A\"\n[[output]]\nname = \"A\"\n",
            "o.toml:4:8: output[1].name: output \"A\" has two tables (also output[0])",
        ),
        (
            "[[output]]\nname = \"A\"\nmode = \"current\"\n",
            "o.toml:3:8: output[0].mode: \"current\" is [display] mode's alone",
        ),
        (
            "[[output]]\nname = \"A\"\nenabled = false\n",
            "o.toml:1:1: output: every [[output]] has enabled = false",
        ),
        (
            "[[layer]]\nid = 0\nkind = \"primary\"\noutput = \"B\"\n",
            "o.toml:4:10: layer[0].output: a primary layer is the first output's",
        ),
        (
            "[[layer]]\nid = 0\nkind = \"primary\"\n[[layer]]\nid = 1\nkind = \"overlay\"\noutput = \"\"\n",
            "o.toml:7:10: layer[1].output: the output name is empty",
        ),
        (
            "[[output]]\nname = \"A\"\nrotation = 90\n",
            "o.toml:3:1: output[0].rotation: unknown field `rotation`",
        ),
    ] {
        let err = Config::from_str(text, "o.toml").unwrap_err().to_string();
        assert!(err.starts_with(want), "{text:?}: {err}");
    }
}
