"""``python -m pinfs tour``: a guided tour of pinning, narrated step by step.

Every step is a real simulated syscall; the pictures are ``kernel.tree()``.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable

from pinfs.ebpf.attr import BPF_MAP_TYPE_HASH
from pinfs.machine.kernel import Kernel
from pinfs.machine.task import CLONE_NEWNS

KEY = struct.pack("<I", 1)


def run_tour(say: Callable[[str], None] = print) -> Kernel:
    """Run the tour, printing through ``say``; returns the final kernel."""
    k = Kernel()
    init = k.init_task

    def step(title: str) -> None:
        say("")
        say(f"== {title}")

    def show() -> None:
        for line in k.tree().splitlines():
            say("   " + line)

    step("1. Boot. /sys/fs/bpf is an empty directory: the kernel never mounts bpffs itself.")
    say(f"   ls /sys/fs/bpf -> {init.listdir('/sys/fs/bpf')}")
    step("2. Root mounts bpffs: mount -t bpf bpf /sys/fs/bpf")
    init.mount("bpf", "/sys/fs/bpf", "bpf")
    st = init.stat("/sys/fs/bpf")
    say(f"   the root is mode {st.st_mode:o} (sticky, world-writable), inode {st.st_ino}")

    step("3. A loader (pid 2, root) creates a hash map, stores counters[1] = 42, pins it.")
    loader = k.spawn(uid=0)
    fd = loader.map_create(BPF_MAP_TYPE_HASH, 4, 8, 64)
    loader.map_update_elem(fd, KEY, struct.pack("<Q", 42))
    loader.obj_pin(fd, "/sys/fs/bpf/counters")
    mode = init.stat("/sys/fs/bpf/counters").st_mode
    say(f"   map fd {fd}; pinned as /sys/fs/bpf/counters, mode {mode:o}")
    show()

    step("4. The loader exits. Its fd is closed, but the pin still holds the map.")
    loader.exit(0)
    show()

    step("5. A reader (uid 1000) asks for the pin: BPF_OBJ_GET needs *write* permission.")
    reader = k.spawn(uid=1000)
    try:
        reader.obj_get("/sys/fs/bpf/counters")
    except OSError as exc:
        say(f"   obj_get -> {errno.errorcode[exc.errno or 0]} (the pin is 0600, owned by root)")
    init.chmod("/sys/fs/bpf/counters", 0o666)
    say("   root: chmod 0666 /sys/fs/bpf/counters")
    rfd = reader.obj_get("/sys/fs/bpf/counters")
    value = struct.unpack("<Q", reader.map_lookup_elem(rfd, KEY))[0]
    say(f"   obj_get -> fd {rfd}; counters[1] = {value}")
    show()

    step("6. Another process unshares its mount namespace: the copied mount shares the pins.")
    other = k.spawn(uid=0)
    other.unshare(CLONE_NEWNS)
    say(f"   in the new namespace: ls /sys/fs/bpf -> {other.listdir('/sys/fs/bpf')}")
    other.mkdir("/mnt")
    other.mount("bpf", "/mnt", "bpf")
    say(f"   a fresh mount there is a new, empty instance: ls /mnt -> {other.listdir('/mnt')}")
    show()
    other.exit(0)

    step("7. Root unlinks the pin; the map lives while the reader's fd holds it...")
    init.unlink("/sys/fs/bpf/counters")
    show()
    step("8. ...and is freed when the reader closes its fd.")
    reader.close(rfd)
    show()
    k.check_invariants()
    say("")
    say("Every refcount matched its holders at every step (kernel.check_invariants()).")
    return k
