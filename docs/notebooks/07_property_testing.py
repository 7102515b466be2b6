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
# # 7. Property-testing your own pinning code
#
# The lessons so far replayed other people's bugs. This one finds bugs in *your* code.
# pinfs boots a kernel in about a tenth of a millisecond, so a property-based test can
# try hundreds of kernels, names, users and umasks in a second, with no root and no
# real bpffs. `pinfs.testing.strategies` has Hypothesis strategies for the inputs that
# matter to pinning (names with dots, long names, paths, umasks, credentials, map specs),
# and `pinfs.testing.PinningMachine` runs random syscall sequences against pinfs and a
# reference model.
#
# Our code under test is the helper every loader grows: "pin this map by name, or reuse
# it if it is already pinned", what libbpf calls `LIBBPF_PIN_BY_NAME`.

# %%
import errno
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import run_state_machine_as_test
from hypothesis.strategies import SearchStrategy

import pinfs
from pinfs.base.profiles import LINUX_4_4
from pinfs.svg import show
from pinfs.testing import MapSpec, PinningMachine
from pinfs.testing import strategies as pst

APP_DIR = "/sys/fs/bpf/app"
SPEC = MapSpec(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
FAST = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run: a lesson must not flake
    database=None,
    report_multiple_bugs=False,  # one (shrunk) counterexample at a time
    suppress_health_check=list(HealthCheck),
)


def fresh_user() -> tuple[pinfs.Kernel, pinfs.Task]:
    """A new kernel with bpffs mounted, and an unprivileged loader (uid 1000)."""
    k = pinfs.Kernel()
    k.init_task.mount("bpf", "/sys/fs/bpf", "bpf")
    return k, k.spawn(uid=1000)


# %% [markdown]
# ## Version 1
#
# Make the application's directory if needed, try `BPF_OBJ_GET`, and on `ENOENT` create
# the map and pin it.


# %%
def pin_by_name_v1(task: pinfs.Task, name: str, spec: MapSpec) -> int:
    if "app" not in task.listdir("/sys/fs/bpf"):
        task.mkdir(APP_DIR)
    path = f"{APP_DIR}/{name}"
    try:
        return task.obj_get(path)
    except FileNotFoundError:
        fd = task.map_create(*spec)
        task.obj_pin(fd, path)
        return fd


# %% [markdown]
# The properties we want, for **any** map name (any string without `/`):
#
# 1. it returns an fd on the map pinned under that name;
# 2. a second call returns the same map (no second map is made);
# 3. when the loader exits, the map stays pinned.
#
# `pst.names(long=False)` draws plain names, names with dots (`.`, `a.b`, `.hidden`) and
# non-ASCII names. Each example boots its own kernel.


# %%
def check_pin_by_name(
    pin_by_name: Callable[[pinfs.Task, str, MapSpec], int], name: str, umask: int | None = None
) -> None:
    k, loader = fresh_user()
    if umask is not None:
        loader.umask(umask)
    fd = pin_by_name(loader, name, SPEC)
    again = pin_by_name(loader, name, SPEC)
    assert loader.fd_object(fd) is loader.fd_object(again)
    assert len(k.objects()) == 1
    loader.exit(0)
    assert [h.kind for h in k.objects()[0].holders] == ["pin"]
    k.check_invariants()


def find_failure(prop: Callable[..., None], **strategies: SearchStrategy[Any]) -> dict[str, Any]:
    """Run a property that should fail; return Hypothesis's shrunk example and its error."""
    seen: dict[str, Any] = {}

    @FAST
    @given(**strategies)
    def recording(**example: Any) -> None:
        try:
            prop(**example)
        except Exception as exc:
            seen.clear()
            seen.update(example, error=exc)
            raise

    try:
        recording()
    except Exception:
        return seen  # Hypothesis runs the shrunk example last
    raise AssertionError("no counterexample found")


failure = find_failure(
    lambda name: check_pin_by_name(pin_by_name_v1, name), name=pst.names(long=False)
)
print(f"name {failure['name']!r}: {failure['error']!r}")
assert "." in failure["name"] and isinstance(failure["error"], OSError)

# %% [markdown]
# Hypothesis finds a name with a dot and shrinks it to the simplest one, `.`, which is
# not a name at all: `app/.` is the directory itself, so the loader's `BPF_OBJ_GET`
# fails with `EACCES` (`bpf_inode_type`: not a pinned map or program), and so does
# `..`. A longer dotted name such as `a.b` gets past `BPF_OBJ_GET` (`ENOENT`) and fails
# at the pin instead: bpffs refuses any name containing a dot (`EPERM`, lesson 6).

# %%
k, loader = fresh_user()
outcomes = {}
for dotted in ("..", "a.b"):
    try:
        pin_by_name_v1(loader, dotted, SPEC)
    except OSError as exc:
        outcomes[dotted] = errno.errorcode[exc.errno]
        print(f"{dotted!r}: {exc}")
assert outcomes == {"..": "EACCES", "a.b": "EPERM"}

# %% [markdown]
# libbpf's answer is to replace every `.` with `_`.
#
# ## Version 2: sanitised names


# %%
def pin_by_name_v2(task: pinfs.Task, name: str, spec: MapSpec) -> int:
    return pin_by_name_v1(task, name.replace(".", "_"), spec)


FAST(given(name=pst.names(long=False))(lambda name: check_pin_by_name(pin_by_name_v2, name)))()

# %% [markdown]
# That passes. But our loader does not choose its umask: it inherits it from whoever
# starts it. Let the umask vary too (`pst.umasks()`):

# %%
failure = find_failure(
    lambda name, umask: check_pin_by_name(pin_by_name_v2, name, umask),
    name=pst.names(long=False),
    umask=pst.umasks(),
)
print(f"name {failure['name']!r}, umask {failure['umask']:03o}: {failure['error']!r}")
assert failure["umask"] & 0o700 and getattr(failure["error"], "errno", None) == errno.EACCES

# %% [markdown]
# A umask that takes away one of the owner's bits breaks the loader: without the owner's
# search bit on the directory, or without write permission on the pin (which
# `BPF_OBJ_GET` needs at the seed, lesson 2), its own second call gets `EACCES`. Here is
# what such a run leaves behind:

# %%
k, loader = fresh_user()
loader.umask(failure["umask"])
try:
    pin_by_name_v2(loader, "counters", SPEC)
    pin_by_name_v2(loader, "counters", SPEC)
except PermissionError:
    pass
show(k, f"umask {failure['umask']:03o}: the loader locked itself out")

# %% [markdown]
# ## Version 3: choose the modes yourself
#
# Set the umask while creating, and put it back afterwards.


# %%
def pin_by_name_v3(task: pinfs.Task, name: str, spec: MapSpec) -> int:
    old = task.umask(0o077)  # directories 0700, pins 0600: ours alone
    try:
        return pin_by_name_v2(task, name, spec)
    finally:
        task.umask(old)


FAST(
    given(name=pst.names(long=False), umask=pst.umasks())(
        lambda name, umask: check_pin_by_name(pin_by_name_v3, name, umask)
    )
)()

# %% [markdown]
# Left as exercises, each one line of strategy away: `pst.names()` also draws names
# longer than 255 bytes (what *should* the helper do with them?); two different names,
# `a.b` and `a_b`, now share one pin (is that what you want?); and
# `pst.credentials()` draws other users, who may find the directory already made by
# someone else.
#
# ## The whole kernel under random syscalls
#
# `PinningMachine` is a Hypothesis state machine: tasks fork, exit, change user and
# namespace, mount and unmount, create and pin maps and programs, fill program arrays,
# unlink, and so on, at random. After every step it checks `kernel.check_invariants()`
# and compares pinfs with an independent reference model of who holds what. Subclass it
# to pick a kernel profile, add rules for your own loader (through `self.driver`, so the
# model follows), or add invariants for what your code promises; in a test suite,
# `TestPinning = PinningMachine.TestCase` makes it a test.


# %%
class Linux44(PinningMachine):
    profile = LINUX_4_4  # c9da161c6517's PROG_ARRAY rules, for example


for machine in (PinningMachine, Linux44):
    run_state_machine_as_test(
        machine,
        settings=settings(FAST, max_examples=10, stateful_step_count=30),
    )

# %% [markdown]
# **What to remember.** The kernel rules that bite loaders (dots, permissions, umask,
# namespaces, lifetimes) are all in pinfs, so a property test over names, users and
# umasks finds in a second what would otherwise be found on a customer's machine.
