//! `fusionfb screenshot [--output NAME] FILE.png`: asks a running master for what is on the
//! glass of its first output, or of the output named (every plane blended, as the display
//! controller shows it), and writes it as a PNG.

use anyhow::Context as _;
use std::os::fd::AsFd;
use std::path::Path;

/// Asks the master of `world` for what is on the glass of `output` (`None`: the first
/// output) and writes it as a PNG.
pub fn screenshot(
    world: fusion::WorldConfig,
    path: &Path,
    output: Option<&str>,
) -> anyhow::Result<(u32, u32)> {
    use fusionfb_protocol::{Reply, Request, Root};
    let name = world.name.clone();
    let mut slave = fusion::Slave::enter(world.client_name("fusionfb screenshot"))
        .with_context(|| format!("world {name:?}"))?;
    let err = anyhow::Error::new;
    let root: Root = fusion::call::decode(&slave.root().map_err(err)?).map_err(err)?;
    let req = match output {
        None => Request::Screenshot,
        Some(name) => Request::ScreenshotOutput {
            output: name.to_string(),
        },
    };
    let req = fusion::call::encode(&req).map_err(err)?;
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
        return Err(anyhow::anyhow!("the master sent no screenshot"));
    };
    let format = gfx_drivers::Format::from_fourcc(format)
        .ok_or_else(|| anyhow::anyhow!("unknown screenshot format"))?;
    let len = pitch as usize * height as usize;
    let map = fusionfb_sys::Mapping::new(fd.as_fd(), len.max(1), false)?;
    let mut data = vec![0; len];
    map.read(0, &mut data);
    let view = crate::compose::PixelsRef::new(&data, width, height, pitch as usize, format)?;
    crate::compose::png::write(path, &view)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((width, height))
}
