# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 9. Pin a link: replace a program without a gap, restart the loader
#
# Since Linux 5.7 a program is attached through a **bpf link**: an object of its own, with
# an id, that holds the program and is held by fds and pins. The attachment (here: the XDP
# slot of a network device) points at the link but holds no reference on it, so it lasts
# exactly as long as the link. Loaders such as bpfman, cilium, tetragon or aya **pin the
# link** so that the program outlives the loader, and replace the program with
# `BPF_LINK_UPDATE`, which swaps it in one step: the device never runs nothing.
#
# This lesson uses `LINUX_6_18` and the device every machine has, `lo`.

# %%
import os
import struct
from collections.abc import Callable

import pinfs
from pinfs.base.errors import errno_name
from pinfs.base.profiles import LINUX_6_18
from pinfs.ebpf.iterids import BPF_XDP
from pinfs.ebpf.prog import RETURN_ZERO
from pinfs.svg import show

XDP = 6  # BPF_PROG_TYPE_XDP
LO = 1  # lo's ifindex
PIN = "/sys/fs/bpf/lo_xdp"


def attempt(call: Callable[..., object], *args: object) -> object:
    """Make one syscall: its result, or the name of the errno it failed with."""
    try:
        return call(*args)
    except OSError as exc:
        return errno_name(exc.errno)


def running_on_lo(k: pinfs.Kernel) -> str:
    """The name of the program lo runs (generic XDP), or 'nothing'."""
    link = k.netdevs[LO].xdp[0].link
    if link is None or link.prog is None:
        return "nothing"
    return link.prog.name.decode()


def fdinfo(task: pinfs.Task, fd: int) -> str:
    f = task.open(f"/proc/self/fdinfo/{fd}", os.O_RDONLY)
    try:
        return task.read(f, 4096).decode()
    finally:
        task.close(f)


k = pinfs.Kernel(LINUX_6_18, mount_proc=True)
root = k.init_task
root.mount("bpf", "/sys/fs/bpf", "bpf")

# %% [markdown]
# ## Version 1 of the loader: attach, pin, exit
#
# The loader loads its program, attaches it to `lo` with `BPF_LINK_CREATE`, pins the link
# and exits. The link fd it got from `LINK_CREATE` reads as `anon_inode:bpf_link` in
# `/proc/self/fd` (one fetched later with `BPF_OBJ_GET` reads `anon_inode:bpf-link`:
# the kernel names the two files differently).

# %%
v1 = root.fork()
prog = v1.prog_load_typed(XDP, RETURN_ZERO, prog_name="fw_v1")
link = v1.link_create(prog, LO, BPF_XDP)
print(v1.readlink(f"/proc/self/fd/{link}"))
print(fdinfo(v1, link))
v1.obj_pin(link, PIN)
v1.exit(0)
print("lo runs:", running_on_lo(k))
show(k, "the pinned link keeps fw_v1 on lo after its loader exited")

# %% [markdown]
# Nothing but the pin holds the link now, and the link holds `fw_v1`. Had the loader not
# pinned it, its exit would have closed the last fd, freed the link, and detached the
# program from `lo`.
#
# ## Version 2: replace the program in place
#
# The new loader loads `fw_v2`, opens the pinned link with `BPF_OBJ_GET` and calls
# `BPF_LINK_UPDATE`. With `old_prog_fd` (which sets `BPF_F_REPLACE`) the update happens
# only if the link still runs the program the loader expects: a compare-and-swap, so two
# loaders restarting at once cannot both win. A stale expectation is EPERM.

# %%
v2 = root.fork()
pinned = v2.obj_get(PIN)
new = v2.prog_load_typed(XDP, RETURN_ZERO, prog_name="fw_v2")
stale = v2.prog_load_typed(XDP, RETURN_ZERO, prog_name="fw_v0")
print("with a stale old program:", attempt(v2.link_update, pinned, new, stale))
link_id, old_prog_id = struct.unpack_from("<II", v2.obj_get_info_by_fd(pinned, 64), 4)
old = v2.prog_get_fd_by_id(old_prog_id)  # what the link runs now, by the id its info gives
v2.link_update(pinned, new, old)
print("lo runs:", running_on_lo(k))
assert running_on_lo(k) == "fw_v2"

# %% [markdown]
# There was no moment without a program: the link swapped `fw_v1` for `fw_v2` and then put
# its reference on `fw_v1` (the stale attempt before it changed nothing: EPERM). The
# gapful way, detaching and attaching again, is what the update avoids; and a second
# attachment while the link holds the device is refused with EBUSY, since a device's XDP
# slot takes one program:

# %%
print("a second link on lo:", attempt(v2.link_create, new, LO, BPF_XDP))
v2.exit(0)
show(k, "after the update: the pin, the link, fw_v2")

# %% [markdown]
# ## Restarting the loader
#
# A restarted loader finds its link by the pin (or by id with `BPF_LINK_GET_FD_BY_ID`),
# checks what it runs, and leaves it alone. The attachment ends only when the link does:
# when the pin is removed and no fd is left, or at `BPF_LINK_DETACH`, which ends the
# attachment but keeps the link (its fdinfo then shows `ifindex: 0`, and updating it is
# ENOLINK).

# %%
v3 = root.fork()
again = v3.link_get_fd_by_id(link_id)
print(fdinfo(v3, again).splitlines()[-3:])
v3.link_detach(again)
print("lo runs:", running_on_lo(k))
fw_v3 = v3.prog_load_typed(XDP, RETURN_ZERO, prog_name="fw_v3")
print("update after detach:", attempt(v3.link_update, again, fw_v3))
v3.exit(0)
root.unlink(PIN)
assert not [o for o in k.objects() if o.kind == "link" and o.type == "xdp"]
k.check_invariants()

# %% [markdown]
# **What to remember.** Pin the link, not only the program: the pin keeps the attachment.
# Replace with `BPF_LINK_UPDATE` and `old_prog_fd`: one step, no gap, and EPERM if someone
# else got there first. `BPF_LINK_DETACH` and a device going away end the attachment but
# not the link (which then answers ENOLINK to an update); the last close or unlink ends
# both.
