# -*- coding: utf-8 -*-
"""Fledge notification delivery plugin `monbridge`.

Forwards each notification's ``triggerReason`` to the HTTP intake of ``monbridge serve``
(``POST /audit``), which turns the audits it carries into SNMP notifications. The daemon
answers 2xx only once the audits are durably queued, so ``plugin_deliver`` returns True only
then: Fledge records the notification as sent (audit NTFSN) only when nothing can be lost.

The notification service puts in ``data`` the last audit of every code the rule watches, so
a reason repeats audits already forwarded. Only the entries not forwarded yet are posted: the
plugin remembers, per code, the audits it forwarded (their ``timestamp_CODE`` and content) in
a small JSON file, so a restart of the plugin or of the service does not send them again.

Python 3 standard library only, because the plugin runs inside Fledge's own Python.
"""

import base64
import copy
import hashlib
import http.client
import json
import logging
import os
import re
import socket
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

try:  # Inside Fledge: its logger (syslog). Outside (tests, tools): the standard one.
    from fledge.common import logger as _fledge_logger

    _LOGGER = _fledge_logger.setup(__name__, level=logging.INFO)
except ImportError:
    _LOGGER = logging.getLogger(__name__)

__version__ = "1.0.0"

PLUGIN_NAME = "monbridge"

# How long to wait before retrying a refused connection when the daemon gave no Retry-After.
_FIRST_BACKOFF_S = 0.5
# The daemon's error bodies are short; this only bounds what a stranger could make us log.
_MAX_REASON_CHARS = 500
# Audits remembered per code. A reason carries one audit per code, the service delivers with a
# few threads, so deliveries of one code arrive out of order by a few at most: an audit older
# than all of the ones remembered was forwarded (or superseded) long ago.
_REMEMBERED_PER_CODE = 64
_STATE_VERSION = 1

_DEFAULT_CONFIG = {
    "plugin": {
        "description": "Forward notifications to the monbridge serve daemon (audit to SNMP)",
        "type": "string",
        "default": PLUGIN_NAME,
        "readonly": "true",
    },
    "enable": {
        "description": "Forward notifications to monbridge; when off, deliveries fail",
        "type": "boolean",
        "default": "true",
        "displayName": "Enable",
        "order": "1",
    },
    "url": {
        "description": "The POST /audit address of the HTTP intake of monbridge serve "
        "(its intakes.http.listen setting)",
        "type": "URL",
        "default": "http://127.0.0.1:8611/audit",
        "displayName": "Daemon URL",
        "mandatory": "true",
        "order": "2",
        "validity": 'enable == "true"',
    },
    "timeout": {
        "description": "Seconds to wait for one answer of the daemon; also the longest "
        "wait between two attempts, whatever Retry-After says",
        "type": "float",
        "default": "5",
        "minimum": "0.1",
        "maximum": "60",
        "displayName": "Request timeout (s)",
        "order": "3",
        "validity": 'enable == "true"',
    },
    "retries": {
        "description": "Further attempts when the daemon cannot be reached or answers "
        "503 (queue full)",
        "type": "integer",
        "default": "3",
        "minimum": "0",
        "maximum": "20",
        "displayName": "Retries",
        "order": "4",
        "validity": 'enable == "true"',
    },
    "stateFolder": {
        "description": "Folder of the files that remember, per code, the audits already "
        "forwarded, so that a restart does not send them again; empty: $FLEDGE_DATA/monbridge "
        "($FLEDGE_ROOT/data/monbridge)",
        "type": "string",
        "default": "",
        "displayName": "State folder",
        "order": "5",
        "validity": 'enable == "true"',
    },
    "token": {
        "description": "The bearer token the daemon's intake asks for (a line of its "
        "intakes.http token_file); empty when it asks none or tokenFile gives it",
        "type": "password",
        "default": "",
        "displayName": "Token",
        "order": "7",
        "validity": 'enable == "true"',
    },
    "tokenFile": {
        "description": "A file holding the token (read at each (re)configuration), instead "
        "of the token itself",
        "type": "string",
        "default": "",
        "displayName": "Token file",
        "order": "8",
        "validity": 'enable == "true"',
    },
    "caFile": {
        "description": "For an https URL: the CA certificate (PEM) that signed the daemon's "
        "certificate, when the system does not trust it; empty: the system's CAs",
        "type": "string",
        "default": "",
        "displayName": "CA certificate file",
        "order": "9",
        "validity": 'enable == "true"',
    },
    "forwardCleared": {
        "description": "Also forward the new audits of \"cleared\" reasons (toggled "
        "notifications); when off they are acknowledged without a request and their audits "
        "are forwarded by the next \"triggered\" reason that carries them",
        "type": "boolean",
        "default": "false",
        "displayName": "Forward cleared reasons",
        "order": "6",
        "validity": 'enable == "true"',
    },
}


class _Settings:
    """The configuration category read once, so a delivery does no parsing."""

    def __init__(self, config):
        self.enabled = _value(config, "enable").strip().lower() == "true"
        self.timeout = _number(config, "timeout", float, 0.1, 60.0)
        self.retries = _number(config, "retries", int, 0, 20)
        self.url, self.authorization, self.shown_url = _split_url(_value(config, "url").strip())
        self.state_folder = _state_folder(_value(config, "stateFolder").strip())
        self.forward_cleared = _value(config, "forwardCleared").strip().lower() == "true"
        self.token = _token(_value(config, "token").strip(), _value(config, "tokenFile").strip())
        self.opener = _opener(_value(config, "caFile").strip())


def _token(token, token_file):
    """The token given, else the first line of the token file; None for none. Never logged."""
    if token:
        return token
    if not token_file:
        return None
    try:
        with open(os.path.expanduser(token_file), "r", encoding="utf-8") as stream:
            for line in stream:
                line = line.strip()
                if line and not line.startswith("#"):
                    return line
    except OSError as error:
        _LOGGER.error("monbridge: cannot read the token file %s (%s)", token_file,
                      error.strerror or type(error).__name__)
        return None
    _LOGGER.error("monbridge: the token file %s holds no token", token_file)
    return None


def _opener(ca_file):
    """No proxies from the environment (the daemon runs on the gateway, next to Fledge), no
    redirects, and for https the system's CAs or the one configured."""
    handlers = [urllib.request.ProxyHandler({}), _NoRedirect()]
    try:
        context = ssl.create_default_context(cafile=os.path.expanduser(ca_file) if ca_file
                                             else None)
    except (OSError, ssl.SSLError) as error:
        # The system's CAs still check the daemon's certificate; only trust is narrower.
        _LOGGER.error("monbridge: cannot use the CA file %s (%s): only the system's CAs are "
                      "trusted", ca_file, error)
        context = ssl.create_default_context()
    handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


def _state_folder(configured):
    """The configured folder, else Fledge's data folder; None when there is none (no file)."""
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    if os.environ.get("FLEDGE_DATA"):
        return os.path.join(os.environ["FLEDGE_DATA"], PLUGIN_NAME)
    if os.environ.get("FLEDGE_ROOT"):
        return os.path.join(os.environ["FLEDGE_ROOT"], "data", PLUGIN_NAME)
    return None


def _value(config, name):
    """An item's value as a string: Fledge gives {'value': ...}; a missing one is the default."""
    item = config.get(name) if isinstance(config, dict) else None
    default = _DEFAULT_CONFIG[name]["default"]
    if isinstance(item, dict):
        value = item.get("value", item.get("default", default))
    elif item is None:
        value = default
    else:
        value = item
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(config, name, kind, lowest, highest):
    text = _value(config, name)
    try:
        number = kind(text)
    except ValueError:
        _LOGGER.warning("monbridge: %s %r is not a number; using %s", name, text,
                        _DEFAULT_CONFIG[name]["default"])
        number = kind(_DEFAULT_CONFIG[name]["default"])
    return min(max(number, lowest), highest)


def _split_url(url):
    """The URL to call, an Authorization header for credentials written in it (for a proxy in
    front of the daemon), and the URL as logs may show it: no credentials, no query."""
    parts = urllib.parse.urlsplit(url)
    authorization = None
    netloc = parts.netloc
    if "@" in netloc:
        netloc = netloc.rsplit("@", 1)[1]
        credentials = "%s:%s" % (
            urllib.parse.unquote(parts.username or ""),
            urllib.parse.unquote(parts.password or ""),
        )
        authorization = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    shown = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return clean, authorization, shown


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer that is not an acknowledgement; following it would turn the
    POST into a GET."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def plugin_info():
    """The plugin's description and default configuration, as Fledge reads them."""
    return {
        "name": PLUGIN_NAME,
        "version": __version__,
        "mode": "none",
        "type": "notificationDelivery",
        "interface": "1.0",
        "config": _DEFAULT_CONFIG,
    }


def plugin_init(config):
    """The handle: the configuration category, the settings read from it and the memory of
    the audits forwarded (per delivery, read from its state file on first use)."""
    handle = copy.deepcopy(config) if isinstance(config, dict) else {}
    settings = _Settings(handle)
    handle["_settings"] = settings
    handle["_ledgers"] = _Ledgers(settings.state_folder)
    _LOGGER.info("monbridge: delivering to %s (%s)", settings.shown_url,
                 "enabled" if settings.enabled else "disabled")
    if settings.state_folder is None:
        _LOGGER.warning("monbridge: no state folder (stateFolder empty, FLEDGE_DATA and "
                        "FLEDGE_ROOT unset): a restart forgets the audits already forwarded")
    return handle


def plugin_reconfigure(handle, new_config):
    """A new handle for the changed category (Fledge may give it as a dict or as JSON text).
    The memory of the audits forwarded carries over unless the state folder changed."""
    if isinstance(new_config, (str, bytes)):
        try:
            new_config = json.loads(new_config)
        except ValueError:
            _LOGGER.error("monbridge: the new configuration is not JSON; keeping the old one")
            return handle
    new_handle = plugin_init(new_config)
    old = handle.get("_ledgers") if isinstance(handle, dict) else None
    if isinstance(old, _Ledgers) and old.folder == new_handle["_ledgers"].folder:
        new_handle["_ledgers"] = old
    return new_handle


def plugin_shutdown(handle):
    """Nothing to release: every delivery opens and closes its own connection and the state
    files are written when each delivery is acknowledged."""
    _LOGGER.info("monbridge: shutdown")


def plugin_deliver(handle, delivery_name, notification_name, trigger_reason, message):
    """Posts the audits of the triggerReason not forwarded yet; True only when the daemon
    answered 2xx (durably queued), or when there was nothing new to forward.

    Unreachable daemon or 503 (queue full): retried up to `retries` times, waiting Retry-After
    (at most `timeout`) or a doubling back-off. 4xx: logged with the daemon's reason, False.
    The audits are remembered as forwarded only after a 2xx.
    """
    settings = handle.get("_settings") if isinstance(handle, dict) else None
    if settings is None:
        settings = _Settings(handle if isinstance(handle, dict) else {})
    if not settings.enabled:
        _LOGGER.warning("monbridge: disabled; notification %s not delivered", notification_name)
        return False
    reason = _document(trigger_reason)
    if reason is _NOT_JSON:
        _LOGGER.error("monbridge: notification %s: the trigger reason is not JSON; not delivered",
                      notification_name)
        return False
    if isinstance(reason, dict) and reason.get("reason") == "cleared" \
            and not settings.forward_cleared:
        _LOGGER.debug("monbridge: notification %s cleared; not forwarded (forwardCleared off)",
                      notification_name)
        return True
    entries = _entries(reason)
    if entries is None:
        # Not a reason with audits: the daemon says what is wrong with it.
        return _post(settings, notification_name, reason)

    ledgers = handle.get("_ledgers") if isinstance(handle, dict) else None
    if not isinstance(ledgers, _Ledgers):
        ledgers = _Ledgers(settings.state_folder)
        if isinstance(handle, dict):
            handle["_ledgers"] = ledgers
    ledger = ledgers.get(str(delivery_name))
    # One delivery of this notification at a time: the service delivers with several threads,
    # and two reasons carrying the same audit must not both forward it.
    with ledger.lock:
        fresh = [entry for entry in entries if ledger.is_new(entry)]
        if not fresh:
            _LOGGER.debug("monbridge: notification %s: every audit of the reason was already "
                          "forwarded", notification_name)
            return True
        if not _post(settings, notification_name, _only(reason, fresh)):
            return False
        ledger.record(fresh)
        return True


class _Entry:
    """One audit of a reason's data: its code, the service's timestamp_CODE and content."""

    __slots__ = ("code", "key", "timestamp", "ident")

    def __init__(self, code, timestamp_key, stamp, content):
        self.code = code
        self.key = timestamp_key
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
            self.timestamp = float(stamp)
            shown = repr(self.timestamp)
        else:
            self.timestamp = None
            shown = "" if stamp is None else json.dumps(stamp, sort_keys=True)
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
        self.ident = shown + "|" + digest


def _entries(reason):
    """The audits of a reason's `data`, or None when it has no `data` object."""
    data = reason.get("data") if isinstance(reason, dict) else None
    if not isinstance(data, dict):
        return None
    entries = []
    for code, content in data.items():
        if code.startswith("timestamp_"):
            continue
        key = "timestamp_" + code
        entries.append(_Entry(code, key if key in data else None, data.get(key), content))
    return entries or None


def _only(reason, fresh):
    """The reason with only the fresh audits in `data` (and `auditCode` when it lists codes)."""
    data = reason["data"]
    kept = {}
    for entry in fresh:
        kept[entry.code] = data[entry.code]
        if entry.key is not None:
            kept[entry.key] = data[entry.key]
    result = dict(reason)
    result["data"] = kept
    codes = reason.get("auditCode")
    if isinstance(codes, list):
        result["auditCode"] = [code for code in codes if code in kept] or codes
    return result


class _Ledgers:
    """The ledger of each delivery (one per notification) of this plugin instance."""

    def __init__(self, folder):
        self.folder = folder
        self._lock = threading.Lock()
        self._ledgers = {}

    def get(self, delivery_name):
        with self._lock:
            ledger = self._ledgers.get(delivery_name)
            if ledger is None:
                path = None
                if self.folder is not None:
                    path = os.path.join(self.folder, _file_name(delivery_name))
                ledger = self._ledgers[delivery_name] = _Ledger(path)
            return ledger


def _file_name(delivery_name):
    """A file name of the delivery's own: its name when it is plain, else made plain and told
    apart by a digest of the real one."""
    plain = re.sub(r"[^A-Za-z0-9_-]", "_", delivery_name)[:100]
    if plain != delivery_name or not plain:
        plain += "-" + hashlib.sha256(delivery_name.encode("utf-8")).hexdigest()[:12]
    return plain + ".json"


class _Ledger:
    """Per code, the audits forwarded: the last `_REMEMBERED_PER_CODE` of them (timestamp and
    identity) and a floor, the newest timestamp of those forgotten; an audit at or below the
    floor is old. Saved to `path` (JSON, atomically) after each acknowledged delivery."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.codes = {}
        if path is not None:
            self._load()

    def is_new(self, entry):
        known = self.codes.get(entry.code)
        if known is None:
            return True
        floor = known["floor"]
        if entry.timestamp is not None and floor is not None and entry.timestamp <= floor:
            return False
        return all(item["id"] != entry.ident for item in known["forwarded"])

    def record(self, entries):
        for entry in entries:
            known = self.codes.setdefault(entry.code, {"floor": None, "forwarded": []})
            known["forwarded"].append({"t": entry.timestamp, "id": entry.ident})
            forwarded = known["forwarded"]
            if len(forwarded) > _REMEMBERED_PER_CODE:
                forgotten = forwarded[:len(forwarded) - _REMEMBERED_PER_CODE]
                stamps = [item["t"] for item in forgotten if item["t"] is not None]
                if known["floor"] is not None:
                    stamps.append(known["floor"])
                known["floor"] = max(stamps) if stamps else None
                floor = known["floor"]
                known["forwarded"] = [
                    item for item in forwarded[len(forgotten):]
                    if floor is None or item["t"] is None or item["t"] > floor]
        if self.path is not None:
            try:
                self._save()
            except OSError as error:
                # The daemon has the audits: only a restart before the next save could
                # forward them again.
                _LOGGER.error("monbridge: cannot save %s (%s): a restart would forward the "
                              "last audits again", self.path, error)

    def _load(self):
        try:
            with open(self.path, "r", encoding="utf-8") as stream:
                document = json.load(stream)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as error:
            _LOGGER.error("monbridge: cannot read %s (%s): starting with no audit forwarded",
                          self.path, error)
            return
        codes = document.get("codes") if isinstance(document, dict) else None
        if not isinstance(codes, dict):
            _LOGGER.error("monbridge: %s is not a monbridge state file: starting with no "
                          "audit forwarded", self.path)
            return
        for code, known in codes.items():
            if not isinstance(known, dict):
                continue
            floor = known.get("floor")
            forwarded = [
                {"t": float(item["t"]) if isinstance(item.get("t"), (int, float)) else None,
                 "id": str(item["id"])}
                for item in known.get("forwarded", [])
                if isinstance(item, dict) and "id" in item]
            self.codes[code] = {
                "floor": float(floor) if isinstance(floor, (int, float)) else None,
                "forwarded": forwarded,
            }

    def _save(self):
        """Temporary file, fsync, rename over the old one, fsync the folder."""
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        document = {"version": _STATE_VERSION, "codes": self.codes}
        descriptor, temporary = tempfile.mkstemp(
            prefix="." + os.path.basename(self.path) + ".", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                json.dump(document, stream, sort_keys=True, separators=(",", ":"))
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
        try:
            directory = os.open(folder, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(directory)
        except OSError:
            pass
        finally:
            os.close(directory)


def _post(settings, notification_name, document):
    """POSTs the document to the daemon; True only on a 2xx."""
    body = _body(document)
    if body is None:
        _LOGGER.error("monbridge: notification %s: the trigger reason is not JSON; not delivered",
                      notification_name)
        return False
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if settings.token:
        headers["Authorization"] = "Bearer " + settings.token
    elif settings.authorization:
        headers["Authorization"] = settings.authorization
    backoff = _FIRST_BACKOFF_S
    attempts = settings.retries + 1
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(settings.url, data=body, headers=headers, method="POST")
        wait = None
        try:
            with settings.opener.open(request, timeout=settings.timeout) as response:
                status = response.status
                answer = response.read(_MAX_REASON_CHARS)
            if 200 <= status < 300:
                _LOGGER.debug("monbridge: notification %s queued by the daemon: %s",
                              notification_name, _text(answer))
                return True
            _LOGGER.error("monbridge: notification %s: unexpected answer %s from %s",
                          notification_name, status, settings.shown_url)
            return False
        except urllib.error.HTTPError as error:
            reason = _reason(error)
            if error.code == 503:
                wait = _retry_after(error.headers)
                _LOGGER.warning("monbridge: notification %s: daemon busy (503: %s), "
                                "attempt %d of %d", notification_name, reason, attempt, attempts)
            elif 400 <= error.code < 500:
                _LOGGER.error("monbridge: notification %s refused by the daemon (%d): %s",
                              notification_name, error.code, reason)
                return False
            else:
                _LOGGER.error("monbridge: notification %s: daemon answered %d: %s",
                              notification_name, error.code, reason)
                return False
        except (urllib.error.URLError, http.client.HTTPException, socket.timeout, OSError) as error:
            _LOGGER.warning("monbridge: notification %s: cannot reach %s (%s), attempt %d of %d",
                            notification_name, settings.shown_url, _why(error), attempt, attempts)
        if attempt == attempts:
            break
        if wait is None:
            wait = backoff
            backoff *= 2
        time.sleep(min(wait, settings.timeout))
    _LOGGER.error("monbridge: notification %s not delivered to %s after %d attempt(s)",
                  notification_name, settings.shown_url, attempts)
    return False


_NOT_JSON = object()


def _document(trigger_reason):
    """The reason as a JSON value: Python plugins get it as a dict; JSON text is parsed."""
    if isinstance(trigger_reason, bytes):
        trigger_reason = trigger_reason.decode("utf-8", "replace")
    if isinstance(trigger_reason, str):
        try:
            return json.loads(trigger_reason)
        except ValueError:
            return _NOT_JSON
    return trigger_reason


def _body(document):
    """The request body."""
    try:
        return json.dumps(document).encode("utf-8")
    except (TypeError, ValueError):
        return None


def _reason(error):
    """The daemon's `{"error": ...}`, or the start of whatever it answered."""
    try:
        text = _text(error.read(_MAX_REASON_CHARS))
    except (OSError, http.client.HTTPException):
        return error.reason
    try:
        document = json.loads(text)
    except ValueError:
        return text or error.reason
    if isinstance(document, dict) and "error" in document:
        return str(document["error"])[:_MAX_REASON_CHARS]
    return text


def _retry_after(headers):
    """Retry-After in seconds (the daemon sends delta-seconds); None when absent or a date."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


def _why(error):
    reason = getattr(error, "reason", None)
    return str(reason if reason is not None else error)


def _text(data):
    return data.decode("utf-8", "replace").strip()[:_MAX_REASON_CHARS]
