"""``python -m bench.host``: what a syscall costs a program hosted by ``pinfs run``.

Compiles bench/host/callloop.c (gcc), then times N calls of each kind inside the C
program itself (clock_gettime around each call; the median and the minimum):

* ``lookup``/``update`` -- BPF_MAP_LOOKUP_ELEM / UPDATE_ELEM on a hash map: served by
  pinfs when hosted, on the live kernel otherwise (run as root in a private mount
  namespace; the map is not pinned, so no bpffs is involved);
* ``stat``   -- stat("/etc/hostname"): intercepted, resolved, passed through;
* ``getpid`` -- outside the filter: what every other syscall costs.

``--trivial`` adds the floor: the same loop under a supervisor that passes every
notification straight through (the seccomp round trip alone).  Not part of
``python -m bench``: it needs gcc and seccomp user notification.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent / "host"
KINDS = ("lookup", "update", "stat", "getpid")


def build(out_dir: str) -> str:
    binary = os.path.join(out_dir, "callloop")
    subprocess.run(["gcc", "-O2", "-o", binary, str(HERE / "callloop.c")], check=True)
    return binary


def _parse(output: str) -> tuple[int, int]:
    match = re.search(r"median_ns=(\d+) min_ns=(\d+)", output)
    if match is None:
        raise RuntimeError(f"unexpected output: {output!r}")
    return int(match.group(1)), int(match.group(2))


def live(binary: str, kind: str, n: int) -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    cmd = ["unshare", "-m", "--propagation", "private", binary, kind, str(n)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return _parse(result.stdout)


def hosted(binary: str, kind: str, n: int) -> tuple[int, int]:
    cmd = [sys.executable, "-m", "pinfs", "run", "--as-root", "--", binary, kind, str(n)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return _parse(result.stdout)


def trivial(binary: str, kind: str, n: int) -> tuple[int, int]:
    """The loop under a supervisor that passes every notification through."""
    from pinfs.host import seccomp
    from pinfs.host.serve import HANDLERS, NOTIFY_FD_FROM, NOTIFY_WHEN

    parent, child = socket.socketpair()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        parent.close()
        os.dup2(write_end, 1)
        listener = seccomp.install_filter(HANDLERS, NOTIFY_WHEN, NOTIFY_FD_FROM)
        socket.send_fds(child, [b"L"], [listener])
        os.execv(binary, [binary, kind, str(n)])
    child.close()
    os.close(write_end)
    _, fds, _, _ = socket.recv_fds(parent, 1, 1)
    listener = seccomp.Listener(fds[0])
    poller = select.poll()
    poller.register(listener.fd, select.POLLIN)
    while True:
        (_, mask), *_ = poller.poll()
        if not mask & select.POLLIN:
            break
        notif = listener.receive()
        if notif is not None:
            if notif.nr == 321:  # bpf must not reach the real kernel even here
                listener.fail(notif.id, 38)
            else:
                listener.pass_through(notif.id)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as out:
        return _parse(out.read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.host", description=__doc__)
    parser.add_argument("-n", type=int, default=3000, help="calls per kind")
    parser.add_argument("--trivial", action="store_true", help="add the round-trip floor")
    args = parser.parse_args(argv)
    if shutil.which("gcc") is None:
        print("bench.host: gcc is missing", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        binary = build(tmp)
        print(f"{'call':8} {'live median':>12} {'hosted median':>14} {'hosted min':>11}"
              + ("  round trip alone" if args.trivial else ""))  # fmt: skip
        for kind in KINDS:
            real = live(binary, kind, args.n)
            med, low = hosted(binary, kind, args.n)
            line = f"{kind:8} {_us(real[0]) if real else 'n/a':>12} {_us(med):>14} {_us(low):>11}"
            if args.trivial and kind in ("stat", "getpid"):
                line += f"  {_us(trivial(binary, kind, args.n)[0]):>17}"
            print(line)
    return 0


def _us(ns: int) -> str:
    return f"{ns / 1000:.1f} us"


if __name__ == "__main__":
    raise SystemExit(main())
