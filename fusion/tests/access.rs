//! Who may reach a world: a group world opens directories an earlier master left closed, and
//! a user kept out — by the file system or by the master's policy — is told why and what to
//! change.
//!
//! The children run under another uid (65534), which only root can do; as another user these
//! tests print a `SKIPPED:` line and pass.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use fusion::{Error, Master, Slave, WorldConfig};
use fusion_testing::*;

const NOBODY: u32 = 65534;

/// Entry point of child processes (see `fusion_testing::spawn`).
#[test]
#[ignore]
fn child_main() {
    let Ok(role) = std::env::var("FUSION_TEST_ROLE") else {
        return;
    };
    let w = child_world();
    match role.as_str() {
        // Enters and checks the outcome against FUSION_TEST_EXPECT: "admitted",
        // "refused:<texts>" (the master's policy) or "denied:<texts>" (the file system), the
        // texts `|`-separated, each of which the error must contain.
        "enter" => {
            let expect = std::env::var("FUSION_TEST_EXPECT").unwrap();
            let got = Slave::enter(w);
            let texts = |msg: &str, texts: &str| {
                for t in texts.split('|') {
                    assert!(msg.contains(t), "{msg:?} does not name {t:?}");
                }
            };
            match (expect.split_once(':'), got) {
                (None, Ok(mut s)) if expect == "admitted" => s.ping().unwrap(),
                (Some(("refused", t)), Err(Error::Refused(msg))) => texts(&msg, t),
                (Some(("denied", t)), Err(Error::Access(msg))) => texts(&msg, t),
                (_, got) => panic!("expected {expect}, got {got:?}"),
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// Whether this process may run children as other users that reach its worlds; prints the
/// skip line (past the harness's capture) if not.
fn can_switch_users(test: &str) -> bool {
    if !rustix::process::getuid().is_root() {
        note(&format!(
            "SKIPPED: {test}: needs root to run a child under another uid"
        ));
        return false;
    }
    if let Some(why) = other_users_cannot_reach(&world("probe")) {
        note(&format!("SKIPPED: {test}: {why}"));
        return false;
    }
    true
}

/// Runs a child `enter` as `uid`/`gid`, expecting `expect`; the master serves meanwhile.
fn enter_as(m: &mut Master, w: &WorldConfig, uid: u32, gid: u32, expect: &str) {
    let mut p = spawn_as(
        "enter",
        w,
        &[("FUSION_TEST_EXPECT", expect.to_string())],
        uid,
        gid,
    )
    .expect("can_switch_users checked that other users reach the world");
    let mut status = None;
    pump(m, "the child enters", |_| {
        status = p.child.try_wait().unwrap();
        status.is_some()
    });
    assert!(
        status.unwrap().success(),
        "child as uid {uid} gid {gid} did not see {expect} (see its stderr)"
    );
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A world in a base directory of its own, inside this process's test directory (which
/// the other users may traverse).
fn own_base(tag: &str) -> WorldConfig {
    let w = world(tag);
    let top = w.base_dir();
    std::fs::create_dir_all(&top).unwrap();
    chmod(&top, 0o711);
    let base = top.join(format!("{}-base", w.name));
    w.runtime_dir(base)
}

/// Becomes the master of `w` again, just after an earlier master of it was dropped. The
/// other test of this binary spawns children meanwhile, and a child forked between the drop
/// and its `exec` still holds the world's lock (the open file it shares) for that moment:
/// `WorldBusy` then means "try again", up to a second.
fn create_again(w: &WorldConfig) -> Master {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match Master::create(w.clone()) {
            Err(Error::WorldBusy(_)) if std::time::Instant::now() < end => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            m => return m.unwrap(),
        }
    }
}

#[test]
fn a_group_master_opens_a_base_dir_an_earlier_master_left_closed() {
    if !can_switch_users("a_group_master_opens_a_base_dir_an_earlier_master_left_closed") {
        return;
    }
    let group = 46_124;
    // An earlier master without a group made the base and world directories 0700.
    let w = own_base("reopen");
    drop(Master::create(w.clone()).unwrap());
    assert_eq!(mode(&w.base_dir()), 0o700);
    assert_eq!(mode(&w.dir()), 0o700);
    // A group master takes the world over: the base directory gets o+x (it does not belong
    // to the group, so g+x would not do), the world directory is the group's, 0770, and a
    // member is admitted.
    let w = w.group(group);
    let mut m = create_again(&w);
    assert_eq!(mode(&w.base_dir()), 0o701);
    assert_eq!(mode(&w.dir()), 0o770);
    assert_eq!(std::fs::metadata(w.dir()).unwrap().gid(), group);
    enter_as(&mut m, &w, NOBODY, group, "admitted");
    assert!(m.fusionees().is_empty());
    drop(m);
    // Without a group again, the world directory is closed again.
    let w = WorldConfig { group: None, ..w };
    drop(create_again(&w));
    assert_eq!(mode(&w.dir()), 0o700);
}

#[test]
fn refusals_name_the_reason_and_the_remedy() {
    if !can_switch_users("refusals_name_the_reason_and_the_remedy") {
        return;
    }
    // A same-uid world: the file system keeps others out, and the slave says which
    // directory and what would let it in.
    let w = own_base("denied");
    let mut m = Master::create(w.clone()).unwrap();
    enter_as(
        &mut m,
        &w,
        NOBODY,
        NOBODY,
        &format!(
            "denied:{}|uid {NOBODY}|[world] group = \"video\"|member",
            w.base_dir().display()
        ),
    );
    // Its directories opened by hand, the master's policy still refuses, and says how to
    // admit a group.
    chmod(&w.base_dir(), 0o711);
    chmod(&w.dir(), 0o777);
    chmod(&w.socket_path(), 0o777);
    enter_as(
        &mut m,
        &w,
        NOBODY,
        NOBODY,
        &format!("refused:uid {NOBODY}|[world] group = \"video\"|master's config"),
    );
    // A group world refuses non-members and says to join the group.
    let group = 46_125;
    let w = own_base("not-member").group(group);
    let mut m = Master::create(w.clone()).unwrap();
    chmod(&w.dir(), 0o777);
    chmod(&w.socket_path(), 0o777);
    enter_as(
        &mut m,
        &w,
        NOBODY,
        NOBODY,
        &format!("refused:uid {NOBODY}|gid {group}|usermod -aG"),
    );
    assert!(m.fusionees().is_empty());
}
