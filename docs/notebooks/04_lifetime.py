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
# # 4. Lifetime: reference counts and who holds them
#
# Every map and program has a reference count (`refcnt`). At the seed commit exactly four
# kinds of holder take a reference, and the object is freed the moment the count drops to
# zero:
#
# | holder | taken by | dropped by |
# |---|---|---|
# | open file | `MAP_CREATE`, `PROG_LOAD`, `OBJ_GET` | last `close` of that file |
# | pinned inode | `OBJ_PIN` | inode eviction: `unlink`, bpffs death |
# | `used_maps` entry (on a map) | `PROG_LOAD` naming the map | the program's death |
# | `PROG_ARRAY` slot (on a program) | `map_update_elem` | delete, replace, flush |
#
# `dup`, `fork` and fd passing add fds to the same open file and take **no** reference.
# pinfs checks after every step that each count equals its number of holders
# (`kernel.check_invariants()`), and the pictures draw one arrow per holder.

# %%
import os
import struct
from collections.abc import Callable

import pinfs
from pinfs.base.errors import errno_name
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from pinfs.svg import show

O_PATH = 0o10000000


def attempt(call: Callable[..., object], *args: object) -> object:
    """Make one syscall: its result, or the name of the errno it failed with."""
    try:
        return call(*args)
    except OSError as exc:
        return errno_name(exc.errno)


def refcnt(kernel: pinfs.Kernel) -> dict[str, int]:
    """Each live object ("map 1") with its reference count."""
    return {f"{o.kind} {o.id}": o.refcnt for o in kernel.objects()}


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


k = pinfs.Kernel()
root = k.init_task
root.mount("bpf", "/sys/fs/bpf", "bpf")

# %% [markdown]
# ## Counting holders

# %%
fd = root.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
assert refcnt(k) == {"map 1": 1}  # the file made by MAP_CREATE
fd_copy = root.dup(fd)
child = root.fork()
assert refcnt(k) == {"map 1": 1}  # dup and fork share that file
root.obj_pin(fd, "/sys/fs/bpf/m")
root.obj_pin(fd, "/sys/fs/bpf/m_again")  # one object, two names: two holders
assert refcnt(k) == {"map 1": 3}
fd_get = root.obj_get("/sys/fs/bpf/m")  # a new file: a new holder
assert refcnt(k) == {"map 1": 4}
show(k, "map 1: one file shared by three fds, two pins, one more file")

# %% [markdown]
# The dashed arrows are the extra fds on the first file: drawn, but not counted.
#
# ## Unlink evicts the pin... unless something still holds the inode
#
# Removing a pin drops the inode's last link; bpffs evicts the inode at once and releases
# its reference. An `O_PATH` fd on the pin, though, holds the **inode**: the pin's
# reference lives on, unreachable by name, until that fd is closed.

# %%
root.unlink("/sys/fs/bpf/m_again")
assert refcnt(k) == {"map 1": 3}
opath = root.open("/sys/fs/bpf/m", O_PATH)
root.unlink("/sys/fs/bpf/m")
assert refcnt(k) == {"map 1": 3}  # the unlinked inode still holds the map
show(k, "an O_PATH fd keeps an unlinked pin alive")

# %%
root.close(opath)
assert refcnt(k) == {"map 1": 2}
for f in (fd, fd_copy, fd_get):
    root.close(f)
assert refcnt(k) == {"map 1": 1}  # the child's fd still holds the first file
child.exit(0)
assert refcnt(k) == {}

# %% [markdown]
# ## Umount: pins do not keep bpffs busy, but they die with it
#
# `umount` fails with `EBUSY` only for open files, working directories or mounts inside
# the tree. Pins do not count. When the **last** mount of a bpffs goes, the superblock is
# destroyed and every pinned object is released; mounting again gives an empty bpffs.

# %%
fd = root.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 8, 4)
root.obj_pin(fd, "/sys/fs/bpf/survivor")
root.close(fd)
dirfd = root.open("/sys/fs/bpf", os.O_RDONLY)
assert attempt(root.umount, "/sys/fs/bpf") == "EBUSY"  # an open directory
root.close(dirfd)
root.umount("/sys/fs/bpf")
assert refcnt(k) == {}  # the pin went with the superblock
root.mount("bpf", "/sys/fs/bpf", "bpf")
assert root.listdir("/sys/fs/bpf") == []

# %% [markdown]
# ## Programs hold maps; program arrays hold programs
#
# A program that names a map in its code (`BPF_LD_MAP_FD`) holds that map for as long as
# it lives. A `PROG_ARRAY` (the table `bpf_tail_call` jumps through) holds every program
# stored in it. Once the loader has closed its fds on the programs and on the counters
# map, those objects are held only by pins and by each other:

# %%
loader = k.spawn(uid=0)
counters = loader.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
jmp = loader.map_create(pinfs.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4)
entry = loader.prog_load(
    pinfs.BPF_PROG_TYPE_SCHED_CLS, BPF_LD_MAP_FD(1, counters) + BPF_LD_MAP_FD(2, jmp) + RETURN_ZERO
)
leaf = loader.prog_load(pinfs.BPF_PROG_TYPE_SCHED_CLS, RETURN_ZERO)
loader.map_update_elem(jmp, u32(0), u32(leaf))
loader.obj_pin(entry, "/sys/fs/bpf/entry")
loader.obj_pin(jmp, "/sys/fs/bpf/jmp")
for f in (counters, entry, leaf):
    loader.close(f)
assert refcnt(k) == {"map 3": 1, "map 4": 3, "prog 5": 1, "prog 6": 1}
show(k, "entry uses counters and jmp; jmp[0] holds leaf")

# %% [markdown]
# `map 3` (counters) is held only by `entry`'s `used_maps`; `prog 6` (leaf) only by slot
# `jmp[0]`. Deleting the slot frees `leaf`; unlinking `entry` frees it and, with it, the
# counters map.

# %%
loader.map_delete_elem(jmp, u32(0))
assert "prog 6" not in refcnt(k)
root.unlink("/sys/fs/bpf/entry")
assert refcnt(k) == {"map 4": 2}  # only jmp is left: its pin and the loader's fd
loader.exit(0)
root.unlink("/sys/fs/bpf/jmp")
assert refcnt(k) == {}

# %% [markdown]
# ## A cycle, and why the seed flushes program arrays
#
# A program may tail-call through an array that holds the program itself: the program
# holds the array (`used_maps`) and the array holds the program (a slot). Reference
# counting alone would never free such a pair. The seed kernel breaks the cycle by
# **emptying a program array whenever one of its files is released** (`bpf_map_release`).
# Closing the array's fd flushes the slot, which frees the program, which releases the
# array:

# %%
jmp = root.map_create(pinfs.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4)
selfish = root.prog_load(pinfs.BPF_PROG_TYPE_SCHED_CLS, BPF_LD_MAP_FD(1, jmp) + RETURN_ZERO)
root.map_update_elem(jmp, u32(0), u32(selfish))
root.close(selfish)
assert refcnt(k) == {"map 7": 2, "prog 8": 1}  # a cycle: jmp -> prog 8 -> jmp
show(k, "a reference cycle through a program array")

# %%
root.close(jmp)
assert refcnt(k) == {}
k.check_invariants()

# %% [markdown]
# The flush on *every* release is also a bug: it empties a **pinned** array as soon as the
# process that filled it exits. Lesson 5 shows that bug and its fix.
#
# **What to remember.** Count arrows, not fds: one per open file, pin, `used_maps` entry or
# array slot. An object dies the instant the last one goes: at `close`, at `unlink`
# (unless the inode is held), at the last `umount` of its bpffs, or when the program or
# array holding it dies.
