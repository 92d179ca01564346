//! systemd service notifications (`Type=notify`, sd_notify(3)): `READY=1` once every intake
//! listens, `RELOADING=1` then `READY=1` around a SIGHUP reload, `STOPPING=1` when draining
//! starts, and `WATCHDOG=1` keep-alives while `WatchdogSec=` is set. Outside systemd
//! (`NOTIFY_SOCKET` unset) every call does nothing.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    // A lost notification is systemd's to time out on; the daemon goes on either way.
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!("cannot notify systemd: {error}");
    }
}

/// Every intake listens: systemd may start what comes after the unit.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A SIGHUP reload starts; [`ready`] ends it. systemd 253 and later want the monotonic clock
/// with it, to match the reload to the `ExecReload=` that asked for it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// Draining has started.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// Sends `WATCHDOG=1` at half the `WatchdogSec=` interval, each after `probe` returns: a
/// probe that blocks (a lock held forever) stops the keep-alives, and systemd's watchdog
/// restarts the daemon. Stops when dropped.
pub struct Watchdog {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// `None` when systemd set no watchdog for this process.
    pub fn start(probe: impl Fn() + Send + 'static) -> Option<Watchdog> {
        let interval = sd_notify::watchdog_enabled()? / 2;
        Some(Self::every(interval, probe))
    }

    fn every(interval: Duration, probe: impl Fn() + Send + 'static) -> Watchdog {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    probe();
                    send(&[NotifyState::Watchdog]);
                }
            });
        match thread {
            Ok(thread) => Watchdog {
                stop: Some(stop),
                thread: Some(thread),
            },
            Err(error) => {
                // systemd restarts the daemon when the first keep-alive is missed: say why.
                tracing::error!("cannot start the watchdog thread: {error}");
                Watchdog {
                    stop: None,
                    thread: None,
                }
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
