//! `fusionfb screenshot FILE.png`: asks a running master for what is on the glass (every
//! plane blended, as the display controller shows it) and writes it as a PNG.

use std::os::fd::AsFd;
use std::path::Path;

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
        fusionfb_sys::Mapping::new(fd.as_fd(), len.max(1), false).map_err(|e| e.to_string())?;
    let mut data = vec![0; len];
    map.read(0, &mut data);
    let view = crate::compose::BufferRef::new(&data, width, height, pitch, format)
        .map_err(|e| e.to_string())?;
    crate::compose::png::write(path, &view).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((width, height))
}
