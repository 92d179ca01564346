//! `monbridge serve` under systemd: the notifications of `Type=notify` (sd_notify) read from
//! a socket standing in for systemd's, and the shipped unit checked by `systemd-analyze`.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::peers;
use crate::common::serve::{Serve, WAIT, request};
use crate::common::snmptrapd::free_udp_port;
use crate::common::{bin, repo_root};

/// The notification socket systemd passes in `NOTIFY_SOCKET`.
struct Notifications {
    socket: UnixDatagram,
}

impl Notifications {
    fn bind(path: &std::path::Path) -> Notifications {
        let socket = UnixDatagram::bind(path).expect("bind the notification socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        Notifications { socket }
    }

    /// Messages until one holds `line` (as a whole line); panics after [`WAIT`].
    fn until(&self, line: &str) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(length) = self.socket.recv(&mut buffer) {
                let message = String::from_utf8_lossy(&buffer[..length]).into_owned();
                let found = message.lines().any(|l| l == line);
                seen.push(message);
                if found {
                    return seen;
                }
            }
        }
        panic!("no {line} within {WAIT:?}; received {seen:?}");
    }
}

/// The daemon, killed if the test ends before it does.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success());
}

#[test]
fn the_daemon_tells_systemd_ready_watchdog_reloading_and_stopping() {
    let serve = Serve::new(&format!(
        "state_dir: state\nintakes:\n  http: {{listen: \"{{http}}\"}}\ndestinations:\n  \
         - name: nms\n    address: udp:127.0.0.1:{}\n",
        free_udp_port()
    ));
    let socket_path = serve.path("notify.sock");
    let notifications = Notifications::bind(&socket_path);
    let mut child = Killed(
        serve
            .command()
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "200000")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run monbridge serve"),
    );
    let child = &mut child.0;

    // READY=1 means the intakes listen: the HTTP endpoint answers at once.
    let ready = notifications.until("READY=1");
    let (status, _) = request(serve.http_url("/health"), "GET", None, Vec::new());
    assert_eq!(status, 200, "{ready:?}");
    notifications.until("WATCHDOG=1");

    kill(child.id(), "HUP");
    let reload = notifications.until("READY=1");
    let first = reload.first().expect("a message");
    assert!(first.lines().any(|l| l == "RELOADING=1"), "{reload:?}");
    assert!(
        first.lines().any(|l| l.starts_with("MONOTONIC_USEC=")),
        "{reload:?}"
    );

    kill(child.id(), "TERM");
    notifications.until("STOPPING=1");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

/// The shipped unit, with `/usr/bin/monbridge` pointed at this build: `systemd-analyze
/// verify` accepts it without a warning (an unknown or misspelt key is only a warning).
#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(repo_root().join("packaging/systemd/monbridge.service"))
        .expect("the unit");
    assert!(
        unit.contains("ExecStart=/usr/bin/monbridge serve --config /etc/monbridge/monbridge.yaml")
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("monbridge.service");
    let here = bin("monbridge").display().to_string();
    std::fs::write(&path, unit.replace("/usr/bin/monbridge", &here)).expect("write the unit");
    let output = peers::output(
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&path),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "{stderr}"
    );
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "DynamicUser=yes",
        "StateDirectory=monbridge",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ] {
        assert!(unit.contains(key), "the unit lacks {key:?}");
    }
}

/// The configuration the package installs starts the daemon as it is.
#[test]
fn the_shipped_configuration_checks() {
    let output = peers::output(
        Command::new(bin("monbridge"))
            .args(["serve", "--check-config", "--config"])
            .arg(repo_root().join("packaging/etc/monbridge.yaml"))
            .env_remove("MONBRIDGE_RULES"),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("intakes: http 127.0.0.1:8611"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
