//! `fusionfb run` and `fusionfb screenshot`: the master on a backend chosen from the config
//! and the command line, and a picture of what it shows.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gfx_drivers::backend::Backend;
use gfx_drivers::{HeadlessBackend, HeadlessOutputConfig};
use tracing::info;

use crate::config::{self, Config};
use crate::server::Server;

/// What `fusionfb run` was asked for.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--backend B`, overriding the config.
    pub backend: Option<config::Backend>,
    /// `--world NAME`, overriding the config.
    pub world: Option<String>,
}

/// Loads the config (or the defaults) — errors name the file, line and key.
pub fn load_config(path: Option<&Path>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p).map_err(|e| e.to_string()),
        None => Ok(Config::default()),
    }
}

/// Opens the display backend the config and `choice` ask for, saying which and why.
pub fn open_backend(
    cfg: &Config,
    choice: Option<config::Backend>,
) -> Result<Box<dyn Backend>, String> {
    let wanted = choice.unwrap_or(cfg.display.backend);
    let headless = || -> Result<Box<dyn Backend>, String> {
        let (size, mhz) = cfg.display.headless_mode();
        let out = HeadlessOutputConfig::new().mode(size.width, size.height, mhz);
        Ok(Box::new(
            HeadlessBackend::new(vec![out]).map_err(|e| e.to_string())?,
        ))
    };
    match wanted {
        config::Backend::Headless => {
            info!("backend: headless (asked for)");
            headless()
        }
        config::Backend::Auto => {
            info!("backend: headless (auto: this build drives no display device yet)");
            headless()
        }
        other => Err(format!(
            "the {other} backend is not part of this build yet; use --backend headless"
        )),
    }
}

/// The server's layers for the config's `[[layer]]` tables, bottom to top.
pub fn layer_specs(cfg: &Config) -> Vec<crate::server::LayerSpec> {
    use gfx_drivers::backend::PlaneKind;
    cfg.layers_bottom_to_top()
        .into_iter()
        .map(|l| crate::server::LayerSpec {
            id: l.id,
            kind: match l.kind {
                config::LayerKind::Primary => PlaneKind::Primary,
                config::LayerKind::Overlay => PlaneKind::Overlay,
                config::LayerKind::Cursor => PlaneKind::Cursor,
            },
            allow_exclusive: l.allow_exclusive,
            size: l.size.map(|s| (s.width, s.height)),
            position: (l.position.x, l.position.y),
        })
        .collect()
}

/// The compositor's transform for the config's `display.transform`.
pub fn compose_transform(t: config::Transform) -> crate::compose::Transform {
    use crate::compose::Transform as T;
    match (t.is_flipped(), t.degrees()) {
        (false, 90) => T::Rot90,
        (false, 180) => T::Rot180,
        (false, 270) => T::Rot270,
        (false, _) => T::Normal,
        (true, 90) => T::Flipped90,
        (true, 180) => T::Flipped180,
        (true, 270) => T::Flipped270,
        (true, _) => T::Flipped,
    }
}

/// Runs the master until `stop` is set; then asks the slaves to leave.
pub fn run(opts: &RunOptions, stop: &AtomicBool) -> Result<(), String> {
    let cfg = load_config(opts.config.as_deref())?;
    let world = cfg
        .world
        .fusion_config(opts.world.as_deref())
        .map_err(|e| format!("world group: {e}"))?;
    let backend = open_backend(&cfg, opts.backend)?;
    let name = world.name.clone();
    let transform = compose_transform(cfg.display.transform);
    let mut server = Server::with_layers(world, backend, transform, layer_specs(&cfg))
        .map_err(|e| format!("world {name:?}: {e}"))?;
    server.set_background(cfg.display.background.argb8888());
    if let Some(input) = crate::input::open_input(&cfg) {
        server.set_input(input);
    }
    server.set_cursor_visible(cfg.input.cursor_visible);
    let (w, h) = server.size();
    eprintln!(
        "fusionfb: master of world {name:?} (pid {}), {w}x{h}, socket {}",
        server.master().pid(),
        server.master().world().socket_path().display()
    );
    while !stop.load(Ordering::Relaxed) {
        server
            .dispatch(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
    }
    let m = server.master();
    m.kill(None, Duration::from_secs(2));
    let _ = m.dispatch_until(Duration::from_secs(3), |m| m.fusionees().is_empty());
    Ok(())
}

/// Asks the master of `world` for what is on the glass and writes it as a PNG.
pub fn screenshot(world: fusion::WorldConfig, path: &Path) -> Result<(u32, u32), String> {
    use fusionfb_protocol::{Reply, Request, Root};
    let name = world.name.clone();
    let mut slave = fusion::Slave::enter(world.client_name("fusionfb screenshot"))
        .map_err(|e| format!("world {name:?}: {e}"))?;
    let err = |e: fusion::Error| e.to_string();
    let root: Root = fusion::call::decode(&slave.root().map_err(err)?).map_err(err)?;
    let req = fusion::call::encode(&Request::Screenshot).map_err(err)?;
    let (bytes, mut fds) = slave
        .call_execute_fds(root.call, 0, &req, &[])
        .map_err(err)?;
    let (
        Reply::Screenshot {
            width,
            height,
            pitch,
            format,
        },
        Some(fd),
    ) = (fusion::call::decode(&bytes).map_err(err)?, fds.pop())
    else {
        return Err("the master sent no screenshot".into());
    };
    let format = gfx_drivers::Format::from_fourcc(format).ok_or("unknown screenshot format")?;
    let len = pitch as usize * height as usize;
    let map =
        fusion::sys::Mapping::new(fd.as_fd(), len.max(1), false).map_err(|e| e.to_string())?;
    let mut data = vec![0; len];
    map.read(0, &mut data);
    let view = crate::compose::BufferRef::new(&data, width, height, pitch, format)
        .map_err(|e| e.to_string())?;
    crate::compose::png::write(path, &view).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((width, height))
}
