//! fusionfb on a board: the master and its applications, started in the guest's background
//! in the world [`WORLD`], and what the master says is on its display.
//!
//! [`Board::start_master`] writes a config into the guest and starts `fusionfb run` with it
//! (`RUST_LOG=info`, so its log names the backend, the mode and each input device), then
//! waits until `fusionfb status` reaches it. [`Board::start_app`] starts an application and
//! waits until the master shows one more window; [`Board::windows`] lists them (the
//! `display.windows` of `fusionfb status --json`); [`Board::stop`] ends a background process
//! and waits until it is gone; [`plain`] strips colour from a log.

use std::time::Duration;

use super::{Background, Board, BoardError, BoardErrorKind};

/// The world the board's master serves.
pub const WORLD: &str = "board";

/// How long a master or an application may take to come up under software emulation.
const START: Duration = Duration::from_secs(60);

impl Board {
    /// Writes `config` (TOML) to `/tmp/fusionfb.toml` in the guest, starts
    /// `fusionfb run --config /tmp/fusionfb.toml` in the world [`WORLD`] and returns once
    /// `fusionfb status` answers (a master that exits first fails with its log).
    pub fn start_master(&mut self, config: &str) -> Result<Background, BoardError> {
        self.start_master_with(config, "")
    }

    /// [`start_master`](Self::start_master) with extra environment for the master: `env` is
    /// put before the command as it is (`"SMITHAY_USE_LEGACY=1"`, say).
    pub fn start_master_with(&mut self, config: &str, env: &str) -> Result<Background, BoardError> {
        self.write_file("/tmp/fusionfb.toml", config.as_bytes())?;
        let master = self.spawn(&format!(
            "RUST_LOG=info NO_COLOR=1 {env} exec fusionfb --world {WORLD} run --config /tmp/fusionfb.toml"
        ))?;
        self.wait_while_running(
            &master,
            "the master",
            "the master to answer `fusionfb status`",
            |b| {
                Ok(
                    b.run(&format!("fusionfb --world {WORLD} status >/dev/null"))?
                        .success(),
                )
            },
        )?;
        Ok(master)
    }

    /// Starts `cmd` (an application; `FUSIONFB_WORLD` is set to [`WORLD`]) and returns once
    /// the master shows more windows than before.
    pub fn start_app(&mut self, cmd: &str) -> Result<Background, BoardError> {
        let before = self.windows()?.len();
        let app = self.spawn(&format!("FUSIONFB_WORLD={WORLD} exec {cmd}"))?;
        let what = format!("`{cmd}`");
        self.wait_while_running(&app, &what, &format!("a window from {what}"), |b| {
            Ok(b.windows()?.len() > before)
        })?;
        Ok(app)
    }

    /// Waits up to [`START`] for `done`, failing with `bg`'s output (`name` says whose) as
    /// soon as `bg` ends first.
    fn wait_while_running(
        &mut self,
        bg: &Background,
        name: &str,
        what: &str,
        mut done: impl FnMut(&mut Board) -> Result<bool, BoardError>,
    ) -> Result<(), BoardError> {
        self.wait_until(START, what, |b| {
            if done(b)? {
                return Ok(Some(()));
            }
            if !b.running(bg)? {
                let log = b.log(bg)?;
                return Err(b.fail(
                    BoardErrorKind::Agent,
                    format_args!("{name} ended; its output:\n{log}"),
                ));
            }
            Ok(None)
        })
    }

    /// The windows on the master's display, bottom to top, as `fusionfb status --json`
    /// describes them (`x`, `y`, `width`, `height`, `owner`, …).
    pub fn windows(&mut self) -> Result<Vec<serde_json::Value>, BoardError> {
        let out = self.run(&format!("fusionfb --world {WORLD} status --json"))?;
        if !out.success() {
            return Err(self.fail(
                BoardErrorKind::Agent,
                format_args!("fusionfb status: {out}"),
            ));
        }
        let v: serde_json::Value = serde_json::from_str(&out.stdout).map_err(|e| {
            self.fail(
                BoardErrorKind::Agent,
                format_args!("fusionfb status --json: {e}: {out}"),
            )
        })?;
        Ok(v["display"]["windows"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Switches the guest's console to VT `n` the way `chvt` does (`VT_ACTIVATE`, then
    /// `VT_WAITACTIVE`, through perl: the rootfs has no `kbd`), within 20 s.
    pub fn chvt(&mut self, n: u32) -> Result<(), BoardError> {
        let out = self.run_timeout(
            &format!(
                "perl -e 'open(my $t, \"+<\", \"/dev/tty0\") or die \"tty0: $!\"; \
                 ioctl($t, 0x5606, {n}) or die \"VT_ACTIVATE: $!\"; \
                 ioctl($t, 0x5607, {n}) or die \"VT_WAITACTIVE: $!\"'"
            ),
            START / 3,
        )?;
        if !out.success() {
            return Err(self.fail(BoardErrorKind::Agent, format_args!("chvt {n}: {out}")));
        }
        Ok(())
    }

    /// Sends SIGTERM to a background process (SIGKILL with `kill`) and waits until it is
    /// gone.
    pub fn stop(&mut self, bg: &Background, kill: bool) -> Result<(), BoardError> {
        let sig = if kill { "KILL" } else { "TERM" };
        self.run(&format!("kill -{sig} {}", bg.pid))?;
        // Gone, or a zombie nobody reaped yet (its windows are gone all the same).
        let alive = format!(
            "kill -0 {pid} && ! sed -n 's/.*) \\(.\\).*/\\1/p' /proc/{pid}/stat | grep -qx Z",
            pid = bg.pid
        );
        self.wait_until(START, &format!("`{}` to end", bg.cmd), |b| {
            Ok((!b.run(&alive)?.success()).then_some(()))
        })
    }
}

/// `text` without ANSI colour sequences (`ESC [ … m`), for matching log lines whatever
/// the logger's colour setting.
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
