//! The master's configuration: `fusionfb run --config FILE`.
//!
//! A config file is TOML. It describes one board: which **world** the master serves, which
//! **display** it drives and how, the **layers** it offers applications, where **input**
//! comes from, and which **apps** it starts (for kiosks). Every key has a default, so an empty
//! file is a valid config: a world named by the command line, the best display found
//! (`auto`), one full-screen primary layer, input from libinput's `seat0`, no apps.
//!
//! ```toml
//! [world]
//! name = "kiosk"          # the world's directory name; --world overrides it
//! group = "video"         # members of this group may join as well (a name or a gid)
//! abi = 1                 # slaves must enter with the same ABI number (see World::abi)
//!
//! [display]
//! backend = "drm"         # auto | drm | fbdev | headless | window
//! device = "/dev/dri/card0"
//! mode = "1280x800@60"    # preferred | current | WIDTHxHEIGHT[@HZ]
//! transform = "180"       # normal | 90 | 180 | 270 | flipped | flipped-90 | ...
//! background = "#202020"  # #rrggbb or #aarrggbb
//!
//! [[layer]]               # one table per layer; exactly one is primary
//! id = 0
//! kind = "primary"        # primary | overlay | cursor
//!
//! [[layer]]
//! id = 1
//! kind = "overlay"
//! size = [320, 240]
//! position = [16, 16]
//! opacity = 0.8
//!
//! [input]
//! calibration = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
//! keyboard = { layout = "de", repeat-delay = 400 }
//!
//! [[app]]
//! command = "/usr/bin/kiosk-ui"
//! args = ["--fullscreen"]
//! env = { RUST_LOG = "info" }
//! restart = "always"      # never | on-failure | always
//!
//! [wayland]
//! enabled = true          # listen for Wayland clients (default)
//! socket = "wayland-1"    # in $XDG_RUNTIME_DIR; default fusionfb-<world>
//!
//! [[wayland.rule]]        # placement by app_id; the first rule that matches wins
//! app-id = "org.example.*" # exact, or a prefix ending in '*'
//! position = [0, 0]       # with size: a window of its own size there (else maximized)
//! size = [640, 480]
//! layer = 1               # the layer it goes on (default: the primary layer)
//! fullscreen = false      # true: the whole output, over panels
//! ```
//!
//! The sections, what each key means and its default, are the fields of [`Config`],
//! [`World`], [`Display`], [`Layer`], [`Input`], [`Keyboard`], [`App`] and [`Wayland`]; keys are written
//! in kebab-case (`z-order`, `touch-output`). The files in the repository's `configs/` are
//! commented examples for real boards.
//!
//! # Loading and errors
//!
//! [`Config::load`] reads a file, [`Config::from_str`] parses text, and both validate: first
//! the types (through `serde`, with unknown keys refused), then what types cannot say —
//! mode and colour syntax, ranges, exactly one primary layer, unique layer ids, absolute
//! device paths and so on. The result is plain data with every default filled in; nothing
//! is looked up on the system (a `device` need not exist, a group name is resolved only by
//! [`Group::gid`]), so a profile can be checked on any machine.
//!
//! The first problem found is returned as a [`ConfigError`], which points into the file:
//!
//! ```text
//! configs/board.toml:12:11: layer[1].opacity: 1.5 is out of range 0..=1
//! ```
//!
//! ```
//! use fusionfb::config::{Config, Mode};
//! let cfg = Config::from_str("[display]\nmode = \"800x480@60\"\n", "board.toml").unwrap();
//! assert_eq!(cfg.display.mode, Mode::exact(800, 480, 60));
//! let err = Config::from_str("[display]\nmode = \"800x480@\"\n", "board.toml").unwrap_err();
//! assert!(err.to_string().starts_with("board.toml:2:8: display.mode: \"800x480@\" is not a mode"));
//! ```

mod error;
mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use toml::de::DeTable;

pub use error::{ConfigError, Location};
use error::{Doc, KeyPath, Part};
pub use values::{Color, Group, IdleTime, Mode, Position, Size, Transform, MAX_DIMENSION};

/// A whole configuration, validated, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[world]`: the world the master serves.
    pub world: World,
    /// `[display]`: the display and how it is driven.
    pub display: Display,
    /// `[[output]]`: the outputs to drive and how, in file order. Empty: every connected
    /// output, each with the `[display]` settings, side by side left to right.
    pub outputs: Vec<Output>,
    /// `[[layer]]`: the layers, in file order. Never empty; exactly one is
    /// [`LayerKind::Primary`]. Without any `[[layer]]` table, one full-screen primary layer
    /// with id 0.
    pub layers: Vec<Layer>,
    /// `[input]`: where input comes from and how it is interpreted.
    pub input: Input,
    /// `[[app]]`: programs the master starts once the display is up, in file order.
    pub apps: Vec<App>,
    /// `[wayland]`: the Wayland frontend (its socket), for unmodified Wayland applications.
    pub wayland: Wayland,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            world: World::default(),
            display: Display::default(),
            outputs: Vec::new(),
            layers: vec![Layer::new(0, LayerKind::Primary)],
            input: Input::default(),
            apps: Vec::new(),
            wayland: Wayland::default(),
        }
    }
}

impl Config {
    /// Reads and validates the config file at `path`. Errors name the file as `path` shows.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ConfigError {
            file: name.clone(),
            location: None,
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let offset = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes());
            ConfigError {
                file: name.clone(),
                location: Some(Location::of_offset(&text, offset)),
                key: String::new(),
                message: "the file is not UTF-8 text".to_string(),
            }
        })?;
        Config::from_str(&text, &name)
    }

    /// Parses and validates config `text`; `name` is the file name errors show.
    pub fn from_str(text: &str, name: &str) -> Result<Config, ConfigError> {
        let at = |doc: &Doc, span: Option<std::ops::Range<usize>>, message: &str| ConfigError {
            file: name.to_string(),
            location: span.as_ref().map(|s| Location::of_offset(text, s.start)),
            key: span
                .as_ref()
                .map(|s| doc.path_at(s).to_string())
                .unwrap_or_default(),
            message: message.to_string(),
        };
        let (root, syntax) = DeTable::parse_recoverable(text);
        let doc = Doc::new(root.clone());
        if let Some(e) = syntax
            .iter()
            .min_by_key(|e| e.span().map_or(usize::MAX, |s| s.start))
        {
            // toml says only "duplicate key"; name it.
            let written = e.span().and_then(|s| text.get(s)).unwrap_or_default();
            let message = match e.message() {
                "duplicate key" if !written.is_empty() => format!("duplicate key `{written}`"),
                m => m.to_string(),
            };
            return Err(at(&doc, e.span(), &message));
        }
        let raw = RawConfig::deserialize(toml::de::Deserializer::from(root))
            .map_err(|e| at(&doc, e.span(), e.message()))?;
        raw.validate().map_err(|invalid| ConfigError {
            file: name.to_string(),
            location: doc
                .span_of(&invalid.path, invalid.part)
                .map(|s| Location::of_offset(text, s.start)),
            key: invalid.path.to_string(),
            message: invalid.message,
        })
    }

    /// A [`ConfigError`] about the value at `key` (such as `["input", "keyboard", "layout"]`)
    /// in the file at `path`, for a problem found after loading — by checking the config
    /// against the system (a keymap that does not compile). The file is read again to find
    /// where the key is written; the location is left out when it cannot be found.
    pub fn error_at(path: &Path, key: &[&str], message: impl Into<String>) -> ConfigError {
        let mut key_path = KeyPath::root(key.first().copied().unwrap_or_default());
        for k in key.iter().skip(1) {
            key_path = key_path.key(k);
        }
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let (root, _) = DeTable::parse_recoverable(&text);
        let location = Doc::new(root)
            .span_of(&key_path, Part::Value)
            .map(|s| Location::of_offset(&text, s.start));
        ConfigError {
            file: path.display().to_string(),
            location,
            key: key_path.to_string(),
            message: message.into(),
        }
    }

    /// The primary layer.
    pub fn primary_layer(&self) -> &Layer {
        self.layers
            .iter()
            .find(|l| l.kind == LayerKind::Primary)
            .expect("a validated config has a primary layer")
    }

    /// The layers from the bottom of the stack to the top: by z-order, then by id.
    pub fn layers_bottom_to_top(&self) -> Vec<&Layer> {
        let mut layers: Vec<&Layer> = self.layers.iter().collect();
        layers.sort_by_key(|l| (l.z_order, l.id));
        layers
    }
}

/// `[world]`: which world the master serves and who may join it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct World {
    /// `name`: the world's name, one path component of 1–64 letters, digits, `-`, `_` or
    /// `.`. Default: none, so `--world`, else `FUSIONFB_WORLD`, else `default` decides.
    pub name: Option<String>,
    /// `group`: a group (name or gid) whose members may join besides the master's user.
    /// Default: none (same user only). The world directory becomes mode 0770.
    pub group: Option<Group>,
    /// `abi`: the application ABI number every slave must share; one that enters with
    /// another is refused (`slave ABI 0, world "kiosk" runs ABI 1`). Raise it when the
    /// board's applications change in a way older ones cannot follow. Default 0.
    ///
    /// An application is built for ABI `N` by entering with it:
    /// `fusionfb_client::Display::connect_to(fusion::WorldConfig::new(world).abi(N))` (or
    /// `fusion::Slave::enter` with that config). Processes that do not set one take
    /// `FUSIONFB_ABI` from their environment, else 0: so `FUSIONFB_ABI=1 fusionfb status`
    /// and `FUSIONFB_ABI=1 fusionfb-paint` join such a world, and the master passes its ABI
    /// to the `[[app]]`s it starts the same way.
    pub abi: u32,
}

impl World {
    /// The `fusion` world this section describes. `name` (from `--world`) wins over the
    /// file's `name`, which wins over `FUSIONFB_WORLD` and `default`; a group name is
    /// looked up here.
    pub fn fusion_config(&self, name: Option<&str>) -> std::io::Result<fusion::WorldConfig> {
        let name = name
            .map(str::to_string)
            .or_else(|| self.name.clone())
            .unwrap_or_else(fusion::world::default_world_name);
        let mut cfg = fusion::WorldConfig::new(&name).abi(self.abi);
        if let Some(group) = &self.group {
            cfg = cfg.group(group.gid()?);
        }
        Ok(cfg)
    }
}

/// The display backend to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// The first that works: DRM/KMS if a card with a connected output exists, else fbdev if
    /// a framebuffer exists, else headless.
    #[default]
    Auto,
    /// DRM/KMS (atomic, with legacy fallback): `/dev/dri/card*`.
    Drm,
    /// The old framebuffer device: `/dev/fb*`.
    Fbdev,
    /// No display: frames go to memory (CI, screenshots, benchmarks).
    Headless,
    /// A window on the developer's desktop (X11 or Wayland).
    Window,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Drm => "drm",
            Backend::Fbdev => "fbdev",
            Backend::Headless => "headless",
            Backend::Window => "window",
        })
    }
}

/// The size the headless backend uses when the mode names none (`preferred` or `current`).
pub const HEADLESS_DEFAULT_SIZE: Size = Size::new(1280, 800);

/// The refresh rate, in millihertz, the headless backend uses when nothing names one.
pub const HEADLESS_DEFAULT_REFRESH_MHZ: u32 = 60_000;

/// `[display]`: the display device and how to drive it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Display {
    /// `backend`: `auto`, `drm`, `fbdev`, `headless` or `window`. Default `auto`.
    pub backend: Backend,
    /// `device`: the device node for `drm` or `fbdev` (`auto` tries it first), an absolute
    /// path such as `/dev/dri/card0` or `/dev/fb0`. Default: the seat's primary card, or
    /// `/dev/fb0`. It need not exist when the config is checked.
    pub device: Option<PathBuf>,
    /// `mode`: `preferred` (default), `current`, or `WIDTHxHEIGHT[@HZ]`; see [`Mode`].
    pub mode: Mode,
    /// `transform`: how the panel is mounted; turns the picture and touch alike. Default
    /// `normal`; see [`Transform`].
    pub transform: Transform,
    /// `background`: the colour wherever no layer or window covers the screen. Default black.
    pub background: Color,
    /// `refresh`: for the headless backend, how often (Hz) it pretends a vblank happened.
    /// Default: the mode's rate, else 60. Hardware backends follow the display's own vblank,
    /// so setting it there is an error.
    pub refresh: Option<f64>,
    /// `vt`: `auto` (default) or `off`. With `auto`, a `drm` or `fbdev` display opened
    /// without a seat manager takes the virtual terminal it shows on: graphics mode (the text
    /// console stops drawing), the console's keyboard off, and VT switches (`chvt`,
    /// Ctrl+Alt+Fn) pausing and resuming the display. `off` leaves the console alone.
    pub vt: Vt,
    /// `allocator`: what the `drm` backend makes scan-out buffers with: `dumb` (default;
    /// every KMS driver) or `gbm` (the GPU driver's GBM, for boards whose display wants
    /// buffers laid out by it; needs fusionfb built with the `gbm` feature).
    pub allocator: Allocator,
    /// `output`: the only connector to drive when several displays are connected
    /// (`HDMI-A-1`, `DSI-1`; `fusionfb status` and the master's first log lines name them);
    /// the others stay dark. Default: every connected display, side by side (see
    /// `[[output]]`, which overrides this).
    pub output: Option<String>,
    /// `blank-after`: turn the panel off when no input came for this long (`"5m"`, `"30s"`;
    /// default `"off"`, never). The first touch, key or pointer event turns it back on and
    /// reaches no application; clients that must stay on screen inhibit it
    /// (`InhibitBlanking`, Wayland's idle inhibitor). `fusionfb blank on|off` does it by hand.
    pub blank_after: IdleTime,
}

/// `[[output]]`: one output (a connected display) to drive, and how. With any such table,
/// only the outputs named are driven; the others stay dark. Every key but `name` defaults
/// to `[display]`'s.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Output {
    /// `name` (required): the connector's name (`HDMI-A-1`, `DSI-1`, `Virtual-2`; the
    /// master's log and `fusionfb status` list them); for the headless backend, the name
    /// of an output it makes.
    pub name: String,
    /// `mode`: `preferred` or `WIDTHxHEIGHT[@HZ]` (the size of a headless output). Default:
    /// `[display] mode`.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// `transform`: how this panel is mounted. Default: `[display] transform`.
    #[serde(default)]
    pub transform: Option<Transform>,
    /// `background`: its background colour. Default: `[display] background`.
    #[serde(default)]
    pub background: Option<Color>,
    /// `position`: `[x, y]`, where its top-left corner is in the layout (the space windows,
    /// the pointer and touches share). Default: right of the outputs before it, top edges
    /// aligned.
    #[serde(default)]
    pub position: Option<Position>,
    /// `enabled`: `false` leaves this output dark even when connected. Default true.
    #[serde(default = "enabled_default")]
    pub enabled: bool,
}

fn enabled_default() -> bool {
    true
}

/// `display.allocator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Allocator {
    /// Dumb buffers.
    #[default]
    Dumb,
    /// GBM buffer objects.
    Gbm,
}

/// `display.vt`: whether the master takes the console when it owns the display itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Vt {
    /// Take it when the display is opened directly and a VT exists.
    #[default]
    Auto,
    /// Leave it alone.
    Off,
}

impl Display {
    /// The size and refresh rate (mHz) the headless backend runs at: the mode's, else
    /// [`HEADLESS_DEFAULT_SIZE`]; `refresh`, else the mode's rate, else 60 Hz.
    pub fn headless_mode(&self) -> (Size, u32) {
        let size = match self.mode {
            Mode::Exact { width, height, .. } => Size::new(width, height),
            _ => HEADLESS_DEFAULT_SIZE,
        };
        let mhz = self
            .refresh
            .map(|hz| (hz * 1000.0).round() as u32)
            .or(self.mode.refresh_mhz())
            .unwrap_or(HEADLESS_DEFAULT_REFRESH_MHZ);
        (size, mhz)
    }
}

/// What a layer is: which hardware plane it maps to, or which virtual one it stands in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerKind {
    /// The bottom layer that covers the screen and holds the shared windows.
    Primary,
    /// A layer above the primary one (a video or UI plane), often taken exclusively by one app.
    Overlay,
    /// The pointer's small layer, on top.
    Cursor,
}

impl LayerKind {
    fn name(&self) -> &'static str {
        match self {
            LayerKind::Primary => "primary",
            LayerKind::Overlay => "overlay",
            LayerKind::Cursor => "cursor",
        }
    }
}

/// The pixel format of a layer's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum PixelFormat {
    /// 32 bits, 8 each of red, green, blue, and 8 unused: opaque.
    #[serde(rename = "XRGB8888", alias = "xrgb8888")]
    Xrgb8888,
    /// 32 bits with 8 of alpha, premultiplied.
    #[serde(rename = "ARGB8888", alias = "argb8888")]
    Argb8888,
    /// 16 bits: 5 red, 6 green, 5 blue. Half the memory and bandwidth; common on small panels.
    #[serde(rename = "RGB565", alias = "rgb565")]
    Rgb565,
}

/// How many buffers a layer cycles through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BufferMode {
    /// One buffer, drawn while shown: least memory, may tear.
    Single,
    /// Draw one while the other is shown, swap at vblank.
    Double,
    /// Like double, with a spare so drawing never waits for the flip.
    Triple,
}

impl BufferMode {
    /// 1, 2 or 3.
    pub fn buffers(&self) -> u32 {
        match self {
            BufferMode::Single => 1,
            BufferMode::Double => 2,
            BufferMode::Triple => 3,
        }
    }
}

/// `[[layer]]`: one layer the master offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// `id` (required): the number applications ask for, unique. DirectFB's primary layer is 0.
    pub id: u32,
    /// `kind` (required): `primary`, `overlay` or `cursor`.
    pub kind: LayerKind,
    /// `size = [width, height]`: default none, meaning the display's size (known once the mode
    /// is set); a cursor's default is 64x64.
    pub size: Option<Size>,
    /// `position = [x, y]` of the top-left corner on the display. Default `[0, 0]`.
    pub position: Position,
    /// `opacity`, `0.0..=1.0`, applied to the whole layer. Default 1.
    pub opacity: f32,
    /// `z-order`: higher is nearer the viewer; ties go by id. Default: primary 0, overlay 1,
    /// cursor 2.
    pub z_order: i32,
    /// `pixel-format`: `XRGB8888`, `ARGB8888` or `RGB565`. Default: XRGB8888 for the primary
    /// layer, ARGB8888 for the others (they need alpha to show what is below).
    pub pixel_format: PixelFormat,
    /// `buffer-mode`: `single`, `double` or `triple`. Default: double; single for a cursor.
    pub buffer_mode: BufferMode,
    /// `background`: the colour the layer is cleared to. Default none: transparent for an
    /// overlay, the display's background for the primary layer.
    pub background: Option<Color>,
    /// `allow-exclusive`: whether one application may take the layer for itself and draw
    /// straight into its scan-out buffers. Default: true for overlays, false otherwise.
    pub allow_exclusive: bool,
    /// `output`: the output an overlay layer is on, by name (`HDMI-A-1`): it gets that
    /// output's overlay plane, its `position` is on that output, and its windows' positions
    /// start at that output's corner. Default: the first output (the primary layer spans
    /// the whole layout).
    pub output: Option<String>,
}

impl Layer {
    /// A layer of `kind` with every default.
    pub fn new(id: u32, kind: LayerKind) -> Self {
        RawLayer {
            id,
            kind,
            size: None,
            position: None,
            opacity: None,
            z_order: None,
            pixel_format: None,
            buffer_mode: None,
            background: None,
            allow_exclusive: None,
            output: None,
        }
        .resolve()
    }
}

/// A `[[layer]]` as written, before kind-dependent defaults are filled in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLayer {
    id: u32,
    kind: LayerKind,
    size: Option<Size>,
    position: Option<Position>,
    opacity: Option<f32>,
    z_order: Option<i32>,
    pixel_format: Option<PixelFormat>,
    buffer_mode: Option<BufferMode>,
    background: Option<Color>,
    allow_exclusive: Option<bool>,
    output: Option<String>,
}

impl RawLayer {
    fn resolve(self) -> Layer {
        let kind = self.kind;
        Layer {
            id: self.id,
            kind,
            size: self
                .size
                .or((kind == LayerKind::Cursor).then_some(Size::new(64, 64))),
            position: self.position.unwrap_or_default(),
            opacity: self.opacity.unwrap_or(1.0),
            z_order: self.z_order.unwrap_or(match kind {
                LayerKind::Primary => 0,
                LayerKind::Overlay => 1,
                LayerKind::Cursor => 2,
            }),
            pixel_format: self.pixel_format.unwrap_or(match kind {
                LayerKind::Primary => PixelFormat::Xrgb8888,
                _ => PixelFormat::Argb8888,
            }),
            buffer_mode: self.buffer_mode.unwrap_or(match kind {
                LayerKind::Cursor => BufferMode::Single,
                _ => BufferMode::Double,
            }),
            background: self.background,
            allow_exclusive: self.allow_exclusive.unwrap_or(kind == LayerKind::Overlay),
            output: self.output,
        }
    }
}

/// `[input]`: where input comes from and how it maps onto the display.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Input {
    /// `seat`: the udev seat whose devices libinput opens. Default `seat0`.
    pub seat: String,
    /// `devices`: explicit device nodes (`/dev/input/event*` or stable `/dev/input/by-*`
    /// links). Default empty: every input device of the seat, including ones plugged in later.
    /// When set, exactly these are opened (libinput's path backend) and `seat` is unused.
    pub devices: Vec<PathBuf>,
    /// `calibration = [a, b, c, d, e, f]`: libinput's touch calibration matrix, mapping
    /// normalized coordinates as `x' = a·x + b·y + c`, `y' = d·x + e·y + f`. Default none:
    /// udev's `LIBINPUT_CALIBRATION_MATRIX`, else identity. The display `transform` is applied
    /// on top, so a matrix only corrects the panel, never the mounting.
    #[serde(deserialize_with = "calibration")]
    pub calibration: Option<[f32; 6]>,
    /// `touch-output`: the output (connector name, e.g. `DSI-1`) touchscreens map to.
    /// Default none: the only output.
    pub touch_output: Option<String>,
    /// `[input.keyboard]`: keymap and key repeat.
    pub keyboard: Keyboard,
    /// `cursor-visible`: whether the pointer is drawn. Default none: shown while a pointing
    /// device (mouse, touchpad) is present, hidden on touch-only systems.
    pub cursor_visible: Option<bool>,
}

impl Default for Input {
    fn default() -> Self {
        Input {
            seat: "seat0".to_string(),
            devices: Vec::new(),
            calibration: None,
            touch_output: None,
            keyboard: Keyboard::default(),
            cursor_visible: None,
        }
    }
}

/// Reads `calibration`: exactly six finite numbers.
fn calibration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[f32; 6]>, D::Error> {
    let v = Vec::<f64>::deserialize(d)?;
    if v.len() != 6 {
        return Err(D::Error::custom(format!(
            "expected 6 numbers [a, b, c, d, e, f], found {}",
            v.len()
        )));
    }
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(D::Error::custom(format!("{x} is not a finite number")));
    }
    Ok(Some(std::array::from_fn(|i| v[i] as f32)))
}

/// `[input.keyboard]`: the XKB keymap (rules, model, layout, variant, options as in
/// `setxkbmap`) and key repeat.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Keyboard {
    /// `layout`, e.g. `"us"` or `"de,us"`. Default empty: xkbcommon's default
    /// (`XKB_DEFAULT_LAYOUT`, else `us`).
    pub layout: String,
    /// `variant`, e.g. `"nodeadkeys"`. Default empty.
    pub variant: String,
    /// `options`, e.g. `"ctrl:nocaps,compose:ralt"`. Default empty.
    pub options: String,
    /// `repeat-delay`: milliseconds a key is held before it repeats, `0..=10000`. Default 600.
    pub repeat_delay: u32,
    /// `repeat-rate`: repeats per second, `0..=1000`; 0 turns repeat off. Default 25.
    pub repeat_rate: u32,
}

impl Default for Keyboard {
    fn default() -> Self {
        Keyboard {
            layout: String::new(),
            variant: String::new(),
            options: String::new(),
            repeat_delay: 600,
            repeat_rate: 25,
        }
    }
}

/// `[[app]]`: a program the master starts once the display is up (kiosk use), restarts by
/// its [`Restart`] policy and stops when it shuts down; [`crate::apps`] says how.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct App {
    /// `command` (required): the program, an absolute path or a name looked up in `PATH`.
    pub command: String,
    /// `args`: its arguments. Default none.
    #[serde(default)]
    pub args: Vec<String>,
    /// `env`: variables set for it on top of the master's environment and of the two the
    /// master sets itself: `FUSIONFB_WORLD` (the world's name) and `FUSIONFB_RUNTIME_DIR`
    /// (the directory holding the world), so the app finds this master. Default none.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `output`: the output its windows go on (`HDMI-A-1`): the master sets
    /// `FUSIONFB_OUTPUT` to it, which fusionfb's client apps read like `--output`. Default:
    /// the first output.
    #[serde(default)]
    pub output: Option<String>,
    /// `restart`: what the master does when the app exits: `never` (default), `on-failure`
    /// (a non-zero status or a signal) or `always`. Restarts back off (0.5 s doubling to
    /// 30 s, back to 0.5 s once the app has run for 10 s); after 5 exits within 60 s the
    /// master gives up on the app and logs why (see `fusionfb::apps`).
    #[serde(default)]
    pub restart: Restart,
}

/// `app.restart`: when the master starts an app again after it exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Never: an app that exits stays exited.
    #[default]
    Never,
    /// When it failed: exited with a non-zero status, was killed by a signal, or could not
    /// be started.
    OnFailure,
    /// Whenever it exits, whatever its status (kiosk use: the UI must always be there).
    Always,
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Restart::Never => "never",
            Restart::OnFailure => "on-failure",
            Restart::Always => "always",
        })
    }
}

/// `[wayland]`: the Wayland frontend, through which unmodified Wayland applications (Qt, GTK,
/// SDL, weston's clients) show windows on the same scene as native slaves (see
/// `fusionfb::wayland`). Only in a master built with the `wayland` cargo feature (the
/// default); without it the section is read and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Wayland {
    /// `enabled`: whether the master listens for Wayland clients. Default true.
    pub enabled: bool,
    /// `socket`: the socket's name in `$XDG_RUNTIME_DIR` (what clients put in
    /// `WAYLAND_DISPLAY`), or an absolute path. Default none: `fusionfb-<world>`.
    pub socket: Option<String>,
    /// `[[wayland.rule]]`: where toplevels go, by app_id; the first that matches wins. A
    /// toplevel no rule matches is maximized to the output (less the panels' exclusive
    /// zones) on the primary layer: kiosk placement.
    #[serde(rename = "rule")]
    pub rules: Vec<WaylandRule>,
}

impl Default for Wayland {
    fn default() -> Self {
        Wayland {
            enabled: true,
            socket: None,
            rules: Vec::new(),
        }
    }
}

/// `[[wayland.rule]]`: the placement of the toplevels whose app_id matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WaylandRule {
    /// `app-id` (required): the app_id, exactly, or a prefix followed by `*` (`"*"` matches
    /// every toplevel).
    pub app_id: String,
    /// `position`: the window's corner on the output, `[x, y]`; needs `size`. Default: the
    /// usable area's corner.
    #[serde(default)]
    pub position: Option<[i32; 2]>,
    /// `size`: the size the toplevel is configured to, `[width, height]`, 1..=16384 each.
    /// Default none: maximized to the usable area (the output less the exclusive zones of
    /// layer-shell panels).
    #[serde(default)]
    pub size: Option<[u32; 2]>,
    /// `layer`: the id of the `[[layer]]` it goes on. Default: the primary layer.
    #[serde(default)]
    pub layer: Option<u32>,
    /// `fullscreen`: configured fullscreen to the whole output, above panels (`size` and
    /// `position` must be unset). Default false.
    #[serde(default)]
    pub fullscreen: bool,
    /// `output`: the output it goes on, by name (`HDMI-A-1`); `position` is then on that
    /// output, and maximized or fullscreen it fills that output. Default: the first output
    /// (so does a name that is not connected now).
    #[serde(default)]
    pub output: Option<String>,
}

impl WaylandRule {
    /// Whether the rule is for toplevels with `app_id`.
    pub fn matches(&self, app_id: &str) -> bool {
        match self.app_id.strip_suffix('*') {
            Some(prefix) => app_id.starts_with(prefix),
            None => app_id == self.app_id,
        }
    }
}

fn validate_wayland(w: &Wayland, layers: &[Layer]) -> Result<(), Invalid> {
    for (i, r) in w.rules.iter().enumerate() {
        let path = KeyPath::root("wayland").key("rule").index(i);
        if r.app_id.is_empty() || r.app_id.contains('\0') {
            return Err(invalid(
                path.key("app-id"),
                "the app-id is empty or contains a NUL character",
            ));
        }
        if r.output.as_deref() == Some("") {
            return Err(invalid(path.key("output"), "the output name is empty"));
        }
        if let Some([w, h]) = r.size {
            if !(1..=16384).contains(&w) || !(1..=16384).contains(&h) {
                return Err(invalid(
                    path.key("size"),
                    format!("{w}x{h}: width and height must be 1..=16384"),
                ));
            }
        }
        if r.position.is_some() && r.size.is_none() {
            return Err(invalid(
                path.key("position"),
                "a position needs a size (without one the window is maximized)",
            ));
        }
        if r.fullscreen && (r.size.is_some() || r.position.is_some()) {
            return Err(invalid(
                path.key("fullscreen"),
                "a fullscreen window has the whole output: drop size and position",
            ));
        }
        if let Some(l) = r.layer {
            if !layers.iter().any(|x| x.id == l) {
                let ids: Vec<String> = layers.iter().map(|x| x.id.to_string()).collect();
                return Err(invalid(
                    path.key("layer"),
                    format!("there is no layer {l}: the layers are {}", ids.join(", ")),
                ));
            }
        }
    }
    if let Some(name) = &w.socket {
        let path = std::path::Path::new(name);
        let bad = name.is_empty()
            || name.contains('\0')
            || (!path.is_absolute() && name.contains('/'))
            || name.len() > 100;
        if bad {
            return Err(invalid(
                KeyPath::root("wayland").key("socket"),
                format!(
                    "{name:?} is not a socket name: a file name in $XDG_RUNTIME_DIR \
                     (such as \"wayland-1\") or an absolute path, at most 100 bytes"
                ),
            ));
        }
    }
    Ok(())
}

/// The file as written.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    world: World,
    display: Display,
    #[serde(rename = "output")]
    outputs: Vec<Output>,
    #[serde(rename = "layer")]
    layers: Vec<RawLayer>,
    input: Input,
    #[serde(rename = "app")]
    apps: Vec<App>,
    wayland: Wayland,
}

/// A problem validation found, before it is located in the file.
struct Invalid {
    path: KeyPath,
    part: Part,
    message: String,
}

/// A problem with the value at `path`.
fn invalid(path: KeyPath, message: impl Into<String>) -> Invalid {
    Invalid {
        path,
        part: Part::Value,
        message: message.into(),
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, Invalid> {
        validate_world(&self.world)?;
        validate_display(&self.display)?;
        validate_outputs(&self.outputs)?;
        let layers = validate_layers(self.layers)?;
        validate_input(&self.input)?;
        validate_apps(&self.apps)?;
        validate_wayland(&self.wayland, &layers)?;
        Ok(Config {
            world: self.world,
            display: self.display,
            outputs: self.outputs,
            layers,
            input: self.input,
            apps: self.apps,
            wayland: self.wayland,
        })
    }
}

fn validate_outputs(outputs: &[Output]) -> Result<(), Invalid> {
    for (i, o) in outputs.iter().enumerate() {
        let at = KeyPath::root("output").index(i);
        if o.name.is_empty() {
            return Err(invalid(at.key("name"), "the output name is empty"));
        }
        if let Some(j) = outputs[..i].iter().position(|p| p.name == o.name) {
            return Err(invalid(
                at.key("name"),
                format!("output {:?} has two tables (also output[{j}])", o.name),
            ));
        }
        if o.mode == Some(Mode::Current) {
            return Err(invalid(
                at.key("mode"),
                "\"current\" is [display] mode's alone: an output's mode is \"preferred\" \
                 or WIDTHxHEIGHT[@HZ]",
            ));
        }
    }
    if !outputs.is_empty() && !outputs.iter().any(|o| o.enabled) {
        return Err(invalid(
            KeyPath::root("output"),
            "every [[output]] has enabled = false: at least one output must be driven",
        ));
    }
    Ok(())
}

fn validate_world(world: &World) -> Result<(), Invalid> {
    if let Some(name) = &world.name {
        if fusion::WorldConfig::new(name).validate().is_err() {
            return Err(invalid(
                KeyPath::root("world").key("name"),
                format!("{name:?} is not a world name: use 1-64 letters, digits, '-', '_' or '.'"),
            ));
        }
    }
    Ok(())
}

fn validate_display(display: &Display) -> Result<(), Invalid> {
    let path = KeyPath::root("display");
    if let Some(device) = &display.device {
        if !device.is_absolute() {
            return Err(invalid(
                path.key("device"),
                format!("{:?} is not an absolute path", device.display().to_string()),
            ));
        }
        if matches!(display.backend, Backend::Headless | Backend::Window) {
            return Err(invalid(
                path.key("device"),
                format!(
                    "the {} backend uses no device: device applies to drm, fbdev and auto",
                    display.backend
                ),
            ));
        }
    }
    if let Some(hz) = display.refresh {
        if !(hz.is_finite() && hz > 0.0 && hz <= 1000.0) {
            return Err(invalid(
                path.key("refresh"),
                format!("{hz} is out of range: use a rate above 0 and at most 1000 Hz"),
            ));
        }
        if !matches!(display.backend, Backend::Headless | Backend::Auto) {
            return Err(invalid(
                path.key("refresh"),
                format!(
                    "refresh applies to the headless backend only; {} follows the display's \
                     own vblank (put the rate in mode = \"WxH@HZ\")",
                    display.backend
                ),
            ));
        }
        if let Some(mhz) = display.mode.refresh_mhz() {
            if (hz * 1000.0).round() as u32 != mhz {
                return Err(invalid(
                    path.key("refresh"),
                    format!("{hz} Hz contradicts the mode's {} Hz", values::Millis(mhz)),
                ));
            }
        }
    }
    Ok(())
}

fn validate_layers(raw: Vec<RawLayer>) -> Result<Vec<Layer>, Invalid> {
    if raw.is_empty() {
        return Ok(Config::default().layers);
    }
    let mut layers: Vec<Layer> = Vec::with_capacity(raw.len());
    for (i, layer) in raw.into_iter().enumerate() {
        let path = KeyPath::root("layer").index(i);
        if let Some(j) = layers.iter().position(|l| l.id == layer.id) {
            return Err(invalid(
                path.key("id"),
                format!("layer id {} is already used by layer[{j}]", layer.id),
            ));
        }
        if let Some(size) = layer.size {
            let ok = |d: u32| (1..=MAX_DIMENSION).contains(&d);
            if !ok(size.width) || !ok(size.height) {
                return Err(invalid(
                    path.key("size"),
                    format!("{size}: width and height must be 1..={MAX_DIMENSION} pixels"),
                ));
            }
        }
        match layer.output.as_deref() {
            Some("") => return Err(invalid(path.key("output"), "the output name is empty")),
            Some(_) if layer.kind != LayerKind::Overlay => {
                return Err(invalid(
                    path.key("output"),
                    format!(
                        "a {} layer is the first output's (the primary layer spans every \
                         output): only an overlay layer goes on another output",
                        layer.kind.name()
                    ),
                ))
            }
            _ => {}
        }
        if let Some(opacity) = layer.opacity {
            if !(0.0..=1.0).contains(&opacity) {
                return Err(invalid(
                    path.key("opacity"),
                    format!("{opacity} is out of range 0..=1"),
                ));
            }
        }
        if matches!(layer.kind, LayerKind::Primary | LayerKind::Cursor) {
            if let Some(j) = layers.iter().position(|l| l.kind == layer.kind) {
                return Err(invalid(
                    path.key("kind"),
                    format!(
                        "layer[{j}] is already the {0} layer: there can be only one {0} layer",
                        layer.kind.name()
                    ),
                ));
            }
        }
        layers.push(layer.resolve());
    }
    if !layers.iter().any(|l| l.kind == LayerKind::Primary) {
        return Err(invalid(
            KeyPath::root("layer"),
            "no layer is primary: exactly one layer must have kind = \"primary\"",
        ));
    }
    Ok(layers)
}

fn validate_input(input: &Input) -> Result<(), Invalid> {
    let path = KeyPath::root("input");
    if input.seat.is_empty() {
        return Err(invalid(path.key("seat"), "the seat name is empty"));
    }
    for (i, device) in input.devices.iter().enumerate() {
        let at = path.key("devices").index(i);
        if !device.is_absolute() {
            return Err(invalid(
                at,
                format!("{:?} is not an absolute path", device.display().to_string()),
            ));
        }
        if let Some(j) = input.devices[..i].iter().position(|d| d == device) {
            return Err(invalid(
                at,
                format!(
                    "{:?} is listed twice (also devices[{j}])",
                    device.display().to_string()
                ),
            ));
        }
    }
    if input.touch_output.as_deref() == Some("") {
        return Err(invalid(
            path.key("touch-output"),
            "the output name is empty",
        ));
    }
    let kb = path.key("keyboard");
    if input.keyboard.repeat_delay > 10_000 {
        return Err(invalid(
            kb.key("repeat-delay"),
            format!(
                "{} is out of range 0..=10000 ms",
                input.keyboard.repeat_delay
            ),
        ));
    }
    if input.keyboard.repeat_rate > 1000 {
        return Err(invalid(
            kb.key("repeat-rate"),
            format!(
                "{} is out of range 0..=1000 per second (0 turns repeat off)",
                input.keyboard.repeat_rate
            ),
        ));
    }
    Ok(())
}

fn validate_apps(apps: &[App]) -> Result<(), Invalid> {
    for (i, app) in apps.iter().enumerate() {
        let path = KeyPath::root("app").index(i);
        if app.command.trim().is_empty() {
            return Err(invalid(path.key("command"), "the command is empty"));
        }
        let nul = |s: &str| s.contains('\0');
        if nul(&app.command) {
            return Err(invalid(
                path.key("command"),
                "the command contains a NUL character",
            ));
        }
        if let Some(j) = app.args.iter().position(|a| nul(a)) {
            return Err(invalid(
                path.key("args").index(j),
                "the argument contains a NUL character",
            ));
        }
        for (name, value) in &app.env {
            let at = path.key("env").key(name);
            if name.is_empty() || name.contains('=') || nul(name) {
                return Err(Invalid {
                    path: at,
                    part: Part::Key,
                    message: format!(
                        "{name:?} is not an environment variable name: it must be non-empty, \
                         without '=' or NUL"
                    ),
                });
            }
            if nul(value) {
                return Err(invalid(at, "the value contains a NUL character"));
            }
        }
    }
    Ok(())
}
