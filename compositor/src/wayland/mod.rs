//! The Wayland frontend: unmodified Wayland applications on the same scene as native slaves.
//!
//! This module's room in the house: the second front door of the master. Native slaves come
//! in through the Fusion world ([`crate::server`]'s requests); Wayland clients come in
//! through a Wayland socket, spoken by smithay's pure-Rust `wayland-server` (no libwayland).
//! Behind both doors is one scene: the same window stack, layers, damage, composition, seat
//! and status. What is here is the protocol side; `server/wayland.rs` carries what clients
//! did into the scene, and the seat's decisions back out to them.
//!
//! # The pieces
//!
//! - [`socket`]: where the socket is (`$XDG_RUNTIME_DIR/fusionfb-<world>`, or `[wayland]
//!   socket`), and the one event source that puts it and the display on the master's loop.
//! - [`state`]: [`WaylandState`], the data smithay dispatches client requests to: the
//!   globals (`wl_compositor`, `wl_subcompositor`, `wl_shm`, `xdg_wm_base`,
//!   `zxdg_decoration_manager_v1`, `wl_output` with `zxdg_output_manager_v1`, `wl_seat`,
//!   `wl_data_device_manager`, `wp_presentation`, `zwlr_screencopy_manager_v1`,
//!   `zwlr_layer_shell_v1`), and what happened since the server last looked
//!   ([`WaylandState::commits`]).
//! - [`placement`]: the shell policy: where toplevels (by `[[wayland.rule]]`, else
//!   maximized), popups (by their positioner, kept on the output) and layer surfaces go, in
//!   which band of the stack, and the configures that tell clients their size.
//! - [`layer_shell`] and [`arrange`]: layer surfaces (panels, on-screen keyboards) and their
//!   exclusive zones, which shrink the area maximized toplevels get.
//! - [`selection`]: `wl_data_device_manager`, copy and paste between clients.
//! - [`viewport`]: `wp_viewporter` and `buffer_scale`: crops and scales, applied as the
//!   buffer is copied in.
//! - [`virtual_keyboard`]: `zwp_virtual_keyboard_v1`, on-screen keyboards typing through the
//!   master's keyboard into the focused window.
//! - [`activation`]: `xdg_activation_v1`, a focused client handing another the front.
//! - [`idle`]: `zwp_idle_inhibit_manager_v1`, surfaces keeping the screen awake.
//! - [`cursor`]: client cursors (`wl_pointer.set_cursor`) and `wp_cursor_shape_v1`.
//! - [`text_input`]: `zwp_text_input_v3` and `zwp_input_method_v2`, input methods
//!   committing text into the focused client's text field.
//! - [`shm`]: copying a committed `wl_shm` buffer into the master's copy of the surface.
//! - [`output`]: the output as clients see it (its logical, upright size).
//! - [`seat`]: the `wl_seat` with touch, pointer and keyboard, fed by the master's seat.
//! - [`screencopy`]: `zwlr_screencopy_manager_v1`, so Wayland screenshot tools (`grim`)
//!   read the glass.
//!
//! # How a Wayland window enters the scene
//!
//! The server pulls; the Wayland state never reaches into the server. Each turn of the
//! master's loop, after the display was dispatched, `Server::wayland_turn` takes the commits
//! clients made and, for each placed surface tree (an `xdg_toplevel`'s, `xdg_popup`'s or
//! layer surface's surface and its subsurfaces), makes every surface that has a buffer a
//! **surface and window of the scene** (owned by the master, on the layer and at the place
//! [`placement`] gives, in its band of the stack), stacked together, subsurfaces where
//! their parents put them. From there it is a window like any other: the
//! same composition and damage (from `wl_surface.damage_buffer` and `damage`), the same hit
//! test, the same `fusionfb status`. Input the seat routes to such a window is sent to the
//! `wl_surface` (touch, pointer with surface-local coordinates, keyboard focus to the
//! toplevel) instead of a Fusion reactor. `wl_surface.frame` callbacks are answered when the
//! frame that shows the commit is presented, like a native surface's `FrameDone`, and
//! `wp_presentation` feedback then carries the flip's own time, sequence and refresh (a
//! commit replaced before its frame is reported discarded).
//!
//! # Where this departs from DESIGN.md, and why
//!
//! - **wl_shm buffers are read at composition, one at a time.** As DESIGN.md has it, a
//!   Wayland window's pixels are the client's wl_shm pool: the scene holds the client's
//!   buffer until another replaces it (the replaced one goes back with the frame showing
//!   its successor, in the same message as the frame callbacks, so an animating client
//!   wakes once per frame), and composition reads it straight into the frame
//!   ([`shm::ShmPixels`]). The pool can be truncated under the master at any moment, and
//!   smithay guards reads against the SIGBUS that causes only inside its
//!   `with_buffer_contents`, one pool at a time: so an element's pixels are fetched while
//!   it is drawn (`compose::LatePixels`), not with the native buffers all at once. The scene
//!   surface keeps a master-owned memfd buffer of the same size for what is copied: a
//!   viewport's crop, and the pixels of a shown buffer its client destroys. Native slaves'
//!   buffers are scanned out directly; a Wayland wl_shm surface is always composed.
//! - **Wayland windows are owned by the master** (`MASTER_ID`) in the scene: a Wayland client
//!   is no fusionee. `fusionfb status` lists the Wayland clients with their windows. The
//!   quota is per client here (64 surfaces shown, past which the client is disconnected with
//!   `wl_display.error.no_memory`); the scene's own per-owner window quota (256) then bounds
//!   all Wayland clients together.
//! - **`xdg_wm_base` is offered at version 3**, not smithay's 6: Debian's weston 10 clients
//!   bind the advertised version but answer no version-4 event (see `state.rs`).
//! - **Viewports and buffer scales are applied at the copy** ([`viewport`]): the master's
//!   copy of a surface has its on-screen size, so composition is unchanged.
//! - **Not yet**: `zwp_linux_dmabuf_v1`, a cursor theme (named shapes are the master's
//!   arrow), `buffer_transform` other than normal. Layer surfaces
//!   are all on the primary layer (a rule's `layer` is for toplevels).
//! - **Popup grabs** are dismissed by a touch or click anywhere but on that client's
//!   popups, and that touch or click still goes where the seat routes it (Weston swallows
//!   it; on a touch panel a tap on a button beside a menu should both close the menu and
//!   press the button).

pub mod activation;
pub mod arrange;
pub mod cursor;
pub mod dmabuf;
pub mod idle;
pub mod layer_shell;
pub mod output;
pub mod placement;
pub mod screencopy;
pub mod seat;
pub mod selection;
pub mod shm;
pub mod socket;
pub mod state;
pub mod text_input;
pub mod text_input_v1;
pub mod viewport;
pub mod virtual_keyboard;

/// The widest or tallest surface a Wayland client may show (its buffer, or the size its
/// viewport asks for); past it, or past four outputs' worth of pixels, the client is
/// disconnected with `wl_display`'s `no_memory` error (the master copies every surface),
/// and a dma-buf that size is refused.
pub const MAX_SIDE: u32 = 8192;

use std::path::PathBuf;

use smithay::reexports::wayland_server::Display;
use tracing::info;

pub use socket::WaylandReady;
pub use state::WaylandState;

/// What can keep the frontend from starting.
#[derive(Debug, thiserror::Error)]
pub enum WaylandError {
    /// The Wayland display could not be made.
    #[error("wayland display: {0}")]
    Display(String),
    /// The socket could not be bound.
    #[error("wayland socket {path}: {message}")]
    Socket {
        /// Where it was to be.
        path: PathBuf,
        /// Why not.
        message: String,
    },
    /// The keymap does not compile.
    #[error("wayland keyboard: {0}")]
    Keyboard(String),
}

/// What the frontend is started with.
#[derive(Debug, Clone)]
pub struct WaylandConfig {
    /// `[wayland] socket`: a name in `$XDG_RUNTIME_DIR` or an absolute path (`None`:
    /// `fusionfb-<world>`).
    pub socket: Option<String>,
    /// The world's name (for the default socket name).
    pub world: String,
    /// Where the socket goes when `$XDG_RUNTIME_DIR` is not set: the world's runtime
    /// directory (private to the master's user).
    pub fallback_dir: PathBuf,
    /// The keymap (`[input.keyboard]`).
    pub keyboard: crate::config::Keyboard,
    /// `[[wayland.rule]]`: placement by app_id.
    pub rules: Vec<crate::config::WaylandRule>,
}

/// The frontend: the Wayland display (the clients' connections) and the state their
/// requests are dispatched to. A field of the server; see the module docs.
pub struct Wayland {
    display: Display<WaylandState>,
    /// The globals and what clients did.
    pub state: WaylandState,
    /// Where the socket is, and what clients put in `WAYLAND_DISPLAY`.
    pub socket: socket::SocketPlace,
}

impl std::fmt::Debug for Wayland {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wayland")
            .field("socket", &self.socket)
            .finish()
    }
}

impl Wayland {
    /// Makes the display and its globals for an output of `size` (logical) refreshing at
    /// `refresh_mhz` on display device `device` (a `dev_t`, if any), and binds the socket. Returns the frontend and the event source to
    /// insert into the master's loop.
    pub fn new(
        cfg: &WaylandConfig,
        output_name: &str,
        size: (u32, u32),
        refresh_mhz: u32,
        device: Option<u64>,
    ) -> Result<(Wayland, socket::WaylandSource), WaylandError> {
        let mut display: Display<WaylandState> =
            Display::new().map_err(|e| WaylandError::Display(e.to_string()))?;
        let state = WaylandState::new(
            &display.handle(),
            cfg,
            output_name,
            size,
            refresh_mhz,
            device,
        )?;
        let place = socket::SocketPlace::choose(cfg);
        let listener = match socket::WaylandListener::from_env(&place.path) {
            Some(l) => l,
            None => place.bind()?,
        };
        let poll = display
            .backend()
            .poll_fd()
            .try_clone_to_owned()
            .map_err(|e| WaylandError::Display(e.to_string()))?;
        info!(
            socket = %place.path.display(),
            "wayland: listening; clients connect with WAYLAND_DISPLAY={}",
            place.display
        );
        let source = socket::WaylandSource::new(listener, poll);
        Ok((
            Wayland {
                display,
                state,
                socket: place,
            },
            source,
        ))
    }

    /// Tells clients the outputs there are (the first first): the first's `wl_output` moves
    /// to its place, one `wl_output` global per other output is made or removed, and
    /// toplevels a rule puts on an output that came or went are configured again.
    pub fn set_outputs(&mut self, places: &[output::OutputPlace]) {
        let dh = self.display.handle();
        let st = &mut self.state;
        if let Some(first) = places.first() {
            st.output
                .change_current_state(None, None, None, Some(first.at.into()));
        }
        let rest = places.get(1..).unwrap_or(&[]);
        let mut kept = Vec::new();
        for o in std::mem::take(&mut st.other_outputs) {
            if rest.contains(&o.place) {
                kept.push(o);
            } else {
                dh.remove_global::<state::WaylandState>(o.global.clone());
            }
        }
        for p in rest {
            if !kept.iter().any(|o| o.place == *p) {
                let (output, global) = output::create_at(&dh, &p.name, p.size, p.refresh_mhz, p.at);
                kept.push(output::OtherOutput {
                    output,
                    global,
                    place: p.clone(),
                });
            }
        }
        st.other_outputs = kept;
        st.reconfigure_toplevels();
        // Layer surfaces of an output that left go to the first; the others follow theirs.
        st.rearrange(None);
    }

    /// Takes a new client's connection.
    pub fn accept(&mut self, stream: std::os::unix::net::UnixStream) {
        let client = state::ClientState::new();
        match self
            .display
            .handle()
            .insert_client(stream, std::sync::Arc::new(client))
        {
            Ok(c) => self.state.client_connected(c),
            Err(e) => tracing::warn!("wayland: a client could not be taken: {e}"),
        }
    }

    /// Reads and handles what clients sent. A client that breaks the protocol is
    /// disconnected by the display (that client alone).
    pub fn dispatch(&mut self) {
        if let Err(e) = self.display.dispatch_clients(&mut self.state) {
            tracing::warn!("wayland: dispatching clients: {e}");
        }
    }

    /// Closes the connections of clients the display killed (a protocol error the master
    /// posted, such as a truncated pool's) and forgets them: the display only cleans up
    /// after dispatching, which a killed client that sends nothing more never triggers.
    /// Whether any client or toplevel went away.
    pub fn reap(&mut self) -> bool {
        let dead: Vec<_> = self
            .state
            .clients
            .iter()
            .filter(|c| {
                !c.client
                    .get_data::<state::ClientState>()
                    .is_some_and(state::ClientState::alive)
            })
            .map(|c| c.client.id())
            .collect();
        for id in dead {
            let _ = self
                .display
                .backend()
                .dispatch_single_client(&mut self.state, id);
        }
        self.state.prune()
    }

    /// Sends what was queued for the clients.
    pub fn flush(&mut self) {
        if let Err(e) = self.display.flush_clients() {
            tracing::debug!("wayland: flushing clients: {e}");
        }
    }
}
