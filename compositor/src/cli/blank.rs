//! `fusionfb blank on|off`: turns the running master's display off or back on
//! ([`fusionfb_protocol::Request::Blank`]), for scripts (a kiosk's night schedule, a
//! presence sensor). The next touch, key or pointer event turns it back on by itself too.

use anyhow::Context as _;

/// Asks the master of `world` to blank (`on`) or unblank its display; the line to print.
pub fn blank(world: fusion::WorldConfig, on: bool) -> anyhow::Result<String> {
    use fusionfb_protocol::{Reply, Request, Root};
    let name = world.name.clone();
    let mut slave = fusion::Slave::enter(world.client_name("fusionfb blank"))
        .with_context(|| format!("world {name:?}"))?;
    let err = anyhow::Error::new;
    let root: Root = fusion::call::decode(&slave.root().map_err(err)?).map_err(err)?;
    let req = fusion::call::encode(&Request::Blank { on }).map_err(err)?;
    let bytes = slave
        .call_execute(root.call, 0, &req)
        .map_err(|e| anyhow::anyhow!("the master did not blank: {e}"))?;
    match fusion::call::decode(&bytes).map_err(err)? {
        Reply::Unit => Ok(format!("display {}\n", if on { "blanked" } else { "on" })),
        other => Err(anyhow::anyhow!("unexpected answer: {other:?}")),
    }
}
