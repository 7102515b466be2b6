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
# # 1. A pin outlives its process
#
# Before Linux 4.4, a BPF map or program lived exactly as long as some file descriptor
# pointed at it. That was a problem for `tc`: it reads an ELF object, creates the maps,
# loads the classifier and attaches it, then **exits**. The next `tc` run (say, for the
# egress side of the same device) cannot find the maps the first one made, so ingress and
# egress cannot share a map, and a program array for tail calls cannot be filled by a
# later run.
#
# The workaround was to pass the fds over a Unix domain socket (`SCM_RIGHTS`) to a daemon
# that kept them open. Commit
# [b2197755](https://git.kernel.org/torvalds/c/b2197755b2633e164a439682fb05a9b5ea48f706)
# ("bpf: add support for persistent maps/progs", Daniel Borkmann, 2015) added a small file
# system, bpffs, and two commands: `BPF_OBJ_PIN` gives an object a name in bpffs, and
# `BPF_OBJ_GET` opens a new fd on a pinned object. This lesson replays that story on
# pinfs, the model of that commit's kernel.
#
# Run it as a notebook to see pictures, or as a script (`python 01_pin_outlives_process.py`)
# to see the same state as text. Every claim is checked with `assert`.

# %%
import pinfs
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from pinfs.svg import show


def holders(kernel: pinfs.Kernel) -> dict[str, list[str]]:
    """Each live object ("map 1", "prog 2") with the kinds of its holders."""
    return {f"{o.kind} {o.id}": sorted(h.kind for h in o.holders) for o in kernel.objects()}


# %% [markdown]
# ## Without pinning, the objects die with tc
#
# A fresh kernel has an empty directory `/sys/fs/bpf`; the kernel never mounts bpffs by
# itself. Our "tc" is a root process (pid 2). It creates a hash map and loads a
# `SCHED_CLS` classifier whose code refers to the map (`BPF_LD_MAP_FD`): the program now
# holds a reference on the map through its `used_maps`.

# %%
k = pinfs.Kernel()
init = k.init_task
init.mount("bpf", "/sys/fs/bpf", "bpf")

tc = k.spawn(uid=0)
counters = tc.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 64)
prog = tc.prog_load(pinfs.BPF_PROG_TYPE_SCHED_CLS, BPF_LD_MAP_FD(1, counters) + RETURN_ZERO)
assert holders(k) == {"map 1": ["file", "used_map"], "prog 2": ["file"]}
show(k, "tc holds a map and a program")

# %% [markdown]
# Each arrow in the picture is one reference: blue from an fd, orange from the program's
# `used_maps` to the map. The refcount in each box is the number of arrows into it.
#
# `tc` exits: its fds are closed, the program's count drops to zero and it is freed, which
# drops its reference on the map, which is freed too.

# %%
tc.exit(0)
assert k.objects() == []
show(k, "tc exited: nothing left")

# %% [markdown]
# ## The workaround: hand the fds to a daemon
#
# Passing an fd over a Unix socket gives the receiver a new fd on the *same open file*;
# no new reference on the object is taken. pinfs has no sockets, but `fork` has exactly
# that effect on fds, so a forked "daemon" stands in for the receiving end.

# %%
tc = k.spawn(uid=0)
counters = tc.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 64)
prog = tc.prog_load(pinfs.BPF_PROG_TYPE_SCHED_CLS, BPF_LD_MAP_FD(1, counters) + RETURN_ZERO)
before = {o.id: o.refcnt for o in k.objects()}
daemon = tc.fork()
assert {o.id: o.refcnt for o in k.objects()} == before  # sharing a file is not a reference
tc.exit(0)
assert holders(k) == {"map 3": ["file", "used_map"], "prog 4": ["file"]}
show(k, "the daemon keeps the objects alive")

# %% [markdown]
# It works, but only while the daemon runs, and every tool that wants the map has to talk
# to that daemon. When it goes, so do the objects:

# %%
daemon.exit(0)
assert k.objects() == []

# %% [markdown]
# ## Pinning: a name in bpffs holds the reference
#
# iproute2 keeps its shared maps under `/sys/fs/bpf/tc/globals/`. bpffs has no `mkdir -p`,
# so the directories are made one by one. `obj_pin(fd, path)` creates a file there whose
# inode holds one reference on the object.

# %%
tc = k.spawn(uid=0)
counters = tc.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 64)
prog = tc.prog_load(pinfs.BPF_PROG_TYPE_SCHED_CLS, BPF_LD_MAP_FD(1, counters) + RETURN_ZERO)
tc.mkdir("/sys/fs/bpf/tc")
tc.mkdir("/sys/fs/bpf/tc/globals")
tc.obj_pin(counters, "/sys/fs/bpf/tc/globals/counters")
tc.obj_pin(prog, "/sys/fs/bpf/tc/ingress")
tc.exit(0)
assert holders(k) == {"map 5": ["pin", "used_map"], "prog 6": ["pin"]}
show(k, "tc exited; the pins hold the objects")

# %% [markdown]
# The green arrows come from the pinned names. No process holds anything now, yet both
# objects live: the map with two references (its pin and the program), the program with
# one (its pin).
#
# ## A later tc run finds the map by name
#
# The egress run opens the pinned map with `BPF_OBJ_GET`, which makes a **new** open file
# (and takes a reference), and loads its own program using the same map: ingress and
# egress now share their counters.

# %%
tc2 = k.spawn(uid=0)
shared = tc2.obj_get("/sys/fs/bpf/tc/globals/counters")
egress = tc2.prog_load(pinfs.BPF_PROG_TYPE_SCHED_CLS, BPF_LD_MAP_FD(1, shared) + RETURN_ZERO)
tc2.obj_pin(egress, "/sys/fs/bpf/tc/egress")
tc2.close(shared)
tc2.close(egress)
tc2.exit(0)
assert holders(k) == {
    "map 5": ["pin", "used_map", "used_map"],
    "prog 6": ["pin"],
    "prog 7": ["pin"],
}
show(k, "two programs share one pinned map")

# %% [markdown]
# ## Removing the pins
#
# A pin is an ordinary file for `unlink`/`rm`. Removing a program's pin frees it (nothing
# else holds it), and that releases its hold on the map. When the last holder of the map
# goes, the map is freed too.

# %%
init.unlink("/sys/fs/bpf/tc/ingress")
init.unlink("/sys/fs/bpf/tc/egress")
assert holders(k) == {"map 5": ["pin"]}
init.unlink("/sys/fs/bpf/tc/globals/counters")
assert k.objects() == []
k.check_invariants()  # every refcount matched its holders
show(k, "all pins removed")

# %% [markdown]
# **What to remember.** An object lives while anything holds a reference: an open file
# (shared by every fd that points at it, whether dup'ed, inherited or passed over a
# socket), a pin, a program that uses a map, or a program-array slot. A pin is the only
# holder that needs no running process.
