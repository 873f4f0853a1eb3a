//! `wl_data_device_manager`: copy and paste between Wayland clients (smithay's data device,
//! with the selection following the keyboard focus, see `SeatHandler::focus_changed` in
//! [`super::state`]). Drag and drop between clients works as smithay carries it; the master
//! offers no data of its own. GTK 3 makes no input seat without this global, so it is here
//! first for that.

use smithay::delegate_data_device;
use smithay::wayland::selection::data_device::{
    ClientDndGrabHandler, DataDeviceHandler, DataDeviceState, ServerDndGrabHandler,
};
use smithay::wayland::selection::SelectionHandler;

use super::state::WaylandState;

impl SelectionHandler for WaylandState {
    type SelectionUserData = ();
}

impl DataDeviceHandler for WaylandState {
    fn data_device_state(&self) -> &DataDeviceState {
        &self.data_device
    }
}

impl ClientDndGrabHandler for WaylandState {}
impl ServerDndGrabHandler for WaylandState {}

delegate_data_device!(WaylandState);
