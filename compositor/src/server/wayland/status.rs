//! The Wayland frontend in `fusionfb status`: the socket, each client with its toplevels,
//! surfaces and bytes, and who keeps the screen awake.

use fusionfb_protocol as proto;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::Resource;
use smithay::wayland::compositor;
use smithay::wayland::shell::xdg::XdgToplevelSurfaceData;

use super::Shown;
use crate::server::Server;

impl Server {
    /// The process ids of the clients whose shown surfaces inhibit idleness.
    pub(crate) fn wayland_idle_inhibitors(&self) -> Vec<u32> {
        let Some(w) = self.wayland.as_ref() else {
            return Vec::new();
        };
        let mut pids: Vec<u32> = w
            .front
            .state
            .inhibitors
            .iter()
            .filter(|s| w.shown.contains_key(*s))
            .filter_map(|s| {
                let id = s.client()?.id();
                w.front
                    .state
                    .clients
                    .iter()
                    .find(|c| c.client.id() == id)
                    .map(|c| c.pid)
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// The frontend as `fusionfb status` shows it.
    pub(crate) fn wayland_status(&self) -> Option<proto::WaylandStatus> {
        let w = self.wayland.as_ref()?;
        let clients = w
            .front
            .state
            .clients
            .iter()
            .map(|c| {
                let mine = |s: &WlSurface| s.client().is_some_and(|x| x.id() == c.client.id());
                let toplevels = w
                    .front
                    .state
                    .toplevels
                    .iter()
                    .filter(|t| mine(t.wl_surface()))
                    .map(|t| {
                        let (app_id, title) = compositor::with_states(t.wl_surface(), |st| {
                            st.data_map
                                .get::<XdgToplevelSurfaceData>()
                                .and_then(|d| d.lock().ok())
                                .map(|d| {
                                    (
                                        d.app_id.clone().unwrap_or_default(),
                                        d.title.clone().unwrap_or_default(),
                                    )
                                })
                                .unwrap_or_default()
                        });
                        proto::WaylandToplevel {
                            app_id,
                            title,
                            window: w.shown.get(t.wl_surface()).map(|sh| sh.window),
                        }
                    })
                    .collect();
                let shown: Vec<&Shown> = w
                    .shown
                    .iter()
                    .filter(|(s, _)| mine(s))
                    .map(|(_, sh)| sh)
                    .collect();
                let buffer_bytes = shown
                    .iter()
                    .filter_map(|sh| self.surfaces.get(&sh.surface))
                    .flat_map(|s| s.buffers.iter())
                    .map(|b| b.size() as u64)
                    .sum();
                proto::WaylandClient {
                    pid: c.pid,
                    toplevels,
                    surfaces: shown.len() as u32,
                    buffer_bytes,
                }
            })
            .collect();
        Some(proto::WaylandStatus {
            socket: w.front.socket.path.display().to_string(),
            display: w.front.socket.display.clone(),
            clients,
        })
    }
}
