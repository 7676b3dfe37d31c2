//! A PostgreSQL primary and a hot standby streaming from it, of one test's own:
//! `scripts/pg-standby.sh` in a scratch directory on two free ports (so runs in other checkouts
//! do not meet), stopped and removed when the [`Pair`] is dropped, a failed test included.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The script that builds the pair (also for people: see its header).
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg-standby.sh");

/// Why a pair cannot be built here (`pg-standby.sh check`: PostgreSQL's server binaries, and
/// `runuser` and the user `postgres` when running as root), or `None`.
pub fn missing() -> Option<String> {
    match Command::new("bash").args([SCRIPT, "check"]).output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => {
            let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
            Some(if said.is_empty() {
                format!(
                    "{SCRIPT} check failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            } else {
                said
            })
        }
        Err(e) => Some(format!("bash {SCRIPT}: {e}")),
    }
}

/// A running primary and standby; both stop, and their directory goes, when this is dropped.
pub struct Pair {
    /// The primary's `stats` database, as the superuser `postgres`.
    pub primary_url: String,
    /// The same database on the standby.
    pub standby_url: String,
    pub dir: PathBuf,
    ports: (u16, u16),
}

impl Pair {
    /// Builds and starts a fresh pair (blocking: run it off the async runtime's thread).
    pub fn start() -> Self {
        remove_orphans();
        let dir = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
        // A port found free can be taken before the server binds it; then try others.
        let mut failures = Vec::new();
        for _ in 0..3 {
            let mut pair = Pair {
                primary_url: String::new(),
                standby_url: String::new(),
                dir: dir.clone(),
                ports: free_ports(),
            };
            let out = pair.script("start");
            if out.status.success() {
                let stdout = String::from_utf8_lossy(&out.stdout);
                for line in stdout.lines() {
                    if let Some(url) = line.strip_prefix("PRIMARY_URL=") {
                        pair.primary_url = url.to_string();
                    } else if let Some(url) = line.strip_prefix("STANDBY_URL=") {
                        pair.standby_url = url.to_string();
                    }
                }
                assert!(
                    !pair.primary_url.is_empty() && !pair.standby_url.is_empty(),
                    "{SCRIPT} start printed no URLs: {stdout}"
                );
                return pair;
            }
            failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
            // Dropping `pair` stops whatever did start and removes the directory.
        }
        panic!(
            "{SCRIPT} start failed three times:\n{}",
            failures.join("\n")
        );
    }

    fn script(&self, command: &str) -> Output {
        Command::new("bash")
            .args([SCRIPT, command])
            .env("STATS_PG_STANDBY_DIR", &self.dir)
            .env("STATS_PG_PRIMARY_PORT", self.ports.0.to_string())
            .env("STATS_PG_STANDBY_PORT", self.ports.1.to_string())
            .output()
            .unwrap_or_else(|e| panic!("bash {SCRIPT} {command}: {e}"))
    }

    /// The standby server's log so far.
    pub fn standby_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("standby.log")).unwrap_or_default()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let out = self.script("stop");
        if !out.status.success() {
            eprintln!(
                "{SCRIPT} stop failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The name of a pair's directory in the temp dir, before the test process's id.
const PREFIX: &str = "stats-pg-standby-";

/// Stops and removes the pairs of test processes that no longer run (killed before their
/// [`Pair`] was dropped), so that their servers do not outlive them for good.
fn remove_orphans() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new("/proc").join(pid).exists() {
            // The script refuses a directory it did not make.
            let _ = Command::new("bash")
                .args([SCRIPT, "stop"])
                .env("STATS_PG_STANDBY_DIR", entry.path())
                .output();
        }
    }
}

/// Two distinct ports that are free on loopback at this moment.
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let b = std::net::TcpListener::bind("127.0.0.1:0").expect("another free port");
    (
        a.local_addr().expect("port").port(),
        b.local_addr().expect("port").port(),
    )
}
