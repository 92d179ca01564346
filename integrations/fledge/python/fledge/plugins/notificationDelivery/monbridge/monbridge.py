# -*- coding: utf-8 -*-
"""Fledge notification delivery plugin `monbridge`.

Forwards each notification's ``triggerReason`` to the HTTP intake of ``monbridge serve``
(``POST /audit``), which turns the audit it carries into SNMP notifications. The daemon
answers 2xx only once the audit is durably queued, so ``plugin_deliver`` returns True only
then: Fledge records the notification as sent (audit NTFSN) only when nothing can be lost.

Python 3 standard library only, because the plugin runs inside Fledge's own Python.
"""

import base64
import copy
import http.client
import json
import logging
import socket
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
}


class _Settings:
    """The configuration category read once, so a delivery does no parsing."""

    def __init__(self, config):
        self.enabled = _value(config, "enable").strip().lower() == "true"
        self.timeout = _number(config, "timeout", float, 0.1, 60.0)
        self.retries = _number(config, "retries", int, 0, 20)
        self.url, self.authorization, self.shown_url = _split_url(_value(config, "url").strip())


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


# No proxies from the environment: the daemon runs on the gateway, next to Fledge.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


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
    """The handle: the configuration category and the settings read from it."""
    handle = copy.deepcopy(config) if isinstance(config, dict) else {}
    settings = _Settings(handle)
    handle["_settings"] = settings
    _LOGGER.info("monbridge: delivering to %s (%s)", settings.shown_url,
                 "enabled" if settings.enabled else "disabled")
    return handle


def plugin_reconfigure(handle, new_config):
    """A new handle for the changed category (Fledge may give it as a dict or as JSON text)."""
    if isinstance(new_config, (str, bytes)):
        try:
            new_config = json.loads(new_config)
        except ValueError:
            _LOGGER.error("monbridge: the new configuration is not JSON; keeping the old one")
            return handle
    return plugin_init(new_config)


def plugin_shutdown(handle):
    """Nothing to release: every delivery opens and closes its own connection."""
    _LOGGER.info("monbridge: shutdown")


def plugin_deliver(handle, delivery_name, notification_name, trigger_reason, message):
    """Posts the triggerReason to the daemon; True only when it answered 2xx (durably queued).

    Unreachable daemon or 503 (queue full): retried up to `retries` times, waiting Retry-After
    (at most `timeout`) or a doubling back-off. 4xx: logged with the daemon's reason, False.
    """
    settings = handle.get("_settings") if isinstance(handle, dict) else None
    if settings is None:
        settings = _Settings(handle if isinstance(handle, dict) else {})
    if not settings.enabled:
        _LOGGER.warning("monbridge: disabled; notification %s not delivered", notification_name)
        return False
    body = _body(trigger_reason)
    if body is None:
        _LOGGER.error("monbridge: notification %s: the trigger reason is not JSON; not delivered",
                      notification_name)
        return False

    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if settings.authorization:
        headers["Authorization"] = settings.authorization
    backoff = _FIRST_BACKOFF_S
    attempts = settings.retries + 1
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(settings.url, data=body, headers=headers, method="POST")
        wait = None
        try:
            with _OPENER.open(request, timeout=settings.timeout) as response:
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


def _body(trigger_reason):
    """The request body: Python plugins get the reason as a dict; JSON text is passed through."""
    if isinstance(trigger_reason, bytes):
        trigger_reason = trigger_reason.decode("utf-8", "replace")
    if isinstance(trigger_reason, str):
        try:
            json.loads(trigger_reason)
        except ValueError:
            return None
        return trigger_reason.encode("utf-8")
    try:
        return json.dumps(trigger_reason).encode("utf-8")
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
