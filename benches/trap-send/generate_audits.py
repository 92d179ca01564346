#!/usr/bin/env python3
"""Writes N Fledge audits as JSON lines, as the gateways write them: the 11 FledgePOWER codes
in the REST shape mostly (80 %), some storage payloads (12 %), notification trigger reasons
(5 %) and upstream CONCH audits with nested details (3 %), with values that vary from line to
line. Usage: generate_audits.py N > audits.jsonl (a fixed seed: the same N gives the same
file)."""
import json
import random
import sys

count = int(sys.argv[1])
random.seed(7)
CODES = {
    "STLNK": ("WARNING", lambda i: {"nameService": f"iec104-south-{i % 7}", "nameLink": f"PA-Lyon-{i % 13}", "valueLink": "OFF" if i % 2 else "ON"}),
    "STCHA": ("INFORMATION", lambda i: {"nameService": f"iec104-south-{i % 7}", "nameLink": f"PA-Lyon-{i % 13}", "nameChannel": "AB"[i % 2], "valueChannel": "ON"}),
    "STSRV": ("INFORMATION", lambda i: {"nameService": f"hnz-north-{i % 5}", "valueService": "RUNNING"}),
    "EVTFA": ("FAILURE", lambda i: {"nameService": "hnz-south", "nameEvent": "path-lost", "valueEvent": f"Both HNZ paths lost ({i % 97})"}),
    "EVTWA": ("WARNING", lambda i: {"nameService": "iec104-south", "nameEvent": "queue-high", "valueEvent": f"Send queue above {80 + i % 20}%"}),
    "EVTIF": ("INFORMATION", lambda i: {"nameService": "iec104-south", "nameEvent": "GI-complete", "valueEvent": "General interrogation completed"}),
    "CONCH": ("INFORMATION", lambda i: {"nameService": f"hnz-south-{i % 3}"}),
    "SRVFL": ("FAILURE", lambda i: {"nameService": f"sinusoid-{i % 11}"}),
    "START": ("INFORMATION", lambda i: {}),
    "FSTOP": ("INFORMATION", lambda i: {}),
    "SNAUF": ("FAILURE", lambda i: {"nameService": "web-ui", "user": f"operator{i % 9}"}),
}
NAMES = list(CODES)
WEIGHTS = [20, 20, 10, 8, 8, 8, 6, 6, 3, 3, 8]
LEVELS = {"SUCCESS": 0, "FAILURE": 1, "WARNING": 2, "INFORMATION": 4}
out = sys.stdout
for i in range(count):
    code = random.choices(NAMES, WEIGHTS)[0]
    severity, details = CODES[code]
    detail = details(i)
    stamp = f"2026-11-21 09:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}"
    shape = random.random()
    if shape < 0.80:
        audit = {"source": code, "severity": severity, "details": detail, "timestamp": stamp}
    elif shape < 0.92:
        audit = {"code": code, "level": LEVELS[severity], "log": detail}
    elif shape < 0.97:
        audit = {"reason": "triggered", "auditCode": [code], "timestamp": stamp + "204+00:00",
                 "data": {code: {"code": code, "level": LEVELS[severity], "log": detail},
                          "timestamp_" + code: 1795252542.318}}
    else:
        audit = {"source": "CONCH", "severity": "INFORMATION", "timestamp": stamp,
                 "details": {"category": "iec104-south",
                             "items": {"asset_name": {"oldValue": "iec104", "newValue": f"iec104-poste-{i % 5}"}}}}
    out.write(json.dumps(audit) + "\n")
