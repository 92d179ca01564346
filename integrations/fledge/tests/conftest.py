"""Peers for the plugin's tests: a real `monbridge serve` daemon and net-snmp's snmptrapd as
its manager, each in a temporary folder, on 127.0.0.1 only, started as the Rust integration
tests start them (tests/it/common/{serve,snmptrapd}.rs). Every wait is bounded."""

import importlib
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
PLUGIN_DIR = REPO_ROOT / "integrations/fledge/python/fledge/plugins/notificationDelivery/monbridge"
FIXTURES = REPO_ROOT / "tests/fixtures/fledge/notification"

# The token the daemon's intake asks for, and the plugin sends unless a test says otherwise.
TOKEN = "plugin-test-token-0123456789"
TLS_FIXTURES = REPO_ROOT / "tests/fixtures/tls"

# How long a peer may take to start or a notification to arrive.
WAIT_S = 20.0

# snmptrapd prints each notification on one line of ours: this mark, fields separated by
# tabs, varbinds by a control character no value contains.
MARK = "MONBRIDGE-TEST-NOTIFICATION"
VARBIND_SEPARATOR = "\x1f"
SNMP_TRAP_OID = ".1.3.6.1.6.3.1.1.4.1.0"


def monbridge_bin():
    configured = os.environ.get("MONBRIDGE_BIN")
    path = Path(configured) if configured else REPO_ROOT / "target/debug/monbridge"
    if not path.is_file():
        pytest.fail("no monbridge binary at %s: build it (cargo build) or set MONBRIDGE_BIN" % path)
    return path


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lines:
    """A process's output lines, collected by threads, waited on with a deadline."""

    def __init__(self):
        self.lines = []
        self.closed = 0
        self.condition = threading.Condition()

    def follow(self, stream):
        def read():
            for raw in iter(stream.readline, b""):
                with self.condition:
                    self.lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                    self.condition.notify_all()
            with self.condition:
                self.closed += 1
                self.condition.notify_all()

        threading.Thread(target=read, daemon=True).start()

    def wait_for(self, predicate, timeout, streams):
        deadline = time.monotonic() + timeout
        with self.condition:
            while True:
                for line in self.lines:
                    found = predicate(line)
                    if found:
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or self.closed >= streams:
                    return None
                self.condition.wait(left)

    def text(self):
        with self.condition:
            return "\n".join(self.lines)


def stop(process):
    if process.poll() is None:
        process.kill()
    process.wait(timeout=WAIT_S)


class Snmptrapd:
    """net-snmp's snmptrapd on a free UDP port, numeric OIDs, only its own configuration."""

    def __init__(self, state):
        self.state = state
        failures = []
        for _ in range(5):  # the free port may be taken before snmptrapd binds it
            self.port = free_port(socket.SOCK_DGRAM)
            if self._start():
                return
            failures.append(self.output.text())
        pytest.fail("snmptrapd did not start listening:\n" + "\n---\n".join(failures))

    def _start(self):
        config = self.state / "snmptrapd.conf"
        config.write_text("disableAuthorization yes\n")
        fields = "\\t".join(["%s", "%P", "%a", "%N", "%w", "%q", "%T", "%V"])
        line_format = MARK + "\\t" + fields + VARBIND_SEPARATOR + "%v\\n"
        environment = {k: v for k, v in os.environ.items() if k not in ("MIBS", "MIBDIRS")}
        environment["SNMP_PERSISTENT_DIR"] = str(self.state / "persist")
        try:
            self.process = subprocess.Popen(
                ["snmptrapd", "-f", "-Lo", "-n", "-C", "-c", str(config), "-m", "", "-On",
                 "-F", line_format, "udp:127.0.0.1:%d" % self.port],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=environment)
        except FileNotFoundError:
            pytest.fail("snmptrapd is not installed: apt-get install snmptrapd")
        self.output = Lines()
        self.output.follow(self.process.stdout)
        self.output.follow(self.process.stderr)
        if self.output.wait_for(lambda line: "NET-SNMP version" in line, WAIT_S, 2):
            return True
        stop(self.process)
        return False

    def trap_oids(self, line):
        """The snmpTrapOID.0 of one of our lines, else None."""
        if not line.startswith(MARK + "\t"):
            return None
        varbinds = line.split("\t", 8)[-1].split(VARBIND_SEPARATOR)
        for varbind in varbinds:
            name, _, printed = varbind.partition(" = ")
            if name == SNMP_TRAP_OID:
                return printed.partition(": ")[2].strip()
        return None

    def wait_for_trap(self, trap_oid, timeout=WAIT_S):
        """Whether a notification with this snmpTrapOID.0 arrives within `timeout`."""
        return bool(self.output.wait_for(lambda line: self.trap_oids(line) == trap_oid, timeout, 1))

    def received(self):
        return [oid for oid in map(self.trap_oids, self.output.lines) if oid]


class Daemon:
    """`monbridge serve` with an HTTP intake on a free port and one v2c trap destination."""

    def __init__(self, folder, manager_port, tls=False):
        self.folder = folder
        self.tls = tls
        self.address = "127.0.0.1:%d" % free_port(socket.SOCK_STREAM)
        (folder / "intake.token").write_text(TOKEN + "\n")
        tls_settings = ""
        if tls:
            tls_settings = "    tls: {cert_file: %s, key_file: %s}\n" % (
                TLS_FIXTURES / "server.pem", TLS_FIXTURES / "server.key")
        config = folder / "monbridge.yaml"
        config.write_text(
            "state_dir: state\n"
            "env: {hostname: gw-test}\n"
            "log_level: info\n"
            "intakes:\n"
            "  http:\n"
            "    listen: \"%s\"\n"
            "    token_file: intake.token\n"
            "%s"
            "destinations:\n"
            "  - name: nms\n"
            "    address: udp:127.0.0.1:%d\n" % (self.address, tls_settings, manager_port))
        environment = {k: v for k, v in os.environ.items()
                       if k not in ("MONBRIDGE_LOG", "MONBRIDGE_RULES")}
        environment["NO_COLOR"] = "1"
        self.process = subprocess.Popen(
            [str(monbridge_bin()), "serve", "--config", str(config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=environment)
        self.log = Lines()
        self.log.follow(self.process.stderr)
        if not self.log.wait_for(lambda line: "monbridge serve ready" in line, WAIT_S, 1):
            stop(self.process)
            pytest.fail("monbridge serve did not start:\n" + self.log.text())
        self._wait_healthy()

    def _wait_healthy(self):
        deadline = time.monotonic() + WAIT_S
        context = ssl.create_default_context(cafile=str(TLS_FIXTURES / "ca.pem"))
        while True:
            try:
                with urllib.request.urlopen(self.url.replace("/audit", "/health"), timeout=2,
                                            context=context if self.tls else None) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("monbridge serve's /health does not answer:\n" + self.log.text())
            time.sleep(0.1)

    @property
    def url(self):
        if self.tls:
            # The name the certificate carries (and the intake allows on loopback).
            return "https://localhost:%s/audit" % self.address.rsplit(":", 1)[1]
        return "http://%s/audit" % self.address


@pytest.fixture(scope="session")
def manager(tmp_path_factory):
    trapd = Snmptrapd(tmp_path_factory.mktemp("snmptrapd"))
    yield trapd
    stop(trapd.process)


@pytest.fixture(scope="session")
def daemon(tmp_path_factory, manager):
    serve = Daemon(tmp_path_factory.mktemp("monbridge"), manager.port)
    yield serve
    stop(serve.process)


@pytest.fixture
def plugin():
    """The plugin module, imported as Fledge imports it: `<name>.py` from its folder."""
    if str(PLUGIN_DIR) not in sys.path:
        sys.path.insert(0, str(PLUGIN_DIR))
    return importlib.import_module("monbridge")


def fledge_config(plugin, **values):
    """The category Fledge passes to plugin_init: the defaults with a `value` each, all strings;
    the test daemon's token unless `token` is given."""
    values.setdefault("token", TOKEN)
    config = {}
    for name, item in plugin.plugin_info()["config"].items():
        config[name] = dict(item, value=values.get(name, item["default"]))
    return config
