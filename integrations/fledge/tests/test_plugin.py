"""The `monbridge` delivery plugin called as Fledge's notification service calls it, against a
running `monbridge serve` whose manager is snmptrapd, and against small stub servers for the
answers the daemon gives only under load (503)."""

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from conftest import FIXTURES, TLS_FIXTURES, TOKEN, Daemon, fledge_config, free_port, stop

PMC_NOTIFICATIONS = ".1.3.6.1.4.1.39059.1.0."


def trigger_reason(code):
    """A fixture as Python delivery plugins get it: already a dict."""
    return json.loads((FIXTURES / ("%s.json" % code)).read_text())


def test_plugin_info_follows_fledge_conventions(plugin):
    info = plugin.plugin_info()
    assert info["type"] == "notificationDelivery"
    assert info["name"] == "monbridge"
    config = info["config"]
    names = list(config)
    assert names[0] == "plugin"
    assert config["plugin"]["readonly"] == "true"
    assert config["plugin"]["default"] == "monbridge"
    for name, item in config.items():
        assert isinstance(item["default"], str), name
        assert {"description", "type", "default"} <= set(item), name
        if name != "plugin":
            assert isinstance(item["order"], str) and item["displayName"], name
    assert config["url"]["default"] == "http://127.0.0.1:8611/audit"
    assert {"enable", "url", "timeout", "retries"} <= set(names)


@pytest.mark.parametrize("code, number", [
    ("STLNK", 1), ("START", 4), ("CONCH", 6), ("SRVFL", 7), ("EVTFA", 11),
])
def test_a_delivered_trigger_reason_reaches_the_manager(plugin, daemon, manager, code, number):
    handle = plugin.plugin_init(fledge_config(plugin, url=daemon.url))
    delivered = plugin.plugin_deliver(handle, "monbridge", "audit-%s" % code,
                                      trigger_reason(code), "ALERT for %s" % code)
    assert delivered is True, daemon.log.text()
    trap_oid = PMC_NOTIFICATIONS + str(number)
    assert manager.wait_for_trap(trap_oid), (
        "no %s at snmptrapd; received %s\n%s" % (trap_oid, manager.received(), daemon.log.text()))
    plugin.plugin_shutdown(handle)


def test_a_bad_payload_is_refused_with_the_daemons_reason(plugin, daemon, caplog):
    caplog.set_level(logging.INFO, logger="monbridge")
    handle = plugin.plugin_init(fledge_config(plugin, url=daemon.url))
    not_an_audit = {"reason": "triggered", "timestamp": "2026-11-21 09:15:42.318204+00:00"}
    assert plugin.plugin_deliver(handle, "d", "n", not_an_audit, "m") is False
    messages = [record.getMessage() for record in caplog.records]
    refusals = [text for text in messages if "refused by the daemon (400)" in text]
    assert refusals, caplog.text
    # The daemon's own words, not only the status.
    assert refusals[0].split("(400): ", 1)[1].strip(), refusals
    # Text that is not JSON never leaves the plugin.
    assert plugin.plugin_deliver(handle, "d", "n", "{not json", "m") is False


def test_the_daemon_down_fails_after_the_bounded_retries(plugin, caplog):
    caplog.set_level(logging.INFO, logger="monbridge")
    nobody = "http://127.0.0.1:%d/audit" % free_port(socket.SOCK_STREAM)
    handle = plugin.plugin_init(fledge_config(plugin, url=nobody, retries="2", timeout="1"))
    assert plugin.plugin_deliver(handle, "d", "n", trigger_reason("STLNK"), "m") is False
    attempts = [r for r in caplog.records if "cannot reach" in r.getMessage()]
    assert len(attempts) == 3, caplog.text
    assert "after 3 attempt(s)" in caplog.text


def test_reconfigure_changes_the_url(plugin, daemon, manager):
    nobody = "http://127.0.0.1:%d/audit" % free_port(socket.SOCK_STREAM)
    handle = plugin.plugin_init(fledge_config(plugin, url=nobody, retries="0"))
    assert plugin.plugin_deliver(handle, "d", "n", trigger_reason("FSTOP"), "m") is False
    # Fledge may hand the new category over as JSON text.
    handle = plugin.plugin_reconfigure(handle, json.dumps(fledge_config(plugin, url=daemon.url)))
    assert plugin.plugin_deliver(handle, "d", "n", trigger_reason("FSTOP"), "m") is True
    assert manager.wait_for_trap(PMC_NOTIFICATIONS + "5"), manager.received()


class Stub:
    """An HTTP server on 127.0.0.1 answering POSTs from a script of (status, headers, body)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                stub.requests.append((dict(self.headers), self.rfile.read(length)))
                status, headers, body = stub.answers.pop(0) if stub.answers else (200, {}, b"{}")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/audit" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def stub_server():
    stubs = []

    def start(answers):
        stubs.append(Stub(answers))
        return stubs[-1]

    yield start
    for stub in stubs:
        stub.close()


FULL = (503, {"Retry-After": "0"}, b'{"error": "the queue is full"}')
TAKEN = (200, {}, b'{"accepted": 1, "queued": 1, "unmatched": 0, "dead_lettered": 0}')


def test_a_full_queue_is_retried_after_retry_after(plugin, stub_server):
    stub = stub_server([FULL, FULL, TAKEN])
    handle = plugin.plugin_init(fledge_config(plugin, url=stub.url, retries="2", timeout="2"))
    assert plugin.plugin_deliver(handle, "d", "n", trigger_reason("STLNK"), "m") is True
    assert len(stub.requests) == 3
    headers, body = stub.requests[-1]
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == trigger_reason("STLNK")


def test_a_queue_that_stays_full_fails_after_the_retries(plugin, stub_server):
    stub = stub_server([FULL] * 5)
    handle = plugin.plugin_init(fledge_config(plugin, url=stub.url, retries="1", timeout="2"))
    assert plugin.plugin_deliver(handle, "d", "n", trigger_reason("STLNK"), "m") is False
    assert len(stub.requests) == 2


def test_disabled_delivers_nothing(plugin, stub_server):
    stub = stub_server([TAKEN])
    handle = plugin.plugin_init(fledge_config(plugin, url=stub.url, enable="false"))
    assert plugin.plugin_deliver(handle, "d", "n", trigger_reason("STLNK"), "m") is False
    assert stub.requests == []


def test_credentials_in_the_url_are_sent_but_never_logged(plugin, stub_server, caplog):
    caplog.set_level(logging.DEBUG, logger="monbridge")
    stub = stub_server([(400, {}, b'{"error": "line 1: not an audit"}')])
    url = stub.url.replace("http://", "http://gw:s3cr%40t-pass@")
    handle = plugin.plugin_init(fledge_config(plugin, url=url, token=""))
    assert plugin.plugin_deliver(handle, "d", "n", {"reason": "triggered"}, "m") is False
    assert stub.requests[0][0]["Authorization"] == "Basic Z3c6czNjckB0LXBhc3M="
    assert "line 1: not an audit" in caplog.text
    assert "s3cr" not in caplog.text and "Z3c6" not in caplog.text
    # Unreachable: the address is still logged without them.
    caplog.clear()
    nobody = "http://gw:s3cr%%40t-pass@127.0.0.1:%d/audit" % free_port(socket.SOCK_STREAM)
    handle = plugin.plugin_reconfigure(handle, fledge_config(plugin, url=nobody, retries="0"))
    assert plugin.plugin_deliver(handle, "d", "n", trigger_reason("STLNK"), "m") is False
    assert "cannot reach http://127.0.0.1:" in caplog.text
    assert "s3cr" not in caplog.text


def test_without_the_token_the_daemon_refuses_and_the_token_is_never_logged(
        plugin, daemon, caplog, tmp_path):
    caplog.set_level(logging.DEBUG, logger="monbridge")
    handle = plugin.plugin_init(fledge_config(plugin, url=daemon.url, token=""))
    assert plugin.plugin_deliver(handle, "d", "n", trigger_reason("STLNK"), "m") is False
    assert "refused by the daemon (401)" in caplog.text, caplog.text
    wrong = plugin.plugin_init(fledge_config(plugin, url=daemon.url, token="x" * 20))
    assert plugin.plugin_deliver(wrong, "d", "n", trigger_reason("STLNK"), "m") is False
    # The token from a file, as an operator would keep it.
    token_file = tmp_path / "token"
    token_file.write_text("# monbridge intake\n%s\n" % TOKEN)
    handle = plugin.plugin_init(fledge_config(plugin, url=daemon.url, token="",
                                              tokenFile=str(token_file)))
    assert plugin.plugin_deliver(handle, "d", "n", trigger_reason("STLNK"), "m") is True
    assert TOKEN not in caplog.text


@pytest.fixture(scope="module")
def tls_daemon(tmp_path_factory, manager):
    serve = Daemon(tmp_path_factory.mktemp("monbridge-tls"), manager.port, tls=True)
    yield serve
    stop(serve.process)


def test_https_with_the_daemons_ca_delivers(plugin, tls_daemon, manager, caplog):
    caplog.set_level(logging.INFO, logger="monbridge")
    assert tls_daemon.url.startswith("https://")
    handle = plugin.plugin_init(fledge_config(
        plugin, url=tls_daemon.url, caFile=str(TLS_FIXTURES / "ca.pem")))
    assert plugin.plugin_deliver(handle, "d", "n", trigger_reason("CONCH"), "m") is True, \
        tls_daemon.log.text()
    assert manager.wait_for_trap(PMC_NOTIFICATIONS + "6")
    # Without the CA the daemon's certificate is not trusted: nothing is sent.
    untrusting = plugin.plugin_init(fledge_config(plugin, url=tls_daemon.url, retries="0"))
    assert plugin.plugin_deliver(untrusting, "d", "n", trigger_reason("CONCH"), "m") is False
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text, caplog.text
