#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A TCP front for the S3 test server, for tests that need to take the
server away (kill this process) or to speak TLS to it.

    forward.py PORTFILE HOST:PORT [CERT]

Listens on 127.0.0.1 at a free port, written to PORTFILE once listening,
and forwards every connection to HOST:PORT.  With CERT, the front speaks
TLS with CERT.pem and CERT.key (a connection whose handshake fails is
dropped)."""
import socket
import ssl
import sys
import threading

import front  # tests/s3/front.py, beside this script

portfile, upstream = sys.argv[1], sys.argv[2].split(":")
ctx = None
if len(sys.argv) > 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3] + ".pem", sys.argv[3] + ".key")
srv = front.listen(portfile)


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass


def serve(c):
    if ctx:
        try:
            c = ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            c.close()
            return
    u = socket.create_connection((upstream[0], int(upstream[1])))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    pipe(u, c)


while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
