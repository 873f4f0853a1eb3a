//! libseat, loaded at run time: the seat manager's client library (seatd or logind hand out
//! the card and the input devices to an unprivileged master, and take them back on a VT
//! switch).
//!
//! Loaded with `dlopen("libseat.so.1")` when a seat manager runs, rather than linked: a
//! linked libseat brings libsystemd and its chain (gcrypt, lzma, zstd, lz4, cap) into every
//! fusionfb process, 0.84 MiB of resident memory at idle on this machine kind, though most
//! boards run no seat manager and never call it. The `libseat` crate only links; no crate
//! loads it, so the ten entry points are bound here by hand (`libloading` does the loading).
//! Their signatures are libseat's `libseat.h` (seatd 0.5 to 0.9, ABI `libseat.so.1`).
//!
//! The seat's two callbacks (enable, disable) run inside [`Seat::dispatch`] (and may run
//! inside [`Seat::open`]); they queue a [`SeatEvent`] that [`Seat::take_events`] hands out.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;

use libloading::Library;

/// The library's file name (its ABI).
pub const LIBRARY: &str = "libseat.so.1";

/// What the seat manager said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatEvent {
    /// The seat is ours (again): devices may be opened and used.
    Enable,
    /// The seat is being taken away (a VT switch): acknowledge with [`Seat::disable`].
    Disable,
}

type Queue = RefCell<VecDeque<SeatEvent>>;

#[repr(C)]
struct Listener {
    enable_seat: unsafe extern "C" fn(*mut c_void, *mut c_void),
    disable_seat: unsafe extern "C" fn(*mut c_void, *mut c_void),
}

/// libseat keeps the listener's address for the seat's life: a static one.
static LISTENER: Listener = Listener {
    enable_seat: on_enable,
    disable_seat: on_disable,
};

unsafe extern "C" fn on_enable(_seat: *mut c_void, data: *mut c_void) {
    push(data, SeatEvent::Enable);
}

unsafe extern "C" fn on_disable(_seat: *mut c_void, data: *mut c_void) {
    push(data, SeatEvent::Disable);
}

fn push(data: *mut c_void, e: SeatEvent) {
    // SAFETY: `data` is the `Box<Queue>` a `Seat` owns and outlives its libseat handle; the
    // callbacks run on the thread calling into libseat, which holds no borrow of the queue.
    let q = unsafe { &*(data as *const Queue) };
    if let Ok(mut q) = q.try_borrow_mut() {
        q.push_back(e);
    }
}

type OpenSeat = unsafe extern "C" fn(*const Listener, *mut c_void) -> *mut c_void;
type SeatCall = unsafe extern "C" fn(*mut c_void) -> c_int;
type OpenDevice = unsafe extern "C" fn(*mut c_void, *const c_char, *mut c_int) -> c_int;
type SeatIntCall = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type SeatName = unsafe extern "C" fn(*mut c_void) -> *const c_char;

/// The bound entry points, and the library that holds them.
struct Api {
    open_seat: OpenSeat,
    disable_seat: SeatCall,
    close_seat: SeatCall,
    open_device: OpenDevice,
    close_device: SeatIntCall,
    seat_name: SeatName,
    switch_session: SeatIntCall,
    get_fd: SeatCall,
    dispatch: SeatIntCall,
    _lib: Library,
}

/// Why a seat did not open.
#[derive(Debug)]
pub enum OpenError {
    /// libseat is not installed (or lacks an entry point): dlerror's words.
    Load(String),
    /// libseat found no seat manager that gives a seat, or the seat manager said no.
    Open(io::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Load(e) => write!(f, "cannot load {LIBRARY} (install libseat1): {e}"),
            OpenError::Open(e) => write!(f, "libseat_open_seat: {e}"),
        }
    }
}

impl std::error::Error for OpenError {}

impl Api {
    fn load() -> Result<Api, OpenError> {
        let unavailable = |e: libloading::Error| OpenError::Load(e.to_string());
        // SAFETY: loading libseat runs its (and libsystemd's) initialisers, which have no
        // preconditions; the symbols are bound at the C types libseat.h declares.
        unsafe {
            let lib = Library::new(LIBRARY).map_err(unavailable)?;
            macro_rules! sym {
                ($name:literal) => {
                    *lib.get(concat!($name, "\0").as_bytes())
                        .map_err(unavailable)?
                };
            }
            Ok(Api {
                open_seat: sym!("libseat_open_seat"),
                disable_seat: sym!("libseat_disable_seat"),
                close_seat: sym!("libseat_close_seat"),
                open_device: sym!("libseat_open_device"),
                close_device: sym!("libseat_close_device"),
                seat_name: sym!("libseat_seat_name"),
                switch_session: sym!("libseat_switch_session"),
                get_fd: sym!("libseat_get_fd"),
                dispatch: sym!("libseat_dispatch"),
                _lib: lib,
            })
        }
    }
}

/// An open seat: libseat's handle, with the queue its callbacks fill.
pub struct Seat {
    api: Api,
    seat: NonNull<c_void>,
    events: Box<Queue>,
}

impl std::fmt::Debug for Seat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seat").field("name", &self.name()).finish()
    }
}

fn check(r: c_int) -> io::Result<c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Seat {
    /// Loads libseat and opens a seat through whichever backend it finds (seatd, logind,
    /// or `LIBSEAT_BACKEND`'s).
    pub fn open() -> Result<Seat, OpenError> {
        let api = Api::load()?;
        let events: Box<Queue> = Box::default();
        let data = &*events as *const Queue as *mut c_void;
        // SAFETY: the listener is static and `data` lives as long as the seat (both are
        // owned by the `Seat` returned, which closes the handle before freeing them).
        let seat = unsafe { (api.open_seat)(&LISTENER, data) };
        let seat = NonNull::new(seat).ok_or_else(|| OpenError::Open(io::Error::last_os_error()))?;
        Ok(Seat { api, seat, events })
    }

    /// The seat's name (`seat0`).
    pub fn name(&self) -> String {
        // SAFETY: a valid handle; the string is the seat's and copied at once.
        let p = unsafe { (self.api.seat_name)(self.seat.as_ptr()) };
        if p.is_null() {
            return String::new();
        }
        // SAFETY: a NUL-terminated string libseat owns.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    /// Opens a device through the seat manager: its id (for [`Seat::close_device`]) and fd.
    pub fn open_device(&mut self, path: &Path) -> io::Result<(c_int, OwnedFd)> {
        let path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut fd: c_int = -1;
        // SAFETY: a valid handle, a NUL-terminated path and a place for the fd.
        let id =
            check(unsafe { (self.api.open_device)(self.seat.as_ptr(), path.as_ptr(), &mut fd) })?;
        if fd < 0 {
            return Err(io::Error::from(io::ErrorKind::InvalidData));
        }
        // SAFETY: libseat hands the fd over; it does not close it itself.
        Ok((id, unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Tells the seat manager a device is closed (the caller closes its fd).
    pub fn close_device(&mut self, id: c_int) -> io::Result<()> {
        // SAFETY: a valid handle.
        check(unsafe { (self.api.close_device)(self.seat.as_ptr(), id) }).map(drop)
    }

    /// Asks for a switch to another session (VT).
    pub fn switch_session(&mut self, session: c_int) -> io::Result<()> {
        // SAFETY: a valid handle.
        check(unsafe { (self.api.switch_session)(self.seat.as_ptr(), session) }).map(drop)
    }

    /// Acknowledges a [`SeatEvent::Disable`].
    pub fn disable(&mut self) -> io::Result<()> {
        // SAFETY: a valid handle.
        check(unsafe { (self.api.disable_seat)(self.seat.as_ptr()) }).map(drop)
    }

    /// The fd to poll for the seat manager's messages.
    pub fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        // SAFETY: a valid handle.
        let fd = check(unsafe { (self.api.get_fd)(self.seat.as_ptr()) })?;
        // SAFETY: the seat owns the fd and keeps it open as long as itself.
        Ok(unsafe { BorrowedFd::borrow_raw(fd) })
    }

    /// Reads the seat manager's messages, waiting at most `timeout_ms` (0: not at all),
    /// which may queue events.
    pub fn dispatch(&mut self, timeout_ms: c_int) -> io::Result<()> {
        // SAFETY: a valid handle; the callbacks it runs borrow only the queue.
        check(unsafe { (self.api.dispatch)(self.seat.as_ptr(), timeout_ms) }).map(drop)
    }

    /// The events the callbacks queued, oldest first.
    pub fn take_events(&mut self) -> Vec<SeatEvent> {
        self.events.borrow_mut().drain(..).collect()
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        // SAFETY: the handle is valid and not used after this; `events` is freed after it.
        unsafe { (self.api.close_seat)(self.seat.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callbacks_queue_what_the_seat_manager_said() {
        let q: Box<Queue> = Box::default();
        let data = &*q as *const Queue as *mut c_void;
        // SAFETY: `data` is a live queue, as libseat would pass it.
        unsafe {
            (LISTENER.disable_seat)(std::ptr::null_mut(), data);
            (LISTENER.enable_seat)(std::ptr::null_mut(), data);
        }
        let got: Vec<_> = q.borrow_mut().drain(..).collect();
        assert_eq!(got, [SeatEvent::Disable, SeatEvent::Enable]);
    }
}
