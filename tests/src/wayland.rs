//! The harness of the Wayland tests: a headless `fusionfb run` with its Wayland socket in a
//! runtime directory of the test's own, and real Wayland clients (Debian's weston and
//! wayland-utils programs) started against it.
//!
//! Every master has a world of its own (`fusion_testing::world`) and so a socket of its own
//! (`fusionfb-<world>`), in the world's private base directory given to both sides as
//! `XDG_RUNTIME_DIR`: tests run in parallel, as root or as a user, without touching the
//! machine's own Wayland sessions.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{poll_for, Process};

/// How long anything may take before a test fails (never a hang).
pub const LIMIT: Duration = Duration::from_secs(60);

/// Where program `name` is on `PATH`, if it is installed.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A headless master with its Wayland socket.
#[derive(Debug)]
pub struct WaylandMaster {
    /// Its world.
    pub world: fusion::WorldConfig,
    /// The `XDG_RUNTIME_DIR` both sides use.
    pub runtime: PathBuf,
    /// The master's log file.
    pub log: PathBuf,
    /// The master process.
    pub process: Process,
}

impl WaylandMaster {
    /// Starts `fusionfb run --backend headless` in a new world named after `tag`, and waits
    /// for its Wayland socket.
    pub fn start(tag: &str) -> WaylandMaster {
        Self::start_with(tag, None)
    }

    /// [`start`](WaylandMaster::start) with a config file of `config` text.
    pub fn start_with(tag: &str, config: Option<&str>) -> WaylandMaster {
        let world = crate::world(tag);
        let runtime = world.base_dir();
        std::fs::create_dir_all(&runtime).unwrap();
        let log = runtime.join(format!("{}.log", world.name));
        let rt = runtime.display().to_string();
        let mut args = vec!["run", "--backend", "headless"];
        let file = runtime.join(format!("{}.toml", world.name));
        let file_arg = file.display().to_string();
        if let Some(text) = config {
            std::fs::write(&file, text).unwrap();
            args.extend(["--config", file_arg.as_str()]);
        }
        // In the runtime directory: what the apps it starts write goes there too.
        let process = Process::spawn_in(
            "fusionfb",
            &world,
            &args,
            &[("XDG_RUNTIME_DIR", rt.as_str()), ("RUST_LOG", "warn")],
            Some(&log),
            Some(&runtime),
        );
        let mut m = WaylandMaster {
            world,
            runtime,
            log,
            process,
        };
        let socket = m.socket();
        let found = poll_for(LIMIT, || {
            m.assert_running();
            (socket.exists() && m.fusionfb(&["status"]).is_some()).then_some(())
        });
        assert!(
            found.is_some(),
            "no wayland socket {} after {LIMIT:?}; log:\n{}",
            socket.display(),
            m.log_text()
        );
        m
    }

    /// The socket's name (what clients put in `WAYLAND_DISPLAY`).
    pub fn display(&self) -> String {
        format!("fusionfb-{}", self.world.name)
    }

    /// The socket's path.
    pub fn socket(&self) -> PathBuf {
        self.runtime.join(self.display())
    }

    /// The master's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the log) if the master ended.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.process.exited() {
            panic!("the master ended ({status}); log:\n{}", self.log_text());
        }
    }

    /// `fusionfb <args>` against this master; its stdout if it succeeded.
    pub fn fusionfb(&self, args: &[&str]) -> Option<String> {
        crate::fusionfb_output(&self.world, args)
    }

    /// `fusionfb status --json`'s display part.
    pub fn scene(&self) -> Option<serde_json::Value> {
        let out = self.fusionfb(&["status", "--json"])?;
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        Some(v["display"].clone())
    }

    /// The toplevels the status lists for the Wayland client with process id `pid` (each
    /// with `app_id`, `title` and `window`), empty while there are none.
    pub fn toplevels(&self, pid: u32) -> Vec<serde_json::Value> {
        let Some(scene) = self.scene() else {
            return Vec::new();
        };
        scene["wayland"]["clients"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["pid"].as_u64() == Some(u64::from(pid)))
            .flat_map(|c| c["toplevels"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Starts Wayland client `program` with `args` on this master, its stdout and stderr
    /// into `<runtime>/<world>.<tag>.out` (line-buffered through `stdbuf` when it is there,
    /// so what the client prints can be read while it runs), in the master's runtime
    /// directory (the test's own directory: what the client writes there is the test's).
    pub fn client(&self, program: &Path, args: &[&str], tag: &str) -> WaylandClient {
        let out = self.runtime.join(format!("{}.{tag}.out", self.world.name));
        let file = std::fs::File::create(&out).unwrap();
        let mut cmd = match find_program("stdbuf") {
            Some(stdbuf) => {
                let mut c = Command::new(stdbuf);
                c.arg("-oL").arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args(args)
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("WAYLAND_DISPLAY", self.display())
            .env_remove("DISPLAY")
            .current_dir(&self.runtime)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        WaylandClient {
            child: Some(child),
            out,
        }
    }
}

impl Drop for WaylandMaster {
    /// Ends the master with SIGTERM, as a service manager would, so it stops the apps its
    /// config started (a killed master would leave them running).
    fn drop(&mut self) {
        self.process.terminate(std::time::Duration::from_secs(5));
    }
}

/// A Wayland client process; killed when dropped.
#[derive(Debug)]
pub struct WaylandClient {
    child: Option<Child>,
    /// Where its output goes.
    pub out: PathBuf,
}

impl WaylandClient {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Its exit status, if it ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().unwrap()
    }

    /// Waits for it to end (at most [`LIMIT`]) and returns its status.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        poll_for(LIMIT, || self.exited())
            .unwrap_or_else(|| panic!("the client did not end; it printed:\n{}", self.output()))
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for WaylandClient {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A new, empty file at `path`, for a hand-made client's `wl_shm` pool.
pub fn pool_file(path: &Path) -> std::fs::File {
    std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A Wayland client speaking the wire protocol by hand, for what no well-behaved client
/// does: a truncated pool, garbage bytes. Messages are built with [`Args`]; events are read
/// whole (header, then body).
#[derive(Debug)]
pub struct RawClient {
    /// The connection.
    pub stream: std::os::unix::net::UnixStream,
    /// Bytes read but not yet taken as events.
    pending: Vec<u8>,
}

/// One event as read: the object it is for, its opcode and its argument bytes.
#[derive(Debug, Clone)]
pub struct RawEvent {
    /// The object's id.
    pub object: u32,
    /// The event's opcode.
    pub opcode: u16,
    /// Its arguments, as sent.
    pub body: Vec<u8>,
}

impl RawEvent {
    /// The `n`th 32-bit word of the body.
    pub fn word(&self, n: usize) -> u32 {
        u32::from_ne_bytes(self.body[n * 4..n * 4 + 4].try_into().unwrap())
    }

    /// The string starting at word `n` (a length word, the bytes, padding).
    pub fn string(&self, n: usize) -> String {
        let len = self.word(n) as usize;
        let start = n * 4 + 4;
        String::from_utf8_lossy(&self.body[start..start + len.saturating_sub(1)]).into_owned()
    }
}

/// The arguments of a request, in wire format.
#[derive(Debug, Default, Clone)]
pub struct Args(pub Vec<u8>);

impl Args {
    /// No arguments yet.
    pub fn new() -> Args {
        Args(Vec::new())
    }

    /// A `uint`, `int`, object or new_id argument.
    pub fn u(mut self, v: u32) -> Args {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }

    /// A `string` argument.
    pub fn s(mut self, v: &str) -> Args {
        let len = v.len() + 1;
        self = self.u(len as u32);
        self.0.extend_from_slice(v.as_bytes());
        self.0.push(0);
        while self.0.len() % 4 != 0 {
            self.0.push(0);
        }
        self
    }
}

impl RawClient {
    /// Connects to `socket`.
    pub fn connect(socket: &Path) -> RawClient {
        let stream = std::os::unix::net::UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        RawClient {
            stream,
            pending: Vec::new(),
        }
    }

    /// Sends request `opcode` of object `object`, with `fds` passed alongside.
    pub fn send(
        &mut self,
        object: u32,
        opcode: u16,
        args: Args,
        fds: &[std::os::fd::BorrowedFd<'_>],
    ) {
        let size = 8 + args.0.len();
        let mut msg = Vec::with_capacity(size);
        msg.extend_from_slice(&object.to_ne_bytes());
        msg.extend_from_slice(&(((size as u32) << 16) | u32::from(opcode)).to_ne_bytes());
        msg.extend_from_slice(&args.0);
        use std::os::fd::AsFd;
        fusionfb_sys::send_msg(self.stream.as_fd(), &msg, fds).expect("send a request");
    }

    /// `wl_shm.create_pool`: pool `pool` over `file`'s first `size` bytes.
    pub fn create_pool(&mut self, shm: u32, pool: u32, file: &std::fs::File, size: u32) {
        use std::os::fd::AsFd;
        self.send(shm, 0, Args::new().u(pool).u(size), &[file.as_fd()]);
    }

    /// `wl_shm_pool.create_buffer`: a `width`x`height` XRGB8888 buffer `buffer` at `offset`
    /// of `pool`, rows packed.
    pub fn create_buffer(&mut self, pool: u32, buffer: u32, offset: u32, width: u32, height: u32) {
        let args = Args::new().u(buffer).u(offset).u(width).u(height);
        self.send(pool, 0, args.u(width * 4).u(1), &[]);
    }

    /// The next event; `None` when the server closed the connection.
    pub fn event(&mut self) -> Option<RawEvent> {
        use std::io::Read;
        loop {
            if self.pending.len() >= 8 {
                let object = u32::from_ne_bytes(self.pending[0..4].try_into().unwrap());
                let word = u32::from_ne_bytes(self.pending[4..8].try_into().unwrap());
                let size = (word >> 16) as usize;
                if size >= 8 && self.pending.len() >= size {
                    let body = self.pending[8..size].to_vec();
                    self.pending.drain(..size);
                    return Some(RawEvent {
                        object,
                        opcode: (word & 0xffff) as u16,
                        body,
                    });
                }
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading events: {e}"),
            }
        }
    }

    /// The events of the next read from the socket (what the server sent in one go, or
    /// what was left over from an earlier read), at least one; `None` when the server
    /// closed the connection.
    pub fn batch(&mut self) -> Option<Vec<RawEvent>> {
        use std::io::Read;
        if self.pending.len() < 8 {
            let mut buf = [0u8; 4096];
            loop {
                match self.stream.read(&mut buf) {
                    Ok(0) => return None,
                    Ok(n) => {
                        self.pending.extend_from_slice(&buf[..n]);
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                    Err(e) => panic!("reading events: {e}"),
                }
            }
        }
        let mut events = vec![self.event()?];
        while self.pending.len() >= 8
            && self.pending.len()
                >= (u32::from_ne_bytes(self.pending[4..8].try_into().unwrap()) >> 16) as usize
        {
            events.push(self.event()?);
        }
        Some(events)
    }

    /// Reads events until `pick` returns something (panics if the server hangs up first).
    pub fn until<T>(&mut self, what: &str, mut pick: impl FnMut(&RawEvent) -> Option<T>) -> T {
        loop {
            let e = self
                .event()
                .unwrap_or_else(|| panic!("the server hung up while waiting for {what}"));
            if let Some(t) = pick(&e) {
                return t;
            }
        }
    }

    /// Makes a toplevel (with `app_id`, if given) and acknowledges its first configure;
    /// its `wl_surface`'s id. Object ids are taken from `next` on.
    pub fn toplevel(
        &mut self,
        compositor: u32,
        wm: u32,
        app_id: Option<&str>,
        next: &mut u32,
    ) -> u32 {
        let (surface, xdg_surface, toplevel) = (*next, *next + 1, *next + 2);
        *next += 3;
        self.send(compositor, 0, Args::new().u(surface), &[]); // create_surface
        self.send(wm, 2, Args::new().u(xdg_surface).u(surface), &[]); // get_xdg_surface
        self.send(xdg_surface, 1, Args::new().u(toplevel), &[]); // get_toplevel
        if let Some(app_id) = app_id {
            self.send(toplevel, 3, Args::new().s(app_id), &[]); // set_app_id
        }
        self.send(surface, 6, Args::new(), &[]); // commit
        let serial = self.until("the first configure", |e| {
            (e.object == xdg_surface && e.opcode == 0).then(|| e.word(0))
        });
        self.send(xdg_surface, 4, Args::new().u(serial), &[]); // ack_configure
        surface
    }

    /// Binds every global in `wanted` (interface, version) with the registry; returns their
    /// new object ids in the same order. An interface listed twice binds its first and then
    /// its second global (two `wl_output`s). Uses ids from `next_id` on (the registry gets one).
    pub fn bind(&mut self, wanted: &[(&str, u32)], next_id: &mut u32) -> Vec<u32> {
        let registry = *next_id;
        *next_id += 1;
        let sync = *next_id;
        *next_id += 1;
        self.send(1, 1, Args::new().u(registry), &[]); // wl_display.get_registry
        self.send(1, 0, Args::new().u(sync), &[]); // wl_display.sync
        let mut globals = Vec::new();
        loop {
            let e = self.event().expect("registry events");
            if e.object == registry && e.opcode == 0 {
                globals.push((e.word(0), e.string(1)));
            }
            if e.object == sync {
                break;
            }
        }
        wanted
            .iter()
            .enumerate()
            .map(|(k, (iface, version))| {
                // An interface wanted twice binds its first global, then its second.
                let nth = wanted[..k].iter().filter(|(i, _)| i == iface).count();
                let name = globals
                    .iter()
                    .filter(|(_, i)| i == iface)
                    .nth(nth)
                    .unwrap_or_else(|| panic!("no global {iface} #{}: {globals:?}", nth + 1))
                    .0;
                let id = *next_id;
                *next_id += 1;
                // wl_registry.bind(name, interface, version, new id)
                self.send(
                    registry,
                    0,
                    Args::new().u(name).s(iface).u(*version).u(id),
                    &[],
                );
                id
            })
            .collect()
    }
}
