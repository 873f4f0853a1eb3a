//! Introspection: a snapshot of a world, what `/proc/fusion` showed for DirectFB.
//!
//! [`WorldSnapshot`] lists fusionees (pid, exe), pools (use per owner), locks (owner,
//! waiters, hold time), calls, reactors, refs, properties, arenas and objects. The master
//! builds it ([`crate::Master::snapshot`]); any slave can ask for it
//! ([`crate::Slave::snapshot`]); [`WorldSnapshot::to_table`] renders it for people and serde
//! renders it as JSON for programs (`fusion-status --json`).
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("fusion-doc-status-{}", std::process::id()));
//! let mut master = fusion::Master::create(fusion::WorldConfig::new("status").runtime_dir(&dir)).unwrap();
//! master.skirmish_create("layer lock").unwrap();
//! let snap = master.snapshot();
//! assert_eq!(snap.locks[0].name, "layer lock");
//! assert!(snap.to_table().contains("layer lock"));
//! let json = serde_json::to_string(&snap).unwrap();
//! assert!(json.contains("\"fusionees\""));
//! ```

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::pool::PoolStats;
use crate::skirmish::SkirmishInfo;
use crate::wire::{CallId, FusioneeId, ObjectInfo, PropertyId, ReactorId, RefId};

/// A fusionee in the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FusioneeInfo {
    /// Fusionee id.
    pub id: FusioneeId,
    /// Process id.
    pub pid: u32,
    /// User id.
    pub uid: u32,
    /// Executable path.
    pub exe: String,
    /// Name it gave.
    pub name: String,
    /// `master` or `slave`.
    pub role: String,
    /// Milliseconds since it entered.
    pub joined_ms: u64,
    /// Reactors it is attached to.
    pub reactor_attachments: u32,
    /// Calls it waits on.
    pub calls_pending: u32,
}

/// A call in the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallInfo {
    /// Call id.
    pub id: CallId,
    /// Name.
    pub name: String,
    /// Owner (who handles it).
    pub owner: FusioneeId,
    /// Executions so far.
    pub executions: u64,
    /// Executions waiting for an answer.
    pub pending: u32,
}

/// A reactor in the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReactorInfo {
    /// Reactor id.
    pub id: ReactorId,
    /// Name.
    pub name: String,
    /// Creator.
    pub creator: FusioneeId,
    /// Largest message.
    pub msg_size: u32,
    /// Lossless (back-pressure) or lossy (overrun).
    pub lossless: bool,
    /// Subscribed fusionees.
    pub subscribers: Vec<FusioneeId>,
    /// Messages dispatched.
    pub dispatched: u64,
    /// Destroyed, waiting for its last subscriber to detach.
    pub destroyed: bool,
    /// Slave dispatches waiting for room in a full lossless ring (back-pressure).
    #[serde(default)]
    pub blocked_dispatches: u32,
}

/// A ref in the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefInfo {
    /// Ref id.
    pub id: RefId,
    /// Name.
    pub name: String,
    /// Total count (global + local + inherited).
    pub total: i64,
    /// Global count.
    pub global: i64,
    /// Local counts per fusionee.
    pub local: Vec<(FusioneeId, i64)>,
    /// Who holds its zero-lock.
    pub zero_locked_by: Option<FusioneeId>,
    /// Whether a watch is set.
    pub watched: bool,
    /// Fusionees waiting in a zero-lock.
    #[serde(default)]
    pub zero_waiters: Vec<FusioneeId>,
}

/// A property in the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PropertyInfo {
    /// Property id.
    pub id: PropertyId,
    /// Name.
    pub name: String,
    /// Available, leased or purchased (and by whom).
    pub state: String,
    /// Waiting fusionees.
    pub waiters: u32,
}

/// An arena in the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArenaInfo {
    /// Name.
    pub name: String,
    /// Fusionees that entered.
    pub members: Vec<FusioneeId>,
    /// Who is initialising it.
    pub initializing: Option<FusioneeId>,
    /// Field names.
    pub fields: Vec<String>,
    /// Fusionees waiting for the initialiser to finish.
    #[serde(default)]
    pub waiting: Vec<FusioneeId>,
}

/// Everything in a world at one moment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorldSnapshot {
    /// World name.
    pub world: String,
    /// Master pid.
    pub master_pid: u32,
    /// Master uptime.
    pub uptime_ms: u64,
    /// Fusionees, master first.
    pub fusionees: Vec<FusioneeInfo>,
    /// Pools.
    pub pools: Vec<PoolStats>,
    /// Locks in use.
    pub locks: Vec<SkirmishInfo>,
    /// Calls.
    pub calls: Vec<CallInfo>,
    /// Reactors.
    pub reactors: Vec<ReactorInfo>,
    /// Refs.
    pub refs: Vec<RefInfo>,
    /// Properties.
    pub properties: Vec<PropertyInfo>,
    /// Arenas.
    pub arenas: Vec<ArenaInfo>,
    /// Objects.
    pub objects: Vec<ObjectInfo>,
    /// What the master cleaned up after departed fusionees since it started.
    #[serde(default)]
    pub cleanup: CleanupStats,
}

/// What a master cleaned up after fusionees that left or died, counted since it started
/// (the crash cleanup the module docs of [`crate::Master`] describe, made visible).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupStats {
    /// Fusionees that left or died.
    pub departed: u64,
    /// Locks released because their owner departed holding them: each one's next locker is
    /// told `OwnerDied`.
    pub owner_died: u64,
    /// Calls answered `PeerGone` because their owner departed (or was gone when called).
    pub peer_gone: u64,
    /// Shared-memory blocks freed after their departed owner.
    pub blocks_reclaimed: u64,
    /// Bytes of those blocks.
    pub bytes_reclaimed: u64,
}

impl WorldSnapshot {
    /// Renders the snapshot as aligned tables, one section per kind.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "world {:?}  master pid {}  up {:.1} s",
            self.world,
            self.master_pid,
            self.uptime_ms as f64 / 1000.0
        );
        let c = &self.cleanup;
        let _ = writeln!(
            s,
            "cleanup: {} departed, {} locks released to OwnerDied, {} calls answered PeerGone, \
             {} blocks ({} bytes) reclaimed",
            c.departed, c.owner_died, c.peer_gone, c.blocks_reclaimed, c.bytes_reclaimed
        );
        section(
            &mut s,
            "fusionees",
            &[
                "id", "pid", "uid", "role", "name", "attached", "waiting", "exe",
            ],
            self.fusionees.iter().map(|f| {
                vec![
                    f.id.to_string(),
                    f.pid.to_string(),
                    f.uid.to_string(),
                    f.role.clone(),
                    f.name.clone(),
                    f.reactor_attachments.to_string(),
                    f.calls_pending.to_string(),
                    f.exe.clone(),
                ]
            }),
        );
        section(
            &mut s,
            "pools",
            &[
                "id",
                "name",
                "access",
                "size",
                "used",
                "blocks",
                "per owner (id:bytes)",
            ],
            self.pools.iter().map(|p| {
                vec![
                    p.id.to_string(),
                    p.name.clone(),
                    format!("{:?}", p.access),
                    p.size.to_string(),
                    p.used.to_string(),
                    p.allocations.to_string(),
                    p.owners
                        .iter()
                        .map(|(o, b, _)| format!("{o}:{b}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            }),
        );
        section(
            &mut s,
            "locks",
            &["index", "name", "owner", "count", "waiters", "held ms"],
            self.locks.iter().map(|l| {
                vec![
                    l.index.to_string(),
                    l.name.clone(),
                    l.owner.map_or("-".into(), |o| o.to_string()),
                    l.count.to_string(),
                    l.waiters.to_string(),
                    if l.owner.is_some() {
                        format!("{:.3}", l.held_ns as f64 / 1e6)
                    } else {
                        "-".into()
                    },
                ]
            }),
        );
        section(
            &mut s,
            "calls",
            &["id", "name", "owner", "executions", "pending"],
            self.calls.iter().map(|c| {
                vec![
                    c.id.to_string(),
                    c.name.clone(),
                    c.owner.to_string(),
                    c.executions.to_string(),
                    c.pending.to_string(),
                ]
            }),
        );
        section(
            &mut s,
            "reactors",
            &[
                "id",
                "name",
                "creator",
                "msg",
                "mode",
                "subscribers",
                "dispatched",
            ],
            self.reactors.iter().map(|r| {
                vec![
                    r.id.to_string(),
                    r.name.clone(),
                    r.creator.to_string(),
                    r.msg_size.to_string(),
                    if r.lossless { "lossless" } else { "lossy" }.into(),
                    format!("{:?}", r.subscribers),
                    r.dispatched.to_string(),
                ]
            }),
        );
        section(
            &mut s,
            "refs",
            &[
                "id",
                "name",
                "total",
                "global",
                "local",
                "zero-locked",
                "watched",
            ],
            self.refs.iter().map(|r| {
                vec![
                    r.id.to_string(),
                    r.name.clone(),
                    r.total.to_string(),
                    r.global.to_string(),
                    format!("{:?}", r.local),
                    r.zero_locked_by.map_or("-".into(), |o| o.to_string()),
                    r.watched.to_string(),
                ]
            }),
        );
        section(
            &mut s,
            "properties",
            &["id", "name", "state", "waiters"],
            self.properties.iter().map(|p| {
                vec![
                    p.id.to_string(),
                    p.name.clone(),
                    p.state.clone(),
                    p.waiters.to_string(),
                ]
            }),
        );
        section(
            &mut s,
            "arenas",
            &["name", "members", "initialising", "fields"],
            self.arenas.iter().map(|a| {
                vec![
                    a.name.clone(),
                    format!("{:?}", a.members),
                    a.initializing.map_or("-".into(), |o| o.to_string()),
                    a.fields.join(","),
                ]
            }),
        );
        section(
            &mut s,
            "objects",
            &["id", "class", "state", "reactor", "ref", "owners"],
            self.objects.iter().map(|o| {
                vec![
                    o.id.to_string(),
                    o.class.clone(),
                    format!("{:?}", o.state),
                    o.reactor.to_string(),
                    o.r#ref.to_string(),
                    format!("{:?}", o.owners),
                ]
            }),
        );
        s
    }
}

fn section(out: &mut String, title: &str, head: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.collect();
    let _ = writeln!(out, "\n{title} ({})", rows.len());
    if rows.is_empty() {
        return;
    }
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let _ = writeln!(out, "  {}", line(head.to_vec()));
    for r in &rows {
        let _ = writeln!(out, "  {}", line(r.iter().map(|s| s.as_str()).collect()));
    }
}

/// Enters `world` as a slave, fetches its snapshot and leaves.
pub fn fetch(world: crate::WorldConfig) -> crate::Result<WorldSnapshot> {
    let mut slave = crate::Slave::enter(world)?;
    let mut snap = slave.snapshot()?;
    // Leave ourselves out: we are only looking.
    let me = slave.id();
    snap.fusionees.retain(|f| f.id != me);
    Ok(snap)
}
