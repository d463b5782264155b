#!/usr/bin/env python3
# Holds N keep-alive TLS connections with one client certificate: each
# sends one request, reads the answer, then dribbles one byte of a next
# request line every DRIBBLE seconds (never completing it). A connection
# the server closes is opened again after a second. Writes the number
# held to STATUS. Used by sec-conn-principal.sh.
import socket, ssl, sys, time

host, port, n, ca, crt, key, secs, dribble, status = sys.argv[1:10]
port, n, secs, dribble = int(port), int(n), float(secs), float(dribble)
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
ctx.load_cert_chain(crt, key)


def opened():
    try:
        s = socket.create_connection((host, port), timeout=5)
        s = ctx.wrap_socket(s, server_hostname="localhost")
        s.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n")
        if not s.recv(4096).startswith(b"HTTP/1.1 200"):
            s.close()
            return None
        s.settimeout(0.2)
        return s
    except Exception:
        return None


socks = [None] * n
t0 = time.time()
last = 0.0
while time.time() - t0 < secs:
    for i in range(n):
        if socks[i] is None:
            socks[i] = opened()
    if time.time() - last >= dribble:
        last = time.time()
        for i in range(n):
            s = socks[i]
            if s is None:
                continue
            try:
                s.sendall(b"G")
                if s.recv(4096) == b"":
                    raise OSError("closed")
            except socket.timeout:
                pass
            except Exception:
                s.close()
                socks[i] = None
    with open(status + ".tmp", "w") as f:
        f.write("%d\n" % sum(1 for s in socks if s is not None))
    import os
    os.replace(status + ".tmp", status)
    time.sleep(1)
