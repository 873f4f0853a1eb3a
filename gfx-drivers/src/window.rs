//! The `window` backend: the output is a window on the developer's desktop (X11 or Wayland),
//! and the mouse acts as a finger.
//!
//! For development without a board, and for tests under `Xvfb`. Built on winit 0.30 (the
//! window and its events) and, to put CPU pixels in it, softbuffer 0.4 on Wayland and core
//! X11 `PutImage` on X11 (`window_x11`, which says why):
//!
//! - **One output** `WINDOW-1`, one mode: the size asked for at [`open`](WindowBackend::open)
//!   (the window is not resizable) at 60 Hz; one **primary** plane taking XRGB8888,
//!   ARGB8888 and RGB565 buffers (converted on the way). Other layers are composed by the
//!   compositor.
//! - A [`commit`](Backend::commit) copies the damaged part of the buffer into the backend's
//!   own **glass** buffer (memfd, XRGB8888; what [`on_glass`](Backend::on_glass) returns)
//!   and from there into the window (softbuffer's `present`, or `PutImage`). The buffer handed over is
//!   free again when `commit` returns. A desktop gives no vblank events, so a
//!   [`Presented`](crate::Presented) event follows at the next tick of a 60 Hz software vblank clock (the
//!   `pacing` module's, as for `headless`).
//! - **Mouse as touch**: left button down, motion while down, and up become
//!   [`BackendEvent::Touch`] events of slot 0, each followed by a `Frame`; the compositor
//!   routes them like a touchscreen's. Leaving the window mid-drag ends the contact with
//!   `Cancel`.
//! - **Closing** the window reports [`BackendEvent::Closed`]; `fusionfb run` then exits
//!   cleanly. The glass is drawn again when the desktop asks for it (expose).
//! - **Event loop:** winit wants to own the thread's loop; here it does not — `dispatch`
//!   pumps it without blocking (`pump_app_events` with a zero timeout). The backend's fd is a
//!   small epoll set holding winit's own loop fd (readable when the X11 or Wayland connection
//!   has events) and the vblank timerfd, so the compositor's poll wakes for either.
//!
//! winit allows one event loop per process; a second `open` fails with a clear error. The
//! backend may be opened from any thread (winit's `with_any_thread`), but must then stay on
//! that thread (it is not `Send`).

use std::num::NonZeroU32;
use std::os::fd::{AsFd, BorrowedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use softbuffer::{Context, Surface};
use winit::application::ApplicationHandler;
use winit::dpi::{PhysicalPosition, PhysicalSize};
use winit::event::{ElementState, MouseButton, WindowEvent};
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::platform::pump_events::{EventLoopExtPumpEvents, PumpStatus};
use winit::raw_window_handle::{HasWindowHandle, RawWindowHandle};
use winit::window::{Window, WindowId};

use crate::backend::{
    geometry, Backend, BackendEvent, CommitId, Error, Mode, OutputId, OutputInfo, PlaneId,
    PlaneUpdate, Rect, TouchInput, TouchPhase,
};
use crate::buffer::Buffer;
use crate::format::Format;
use crate::pacing::SingleOutput;
use crate::window_x11::X11Presenter;

/// The refresh rate presents are paced at: 60 Hz.
pub const REFRESH_MHZ: u32 = 60_000;

const OUTPUT: OutputId = SingleOutput::OUTPUT;
const TOKEN_WINIT: u64 = 1;
const TOKEN_TIMER: u64 = 2;

type WindowSurface = Surface<Rc<Window>, Rc<Window>>;

/// What puts pixels into the window.
enum Presenter {
    /// softbuffer (Wayland).
    Soft(WindowSurface),
    /// `PutImage` on an X connection of our own (X11); boxed, being the larger.
    X11(Box<X11Presenter>),
}

/// The winit side: the window, what draws into it, and what its events said.
struct App {
    title: String,
    size: (u32, u32),
    window: Option<Rc<Window>>,
    surface: Option<Presenter>,
    error: Option<String>,
    /// Touch events and closes not yet handed out by `dispatch`.
    events: Vec<BackendEvent>,
    cursor: (f32, f32),
    pressed: bool,
    /// The desktop asked for the window to be drawn again.
    redraw: bool,
}

impl App {
    fn touch(&mut self, phase: TouchPhase) {
        let time_ns = fusionfb_sys::now_ns();
        for phase in [phase, TouchPhase::Frame] {
            self.events.push(BackendEvent::Touch(TouchInput {
                phase,
                slot: 0,
                output: OUTPUT,
                x: self.cursor.0,
                y: self.cursor.1,
                time_ns,
            }));
        }
    }
}

impl ApplicationHandler for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.window.is_some() {
            return;
        }
        let attrs = Window::default_attributes()
            .with_title(self.title.clone())
            .with_inner_size(PhysicalSize::new(self.size.0, self.size.1))
            .with_position(PhysicalPosition::new(0, 0))
            .with_resizable(false);
        let made = event_loop
            .create_window(attrs)
            .map_err(|e| format!("creating the window: {e}"))
            .and_then(|w| {
                let w = Rc::new(w);
                let x11 = match w.window_handle().map(|h| h.as_raw()) {
                    Ok(RawWindowHandle::Xlib(h)) => Some(h.window as u32),
                    Ok(RawWindowHandle::Xcb(h)) => Some(h.window.get()),
                    _ => None,
                };
                if let Some(id) = x11 {
                    return Ok((w, Presenter::X11(Box::new(X11Presenter::new(id)?))));
                }
                let context =
                    Context::new(w.clone()).map_err(|e| format!("softbuffer context: {e}"))?;
                let mut surface = Surface::new(&context, w.clone())
                    .map_err(|e| format!("softbuffer surface: {e}"))?;
                let (Some(width), Some(height)) =
                    (NonZeroU32::new(self.size.0), NonZeroU32::new(self.size.1))
                else {
                    return Err("empty window size".to_string());
                };
                surface
                    .resize(width, height)
                    .map_err(|e| format!("softbuffer resize: {e}"))?;
                Ok((w, Presenter::Soft(surface)))
            });
        match made {
            Ok((w, surface)) => {
                self.window = Some(w);
                self.surface = Some(surface);
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn window_event(&mut self, _: &ActiveEventLoop, _: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested | WindowEvent::Destroyed
                if !self.events.contains(&BackendEvent::Closed(OUTPUT)) =>
            {
                self.events.push(BackendEvent::Closed(OUTPUT));
            }
            WindowEvent::CursorMoved { position, .. } => {
                self.cursor = (position.x as f32, position.y as f32);
                if self.pressed {
                    self.touch(TouchPhase::Motion);
                }
            }
            WindowEvent::CursorLeft { .. } if self.pressed => {
                self.pressed = false;
                self.touch(TouchPhase::Cancel);
            }
            WindowEvent::MouseInput {
                state,
                button: MouseButton::Left,
                ..
            } => match state {
                ElementState::Pressed if !self.pressed => {
                    self.pressed = true;
                    self.touch(TouchPhase::Down);
                }
                ElementState::Released if self.pressed => {
                    self.pressed = false;
                    self.touch(TouchPhase::Up);
                }
                _ => {}
            },
            WindowEvent::RedrawRequested => self.redraw = true,
            _ => {}
        }
    }
}

/// The desktop-window backend; see the [module docs](self).
pub struct WindowBackend {
    event_loop: EventLoop<()>,
    app: App,
    /// What the window shows (XRGB8888, the mode's size).
    glass: Buffer,
    /// The epoll set of winit's fd and the timer: the backend's fd.
    poller: fusionfb_sys::Poller,
    out: SingleOutput,
    closed: bool,
}

impl std::fmt::Debug for WindowBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowBackend")
            .field("mode", &self.out.info.current_mode)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// Whether a desktop session seems to be there (`WAYLAND_DISPLAY` or `DISPLAY` set).
pub fn desktop_session() -> Option<String> {
    ["WAYLAND_DISPLAY", "DISPLAY"].iter().find_map(|var| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| format!("{var}={v}"))
    })
}

impl WindowBackend {
    /// Opens a `width`×`height` window titled `title` on the desktop and waits (up to 5 s)
    /// until it exists.
    pub fn open(title: &str, width: u32, height: u32) -> Result<Self, Error> {
        let max = crate::buffer::MAX_DIMENSION;
        if width == 0 || height == 0 || width > max || height > max {
            return Err(Error::InvalidConfig(format!(
                "a {width}x{height} window: use 1..={max} pixels each way"
            )));
        }
        let mut builder = EventLoop::builder();
        {
            use winit::platform::wayland::EventLoopBuilderExtWayland;
            use winit::platform::x11::EventLoopBuilderExtX11;
            EventLoopBuilderExtX11::with_any_thread(&mut builder, true);
            EventLoopBuilderExtWayland::with_any_thread(&mut builder, true);
        }
        let event_loop = builder.build().map_err(|e| {
            Error::InvalidConfig(format!(
                "no desktop to open a window on ({}): {e}",
                desktop_session()
                    .unwrap_or_else(|| "neither DISPLAY nor WAYLAND_DISPLAY set".into())
            ))
        })?;
        let mut app = App {
            title: title.to_string(),
            size: (width, height),
            window: None,
            surface: None,
            error: None,
            events: Vec::new(),
            cursor: (0.0, 0.0),
            pressed: false,
            redraw: false,
        };
        let mut event_loop = event_loop;
        let deadline = Instant::now() + Duration::from_secs(5);
        while app.window.is_none() && app.error.is_none() {
            if Instant::now() > deadline {
                return Err(Error::InvalidConfig(
                    "the desktop did not give us a window within 5 s".into(),
                ));
            }
            if let PumpStatus::Exit(code) =
                event_loop.pump_app_events(Some(Duration::from_millis(20)), &mut app)
            {
                return Err(Error::InvalidConfig(format!(
                    "the window's event loop ended (code {code})"
                )));
            }
        }
        if let Some(e) = app.error.take() {
            return Err(Error::InvalidConfig(e));
        }
        let mode = Mode::new(width, height, REFRESH_MHZ);
        let out = SingleOutput::new("WINDOW-1".into(), mode, (0, 0))?;
        let poller = fusionfb_sys::Poller::new()?;
        poller.add(event_loop.as_fd(), TOKEN_WINIT)?;
        poller.add(out.timer.as_fd(), TOKEN_TIMER)?;
        let glass = Buffer::new_memfd(width, height, Format::Xrgb8888)?;
        glass.fill(0xff00_0000)?;
        let mut backend = WindowBackend {
            event_loop,
            app,
            glass,
            poller,
            out,
            closed: false,
        };
        backend.blit(&[])?;
        tracing::info!(%mode, session = ?desktop_session(), "desktop window");
        Ok(backend)
    }

    /// Puts the `rects` of the glass (all of it when empty) into the window.
    fn blit(&mut self, rects: &[Rect<geometry::Buffer>]) -> Result<(), Error> {
        let glass = &self.glass;
        let (w, h) = (glass.width(), glass.height());
        let full = [Rect::new(0, 0, w, h)];
        let rects = if rects.is_empty() { &full[..] } else { rects };
        match self.app.surface.as_mut() {
            None => Ok(()),
            Some(Presenter::X11(x11)) => {
                let clipped: Vec<_> = rects.iter().filter_map(|r| r.clip(w, h)).collect();
                let pitch = glass.pitch();
                glass
                    .with_bytes(|bytes| x11.present(bytes, pitch, &clipped))
                    .map_err(|e| Error::Io(std::io::Error::other(e)))
            }
            Some(Presenter::Soft(surface)) => Self::soft_blit(glass, surface, rects),
        }
    }

    /// [`blit`](Self::blit) through softbuffer.
    fn soft_blit(
        glass: &Buffer,
        surface: &mut WindowSurface,
        rects: &[Rect<geometry::Buffer>],
    ) -> Result<(), Error> {
        let (w, h) = (glass.width(), glass.height());
        let soft_err = |e: softbuffer::SoftBufferError| {
            Error::Io(std::io::Error::other(format!("softbuffer: {e}")))
        };
        let mut out = surface.buffer_mut().map_err(soft_err)?;
        if out.len() < (w * h) as usize {
            return Err(Error::InvalidBuffer(format!(
                "the window's buffer holds {} pixels, not {w}x{h}",
                out.len()
            )));
        }
        // softbuffer keeps up to a few buffers: copy all unless it says this one holds the
        // previous frame (age 1).
        let full = [Rect::new(0, 0, w, h)];
        let rects = if out.age() != 1 { &full[..] } else { rects };
        let pitch = glass.pitch();
        glass.with_bytes(|bytes| {
            for r in rects.iter().filter_map(|r| r.clip(w, h)) {
                let (x0, y0) = r.origin_index();
                for y in y0..y0 + r.h as usize {
                    let row = &bytes[y * pitch..];
                    for x in x0..x0 + r.w as usize {
                        let px = u32::from_le_bytes(row[x * 4..x * 4 + 4].try_into().unwrap());
                        // softbuffer wants 0RGB: the top byte zero.
                        out[y * w as usize + x] = px & 0x00ff_ffff;
                    }
                }
            }
        });
        let damage: Vec<softbuffer::Rect> = rects
            .iter()
            .filter_map(|r| r.clip(w, h))
            .filter_map(|r| {
                let (x, y) = r.origin_unsigned();
                Some(softbuffer::Rect {
                    x,
                    y,
                    width: NonZeroU32::new(r.w)?,
                    height: NonZeroU32::new(r.h)?,
                })
            })
            .collect();
        out.present_with_damage(&damage).map_err(soft_err)?;
        Ok(())
    }

    /// Runs winit's pending events through [`App`] without blocking.
    fn pump(&mut self) -> Result<(), Error> {
        if let PumpStatus::Exit(_) = self
            .event_loop
            .pump_app_events(Some(Duration::ZERO), &mut self.app)
        {
            self.closed = true;
        }
        if self.app.redraw {
            self.app.redraw = false;
            self.blit(&[])?;
        }
        Ok(())
    }
}

impl AsFd for WindowBackend {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.poller.as_fd()
    }
}

impl Backend for WindowBackend {
    fn name(&self) -> &str {
        "window"
    }

    fn outputs(&self) -> Vec<OutputId> {
        vec![SingleOutput::OUTPUT]
    }

    fn output(&self, output: OutputId) -> Result<&OutputInfo, Error> {
        self.out.output(output)
    }

    fn set_mode(&mut self, output: OutputId, mode: Mode) -> Result<(), Error> {
        self.out.set_mode(output, mode)
    }

    fn allocate(&mut self, width: u32, height: u32, format: Format) -> Result<Buffer, Error> {
        Buffer::allocate_memfd(width, height, format)
    }

    fn commit(&mut self, output: OutputId, updates: &[PlaneUpdate<'_>]) -> Result<CommitId, Error> {
        if let Some(u) = self.out.check_commit(output, updates)? {
            let copied = match u.buffer {
                Some(b) => self.glass.copy_from(b, u.damage)?,
                None => {
                    self.glass.fill(0xff00_0000)?;
                    Vec::new()
                }
            };
            self.blit(&copied)?;
        }
        self.out.schedule(false)
    }

    fn is_pending(&self, output: OutputId) -> Result<bool, Error> {
        self.out.is_pending(output)
    }

    fn on_glass(&self, output: OutputId, plane: PlaneId) -> Result<Option<Buffer>, Error> {
        self.out.check_plane(output, plane)?;
        Ok(Some(self.glass.clone()))
    }

    fn dispatch(&mut self) -> Result<Vec<BackendEvent>, Error> {
        // Empty the epoll set's ready list (level-triggered: it is refilled while a member
        // stays readable).
        let mut ready = Vec::new();
        self.poller.wait(Some(Duration::ZERO), &mut ready)?;
        self.pump()?;
        let mut events = std::mem::take(&mut self.app.events);
        if self.closed && !events.contains(&BackendEvent::Closed(OUTPUT)) {
            events.push(BackendEvent::Closed(OUTPUT));
        }
        events.extend(self.out.presented()?);
        Ok(events)
    }
}

crate::backend::pollable_backend!(WindowBackend);
