#!/usr/bin/env python3
"""Writes a synthetic Mist organisation as static files for nginx (see scripts/bench-mist).

Devices are access points after the first fixture AP of tests/fixtures/mist (real Mist
stats: radio_stat, port_stat, lldp_stat, env_stat, ble_stat, ip_stat blocks), each with its
own MAC, id, name, site, IP, status and counters: about 3.4 KB of JSON each. Every list is
written page by page (1,000 items a page, the API's maximum) under the URL paths the API
uses, with an nginx configuration serving each page with Mist's X-Page-* headers, and the
URL lists `curl --parallel` fetches for the same calls.
"""

import argparse
import json
import os
import random

ORG = "5e1f0000-0000-4000-8000-00000000b0b0"
LIMIT = 1000
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures", "mist")


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def write_pages(root, path, items):
    """Writes items as page<N>.json files under root/path; returns the page count."""
    folder = os.path.join(root, path)
    os.makedirs(folder, exist_ok=True)
    pages = max(1, -(-len(items) // LIMIT))
    for page in range(pages):
        chunk = items[page * LIMIT:(page + 1) * LIMIT]
        with open(os.path.join(folder, f"page{page + 1}.json"), "w") as out:
            out.write("[" + ",".join(chunk) + "]")
    return pages


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--devices-per-site", type=int, default=10)
    parser.add_argument("--port", type=int, default=18_480)
    args = parser.parse_args()

    with open(os.path.join(FIXTURES, "sites.json")) as f:
        site_template = json.load(f)[0]
    with open(os.path.join(FIXTURES, "site_stats_devices_mist_office.json")) as f:
        ap_template = json.load(f)[0]
    # Fields of a firmware this template's age reports rarely; without them the record is
    # the 3.4 KB of a typical AP.
    for key in ("auto_upgrade_stat", "switch_redundancy", "last_trouble", "config_reverted"):
        ap_template.pop(key, None)

    rng = random.Random(42)
    www = os.path.join(args.out, "www")
    statuses = ["connected"] * 8 + ["disconnected", "restarting"]
    countries = ["US", "ES", "IE", "FR", "DE", "JP"]
    sites, devices, inventory = [], [], []
    site_dir = os.path.join(www, "sites")
    os.makedirs(site_dir, exist_ok=True)
    device_bytes = 0
    for s in range(args.sites):
        site_id = f"{s:08x}-0000-4000-8000-{s * 7919:012x}"
        site = dict(site_template)
        site.update(id=site_id, org_id=ORG, name=f"Site {s}",
                    country_code=countries[s % len(countries)])
        sites.append(compact(site))
        own = []
        for d in range(args.devices_per_site):
            n = s * args.devices_per_site + d
            mac = f"{0x5c5b35000000 + n:012x}"
            device = json.loads(compact(ap_template))
            status = rng.choice(statuses)
            device.update(
                mac=mac, id=f"00000000-0000-0000-1000-{mac}", name=f"AP-{s}-{d}",
                site_id=site_id, org_id=ORG,
                ip=f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}", status=status,
                uptime=rng.randrange(0, 10_000_000), num_clients=rng.randrange(0, 60),
                rx_bytes=rng.randrange(0, 10**10), tx_bytes=rng.randrange(0, 10**10),
                last_seen=1720605900 - rng.randrange(0, 600),
            )
            for band in device.get("radio_stat", {}).values():
                if isinstance(band, dict):
                    band["num_clients"] = rng.randrange(0, 30)
                    band["util_all"] = rng.randrange(0, 100)
            text = compact(device)
            device_bytes += len(text)
            own.append(text)
            devices.append(text)
            inventory.append(compact({
                "mac": mac, "type": "ap", "name": device["name"], "site_id": site_id,
                "model": device.get("model"), "serial": device.get("serial"),
                "connected": status == "connected", "org_id": ORG,
                "id": device["id"], "hw_rev": device.get("hw_rev"),
                "created_time": 1690000000, "modified_time": 1720000000,
            }))
        with open(os.path.join(site_dir, f"{site_id}.json"), "w") as out:
            out.write("[" + ",".join(own) + "]")

    org = f"api/v1/orgs/{ORG}"
    site_pages = write_pages(www, "org/sites", sites)
    stats_pages = write_pages(www, "org/stats", devices)
    inventory_pages = write_pages(www, "org/inventory", inventory)

    base = f"http://127.0.0.1:{args.port}"
    site_urls = [f"{base}/{org}/sites?limit={LIMIT}&page={p + 1}" for p in range(site_pages)]
    per_site = site_urls + [
        f"{base}/api/v1/sites/{json.loads(site)['id']}/stats/devices?type=all&limit={LIMIT}&page=1"
        for site in sites
    ]
    org_stats = site_urls + [
        f"{base}/{org}/stats/devices?type=all&limit={LIMIT}&page={p + 1}" for p in range(stats_pages)
    ] + [f"{base}/{org}/inventory?limit={LIMIT}&page={p + 1}" for p in range(inventory_pages)]
    for name, urls in (("per-site", per_site), ("org-stats", org_stats)):
        with open(os.path.join(args.out, f"curl-{name}.cfg"), "w") as out:
            for url in urls:
                out.write(f'url = "{url}"\noutput = "/dev/null"\n')

    def paged(path, total, file_dir):
        return f"""
        location = /{path} {{
            add_header X-Page-Total {total};
            add_header X-Page-Limit {LIMIT};
            add_header X-Page-Page $arg_page;
            try_files /{file_dir}/page$arg_page.json =404;
        }}"""

    out_dir = os.path.abspath(args.out)
    with open(os.path.join(args.out, "nginx.conf"), "w") as out:
        out.write(f"""worker_processes 2;
pid {out_dir}/nginx.pid;
error_log {out_dir}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log {out_dir}/access.log;
    default_type application/json;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {out_dir}/tmp;
    proxy_temp_path {out_dir}/tmp;
    fastcgi_temp_path {out_dir}/tmp;
    uwsgi_temp_path {out_dir}/tmp;
    scgi_temp_path {out_dir}/tmp;
    server {{
        listen 127.0.0.1:{args.port};
        root {os.path.abspath(www)};
        {paged(f"{org}/sites", len(sites), "org/sites")}
        {paged(f"{org}/stats/devices", len(devices), "org/stats")}
        {paged(f"{org}/inventory", len(inventory), "org/inventory")}
        location ~ ^/api/v1/sites/([^/]+)/stats/devices$ {{
            add_header X-Page-Total {args.devices_per_site};
            add_header X-Page-Limit {LIMIT};
            add_header X-Page-Page 1;
            try_files /sites/$1.json =404;
        }}
    }}
}}
""")
    os.makedirs(os.path.join(args.out, "tmp"), exist_ok=True)
    print(json.dumps({
        "org": ORG, "url": base, "sites": len(sites), "devices": len(devices),
        "device_bytes_avg": device_bytes // max(1, len(devices)),
        "device_mb": round(device_bytes / 1e6, 1),
        "calls": {"per-site": len(per_site), "org-stats": len(org_stats)},
    }))


if __name__ == "__main__":
    main()
