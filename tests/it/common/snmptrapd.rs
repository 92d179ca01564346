//! net-snmp `snmptrapd` as a real test peer.
//!
//! Each [`Snmptrapd`] runs its own daemon on a free 127.0.0.1 UDP port, with a fresh
//! `SNMP_PERSISTENT_DIR` and only its own configuration (`-C -c`), and prints one line per
//! notification (a format of ours, see [`FORMAT`]) that [`Notification::parse`] reads back.
//! The process is killed when the value is dropped. If `snmptrapd` is not installed the
//! tests fail, saying which package to install.

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Marks our notification lines among snmptrapd's own log lines.
const MARK: &str = "MONBRIDGE-TEST-NOTIFICATION";
/// Separates varbinds (`%V`): a control character no value we send contains.
const VARBIND_SEPARATOR: char = '\u{1f}';
/// How long the daemon may take to say it listens.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// One line per notification, tab-separated: mark, `%s` version (0 = v1, 1 = v2c, 3 = v3),
/// `%P` security ("TRAP2, SNMP v2c, community public"), `%a` v1 agent-addr, `%N` v1 enterprise,
/// `%w` generic trap, `%q` specific trap, `%T` v1 time-stamp, then every varbind (`%v`).
fn format() -> String {
    format!("{MARK}\\t%s\\t%P\\t%a\\t%N\\t%w\\t%q\\t%T\\t%V{VARBIND_SEPARATOR}%v\\n")
}

/// How to run the daemon.
#[derive(Debug, Clone, Default)]
pub struct SnmptrapdOptions {
    /// `-M`: folders of MIB files.
    pub mib_dirs: Vec<PathBuf>,
    /// `-m`: MIB modules to load (none by default, so names are numeric).
    pub mib_modules: Vec<String>,
    /// Print OIDs symbolically (needs MIBs) instead of numerically (`-On`).
    pub symbolic: bool,
    /// Extra `snmptrapd.conf` lines (e.g. `createUser ...`).
    pub config_lines: Vec<String>,
}

/// One varbind as snmptrapd printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedVarBind {
    /// As printed: `.1.3.6.1.2.1.1.3.0` with `-On`, or a symbolic name.
    pub oid: String,
    /// net-snmp's type label: `STRING`, `INTEGER`, `Gauge32`, `Counter32`, `Counter64`,
    /// `Timeticks`, `IpAddress`, `OID`, `Hex-STRING`.
    pub type_name: String,
    /// The value, with the quotes and escapes of strings removed.
    pub value: String,
}

/// One notification as snmptrapd printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub version: String,
    pub security: String,
    pub agent_addr: String,
    pub enterprise: String,
    pub generic_trap: String,
    pub specific_trap: String,
    pub uptime: String,
    pub varbinds: Vec<ReceivedVarBind>,
}

impl Notification {
    /// Reads one of our lines; `None` for snmptrapd's other output.
    pub fn parse(line: &str) -> Option<Notification> {
        let rest = line.strip_prefix(MARK)?.strip_prefix('\t')?;
        let fields: Vec<&str> = rest.splitn(8, '\t').collect();
        let [
            version,
            security,
            agent_addr,
            enterprise,
            generic,
            specific,
            uptime,
            varbinds,
        ] = fields.as_slice()
        else {
            return None;
        };
        let varbinds = varbinds
            .split(VARBIND_SEPARATOR)
            .filter(|text| !text.is_empty())
            .map(parse_varbind)
            .collect::<Option<Vec<_>>>()?;
        Some(Notification {
            version: version.to_string(),
            security: security.to_string(),
            agent_addr: agent_addr.to_string(),
            enterprise: enterprise.to_string(),
            generic_trap: generic.to_string(),
            // net-snmp prints the specific trap of v1 traps with a leading dot.
            specific_trap: specific.trim_start_matches('.').to_string(),
            uptime: uptime.to_string(),
            varbinds,
        })
    }

    /// The value of the varbind named `oid`.
    pub fn varbind(&self, oid: &str) -> Option<&ReceivedVarBind> {
        self.varbinds.iter().find(|varbind| varbind.oid == oid)
    }
}

/// `OID = TYPE: VALUE`; net-snmp prints an empty string as `OID = ""`.
fn parse_varbind(text: &str) -> Option<ReceivedVarBind> {
    let (oid, printed) = text.split_once(" = ")?;
    let (type_name, value) = if printed == "\"\"" {
        ("STRING", printed)
    } else {
        printed.split_once(": ")?
    };
    let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(quoted) => unescape(quoted),
        None => value.trim_end().to_owned(),
    };
    Some(ReceivedVarBind {
        oid: oid.to_owned(),
        type_name: type_name.to_owned(),
        value,
    })
}

fn unescape(quoted: &str) -> String {
    let mut text = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => text.extend(chars.next()),
            other => text.push(other),
        }
    }
    text
}

#[derive(Default)]
struct Output {
    lines: Vec<String>,
    stdout_closed: bool,
}

type Shared = Arc<(Mutex<Output>, Condvar)>;

/// A running snmptrapd, killed on drop.
pub struct Snmptrapd {
    child: Child,
    port: u16,
    output: Shared,
    _state: tempfile::TempDir,
}

impl Snmptrapd {
    /// A daemon with numeric OIDs and no MIBs.
    pub fn start() -> Snmptrapd {
        Snmptrapd::start_with(&SnmptrapdOptions::default())
    }

    pub fn start_with(options: &SnmptrapdOptions) -> Snmptrapd {
        // The port is found free, then given to snmptrapd; another process may take it in
        // between, so a daemon that could not listen is retried on another port.
        let mut failures = Vec::new();
        for _ in 0..5 {
            match Snmptrapd::try_start(options) {
                Ok(daemon) => return daemon,
                Err(output) => failures.push(output),
            }
        }
        panic!(
            "snmptrapd did not start listening; its output:\n{}",
            failures.join("\n---\n")
        );
    }

    /// A daemon with numeric OIDs on a given port (one a sender was already told about).
    pub fn start_on(port: u16) -> Snmptrapd {
        match Snmptrapd::try_start_on(&SnmptrapdOptions::default(), port) {
            Ok(daemon) => daemon,
            Err(output) => panic!("snmptrapd did not start listening on {port}:\n{output}"),
        }
    }

    fn try_start(options: &SnmptrapdOptions) -> Result<Snmptrapd, String> {
        Snmptrapd::try_start_on(options, free_udp_port())
    }

    fn try_start_on(options: &SnmptrapdOptions, port: u16) -> Result<Snmptrapd, String> {
        let state = tempfile::tempdir().expect("cannot create a temporary folder");
        let config = state.path().join("snmptrapd.conf");
        let mut config_text = String::from("disableAuthorization yes\n");
        for line in &options.config_lines {
            config_text.push_str(line);
            config_text.push('\n');
        }
        std::fs::write(&config, config_text).expect("cannot write snmptrapd.conf");

        let mut command = Command::new("snmptrapd");
        command
            .env("SNMP_PERSISTENT_DIR", state.path().join("persist"))
            .env_remove("MIBS")
            .env_remove("MIBDIRS")
            .args(["-f", "-Lo", "-n", "-C", "-c"])
            .arg(&config);
        if !options.mib_dirs.is_empty() {
            let dirs: Vec<String> = options
                .mib_dirs
                .iter()
                .map(|dir| dir.display().to_string())
                .collect();
            command.arg("-M").arg(dirs.join(":"));
        }
        command.arg("-m").arg(options.mib_modules.join(":"));
        if !options.symbolic {
            command.arg("-On");
        }
        command
            .arg("-F")
            .arg(format())
            .arg(format!("udp:127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = super::peers::spawn(&mut command);

        let output: Shared = Arc::default();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        spawn_reader(stdout, Arc::clone(&output), true);
        spawn_reader(stderr, Arc::clone(&output), false);

        let mut daemon = Snmptrapd {
            child,
            port,
            output,
            _state: state,
        };
        if daemon.wait_for_line(|line| line.contains("NET-SNMP version"), READY_TIMEOUT) {
            Ok(daemon)
        } else {
            let _ = daemon.child.kill();
            Err(daemon.output().join("\n"))
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address to give monbridge: `udp:127.0.0.1:PORT`.
    pub fn destination(&self) -> String {
        format!("udp:127.0.0.1:{}", self.port)
    }

    /// Every line snmptrapd printed so far (stdout and stderr), for failure messages.
    pub fn output(&self) -> Vec<String> {
        lock(&self.output).lines.clone()
    }

    /// Every notification received so far.
    pub fn notifications(&self) -> Vec<Notification> {
        lock(&self.output)
            .lines
            .iter()
            .filter_map(|line| Notification::parse(line))
            .collect()
    }

    /// The first notification that satisfies `predicate`, waiting at most `timeout` for it.
    pub fn wait_for(
        &self,
        predicate: impl Fn(&Notification) -> bool,
        timeout: Duration,
    ) -> Option<Notification> {
        let found = |output: &Output| {
            output
                .lines
                .iter()
                .filter_map(|line| Notification::parse(line))
                .find(|notification| predicate(notification))
        };
        let deadline = Instant::now() + timeout;
        let (mutex, condvar) = &*self.output;
        let mut output = mutex.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(notification) = found(&output) {
                return Some(notification);
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() || output.stdout_closed {
                return None;
            }
            output = condvar
                .wait_timeout(output, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Whether a line satisfying `predicate` is printed within `timeout`.
    pub fn wait_for_line(&self, predicate: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (mutex, condvar) = &*self.output;
        let mut output = mutex.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if output.lines.iter().any(|line| predicate(line)) {
                return true;
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() || output.stdout_closed {
                return false;
            }
            output = condvar
                .wait_timeout(output, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Snmptrapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lock(output: &Shared) -> std::sync::MutexGuard<'_, Output> {
    output.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// Collects a stream's lines; snmptrapd may print bytes that are not UTF-8, kept lossily.
fn spawn_reader(stream: impl Read + Send + 'static, output: Shared, is_stdout: bool) {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line)
                        .trim_end_matches(['\n', '\r'])
                        .to_owned();
                    lock(&output).lines.push(text);
                    output.1.notify_all();
                }
            }
        }
        if is_stdout {
            lock(&output).stdout_closed = true;
            output.1.notify_all();
        }
    });
}

/// A UDP port nobody listens on right now.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .map(|address| address.port())
        .expect("cannot bind a UDP socket on 127.0.0.1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_our_format() {
        let line = format!(
            "{MARK}\t0\tTRAP, SNMP v1, community public\t127.0.0.1\t.1.3.6.1.4.1.39059.1\t6\t.3\t555\t\
             .1.3.6.1.4.1.39059.1.1.1.1.1 = STRING: \"tab\tin \\\"q\\\"\"{VARBIND_SEPARATOR}\
             .1.3.6.1.4.1.39059.1.1.1.1.2 = \"\"{VARBIND_SEPARATOR}\
             .1.3.6.1.4.1.39059.1.1.1.1.3 = Hex-STRING: 00 FF 10 "
        );
        let notification = Notification::parse(&line).unwrap();
        assert_eq!(notification.specific_trap, "3");
        assert_eq!(notification.varbinds.len(), 3);
        assert_eq!(notification.varbinds[0].value, "tab\tin \"q\"");
        assert_eq!(notification.varbinds[1].value, "");
        assert_eq!(notification.varbinds[2].type_name, "Hex-STRING");
        assert_eq!(notification.varbinds[2].value, "00 FF 10");
        assert_eq!(Notification::parse("NET-SNMP version 5.9.3"), None);
    }
}
