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
# # 6. Errors real users hit
#
# Each section below is a bug report from an eBPF project, replayed on pinfs: what the
# user did, the errno the kernel gave, the kernel check behind it, and the fix. The same
# checks exist in today's kernels; where one has changed since the seed commit, the
# section says so.

# %%
from collections.abc import Callable

import pinfs
from pinfs.base.errors import errno_name
from pinfs.base.profiles import LINUX_4_7, LINUX_5_10
from pinfs.svg import show


def attempt(call: Callable[..., object], *args: object) -> object:
    """Make one syscall: its result, or the name of the errno it failed with."""
    try:
        return call(*args)
    except OSError as exc:
        return errno_name(exc.errno)


def booted(profile: pinfs.Profile = pinfs.SEED) -> tuple[pinfs.Kernel, pinfs.Task]:
    """A kernel with bpffs mounted on /sys/fs/bpf, and its root task."""
    k = pinfs.Kernel(profile=profile)
    k.init_task.mount("bpf", "/sys/fs/bpf", "bpf")
    return k, k.init_task


# %% [markdown]
# ## "failed to pin map: Operation not permitted": a dot in the name
#
# *xdp-project/xdp-tutorial#86 (fixed in PR #176), l3af-project/l3afd#533,
# bpfman/bpfman#794.* libbpf makes maps for an object's `.rodata`, `.data` and `.bss`
# sections, named after them, and pinning "by name" put a dot in the pin path. bpffs
# reserves names containing a dot **anywhere** (`bpf_dname_reserved`): creating one,
# pin or directory, is `EPERM`. libbpf now replaces `.` by `_` in the paths it builds
# (`sanitize_pin_path`).

# %%
k, root = booted()
fd = root.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 8, 1)
for name in (".rodata", "prog.bss", "trailing."):
    assert attempt(root.obj_pin, fd, f"/sys/fs/bpf/{name}") == "EPERM"
assert attempt(root.mkdir, "/sys/fs/bpf/v1.2") == "EPERM"
root.obj_pin(fd, "/sys/fs/bpf/" + ".rodata".replace(".", "_"))  # what libbpf does now
assert root.listdir("/sys/fs/bpf") == ["_rodata"]

# %% [markdown]
# At the seed the dot check runs last, when the name is created, after the permission
# check, so a user who may not write the directory sees `EACCES` instead; looking up a
# missing dotted name is a plain `ENOENT`. Later kernels (by 5.10) refuse dotted names
# already at lookup, so even `stat` says `EPERM`:

# %%
user = k.spawn(uid=1000)
root.mkdir("/sys/fs/bpf/private", 0o755)
user_map = user.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 8, 1)
assert attempt(user.obj_pin, user_map, "/sys/fs/bpf/private/x.y") == "EACCES"
assert attempt(root.stat, "/sys/fs/bpf/a.b") == "ENOENT"
k510, root510 = booted(LINUX_5_10)
assert attempt(root510.stat, "/sys/fs/bpf/a.b") == "EPERM"

# %% [markdown]
# ## "file exists" when pinning again
#
# *cilium/ebpf#263 (fixed by PR #271).* A pin never replaces an existing name:
# `BPF_OBJ_PIN` creates the name like `mknod` does (`kern_path_create`), so an existing
# name, whatever it is, gives `EEXIST`. Unlink the old pin first, or, on kernels that can
# rename in bpffs (v4.5 on; `EPERM` at the seed), pin under a temporary name and rename it
# over the old one, which replaces it in one step.

# %%
k, root = booted()
old = root.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
new = root.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
root.obj_pin(old, "/sys/fs/bpf/state")
assert attempt(root.obj_pin, new, "/sys/fs/bpf/state") == "EEXIST"
root.obj_pin(new, "/sys/fs/bpf/state_tmp")
assert attempt(root.rename, "/sys/fs/bpf/state_tmp", "/sys/fs/bpf/state") == "EPERM"
root.unlink("/sys/fs/bpf/state")  # the seed's way: unlink the old pin...
root.obj_pin(new, "/sys/fs/bpf/state")  # ...then pin (for a moment there is no pin at all)
root.unlink("/sys/fs/bpf/state_tmp")

k47, root47 = booted(LINUX_4_7)
old = root47.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
new = root47.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
root47.obj_pin(old, "/sys/fs/bpf/state")
root47.obj_pin(new, "/sys/fs/bpf/state_tmp")
root47.rename("/sys/fs/bpf/state_tmp", "/sys/fs/bpf/state")  # atomic replacement
assert root47.listdir("/sys/fs/bpf") == ["state"]

# %% [markdown]
# ## EPERM when /sys/fs/bpf is not a bpffs
#
# *libbpf/bpftool#89, #100, #146; cilium/cilium#3717.* Nothing mounts bpffs by itself:
# `/sys/fs/bpf` is an empty directory of sysfs until someone runs
# `mount -t bpf bpf /sys/fs/bpf` (in a container, it may not be mounted at all, or be the
# wrong instance). Pinning into a directory that is not on bpffs is refused with `EPERM`
# (`bpf_obj_do_pin`: the parent's inode operations are not bpffs's), which reads like a
# permission problem and is not one. libbpf and cilium/ebpf check first with `statfs` that
# the parent's file system type is `BPF_FS_MAGIC` (0xcafe4a11) and say "not on a bpf
# filesystem"; raw `bpf(2)` users get the bare `EPERM`.

# %%
k = pinfs.Kernel()
root = k.init_task
fd = root.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
assert root.statfs("/sys/fs/bpf").f_type != pinfs.BPF_FS_MAGIC
assert attempt(root.obj_pin, fd, "/sys/fs/bpf/counters") == "EPERM"
assert attempt(root.obj_pin, fd, "/tmp/counters") == "EPERM"  # even where anyone may write
root.mount("bpf", "/sys/fs/bpf", "bpf")
assert root.statfs("/sys/fs/bpf").f_type == pinfs.BPF_FS_MAGIC
root.obj_pin(fd, "/sys/fs/bpf/counters")

# %% [markdown]
# ## "no such file or directory": the parent directory is missing
#
# *hemanthmalla/reuseport_ebpf#1* (pinning to `/sys/fs/bpf/tc/globals/...` on a machine
# where `tc` had never made that directory); also aya-rs/aya#803, where a path joined the
# map name twice. `BPF_OBJ_PIN` creates the last component only; every directory above
# it must exist, or the walk fails with `ENOENT`. Create the directories one at a time
# (there is no `mkdir -p` in the kernel).

# %%
path = "/sys/fs/bpf/tc/globals/sock_map"
assert attempt(root.obj_pin, fd, path) == "ENOENT"
parts = path.split("/")[1:-1]
for depth in range(1, len(parts) + 1):
    directory = "/" + "/".join(parts[:depth])
    if attempt(root.stat, directory) == "ENOENT":
        root.mkdir(directory)
root.obj_pin(fd, path)
show(k, "after mkdir -p: /sys/fs/bpf/tc/globals/sock_map")

# %% [markdown]
# ## "map not found": BPF_OBJ_GET of a pin that is not there yet
#
# *iovisor/bcc#3589, #3373.* bcc's `BPF_TABLE_PINNED` opens an **existing** pin. If the
# program that creates it has not run yet, `BPF_OBJ_GET` gives `ENOENT`. libbpf's
# auto-pinning does the opposite: it tries `BPF_OBJ_GET` first and creates and pins the
# map only on `ENOENT`.

# %%
assert attempt(root.obj_get, "/sys/fs/bpf/tc/globals/flows") == "ENOENT"
flows = root.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
root.obj_pin(flows, "/sys/fs/bpf/tc/globals/flows")
assert isinstance(root.obj_get("/sys/fs/bpf/tc/globals/flows"), int)

# %% [markdown]
# ## "Permission denied" for a reader
#
# *libbpf/libbpf#838, #851; libbpf/libbpf-rs#1417.* A monitoring tool running as an
# ordinary user cannot open a pin that root made: pins are 0600, and `BPF_OBJ_GET` asks
# for **write** permission, so `chmod 0644` does not help. Lesson 2 has the details; the
# short version:

# %%
reader = k.spawn(uid=1000)
assert attempt(reader.obj_get, "/sys/fs/bpf/counters") == "EACCES"
root.chmod("/sys/fs/bpf/counters", 0o644)
assert attempt(reader.obj_get, "/sys/fs/bpf/counters") == "EACCES"
root.chmod("/sys/fs/bpf/counters", 0o666)
assert isinstance(reader.obj_get("/sys/fs/bpf/counters"), int)
assert attempt(reader.obj_get, "/sys/fs/bpf/tc") == "EACCES"  # a directory is no object
k.check_invariants()

# %% [markdown]
# ## What pinfs cannot show: EPERM from a security module
#
# *cilium/cilium#9988:* `bpf()` failed with `EPERM` even as root. The answer came from
# `security_bpf()`: an LSM (SELinux, AppArmor, a BPF LSM) may refuse any of these calls
# with an errno of its own. pinfs models no LSM (every `security_*` hook allows), so when
# a real kernel disagrees with pinfs about an `EPERM`, check the LSM's log first.
#
# **What to remember.**
#
# | errno | first thing to check |
# |---|---|
# | `EPERM` on pin | a `.` in the name; is the parent directory really on bpffs? |
# | `EEXIST` on pin | the name is taken: unlink it, or rename over it (v4.5 on) |
# | `ENOENT` on pin | a missing parent directory |
# | `ENOENT` on get | nothing pinned there (yet) |
# | `EACCES` on get | no **write** permission on the pin (v4.15 on: `BPF_F_RDONLY` needs read) |
