#!/usr/bin/env python3
"""A local UDP manager for the benchmark. `udp_sink.py PORT` binds and never reads (the kernel
drops what overflows its buffer, the same for both senders); `udp_sink.py PORT N` reads N
datagrams (or until 2 s pass without one) and prints their mean size."""
import socket
import sys
import time

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
sock.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
if len(sys.argv) < 3:
    time.sleep(24 * 3600)
sock.settimeout(2)
sizes = []
try:
    while len(sizes) < int(sys.argv[2]):
        sizes.append(len(sock.recv(65535)))
except socket.timeout:
    pass
print(round(sum(sizes) / max(len(sizes), 1)))
