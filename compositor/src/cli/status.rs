//! `fusionfb status`: the Fusion snapshot of a world (fusionees, pools, locks, reactors,
//! calls, objects) and, when its master is a fusionfb display server, what is on the
//! display: layers (plane, exclusive holder), surfaces (size, format, front buffer, flips)
//! windows (geometry, stacking, focus, owner) and the frame counters (frames committed,
//! presented and scanned out directly, bytes composed) and the apps the master started from
//! its config's `[[app]]` tables (pid, state, restarts; protocol minor 3) and the Wayland
//! socket with its clients (pid, toplevels, surfaces; minor 4), the master process's health
//! (memory, fds, threads, start time; minor 6), the cursor (hardware plane or composed, and
//! the bytes composed per pointer motion; minor 10), from the master's
//! [`Describe`](fusionfb_protocol::Request::Describe) answer.

use anyhow::Context as _;
use std::fmt::Write;

use fusionfb_protocol::{self as proto, Reply, Request, Root};

/// What `fusionfb status` prints: a table, or JSON (the Fusion snapshot's fields plus
/// `display`, `null` when the master is not a display server).
pub fn status(world: fusion::WorldConfig, json: bool) -> anyhow::Result<String> {
    let name = world.name.clone();
    let mut slave = fusion::Slave::enter(world.client_name("fusionfb status"))
        .with_context(|| format!("world {name:?}"))?;
    let mut snap = slave.snapshot()?;
    let me = slave.id();
    snap.fusionees.retain(|f| f.id != me);
    let scene = describe(&mut slave).ok();
    if json {
        let mut v = serde_json::to_value(&snap)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("display".into(), serde_json::to_value(&scene)?);
        }
        return Ok(serde_json::to_string_pretty(&v)? + "\n");
    }
    let mut out = snap.to_table();
    if let Some(scene) = scene {
        out.push_str(&table(&scene));
    }
    Ok(out)
}

/// The cursor's line: where it is drawn and what its motions cost.
/// `output Virtual-2: 800x600 at 1024,0 (mode 800x600 @ 60.000 Hz, normal); 12 frames, 12
/// presented`: one line per output, where it is in the layout first.
fn output_line(o: &proto::OutputStatus) -> String {
    let mut notes = vec![
        format!(
            "mode {}x{} @ {:.3} Hz",
            o.physical_width,
            o.physical_height,
            f64::from(o.refresh_mhz) / 1000.0
        ),
        o.transform.clone(),
    ];
    if o.first {
        notes.push("first".into());
    }
    if !o.connected {
        notes.push("unplugged".into());
    }
    if !o.layers.is_empty() {
        let ids: Vec<String> = o.layers.iter().map(u32::to_string).collect();
        notes.push(format!("layers {}", ids.join(", ")));
    }
    format!(
        "output {}: {}x{} at {},{} ({}); {} frames, {} presented\n",
        o.name,
        o.width,
        o.height,
        o.x,
        o.y,
        notes.join(", "),
        o.frames,
        o.presented
    )
}

fn cursor_line(c: &proto::CursorStatus) -> String {
    let place = match (c.hardware, c.plane_size) {
        (true, Some((w, h))) => format!("hardware cursor plane ({w}x{h})"),
        (true, None) => "hardware cursor plane".to_string(),
        (false, _) if !c.composed_because.is_empty() => {
            format!("composed ({})", c.composed_because)
        }
        (false, Some((w, h))) => format!("hidden, hardware cursor plane ({w}x{h}) ready"),
        (false, None) => "hidden".to_string(),
    };
    let shown = if c.visible { "shown" } else { "hidden" };
    format!(
        "cursor: {place}, {shown}; {} pointer motions, {} plane commits, {} B composed for the cursor ({} B per motion)\n",
        c.motions,
        c.plane_commits,
        c.composed_bytes,
        c.bytes_per_motion()
    )
}

/// Asks the world's master what is on its display.
pub fn describe(slave: &mut fusion::Slave) -> Result<proto::Scene, fusion::Error> {
    let root: Root = fusion::call::decode(&slave.root()?)?;
    let req = fusion::call::encode(&Request::Describe)?;
    let (bytes, _) = slave.call_execute_fds(root.call, 0, &req, &[])?;
    // An older master's Scene lacks the newest fields: they read as empty.
    match proto::Scene::decode_reply(&bytes)? {
        Reply::Scene(scene) => Ok(*scene),
        other => Err(fusion::Error::Invalid(format!(
            "unexpected answer {other:?}"
        ))),
    }
}

fn fourcc(code: u32) -> String {
    code.to_le_bytes().iter().map(|&b| b as char).collect()
}

/// The display part of the status table.
pub fn table(scene: &proto::Scene) -> String {
    let mut s = String::new();
    if let Some(h) = &scene.health {
        let _ = writeln!(
            s,
            "master pid {}: {:.1} MiB resident + {:.1} MiB shared, {} fds, {} threads, started {}",
            h.pid,
            h.rss_kib as f64 / 1024.0,
            h.shared_kib as f64 / 1024.0,
            h.fds,
            h.threads,
            utc(h.started_unix_ms)
        );
        if h.restarts > 0 {
            let _ = writeln!(
                s,
                "  restarted: {} masters died before this one",
                h.restarts
            );
        }
        let c = &h.cleanup;
        let _ = writeln!(
            s,
            "cleanup: {} departed, {} locks released to OwnerDied, {} requests answered \
             PeerGone, {} blocks ({} bytes) reclaimed",
            c.departed, c.owner_died, c.peer_gone, c.blocks_reclaimed, c.bytes_reclaimed
        );
        let i = &h.input;
        let touches = if i.touches.is_empty() {
            "none".to_string()
        } else {
            i.touches
                .iter()
                .map(|(slot, w)| format!("{slot}->{w}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let opt = |o: Option<u32>| o.map_or("none".to_string(), |w| w.to_string());
        let _ = writeln!(
            s,
            "input: touches {touches}; pointer grab {}; focus {}; {} injections pending",
            opt(i.pointer_grab),
            opt(i.focus),
            i.pending_injections
        );
    }
    for o in &scene.outputs {
        s.push_str(&output_line(o));
    }
    let _ = writeln!(s, "layers ({})", scene.layers.len());
    for l in &scene.layers {
        let kind = ["primary", "overlay", "cursor"]
            .get(l.kind as usize)
            .unwrap_or(&"?");
        let holder = match l.exclusive_surface {
            Some(sf) => format!("exclusive: surface {sf} of fusionee {}", l.exclusive_owner),
            None => "shared".into(),
        };
        let _ = writeln!(
            s,
            "  {:>3} {:<8} {:<8} {}x{} at {},{}  {} windows  {}",
            l.id,
            kind,
            if l.hardware { "plane" } else { "virtual" },
            l.width,
            l.height,
            l.x,
            l.y,
            l.windows,
            holder
        );
    }
    let _ = writeln!(s, "surfaces ({})", scene.surfaces.len());
    for sf in &scene.surfaces {
        let front = sf.front.map_or("-".into(), |f| f.to_string());
        let _ = writeln!(
            s,
            "  {:>3} {}x{} {} pitch {} x{} front {} flips {} presented {}{}  owner {}",
            sf.id,
            sf.width,
            sf.height,
            fourcc(sf.format),
            sf.pitch,
            sf.buffers,
            front,
            sf.flips,
            sf.presented,
            if sf.in_flight { " (in flight)" } else { "" },
            sf.owner
        );
        let bytes = scene.health.as_ref().and_then(|h| {
            h.surface_bytes
                .iter()
                .find_map(|&(id, b)| (id == sf.id).then_some(b))
        });
        if let Some(b) = bytes {
            let _ = writeln!(s, "      {:.1} KiB of buffers", b as f64 / 1024.0);
        }
    }
    let f = &scene.frames;
    let _ = writeln!(
        s,
        "frames: {} committed, {} presented, {} direct; composed {} B last frame, {} B in all",
        f.committed, f.presented, f.direct, f.bytes_composed_last, f.bytes_composed_total
    );
    if let Some(c) = &scene.cursor {
        s.push_str(&cursor_line(c));
    }
    match &scene.health {
        Some(h) if h.windows_frame > f.committed => {
            let _ = writeln!(
                s,
                "windows ({}) as frame {} will show them",
                scene.windows.len(),
                h.windows_frame
            );
        }
        Some(h) => {
            let _ = writeln!(
                s,
                "windows ({}) as shown since frame {}",
                scene.windows.len(),
                h.windows_frame
            );
        }
        None => {
            let _ = writeln!(s, "windows ({})", scene.windows.len());
        }
    }
    for w in &scene.windows {
        let _ = writeln!(
            s,
            "  {:>3} surface {} layer {} {}x{} at {},{} z {} opacity {}{}{}  owner {}",
            w.id,
            w.surface,
            w.layer,
            w.width,
            w.height,
            w.x,
            w.y,
            w.z,
            w.opacity,
            if w.visible { "" } else { " hidden" },
            if w.focused { " focused" } else { "" },
            w.owner
        );
    }
    s.push_str(&apps_table(&scene.apps));
    if let Some(w) = &scene.wayland {
        s.push_str(&wayland_table(w));
    }
    if !scene.idle_inhibited_by.is_empty() {
        let pids: Vec<String> = scene
            .idle_inhibited_by
            .iter()
            .map(|p| format!("pid {p}"))
            .collect();
        let _ = writeln!(s, "idle inhibited by {}", pids.join(", "));
    }
    if let Some(b) = &scene.blanking {
        s.push_str(&blanking_line(b));
    }
    s
}

/// A time in milliseconds as a config writes it: `5m`, `30s`, `500ms`.
fn idle_time(ms: u64) -> String {
    if ms >= 60_000 && ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// `display: on, blanks after 5m idle (idle 12s)` / `display: blanked (3 times, woken 2)`.
fn blanking_line(b: &fusionfb_protocol::BlankStatus) -> String {
    let mut line = if b.blanked {
        "display: blanked".to_string()
    } else {
        "display: on".to_string()
    };
    match b.after_ms {
        Some(ms) if !b.blanked => line.push_str(&format!(
            ", blanks after {} idle (idle {})",
            idle_time(ms),
            idle_time(b.idle_ms - b.idle_ms % 1000)
        )),
        Some(_) => {}
        None => line.push_str(", never blanks by itself"),
    }
    if !b.inhibited_by.is_empty() {
        let pids: Vec<String> = b.inhibited_by.iter().map(|p| format!("pid {p}")).collect();
        line.push_str(&format!(", kept on by {}", pids.join(", ")));
    }
    line.push_str(&format!(
        "; blanked {} times, woken {}, {} waking events swallowed\n",
        b.blanks, b.wakes, b.swallowed
    ));
    line
}

/// A wall-clock time (milliseconds since the Unix epoch) as `YYYY-MM-DD HH:MM:SS UTC`: the
/// civil-from-days conversion of Howard Hinnant's date algorithms, written out here rather
/// than taking a calendar crate for one line of the status.
fn utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The Wayland part of the status table: the socket, then each client with its pid, its
/// toplevels (app_id, title, window) and its surfaces.
pub fn wayland_table(w: &proto::WaylandStatus) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "wayland: socket {} (WAYLAND_DISPLAY={}), {} client{}",
        w.socket,
        w.display,
        w.clients.len(),
        if w.clients.len() == 1 { "" } else { "s" }
    );
    for c in &w.clients {
        let _ = writeln!(
            s,
            "  pid {}  {} surface{} shown, {} B copied",
            c.pid,
            c.surfaces,
            if c.surfaces == 1 { "" } else { "s" },
            c.buffer_bytes
        );
        for t in &c.toplevels {
            let _ = writeln!(
                s,
                "    toplevel app_id {:?} title {:?}{}",
                t.app_id,
                t.title,
                t.window
                    .map_or(" (no buffer yet)".to_string(), |w| format!(" window {w}"))
            );
        }
    }
    s
}

/// The apps part of the status table: each `[[app]]` of the master's config with its pid
/// (or "not running"), its state and how often it was restarted.
pub fn apps_table(apps: &[proto::AppStatus]) -> String {
    use proto::AppState;
    let mut s = String::new();
    let _ = writeln!(s, "apps ({})", apps.len());
    for a in apps {
        let mut command = a.command.clone();
        for arg in &a.args {
            command.push(' ');
            command.push_str(arg);
        }
        let pid = a.pid.map_or("not running".into(), |p| format!("pid {p}"));
        let last = a.last_exit.as_ref().map(|e| e.to_string());
        let state = match (&a.state, &last) {
            (AppState::Waiting, _) => "waiting for the display".to_string(),
            (AppState::Running, _) => "running".to_string(),
            (AppState::Exited, Some(last)) => format!("exited ({last})"),
            (AppState::Exited, None) => "exited".to_string(),
            (AppState::Restarting { in_ms }, _) => format!(
                "restarting in {:.1} s{}",
                *in_ms as f64 / 1000.0,
                last.as_ref()
                    .map_or(String::new(), |l| format!(" (last: {l})"))
            ),
            (AppState::GaveUp { reason }, _) => format!("gave up: {reason}"),
            (AppState::Stopped, _) => "stopped".to_string(),
        };
        let _ = writeln!(
            s,
            "  {command}  {pid}  {state}  {} restart{}, policy {}",
            a.restarts,
            if a.restarts == 1 { "" } else { "s" },
            a.restart
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn wall_clock_times_read_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        // 2000-02-29 12:34:56 UTC (a leap day).
        assert_eq!(utc(951_827_696_000), "2000-02-29 12:34:56 UTC");
        assert_eq!(utc(1_796_342_400_999), "2026-12-04 00:00:00 UTC");
    }
}
