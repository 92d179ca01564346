"""Every audit reaches the daemon once: the plugin against the notification service's delivery
behaviour, played here as fledge-service-notification 3.0.0 behaves for a DataAvailability
rule (C/services/notification/notification_queue.cpp, notification_manager.cpp,
data_availability_rule.cpp, delivery_queue.cpp):

- a rule over several codes is evaluated only once every one of them has data (the rule does
  not declare `"evaluate": "any"`), and DataAvailability then evaluates to true;
- the reason's `data` holds the last audit of every code the rule watches, each with its
  `timestamp_CODE`, so audits already delivered come back in later reasons;
- one shot: sent once, then not while the rule stays true; retriggered: sent when true and at
  least `retrigger_time` after the last one; toggled: also sends "cleared";
- a failed delivery is not retried; deliveries run on several threads.
"""

import importlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import fledge_config

# The audit codes monbridge's rules map to PMC-MIB notifications 1 to 11.
CODES = ["STLNK", "STCHA", "STSRV", "START", "FSTOP", "CONCH", "SRVFL", "SNAUF", "EVTIF",
         "EVTWA", "EVTFA"]
PMC_NOTIFICATIONS = ".1.3.6.1.4.1.39059.1.0."
T0 = 1795252542.318204


def stamp(seconds):
    """A time as the service writes timestamp_CODE: seconds and six digits of microseconds."""
    whole = int(seconds)
    return float("%d.%06d" % (whole, round((seconds - whole) * 1e6)))


def audit(code, level=4, **log):
    return {"code": code, "level": level, "log": log}


class NotificationService:
    """One notification of the service: a DataAvailability rule over `codes`, a notification
    type and the monbridge delivery, whose plugin_deliver is called as the service calls it."""

    def __init__(self, plugin, handle, codes, kind="retriggered", retrigger_time=0.0,
                 name=None):
        self.plugin = plugin
        self.handle = handle
        self.codes = list(codes)
        self.kind = kind
        self.retrigger_time = retrigger_time
        self.name = name or "audit-" + "-".join(self.codes)
        # The delivery's category name, as the service passes it.
        self.delivery_name = "delivery" + self.name
        self.last = {}
        self.state = "cleared"
        self.last_sent = None
        self.results = []

    def audit(self, entry, when):
        """An audit reaches the service: evaluate the rule, maybe deliver."""
        self.last[entry["code"]] = (entry, stamp(when))
        if any(code not in self.last for code in self.codes):
            return None  # every code of the rule needs data before an evaluation
        if self._send(True, when):
            return self.deliver("triggered")
        return None

    def _send(self, evaluation, now):
        elapsed = float("inf") if self.last_sent is None else now - self.last_sent
        if self.kind in ("one shot", "toggled"):
            if self.state == "triggered":
                send = not evaluation and self.kind == "toggled"
                self.state = "triggered" if evaluation else "cleared"
            else:
                send = evaluation and elapsed >= self.retrigger_time
                self.state = "triggered" if send else "cleared"
        else:
            send = evaluation and elapsed >= self.retrigger_time
            self.state = "triggered" if evaluation else "cleared"
        if send:
            self.last_sent = now
        return send

    def reason(self, word="triggered"):
        data = {}
        for code, (entry, when) in self.last.items():
            data[code] = entry
            data["timestamp_" + code] = when
        newest = max(when for _, when in self.last.values())
        return {"reason": word, "auditCode": list(self.codes),
                "timestamp": "%.6f" % newest, "data": data}

    def deliver(self, word="triggered", reason=None):
        reason = reason if reason is not None else self.reason(word)
        result = self.plugin.plugin_deliver(self.handle, self.delivery_name, self.name, reason,
                                            "ALERT for " + self.name)
        self.results.append(result)
        return result


class Daemon:
    """Stands for `monbridge serve`: records each audit posted (code, timestamp, content) and
    answers 200, or the scripted statuses first."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests = []
        self.lock = threading.Lock()
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with daemon.lock:
                    status = daemon.statuses.pop(0) if daemon.statuses else 200
                    if status == 200:
                        daemon.requests.append(json.loads(body))
                answer = b'{"accepted": 1}' if status == 200 else b'{"error": "scripted"}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/audit" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def audits(self):
        """Every audit acknowledged, as (code, timestamp_CODE, content)."""
        found = []
        with self.lock:
            for reason in self.requests:
                data = reason["data"]
                for code, entry in data.items():
                    if not code.startswith("timestamp_"):
                        found.append((code, data.get("timestamp_" + code), json.dumps(entry)))
        return found

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def daemon_stub():
    stubs = []

    def start(statuses=()):
        stubs.append(Daemon(statuses))
        return stubs[-1]

    yield start
    for stub in stubs:
        stub.close()


@pytest.fixture
def state(tmp_path):
    return tmp_path / "state"


def init(plugin, url, state, **values):
    return plugin.plugin_init(fledge_config(plugin, url=url, stateFolder=str(state), **values))


def assert_once_each(audits):
    assert len(audits) == len(set(audits)), audits


def test_one_rule_per_code_forwards_every_audit_once(plugin, daemon_stub, state):
    daemon = daemon_stub()
    services = [NotificationService(plugin, init(plugin, daemon.url, state), [code])
                for code in CODES]
    # The 11 codes fire within one second, twice.
    for round_number in range(2):
        for index, service in enumerate(services):
            when = T0 + round_number + index * 0.05
            assert service.audit(audit(service.codes[0], round=round_number), when) is True
    audits = daemon.audits()
    assert len(audits) == 22
    assert_once_each(audits)
    assert sorted({code for code, _, _ in audits}) == sorted(CODES)
    # One file per notification.
    assert len(list(state.glob("*.json"))) == 11


def test_one_rule_for_all_codes_forwards_every_audit_once(plugin, daemon_stub, state):
    daemon = daemon_stub()
    service = NotificationService(plugin, init(plugin, daemon.url, state), CODES)
    for index, code in enumerate(CODES):
        service.audit(audit(code), T0 + index * 0.05)
    # Evaluated only once the 11th code arrived: one reason with the 11 audits.
    assert service.results == [True]
    assert len(daemon.requests) == 1
    assert sorted(code for code, _, _ in daemon.audits()) == sorted(CODES)
    # A new STLNK: the reason repeats the 10 others, only STLNK is posted.
    assert service.audit(audit("STLNK", 2, valueLink="OFF"), T0 + 2) is True
    assert len(daemon.requests) == 2
    assert sorted(daemon.requests[1]["data"]) == ["STLNK", "timestamp_STLNK"]
    assert daemon.requests[1]["auditCode"] == ["STLNK"]
    # The same reason again: nothing new, acknowledged without a request.
    assert service.deliver() is True
    assert len(daemon.requests) == 2
    audits = daemon.audits()
    assert len(audits) == 12
    assert_once_each(audits)


def test_one_shot_forwards_only_the_first_audit(plugin, daemon_stub, state):
    """Why the README does not recommend one shot: the rule stays true, nothing more is sent."""
    daemon = daemon_stub()
    service = NotificationService(plugin, init(plugin, daemon.url, state), ["STLNK"],
                                  kind="one shot", retrigger_time=60.0)
    for index in range(5):
        service.audit(audit("STLNK", index=index), T0 + index * 120)
    assert len(daemon.audits()) == 1


def test_retrigger_time_drops_the_audits_between_two_deliveries(plugin, daemon_stub, state):
    """Why the README asks for retrigger_time 0: audits within it never reach the plugin."""
    daemon = daemon_stub()
    service = NotificationService(plugin, init(plugin, daemon.url, state), ["STLNK"],
                                  retrigger_time=60.0)
    for index in range(3):
        service.audit(audit("STLNK", index=index), T0 + index)
    assert len(daemon.audits()) == 1


def test_equal_timestamps_are_told_apart_by_content(plugin, daemon_stub, state):
    daemon = daemon_stub()
    service = NotificationService(plugin, init(plugin, daemon.url, state), ["STCHA"])
    service.audit(audit("STCHA", nameChannel="A", valueChannel="ON"), T0)
    service.audit(audit("STCHA", nameChannel="B", valueChannel="ON"), T0)
    service.audit(audit("STCHA", nameChannel="B", valueChannel="ON"), T0)
    assert service.results == [True, True, True]
    audits = daemon.audits()
    assert len(audits) == 2
    assert {json.loads(content)["log"]["nameChannel"] for _, _, content in audits} == {"A", "B"}


def test_a_cleared_reason_is_ignored_unless_asked(plugin, daemon_stub, state):
    daemon = daemon_stub()
    service = NotificationService(plugin, init(plugin, daemon.url, state), ["SRVFL"],
                                  kind="toggled")
    service.last["SRVFL"] = (audit("SRVFL", 1, nameService="s"), stamp(T0))
    assert service.deliver("cleared") is True
    assert daemon.requests == []
    # Its audit was not forwarded: the next triggered reason carrying it forwards it.
    assert service.deliver("triggered") is True
    assert len(daemon.audits()) == 1

    asked = NotificationService(
        plugin, init(plugin, daemon.url, state, forwardCleared="true"), ["SNAUF"],
        kind="toggled")
    asked.last["SNAUF"] = (audit("SNAUF", 1), stamp(T0))
    assert asked.deliver("cleared") is True
    assert daemon.requests[-1]["reason"] == "cleared"
    assert asked.deliver("triggered") is True
    assert [code for code, _, _ in daemon.audits()] == ["SRVFL", "SNAUF"]


def test_a_restart_does_not_send_again(plugin, daemon_stub, state):
    daemon = daemon_stub()
    service = NotificationService(plugin, init(plugin, daemon.url, state), CODES)
    for index, code in enumerate(CODES):
        service.audit(audit(code), T0 + index * 0.05)
    assert len(daemon.audits()) == 11
    plugin.plugin_shutdown(service.handle)

    # The service restarts and loads the plugin again; its first reason repeats the audits
    # it delivered before.
    restarted = importlib.reload(plugin)
    service.plugin = restarted
    service.handle = init(restarted, daemon.url, state)
    assert service.deliver() is True
    assert len(daemon.requests) == 1
    service.audit(audit("EVTWA", 2, nameEvent="queue-high"), T0 + 5)
    assert len(daemon.requests) == 2
    assert [code for code, _, _ in daemon.audits()][11:] == ["EVTWA"]
    assert_once_each(daemon.audits())

    # The state file: JSON, written whole (no temporary file left).
    files = sorted(path.name for path in state.iterdir())
    assert files == ["deliveryaudit-" + "-".join(CODES) + ".json"]
    document = json.loads((state / files[0]).read_text())
    assert document["version"] == 1
    assert sorted(document["codes"]) == sorted(CODES)


def test_reconfigure_keeps_what_was_forwarded(plugin, daemon_stub, state):
    daemon = daemon_stub()
    handle = plugin.plugin_init(fledge_config(plugin, url=daemon.url))  # no state folder
    service = NotificationService(plugin, handle, ["STLNK"])
    service.audit(audit("STLNK"), T0)
    service.handle = plugin.plugin_reconfigure(handle, fledge_config(plugin, url=daemon.url,
                                                                     timeout="2"))
    assert service.deliver() is True
    assert len(daemon.requests) == 1


def test_a_failed_delivery_is_forwarded_by_a_later_reason(plugin, daemon_stub, state):
    daemon = daemon_stub([500])
    service = NotificationService(plugin, init(plugin, daemon.url, state), ["STLNK", "STSRV"])
    service.audit(audit("STLNK"), T0)
    assert service.audit(audit("STSRV"), T0 + 1) is False
    assert not state.exists() or not list(state.iterdir())
    # The service does not retry; the next reason carries the same audits again.
    assert service.audit(audit("STLNK", valueLink="ON"), T0 + 2) is True
    assert sorted(code for code, _, _ in daemon.audits()) == ["STLNK", "STSRV"]
    assert [json.loads(c)["log"] for code, _, c in daemon.audits() if code == "STLNK"] == [
        {"valueLink": "ON"}]


def test_deliveries_out_of_order_forward_each_audit_once(plugin, daemon_stub, state):
    """The service delivers with two threads: a newer reason may be delivered first."""
    daemon = daemon_stub()
    service = NotificationService(plugin, init(plugin, daemon.url, state), ["EVTIF"])
    service.last["EVTIF"] = (audit("EVTIF", nameEvent="one"), stamp(T0))
    older = service.reason()
    service.last["EVTIF"] = (audit("EVTIF", nameEvent="two"), stamp(T0 + 1))
    newer = service.reason()
    for reason in (newer, older, newer, older):
        assert service.deliver(reason=reason) is True
    audits = daemon.audits()
    assert len(audits) == 2
    assert_once_each(audits)


def test_concurrent_deliveries_of_one_audit_forward_it_once(plugin, daemon_stub, state):
    daemon = daemon_stub()
    service = NotificationService(plugin, init(plugin, daemon.url, state), ["EVTFA"])
    service.last["EVTFA"] = (audit("EVTFA", 1, nameEvent="path-lost"), stamp(T0))
    reason = service.reason()
    start = threading.Barrier(4)
    results = []

    def deliver():
        start.wait(timeout=10)
        results.append(service.deliver(reason=json.loads(json.dumps(reason))))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [True] * 4
    assert len(daemon.audits()) == 1


def test_many_audits_of_one_code_stay_once_and_the_state_stays_small(plugin, daemon_stub,
                                                                     state):
    daemon = daemon_stub()
    service = NotificationService(plugin, init(plugin, daemon.url, state), ["START"])
    reasons = []
    for index in range(100):
        service.audit(audit("START", index=index), T0 + index)
        reasons.append(service.reason())
    # Every reason again, oldest first: all known, none posted.
    for reason in reasons:
        service.deliver(reason=reason)
    audits = daemon.audits()
    assert len(audits) == 100
    assert_once_each(audits)
    document = json.loads(next(state.glob("*.json")).read_text())
    assert len(document["codes"]["START"]["forwarded"]) <= 64


def test_a_reason_with_several_codes_reaches_the_manager(plugin, daemon, manager, state):
    """Against the real daemon: one request, the fresh audits of several codes, each a
    PMC-MIB notification at the manager."""
    service = NotificationService(plugin, init(plugin, daemon.url, state),
                                  ["STSRV", "SNAUF", "EVTIF"])
    service.audit(audit("STSRV", nameService="iec104-north", valueService="shutting down"), T0)
    service.audit(audit("SNAUF", 1, nameService="snmp-agent"), T0 + 0.1)
    assert service.audit(audit("EVTIF", nameService="iec104-south", nameEvent="GI",
                               valueEvent="General interrogation completed"),
                         T0 + 0.2) is True, daemon.log.text()
    for number in (3, 8, 9):
        trap_oid = PMC_NOTIFICATIONS + str(number)
        assert manager.wait_for_trap(trap_oid), (
            "no %s at snmptrapd; received %s\n%s" % (trap_oid, manager.received(),
                                                    daemon.log.text()))


def test_an_unreadable_state_file_is_logged_and_replaced(plugin, daemon_stub, state, caplog):
    daemon = daemon_stub()
    state.mkdir()
    (state / "deliveryaudit-STLNK.json").write_text("{not json")
    service = NotificationService(plugin, init(plugin, daemon.url, state), ["STLNK"])
    assert service.audit(audit("STLNK"), T0) is True
    assert "cannot read" in caplog.text
    document = json.loads((state / "deliveryaudit-STLNK.json").read_text())
    assert list(document["codes"]) == ["STLNK"]


def test_a_failed_save_keeps_the_old_file_whole(plugin, daemon_stub, state, caplog,
                                                monkeypatch):
    daemon = daemon_stub()
    service = NotificationService(plugin, init(plugin, daemon.url, state), ["STLNK"])
    service.audit(audit("STLNK", round=1), T0)
    saved = (state / "deliveryaudit-STLNK.json").read_text()

    def refuse(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plugin.os, "replace", refuse)
    # The daemon has the audit: the delivery is acknowledged, the failure logged.
    assert service.audit(audit("STLNK", round=2), T0 + 1) is True
    assert "cannot save" in caplog.text
    assert [path.name for path in state.iterdir()] == ["deliveryaudit-STLNK.json"]
    assert (state / "deliveryaudit-STLNK.json").read_text() == saved
    # Still remembered in memory.
    assert service.deliver() is True
    assert len(daemon.audits()) == 2
