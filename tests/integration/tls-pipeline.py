#!/usr/bin/env python3
"""tls-pipeline.py HOST PORT COUNT TIMEOUT: pipelines COUNT
`GET /healthz` requests over one TLS connection (no client certificate)
while reading the answers, from one thread (select, non-blocking), and
prints how many `HTTP/1.1 200` answers came back. Exits 0 when all
did within TIMEOUT seconds, 1 otherwise.

Written for the API worker's relay (privsep/worker.c): more than its
256 KiB of requests queue toward the parent, so the client side is held
and released many times, with bytes left in OpenSSL's read-ahead
buffer; a release that loses the socket's read event stalls here."""
import select
import socket
import ssl
import sys
import time


def main():
    try:
        return run()
    except (ssl.SSLError, OSError) as e:
        print(f"connection failed: {e}")
        return 1


def run():
    host, port, count, timeout = (sys.argv[1], int(sys.argv[2]),
                                  int(sys.argv[3]), float(sys.argv[4]))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((host, port), timeout=timeout)
    s = ctx.wrap_socket(raw)
    s.setblocking(False)
    req = b"GET /healthz HTTP/1.1\r\nHost: bulwark\r\n\r\n"
    out = req * count
    sent = 0
    seen = 0
    tail = b""
    mark = b"HTTP/1.1 200"
    deadline = time.monotonic() + timeout
    while seen < count and time.monotonic() < deadline:
        want_w = [s] if sent < len(out) else []
        r, w, _ = select.select([s], want_w, [], 1.0)
        if w:
            try:
                sent += s.send(out[sent:sent + 65536])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        # OpenSSL may hold decrypted bytes select() cannot see
        while r or s.pending():
            r = None
            try:
                data = s.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not data:
                print(f"{seen} of {count} answers, then end of stream")
                return 1
            buf = tail + data
            seen += buf.count(mark)
            # keep what could be the start of a mark cut in two
            tail = buf[-(len(mark) - 1):]
    print(f"{seen} of {count} answers")
    return 0 if seen == count else 1


if __name__ == "__main__":
    sys.exit(main())
