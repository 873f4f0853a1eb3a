//! `fusionfb reload`: asks the running master to read its config file again
//! ([`fusionfb_protocol::Request::Reload`], what `SIGHUP` does) and prints what it applied and
//! what waits for a restart; a config that does not load is refused with its file, line and
//! key, and the command fails.

use anyhow::Context as _;

/// Asks the master of `world` to reload; the report to print.
pub fn reload(world: fusion::WorldConfig) -> anyhow::Result<String> {
    use fusionfb_protocol::{Reply, Request, Root};
    let name = world.name.clone();
    let mut slave = fusion::Slave::enter(world.client_name("fusionfb reload"))
        .with_context(|| format!("world {name:?}"))?;
    let err = anyhow::Error::new;
    let root: Root = fusion::call::decode(&slave.root().map_err(err)?).map_err(err)?;
    let req = fusion::call::encode(&Request::Reload).map_err(err)?;
    let bytes = slave
        .call_execute(root.call, 0, &req)
        .map_err(|e| anyhow::anyhow!("the master refused the reload: {e}"))?;
    match fusion::call::decode(&bytes).map_err(err)? {
        Reply::Reloaded { applied, restart } => {
            let mut out = format!(
                "reloaded: {}\n",
                if applied.is_empty() {
                    "nothing changed that applies live".to_string()
                } else {
                    format!("applied {}", applied.join(", "))
                }
            );
            if !restart.is_empty() {
                out.push_str(&format!(
                    "changed but taking a restart of the master: {}\n",
                    restart.join(", ")
                ));
            }
            Ok(out)
        }
        other => Err(anyhow::anyhow!("unexpected answer: {other:?}")),
    }
}
