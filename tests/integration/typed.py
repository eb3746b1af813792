#!/usr/bin/env python3
"""typed.py PASSPHRASE COMMAND [ARG...]

Run COMMAND on a new pseudo-terminal, as if at a terminal, and type
PASSPHRASE (and Enter) when it asks "Passphrase for ...".  What COMMAND
writes (its standard output and error, through the terminal) is copied to
our standard output with the terminal's carriage returns taken out.
SIGINT and SIGTERM are passed on to COMMAND.  Exits with COMMAND's status.
"""
import os
import pty
import select
import signal
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    answer = sys.argv[1].encode() + b"\n"
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(sys.argv[2], sys.argv[2:])
        finally:
            os._exit(127)

    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    seen, typed = b"", False
    while True:
        try:
            ready, _, _ = select.select([fd], [], [], 1.0)
        except InterruptedError:
            continue
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not data:
            break
        if not typed:
            seen += data
            if b"Passphrase for" in seen:
                os.write(fd, answer)
                typed = True
        sys.stdout.buffer.write(data.replace(b"\r", b""))
        sys.stdout.flush()
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode")
             else (os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)))


if __name__ == "__main__":
    main()
