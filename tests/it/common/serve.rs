//! `monbridge serve` as a real process: a configuration in a temporary folder, the daemon's
//! stderr collected line by line, HTTP posts to its intake, signals, `kill -9`. Every wait is
//! bounded; the process is killed when the value is dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::bin;
use super::snmptrapd::Notification;

/// How long the daemon may take to start, stop or show a log line.
pub const WAIT: Duration = Duration::from_secs(20);

/// A TCP port nobody listens on right now, on 127.0.0.1.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("cannot bind a TCP socket on 127.0.0.1")
}

#[derive(Default)]
struct Log {
    lines: Vec<String>,
    closed: bool,
}

type SharedLog = Arc<(Mutex<Log>, Condvar)>;

/// A folder with `monbridge.yaml`, its state directory, and the daemon when running.
pub struct Serve {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    log: SharedLog,
    /// The HTTP intake address, when the configuration has one.
    pub http: Option<String>,
    /// Open files the daemon may have (`ulimit -n`), when limited.
    pub fd_limit: Option<u32>,
}

impl Serve {
    /// Writes the configuration (`log_level: info` is added; `{http}` in it is replaced by a
    /// free local address) without starting the daemon.
    pub fn new(config: &str) -> Serve {
        let dir = tempfile::tempdir().expect("temporary folder");
        let http = config
            .contains("{http}")
            .then(|| format!("127.0.0.1:{}", free_tcp_port()));
        let mut text = config.to_owned();
        if let Some(address) = &http {
            text = text.replace("{http}", address);
        }
        if !text.contains("log_level") {
            text.push_str("log_level: info\n");
        }
        std::fs::write(dir.path().join("monbridge.yaml"), text).expect("write the configuration");
        Serve {
            dir,
            child: None,
            log: SharedLog::default(),
            http,
            fd_limit: None,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("monbridge.yaml")
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// `monbridge serve` on this configuration, in a clean environment, not started.
    pub fn command(&self) -> Command {
        let mut command = match self.fd_limit {
            // The shell sets the limit, then becomes the daemon.
            Some(limit) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(bin("monbridge"));
                shell
            }
            None => Command::new(bin("monbridge")),
        };
        command
            .args(["serve", "--config"])
            .arg(self.config_path())
            .env_remove("MONBRIDGE_LOG")
            .env_remove("MONBRIDGE_RULES")
            .env("NO_COLOR", "1");
        command
    }

    /// Starts the daemon and waits until it says it is ready (and, with an HTTP intake, until
    /// that answers).
    pub fn start(&mut self) {
        self.start_with_stdin(Stdio::null());
    }

    pub fn start_with_stdin(&mut self, stdin: Stdio) {
        self.spawn(stdin, |_| {});
    }

    /// Starts the daemon with its command adjusted (an environment variable, say).
    pub fn start_with(&mut self, configure: impl FnOnce(&mut Command)) {
        self.spawn(Stdio::null(), configure);
    }

    fn spawn(&mut self, stdin: Stdio, configure: impl FnOnce(&mut Command)) {
        assert!(self.child.is_none(), "the daemon is already running");
        self.log = SharedLog::default();
        let mut command = self.command();
        configure(&mut command);
        let mut child = command
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run monbridge serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            let reader = BufReader::new(stderr);
            for line in reader.lines() {
                let Ok(line) = line else { break };
                let (mutex, condvar) = &*log;
                mutex.lock().unwrap().lines.push(line);
                condvar.notify_all();
            }
            let (mutex, condvar) = &*log;
            mutex.lock().unwrap().closed = true;
            condvar.notify_all();
        });
        self.child = Some(child);
        assert!(
            self.wait_for_log(|line| line.contains("monbridge serve ready"), WAIT),
            "the daemon did not start:\n{}",
            self.log_text()
        );
    }

    /// The stdin of the running daemon, when started with a piped one.
    pub fn stdin(&mut self) -> std::process::ChildStdin {
        self.child
            .as_mut()
            .and_then(|child| child.stdin.take())
            .expect("started with a piped stdin")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal by name (`HUP`, `TERM`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// SIGTERM, then waits for the exit; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        self.signal("TERM");
        self.wait_exit()
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_exit(&mut self) -> Option<i32> {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait().expect("wait for the daemon") {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the daemon did not exit:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.0.lock().unwrap().lines.join("\n")
    }

    /// Waits for a stderr line (of this run) that satisfies `predicate`.
    pub fn wait_for_log(&self, predicate: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        self.wait_for_logs(predicate, 1, timeout)
    }

    /// Waits until `count` stderr lines satisfy `predicate`.
    pub fn wait_for_logs(
        &self,
        predicate: impl Fn(&str) -> bool,
        count: usize,
        timeout: Duration,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let (mutex, condvar) = &*self.log;
        let mut log = mutex.lock().unwrap();
        loop {
            if log.lines.iter().filter(|line| predicate(line)).count() >= count {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || log.closed {
                return false;
            }
            log = condvar.wait_timeout(log, left).unwrap().0;
        }
    }

    /// Posts a body to the HTTP intake; the status and the body of the answer.
    pub fn post(&self, content_type: &str, body: impl Into<Vec<u8>>) -> (u16, String) {
        request(
            self.http_url("/audit"),
            "POST",
            Some(content_type),
            body.into(),
        )
    }

    pub fn http_url(&self, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.http.as_ref().expect("an HTTP intake")
        )
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One HTTP request with a bounded time; `(0, error)` when there is no answer.
pub fn request(
    url: String,
    method: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    let mut builder = match method {
        "GET" => client.get(url),
        "PUT" => client.put(url),
        _ => client.post(url),
    };
    if let Some(content_type) = content_type {
        builder = builder.header("Content-Type", content_type);
    }
    match builder.body(body).send() {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().unwrap_or_default())
        }
        Err(error) => (0, error.to_string()),
    }
}

/// Writes `text` to a file, creating its folder.
pub fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file.sync_all().unwrap();
}

/// The value of the PMC-MIB object `index` (1.3.6.1.4.1.39059.1.1.1.1.<index>) as received.
pub fn object(notification: &Notification, index: u32) -> Option<String> {
    notification
        .varbind(&format!(".1.3.6.1.4.1.39059.1.1.1.1.{index}"))
        .map(|varbind| varbind.value.clone())
}

/// Polls `notifications` until `done` says so or `timeout` passes; the last list seen.
pub fn wait_until(
    notifications: impl Fn() -> Vec<Notification>,
    done: impl Fn(&[Notification]) -> bool,
    timeout: Duration,
) -> (bool, Vec<Notification>) {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = notifications();
        if done(&seen) {
            return (true, seen);
        }
        if Instant::now() > deadline {
            return (false, seen);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
