#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""An HTTP front for the S3 test server that plays a server without
conditional writes, for tests of how a vault meets one.

    no-conditional.py PORTFILE HOST:PORT MODE [LOG]

Listens on 127.0.0.1 at a free port, written to PORTFILE once listening.
Every request goes to HOST:PORT byte for byte (head and body, so SigV4
signatures stay valid; keep-alive, Content-Length or chunked bodies,
"Expect: 100-continue"), and every answer comes back byte for byte,
except for a PUT carrying If-None-Match, which MODE decides:

  refuse   answered here, never forwarded: 501 with an S3 error body
           <Code>NotImplemented</Code>, as AWS S3 answered before it had
           conditional writes (August 2024)
  ignore   forwarded; a 412 (the object exists) becomes 200, as a server
           answers that drops the header and overwrites (s3proxy over
           Swift, MinIO before If-None-Match: * on PUT)
  forward  forwarded and answered unchanged (the front alone)

With LOG, one line per PUT carrying If-None-Match is appended to it:
"MODE PATH STATUS", STATUS being what the client was answered."""
import socket
import sys
import threading

import front  # tests/s3/front.py, beside this script

portfile, upstream, mode = sys.argv[1], sys.argv[2].split(":"), sys.argv[3]
logname = sys.argv[4] if len(sys.argv) > 4 else None
if mode not in ("refuse", "ignore", "forward"):
    sys.exit("unknown mode " + mode)
loglock = threading.Lock()


class Closed(Exception):
    pass


class Reader:
    """Buffered reads of raw bytes from a socket."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise Closed()
        self.buf += d

    def until(self, mark):
        while mark not in self.buf:
            self.fill()
        i = self.buf.index(mark) + len(mark)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self):
        out = self.buf
        try:
            while True:
                self.fill()
        except (Closed, OSError):
            pass
        out, self.buf = self.buf, b""
        return out


def parse_head(raw):
    """First line and lower-cased header names with their values."""
    lines = raw.decode("latin-1").split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    return lines[0], hdrs


def read_body(rd, hdrs):
    """The body as it came on the wire: chunked or Content-Length."""
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        out = b""
        while True:
            size_line = rd.until(b"\r\n")
            out += size_line
            n = int(size_line.split(b";")[0].strip(), 16)
            if n == 0:
                out += rd.until(b"\r\n")  # no trailers are sent here
                return out
            out += rd.exactly(n + 2)
    return rd.exactly(int(hdrs.get("content-length", "0")))


def read_answer(rd, method):
    """One final answer (1xx skipped): head, body, whether it closes."""
    while True:
        head = rd.until(b"\r\n\r\n")
        first, hdrs = parse_head(head)
        status = int(first.split()[1])
        if status >= 200:
            break
    closes = hdrs.get("connection", "").lower() == "close"
    if method == "HEAD" or status in (204, 304):
        body = b""
    elif "transfer-encoding" in hdrs or "content-length" in hdrs:
        body = read_body(rd, hdrs)
    else:
        body, closes = rd.rest(), True
    return status, head, body, closes


def answer(status, reason, body=b"", ctype="application/xml"):
    return (
        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
        % (status, reason, ctype, len(body))
    ).encode() + body


NOT_IMPLEMENTED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented'
    b"</Code><Message>This server does not implement a header of the "
    b"request</Message><Header>If-None-Match</Header><RequestId>"
    b"no-conditional</RequestId></Error>"
)


def note(path, status):
    if logname:
        with loglock, open(logname, "a") as f:
            f.write("%s %s %d\n" % (mode, path, status))


def serve(c):
    crd, up, urd = Reader(c), None, None
    try:
        while True:
            head = crd.until(b"\r\n\r\n")
            first, hdrs = parse_head(head)
            method, path = first.split()[0], first.split()[1]
            if hdrs.get("expect", "").lower() == "100-continue":
                c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = read_body(crd, hdrs)
            conditional = method == "PUT" and "if-none-match" in hdrs
            if conditional and mode == "refuse":
                note(path, 501)
                c.sendall(answer(501, "Not Implemented", NOT_IMPLEMENTED))
                continue
            if up is None:
                up = socket.create_connection((upstream[0], int(upstream[1])))
                urd = Reader(up)
            up.sendall(head + body)
            status, rhead, rbody, closes = read_answer(urd, method)
            if conditional and mode == "ignore" and status == 412:
                out = answer(200, "OK")
            else:
                out = rhead + rbody
            if conditional:
                note(path, int(out.split(b" ", 2)[1]))
            c.sendall(out)
            if closes:
                up.close()
                up = None
    except (Closed, OSError, ValueError, IndexError):
        pass
    finally:
        for s in (c, up):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass


srv = front.listen(portfile)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
