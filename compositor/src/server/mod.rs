//! The display server: surfaces, windows and frames, served to slaves through Fusion.
//!
//! A [`Server`] owns a [`fusion::Master`] and a display backend. Slaves call its one entry
//! call with [`fusionfb_protocol::Request`]s. The call is a queued one
//! ([`fusion::Master::call_create_queued`]): each request is handled and answered in the turn
//! of the loop that received it, where the whole state is at hand:
//!
//! - A **surface** is 1–3 pixel buffers (memfds the slave maps and draws into, zero copies)
//!   and a Fusion object whose reactor announces [`Event::FrameDone`]. `flip(buffer, damage)`
//!   makes that buffer the one shown; until the frame that shows it is presented, another
//!   flip is refused with `Busy` — back-pressure instead of tearing.
//! - A **window** shows a surface on a layer at a position, with an opacity, in a stacking
//!   order. Only its owner may change it. Everything a slave owned disappears from the screen
//!   as soon as it leaves or dies.
//! - A **frame**: the damage of every change is collected per scan-out buffer; when there is
//!   some and no frame is in flight, the visible windows are composed ([`crate::compose`])
//!   into the back buffer, which is committed to the backend. When the backend reports it
//!   presented, the surfaces flipped for that frame get their `FrameDone` with the
//!   presentation time, so clients pace themselves to the display: at most one frame of
//!   latency from flip to glass. The next frame is composed late, 4 ms before the next
//!   vblank, so that the flips answering those `FrameDone`s make it into one frame — or as
//!   soon as every visible window on the output has drawn, which saves the timer's wake-up
//!   when all are animating.
//!
//! **One loop.** The server is the data of a calloop `EventLoop` (niri's `State` pattern):
//! the Fusion master's fd, the display backend's sources (for DRM: the device's page flips,
//! the session, the udev monitor, the console and the watchdog timer —
//! [`gfx_drivers::Backend::loop_source`]), the input source (devices, key repeat,
//! injection) and the frame timer are sources on it; each callback gets the whole server (a
//! request is answered in the callback that reads it), and another source is one
//! `insert_source` on [`Server::loop_handle`] — as the Wayland frontend is (`wayland.rs`,
//! [`Server::start_wayland`]: its socket and clients are one source; what they committed is
//! pulled into the scene after each turn). [`Server::dispatch`] runs one turn of it, then
//! publishes what changed and composes.
//!
//! Input (libinput devices, key repeat, injection) comes from one `fusionfb_input::InputSource`; `server/input.rs` routes it (touch,
//! pointer and keyboard in `touch.rs`, `pointer.rs`, `keyboard.rs`): the pure routing model
//! in [`crate::seat`] decides, the server carries its decisions out on the reactors.
//!
//! A single opaque full-screen window with two or more buffers is scanned out directly: its
//! front buffer goes to the primary plane as it is, with no composition and no copy.
//!
//! A rotated or flipped panel ([`Server::with_transform`]): applications see the upright
//! (logical) output, windows and touches use logical coordinates, and composition turns the
//! picture on its way to the glass.
//!
//! Not here yet (the rest of the display-server issue): surface and layer descriptors in
//! shared memory, exclusive layers.

mod adopt;
mod blank;
mod cursor_plane;
mod health;
mod input;
mod keyboard;
pub mod layers;
mod output;
mod pointer;
mod publish;
mod reload;
mod requests;
mod touch;
#[cfg(feature = "wayland")]
mod wayland;

pub use input::{outside_layout, outside_output};
pub use layers::LayerSpec;
pub use output::{OutputRules, OutputSpec};
pub use reload::{ConfigSource, Reloaded};

use std::collections::{BTreeMap, HashMap};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use calloop::generic::Generic;
use calloop::timer::{TimeoutAction, Timer};
use calloop::{EventLoop, Interest, LoopHandle, Mode, PostAction, RegistrationToken};
use fusion::{FusioneeId, Master, MasterEvent, ObjectId, ReactorId, WorldConfig};
use fusionfb_protocol::{self as proto, Event};
use gfx_drivers::backend::{Backend, BackendEvent, OutputId, PlaneId, PlaneKind, PlaneUpdate};
use gfx_drivers::{Buffer, Format};
use tracing::{debug, warn};

use crate::compose::{self, Damage, Element, PixelsMut, PixelsRef, Scene, Transform};

/// Object class of surfaces in the Fusion registry.
pub const SURFACE_CLASS: &str = "fusionfb/surface";
/// Object class of windows in the Fusion registry.
pub const WINDOW_CLASS: &str = "fusionfb/window";
/// How long before a vblank the next frame is composed: room for composition, while the
/// flips clients make after a FrameDone still make it into that frame.
const COMPOSE_MARGIN_NS: u64 = 4_000_000;
/// Largest event on a surface or window reactor.
const EVENT_SIZE: usize = 128;

/// What can stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Fusion failed.
    #[error("fusion: {0}")]
    Fusion(#[from] fusion::Error),
    /// The backend failed.
    #[error("display backend: {0}")]
    Backend(#[from] gfx_drivers::backend::Error),
    /// Composition failed.
    #[error("composition: {0}")]
    Compose(#[from] compose::ComposeError),
    /// Something else.
    #[error("{0}")]
    Other(String),
}

pub(crate) struct SurfaceState {
    pub owner: FusioneeId,
    pub object: ObjectId,
    pub reactor: ReactorId,
    pub buffers: Vec<Buffer>,
    pub front: Option<u8>,
    /// Flipped, waiting for the frame that shows it to be presented.
    pub in_flight: bool,
    /// Flips so far, and how many reached the glass.
    pub flips: u32,
    pub presented: u32,
    /// Where its descriptor lives in the master's read-only pool.
    pub descriptor: fusion::pool::ShmHandle,
    /// What was last published there.
    pub published: Option<proto::SurfaceDescriptor>,
    /// The client draws into none of its buffers until the master lets go of it (a Wayland
    /// dma-buf, held until `wl_buffer.release`): even one buffer may be scanned out.
    pub released_explicitly: bool,
}

pub(crate) struct WindowState {
    pub id: u32,
    pub owner: FusioneeId,
    pub object: ObjectId,
    pub reactor: ReactorId,
    pub surface: u32,
    pub layer: u32,
    pub x: i32,
    pub y: i32,
    pub opacity: u8,
    pub visible: bool,
    /// Where it takes input, relative to its corner (`None`: everywhere).
    pub input_region: Option<Vec<crate::seat::Rect>>,
    /// Its band within its layer's stack (native windows: [`Band::Normal`]).
    pub band: Band,
    /// Whether a touch or click on it gives it the keyboard focus.
    pub focusable: bool,
    /// Where its descriptor lives in the master's read-only pool.
    pub descriptor: fusion::pool::ShmHandle,
    /// What was last published there.
    pub published: Option<proto::WindowDescriptor>,
}

/// A window's band within its layer: windows stack by layer, then band, then in the order
/// they were raised. Native windows and application toplevels are all [`Band::Normal`]; the
/// other bands hold what Wayland's shells put under or over them (layer-shell surfaces,
/// fullscreen toplevels, popups), so a native window raised later still stays under a
/// panel or a menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Band {
    /// Layer shell's `background` (wallpapers).
    Background,
    /// Layer shell's `bottom`.
    Bottom,
    /// Application windows.
    #[default]
    Normal,
    /// Fullscreen toplevels: over panels.
    Fullscreen,
    /// Layer shell's `top` (panels, on-screen keyboards).
    Top,
    /// Layer shell's `overlay`.
    Overlay,
    /// Popups (menus): over everything on their layer.
    Popup,
}

/// The display server. See the module docs.
pub struct Server {
    master: Master,
    backend: Box<dyn Backend>,
    /// The outputs driven, the first first (`output.rs`): each with its own scan-out
    /// buffers, damage and frame clock, side by side in one layout.
    pub(crate) outputs: Vec<output::OutputState>,
    /// Which outputs to drive and how (the config's `[[output]]` tables).
    output_rules: OutputRules,
    /// Where outputs that left the layout (unplugged) were, so they come back there.
    left_at: HashMap<String, (i32, i32)>,
    pub(crate) surfaces: BTreeMap<u32, SurfaceState>,
    /// Bottom to top (layer first, then stacking order).
    pub(crate) windows: Vec<WindowState>,
    pub(crate) layers: Vec<layers::LayerState>,
    next_id: u32,
    /// The background colour of outputs without their own (`0xRRGGBB`).
    background: u32,
    /// Frames committed and presented, on all outputs.
    frames: u64,
    presented: u64,
    direct_frames: u64,
    bytes_composed_last: u64,
    bytes_composed_total: u64,
    /// Commits the backend refused (not counting refused planes, which are composed).
    commit_errors: u64,
    /// The last commit error, so each kind is logged once.
    commit_error: Option<String>,
    input: input::InputState,
    /// The backend reported its output closed (a desktop window's close button).
    display_closed: bool,
    /// The `[[app]]` programs' state, as `fusionfb run`'s supervisor last reported it.
    apps: Vec<proto::AppStatus>,
    /// The loop every source of the master is on (see [`Server::loop_handle`]); taken out
    /// while it dispatches, since the server is its data.
    event_loop: Option<EventLoop<'static, Server>>,
    /// A handle to it, for adding sources (also from inside callbacks).
    handle: LoopHandle<'static, Server>,
    /// The input source's registrations (its fds), replaced with the source.
    input_tokens: Vec<RegistrationToken>,
    /// The first error a source's callback met in the current turn.
    failed: Option<ServerError>,
    /// The Wayland frontend, once started ([`Server::start_wayland`]).
    #[cfg(feature = "wayland")]
    wayland: Option<wayland::WaylandScene>,
    /// When the server was made (wall clock), for the status.
    started: std::time::SystemTime,
    /// Masters of this world that died and were restarted before this one.
    restarts: u32,
    /// The config it runs with, and its file ([`Server::reload`]).
    config: reload::ConfigSource,
    /// When each native window was stacked where it is (created or raised, `CLOCK_MONOTONIC`
    /// ns; 0: lowered), by window id: published in its descriptor, handed back by an
    /// application rejoining after a master's death, and what orders windows taken back.
    stacked: HashMap<u32, u64>,
    /// The frame that shows the window list as it is, and how long that list was (see
    /// [`proto::MasterHealth::windows_frame`]).
    window_list: (u64, usize),
    /// Display blanking (`blank.rs`).
    blanking: blank::Blanking,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("world", &self.master.world().name)
            .field("surfaces", &self.surfaces.len())
            .field("windows", &self.windows.len())
            .finish()
    }
}

impl Server {
    /// Creates the world and starts serving on `backend`'s first output.
    pub fn new(world: WorldConfig, backend: Box<dyn Backend>) -> Result<Self, ServerError> {
        Self::with_transform(world, backend, Transform::Normal)
    }

    /// Like [`Server::new`], for a panel mounted rotated or flipped: applications see the
    /// logical (upright) output, and the picture is turned on its way to the glass.
    pub fn with_transform(
        world: WorldConfig,
        backend: Box<dyn Backend>,
        transform: Transform,
    ) -> Result<Self, ServerError> {
        Self::with_layers(world, backend, transform, vec![LayerSpec::primary()])
    }

    /// Like [`Server::with_outputs`], every connected output mounted with `transform`, and
    /// a default [`fusionfb_input::InputSource`] (injection and xkbcommon's default keymap,
    /// no devices).
    pub fn with_layers(
        world: WorldConfig,
        backend: Box<dyn Backend>,
        transform: Transform,
        specs: Vec<LayerSpec>,
    ) -> Result<Self, ServerError> {
        let rules = OutputRules {
            transform,
            ..OutputRules::default()
        };
        Self::with_outputs(world, backend, rules, specs, None)
    }

    /// The full constructor: which outputs to drive and how (`rules`; every connected one
    /// by default, side by side), the layers (bottom to top; exactly one primary; overlay
    /// layers get their output's overlay planes while there are some, and are virtual
    /// (composed) after that), and the input source (its devices, keymap and calibration;
    /// `None`: a default one). A caller with its own source gives it here rather than to
    /// [`Server::set_input`] afterwards, so that no default source (and keymap, ~180 KiB of
    /// heap) is made only to be replaced.
    pub fn with_outputs(
        world: WorldConfig,
        backend: Box<dyn Backend>,
        rules: OutputRules,
        specs: Vec<LayerSpec>,
        input: Option<fusionfb_input::InputSource>,
    ) -> Result<Self, ServerError> {
        let mut driven = Vec::new();
        let mut seen = Vec::new();
        for id in backend.outputs() {
            let name = backend.output(id)?.name.clone();
            if rules.drives(&name) {
                driven.push(id);
            }
            seen.push(name);
        }
        if driven.is_empty() {
            return Err(ServerError::Other(if seen.is_empty() {
                "the backend has no output".into()
            } else {
                format!(
                    "none of the connected outputs ({}) is one the config names",
                    seen.join(", ")
                )
            }));
        }
        if specs
            .iter()
            .filter(|l| l.kind == PlaneKind::Primary)
            .count()
            != 1
        {
            return Err(ServerError::Other(
                "exactly one primary layer is needed".into(),
            ));
        }
        let mut master = Master::create(world)?;
        master.object_class_create(SURFACE_CLASS, |_, _| {})?;
        master.object_class_create(WINDOW_CLASS, |_, _| {})?;
        // Requests are answered where the whole server is at hand: in the turn of the loop
        // that receives them (`Server::serve_calls`).
        let call = master.call_create_queued(proto::CALL_NAME);
        let event_loop: EventLoop<'static, Server> = EventLoop::try_new().map_err(loop_error)?;
        let handle = event_loop.handle();
        let mut server = Self {
            master,
            backend,
            outputs: Vec::new(),
            output_rules: rules,
            left_at: HashMap::new(),
            surfaces: BTreeMap::new(),
            windows: Vec::new(),
            layers: Vec::new(),
            next_id: 0,
            background: 0x00_20_20_28,
            frames: 0,
            presented: 0,
            direct_frames: 0,
            bytes_composed_last: 0,
            bytes_composed_total: 0,
            started: std::time::SystemTime::now(),
            restarts: 0,
            config: Default::default(),
            stacked: HashMap::new(),
            window_list: (0, 0),
            blanking: blank::Blanking::default(),
            commit_errors: 0,
            commit_error: None,
            input: input::InputState::default(),
            display_closed: false,
            apps: Vec::new(),
            event_loop: Some(event_loop),
            handle,
            input_tokens: Vec::new(),
            failed: None,
            #[cfg(feature = "wayland")]
            wayland: None,
        };
        for id in driven {
            server.add_output(id)?;
        }
        let info = server.backend.output(server.outputs[0].id)?.clone();
        let primary = server.outputs[0].primary;
        // Each output's overlay planes, handed to its layers in order.
        let mut free: Vec<Vec<PlaneId>> = Vec::new();
        for out in &server.outputs {
            let planes = &server.backend.output(out.id)?.planes;
            free.push(
                planes
                    .iter()
                    .filter(|p| p.kind == PlaneKind::Overlay)
                    .map(|p| p.id)
                    .collect(),
            );
        }
        for spec in specs {
            let on = match &spec.output {
                None => Some(0),
                Some(name) => {
                    let i = server.output_named(name);
                    if i.is_none() {
                        warn!(
                            layer = spec.id,
                            "layer output {name:?} is not driven: the layer is virtual"
                        );
                    }
                    i
                }
            };
            let plane = match (spec.kind, on) {
                (PlaneKind::Primary, _) => Some(primary),
                (_, Some(i)) if !free[i].is_empty() => Some(free[i].remove(0)),
                _ => None,
            };
            let (descriptor, reactor) = publish::layer_slot(&mut server.master, spec.id)?;
            server.layers.push(layers::LayerState {
                spec,
                plane,
                exclusive: None,
                composed: false,
                descriptor,
                reactor,
                published: None,
            });
        }
        let layer_infos: Vec<proto::LayerInfo> = server
            .layers
            .iter()
            .map(|l| proto::LayerInfo {
                id: l.spec.id,
                kind: layers::kind_name(l.spec.kind).into(),
                descriptor: l.descriptor,
                reactor: l.reactor,
            })
            .collect();
        let (width, height) = server.size();
        let root = proto::Root {
            version: proto::VERSION,
            call,
            output: proto::OutputInfo {
                width,
                height,
                refresh_mhz: info.current_mode.refresh_mhz,
            },
            layers: layer_infos,
        };
        server.master.set_root(fusion::call::encode(&root)?);
        server.input.pointer.plane = cursor_plane::CursorPlane::of(&info);
        // Injection works from the start: without the caller's source, a default one.
        match input.map_or_else(
            || fusionfb_input::InputSource::new(fusionfb_input::InputConfig::default()),
            Ok,
        ) {
            Ok(src) => server.set_input(src),
            Err(e) => warn!("no input source: {e}"),
        }
        server.insert_sources()?;
        Ok(server)
    }

    /// Starts driving output `id`: sets the mode its `[[output]]` table asks for, allocates
    /// its scan-out buffers and places it in the layout (where it was before it left, where
    /// its table says, else right of the others). Returns its index.
    fn add_output(&mut self, id: OutputId) -> Result<usize, ServerError> {
        let name = self.backend.output(id)?.name.clone();
        let spec = self.output_rules.spec(&name).cloned();
        if let Some((w, h, mhz)) = spec.as_ref().and_then(|s| s.mode) {
            let info = self.backend.output(id)?;
            let cur = info.current_mode;
            if (cur.width, cur.height) != (w, h) || (mhz != 0 && cur.refresh_mhz != mhz) {
                let found =
                    info.modes.iter().copied().find(|m| {
                        (m.width, m.height) == (w, h) && (mhz == 0 || m.refresh_mhz == mhz)
                    });
                match found {
                    Some(m) => self.backend.set_mode(id, m)?,
                    None => warn!(
                        output = %name,
                        "[[output]] mode {w}x{h}: the display has no such mode; keeping {cur}"
                    ),
                }
            }
        }
        let info = self.backend.output(id)?.clone();
        let primary = info
            .planes
            .iter()
            .find(|p| p.kind == PlaneKind::Primary)
            .map(|p| p.id)
            .ok_or_else(|| ServerError::Other(format!("output {name} has no primary plane")))?;
        let transform = self.output_rules.transform_of(&name);
        let (pw, ph) = (info.current_mode.width, info.current_mode.height);
        // What applications see: the output turned upright.
        let (width, height) = if transform.swaps_axes() {
            (ph, pw)
        } else {
            (pw, ph)
        };
        let targets = [
            self.backend.allocate(pw, ph, Format::Xrgb8888)?,
            self.backend.allocate(pw, ph, Format::Xrgb8888)?,
        ];
        let placed: Vec<proto::Rect> = self.outputs.iter().map(|o| o.rect()).collect();
        let wanted = spec
            .as_ref()
            .and_then(|s| s.position)
            .or_else(|| self.left_at.get(&name).copied());
        let origin = output::place(&placed, wanted);
        self.outputs.push(output::OutputState {
            id,
            name: name.clone(),
            primary,
            origin,
            width,
            height,
            transform,
            background: spec.as_ref().and_then(|s| s.background),
            refresh_mhz: info.current_mode.refresh_mhz,
            targets,
            damage: [Damage::full(width, height), Damage::full(width, height)],
            not_only_cursor: [true, true],
            back: 0,
            in_flight: false,
            flipped: Vec::new(),
            flipped_in_flight: Vec::new(),
            compose_at: None,
            timer: None,
            planes_dirty: false,
            last_direct: false,
            frames: 0,
            presented: 0,
            connected: true,
        });
        tracing::info!(output = %name, mode = %info.current_mode, %transform, x = origin.0, y = origin.1, "output driven");
        Ok(self.outputs.len() - 1)
    }

    /// The index of output `id` among those driven.
    fn output_index(&self, id: OutputId) -> Option<usize> {
        self.outputs.iter().position(|o| o.id == id)
    }

    /// The index of the output called `name`.
    pub(crate) fn output_named(&self, name: &str) -> Option<usize> {
        self.outputs.iter().position(|o| o.name == name)
    }

    /// The names of the outputs driven, for messages.
    pub(crate) fn output_names(&self) -> String {
        let names: Vec<&str> = self.outputs.iter().map(|o| o.name.as_str()).collect();
        names.join(", ")
    }

    /// The output a rectangle (layout coordinates) is on: the one it overlaps most, else the
    /// first.
    pub(crate) fn output_of_rect(&self, r: proto::Rect) -> usize {
        let mut best = (0, 0);
        for (i, o) in self.outputs.iter().enumerate() {
            let a = o.overlap(r);
            if a > best.1 {
                best = (i, a);
            }
        }
        best.0
    }

    /// The output whose frames show surface `id`: its first window's output; a surface
    /// shown in no window (an exclusive layer's) is the first output's.
    pub(crate) fn output_of_surface(&self, id: u32) -> usize {
        self.windows
            .iter()
            .filter(|w| w.surface == id)
            .find_map(|w| self.window_rect(w))
            .map_or(0, |r| self.output_of_rect(r))
    }

    /// Records that surface `id` was flipped: the next frame of its output shows it, and its
    /// `FrameDone` comes when that frame is presented.
    pub(crate) fn mark_flipped(&mut self, id: u32) {
        let i = self.output_of_surface(id);
        let out = &mut self.outputs[i];
        if !out.flipped.contains(&id) {
            out.flipped.push(id);
        }
    }

    /// Whether every visible window on output `i` shows a surface flipped since its last
    /// frame (and one at least was): nothing there is about to change, so its next frame need
    /// not wait for the compose deadline. Four animating clients that have all answered their
    /// `FrameDone` are composed at once, without the timer's wake-up; a window that has not
    /// drawn (an idle clock beside an animation) keeps the deadline, so a flip it makes before
    /// then still reaches the next vblank; so does a visible cursor on the move, so that the
    /// frame shows where the pointer is by then.
    fn all_drawn(&self, i: usize) -> bool {
        let out = &self.outputs[i];
        if out.flipped.is_empty() {
            return false;
        }
        if self.input.pointer.moving && self.cursor_rect().is_some_and(|r| out.overlap(r) > 0) {
            return false;
        }
        self.windows.iter().filter(|w| w.visible).all(|w| {
            out.flipped.contains(&w.surface)
                || self.window_rect(w).is_none_or(|r| out.overlap(r) == 0)
        })
    }

    /// The size of the layout from its origin: what the pointer moves in.
    pub(crate) fn layout_size(&self) -> (u32, u32) {
        output::bounds_of(self.outputs.iter().map(|o| o.rect()))
    }

    /// The outputs as [`proto::Scene::outputs`] reports them.
    pub(crate) fn outputs_status(&self) -> Vec<proto::OutputStatus> {
        self.outputs
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let bound = self
                    .layers
                    .iter()
                    .filter(|l| l.spec.output.as_deref() == Some(o.name.as_str()))
                    .map(|l| l.spec.id)
                    .collect();
                o.status(i == 0, bound)
            })
            .collect()
    }

    /// Puts the Fusion master and the display backend on the server's loop (the input
    /// source goes on it in [`Server::set_input`]).
    fn insert_sources(&mut self) -> Result<(), ServerError> {
        let master = Generic::new(
            self.master
                .as_fd()
                .try_clone_to_owned()
                .map_err(fusion::Error::from)?,
            Interest::READ,
            Mode::Level,
        );
        self.handle
            .insert_source(master, |_, _, s: &mut Server| {
                s.dispatch_master();
                Ok(PostAction::Continue)
            })
            .map_err(|e| loop_error(e.error))?;
        let backend = self.backend.loop_source()?;
        self.handle
            .insert_source(backend, |wake, _, s: &mut Server| {
                if let Err(e) = s.dispatch_backend(wake) {
                    s.failed.get_or_insert(e);
                }
            })
            .map_err(|e| loop_error(e.error))?;
        Ok(())
    }

    /// A handle to the master's loop: a new source (the Wayland display, a timer) is one
    /// `insert_source` on it, and its callback gets the whole [`Server`].
    pub fn loop_handle(&self) -> LoopHandle<'static, Server> {
        self.handle.clone()
    }

    /// Sets what [`proto::Request::Describe`] reports about the master's `[[app]]`
    /// programs (`fusionfb run` passes its supervisor's report after each dispatch).
    pub fn set_apps(&mut self, apps: Vec<proto::AppStatus>) {
        self.apps = apps;
    }

    /// The Fusion master (introspection, tests).
    pub fn master(&mut self) -> &mut Master {
        &mut self.master
    }

    /// The first output's physical size (the glass).
    pub(crate) fn physical_size(&self) -> (u32, u32) {
        self.outputs[0].physical_size()
    }

    /// The first output's transform (logical to physical).
    pub fn transform(&self) -> Transform {
        self.outputs[0].transform
    }

    /// The first output's logical size (what applications see, after the transform).
    pub fn size(&self) -> (u32, u32) {
        (self.outputs[0].width, self.outputs[0].height)
    }

    /// Each output's name and rectangle in the layout, the first first.
    pub fn output_rects(&self) -> Vec<(String, proto::Rect)> {
        self.outputs
            .iter()
            .map(|o| (o.name.clone(), o.rect()))
            .collect()
    }

    /// Windows that are visible and show a surface that has been flipped at least once.
    pub fn windows_shown(&self) -> usize {
        self.windows
            .iter()
            .filter(|w| w.visible)
            .filter(|w| {
                self.surfaces
                    .get(&w.surface)
                    .is_some_and(|s| s.front.is_some())
            })
            .count()
    }

    /// Frames the backend reported presented so far.
    pub fn presented(&self) -> u64 {
        self.presented
    }

    /// Sets how many masters of this world died and were restarted before this one (for the
    /// status).
    pub fn set_restarts(&mut self, restarts: u32) {
        self.restarts = restarts;
    }

    /// Frames committed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Sets the background colour (`0xRRGGBB`) of the outputs without their own.
    pub fn set_background(&mut self, rgb: u32) {
        self.background = rgb & 0xff_ffff;
        self.damage_all();
    }

    /// Answers every request the master has received, each as it comes (one-way requests
    /// get no answer).
    fn serve_calls(&mut self) {
        while let Some(call) = self.master.next_call() {
            let (serial, oneway) = (call.serial, call.oneway);
            let (result, fds) = self.handle(call);
            if oneway {
                continue;
            }
            if let Err(e) = self.master.call_return(serial, result, fds) {
                debug!("answer to call {serial} dropped: {e}");
            }
        }
    }

    /// Waits up to `timeout` for work and does it: requests, departures, presented frames,
    /// and the next frame when something changed.
    pub fn dispatch(&mut self, timeout: Option<Duration>) -> Result<(), ServerError> {
        let mut event_loop = self
            .event_loop
            .take()
            .ok_or_else(|| ServerError::Other("Server::dispatch called from a callback".into()))?;
        let turn = event_loop.dispatch(timeout, self);
        self.event_loop = Some(event_loop);
        turn.map_err(loop_error)?;
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        // libinput queues events without its fd becoming readable (the devices found when a
        // seat is assigned or a session resumes): take them every turn, without reading an
        // fd (a readable one has its own source, which reads it).
        self.drain_input();
        // What Wayland clients committed enters the scene; what they were sent goes out.
        #[cfg(feature = "wayland")]
        self.wayland_turn();
        self.publish();
        self.frame()?;
        #[cfg(feature = "wayland")]
        self.wayland_settle();
        Ok(())
    }

    /// The master's fd is readable: new slaves, requests (answered here), departures.
    fn dispatch_master(&mut self) {
        if let Err(e) = self.master.dispatch(Some(Duration::ZERO)) {
            self.failed.get_or_insert(e.into());
            return;
        }
        self.serve_calls();
        // A client calling back to back posts its next request while the master watches its
        // call slot for a moment (adaptive, bounded per turn: `fusion::Master::listen`).
        while self.master.listen() {
            self.serve_calls();
        }
        while let Some(e) = self.master.next_event() {
            if let MasterEvent::Left(id) = e {
                self.forget(id);
            }
        }
    }

    /// One of the backend's sources fired: presented frames, hot-plug, session, touches of
    /// a desktop window.
    fn dispatch_backend(&mut self, wake: gfx_drivers::Wake) -> Result<(), ServerError> {
        for e in self.backend.wake(wake)? {
            match e {
                BackendEvent::Presented(p) => {
                    if let Some(i) = self.output_index(p.output) {
                        self.on_presented(i, p.time_ns, p.sequence, p.refresh_ns)
                    }
                }
                BackendEvent::Touch(t) => self.backend_touch(t),
                BackendEvent::Closed(_) => self.display_closed = true,
                BackendEvent::Stuck { output, waited } => {
                    let Some(i) = self.output_index(output) else {
                        continue;
                    };
                    // The backend abandons a stuck flip when committed again: let the next
                    // frame (whole) try.
                    let name = &self.outputs[i].name;
                    warn!(output = %name, "display stuck: no flip for {waited:?}; committing again");
                    self.outputs[i].in_flight = false;
                    self.outputs[i].damage_all();
                }
                BackendEvent::SessionPaused => {
                    if let Some(src) = self.input.source.as_mut() {
                        src.suspend();
                    }
                }
                BackendEvent::SessionResumed => {
                    if let Some(src) = self.input.source.as_mut() {
                        src.resume();
                    }
                    self.damage_all();
                }
                BackendEvent::OutputRemoved(o) => self.output_removed(o),
                BackendEvent::OutputAdded(o) | BackendEvent::OutputChanged(o) => {
                    match self.output_index(o) {
                        Some(i) => self.output_back(i),
                        None => self.output_plugged(o),
                    }
                }
                other => debug!("backend: {other:?}"),
            }
        }
        Ok(())
    }

    /// Output `i` came back (re-plugged) or changed: show everything again, checking that
    /// it still has the size the clients were given.
    fn output_back(&mut self, i: usize) {
        let out = &self.outputs[i];
        match self.backend.output(out.id) {
            Ok(info) => {
                let (pw, ph) = out.physical_size();
                let m = info.current_mode;
                if (m.width, m.height) == (pw, ph) {
                    tracing::info!(output = %out.name, mode = %m, "display back: redrawing");
                } else {
                    warn!(
                        output = %out.name,
                        "display back in {m}, not {pw}x{ph}: the picture keeps its size (restart the master to follow the new mode)"
                    );
                }
            }
            Err(e) => warn!("display back, but: {e}"),
        }
        let out = &mut self.outputs[i];
        out.connected = true;
        out.damage_all();
        out.planes_dirty = true;
    }

    /// A display was plugged in that is not driven yet: it joins the layout if the config
    /// lets it, and nothing changes on the others.
    fn output_plugged(&mut self, id: OutputId) {
        let Ok(name) = self.backend.output(id).map(|i| i.name.clone()) else {
            return;
        };
        if !self.output_rules.drives(&name) {
            tracing::info!(output = %name, "display plugged in; not driven (the config names other outputs)");
            return;
        }
        match self.add_output(id) {
            Ok(_) => self.outputs_changed(),
            Err(e) => warn!(output = %name, "display plugged in, but not driven: {e}"),
        }
    }

    /// Output `id` was unplugged. The first stays (its frames go on unseen until it is
    /// back, as with one display); another leaves the layout, its windows keep their place
    /// until it comes back, and what waited for its frames follows the first output's.
    fn output_removed(&mut self, id: OutputId) {
        let Some(i) = self.output_index(id) else {
            return;
        };
        if i == 0 {
            let out = &mut self.outputs[0];
            out.connected = false;
            warn!(output = %out.name, "display unplugged: frames go on unseen until it is back");
            return;
        }
        let out = self.outputs.remove(i);
        if let Some(token) = out.timer {
            self.handle.remove(token);
        }
        self.left_at.insert(out.name.clone(), out.origin);
        let first = &mut self.outputs[0];
        first.flipped.extend(out.flipped);
        first.flipped.extend(out.flipped_in_flight);
        warn!(output = %out.name, "display unplugged: it leaves the layout until it is back");
        self.outputs_changed();
    }

    /// The layout changed (an output joined or left): touch and the pointer map to the new
    /// one, Wayland clients see the outputs there are.
    fn outputs_changed(&mut self) {
        self.update_input_outputs();
        #[cfg(feature = "wayland")]
        self.wayland_outputs_changed();
    }

    /// Whether the backend reported its display closed (the desktop window of the `window`
    /// backend): the master should shut down.
    pub fn display_closed(&self) -> bool {
        self.display_closed
    }

    /// Runs until `done` says so or `limit` passes; `false` on time-out.
    pub fn dispatch_until(
        &mut self,
        limit: Duration,
        done: impl FnMut(&mut Server) -> bool,
    ) -> Result<bool, ServerError> {
        let slice = Duration::from_millis(20);
        fusion::deadline::run_until(self, limit, slice, done, |s, d| s.dispatch(Some(d)))
    }

    /// What is on the first output's glass now (the last presented frame), as XRGB8888.
    pub fn screenshot(&self) -> Result<gfx_drivers::Image, ServerError> {
        self.screenshot_output(0)
    }

    /// What is on output `name`'s glass now.
    pub fn screenshot_named(&self, name: &str) -> Result<gfx_drivers::Image, ServerError> {
        let i = self.output_named(name).ok_or_else(|| {
            ServerError::Other(format!(
                "no output {name:?}: the outputs are {}",
                self.output_names()
            ))
        })?;
        self.screenshot_output(i)
    }

    /// What is on output `i`'s glass now.
    pub(crate) fn screenshot_output(&self, i: usize) -> Result<gfx_drivers::Image, ServerError> {
        let out = &self.outputs[i];
        let shown = self.backend.on_glass(out.id, out.primary)?;
        let (pw, ph) = out.physical_size();
        let mut glass = match shown {
            Some(b) if b.format() == Format::Xrgb8888 => b.snapshot(),
            // An RGB565 framebuffer, a client's exclusive ARGB buffer: what the glass shows.
            Some(b) => b.snapshot().convert(Format::Xrgb8888),
            None => gfx_drivers::Image::new(pw, ph, Format::Xrgb8888),
        };
        // The output's other planes, bottom to top, where the display controller blends
        // them.
        for l in &self.layers {
            let Some(plane) = l.plane.filter(|&p| p != out.primary) else {
                continue;
            };
            if self.output_of_layer(l) != Some(i) {
                continue;
            }
            if let Some(b) = self.backend.on_glass(out.id, plane)? {
                overlay_onto(&mut glass, &b.snapshot(), l.spec.position);
            }
        }
        // The cursor plane (the first output's) on top, where the last commit put it.
        if let Some((plane, at)) = self.cursor_plane_shown(out.id) {
            if let Some(b) = self.backend.on_glass(out.id, plane)? {
                overlay_onto(&mut glass, &b.snapshot(), at);
            }
        }
        Ok(glass)
    }

    /// Adds damage (layout coordinates) to both scan-out buffers of every output it is on.
    pub(crate) fn damage(&mut self, r: proto::Rect) {
        for out in &mut self.outputs {
            if out.overlap(r) > 0 {
                out.add_damage(r);
                out.not_only_cursor = [true, true];
            }
        }
    }

    /// Adds the composed cursor's damage: what a frame composes for it alone is counted
    /// ([`Server::bytes_composed_for_cursor`]).
    pub(crate) fn damage_for_cursor(&mut self, r: proto::Rect) {
        for out in &mut self.outputs {
            out.add_damage(r);
        }
    }

    fn damage_all(&mut self) {
        for out in &mut self.outputs {
            out.damage_all();
        }
    }

    /// Bytes composed in frames whose only damage was the composed cursor's (moving,
    /// showing or hiding it); 0 while the cursor is on the cursor plane.
    pub fn bytes_composed_for_cursor(&self) -> u64 {
        self.input.pointer.counters.composed_bytes
    }

    /// Pointer motions routed since the start.
    pub fn pointer_motions(&self) -> u64 {
        self.input.pointer.counters.motions
    }

    /// Where window `w` is in the layout: its position on its layer (which starts at the
    /// corner of the output the layer is bound to) and its surface's size.
    pub(crate) fn window_rect(&self, w: &WindowState) -> Option<proto::Rect> {
        let s = self.surfaces.get(&w.surface)?;
        let b = s.buffers.first()?;
        let (ox, oy) = self.layer_origin(w.layer);
        Some(proto::Rect::new(w.x + ox, w.y + oy, b.width(), b.height()))
    }

    /// Where `rects` of surface `id` (in its buffer) are in the layout, in every visible
    /// window showing it: the window's place on its layer, from the layer's corner.
    pub(crate) fn surface_spots<S>(&self, id: u32, rects: &[proto::Rect<S>]) -> Vec<proto::Rect> {
        self.windows
            .iter()
            .filter(|w| w.surface == id && w.visible)
            .flat_map(|w| {
                let (ox, oy) = self.layer_origin(w.layer);
                let (x, y) = (ox + w.x, oy + w.y);
                rects
                    .iter()
                    .map(move |r| proto::Rect::new(x + r.x, y + r.y, r.w, r.h))
            })
            .collect()
    }

    pub(crate) fn new_id(&mut self) -> u32 {
        loop {
            self.next_id = self.next_id.wrapping_add(1).max(1);
            if !self.id_taken(self.next_id) {
                return self.next_id;
            }
        }
    }

    /// Whether a surface or a window has id `id` (they share one id space).
    fn id_taken(&self, id: u32) -> bool {
        self.surfaces.contains_key(&id) || self.windows.iter().any(|w| w.id == id)
    }

    /// `wanted` if it is free (an object taken back after a master's death keeps its id),
    /// else a new id.
    pub(crate) fn id_for(&mut self, wanted: Option<u32>) -> u32 {
        match wanted {
            Some(id) if id != 0 && !self.id_taken(id) => id,
            _ => self.new_id(),
        }
    }

    /// Announces an event on a reactor (lossy: a client that does not read loses old ones
    /// and is told so).
    pub(crate) fn announce(&mut self, reactor: ReactorId, event: &Event) {
        // Encoded on the stack: an event fits a reactor message (EVENT_SIZE), and input
        // events go out one per touch.
        let mut buf = [0u8; EVENT_SIZE];
        match fusion::call::encode_into(event, &mut buf) {
            Ok(bytes) => {
                if let Err(e) = self.master.reactor_dispatch(reactor, 0, bytes, false) {
                    debug!(%reactor, "event not delivered: {e}");
                }
            }
            Err(e) => warn!("cannot encode an event: {e}"),
        }
    }

    /// A slave left or died: everything it showed disappears at once.
    fn forget(&mut self, owner: FusioneeId) {
        self.blanking_forget(owner);
        let windows: Vec<u32> = self
            .windows
            .iter()
            .filter(|w| w.owner == owner)
            .map(|w| w.id)
            .collect();
        for w in windows {
            self.remove_window(w);
        }
        let surfaces: Vec<u32> = self
            .surfaces
            .iter()
            .filter(|(_, s)| s.owner == owner)
            .map(|(&id, _)| id)
            .collect();
        for s in surfaces {
            self.remove_surface(s);
        }
    }

    /// Moves the keyboard focus, telling the windows that lose and gain it.
    pub(crate) fn focus(&mut self, id: Option<u32>) {
        if let Some(a) = self.input.seat.focus(id) {
            self.tell_focus(a);
        }
    }

    /// The window with the keyboard focus.
    pub fn focused(&self) -> Option<u32> {
        self.input.seat.focused()
    }

    pub(crate) fn remove_window(&mut self, id: u32) {
        // Its grabs, the pointer's enter and the focus go with it.
        self.drop_grabs_of(id);
        self.stacked.remove(&id);
        let Some(i) = self.windows.iter().position(|w| w.id == id) else {
            return;
        };
        if let Some(r) = self.window_rect(&self.windows[i]) {
            if self.windows[i].visible {
                self.damage(r);
            }
        }
        let w = self.windows.remove(i);
        let _ = self.master.object_destroy(w.object);
        if let Some(pool) = self.master.pool_mut(fusion::master::MAIN_POOL) {
            let _ = pool.free(fusion::wire::MASTER_ID, w.descriptor);
        }
    }

    pub(crate) fn remove_surface(&mut self, id: u32) {
        let shown: Vec<u32> = self
            .windows
            .iter()
            .filter(|w| w.surface == id)
            .map(|w| w.id)
            .collect();
        for w in shown {
            self.remove_window(w);
        }
        if let Some(s) = self.surfaces.remove(&id) {
            let _ = self.master.object_destroy(s.object);
            if let Some(pool) = self.master.pool_mut(fusion::master::MAIN_POOL) {
                let _ = pool.free(fusion::wire::MASTER_ID, s.descriptor);
            }
        }
        self.layer_release_surface(id);
        for out in &mut self.outputs {
            out.flipped.retain(|&s| s != id);
            out.flipped_in_flight.retain(|&s| s != id);
        }
    }

    fn on_presented(&mut self, i: usize, time_ns: u64, sequence: u64, refresh_ns: u64) {
        self.presented += 1;
        let out = &mut self.outputs[i];
        out.in_flight = false;
        out.presented += 1;
        // Compose the next frame late, just before the next vblank, so that flips clients
        // make in answer to this frame's FrameDone all make it into the same next frame
        // (sooner once every visible window has drawn: `all_drawn`).
        let next_vblank = time_ns.saturating_add(refresh_ns);
        let now = fusionfb_sys::now_ns();
        let wait = next_vblank
            .saturating_sub(COMPOSE_MARGIN_NS)
            .saturating_sub(now);
        self.schedule_frame(
            i,
            (wait > 0).then(|| Instant::now() + Duration::from_nanos(wait)),
        );
        let mut done = Vec::new();
        for id in std::mem::take(&mut self.outputs[i].flipped_in_flight) {
            let Some(s) = self.surfaces.get_mut(&id) else {
                continue;
            };
            s.in_flight = false;
            s.presented = s.presented.wrapping_add(1);
            let (reactor, buffer) = (s.reactor, s.front.unwrap_or(0));
            done.push((
                reactor,
                Event::FrameDone {
                    surface: id,
                    buffer,
                    time_ns,
                    sequence,
                },
            ));
        }
        // The descriptors say "presented" before the events do.
        self.publish();
        for (reactor, event) in done {
            self.announce(reactor, &event);
        }
        #[cfg(feature = "wayland")]
        self.wayland_presented(i, time_ns, sequence, refresh_ns);
    }

    /// Composes and commits the next frame of every output where something changed and
    /// none is in flight.
    fn frame(&mut self) -> Result<(), ServerError> {
        for i in 0..self.outputs.len() {
            self.frame_output(i)?;
        }
        Ok(())
    }

    /// Composes and commits output `i`'s next frame if something on it changed and none is
    /// in flight. The layers' planes and the cursor plane are the first output's.
    fn frame_output(&mut self, i: usize) -> Result<(), ServerError> {
        // Blanked: nothing reaches the glass, so no frame is made (and no FrameDone sent).
        if self.outputs[i].in_flight || self.blanking.blanked {
            return Ok(());
        }
        if self.outputs[i]
            .compose_at
            .is_some_and(|t| Instant::now() < t)
            && !self.all_drawn(i)
        {
            return Ok(());
        }
        self.schedule_frame(i, None);
        // The frame made now shows the pointer where it is (on this output, or nowhere).
        if self.input.pointer.moving
            && self
                .cursor_rect()
                .is_none_or(|r| self.outputs[i].overlap(r) > 0)
        {
            self.input.pointer.moving = false;
        }
        let exclusive_primary = self.exclusive_buffers(i, true).into_iter().next();
        let overlays = self.exclusive_buffers(i, false);
        let out = &self.outputs[i];
        let damaged = !out.damage[out.back].is_empty();
        let planes_dirty = out.planes_dirty;
        let flipped = !out.flipped.is_empty();
        // The cursor plane is the output's the cursor is on; one the cursor left goes off.
        let id = out.id;
        let cursor_here = self
            .input
            .pointer
            .plane
            .as_ref()
            .is_some_and(|c| c.output == id);
        let cursor = if cursor_here {
            self.cursor_commit()
        } else {
            None
        };
        let retired = self.retired_cursor_plane(id);
        if !damaged && !flipped && !planes_dirty && cursor.is_none() && retired.is_none() {
            return Ok(());
        }
        // The primary plane: a slave's exclusive buffer; else a single opaque window
        // exactly covering the output scanned out directly; else the composition of the
        // windows.
        let mut direct = None;
        let mut composed = false;
        // What the composition changed in the back buffer, for the backend (physical).
        let mut primary_damage = Vec::new();
        let primary_buffer = if let Some((_, b, _)) = &exclusive_primary {
            self.bytes_composed_last = 0;
            Some(b.clone())
        } else if damaged {
            direct = self.scanout_candidate(i);
            if direct.is_none() {
                primary_damage = self.compose_back(i)?;
                composed = true;
                let out = &self.outputs[i];
                Some(out.targets[out.back].clone())
            } else {
                self.bytes_composed_last = 0;
                direct.clone()
            }
        } else {
            None
        };
        let (output, primary) = (self.outputs[i].id, self.outputs[i].primary);
        let mut updates: Vec<PlaneUpdate<'_>> = Vec::new();
        if let Some(b) = &primary_buffer {
            updates.push(PlaneUpdate::show(primary, b).with_damage(&primary_damage));
        }
        for (plane, b, (x, y)) in &overlays {
            updates.push(PlaneUpdate::show(*plane, b).at(*x, *y));
        }
        // Overlay planes nobody holds any more are switched off.
        let idle: Vec<PlaneId> = if planes_dirty {
            self.layers
                .iter()
                .filter(|l| {
                    l.spec.kind != PlaneKind::Primary
                        && (l.exclusive.is_none() || l.composed)
                        && self.output_of_layer(l) == Some(i)
                })
                .filter_map(|l| l.plane)
                .collect()
        } else {
            Vec::new()
        };
        for p in &idle {
            updates.push(PlaneUpdate::disable(*p));
        }
        if let Some(c) = &cursor {
            updates.push(c.update());
        }
        if let Some(p) = retired {
            updates.push(PlaneUpdate::disable(p));
        }
        // With nothing to show, the commit is a frame clock for the flips waiting on it.
        let result = self.backend.commit(output, &updates);
        drop(updates);
        if let Err(e) = result {
            return self.commit_failed(i, e);
        }
        self.commit_error = None;
        if let Some(c) = &cursor {
            self.cursor_committed(c);
        }
        if retired.is_some() {
            self.cursor_retired_off(id);
        }
        self.frames += 1;
        let out = &mut self.outputs[i];
        out.planes_dirty = false;
        out.frames += 1;
        out.in_flight = true;
        out.flipped_in_flight = std::mem::take(&mut out.flipped);
        if direct.is_some() {
            // Our own scan-out buffers missed what was shown: redraw them whole next time.
            self.direct_frames += 1;
            out.last_direct = true;
            out.damage_all();
        } else if composed {
            out.last_direct = false;
            out.back ^= 1;
        }
        Ok(())
    }

    /// A commit the backend did not take. A refused plane makes its layer composed and the
    /// frame is made again at once; anything else is reported (once per kind of error)
    /// and tried again a refresh later with everything redrawn: the display may come back
    /// (a driver hiccup, a monitor being replugged), and no client is dropped for it.
    fn commit_failed(
        &mut self,
        i: usize,
        e: gfx_drivers::backend::Error,
    ) -> Result<(), ServerError> {
        // What was composed into the back buffer did not reach the glass.
        self.outputs[i].damage_all();
        if let gfx_drivers::backend::Error::PlaneRefused { plane, reason } = &e {
            if self.compose_refused_plane(*plane, reason)
                || self.cursor_plane_refused(*plane, reason)
            {
                return self.frame_output(i);
            }
        }
        let text = e.to_string();
        if self.commit_error.as_deref() != Some(text.as_str()) {
            let name = &self.outputs[i].name;
            warn!(output = %name, "the display did not take a frame, trying again: {text}");
            self.commit_error = Some(text);
        }
        self.commit_errors += 1;
        let refresh = self
            .backend
            .output(self.outputs[i].id)
            .map(|o| o.current_mode.refresh_interval_ns())
            .unwrap_or(16_666_667)
            .max(1_000_000);
        self.schedule_frame(i, Some(Instant::now() + Duration::from_nanos(refresh)));
        Ok(())
    }

    /// Composes output `i`'s next frame no earlier than `at` (`None`: as soon as there is
    /// damage). A timer on the loop wakes it then; the frame itself is made after the turn.
    fn schedule_frame(&mut self, i: usize, at: Option<Instant>) {
        let out = &mut self.outputs[i];
        out.compose_at = at;
        if let Some(token) = out.timer.take() {
            self.handle.remove(token);
        }
        let Some(at) = at else { return };
        let id = out.id;
        let timer = Timer::from_deadline(at);
        match self
            .handle
            .insert_source(timer, move |_, _, s: &mut Server| {
                if let Some(i) = s.output_index(id) {
                    s.outputs[i].timer = None;
                }
                TimeoutAction::Drop
            }) {
            Ok(token) => self.outputs[i].timer = Some(token),
            Err(e) => warn!("no frame timer: {}", e.error),
        }
    }

    /// Commits the backend did not take since the start.
    pub fn commit_errors(&self) -> u64 {
        self.commit_errors
    }

    /// The buffer to scan out directly on output `i`, if the top visible window on it is
    /// an opaque XRGB8888 surface exactly covering it with at least two buffers, or one the
    /// client gets back only when the master releases it (so the client never draws into
    /// the one on the glass). Never on a rotated or flipped output: the client draws
    /// upright, and only composition turns its pixels onto the glass.
    fn scanout_candidate(&self, i: usize) -> Option<Buffer> {
        let out = &self.outputs[i];
        let cursor_here = self
            .cursor_rect()
            .is_some_and(|r| out.overlap(r) > 0 && !self.cursor_on_plane_of(out.id));
        if cursor_here || out.transform != Transform::Normal {
            return None;
        }
        let area = out.rect();
        let (top, rect) = self.windows.iter().rev().find_map(|w| {
            let r = self.window_rect(w)?;
            (w.visible && w.opacity > 0 && out.overlap(r) > 0).then_some((w, r))
        })?;
        let s = self.surfaces.get(&top.surface)?;
        let b = s.buffers.get(s.front? as usize)?;
        let covers = rect.x == area.x
            && rect.y == area.y
            && b.width() == out.width
            && b.height() == out.height;
        (covers
            && self.backend.can_scan_out(b)
            && top.opacity == 255
            && b.format() == Format::Xrgb8888
            && (s.buffers.len() >= 2 || s.released_explicitly))
            .then(|| b.clone())
    }

    /// Frames shown by scanning a client's buffer out directly.
    pub fn direct_frames(&self) -> u64 {
        self.direct_frames
    }

    /// Whether the first output's last frame was scanned out directly.
    pub fn last_frame_direct(&self) -> bool {
        self.outputs[0].last_direct
    }

    /// Bytes the master wrote into its scan-out buffer for the last frame it composed (the
    /// damaged area × 4): 0 when a client's buffer went to the glass as it is (an exclusive
    /// layer, a direct scan-out), only the damage for windows.
    pub fn bytes_composed_last(&self) -> u64 {
        self.bytes_composed_last
    }

    /// Bytes composed since the start (see [`Server::bytes_composed_last`]).
    pub fn bytes_composed_total(&self) -> u64 {
        self.bytes_composed_total
    }

    /// Composes the damaged part of output `i`'s back buffer; returns that part in the
    /// buffer's own (physical) coordinates, for the backend.
    fn compose_back(
        &mut self,
        i: usize,
    ) -> Result<Vec<gfx_drivers::backend::Rect<gfx_drivers::backend::geometry::Buffer>>, ServerError>
    {
        let out = &mut self.outputs[i];
        let (w, h) = (out.width, out.height);
        let back = out.back;
        let damage = std::mem::replace(&mut out.damage[back], Damage::empty(w, h));
        let only_cursor = !std::mem::replace(&mut out.not_only_cursor[back], false);
        let bytes = damage.area() * Format::Xrgb8888.bytes_per_pixel() as u64;
        self.bytes_composed_last = bytes;
        self.bytes_composed_total += bytes;
        if only_cursor {
            self.input.pointer.counters.composed_bytes += bytes;
        }
        let out = &self.outputs[i];
        let area = out.rect();
        let (ox, oy) = out.origin;
        // What each visible window on this output shows: its surface's front buffer, placed
        // in the output's own coordinates.
        // Windows are kept in stacking order, layer by layer (bottom to top). Layers whose
        // plane was refused put their holder's buffer above the layer's windows; only then
        // are the windows' layer ranks needed.
        let composed = self.composed_layers(i);
        let mut shown: Vec<(usize, ShownElement)> = self
            .windows
            .iter()
            .filter(|win| win.visible && win.opacity > 0)
            .filter_map(|win| {
                let s = self.surfaces.get(&win.surface)?;
                let b = s.buffers.get(s.front? as usize)?.clone();
                let r = self.window_rect(win)?;
                if output::overlap(area, r) == 0 {
                    return None;
                }
                let dst = compose::Rect::new(r.x - ox, r.y - oy, b.width(), b.height());
                let rank = if composed.is_empty() {
                    0
                } else {
                    self.layer_rank(win.layer)
                };
                let e = ShownElement {
                    id: win.id as u64,
                    buffer: b,
                    dst,
                    opacity: win.opacity as f32 / 255.0,
                    surface: Some(win.surface),
                };
                Some((rank, e))
            })
            .collect();
        for (rank, b, (x, y)) in composed {
            let dst = compose::Rect::new(x, y, b.width(), b.height());
            let id = u64::from(u32::MAX) + 1 + rank as u64;
            let at = shown
                .iter()
                .position(|(r, _)| *r > rank)
                .unwrap_or(shown.len());
            shown.insert(at, (rank, ShownElement::whole(id, b, dst)));
        }
        let mut shown: Vec<ShownElement> = shown.into_iter().map(|(_, e)| e).collect();
        // The cursor, above everything (unless it is on the cursor plane).
        if let Some((b, r)) = self
            .cursor_image()
            .filter(|_| !self.cursor_on_plane_of(out.id))
        {
            if output::overlap(area, r) > 0 {
                shown.push(ShownElement::whole(u64::MAX, b, out.to_local(r)));
            }
        }
        let buffers: Vec<Buffer> = shown.iter().map(|s| s.buffer.clone()).collect();
        // Wayland clients' wl_shm buffers shown as they are: read from their pools while
        // their element is drawn (the master's buffer gives only the size and format).
        #[cfg(feature = "wayland")]
        let direct: Vec<
            Option<smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer>,
        > = shown
            .iter()
            .map(|e| e.surface.and_then(|id| self.wayland_direct(id)))
            .collect();
        #[cfg(feature = "wayland")]
        let late: Vec<Option<crate::wayland::shm::ShmPixels<'_>>> = direct
            .iter()
            .map(|d| d.as_ref().map(crate::wayland::shm::ShmPixels))
            .collect();
        let background = out.background.unwrap_or(self.background);
        let transform = out.transform;
        let target = out.targets[out.back].clone();
        let (tw, th, tp) = (target.width(), target.height(), target.pitch());
        let result = with_all_bytes(&buffers, &mut |views: &[&[u8]]| {
            let elements: Vec<Element<'_>> = shown
                .iter()
                .zip(views)
                .enumerate()
                .filter_map(|(_k, (e, bytes))| {
                    let b = &e.buffer;
                    // A buffer pixman cannot take is left out of the frame.
                    let view =
                        PixelsRef::new(bytes, b.width(), b.height(), b.pitch(), b.format()).ok()?;
                    compose::pixman_ready(&view).ok()?;
                    let element = Element::new(e.id, view, e.dst).with_opacity(e.opacity);
                    #[cfg(feature = "wayland")]
                    let element = match late.get(_k) {
                        Some(Some(p)) => element.with_late(p),
                        _ => element,
                    };
                    Some(element)
                })
                .collect();
            let scene = Scene {
                elements: &elements,
                background,
                transform,
            };
            target.with_bytes_mut(|t| -> Result<(), ServerError> {
                let mut out = PixelsMut::new(t, tw, th, tp, Format::Xrgb8888)
                    .map_err(|e| ServerError::Other(e.to_string()))?;
                compose::compose(&mut out, &scene, &damage)?;
                Ok(())
            })
        });
        result??;
        let logical = damage.bounds().size();
        Ok(damage
            .rects()
            .iter()
            .map(|r| transform.rect_to_physical(*r, logical).to_space())
            .collect())
    }
}

/// One thing composed into the back buffer.
struct ShownElement {
    /// Its element id (the window's, a layer's, the cursor's).
    id: u64,
    /// What it shows (for a Wayland surface shown as it is, only its size and format).
    buffer: Buffer,
    /// Where, on the output.
    dst: compose::Rect,
    opacity: f32,
    /// The scene surface of a window.
    surface: Option<u32>,
}

impl ShownElement {
    /// A layer's or the cursor's: opaque as its pixels are, no surface.
    fn whole(id: u64, buffer: Buffer, dst: compose::Rect) -> ShownElement {
        ShownElement {
            id,
            buffer,
            dst,
            opacity: 1.0,
            surface: None,
        }
    }
}

/// Runs `f` with the bytes of every buffer borrowed at once (each buffer's access lock is
/// taken in turn; nesting keeps them all alive while `f` runs).
fn with_all_bytes<R>(buffers: &[Buffer], f: &mut dyn FnMut(&[&[u8]]) -> R) -> R {
    fn go<R>(rest: &[Buffer], acc: &[&[u8]], f: &mut dyn FnMut(&[&[u8]]) -> R) -> R {
        match rest.split_first() {
            None => f(acc),
            Some((b, rest)) => b.with_bytes(|bytes| {
                let mut v: Vec<&[u8]> = acc.to_vec();
                v.push(bytes);
                go(rest, &v, f)
            }),
        }
    }
    go(buffers, &[], f)
}

/// Blends `plane` (its format's alpha, premultiplied; XRGB is opaque) over `glass` with its
/// top-left corner at `at`, as a display controller blends an overlay plane.
fn overlay_onto(glass: &mut gfx_drivers::Image, plane: &gfx_drivers::Image, at: (i32, i32)) {
    let opaque = plane.format != Format::Argb8888;
    for y in 0..plane.height {
        let gy = at.1 + y as i32;
        if gy < 0 || gy >= glass.height as i32 {
            continue;
        }
        for x in 0..plane.width {
            let gx = at.0 + x as i32;
            if gx < 0 || gx >= glass.width as i32 {
                continue;
            }
            let src = plane.pixel(x, y);
            let out = if opaque {
                src | 0xff00_0000
            } else {
                let a = src >> 24;
                let dst = glass.pixel(gx as u32, gy as u32);
                let mut px = 0xff00_0000;
                for shift in [0, 8, 16] {
                    let s = (src >> shift) & 0xff;
                    let d = (dst >> shift) & 0xff;
                    px |= (s + (d * (255 - a) + 127) / 255).min(255) << shift;
                }
                px
            };
            glass.set_pixel(gx as u32, gy as u32, out);
        }
    }
}

/// A display-backend failure as the Fusion error a slave's request gets: the operation, and
/// the OS error number when the backend's failure was a system call.
pub(crate) fn backend_failure(op: &str, e: gfx_drivers::backend::Error) -> fusion::Error {
    match e {
        gfx_drivers::backend::Error::Io(io) => fusion::Error::io(op, &io),
        other => fusion::Error::io(op, &std::io::Error::other(other.to_string())),
    }
}

/// A failure of the master's event loop itself (epoll), as a server error.
fn loop_error(e: impl std::fmt::Display) -> ServerError {
    ServerError::Other(format!("event loop: {e}"))
}
