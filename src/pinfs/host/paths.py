"""Where a hosted process's path lands: on a simulated mount or on the real system.

:func:`resolve` walks a path the way ``link_path_walk`` would, in the child's own view
(its root and mounts, through ``/proc/PID/root``): from the cwd or a directory fd,
component by component, ``.`` and ``..``, following real symlinks (40 at most, as
``MAXSYMLINKS``).  The walk stops at the first prefix that is a simulated mount point;
the rest of the path is the model's to resolve (its own ``..`` and symlinks).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

import attrs

MAXSYMLINKS = 40
AT_FDCWD = -100


@attrs.frozen
class Landing:
    """The outcome: ``simulated`` is the absolute path in the model, or None (the real
    kernel's); ``host`` is the absolute path in the child's view when real."""

    simulated: str | None
    host: str | None = None
    #: The walk went through a simulated mount (``..`` out of it, a symlink in it
    #: leading out, a simulated cwd or dirfd) and lands on the real system: the real
    #: kernel, given the program's path, would walk another way (the covering tmpfs).
    detour: bool = False


#: ``model_link(path)``: the target if the model's ``path`` is a symlink, None if it
#: is anything else, :data:`MISSING` if the model's walk fails there (its errno is the
#: model's to give).
ModelLink = Callable[[str], "str | object | None"]
MISSING = object()


def _split(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


@attrs.define
class Resolver:
    """Resolution for one hosted process: ``mounts`` are the simulated mount points."""

    mounts: tuple[str, ...]
    model_link: ModelLink | None = None  # None: ``..`` out of a mount read lexically

    def is_mount(self, parts: list[str]) -> bool:
        return "/" + "/".join(parts) in self.mounts

    def resolve(self, pid: int, base: str, path: str, follow: bool) -> Landing:
        """Resolve ``path`` relative to ``base`` (an absolute path in the child's view,
        its cwd or the directory of a dirfd; a simulated path if the dirfd is one)."""
        if path.startswith("/"):
            base = "/"
        current = _split(base)
        pending = _split(path)
        detour = False
        for index in range(1, len(current) + 1):  # a base inside a simulated mount:
            if self.is_mount(current[:index]):  # walk again from the mount point
                pending = current[index - 1 :] + pending
                current = current[: index - 1]
                detour = True
                break
        root = f"/proc/{pid}/root"
        trailing = path.endswith("/")
        links = 0
        while pending:
            part = pending.pop(0)
            if part == ".":
                continue
            if part == "..":
                if current:
                    current.pop()
                continue
            candidate = [*current, part]
            if candidate == ["proc", "self"]:  # the caller's /proc/self, not ours
                candidate = ["proc", str(pid)]
            elif candidate == ["proc", "thread-self"]:
                candidate = ["proc", str(pid), "task", str(pid)]
            if self.is_mount(candidate):
                if self.model_link is None:
                    climbed = _climbs_out(pending)
                    if climbed is None:
                        return Landing(_join(candidate, pending, keep_slash=trailing))
                    pending = pending[climbed:]  # ".." past the mount root
                    detour = True
                    continue
                walked = self._walk_model(candidate, pending, follow or trailing, links)
                inside, pending, links = walked
                if inside is not None:
                    return Landing(_join(inside, pending, keep_slash=trailing))
                detour = True  # out of the mount: on with ``pending`` from where it left
                if pending and pending[0] == "/":
                    current, pending = [], pending[1:]
                continue
            last = not pending
            try:
                st = os.lstat(root + "/" + "/".join(candidate))
            except OSError:
                return Landing(None, "/" + "/".join(candidate + pending), detour)
            if stat.S_ISLNK(st.st_mode) and (not last or follow or trailing):
                links += 1
                if links > MAXSYMLINKS:
                    return Landing(None, "/" + "/".join(candidate + pending), detour)
                target = os.readlink(root + "/" + "/".join(candidate))
                if target.startswith("/"):
                    current = []
                pending = _split(target) + pending
                continue
            if not last and not stat.S_ISDIR(st.st_mode):
                return Landing(None, "/" + "/".join(candidate + pending), detour)
            current = candidate
        if self.is_mount(current):
            return Landing("/" + "/".join(current))
        return Landing(None, "/" + "/".join(current), detour)

    def _walk_model(
        self, mount: list[str], pending: list[str], follow: bool, links: int
    ) -> tuple[list[str] | None, list[str], int]:
        """The walk below a simulated mount point, in the model (``walk_component``
        with ``follow_dotdot`` and ``pick_link``): returns (components, rest, links)
        where it stays in the model (the model walks the rest and gives any errno),
        or (None, rest, links) where ``..`` through the mount root or a symlink
        leads out; an absolute symlink's rest starts with "/"."""
        assert self.model_link is not None
        inside: list[str] = []
        while pending:
            part = pending.pop(0)
            if part == ".":
                continue
            if part == "..":
                if not inside:
                    return None, pending, links  # at the mount's root: its parent
                inside.pop()
                continue
            here = [*mount, *inside, part]
            found = self.model_link("/" + "/".join(here))
            if found is MISSING:
                return [*mount, *inside, part], pending, links
            if isinstance(found, str) and (pending or follow):
                links += 1
                if links > MAXSYMLINKS:  # the model says ELOOP
                    return [*mount, *inside, part], pending, links
                if found.startswith("/"):
                    return None, ["/", *_split(found), *pending], links
                pending = _split(found) + pending
                continue
            inside.append(part)
        return [*mount, *inside], [], links


def _climbs_out(rest: list[str]) -> int | None:
    """How many components of ``rest`` (read lexically: symlinks inside a simulated
    mount that lead out are not followed out) take the walk back above the mount
    root, or None if it stays inside."""
    depth = 0
    for index, part in enumerate(rest):
        if part == "..":
            depth -= 1
            if depth < 0:
                return index + 1
        elif part != ".":
            depth += 1
    return None


def _join(prefix: list[str], rest: list[str], keep_slash: bool) -> str:
    path = "/" + "/".join(prefix + rest)
    return path + "/" if keep_slash and rest else path
