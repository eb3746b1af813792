# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the test fronts of the S3 server (forward.py, no-conditional.py)
share: a listening socket on a free loopback port, told to the test."""
import socket


def listen(portfile):
    """Listen on 127.0.0.1 at a free port; write the port to PORTFILE
    once listening (the test waits for that file)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    with open(portfile, "w") as f:
        f.write(str(srv.getsockname()[1]))
    return srv
