//! [`WaylandState`]: what smithay dispatches client requests to.
//!
//! It holds the globals and answers the protocol itself (configures, decoration modes), and
//! otherwise only *records* what clients did — commits, new toplevels — for the server to
//! pull after the display was dispatched (`server/wayland.rs`). It never touches the scene.

use std::sync::atomic::{AtomicBool, Ordering};

use smithay::delegate_compositor;
use smithay::delegate_output;
use smithay::delegate_presentation;
use smithay::delegate_seat;
use smithay::delegate_xdg_decoration;
use smithay::delegate_xdg_shell;
use smithay::input::{Seat, SeatHandler, SeatState};
use smithay::output::Output;
use smithay::reexports::wayland_protocols::xdg::decoration::zv1::server::zxdg_toplevel_decoration_v1::Mode as DecorationMode;
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_wm_base::XdgWmBase;
use smithay::reexports::wayland_server::backend::{ClientData, ClientId, DisconnectReason};
use smithay::reexports::wayland_server::protocol::{wl_buffer, wl_seat, wl_shm, wl_surface::WlSurface};
use smithay::reexports::wayland_server::{Client, DataInit, Dispatch, DisplayHandle, Resource};
use smithay::utils::Serial;
use smithay::wayland::buffer::BufferHandler;
use smithay::wayland::compositor::{CompositorClientState, CompositorHandler, CompositorState};
use smithay::wayland::output::{OutputHandler, OutputManagerState};
use smithay::wayland::presentation::PresentationState;
use smithay::wayland::shell::xdg::decoration::{XdgDecorationHandler, XdgDecorationState};
use smithay::utils::{Logical, Rectangle};
use smithay::wayland::shell::wlr_layer::{LayerSurface, WlrLayerShellState};
use smithay::wayland::shell::xdg::{
    PopupSurface, PositionerState, ToplevelSurface, XdgShellHandler, XdgShellState,
};
use smithay::wayland::shm::{ShmHandler, ShmState};
use tracing::{debug, warn};

use super::{WaylandConfig, WaylandError};

/// The `xdg_wm_base` version the master offers (see [`WaylandState::new`]).
pub const XDG_WM_BASE_VERSION: u32 = 3;

/// What the master keeps per client connection.
#[derive(Debug, Default)]
pub struct ClientState {
    /// smithay's per-client compositor state.
    pub compositor: CompositorClientState,
    /// Cleared when the client is gone.
    alive: AtomicBool,
}

impl ClientState {
    /// A fresh, live client.
    pub fn new() -> ClientState {
        ClientState {
            compositor: CompositorClientState::default(),
            alive: AtomicBool::new(true),
        }
    }

    /// Whether the client is still connected.
    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }
}

impl ClientData for ClientState {
    fn initialized(&self, _client_id: ClientId) {}

    fn disconnected(&self, client_id: ClientId, reason: DisconnectReason) {
        self.alive.store(false, Ordering::Relaxed);
        match reason {
            DisconnectReason::ProtocolError(e) => {
                warn!("wayland: client {client_id:?} disconnected for a protocol error: {e}")
            }
            DisconnectReason::ConnectionClosed => {
                debug!("wayland: client {client_id:?} disconnected")
            }
        }
    }
}

/// A connected client and its process id.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The client.
    pub client: Client,
    /// Its pid (from `SO_PEERCRED`), 0 if unknown.
    pub pid: u32,
}

/// The Wayland side of the master. See the module docs.
pub struct WaylandState {
    /// The display's handle.
    pub dh: DisplayHandle,
    /// `wl_compositor` and `wl_subcompositor`.
    pub compositor: CompositorState,
    /// `wl_shm`.
    pub shm: ShmState,
    /// `xdg_wm_base`.
    pub xdg: XdgShellState,
    /// `zxdg_decoration_manager_v1`.
    pub decoration: XdgDecorationState,
    /// `zxdg_output_manager_v1`.
    pub outputs: OutputManagerState,
    /// The first output (`wl_output`).
    pub output: Output,
    /// The other outputs, with their place in the layout (`output.rs`).
    pub other_outputs: Vec<super::output::OtherOutput>,
    /// `wp_presentation` (on `CLOCK_MONOTONIC`, the clock of the backend's flip times).
    pub presentation: PresentationState,
    /// smithay's seats.
    pub seat_state: SeatState<WaylandState>,
    /// The one seat, `seat0`.
    pub seat: Seat<WaylandState>,
    /// The output's logical size: what toplevels are configured to.
    pub size: (u32, u32),
    /// Surfaces committed since the server last looked, in order.
    pub commits: Vec<WlSurface>,
    /// The toplevels, in creation order.
    pub toplevels: Vec<ToplevelSurface>,
    /// Something about the toplevels changed (new, gone, renamed).
    pub toplevels_changed: bool,
    /// Connected clients, in the order they came.
    pub clients: Vec<Connected>,
    /// Screencopies asked for since the server last looked ([`super::screencopy`]).
    pub screencopies: Vec<super::screencopy::PendingCopy>,
    /// `zwlr_layer_shell_v1`.
    pub layer_shell: WlrLayerShellState,
    /// The layer surfaces, in creation order, with where each goes ([`super::layer_shell`]).
    pub layer_surfaces: Vec<(LayerSurface, Rectangle<i32, Logical>)>,
    /// The layer surfaces a client put on an output other than the first (the output it
    /// named when making it), by that output's name.
    pub layer_outputs: Vec<(WlSurface, String)>,
    /// The first output less its layer surfaces' exclusive zones: where maximized toplevels
    /// go.
    pub usable: Rectangle<i32, Logical>,
    /// `[[wayland.rule]]`: placement by app_id ([`super::placement`]).
    pub rules: Vec<crate::config::WaylandRule>,
    /// The toplevels that asked for fullscreen (and have not asked to leave it).
    pub fullscreen: Vec<WlSurface>,
    /// The popups, in creation order.
    pub popups: Vec<PopupSurface>,
    /// The popups holding an explicit grab, oldest first: a touch or click on anything
    /// else dismisses them ([`WaylandState::dismiss_popups`]).
    pub grabs: Vec<PopupSurface>,
    /// `wl_data_device_manager` (copy and paste between clients; GTK needs it for its seat).
    pub data_device: smithay::wayland::selection::data_device::DataDeviceState,
    /// `wp_viewporter` ([`super::viewport`]).
    pub viewporter: smithay::wayland::viewporter::ViewporterState,
    /// Keys virtual keyboards typed since the server last looked ([`super::virtual_keyboard`]).
    pub virtual_keys: Vec<super::virtual_keyboard::VirtualKey>,
    /// `xdg_activation_v1` ([`super::activation`]).
    pub activation: smithay::wayland::xdg_activation::XdgActivationState,
    /// Surfaces whose activation was granted since the server last looked.
    pub activations: Vec<WlSurface>,
    /// `zwp_idle_inhibit_manager_v1` ([`super::idle`]).
    pub idle_inhibit: smithay::wayland::idle_inhibit::IdleInhibitManagerState,
    /// The surfaces inhibiting idleness (they count while shown).
    pub inhibitors: Vec<WlSurface>,
    /// `zwp_text_input_manager_v3` and `zwp_input_method_manager_v2` ([`super::text_input`]).
    pub text_input: (
        smithay::wayland::text_input::TextInputManagerState,
        smithay::wayland::input_method::InputMethodManagerState,
    ),
    /// `wp_cursor_shape_manager_v1` ([`super::cursor`]).
    pub cursor_shape: smithay::wayland::cursor_shape::CursorShapeManagerState,
    /// What a client last asked the cursor to be, not yet carried out.
    pub cursor: Option<super::cursor::Asked>,
    /// `zwp_linux_dmabuf_v1` and its global ([`super::dmabuf`]).
    pub dmabuf: (
        smithay::wayland::dmabuf::DmabufState,
        smithay::wayland::dmabuf::DmabufGlobal,
    ),
    /// Dma-bufs whose last `wl_buffer` was destroyed since the server last looked.
    pub dmabufs_gone: Vec<smithay::backend::allocator::dmabuf::Dmabuf>,
    /// wl_shm buffers the scene shows as they are (composed straight from the client's
    /// pool), by scene surface: the client's buffer and the master's copy of the surface.
    /// The copy is written only when the client destroys the buffer while it is shown
    /// (`wl_buffer.destroy` before the release leaves the surface's contents as they
    /// were): the entry then leaves this map and the scene shows the copy.
    pub direct: std::collections::HashMap<u32, (wl_buffer::WlBuffer, gfx_drivers::Buffer)>,
    /// The virtual keyboards' keymaps and modifiers, by object.
    pub virtual_keyboards: std::collections::HashMap<
        smithay::reexports::wayland_server::backend::ObjectId,
        super::virtual_keyboard::Compiled,
    >,
}

impl std::fmt::Debug for WaylandState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaylandState")
            .field("toplevels", &self.toplevels.len())
            .field("clients", &self.clients.len())
            .finish()
    }
}

impl WaylandState {
    /// The `wl_output` of the output called `name` (the first output's for a name it does
    /// not know).
    pub fn wl_output_named(&self, name: &str) -> &Output {
        self.other_outputs
            .iter()
            .find(|o| o.place.name == name)
            .map_or(&self.output, |o| &o.output)
    }

    /// Makes the globals on `dh`; `device` is the display device's `dev_t`, if the backend
    /// drives one (dma-buf feedback names it).
    pub fn new(
        dh: &DisplayHandle,
        cfg: &WaylandConfig,
        output_name: &str,
        size: (u32, u32),
        refresh_mhz: u32,
        device: Option<u64>,
    ) -> Result<WaylandState, WaylandError> {
        let compositor = CompositorState::new::<Self>(dh);
        let shm = ShmState::new::<Self>(dh, vec![wl_shm::Format::Rgb565]);
        let xdg = XdgShellState::new::<Self>(dh);
        // xdg_wm_base at version 3, not smithay's 6: clients built for weston 10 (which offers
        // version 1) bind whatever version is advertised but answer none of version 4's events
        // (`weston-presentation-shm` aborts on `configure_bounds`). A kiosk needs nothing of
        // 4-6 (bounds, window-manager capabilities, the suspended state); 3 keeps popups'
        // `reposition`.
        dh.remove_global::<Self>(xdg.global());
        dh.create_global::<Self, XdgWmBase, ()>(XDG_WM_BASE_VERSION, ());
        let decoration = XdgDecorationState::new::<Self>(dh);
        let outputs = OutputManagerState::new_with_xdg_output::<Self>(dh);
        let output = super::output::create(dh, output_name, size, refresh_mhz);
        let presentation = PresentationState::new::<Self>(dh, libc::CLOCK_MONOTONIC as u32);
        let mut seat_state = SeatState::new();
        let seat = super::seat::create(dh, &mut seat_state, &cfg.keyboard)?;
        super::screencopy::create(dh);
        let layer_shell = WlrLayerShellState::new::<Self>(dh);
        super::virtual_keyboard::create(dh);
        super::text_input_v1::create(dh);
        let data_device =
            smithay::wayland::selection::data_device::DataDeviceState::new::<Self>(dh);
        Ok(WaylandState {
            dh: dh.clone(),
            compositor,
            shm,
            xdg,
            decoration,
            outputs,
            output,
            presentation,
            seat_state,
            seat,
            size,
            commits: Vec::new(),
            toplevels: Vec::new(),
            toplevels_changed: false,
            clients: Vec::new(),
            screencopies: Vec::new(),
            layer_shell,
            layer_surfaces: Vec::new(),
            layer_outputs: Vec::new(),
            usable: Rectangle::from_size((size.0 as i32, size.1 as i32).into()),
            rules: cfg.rules.clone(),
            other_outputs: Vec::new(),
            fullscreen: Vec::new(),
            popups: Vec::new(),
            grabs: Vec::new(),
            data_device,
            viewporter: smithay::wayland::viewporter::ViewporterState::new::<Self>(dh),
            virtual_keys: Vec::new(),
            activation: smithay::wayland::xdg_activation::XdgActivationState::new::<Self>(dh),
            activations: Vec::new(),
            idle_inhibit: smithay::wayland::idle_inhibit::IdleInhibitManagerState::new::<Self>(dh),
            inhibitors: Vec::new(),
            text_input: super::text_input::create(dh),
            cursor_shape: smithay::wayland::cursor_shape::CursorShapeManagerState::new::<Self>(dh),
            cursor: None,
            dmabuf: super::dmabuf::create(dh, device),
            dmabufs_gone: Vec::new(),
            direct: std::collections::HashMap::new(),
            virtual_keyboards: std::collections::HashMap::new(),
        })
    }

    /// Notes a new client (and its pid, for the status).
    pub fn client_connected(&mut self, client: Client) {
        let pid = client
            .get_credentials(&self.dh)
            .map(|c| c.pid as u32)
            .unwrap_or(0);
        debug!(pid, "wayland: client connected");
        self.clients.push(Connected { client, pid });
    }

    /// Forgets clients that are gone and toplevels that were destroyed; whether any were.
    pub fn prune(&mut self) -> bool {
        let before = (self.clients.len(), self.toplevels.len());
        self.clients.retain(|c| {
            c.client
                .get_data::<ClientState>()
                .is_some_and(ClientState::alive)
        });
        self.toplevels.retain(|t| t.alive());
        self.popups.retain(|p| p.alive());
        self.grabs.retain(|p| p.alive());
        self.fullscreen.retain(|s| s.is_alive());
        self.inhibitors.retain(|s| s.is_alive());
        self.prune_virtual_keyboards();
        let layers = self.layer_surfaces.len();
        self.layer_surfaces.retain(|(l, _)| l.alive());
        if layers != self.layer_surfaces.len() {
            self.rearrange(None);
        }
        before != (self.clients.len(), self.toplevels.len())
    }
}

impl CompositorHandler for WaylandState {
    fn compositor_state(&mut self) -> &mut CompositorState {
        &mut self.compositor
    }

    fn client_compositor_state<'a>(&self, client: &'a Client) -> &'a CompositorClientState {
        &client
            .get_data::<ClientState>()
            .expect("every client is inserted with a ClientState")
            .compositor
    }

    fn commit(&mut self, surface: &WlSurface) {
        // A toplevel's first commit asks for its first configure.
        if let Some(t) = self.toplevels.iter().find(|t| t.wl_surface() == surface) {
            if !t.is_initial_configure_sent() {
                self.configure_toplevel(t);
                t.send_configure();
            }
        }
        if self.is_layer_surface(surface) {
            self.layer_committed(surface);
        }
        if let Some(p) = self.popups.iter().find(|p| p.wl_surface() == surface) {
            if !p.is_initial_configure_sent() && p.get_parent_surface().is_some() {
                self.position_popup(p);
                let _ = p.send_configure();
            }
        }
        self.commits.push(surface.clone());
    }

    fn destroyed(&mut self, _surface: &WlSurface) {
        // A shown surface may be gone (a subsurface destroyed while its parent commits no
        // more): the windows are placed again, which takes it off the glass now.
        self.toplevels_changed = true;
    }
}

impl BufferHandler for WaylandState {
    fn buffer_destroyed(&mut self, buffer: &wl_buffer::WlBuffer) {
        if let Ok(d) = smithay::wayland::dmabuf::get_dmabuf(buffer) {
            self.dmabufs_gone.push(d.clone());
        }
    }
}

impl ShmHandler for WaylandState {
    fn shm_state(&self) -> &ShmState {
        &self.shm
    }
}

impl XdgShellHandler for WaylandState {
    fn xdg_shell_state(&mut self) -> &mut XdgShellState {
        &mut self.xdg
    }

    fn new_toplevel(&mut self, surface: ToplevelSurface) {
        self.configure_toplevel(&surface);
        self.toplevels.push(surface);
        self.toplevels_changed = true;
    }

    fn new_popup(&mut self, surface: PopupSurface, _positioner: PositionerState) {
        // Placed and configured on its first commit (a layer surface's popup gets its
        // parent only after this).
        self.popups.push(surface);
        self.toplevels_changed = true;
    }

    fn grab(&mut self, surface: PopupSurface, _seat: wl_seat::WlSeat, _serial: Serial) {
        // Any recent serial is taken: a kiosk has one seat and no other grabs to race.
        if !self.grabs.contains(&surface) {
            self.grabs.push(surface);
        }
    }

    fn popup_destroyed(&mut self, surface: PopupSurface) {
        self.popups.retain(|p| p != &surface);
        self.grabs.retain(|p| p != &surface);
        self.toplevels_changed = true;
    }

    fn reposition_request(
        &mut self,
        surface: PopupSurface,
        positioner: PositionerState,
        token: u32,
    ) {
        surface.with_pending_state(|s| s.positioner = positioner);
        self.position_popup(&surface);
        surface.send_repositioned(token);
        let _ = surface.send_configure();
        self.toplevels_changed = true;
    }

    fn fullscreen_request(
        &mut self,
        surface: ToplevelSurface,
        _output: Option<smithay::reexports::wayland_server::protocol::wl_output::WlOutput>,
    ) {
        // The whole output, above panels (there is one output).
        if !self.fullscreen.contains(surface.wl_surface()) {
            self.fullscreen.push(surface.wl_surface().clone());
        }
        self.reconfigure(&surface);
    }

    fn unfullscreen_request(&mut self, surface: ToplevelSurface) {
        self.fullscreen.retain(|s| s != surface.wl_surface());
        self.reconfigure(&surface);
    }

    fn maximize_request(&mut self, surface: ToplevelSurface) {
        // The policy decides; the client is told what it is.
        self.reconfigure(&surface);
    }

    fn unmaximize_request(&mut self, surface: ToplevelSurface) {
        self.reconfigure(&surface);
    }

    fn toplevel_destroyed(&mut self, surface: ToplevelSurface) {
        self.toplevels.retain(|t| t != &surface);
        self.fullscreen.retain(|s| s != surface.wl_surface());
        self.toplevels_changed = true;
    }

    fn app_id_changed(&mut self, surface: ToplevelSurface) {
        // Another rule may match now.
        self.reconfigure(&surface);
    }

    fn title_changed(&mut self, _surface: ToplevelSurface) {
        self.toplevels_changed = true;
    }
}

impl WaylandState {
    /// Configures a toplevel again by the policy, once it had its first configure (a
    /// configure goes out only if something changed), and has it placed again.
    fn reconfigure(&mut self, t: &ToplevelSurface) {
        if t.is_initial_configure_sent() {
            self.configure_toplevel(t);
            t.send_pending_configure();
        }
        self.toplevels_changed = true;
    }

    /// Dismisses the grabbing popups (a touch or click went elsewhere): `popup_done`, the
    /// newest first. Whether there were any.
    pub fn dismiss_popups(&mut self) -> bool {
        let grabs = std::mem::take(&mut self.grabs);
        for p in grabs.iter().rev() {
            p.send_popup_done();
        }
        !grabs.is_empty()
    }
}

impl XdgDecorationHandler for WaylandState {
    fn new_decoration(&mut self, toplevel: ToplevelSurface) {
        toplevel.with_pending_state(|s| s.decoration_mode = Some(DecorationMode::ServerSide));
    }

    fn request_mode(&mut self, toplevel: ToplevelSurface, _mode: DecorationMode) {
        // The master decides: server side (it draws none, kiosk style).
        toplevel.with_pending_state(|s| s.decoration_mode = Some(DecorationMode::ServerSide));
        if toplevel.is_initial_configure_sent() {
            toplevel.send_pending_configure();
        }
    }

    fn unset_mode(&mut self, toplevel: ToplevelSurface) {
        self.request_mode(toplevel, DecorationMode::ServerSide);
    }
}

impl OutputHandler for WaylandState {}

impl SeatHandler for WaylandState {
    type KeyboardFocus = WlSurface;
    type PointerFocus = WlSurface;
    type TouchFocus = WlSurface;

    fn seat_state(&mut self) -> &mut SeatState<Self> {
        &mut self.seat_state
    }

    fn cursor_image(
        &mut self,
        _seat: &Seat<Self>,
        image: smithay::input::pointer::CursorImageStatus,
    ) {
        self.cursor = Some(image.into());
    }

    fn focus_changed(&mut self, seat: &Seat<Self>, focused: Option<&WlSurface>) {
        // The clipboard follows the keyboard focus.
        let client = focused.and_then(|s| self.dh.get_client(s.id()).ok());
        smithay::wayland::selection::data_device::set_data_device_focus(&self.dh, seat, client);
    }
}

delegate_compositor!(WaylandState);
// `delegate_shm!` but for `wl_buffer`, whose destruction is watched first (below).
smithay::reexports::wayland_server::delegate_global_dispatch!(WaylandState: [
    smithay::reexports::wayland_server::protocol::wl_shm::WlShm: ()
] => ShmState);
smithay::reexports::wayland_server::delegate_dispatch!(WaylandState: [
    smithay::reexports::wayland_server::protocol::wl_shm::WlShm: ()
] => ShmState);
smithay::reexports::wayland_server::delegate_dispatch!(WaylandState: [
    smithay::reexports::wayland_server::protocol::wl_shm_pool::WlShmPool: smithay::wayland::shm::ShmPoolUserData
] => ShmState);

/// smithay's `wl_buffer` of wl_shm, with one step before: a buffer the scene shows as it
/// is and that the client destroys is copied into the master's copy of its surface while
/// its pool can still be read (during the destructor request; after it, the buffer's pool
/// is out of reach).
impl Dispatch<wl_buffer::WlBuffer, smithay::wayland::shm::ShmBufferUserData> for WaylandState {
    fn request(
        state: &mut Self,
        client: &Client,
        resource: &wl_buffer::WlBuffer,
        request: wl_buffer::Request,
        data: &smithay::wayland::shm::ShmBufferUserData,
        dh: &DisplayHandle,
        init: &mut DataInit<'_, Self>,
    ) {
        if matches!(request, wl_buffer::Request::Destroy) {
            let shown: Vec<u32> = state
                .direct
                .iter()
                .filter(|(_, (b, _))| b == resource)
                .map(|(&id, _)| id)
                .collect();
            for id in shown {
                if let Some((b, copy)) = state.direct.remove(&id) {
                    if let Err(e) = super::shm::copy(&b, &copy, &[], true) {
                        debug!("wayland: a destroyed buffer's pixels are lost: {e}");
                    }
                }
            }
        }
        <ShmState as Dispatch<
            wl_buffer::WlBuffer,
            smithay::wayland::shm::ShmBufferUserData,
            Self,
        >>::request(state, client, resource, request, data, dh, init)
    }

    fn destroyed(
        state: &mut Self,
        client: ClientId,
        resource: &wl_buffer::WlBuffer,
        data: &smithay::wayland::shm::ShmBufferUserData,
    ) {
        <ShmState as Dispatch<
            wl_buffer::WlBuffer,
            smithay::wayland::shm::ShmBufferUserData,
            Self,
        >>::destroyed(state, client, resource, data)
    }
}
delegate_xdg_shell!(WaylandState);
delegate_xdg_decoration!(WaylandState);
delegate_output!(WaylandState);
delegate_presentation!(WaylandState);
delegate_seat!(WaylandState);
