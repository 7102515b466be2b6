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
# # 2. Permissions: who may pin, open and remove
#
# A pin is a file, so the ordinary file permission rules decide who may use it. bpffs adds
# three facts of its own at the seed commit (b2197755):
#
# 1. the root of a bpffs is mode **01777** (world-writable and sticky, like `/tmp`),
#    owned by root;
# 2. a pin is created with mode **0600 & ~umask**, owned by the pinning process's fsuid
#    and fsgid;
# 3. `BPF_OBJ_GET` asks for **write** permission on the pin (`inode_permission(MAY_WRITE)`
#    in `bpf_obj_do_get`), because the fd it returns can update the map.
#    Read permission plays no part.
#
# The third fact surprises people to this day: libbpf/libbpf#838, #851 and
# libbpf/libbpf-rs#1417 are all "I `chmod`ed the pin to 0644 and the reader still gets
# `EACCES`". Read-only fds (`BPF_F_RDONLY` in `file_flags`) only came in v4.15.

# %%
from collections.abc import Callable

import pinfs
from pinfs.base.errors import errno_name
from pinfs.svg import show


def attempt(call: Callable[..., object], *args: object) -> object:
    """Make one syscall: its result, or the name of the errno it failed with."""
    try:
        return call(*args)
    except OSError as exc:
        return errno_name(exc.errno)


def mode(task: pinfs.Task, path: str) -> str:
    return oct(task.stat(path).st_mode)


# %% [markdown]
# ## The root is open to everyone, and sticky

# %%
k = pinfs.Kernel()
root = k.init_task
root.mount("bpf", "/sys/fs/bpf", "bpf")
st = root.stat("/sys/fs/bpf")
assert oct(st.st_mode) == "0o41777" and (st.st_uid, st.st_gid) == (0, 0)

# %% [markdown]
# At the seed, unprivileged users may create maps (`kernel.unprivileged_bpf_disabled` is
# 0 by default), and anyone may create a file in a 01777 directory. So alice (uid 1000)
# can pin her map in the root. Her pin is hers, mode 0600:

# %%
alice = k.spawn(uid=1000)
bob = k.spawn(uid=1001)
fd = alice.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
alice.obj_pin(fd, "/sys/fs/bpf/alice_map")
st = alice.stat("/sys/fs/bpf/alice_map")
assert mode(alice, "/sys/fs/bpf/alice_map") == "0o100600"
assert (st.st_uid, st.st_gid) == (1000, 1000)
show(k, "alice's pin: -rw------- 1000:1000")

# %% [markdown]
# Bob cannot open it (no write permission), and the sticky bit stops him removing it:
# in a sticky directory only the file's owner, the directory's owner or a task with
# `CAP_FOWNER` may unlink. He cannot `chmod` it either: only the owner (or `CAP_FOWNER`)
# can.

# %%
assert attempt(bob.obj_get, "/sys/fs/bpf/alice_map") == "EACCES"
assert attempt(bob.unlink, "/sys/fs/bpf/alice_map") == "EPERM"
assert attempt(bob.chmod, "/sys/fs/bpf/alice_map", 0o666) == "EPERM"

# %% [markdown]
# ## The chmod that does *not* let bob in, and the one that does
#
# Giving bob read permission is what most people try first. It changes nothing, because
# `BPF_OBJ_GET` never asks for read permission:

# %%
alice.chmod("/sys/fs/bpf/alice_map", 0o644)
assert attempt(bob.obj_get, "/sys/fs/bpf/alice_map") == "EACCES"

# %% [markdown]
# Write permission is what counts. Mode 0602 (no read bit for anyone but alice) is enough
# for bob, and the fd he gets can read *and* update the map:

# %%
alice.chmod("/sys/fs/bpf/alice_map", 0o602)
bob_fd = bob.obj_get("/sys/fs/bpf/alice_map")
bob.map_update_elem(bob_fd, b"\x01\0\0\0", b"\x2a" + b"\0" * 7)
assert alice.map_lookup_elem(fd, b"\x01\0\0\0") == b"\x2a" + b"\0" * 7
show(k, "bob holds his own file on alice's map")

# %% [markdown]
# A tidier way to share is a group. Root makes a pin owned by group 2000, mode 0660, and
# only members of that group get in:

# %%
shared = root.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 8, 4)
root.obj_pin(shared, "/sys/fs/bpf/team_map")
root.chown("/sys/fs/bpf/team_map", 0, 2000)
root.chmod("/sys/fs/bpf/team_map", 0o660)
carol = k.spawn(uid=1002, groups=[2000])
assert isinstance(carol.obj_get("/sys/fs/bpf/team_map"), int)
assert attempt(bob.obj_get, "/sys/fs/bpf/team_map") == "EACCES"

# %% [markdown]
# ## umask trims the 0600
#
# The pin's mode is `0600 & ~umask`. The usual umask 022 leaves 0600. A umask that takes
# away the owner's write bit (0277 here) produces a 0400 pin, which its **own creator**
# cannot open any more, since `BPF_OBJ_GET` wants write permission. Only root gets past
# it, with `CAP_DAC_OVERRIDE`.

# %%
alice.umask(0o277)
alice.obj_pin(fd, "/sys/fs/bpf/alice_ro")
assert mode(alice, "/sys/fs/bpf/alice_ro") == "0o100400"
assert attempt(alice.obj_get, "/sys/fs/bpf/alice_ro") == "EACCES"
assert isinstance(root.obj_get("/sys/fs/bpf/alice_ro"), int)
alice.umask(0o022)

# %% [markdown]
# ## Directories follow their own mode
#
# Only the root is 01777. A directory alice makes gets `0777 & ~umask` (0755 with umask
# 022), so bob may look inside but not pin there (creating needs write and search
# permission on the parent):

# %%
alice.mkdir("/sys/fs/bpf/alice")
assert mode(alice, "/sys/fs/bpf/alice") == "0o40755"
bob_map = bob.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
assert attempt(bob.obj_pin, bob_map, "/sys/fs/bpf/alice/bob_map") == "EACCES"
assert attempt(bob.obj_pin, bob_map, "/sys/fs/bpf/bob_map") is None  # the root is open
k.check_invariants()
show(k, "pins of three users")

# %% [markdown]
# **What to remember.** Pins are 0600 and belong to whoever pinned them; the bpffs root
# lets anyone pin but, being sticky, lets nobody remove someone else's pin. To let
# another user open a pin at the seed, give them **write** permission on it (mode, group,
# or ownership); read permission is irrelevant. The same rules explain
# open-telemetry/opentelemetry-ebpf-instrumentation#1920, where pins left by a root run
# could not be replaced by a later run that had only some capabilities.
