//! # fusionfb-protocol — what the master and its applications say to each other
//!
//! This crate's room in the house: the vocabulary shared by the master (`fusionfb`, in
//! `compositor/`) and the client library (`fusionfb-client`), and nothing else. It lives in
//! `clients/` next to the client library, like `niri-ipc` beside niri: applications need it,
//! the master implements it, and neither has to depend on the other (the master must not pull
//! in drawing crates, applications must not pull in pixman and the backends).
//!
//! How it travels, on top of [`fusion`]:
//!
//! - The master publishes a [`Root`] as its world root: the id of its one entry call, the
//!   output's geometry and the layers.
//! - Every [`Request`] is a typed payload of that call ([`fusion::call::encode`]); the
//!   answer is a [`Reply`]. Requests that hand out memory (a surface's buffers, a screenshot)
//!   return memfds with the answer (`SCM_RIGHTS`), so clients use `call_execute_fds`.
//! - Each surface and each window is an object in the master's registry with its own reactor.
//!   The master announces [`Event`]s there: a frame was presented, a touch landed in a window,
//!   the window got focus or changed.
//!
//! Coordinates are output pixels in the output's logical orientation (after its transform);
//! window-local coordinates have their origin at the window's top-left corner.

#![deny(unsafe_code)]

use serde::{Deserialize, Serialize};

/// Protocol version in [`Root::version`]; a client refuses a master whose major differs.
pub const VERSION: u32 = 1;
/// Minor revision of [`VERSION`]. Minors only append enum variants (postcard numbers variants
/// in order, so what an older peer knows decodes unchanged; what it does not know is an
/// error for that one message, never a misread), or fields at the end of a struct that ends
/// its message (an older peer decodes what it knows and ignores the trailing bytes; a newer
/// peer reading an older message gets an error for that one message — except the
/// [`Scene`], which [`Scene::decode_reply`] reads from any minor since 1).
///
/// - 0: surfaces, windows, layers, screenshots, touch injection.
/// - 1: [`Request::Inject`] (touch, pointer, keys), [`Request::CalibrationMode`] and
///   [`Reply::Calibration`]; [`Event::Pointer`], [`Event::Key`], [`Event::RawTouch`].
/// - 2: [`Scene::frames`], the master's frame counters (bytes composed, direct scan-out).
/// - 3: [`Scene::apps`], the programs the master started from its config's `[[app]]` tables
///   and how they are doing.
/// - 4: [`Scene::wayland`], the master's Wayland socket and its Wayland clients.
/// - 5: [`Scene::idle_inhibited_by`], the Wayland clients keeping the screen awake.
/// - 6: [`Scene::health`], the master process's memory, fds, threads and start time.
/// - 7: [`Request::SurfaceAdopt`] and [`Request::WindowAdopt`]: an application rejoining a
///   new master (the old one died) takes its surfaces and windows back.
/// - 8: [`Request::Reload`] and [`Reply::Reloaded`]: the master reads its config file again.
/// - 9: [`Request::LayerAdopt`]: a rejoining application takes back a layer it held
///   exclusively, with the scan-out buffers the dead master handed out.
/// - 10: [`Request::Blank`], [`Request::InhibitBlanking`] and [`Scene::blanking`]: the
///   display blanks when idle, on request, and wakes on input; [`Scene::cursor`], the
///   pointer's cursor: on the hardware cursor plane or composed, and what its motions cost.
/// - 11: [`Scene::outputs`] and [`Request::ScreenshotOutput`]: several outputs side by side
///   in one layout, each with its own mode, transform and frames.
pub const VERSION_MINOR: u32 = 11;
/// Name of the master's entry call (also findable with `call_lookup`).
pub const CALL_NAME: &str = "fusionfb";
/// Most buffers a surface may have (triple buffering).
pub const MAX_BUFFERS: u8 = 3;
/// Largest surface side.
pub const MAX_SIDE: u32 = 8192;

/// DRM fourcc of XRGB8888.
pub const FORMAT_XRGB8888: u32 = u32::from_le_bytes(*b"XR24");
/// DRM fourcc of ARGB8888 (premultiplied).
pub const FORMAT_ARGB8888: u32 = u32::from_le_bytes(*b"AR24");
/// DRM fourcc of RGB565.
pub const FORMAT_RGB565: u32 = u32::from_le_bytes(*b"RG16");

/// Rectangles, with their space in the type: a window's input region is logical (relative to
/// the window), a surface's damage is in its buffer's pixels (`Rect<Buffer>`). On the wire a
/// rectangle is `x, y, w, h`, whatever its space.
pub use fusionfb_types::geometry::{Buffer, Logical, Rect};

/// What the master publishes as the world root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Root {
    /// Protocol version ([`VERSION`]).
    pub version: u32,
    /// The master's entry call.
    pub call: fusion::CallId,
    /// The output.
    pub output: OutputInfo,
    /// The layers, bottom to top.
    pub layers: Vec<LayerInfo>,
}

/// The output as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputInfo {
    /// Logical width (after the transform).
    pub width: u32,
    /// Logical height.
    pub height: u32,
    /// Refresh rate in mHz.
    pub refresh_mhz: u32,
}

/// A layer as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Layer id (what [`Request::WindowCreate`] names).
    pub id: u32,
    /// `primary`, `overlay` or `cursor`.
    pub kind: String,
    /// Its descriptor ([`LayerDescriptor`]) in the master's read-only pool.
    pub descriptor: fusion::pool::ShmHandle,
    /// The reactor announcing [`Event::Configure`] when the layer changes (taken or given
    /// back, windows come and go).
    pub reactor: fusion::ReactorId,
}

/// A request to the master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// A surface of `buffers` buffers; answered with [`Reply::Surface`] and one memfd per
    /// buffer.
    SurfaceCreate {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// DRM fourcc ([`FORMAT_XRGB8888`], [`FORMAT_ARGB8888`], [`FORMAT_RGB565`]).
        format: u32,
        /// 1 (single), 2 (double) or 3 (triple).
        buffers: u8,
    },
    /// Hands buffer `buffer` to the master with the damage drawn since its last flip.
    /// `Busy` when that buffer is still in use by the master (back-pressure, never tearing).
    SurfaceFlip {
        /// Surface id.
        surface: u32,
        /// Buffer index.
        buffer: u8,
        /// Damaged rectangles in surface coordinates (empty: the whole surface).
        damage: Vec<Rect<Buffer>>,
    },
    /// Destroys a surface (and any window showing it).
    SurfaceDestroy {
        /// Surface id.
        surface: u32,
    },
    /// A window on a shared layer showing a surface; answered with [`Reply::Window`].
    WindowCreate {
        /// Surface id.
        surface: u32,
        /// Layer id.
        layer: u32,
        /// Left edge on the output.
        x: i32,
        /// Top edge on the output.
        y: i32,
        /// Opacity 0 (invisible) to 255 (opaque).
        opacity: u8,
        /// Shown at once.
        visible: bool,
    },
    /// Changes a window.
    WindowSet {
        /// Window id.
        window: u32,
        /// What changes.
        change: WindowChange,
    },
    /// Destroys a window.
    WindowDestroy {
        /// Window id.
        window: u32,
    },
    /// The output's current pixels; answered with [`Reply::Screenshot`] and a memfd.
    Screenshot,
    /// Takes a layer exclusively: answered like [`Request::SurfaceCreate`] with a surface
    /// whose buffers are the layer's own scan-out buffers (the glass's size and orientation);
    /// each flip puts the flipped buffer on the plane as it is. `Busy` if someone holds it.
    LayerAcquire {
        /// Layer id.
        layer: u32,
    },
    /// Gives an exclusively held layer back (its surface goes away).
    LayerRelease {
        /// Layer id.
        layer: u32,
    },
    /// Feeds synthetic touch events through the same routing as a real touchscreen (the
    /// demo, tests and automation use it).
    InjectTouch(Vec<InjectedTouch>),
    /// Feeds synthetic input of any kind through the master's input source, exactly as if a
    /// device had sent it (minor 1). At most 256 events per call.
    Inject(Vec<Injected>),
    /// While `on`, every touch goes to `window` (which the caller owns) as [`Event::RawTouch`]
    /// with the panel's uncalibrated position, and nowhere else: what a calibration client
    /// needs. Answered with [`Reply::Calibration`] (minor 1).
    CalibrationMode {
        /// The calibrating window.
        window: u32,
        /// Start (`true`) or stop.
        on: bool,
    },
    /// Every layer's, surface's and window's descriptor, answered with [`Reply::Scene`]
    /// (minor 1; `fusionfb status`; applications read their own descriptors directly).
    Describe,
    /// Takes back, on a master that replaced one that died, surface `id` the caller had
    /// there: its buffers are the descriptors that come with the request, in order (what the
    /// dead master handed out: sealed memfds or dma-bufs), and buffer `front`, if any, is
    /// on the glass again as soon as a window shows it (no `FrameDone`: flip it again for
    /// one). Answered with
    /// [`Reply::Surface`] and no descriptors; its id is `id` unless another surface or
    /// window of the new master has that one (minor 7).
    SurfaceAdopt {
        /// The surface's id on the dead master.
        id: u32,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// DRM fourcc.
        format: u32,
        /// The buffer last flipped.
        front: Option<u8>,
    },
    /// Takes back window `id` showing the caller's (taken back) `surface`, as it was: on
    /// `layer` at `(x, y)` with `opacity`; `stacked`, when the application created or last
    /// raised it, orders it among the windows taken back (a later one above). Answered with
    /// [`Reply::Window`]; its id is `id` unless taken (minor 7).
    WindowAdopt {
        /// The window's id on the dead master.
        id: u32,
        /// The surface it shows (its id on this master).
        surface: u32,
        /// Its layer.
        layer: u32,
        /// Left edge.
        x: i32,
        /// Top edge.
        y: i32,
        /// Opacity.
        opacity: u8,
        /// Shown.
        visible: bool,
        /// When it was created or last raised (`CLOCK_MONOTONIC` ns, comparable between
        /// processes); 0 when it was last lowered.
        stacked: u64,
    },
    /// Reads the master's config file again and applies what can change live (what
    /// `SIGHUP` does); answered with [`Reply::Reloaded`], or an error naming the file, line
    /// and key of a config that does not load (the running one stays) (minor 8).
    Reload,
    /// Takes back, on a master that replaced one that died, layer `layer` the caller held
    /// exclusively with surface `id`: its buffers are the descriptors that come with the
    /// request, in order (the scan-out buffers the dead master handed out: dma-bufs its card
    /// exported, or sealed memfds), `width`×`height` with rows `pitch` bytes apart, and
    /// buffer `front`, if any, goes on the layer's plane again at once (no `FrameDone`: flip
    /// it again for one). Where the card cannot scan the memory out again (it cannot import
    /// it), the layer is composed from it instead. Answered with [`Reply::Surface`] and no
    /// descriptors; its id is `id` unless taken (minor 9).
    LayerAdopt {
        /// The layer.
        layer: u32,
        /// The surface's id on the dead master.
        id: u32,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// DRM fourcc.
        format: u32,
        /// Bytes from one row to the next.
        pitch: u32,
        /// The buffer last flipped.
        front: Option<u8>,
    },
    /// Turns the display off now (`on`, as `[display] blank-after` would when the time is
    /// up) or back on (`fusionfb blank on|off`). Clients keep running and get no frames
    /// while it is off; the next touch, key or pointer event wakes it too (and is not
    /// delivered). Answered with [`Reply::Unit`], or an error when the display cannot blank
    /// (minor 10).
    Blank {
        /// Off (`true`) or on.
        on: bool,
    },
    /// Keeps the display from blanking when idle while `inhibit` holds and this client is
    /// in the world (a video player, a slideshow); `false` lets it blank again. Answered
    /// with [`Reply::Unit`] (minor 10).
    InhibitBlanking {
        /// Whether this client keeps the display on.
        inhibit: bool,
    },
    /// One output's current pixels, by its name ([`OutputStatus::name`]); answered like
    /// [`Request::Screenshot`] (which shows the first output), `NotFound` naming the
    /// outputs there are for another name (minor 11).
    ScreenshotOutput {
        /// The output's name (`Virtual-2`, `HDMI-A-1`).
        output: String,
    },
}

/// A synthetic input event (minor 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Injected {
    /// A touch at output coordinates (as from a perfectly calibrated panel).
    Touch {
        /// What happens.
        phase: TouchPhase,
        /// Slot.
        slot: u32,
        /// Output x.
        x: f32,
        /// Output y.
        y: f32,
    },
    /// A touch at a normalized, uncalibrated panel position (`[0, 1]²` on the panel's own
    /// axes): it goes through the calibration matrix and the output transform.
    DeviceTouch {
        /// What happens.
        phase: TouchPhase,
        /// Slot.
        slot: u32,
        /// Panel x, normalized.
        u: f32,
        /// Panel y, normalized.
        v: f32,
    },
    /// Relative pointer motion.
    PointerMotion {
        /// Horizontal.
        dx: f32,
        /// Vertical.
        dy: f32,
    },
    /// The pointer moves to an output position.
    PointerTo {
        /// Output x.
        x: f32,
        /// Output y.
        y: f32,
    },
    /// A pointer button (Linux code, `BTN_LEFT` = 0x110).
    Button {
        /// Button code.
        button: u32,
        /// Pressed or released.
        pressed: bool,
    },
    /// Scrolling.
    Axis {
        /// Horizontal.
        horizontal: f32,
        /// Vertical.
        vertical: f32,
    },
    /// A key by Linux evdev code (`KEY_A` = 30).
    Key {
        /// Evdev code.
        keycode: u32,
        /// Pressed or released.
        pressed: bool,
    },
    /// A key by the keysym it types in the master's keymap (`"a"`, `"Return"`).
    KeyName {
        /// Keysym name.
        name: String,
        /// Pressed or released.
        pressed: bool,
    },
}

/// A synthetic touch event, in output coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InjectedTouch {
    /// What happens.
    pub phase: TouchPhase,
    /// Multi-touch slot.
    pub slot: u32,
    /// Output x.
    pub x: f32,
    /// Output y.
    pub y: f32,
}

/// A change to a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WindowChange {
    /// Moves it.
    Move {
        /// New left edge.
        x: i32,
        /// New top edge.
        y: i32,
    },
    /// Shows another surface (a resize is a new surface of the new size).
    Surface(u32),
    /// Opacity 0–255.
    Opacity(u8),
    /// Shows or hides it.
    Visible(bool),
    /// Puts it on top of its layer.
    Raise,
    /// Puts it at the bottom of its layer.
    Lower,
    /// Where it takes input, in window coordinates (`None`: everywhere).
    InputRegion(Option<Vec<Rect>>),
    /// Gives it the keyboard focus.
    Focus,
}

/// The master's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// Done.
    Unit,
    /// A new surface; its buffers' memfds come with the answer, in order.
    Surface(SurfaceInfo),
    /// A new window.
    Window(WindowInfo),
    /// A screenshot's geometry; its pixels come as a memfd.
    Screenshot {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Bytes per row.
        pitch: u32,
        /// DRM fourcc (XRGB8888).
        format: u32,
    },
    /// Calibration mode is on or off; how the panel is mounted, so the client can put its
    /// targets on the panel's own axes (minor 1).
    Calibration {
        /// Clockwise quarter turns of the output transform.
        quarter_turns: u8,
        /// Mirrored left to right before the rotation.
        flipped: bool,
    },
    /// What is on the display (minor 1).
    Scene(Box<Scene>),
    /// What a reload applied and what waits for a restart (minor 8).
    Reloaded {
        /// The keys applied live.
        applied: Vec<String>,
        /// The keys that changed but take a restart.
        restart: Vec<String>,
    },
}

/// A surface as created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurfaceInfo {
    /// Surface id.
    pub id: u32,
    /// Width of its buffers.
    pub width: u32,
    /// Height of its buffers.
    pub height: u32,
    /// Their DRM fourcc.
    pub format: u32,
    /// The reactor announcing [`Event::FrameDone`].
    pub reactor: fusion::ReactorId,
    /// Bytes per row of each buffer.
    pub pitch: u32,
    /// Bytes of each buffer's memfd.
    pub size: u64,
    /// Its descriptor ([`SurfaceDescriptor`]) in the master's read-only pool.
    pub descriptor: fusion::pool::ShmHandle,
}

/// A window as created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowInfo {
    /// Window id.
    pub id: u32,
    /// The reactor announcing input, focus and configure events for it.
    pub reactor: fusion::ReactorId,
    /// Its descriptor ([`WindowDescriptor`]) in the master's read-only pool: read it
    /// directly, without a round trip.
    pub descriptor: fusion::pool::ShmHandle,
}

/// A window's state as the master publishes it in shared memory (the master's read-only
/// pool). Written under a sequence lock: [`WindowDescriptor::read`] retries until it gets a
/// consistent copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WindowDescriptor {
    /// Window id.
    pub id: u32,
    /// The surface it shows.
    pub surface: u32,
    /// Its layer.
    pub layer: u32,
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Opacity 0–255.
    pub opacity: u8,
    /// Shown.
    pub visible: bool,
    /// Has the keyboard focus.
    pub focused: bool,
    /// Position in the stack (0 = bottom).
    pub z: u32,
    /// Its owner's fusionee id.
    pub owner: fusion::FusioneeId,
    /// When it was stacked where it is: created or raised (`CLOCK_MONOTONIC` ns, comparable
    /// between processes and between masters), 0 when lowered. An application rejoining a
    /// new master hands it back so its windows and everybody's stack up as before (minor 7;
    /// in shared memory only, not in [`Scene`]).
    #[serde(skip)]
    pub stacked: u64,
}

/// Bytes a [`WindowDescriptor`] takes in shared memory.
pub const WINDOW_DESCRIPTOR_SIZE: usize = cell::SIZE;
/// Bytes a [`SurfaceDescriptor`] takes in shared memory.
pub const SURFACE_DESCRIPTOR_SIZE: usize = cell::SIZE;
/// Bytes a [`LayerDescriptor`] takes in shared memory.
pub const LAYER_DESCRIPTOR_SIZE: usize = cell::SIZE;

impl WindowDescriptor {
    const MAGIC: u32 = u32::from_le_bytes(*b"FFBW");

    fn fields(&self) -> [u32; cell::FIELDS] {
        [
            self.id,
            self.surface,
            self.layer,
            self.x as u32,
            self.y as u32,
            self.width,
            self.height,
            self.opacity as u32 | (self.visible as u32) << 8 | (self.focused as u32) << 9,
            self.z,
            self.owner.0,
            self.stacked as u32,
            (self.stacked >> 32) as u32,
        ]
    }

    /// Writes the descriptor at `offset` of the master's mapping (sequence-locked).
    pub fn write(&self, map: &fusionfb_sys::Mapping, offset: usize) {
        cell::write(map, offset, Self::MAGIC, &self.fields());
    }

    /// Reads a consistent copy from `offset` of a (read-only) mapping; `None` if there is
    /// no window descriptor there.
    pub fn read(map: &fusionfb_sys::Mapping, offset: usize) -> Option<WindowDescriptor> {
        let f = cell::read(map, offset, Self::MAGIC)?;
        Some(WindowDescriptor {
            id: f[0],
            surface: f[1],
            layer: f[2],
            x: f[3] as i32,
            y: f[4] as i32,
            width: f[5],
            height: f[6],
            opacity: (f[7] & 0xff) as u8,
            visible: f[7] & 0x100 != 0,
            focused: f[7] & 0x200 != 0,
            z: f[8],
            owner: fusion::FusioneeId(f[9]),
            stacked: u64::from(f[10]) | u64::from(f[11]) << 32,
        })
    }
}

/// A surface's state as the master publishes it (the master's read-only pool, sequence
/// locked like [`WindowDescriptor`]); changes are announced on the surface's reactor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SurfaceDescriptor {
    /// Surface id.
    pub id: u32,
    /// Its owner's fusionee id.
    pub owner: fusion::FusioneeId,
    /// Width of its buffers.
    pub width: u32,
    /// Height of its buffers.
    pub height: u32,
    /// Their DRM fourcc.
    pub format: u32,
    /// Bytes per row.
    pub pitch: u32,
    /// How many buffers (1–3).
    pub buffers: u8,
    /// The buffer the master shows (`None` before the first flip).
    pub front: Option<u8>,
    /// A flip is waiting for the glass (the next flip would be refused as busy).
    pub in_flight: bool,
    /// The layer it holds exclusively, if it is a layer's surface.
    pub exclusive_layer: Option<u32>,
    /// Flips so far.
    pub flips: u32,
    /// Flips that reached the glass so far.
    pub presented: u32,
    /// Windows showing it.
    pub windows: u32,
}

impl SurfaceDescriptor {
    const MAGIC: u32 = u32::from_le_bytes(*b"FFBS");

    fn fields(&self) -> [u32; cell::FIELDS] {
        [
            self.id,
            self.owner.0,
            self.width,
            self.height,
            self.format,
            self.pitch,
            self.buffers as u32
                | (self.front.map_or(0xff, u32::from) << 8)
                | (self.in_flight as u32) << 16,
            self.exclusive_layer.map_or(u32::MAX, |l| l),
            self.flips,
            self.presented,
            self.windows,
            0,
        ]
    }

    /// Writes the descriptor at `offset` of the master's mapping (sequence-locked).
    pub fn write(&self, map: &fusionfb_sys::Mapping, offset: usize) {
        cell::write(map, offset, Self::MAGIC, &self.fields());
    }

    /// Reads a consistent copy; `None` if there is no surface descriptor at `offset`.
    pub fn read(map: &fusionfb_sys::Mapping, offset: usize) -> Option<SurfaceDescriptor> {
        let f = cell::read(map, offset, Self::MAGIC)?;
        let front = (f[6] >> 8) & 0xff;
        Some(SurfaceDescriptor {
            id: f[0],
            owner: fusion::FusioneeId(f[1]),
            width: f[2],
            height: f[3],
            format: f[4],
            pitch: f[5],
            buffers: (f[6] & 0xff) as u8,
            front: (front != 0xff).then_some(front as u8),
            in_flight: f[6] & 0x1_0000 != 0,
            exclusive_layer: (f[7] != u32::MAX).then_some(f[7]),
            flips: f[8],
            presented: f[9],
            windows: f[10],
        })
    }
}

/// A layer's state as the master publishes it (the master's read-only pool, sequence
/// locked like [`WindowDescriptor`]); changes are announced on the layer's reactor
/// ([`LayerInfo::reactor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LayerDescriptor {
    /// Layer id.
    pub id: u32,
    /// 0 primary, 1 overlay, 2 cursor.
    pub kind: u32,
    /// Backed by a hardware plane (else composed: a virtual layer).
    pub hardware: bool,
    /// May be taken exclusively.
    pub allow_exclusive: bool,
    /// Left edge of its plane on the output.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width of its buffers when taken exclusively.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// The surface holding it exclusively.
    pub exclusive_surface: Option<u32>,
    /// That surface's owner (fusionee id), 0 when shared.
    pub exclusive_owner: fusion::FusioneeId,
    /// Windows on it.
    pub windows: u32,
    /// Position in the stack (0 = bottom).
    pub z: u32,
}

impl LayerDescriptor {
    const MAGIC: u32 = u32::from_le_bytes(*b"FFBL");

    fn fields(&self) -> [u32; cell::FIELDS] {
        [
            self.id,
            self.kind,
            self.hardware as u32 | (self.allow_exclusive as u32) << 1,
            self.x as u32,
            self.y as u32,
            self.width,
            self.height,
            self.exclusive_surface.map_or(u32::MAX, |s| s),
            self.exclusive_owner.0,
            self.windows,
            self.z,
            0,
        ]
    }

    /// Writes the descriptor at `offset` of the master's mapping (sequence-locked).
    pub fn write(&self, map: &fusionfb_sys::Mapping, offset: usize) {
        cell::write(map, offset, Self::MAGIC, &self.fields());
    }

    /// Reads a consistent copy; `None` if there is no layer descriptor at `offset`.
    pub fn read(map: &fusionfb_sys::Mapping, offset: usize) -> Option<LayerDescriptor> {
        let f = cell::read(map, offset, Self::MAGIC)?;
        Some(LayerDescriptor {
            id: f[0],
            kind: f[1],
            hardware: f[2] & 1 != 0,
            allow_exclusive: f[2] & 2 != 0,
            x: f[3] as i32,
            y: f[4] as i32,
            width: f[5],
            height: f[6],
            exclusive_surface: (f[7] != u32::MAX).then_some(f[7]),
            exclusive_owner: fusion::FusioneeId(f[8]),
            windows: f[9],
            z: f[10],
        })
    }
}

/// Everything on the display, as [`Request::Describe`] answers it (for `fusionfb status`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Scene {
    /// The layers, bottom to top.
    pub layers: Vec<LayerDescriptor>,
    /// The surfaces, by id.
    pub surfaces: Vec<SurfaceDescriptor>,
    /// The windows, bottom to top.
    pub windows: Vec<WindowDescriptor>,
    /// The master's frame counters (minor 2; after the minor-1 fields, so a minor-1 peer
    /// ignores it).
    pub frames: FrameStats,
    /// The apps the master started from its config's `[[app]]` tables, in file order
    /// (minor 3; after the minor-2 fields, so a minor-2 peer ignores it).
    pub apps: Vec<AppStatus>,
    /// The Wayland frontend, when the master runs one: its socket and clients (minor 4;
    /// after the minor-3 fields, so a minor-3 peer ignores it).
    pub wayland: Option<WaylandStatus>,
    /// The process ids of the Wayland clients keeping the screen awake
    /// (`zwp_idle_inhibitor_v1` on a surface that is shown) (minor 5; after the minor-4
    /// fields, so a minor-4 peer ignores it).
    pub idle_inhibited_by: Vec<u32>,
    /// The master process's health (minor 6; after the minor-5 fields, so a minor-5 peer
    /// ignores it).
    pub health: Option<MasterHealth>,
    /// Display blanking (minor 10; after the minor-9 fields, so a minor-9 peer ignores it).
    pub blanking: Option<BlankStatus>,
    /// The pointer's cursor (minor 10; after the minor-9 fields, so a minor-9 peer ignores
    /// it).
    pub cursor: Option<CursorStatus>,
    /// The outputs the master drives, first (the one [`Root::output`] describes) first
    /// (minor 11; last, so a minor-10 peer ignores it).
    pub outputs: Vec<OutputStatus>,
}

/// One output the master drives, as [`Scene::outputs`] reports it (minor 11). Outputs sit
/// side by side in one layout: windows, the pointer and touches use layout coordinates, and
/// an output shows the part of the layout at `(x, y)` of its logical size.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OutputStatus {
    /// Its name (a connector's, such as `HDMI-A-1`; the headless backend's own).
    pub name: String,
    /// Its top-left corner in the layout.
    pub x: i32,
    /// Its top edge in the layout.
    pub y: i32,
    /// Its logical width (after the transform).
    pub width: u32,
    /// Its logical height.
    pub height: u32,
    /// Its mode's width (the glass).
    pub physical_width: u32,
    /// Its mode's height.
    pub physical_height: u32,
    /// Refresh rate in millihertz.
    pub refresh_mhz: u32,
    /// How its panel is mounted (`normal`, `90`, `flipped-270`…).
    pub transform: String,
    /// Whether the display is connected (the first output stays listed while unplugged).
    pub connected: bool,
    /// Whether it is the first output: the one [`Root::output`] describes, where the layers'
    /// planes are and applications go unless placed on another.
    pub first: bool,
    /// Frames committed on it.
    pub frames: u64,
    /// Frames presented on it.
    pub presented: u64,
    /// The overlay layers bound to it (`[[layer]] output`): their planes are its, and the
    /// positions of their windows start at its corner.
    pub layers: Vec<u32>,
}

/// Whether the display is blanked and what keeps it on, as [`Scene::blanking`] reports it
/// (minor 10).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BlankStatus {
    /// The panel is off now.
    pub blanked: bool,
    /// `[display] blank-after`, in milliseconds; `None`: never blanks by itself.
    pub after_ms: Option<u64>,
    /// Milliseconds since the last input event.
    pub idle_ms: u64,
    /// The process ids of the fusionfb clients inhibiting blanking
    /// ([`Request::InhibitBlanking`]); Wayland ones are in [`Scene::idle_inhibited_by`].
    pub inhibited_by: Vec<u32>,
    /// How often the display went off, and came back on, since the master started.
    pub blanks: u64,
    /// How often it came back on.
    pub wakes: u64,
    /// Input events swallowed because they woke the display.
    pub swallowed: u64,
}

/// The pointer's cursor, as [`Scene::cursor`] reports it (minor 10).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CursorStatus {
    /// Whether a cursor is shown (`cursor-visible`, a pointing device, a client's picture).
    pub visible: bool,
    /// The output's cursor plane's size, when it has one the cursor can use.
    pub plane_size: Option<(u32, u32)>,
    /// Whether the cursor is on the hardware cursor plane now (a motion moves the plane and
    /// composes nothing).
    pub hardware: bool,
    /// Why the cursor is composed instead (no cursor plane, a rotated output, a picture
    /// larger than the plane, the display refused the plane); empty when it is not.
    pub composed_because: String,
    /// Pointer motions since the master started.
    pub motions: u64,
    /// Commits that changed the cursor plane (a move, a new picture, on or off).
    pub plane_commits: u64,
    /// Bytes composed in frames whose only damage was the cursor's; divided by
    /// [`motions`](Self::motions), the bytes composed per pointer motion (0 with the plane).
    pub composed_bytes: u64,
}

impl CursorStatus {
    /// Bytes composed per pointer motion, on average since the start (0 without motions).
    pub fn bytes_per_motion(&self) -> u64 {
        self.composed_bytes.checked_div(self.motions).unwrap_or(0)
    }
}

/// The master process's health, as [`Scene::health`] reports it (minor 6): what an operator
/// would otherwise read in the master's `/proc`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MasterHealth {
    /// Its process id.
    pub pid: u32,
    /// Resident memory of its own, KiB (`RssAnon` + `RssFile`: without shared memory).
    pub rss_kib: u64,
    /// Resident shared memory (pixels, pools), KiB (`RssShmem`).
    pub shared_kib: u64,
    /// Open file descriptors.
    pub fds: u32,
    /// Threads.
    pub threads: u32,
    /// When it started: milliseconds since the Unix epoch (wall clock).
    pub started_unix_ms: u64,
    /// How many masters of this world died and were restarted before this one (by the
    /// supervising `fusionfb run`).
    pub restarts: u32,
    /// What Fusion cleaned up after slaves that left or died.
    pub cleanup: CleanupCounters,
    /// Who holds the input.
    pub input: InputHealth,
    /// The frame that shows [`Scene::windows`] as listed: the window list last changed for
    /// this frame (one past [`FrameStats::committed`] while that frame is not committed yet).
    pub windows_frame: u64,
    /// Bytes of pixel memory each native surface's buffers take, by surface id (Wayland
    /// clients' are in [`WaylandClient::buffer_bytes`]).
    pub surface_bytes: Vec<(u32, u64)>,
}

/// What Fusion's master cleaned up after slaves that left or died, since it started
/// ([`MasterHealth::cleanup`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CleanupCounters {
    /// Slaves that left or died.
    pub departed: u64,
    /// Locks released because their owner left holding them (each next locker is told
    /// `OwnerDied`).
    pub owner_died: u64,
    /// Requests answered `PeerGone` because the one to answer them had left.
    pub peer_gone: u64,
    /// Shared-memory blocks reclaimed from departed slaves.
    pub blocks_reclaimed: u64,
    /// Bytes of those blocks.
    pub bytes_reclaimed: u64,
}

/// Who holds the input ([`MasterHealth::input`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InputHealth {
    /// Touch contacts down: `(slot, window)`, the window (or exclusive surface) each one's
    /// implicit grab sends it to.
    pub touches: Vec<(u32, u32)>,
    /// The window holding the pointer grab (a button is down in it).
    pub pointer_grab: Option<u32>,
    /// The window with the keyboard focus.
    pub focus: Option<u32>,
    /// Injection requests received and not yet carried out (queued behind the one asking).
    pub pending_injections: u32,
}

/// The master's Wayland frontend, as [`Scene::wayland`] reports it (minor 4).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WaylandStatus {
    /// The listening socket's path.
    pub socket: String,
    /// What clients put in `WAYLAND_DISPLAY` (the socket's name in `$XDG_RUNTIME_DIR`, else
    /// its path).
    pub display: String,
    /// The connected clients, in the order they connected.
    pub clients: Vec<WaylandClient>,
}

/// One connected Wayland client (minor 4).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WaylandClient {
    /// Its process id (from the socket's credentials).
    pub pid: u32,
    /// Its toplevels' `app_id`s and titles, one pair per toplevel, in creation order.
    pub toplevels: Vec<WaylandToplevel>,
    /// How many `wl_surface`s it has.
    pub surfaces: u32,
    /// Bytes of master memory its surfaces' copies take.
    pub buffer_bytes: u64,
}

/// One `xdg_toplevel` of a Wayland client (minor 4).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WaylandToplevel {
    /// `xdg_toplevel.set_app_id`, empty until set.
    pub app_id: String,
    /// `xdg_toplevel.set_title`, empty until set.
    pub title: String,
    /// The window showing it (the scene's window id), once it has a buffer.
    pub window: Option<u32>,
}

impl Scene {
    /// Decodes the answer to [`Request::Describe`] from a master of any minor since 1: the
    /// fields an older master leaves off the end of its [`Scene`] (those later minors
    /// appended) read as empty — no apps from a minor-2 master, no apps and zeroed frame
    /// counters from a minor-1 one — so a newer `fusionfb status` still shows an older
    /// master's display. (The Scene ends the reply and each minor appended to its end, so
    /// the missing bytes are exactly those of the empty values: zero varints.)
    pub fn decode_reply(bytes: &[u8]) -> Result<Reply, fusion::Error> {
        let mut first = None;
        // As it is (minor 11), without `outputs` (minor 10: an empty list is one zero byte),
        // without `blanking` and `cursor` too (minors 6 to 9: each `None` is one zero byte), without `health` too (minor 5), without `idle_inhibited_by` too
        // (minor 4: an empty list is one zero byte), without `wayland` too (minor 3),
        // without `apps` too (minor 2), without `frames` too (minor 1: five zero counters).
        for missing in [0, 1, 3, 4, 5, 6, 7, 12] {
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len() + missing, 0);
            match fusion::call::decode::<Reply>(&padded) {
                Ok(reply) => return Ok(reply),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.expect("eight attempts"))
    }
}

/// One `[[app]]` of the master's config and how it is doing, as [`Scene::apps`] reports it
/// (minor 3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppStatus {
    /// The program, as the config names it.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The restart policy: `never`, `on-failure` or `always`.
    pub restart: String,
    /// Its process id while it runs.
    pub pid: Option<u32>,
    /// What it is doing.
    pub state: AppState,
    /// How often the master started it again after it exited.
    pub restarts: u32,
    /// How its last run ended, if it ended.
    pub last_exit: Option<AppExit>,
}

/// What an app is doing (minor 3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppState {
    /// Not started yet (the display is not up).
    #[default]
    Waiting,
    /// Running, with [`AppStatus::pid`].
    Running,
    /// It exited and its policy does not restart it ([`AppStatus::last_exit`] says how).
    Exited,
    /// It exited and is started again in `in_ms` milliseconds.
    Restarting {
        /// Milliseconds until the restart.
        in_ms: u64,
    },
    /// The master stopped restarting it, for `reason`.
    GaveUp {
        /// Why, in words (`"it exited 5 times within 60 s"`).
        reason: String,
    },
    /// The master stopped it (shutting down).
    Stopped,
}

/// How an app's run ended (minor 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppExit {
    /// It exited with this status.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
    /// It could not be started (the error, e.g. the program was not found).
    NotStarted(String),
}

impl std::fmt::Display for AppExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppExit::Code(c) => write!(f, "exit status {c}"),
            AppExit::Signal(s) => write!(f, "killed by signal {s}"),
            AppExit::NotStarted(e) => write!(f, "could not start: {e}"),
        }
    }
}

impl AppExit {
    /// Whether the run ended well (exit status 0).
    pub fn success(&self) -> bool {
        matches!(self, AppExit::Code(0))
    }
}

/// What the master's frames cost, as [`Scene::frames`] reports it (minor 2).
///
/// Composition writes the damaged area of the master's scan-out buffer; a frame whose
/// primary plane shows a client's buffer as it is (an exclusively held layer, a full-screen
/// window scanned out directly) writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FrameStats {
    /// Frames committed to the display.
    pub committed: u64,
    /// Frames the display reported presented.
    pub presented: u64,
    /// Frames that showed a client's buffer directly (no composition, no copy).
    pub direct: u64,
    /// Bytes the master composed for the last frame that changed the primary plane: 0 for
    /// an exclusive layer or a direct scan-out, the damaged area × 4 for windows.
    pub bytes_composed_last: u64,
    /// Bytes composed since the master started.
    pub bytes_composed_total: u64,
}

/// The sequence-locked cell every descriptor lives in: a magic word naming the kind, a
/// sequence word (odd while the master writes), then [`FIELDS`](cell::FIELDS) words. Only
/// the master writes (its pool is read-only to slaves); readers retry while a write is in
/// progress, so they never see a torn descriptor.
mod cell {
    use std::sync::atomic::{fence, Ordering};

    use fusionfb_sys::Mapping;

    /// Words of payload.
    pub const FIELDS: usize = 12;
    /// Bytes a cell takes (header and payload, rounded to a cache line).
    pub const SIZE: usize = 64;

    pub fn write(map: &Mapping, offset: usize, magic: u32, fields: &[u32; FIELDS]) {
        let Some(seq) = map.atomic_u32(offset + 4) else {
            return;
        };
        let s = seq.load(Ordering::Relaxed);
        seq.store(s.wrapping_add(1) | 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let mut bytes = [0u8; FIELDS * 4];
        for (chunk, f) in bytes.chunks_exact_mut(4).zip(fields) {
            chunk.copy_from_slice(&f.to_le_bytes());
        }
        map.write(offset + 8, &bytes);
        if let Some(m) = map.atomic_u32(offset) {
            m.store(magic, Ordering::Relaxed);
        }
        seq.store((s | 1).wrapping_add(1), Ordering::Release);
    }

    pub fn read(map: &Mapping, offset: usize, magic: u32) -> Option<[u32; FIELDS]> {
        let seq = map.atomic_u32(offset + 4)?;
        for _ in 0..1000 {
            let before = seq.load(Ordering::Acquire);
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut bytes = [0u8; FIELDS * 4];
            if !map.read(offset + 8, &mut bytes) {
                return None;
            }
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) != before {
                continue;
            }
            if map.atomic_u32(offset)?.load(Ordering::Relaxed) != magic {
                return None;
            }
            let mut out = [0u32; FIELDS];
            for (o, chunk) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
            }
            return Some(out);
        }
        None
    }
}

/// What the master announces on surface and window reactors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A flipped buffer reached the glass; the client may draw the next frame.
    FrameDone {
        /// Surface id.
        surface: u32,
        /// The buffer that is now shown.
        buffer: u8,
        /// Presentation time (`CLOCK_MONOTONIC` ns).
        time_ns: u64,
        /// Frame counter of the output.
        sequence: u64,
    },
    /// A touch contact, routed to the window it went down in (it stays there until up).
    Touch(Touch),
    /// The window gained (`true`) or lost the keyboard focus.
    Focus(bool),
    /// The window, surface or layer changed (moved, restacked, shown, hidden, flipped, taken
    /// or given back…); its descriptor holds the new state.
    Configure,
    /// The pointer entered, left, moved over, clicked or scrolled in the window (minor 1).
    Pointer(Pointer),
    /// A key, to the window with the keyboard focus (minor 1).
    Key(Key),
    /// A touch with the panel's uncalibrated position, to a window in calibration mode
    /// ([`Request::CalibrationMode`]) (minor 1).
    RawTouch(RawTouch),
}

/// What the pointer did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum PointerKind {
    /// It came over the window.
    Enter,
    /// It left the window.
    Leave,
    /// It moved over the window (or anywhere, while a button pressed in it is held).
    Motion,
    /// A button (Linux code, `BTN_LEFT` = 0x110).
    Button {
        /// Button code.
        button: u32,
        /// Pressed or released.
        pressed: bool,
    },
    /// Scrolling.
    Axis {
        /// Horizontal.
        horizontal: f32,
        /// Vertical.
        vertical: f32,
    },
}

/// A pointer event as a window receives it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    /// What happened.
    pub kind: PointerKind,
    /// Window-local x.
    pub x: f32,
    /// Window-local y.
    pub y: f32,
    /// Output x.
    pub screen_x: f32,
    /// Output y.
    pub screen_y: f32,
    /// Kernel timestamp (`CLOCK_MONOTONIC` ns).
    pub time_ns: u64,
}

/// A key event as the focused window receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// Linux evdev code.
    pub keycode: u32,
    /// Pressed or released.
    pub pressed: bool,
    /// Made by key repeat.
    pub repeat: bool,
    /// The keysym in the master's keymap (`XKB_KEY_*`).
    pub keysym: u32,
    /// The text it types (empty for releases and most non-printing keys).
    pub text: String,
    /// Effective XKB modifier mask.
    pub modifiers: u32,
    /// Kernel timestamp (`CLOCK_MONOTONIC` ns).
    pub time_ns: u64,
}

/// A touch in calibration mode: the panel's own reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RawTouch {
    /// What happened.
    pub phase: TouchPhase,
    /// Slot.
    pub slot: u32,
    /// Normalized panel x, before calibration and the output transform.
    pub u: f32,
    /// Normalized panel y.
    pub v: f32,
    /// Kernel timestamp (`CLOCK_MONOTONIC` ns).
    pub time_ns: u64,
}

pub use fusionfb_types::TouchPhase;

/// A touch event as a window receives it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Touch {
    /// What happened.
    pub phase: TouchPhase,
    /// Multi-touch slot.
    pub slot: u32,
    /// Window-local x.
    pub x: f32,
    /// Window-local y.
    pub y: f32,
    /// Output x.
    pub screen_x: f32,
    /// Output y.
    pub screen_y: f32,
    /// Kernel timestamp (`CLOCK_MONOTONIC` ns).
    pub time_ns: u64,
}

/// Bytes per pixel of a fourcc this protocol knows; `None` for others.
pub fn bytes_per_pixel(format: u32) -> Option<u32> {
    match format {
        FORMAT_XRGB8888 | FORMAT_ARGB8888 => Some(4),
        FORMAT_RGB565 => Some(2),
        _ => None,
    }
}

/// The pitch the master gives a surface of `width` pixels: rows aligned to 64 bytes.
pub fn pitch(width: u32, format: u32) -> Option<u32> {
    Some((width.checked_mul(bytes_per_pixel(format)?)?).next_multiple_of(64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_garbage_is_an_error() {
        let r = Request::SurfaceFlip {
            surface: 3,
            buffer: 1,
            damage: vec![Rect::new(1, 2, 3, 4)],
        };
        let b = fusion::call::encode(&r).unwrap();
        assert_eq!(fusion::call::decode::<Request>(&b).unwrap(), r);
        assert!(fusion::call::decode::<Request>(&[0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn minor_one_appends_variants_so_minor_zero_messages_keep_their_bytes() {
        // Variant indices of minor 0 must not move: Touch is still Event #1, InjectTouch
        // still Request #9.
        assert_eq!(fusion::call::encode(&Event::Focus(true)).unwrap()[0], 2);
        let inject = fusion::call::encode(&Request::InjectTouch(vec![])).unwrap();
        assert_eq!(inject[0], 9);
        let key = Event::Key(Key {
            keycode: 30,
            pressed: true,
            repeat: false,
            keysym: 0x61,
            text: "a".into(),
            modifiers: 0,
            time_ns: 5,
        });
        let b = fusion::call::encode(&key).unwrap();
        assert_eq!(fusion::call::decode::<Event>(&b).unwrap(), key);
    }

    #[test]
    fn minor_two_scene_counters_are_trailing_bytes_to_a_minor_one_peer() {
        // The minor-1 shape of the Scene reply.
        #[derive(Debug, PartialEq, Deserialize)]
        struct SceneV1 {
            layers: Vec<LayerDescriptor>,
            surfaces: Vec<SurfaceDescriptor>,
            windows: Vec<WindowDescriptor>,
        }
        #[derive(Debug, PartialEq, Deserialize)]
        enum ReplyV1 {
            Unit,
            Surface(SurfaceInfo),
            Window(WindowInfo),
            Screenshot {
                width: u32,
                height: u32,
                pitch: u32,
                format: u32,
            },
            Calibration {
                quarter_turns: u8,
                flipped: bool,
            },
            Scene(SceneV1),
        }
        let scene = Scene {
            frames: FrameStats {
                committed: 9,
                presented: 8,
                direct: 1,
                bytes_composed_last: 4096,
                bytes_composed_total: 1 << 40,
            },
            ..Scene::default()
        };
        let bytes = fusion::call::encode(&Reply::Scene(Box::new(scene.clone()))).unwrap();
        let old: ReplyV1 = fusion::call::decode(&bytes).unwrap();
        let ReplyV1::Scene(old) = old else {
            panic!("{old:?}")
        };
        assert!(old.layers.is_empty() && old.windows.is_empty());
        assert_eq!(
            fusion::call::decode::<Reply>(&bytes).unwrap(),
            Reply::Scene(Box::new(scene))
        );
    }

    #[test]
    fn minor_three_apps_are_trailing_bytes_to_a_minor_two_peer() {
        // The minor-2 shape of the Scene reply.
        #[derive(Debug, PartialEq, Deserialize)]
        struct SceneV2 {
            layers: Vec<LayerDescriptor>,
            surfaces: Vec<SurfaceDescriptor>,
            windows: Vec<WindowDescriptor>,
            frames: FrameStats,
        }
        #[derive(Debug, PartialEq, Deserialize)]
        enum ReplyV2 {
            Unit,
            Surface(SurfaceInfo),
            Window(WindowInfo),
            Screenshot {
                width: u32,
                height: u32,
                pitch: u32,
                format: u32,
            },
            Calibration {
                quarter_turns: u8,
                flipped: bool,
            },
            Scene(SceneV2),
        }
        let scene = Scene {
            frames: FrameStats {
                committed: 7,
                ..FrameStats::default()
            },
            apps: vec![
                AppStatus {
                    command: "fusionfb-paint".into(),
                    restart: "always".into(),
                    pid: Some(42),
                    state: AppState::Running,
                    restarts: 1,
                    last_exit: Some(AppExit::Signal(9)),
                    ..AppStatus::default()
                },
                AppStatus {
                    command: "false".into(),
                    state: AppState::GaveUp {
                        reason: "it exited 5 times within 60 s".into(),
                    },
                    last_exit: Some(AppExit::Code(1)),
                    ..AppStatus::default()
                },
            ],
            ..Scene::default()
        };
        let bytes = fusion::call::encode(&Reply::Scene(Box::new(scene.clone()))).unwrap();
        let old: ReplyV2 = fusion::call::decode(&bytes).unwrap();
        let ReplyV2::Scene(old) = old else {
            panic!("{old:?}")
        };
        assert_eq!(old.frames.committed, 7);
        assert_eq!(
            fusion::call::decode::<Reply>(&bytes).unwrap(),
            Reply::Scene(Box::new(scene))
        );
    }

    #[test]
    fn a_newer_peer_reads_an_older_masters_scene_with_the_new_fields_empty() {
        #[derive(Serialize)]
        struct SceneV1 {
            layers: Vec<LayerDescriptor>,
            surfaces: Vec<SurfaceDescriptor>,
            windows: Vec<WindowDescriptor>,
        }
        #[derive(Serialize)]
        struct SceneV2 {
            layers: Vec<LayerDescriptor>,
            surfaces: Vec<SurfaceDescriptor>,
            windows: Vec<WindowDescriptor>,
            frames: FrameStats,
        }
        // Scene is Reply's variant #5 in every minor since 1.
        #[derive(Serialize)]
        enum ReplyOld<S> {
            _Unit,
            _Surface,
            _Window,
            _Screenshot,
            _Calibration,
            Scene(S),
        }
        let layer = LayerDescriptor {
            id: 3,
            ..LayerDescriptor::default()
        };
        let frames = FrameStats {
            committed: 5,
            bytes_composed_total: 1 << 33,
            ..FrameStats::default()
        };
        let v2 = fusion::call::encode(&ReplyOld::Scene(SceneV2 {
            layers: vec![layer],
            surfaces: vec![],
            windows: vec![],
            frames,
        }))
        .unwrap();
        let expected = Scene {
            layers: vec![layer],
            frames,
            ..Scene::default()
        };
        assert!(fusion::call::decode::<Reply>(&v2).is_err());
        assert_eq!(
            Scene::decode_reply(&v2).unwrap(),
            Reply::Scene(Box::new(expected.clone()))
        );
        let v1 = fusion::call::encode(&ReplyOld::Scene(SceneV1 {
            layers: vec![layer],
            surfaces: vec![],
            windows: vec![],
        }))
        .unwrap();
        assert_eq!(
            Scene::decode_reply(&v1).unwrap(),
            Reply::Scene(Box::new(Scene {
                frames: FrameStats::default(),
                ..expected.clone()
            }))
        );
        #[derive(Serialize)]
        struct SceneV3 {
            layers: Vec<LayerDescriptor>,
            surfaces: Vec<SurfaceDescriptor>,
            windows: Vec<WindowDescriptor>,
            frames: FrameStats,
            apps: Vec<AppStatus>,
        }
        let v3 = fusion::call::encode(&ReplyOld::Scene(SceneV3 {
            layers: vec![layer],
            surfaces: vec![],
            windows: vec![],
            frames,
            apps: vec![AppStatus::default()],
        }))
        .unwrap();
        assert_eq!(
            Scene::decode_reply(&v3).unwrap(),
            Reply::Scene(Box::new(Scene {
                apps: vec![AppStatus::default()],
                ..expected.clone()
            }))
        );
        // A minor-4 master's (with `wayland`, without `idle_inhibited_by`).
        #[derive(Serialize)]
        struct SceneV4 {
            layers: Vec<LayerDescriptor>,
            surfaces: Vec<SurfaceDescriptor>,
            windows: Vec<WindowDescriptor>,
            frames: FrameStats,
            apps: Vec<AppStatus>,
            wayland: Option<WaylandStatus>,
        }
        let v4 = fusion::call::encode(&ReplyOld::Scene(SceneV4 {
            layers: vec![layer],
            surfaces: vec![],
            windows: vec![],
            frames,
            apps: vec![],
            wayland: Some(WaylandStatus::default()),
        }))
        .unwrap();
        assert_eq!(
            Scene::decode_reply(&v4).unwrap(),
            Reply::Scene(Box::new(Scene {
                wayland: Some(WaylandStatus::default()),
                ..expected.clone()
            }))
        );
        // A minor-5 master's (with `idle_inhibited_by`, without `health`).
        #[derive(Serialize)]
        struct SceneV5 {
            layers: Vec<LayerDescriptor>,
            surfaces: Vec<SurfaceDescriptor>,
            windows: Vec<WindowDescriptor>,
            frames: FrameStats,
            apps: Vec<AppStatus>,
            wayland: Option<WaylandStatus>,
            idle_inhibited_by: Vec<u32>,
        }
        let v5 = fusion::call::encode(&ReplyOld::Scene(SceneV5 {
            layers: vec![layer],
            surfaces: vec![],
            windows: vec![],
            frames,
            apps: vec![],
            wayland: None,
            idle_inhibited_by: vec![9],
        }))
        .unwrap();
        assert_eq!(
            Scene::decode_reply(&v5).unwrap(),
            Reply::Scene(Box::new(Scene {
                idle_inhibited_by: vec![9],
                ..expected.clone()
            }))
        );
        // A current reply decodes as it is; garbage stays an error.
        let now = Scene {
            health: Some(MasterHealth {
                pid: 42,
                rss_kib: 11_000,
                shared_kib: 4_000,
                fds: 30,
                threads: 2,
                started_unix_ms: 1_796_000_000_000,
                restarts: 1,
                cleanup: CleanupCounters {
                    departed: 3,
                    owner_died: 1,
                    peer_gone: 2,
                    blocks_reclaimed: 9,
                    bytes_reclaimed: 1 << 20,
                },
                input: InputHealth {
                    touches: vec![(0, 5), (1, 6)],
                    pointer_grab: Some(5),
                    focus: Some(6),
                    pending_injections: 2,
                },
                windows_frame: 77,
                surface_bytes: vec![(4, 614_400)],
            }),
            idle_inhibited_by: vec![7],
            apps: vec![AppStatus::default()],
            wayland: Some(WaylandStatus {
                socket: "/run/user/1/fusionfb-w".into(),
                display: "fusionfb-w".into(),
                clients: vec![WaylandClient {
                    pid: 7,
                    toplevels: vec![WaylandToplevel {
                        app_id: "a".into(),
                        title: "t".into(),
                        window: Some(3),
                    }],
                    surfaces: 1,
                    buffer_bytes: 4096,
                }],
            }),
            ..expected
        };
        // A minor-9 master's (with `health`, without `blanking`, `cursor` and `outputs`): the
        // reply's last three bytes are their `None`s and the empty list.
        let mut v9 = fusion::call::encode(&Reply::Scene(Box::new(now.clone()))).unwrap();
        assert_eq!((v9.pop(), v9.pop(), v9.pop()), (Some(0), Some(0), Some(0)));
        assert_eq!(
            Scene::decode_reply(&v9).unwrap(),
            Reply::Scene(Box::new(now.clone()))
        );
        let now = Scene {
            blanking: Some(BlankStatus {
                blanked: true,
                after_ms: Some(300_000),
                idle_ms: 301_000,
                inhibited_by: vec![12],
                blanks: 2,
                wakes: 1,
                swallowed: 4,
            }),
            cursor: Some(CursorStatus {
                visible: true,
                plane_size: Some((64, 64)),
                hardware: true,
                composed_because: String::new(),
                motions: 12,
                plane_commits: 11,
                composed_bytes: 0,
            }),
            ..now
        };
        // A minor-10 master's (without `outputs`: its last byte is the empty list).
        let mut v10 = fusion::call::encode(&Reply::Scene(Box::new(now.clone()))).unwrap();
        assert_eq!(v10.pop(), Some(0));
        assert_eq!(
            Scene::decode_reply(&v10).unwrap(),
            Reply::Scene(Box::new(now.clone()))
        );
        let now = Scene {
            outputs: vec![OutputStatus {
                name: "Virtual-2".into(),
                x: 1024,
                width: 800,
                height: 600,
                physical_width: 800,
                physical_height: 600,
                refresh_mhz: 60_000,
                transform: "normal".into(),
                connected: true,
                ..OutputStatus::default()
            }],
            ..now
        };
        let bytes = fusion::call::encode(&Reply::Scene(Box::new(now.clone()))).unwrap();
        assert_eq!(
            Scene::decode_reply(&bytes).unwrap(),
            Reply::Scene(Box::new(now))
        );
        assert!(Scene::decode_reply(&[0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn pitch_is_aligned_and_formats_are_known() {
        assert_eq!(pitch(100, FORMAT_XRGB8888), Some(448));
        assert_eq!(pitch(100, FORMAT_RGB565), Some(256));
        assert_eq!(pitch(100, 0), None);
    }

    /// A rectangle is `x, y, w, h` on the wire, as the protocol's own `Rect` was before the
    /// house had one: its space is not encoded, so the minor stays.
    #[test]
    fn rects_keep_their_wire_shape() {
        let r = Rect::<Buffer>::new(-1, 2, 3, 4);
        let old = fusion::call::encode(&(-1i32, 2i32, 3u32, 4u32)).unwrap();
        assert_eq!(fusion::call::encode(&r).unwrap(), old);
        assert_eq!(fusion::call::decode::<Rect<Buffer>>(&old).unwrap(), r);
    }
}
