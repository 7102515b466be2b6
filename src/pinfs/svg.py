"""SVG pictures of kernel state for notebooks, drawn in pure Python.

No graphviz, no network, no JavaScript: the picture is a string of SVG elements placed
by a small deterministic layout in four columns::

    mount namespaces | bpffs superblocks | bpf objects | tasks
    (their mounts)     (dentry trees)      (refcounts)   (fd tables)

Every holder of a map or program is one arrow (class ``edge holder holder-<kind>``,
``data-obj`` = the object's id), drawn from what holds the reference to the object:

* ``holder-file``: an open file, from the first fd (lowest pid, then fd) that points at
  it; other fds sharing that file (dup, fork) get a dashed ``fd-shared`` arrow, which
  takes no reference;
* ``holder-pin``: a pinned inode, from its name in the bpffs tree (an unlinked inode
  still held by an ``O_PATH`` fd shows as an ``(unlinked)`` row);
* ``holder-used_map``: a program's ``used_maps`` entry, from the program to the map;
* ``holder-slot``: a PROG_ARRAY slot, from the map's ``[i]`` row to the program.

Other arrows: ``mount`` (a mount row to the superblock it shows), ``pin-alias`` (a
second name of the same inode) and ``file-inode`` (an fd holding a bpffs inode, e.g.
``O_PATH``).  Every element has a stable ``id`` (``ns-1``, ``mnt-4``, ``sb-23``,
``ino-23-5``, ``obj-3``, ``obj-3-slot-0``, ``task-2``, ``task-2-fd-3``,
``edge-holder-pin-ino-23-5-obj-3``), a ``class`` and a ``<title>`` (a tooltip in
browsers), so tests can find them with :mod:`xml.etree.ElementTree`.

Boxes sit at absolute coordinates (no transforms) and never overlap; a box's width
fits its longest line (names longer than :data:`MAX_CHARS` are cut, the full text is
in the title).

Arrows between neighbouring columns (and within one, e.g. used_maps) are routed
orthogonally so each can be followed at 50 objects and beyond: out of the source's
side, along a vertical lane of its own in the gap (arrows whose vertical runs do not
overlap share a lane; a gap widens with its lanes, up to :data:`LANE_MAX_REGION`), and
into the target, where arrows ending at the same box are spread down its side in the
order of where they come from.  Arrows between columns further apart stay curves.
For big states, :func:`kernel_svg` takes one filter (``namespace=``, ``superblock=``,
``obj=``: one object and its holders) and a limit (``max_objects=N``, "+K more").

Public functions: :func:`kernel_svg`, :func:`mount_namespace_svg`,
:func:`superblock_svg`, :func:`task_svg`, :func:`to_svg` (any of those four kinds of
object), :func:`mimebundle` (SVG and text for ``_repr_mimebundle_``) and :func:`show`
(the picture in a notebook, the text in a terminal; what the lessons in
``docs/notebooks`` call).
"""

from __future__ import annotations

import hashlib
import importlib
import re
import stat
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from pinfs.base.display import register_renderer
from pinfs.ebpf.arraymap import FdArray
from pinfs.ebpf.objects import BpfMap, BpfProg, bpf_file_object
from pinfs.inode import bpf_map_iops, bpf_prog_iops
from pinfs.machine.invariants import collect_holders
from pinfs.machine.kernel import Kernel
from pinfs.machine.render import (
    dentry_tree,
    is_covered,
    mount_point,
    propagation_tags,
    superblock_tree,
)
from pinfs.machine.task import Task
from pinfs.mountns import Mount, MountNamespace, subtree
from pinfs.vfs import Dentry, File, Inode, SuperBlock, d_path_name

if TYPE_CHECKING:
    from pinfs.ebpf.objects import BpfObject

__all__ = [
    "EDGE_COLOURS",
    "MAX_CHARS",
    "kernel_svg",
    "mimebundle",
    "mount_namespace_svg",
    "show",
    "superblock_svg",
    "task_svg",
    "to_svg",
]

#: Lines longer than this many characters are cut (the title keeps the full text).
MAX_CHARS = 56

FONT_SIZE = 12
CHAR_W = 7.4  # advance of a 12px monospace glyph (0.6 em), rounded up
LINE_H = 17
HEADER_H = 22
PAD = 7
BOX_GAP = 14
COL_GAP = 110
MARGIN = 16
MIN_BOX_W = 150

#: Stroke colour of each kind of arrow.
EDGE_COLOURS: dict[str, str] = {
    "holder-file": "#1f6fd1",
    "holder-pin": "#1a8a3a",
    "holder-used_map": "#d9822b",
    "holder-slot": "#8e44ad",
    "mount": "#7f8c8d",
    "fd-shared": "#1f6fd1",
    "pin-alias": "#1a8a3a",
    "file-inode": "#7f8c8d",
}
_DASHED = {"fd-shared", "pin-alias", "file-inode"}
_LEGEND = [
    ("holder-file", "fd (open file)"),
    ("holder-pin", "pin"),
    ("holder-used_map", "used_maps"),
    ("holder-slot", "prog_array slot"),
    ("mount", "mount shows sb"),
    ("fd-shared", "shared file (no ref)"),
]

_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    """Text safe inside XML: characters XML 1.0 cannot hold become ``\\xNN``."""
    text = _XML_BAD.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "~"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------------------------------
# The scene: boxes of rows in columns, and edges between rows


@attrs.define
class _Row:
    id: str
    cls: str
    text: str
    title: str
    y: float = 0.0


@attrs.define
class _Box:
    id: str
    cls: str
    header: str
    title: str
    rows: list[_Row] = attrs.field(factory=list)
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    col: int = 0

    @property
    def h(self) -> float:
        return HEADER_H + LINE_H * len(self.rows) + (4 if self.rows else 0)

    def text_chars(self) -> int:
        return max([len(_cut(self.header))] + [len(_cut(r.text)) for r in self.rows])


@attrs.frozen
class _Edge:
    kind: str
    src: str
    dst: str
    title: str
    obj: int | None = None

    @property
    def id(self) -> str:
        prefix = "holder-" if self.kind.startswith("holder-") else ""
        return f"edge-{prefix}{self.kind.removeprefix('holder-')}-{self.src}-{self.dst}"

    @property
    def cls(self) -> str:
        return (
            f"edge holder {self.kind}" if self.kind.startswith("holder-") else f"edge {self.kind}"
        )


_COLUMNS = ("mount namespaces", "bpffs superblocks", "bpf objects", "tasks")


@attrs.define
class _Scene:
    title: str
    columns: list[list[_Box]] = attrs.field(factory=lambda: [[], [], [], []])
    edges: list[_Edge] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)


# ---------------------------------------------------------------------------------------
# Text of the rows


def _path_in_mount(mnt: Mount, dentry: Dentry) -> str:
    parts: list[str] = []
    d = dentry
    while d is not mnt.mnt_root and d.d_parent is not None and d.d_parent is not d:
        parts.append(d.d_name)
        d = d.d_parent
    base = mount_point(mnt).rstrip("/")
    return base + "/" + "/".join(reversed(parts)) if parts else base or "/"


def _covered(mnt: Mount) -> bool:
    return is_covered(mnt)


def _is_dir(dentry: Dentry) -> bool:
    return dentry.d_inode is not None and dentry.d_inode.is_dir


def _inode_text(inode: Inode) -> str:
    return f"{stat.filemode(inode.i_mode)} {inode.i_uid}:{inode.i_gid} ino={inode.i_ino}"


def _pinned(inode: Inode) -> BpfObject | None:
    if inode.i_op in (bpf_map_iops, bpf_prog_iops) and inode.i_private is not None:
        obj: BpfObject = inode.i_private
        return obj
    return None


def _obj_name(obj: BpfObject) -> str:
    return f"{obj.kind} {obj.id}"


def _type_name(obj: BpfObject) -> str:
    return repr(obj).split()[2]


# ---------------------------------------------------------------------------------------
# Building boxes


def _ns_box(kernel: Kernel, ns: MountNamespace, only_sb: SuperBlock | None = None) -> _Box:
    pids = sorted(pid for pid, t in kernel.tasks.items() if t.mnt_ns is ns)
    tasks = ", ".join(map(str, pids)) or "-"
    level = ns.user_ns.level
    userns = f" userns level {level}" if level else ""
    box = _Box(
        id=f"ns-{ns.ns_id}",
        cls="box ns",
        header=f"mount namespace {ns.ns_id}{userns}",
        title=f"mount namespace {ns.ns_id}: tasks {tasks}{userns}",
    )
    box.rows.append(
        _Row(f"ns-{ns.ns_id}-tasks", "row ns-tasks", f"tasks {tasks}", f"tasks {tasks}")
    )
    mounts = kernel.mounts(ns) if ns.root is not None else []
    for mnt in mounts:
        sb = mnt.mnt_sb
        if only_sb is not None and sb is not only_sb:
            continue
        where = mount_point(mnt)
        tags = propagation_tags(mnt)
        flags = (" ro" if mnt.read_only else "") + tags + (" covered" if _covered(mnt) else "")
        text = f"{where} {sb.s_type.name} dev={sb.s_dev:#x}{flags}"
        title = (
            f"mount {mnt.mnt_id}: {sb.s_type.name} on {where}, superblock dev={sb.s_dev:#x}"
            + (" (read-only)" if mnt.read_only else "")
            + (f" (propagation:{tags})" if tags else "")
            + (" (covered by a later mount on the same point)" if _covered(mnt) else "")
        )
        cls = f"row mnt fs-{sb.s_type.name}" + (" covered" if _covered(mnt) else "")
        box.rows.append(_Row(f"mnt-{mnt.mnt_id}", cls, text, title))
    return box


def _sb_box(kernel: Kernel, sb: SuperBlock, scene: _Scene) -> _Box:
    """The dentry tree of ``sb``; adds pin and alias edges to ``scene``."""
    owner = sb.s_fs_info
    keyed = f" ns {owner.ns_id}" if isinstance(owner, MountNamespace) else ""
    ro = " ro" if sb.read_only else ""
    mounts = "mount" if sb.s_active == 1 else "mounts"
    box = _Box(
        id=f"sb-{sb.s_dev}",
        cls=f"box sb fs-{sb.s_type.name}",
        header=f"{sb.s_type.name} sb dev={sb.s_dev:#x}{keyed} ({sb.s_active} {mounts}){ro}",
        title=f"superblock {sb.s_type.name} dev={sb.s_dev:#x}: {sb.s_active} active mounts"
        + (f", keyed by mount namespace {owner.ns_id}" if keyed else ""),
    )
    if sb.s_root is None or sb.s_root.d_inode is None:
        box.rows.append(_Row(f"sb-{sb.s_dev}-dead", "row dead", "(dead)", "no root"))
        return box
    dev = sb.s_dev
    seen: dict[int, str] = {}

    def add(dentry: Dentry, text: str, path: str) -> None:
        inode = dentry.d_inode
        assert inode is not None
        key = id(inode)
        obj = _pinned(inode)
        if key in seen:
            n = sum(1 for r in box.rows if r.id.startswith(seen[key]))
            row_id = f"{seen[key]}-{n}"
            scene.edges.append(_Edge("pin-alias", row_id, seen[key], f"{path}: same inode"))
        else:
            row_id = seen[key] = f"ino-{dev}-{inode.i_ino}"
            if obj is not None:
                scene.edges.append(
                    _Edge("holder-pin", row_id, f"obj-{obj.id}", f"pin {path}", obj.id)
                )
        kind = "dir" if inode.is_dir else ("pin" if obj is not None else "file")
        line = f"{text}  {_inode_text(inode)}"
        if obj is not None:
            line += f" -> {_obj_name(obj)}"
        if dentry.d_mounted:
            line += " (mountpoint)"
        title = f"{path}: {_inode_text(inode)}" + (f", holds {obj!r}" if obj else "")
        box.rows.append(_Row(row_id, f"row dentry {kind}", line, title))

    add(sb.s_root, "/", "/")

    for child, branch in dentry_tree(sb.s_root, _is_dir):
        add(child, f"{branch}{child.d_name}", d_path_name(child))
    for inode in sorted(sb.s_inodes, key=lambda i: i.i_ino):
        obj = _pinned(inode)
        if obj is None or id(inode) in seen:
            continue
        row_id = seen[id(inode)] = f"ino-{dev}-{inode.i_ino}"
        text = f"(unlinked) {_inode_text(inode)} -> {_obj_name(obj)}"
        title = f"unlinked inode {inode.i_ino}, still held (i_count {inode.i_count})"
        box.rows.append(_Row(row_id, "row dentry pin unlinked", text, title))
        scene.edges.append(
            _Edge("holder-pin", row_id, f"obj-{obj.id}", f"unlinked ino {inode.i_ino}", obj.id)
        )
    return box


def _obj_box(obj: BpfObject, holders: int, scene: _Scene) -> _Box:
    """A map or program; adds used_map and slot edges to ``scene``."""
    oid = f"obj-{obj.id}"
    freed = obj.freed
    state = "FREED" if freed else f"refcnt={obj.refcnt}"
    box = _Box(
        id=oid,
        cls=f"box obj {obj.kind}" + (" freed" if freed else ""),
        header=f"{obj.kind} {obj.id} {_type_name(obj)} {state}",
        title=f"{obj!r}: {holders} holders",
    )
    if isinstance(obj, BpfMap):
        box.rows.append(
            _Row(
                f"{oid}-info",
                "row info",
                f"key {obj.key_size} value {obj.value_size} max {obj.max_entries}",
                f"key_size {obj.key_size}, value_size {obj.value_size}, "
                f"max_entries {obj.max_entries}, {obj.pages} pages",
            )
        )
        if isinstance(obj.storage, FdArray):
            for index, slot in sorted(obj.storage.slots.items()):
                if not isinstance(slot, BpfProg):
                    continue
                row_id = f"{oid}-slot-{index}"
                box.rows.append(
                    _Row(row_id, "row slot", f"[{index}] -> prog {slot.id}", f"slot {index}")
                )
                if not freed:
                    scene.edges.append(
                        _Edge(
                            "holder-slot",
                            row_id,
                            f"obj-{slot.id}",
                            f"map {obj.id}[{index}] holds prog {slot.id}",
                            slot.id,
                        )
                    )
    else:
        maps = ", ".join(str(m.id) for m in obj.used_maps)
        text = f"{obj.insn_cnt} insns" + (f", used_maps {maps}" if maps else "")
        box.rows.append(_Row(f"{oid}-info", "row info", text, text))
        if not freed:
            for m in obj.used_maps:
                scene.edges.append(
                    _Edge(
                        "holder-used_map",
                        oid,
                        f"obj-{m.id}",
                        f"prog {obj.id} uses map {m.id}",
                        m.id,
                    )
                )
    if not freed and obj.refcnt != holders:
        text = f"refcnt {obj.refcnt} != {holders} holders"
        box.rows.append(_Row(f"{oid}-mismatch", "row mismatch", text, text))
    if freed:
        text = f"freed, still held by {holders}"
        box.rows.append(_Row(f"{oid}-freed", "row freed", text, "use-after-free"))
    return box


def _file_text(file: File) -> str:
    obj = bpf_file_object(file)
    if obj is not None:
        return f"anon_inode:{file.anon_name} -> {_obj_name(obj)}"
    if file.anon_name is not None:
        return f"anon_inode:{file.anon_name}"
    inode = file.f_inode
    where = ""
    if file.f_path is not None:
        where = _path_in_mount(file.f_path.mnt, file.f_path.dentry)
        if not file.f_path.dentry.hashed:
            where += " (deleted)"
    opath = "O_PATH " if file.f_flags & 0o10000000 else ""
    ino = f" ino={inode.i_ino}" if inode is not None else ""
    return f"{opath}{where}{ino}"


def _task_box(task: Task, first_fd: dict[int, str], scene: _Scene, inodes: set[str]) -> _Box:
    """A task and its fd table; adds file, fd-shared and file-inode edges to ``scene``."""
    c = task.cred
    tid = f"task-{task.pid}"
    box = _Box(
        id=tid,
        cls="box task",
        header=f"task {task.pid} uid {c.uid} gid {c.gid} ns {task.mnt_ns.ns_id}",
        title=f"task {task.pid}: uid {c.uid}, gid {c.gid}, umask {task.fs.umask:03o}, "
        f"mount namespace {task.mnt_ns.ns_id}",
    )
    cwd = _path_in_mount(task.fs.pwd.mnt, task.fs.pwd.dentry)
    box.rows.append(
        _Row(f"{tid}-cwd", "row cwd", f"cwd {cwd} umask {task.fs.umask:03o}", f"cwd {cwd}")
    )
    for fd, file in enumerate(task.files.fds):
        if file is None:
            continue
        row_id = f"{tid}-fd-{fd}"
        text = f"fd {fd} {_file_text(file)}"
        box.rows.append(_Row(row_id, "row fd", text, f"pid {task.pid} fd {fd}: {file!r}"))
        obj = bpf_file_object(file)
        if obj is not None:
            first = first_fd.setdefault(id(file), row_id)
            if first == row_id:
                scene.edges.append(
                    _Edge("holder-file", row_id, f"obj-{obj.id}", f"pid {task.pid} fd {fd}", obj.id)
                )
            else:
                scene.edges.append(
                    _Edge(
                        "fd-shared",
                        row_id,
                        f"obj-{obj.id}",
                        f"pid {task.pid} fd {fd} shares the file of {first} (no extra ref)",
                    )
                )
        elif file.f_inode is not None:
            target = f"ino-{file.f_inode.i_sb.s_dev}-{file.f_inode.i_ino}"
            if target in inodes:
                scene.edges.append(
                    _Edge("file-inode", row_id, target, f"pid {task.pid} fd {fd} holds the inode")
                )
    return box


# ---------------------------------------------------------------------------------------
# Selecting what to draw


def _closure(objs: Iterable[BpfObject]) -> list[BpfObject]:
    """``objs`` and every object their used_maps and prog_array slots lead to."""
    found: dict[int, BpfObject] = {}
    stack = list(objs)
    while stack:
        obj = stack.pop()
        if id(obj) in found:
            continue
        found[id(obj)] = obj
        if isinstance(obj, BpfProg):
            stack.extend(obj.used_maps)
        elif isinstance(obj.storage, FdArray):
            stack.extend(s for s in obj.storage.slots.values() if isinstance(s, BpfProg))
    return sorted(found.values(), key=lambda o: o.id)


def _all_objects(kernel: Kernel) -> tuple[list[BpfObject], dict[int, int]]:
    """Live objects plus freed ones still reachable, and each one's holder count."""
    holders = collect_holders(kernel)
    objs: dict[int, BpfObject] = {id(o): o for o in kernel.bpf_objects.values()}
    for obj, _held in holders.values():
        objs.setdefault(id(obj), obj)
    counts = {key: len(held) for key, (_obj, held) in holders.items()}
    return sorted(objs.values(), key=lambda o: (o.id, o.freed)), counts


def _bpf_supers(kernel: Kernel) -> list[SuperBlock]:
    return list(kernel.filesystems["bpf"].fs_supers)


def _sb_objects(sb: SuperBlock) -> list[BpfObject]:
    out = []
    for inode in sorted(sb.s_inodes, key=lambda i: i.i_ino):
        obj = _pinned(inode)
        if obj is not None:
            out.append(obj)
    return out


def _task_objects(task: Task) -> list[BpfObject]:
    out = []
    for file in task.files.fds:
        obj = bpf_file_object(file) if file is not None else None
        if obj is not None:
            out.append(obj)
    return out


def _build(
    kernel: Kernel,
    title: str,
    namespaces: Sequence[tuple[MountNamespace, SuperBlock | None]],
    supers: list[SuperBlock],
    objects: list[BpfObject] | None,
    tasks: list[Task],
    max_objects: int | None = None,
) -> _Scene:
    _check_limit(max_objects)
    scene = _Scene(title=title)
    for ns, only in namespaces:
        scene.columns[0].append(_ns_box(kernel, ns, only))
    shown_sbs = {id(sb) for sb in supers}
    for ns, only in namespaces:
        for mnt in kernel.mounts(ns) if ns.root is not None else []:
            if id(mnt.mnt_sb) in shown_sbs and (only is None or mnt.mnt_sb is only):
                scene.edges.append(
                    _Edge(
                        "mount",
                        f"mnt-{mnt.mnt_id}",
                        f"sb-{mnt.mnt_sb.s_dev}",
                        f"mount {mnt.mnt_id} shows superblock dev={mnt.mnt_sb.s_dev:#x}",
                    )
                )
    for sb in supers:
        scene.columns[1].append(_sb_box(kernel, sb, scene))
    all_objs, counts = _all_objects(kernel)
    if objects is None:
        objects = all_objs
    if max_objects is not None and len(objects) > max_objects:
        hidden = len(objects) - max_objects
        objects = objects[:max_objects]
        scene.notes.append(f"+{hidden} more objects (max_objects={max_objects})")
    for obj in objects:
        scene.columns[2].append(_obj_box(obj, counts.get(id(obj), 0), scene))
    inode_rows = {row.id for box in scene.columns[1] for row in box.rows}
    first_fd: dict[int, str] = {}
    for task in sorted(tasks, key=lambda t: t.pid):
        scene.columns[3].append(_task_box(task, first_fd, scene, inode_rows))
    if not objects:
        scene.notes.append("no bpf objects")
    return scene


# ---------------------------------------------------------------------------------------
# Layout and drawing


LANE_STEP = 5.0  # distance between two vertical lanes of arrows
LANE_MIN_STEP = 2.5  # the closest lanes get when a gap holds very many arrows
LANE_MAX_REGION = 440.0  # a gap grows with its lanes up to this width, then they tighten
LANE_MARGIN = 18.0  # room between a box edge and the first lane (the arrow head)

_Index = dict[str, tuple[_Box, "_Row | None"]]


@attrs.define
class _Route:
    """Where an arrow runs: out of its source's side, along its own vertical lane,
    into its target's side.  ``region`` names the gap the lane is in."""

    edge: _Edge
    region: tuple[str, int]  # ("gap", placed index) between columns, ("self", column)
    x1: float = 0.0
    y1: float = 0.0
    x2: float = 0.0
    y2: float = 0.0
    lane: int = 0
    lane_x: float = 0.0


def _place_rows(scene: _Scene, top: float) -> float:
    """Vertical placement (it does not depend on the arrows); returns the bottom."""
    bottom = top
    for boxes in scene.columns:
        y = top + HEADER_H
        for box in boxes:
            box.y = y
            for i, row in enumerate(box.rows):
                row.y = y + HEADER_H + i * LINE_H
            y += box.h + BOX_GAP
        bottom = max(bottom, y)
    return bottom


def _routes(scene: _Scene, index: _Index) -> list[_Route]:
    """A route for every arrow between neighbouring columns or within one column
    (the others, e.g. a task's fd to a bpffs inode across the objects, stay curves)."""
    used = [col for col, boxes in enumerate(scene.columns) if boxes]
    order = {col: i for i, col in enumerate(used)}
    routes = []
    for edge in scene.edges:
        if edge.src not in index or edge.dst not in index:
            continue
        scol, dcol = index[edge.src][0].col, index[edge.dst][0].col
        if scol == dcol:
            routes.append(_Route(edge, ("self", scol)))
        elif abs(order[scol] - order[dcol]) == 1:
            routes.append(_Route(edge, ("gap", min(order[scol], order[dcol]))))
    return routes


def _spread_ports(routes: list[_Route], index: _Index) -> None:
    """Give every arrow its own end point: an arrow that ends at a row meets the row's
    middle; arrows that end at a box (objects, superblocks) are spread evenly down the
    side they arrive at, in the order of where they come from, so no two merge."""
    ends: dict[tuple[str, str], list[tuple[float, str, _Route, bool]]] = {}
    for r in routes:
        for is_src, node, other in (
            (True, r.edge.src, r.edge.dst),
            (False, r.edge.dst, r.edge.src),
        ):
            box, row = index[node]
            y = row.y + LINE_H / 2 if row is not None else box.y + HEADER_H / 2
            if is_src:
                r.y1 = y
            else:
                r.y2 = y
            if row is None:
                obox, orow = index[other]
                oy = orow.y if orow is not None else obox.y
                ends.setdefault((box.id, _side(r, is_src, index)), []).append(
                    (oy, r.edge.id, r, is_src)
                )
    for (box_id, _side_name), group in ends.items():
        box = index[box_id][0]
        group.sort(key=lambda g: (g[0], g[1]))
        step = (box.h - 8) / len(group)
        for i, (_oy, _eid, r, is_src) in enumerate(group):
            y = box.y + 4 + step * (i + 0.5)
            if is_src:
                r.y1 = y
            else:
                r.y2 = y


def _side(route: _Route, is_src: bool, index: _Index) -> str:
    """Which side of its box an arrow end uses: towards the other end's column, and the
    right side for arrows within a column."""
    scol, dcol = index[route.edge.src][0].col, index[route.edge.dst][0].col
    if scol == dcol:
        return "right"
    this, other = (scol, dcol) if is_src else (dcol, scol)
    return "right" if other > this else "left"


def _assign_lanes(routes: list[_Route]) -> dict[tuple[str, int], int]:
    """Give every arrow a vertical lane in its region; arrows whose vertical runs do not
    overlap share a lane (greedy interval colouring, in a fixed order).  Returns the
    number of lanes of each region."""
    counts: dict[tuple[str, int], int] = {}
    by_region: dict[tuple[str, int], list[_Route]] = {}
    for r in routes:
        by_region.setdefault(r.region, []).append(r)
    for region, group in by_region.items():
        group.sort(key=lambda r: (min(r.y1, r.y2), max(r.y1, r.y2), r.edge.id))
        lane_ends: list[float] = []  # the lowest y each lane is busy down to
        for r in group:
            top, bottom = min(r.y1, r.y2), max(r.y1, r.y2)
            free = [i for i, end in enumerate(lane_ends) if end + 4 < top]
            if free:
                r.lane = free[0]
                lane_ends[r.lane] = bottom
            else:
                r.lane = len(lane_ends)
                lane_ends.append(bottom)
        counts[region] = len(lane_ends)
    return counts


def _lane_step(lanes: int) -> float:
    if lanes == 0:
        return LANE_STEP
    return max(LANE_MIN_STEP, min(LANE_STEP, LANE_MAX_REGION / lanes))


def _region_width(lanes: int, minimum: float) -> float:
    if lanes == 0:
        return minimum
    return max(minimum, 2 * LANE_MARGIN + (lanes - 1) * _lane_step(lanes))


def _layout(
    scene: _Scene, top: float, index: _Index
) -> tuple[float, float, list[tuple[int, float, float]], list[_Route]]:
    """Place the boxes and route the arrows; returns (width, height, [(column, x,
    width)] of the used columns, routes).  Each gap between columns is as wide as its
    lanes need, so every arrow has a vertical run of its own."""
    bottom = _place_rows(scene, top)
    routes = _routes(scene, index)
    _spread_ports(routes, index)
    lanes = _assign_lanes(routes)
    x = float(MARGIN)
    placed: list[tuple[int, float, float]] = []
    lane_x: dict[tuple[str, int], float] = {}
    used = [col for col, boxes in enumerate(scene.columns) if boxes]
    for i, col in enumerate(used):
        boxes = scene.columns[col]
        width = max(MIN_BOX_W, max(b.text_chars() for b in boxes) * CHAR_W + 2 * PAD)
        width = float(round(width))
        for box in boxes:
            box.x, box.w = x, width
        placed.append((col, x, width))
        x += width
        self_lanes = lanes.get(("self", col), 0)
        if self_lanes:
            lane_x[("self", col)] = x + LANE_MARGIN
            x += _region_width(self_lanes, 0.0)
        if i + 1 < len(used):
            lane_x[("gap", i)] = x + LANE_MARGIN
            x += _region_width(lanes.get(("gap", i), 0), float(COL_GAP))
    for r in routes:
        sbox, dbox = index[r.edge.src][0], index[r.edge.dst][0]
        r.x1 = sbox.x + sbox.w if _side(r, True, index) == "right" else sbox.x
        r.x2 = dbox.x + dbox.w if _side(r, False, index) == "right" else dbox.x
    width = x + MARGIN if placed else 2 * MARGIN
    for r in routes:
        count = lanes[r.region]
        start = lane_x[r.region]
        if r.region[0] == "gap":  # centre the lanes in a gap wider than they need
            room = _region_width(count, float(COL_GAP)) - 2 * LANE_MARGIN
            start += (room - (count - 1) * _lane_step(count)) / 2
        r.lane_x = start + r.lane * _lane_step(count)
    return width, bottom + MARGIN - BOX_GAP, placed, routes


def _route_path(r: _Route) -> str:
    lx = r.lane_x
    return (
        f"M{_num(r.x1)},{_num(r.y1)} L{_num(lx)},{_num(r.y1)} "
        f"L{_num(lx)},{_num(r.y2)} L{_num(r.x2)},{_num(r.y2)}"
    )


def _anchor(index: _Index, node: str) -> tuple[_Box, float]:
    box, row = index[node]
    y = row.y + LINE_H / 2 if row is not None else box.y + HEADER_H / 2
    return box, y


def _edge_path(index: _Index, edge: _Edge) -> str | None:
    """The curve of an arrow that has no lane (its ends are not in neighbouring
    columns), or None if one end is not in the picture."""
    if edge.src not in index or edge.dst not in index:
        return None
    sbox, y1 = _anchor(index, edge.src)
    dbox, y2 = _anchor(index, edge.dst)
    if sbox.col < dbox.col:
        x1, x2 = sbox.x + sbox.w, dbox.x
        c = max(30.0, (x2 - x1) / 2)
        d = f"M{_num(x1)},{_num(y1)} C{_num(x1 + c)},{_num(y1)} {_num(x2 - c)},{_num(y2)} "
    else:
        x1, x2 = sbox.x, dbox.x + dbox.w
        c = max(30.0, (x1 - x2) / 2)
        d = f"M{_num(x1)},{_num(y1)} C{_num(x1 - c)},{_num(y1)} {_num(x2 + c)},{_num(y2)} "
    return d + f"{_num(x2)},{_num(y2)}"


_BOX_STYLE = {
    "ns": ("#f4f6f7", "#7f8c8d"),
    "sb": ("#eef8f0", "#1a8a3a"),
    "map": ("#fdf2e6", "#d9822b"),
    "prog": ("#f5eefa", "#8e44ad"),
    "task": ("#eaf2fc", "#1f6fd1"),
}


def _draw(scene: _Scene) -> str:
    top = MARGIN + 58
    index: _Index = {}
    for col, boxes in enumerate(scene.columns):
        for box in boxes:
            box.col = col
            index[box.id] = (box, None)
            for row in box.rows:
                index[row.id] = (box, row)
    width, height, placed, routes = _layout(scene, top, index)
    paths = {r.edge.id: _route_path(r) for r in routes}
    legend_w = MARGIN + sum(46 + len(label) * CHAR_W + 18 for _k, label in _LEGEND)
    width = max(width, legend_w, MARGIN * 2 + len(scene.title) * 9.2)
    body: list[str] = []
    body.append(
        f'<text class="title" x="{MARGIN}" y="{MARGIN + 14}" font-size="15" '
        f'font-weight="bold">{_clean(scene.title)}</text>'
    )
    lx = float(MARGIN)
    ly = MARGIN + 34
    for kind, label in _LEGEND:
        dash = ' stroke-dasharray="5,3"' if kind in _DASHED else ""
        body.append(
            f'<g class="legend legend-{kind}"><title>{_clean(label)}</title>'
            f'<line x1="{_num(lx)}" y1="{ly - 4}" x2="{_num(lx + 36)}" y2="{ly - 4}" '
            f'stroke="{EDGE_COLOURS[kind]}" stroke-width="2"{dash}/>'
            f'<text x="{_num(lx + 42)}" y="{ly}">{_clean(label)}</text></g>'
        )
        lx += 46 + len(label) * CHAR_W + 18
    for note in scene.notes:
        body.append(
            f'<text class="note" x="{_num(lx)}" y="{ly}" font-style="italic">{_clean(note)}</text>'
        )
    for col, x, _w in placed:
        body.append(
            f'<text class="column-title" x="{_num(x)}" y="{top + 12}" font-weight="bold" '
            f'fill="#555">{_COLUMNS[col]}</text>'
        )
    for boxes in scene.columns:
        for box in boxes:
            body.append(_draw_box(box))
    for edge in scene.edges:
        d = paths.get(edge.id) or _edge_path(index, edge)
        if d is None:
            continue
        colour = EDGE_COLOURS[edge.kind]
        dash = ' stroke-dasharray="5,3"' if edge.kind in _DASHED else ""
        data_obj = f' data-obj="{edge.obj}"' if edge.obj is not None else ""
        body.append(
            f'<path id="{_clean(edge.id)}" class="{edge.cls}" data-from="{_clean(edge.src)}" '
            f'data-to="{_clean(edge.dst)}"{data_obj} d="{d}" fill="none" stroke="{colour}" '
            f'stroke-width="1.6"{dash} marker-end="url(#MARKER-{edge.kind})">'
            f"<title>{_clean(edge.title)}</title></path>"
        )
    text = "\n".join(body)
    tag = "pinfs-" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    text = text.replace("url(#MARKER-", f"url(#{tag}-")
    markers = "".join(
        f'<marker id="{tag}-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        for kind, colour in EDGE_COLOURS.items()
    )
    w, h = _num(round(width)), _num(round(height))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pinfs" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" '
        f'font-size="{FONT_SIZE}">\n<title>{_clean(scene.title)}</title>\n'
        f"<defs>{markers}</defs>\n"
        f'<rect class="background" x="0" y="0" width="{w}" height="{h}" fill="white"/>\n'
        f"{text}\n</svg>\n"
    )


def _draw_box(box: _Box) -> str:
    kind = next((k for k in _BOX_STYLE if k in box.cls.split()), "ns")
    fill, stroke = _BOX_STYLE[kind]
    if "freed" in box.cls.split():
        fill, stroke = "#fde8e8", "#c0392b"
    x, y, w = _num(box.x), _num(box.y), _num(box.w)
    parts = [
        f'<g id="{_clean(box.id)}" class="{box.cls}"><title>{_clean(box.title)}</title>',
        f'<rect x="{x}" y="{y}" width="{w}" height="{_num(box.h)}" rx="4" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="1.5"/>',
        f'<text x="{_num(box.x + PAD)}" y="{_num(box.y + 15)}" font-weight="bold">'
        f"{_clean(_cut(box.header))}</text>",
    ]
    if box.rows:
        ly = _num(box.y + HEADER_H)
        parts.append(
            f'<line x1="{x}" y1="{ly}" x2="{_num(box.x + box.w)}" y2="{ly}" stroke="{stroke}" '
            f'stroke-width="0.6"/>'
        )
    for row in box.rows:
        classes = row.cls.split()
        colour = "#c0392b" if "mismatch" in classes or "freed" in classes else "#222"
        if "covered" in classes:
            colour = "#999"
        shade = ' fill="#e3f3e7"' if "pin" in classes else ' fill="none"'
        parts.append(
            f'<g id="{_clean(row.id)}" class="{row.cls}"><title>{_clean(row.title)}</title>'
            f'<rect x="{_num(box.x + 1)}" y="{_num(row.y + 1)}" width="{_num(box.w - 2)}" '
            f'height="{LINE_H - 2}"{shade}/>'
            f'<text x="{_num(box.x + PAD)}" y="{_num(row.y + 12.5)}" fill="{colour}" '
            f'xml:space="preserve">{_clean(_cut(row.text))}</text></g>'
        )
    parts.append("</g>")
    return "".join(parts)


# ---------------------------------------------------------------------------------------
# Public API


def kernel_svg(
    kernel: Kernel,
    title: str | None = None,
    *,
    namespace: MountNamespace | int | None = None,
    superblock: SuperBlock | int | None = None,
    obj: BpfObject | int | None = None,
    max_objects: int | None = None,
) -> str:
    """The whole machine: every mount namespace and its mounts, every bpffs superblock's
    tree, every map and program (live, or freed but still reachable) with an arrow from
    each holder, and every task's fd table.

    At most one filter: ``namespace`` (a MountNamespace or its ``ns_id``) draws
    :func:`mount_namespace_svg`, ``superblock`` (a SuperBlock or its ``s_dev``)
    :func:`superblock_svg`, ``obj`` (a map or program, or its id) that object, the
    objects it leads to and everything that holds it.  ``max_objects=N`` keeps the
    first N objects (by id) and says "+K more objects"; arrows to the others are left
    out."""
    if not isinstance(kernel, Kernel):
        raise TypeError(f"kernel must be a pinfs.Kernel, not {type(kernel).__name__}")
    _check_limit(max_objects)
    chosen = [
        name
        for name, v in (("namespace", namespace), ("superblock", superblock), ("obj", obj))
        if v is not None
    ]
    if len(chosen) > 1:
        raise ValueError(
            f"give at most one of namespace, superblock, obj (got {', '.join(chosen)})"
        )
    if namespace is not None:
        ns = _find_namespace(kernel, namespace)
        return mount_namespace_svg(ns, kernel, title, max_objects=max_objects)
    if superblock is not None:
        sb = _find_superblock(kernel, superblock)
        return superblock_svg(sb, kernel, title, max_objects=max_objects)
    if obj is not None:
        return _object_svg(kernel, _find_object(kernel, obj), title, max_objects)
    scene = _build(
        kernel,
        title or f"pinfs kernel ({kernel.profile.name})",
        [(ns, None) for ns in kernel.namespaces],
        _bpf_supers(kernel),
        None,
        list(kernel.tasks.values()),
        max_objects,
    )
    return _draw(scene)


def _check_limit(max_objects: int | None) -> None:
    if max_objects is None:
        return
    if not isinstance(max_objects, int) or isinstance(max_objects, bool):
        raise TypeError(f"max_objects must be an int, not {type(max_objects).__name__}")
    if max_objects < 0:
        raise ValueError(f"max_objects must be >= 0, not {max_objects}")


def _find_namespace(kernel: Kernel, namespace: MountNamespace | int) -> MountNamespace:
    for ns in kernel.namespaces:
        if ns is namespace or (isinstance(namespace, int) and ns.ns_id == namespace):
            return ns
    if isinstance(namespace, (MountNamespace, int)) and not isinstance(namespace, bool):
        raise ValueError(f"namespace {namespace!r} is not a mount namespace of this kernel")
    raise TypeError(f"namespace must be a MountNamespace or an ns_id, not {namespace!r}")


def _find_superblock(kernel: Kernel, superblock: SuperBlock | int) -> SuperBlock:
    for sb in _bpf_supers(kernel):
        if sb is superblock or (isinstance(superblock, int) and sb.s_dev == superblock):
            return sb
    if isinstance(superblock, SuperBlock):
        return superblock  # a superblock of another type: superblock_svg draws it too
    if isinstance(superblock, int) and not isinstance(superblock, bool):
        raise ValueError(f"superblock {superblock:#x} is not a bpffs superblock of this kernel")
    raise TypeError(f"superblock must be a SuperBlock or an s_dev, not {superblock!r}")


def _find_object(kernel: Kernel, obj: BpfObject | int) -> BpfObject:
    all_objs, _counts = _all_objects(kernel)
    for candidate in all_objs:
        if candidate is obj or (
            isinstance(obj, int) and not isinstance(obj, bool) and candidate.id == obj
        ):
            return candidate
    if isinstance(obj, (BpfMap, BpfProg, int)) and not isinstance(obj, bool):
        raise ValueError(f"obj {obj!r} is not a bpf object of this kernel")
    raise TypeError(f"obj must be a bpf map or program or its id, not {obj!r}")


def _holders_of(
    kernel: Kernel, target: BpfObject
) -> tuple[list[SuperBlock], list[BpfObject], list[Task]]:
    """The superblocks that pin ``target``, the objects that hold it (programs using a
    map, prog arrays holding a program) and the tasks with an fd on it."""
    supers = [sb for sb in _bpf_supers(kernel) if any(o is target for o in _sb_objects(sb))]
    holders: list[BpfObject] = []
    for other in _all_objects(kernel)[0]:
        if (isinstance(other, BpfProg) and any(m is target for m in other.used_maps)) or (
            isinstance(other, BpfMap)
            and isinstance(other.storage, FdArray)
            and any(s is target for s in other.storage.slots.values())
        ):
            holders.append(other)
    tasks = [t for t in kernel.tasks.values() if any(o is target for o in _task_objects(t))]
    return supers, holders, tasks


def _object_svg(
    kernel: Kernel, target: BpfObject, title: str | None, max_objects: int | None
) -> str:
    supers, holders, tasks = _holders_of(kernel, target)
    shown = {id(o): o for o in [*_closure([target]), *holders]}
    objects = sorted(shown.values(), key=lambda o: (o.id, o.freed))
    scene = _build(
        kernel,
        title or f"{_obj_name(target)} and its holders",
        [],
        supers,
        objects,
        tasks,
        max_objects,
    )
    return _draw(scene)


def _kernel_of(sb: SuperBlock) -> Kernel:
    kernel = sb.kernel
    if not isinstance(kernel, Kernel):
        raise TypeError(f"{sb!r} does not belong to a pinfs.Kernel")
    return kernel


def mount_namespace_svg(
    ns: MountNamespace,
    kernel: Kernel | None = None,
    title: str | None = None,
    *,
    max_objects: int | None = None,
) -> str:
    """One mount namespace: its mounts, the bpffs superblocks they show, the objects
    pinned there (and those their used_maps and slots lead to), and its tasks."""
    if kernel is None:
        if ns.root is None:
            raise ValueError(f"{ns!r} has no mounts left; pass kernel=")
        kernel = _kernel_of(ns.root.mnt_sb)
    supers: list[SuperBlock] = []
    for mnt in kernel.mounts(ns) if ns.root is not None else []:
        if mnt.mnt_sb.s_type.name == "bpf" and all(mnt.mnt_sb is not s for s in supers):
            supers.append(mnt.mnt_sb)
    tasks = [t for t in kernel.tasks.values() if t.mnt_ns is ns]
    seeds = [o for sb in supers for o in _sb_objects(sb)]
    seeds += [o for t in tasks for o in _task_objects(t)]
    scene = _build(
        kernel,
        title or f"mount namespace {ns.ns_id}",
        [(ns, None)],
        supers,
        _closure(seeds),
        tasks,
        max_objects,
    )
    return _draw(scene)


def superblock_svg(
    sb: SuperBlock,
    kernel: Kernel | None = None,
    title: str | None = None,
    *,
    max_objects: int | None = None,
) -> str:
    """One superblock: the mounts (in any namespace) that show it, its dentry tree and
    the objects pinned in it (and those their used_maps and slots lead to)."""
    kernel = kernel or _kernel_of(sb)
    namespaces = [(ns, sb) for ns in kernel.namespaces if any(m.mnt_sb is sb for m in ns.mounts)]
    scene = _build(
        kernel,
        title or f"{sb.s_type.name} superblock dev={sb.s_dev:#x}",
        namespaces,
        [sb],
        _closure(_sb_objects(sb)),
        [],
        max_objects,
    )
    return _draw(scene)


def task_svg(task: Task, title: str | None = None, *, max_objects: int | None = None) -> str:
    """One task: its credentials, cwd and fd table, and the objects its fds point at
    (and those their used_maps and slots lead to)."""
    scene = _build(
        task.kernel,
        title or f"task {task.pid}",
        [],
        [],
        _closure(_task_objects(task)),
        [task],
        max_objects,
    )
    return _draw(scene)


def to_svg(obj: Any) -> str:
    """The picture of a Kernel, MountNamespace, SuperBlock or Task."""
    if isinstance(obj, Kernel):
        return kernel_svg(obj)
    if isinstance(obj, MountNamespace):
        return mount_namespace_svg(obj)
    if isinstance(obj, SuperBlock):
        return superblock_svg(obj)
    if isinstance(obj, Task):
        return task_svg(obj)
    raise TypeError(f"no picture for {type(obj).__name__}")


def _text(obj: Any) -> str:
    if isinstance(obj, Kernel):
        return obj.tree()
    if isinstance(obj, SuperBlock):
        return "\n".join([repr(obj), *superblock_tree(obj)])
    if isinstance(obj, MountNamespace):
        lines = [repr(obj)]
        for mnt in subtree(obj.root) if obj.root is not None else []:
            sb = mnt.mnt_sb
            lines.append(f"  {mount_point(mnt):<16} {sb.s_type.name:<6} sb dev={sb.s_dev:#x}")
        return "\n".join(lines)
    if isinstance(obj, Task):
        lines = [f"{obj!r} mount namespace {obj.mnt_ns.ns_id} umask {obj.fs.umask:03o}"]
        for fd, file in enumerate(obj.files.fds):
            if file is not None:
                lines.append(f"  fd {fd}: {_file_text(file)}")
        return "\n".join(lines)
    return repr(obj)


def mimebundle(obj: Any) -> dict[str, str]:
    """``{"image/svg+xml": ..., "text/plain": ...}`` for ``_repr_mimebundle_``: the
    picture for notebooks, the text tree (or repr) for terminals."""
    if isinstance(obj, MountNamespace) and obj.root is None:
        return {"text/plain": _text(obj)}  # a dead namespace: nothing left to draw
    return {"image/svg+xml": to_svg(obj), "text/plain": _text(obj)}


def show(obj: Any, title: str | None = None) -> None:
    """Display ``obj`` (a Kernel, MountNamespace, SuperBlock or Task): the SVG picture
    inside a running IPython kernel (a notebook), its text form otherwise (a plain
    ``python lesson.py`` run, where IPython need not be installed).  The picture is
    drawn either way, so a script run checks that it can be drawn."""
    if isinstance(obj, Kernel):
        picture = kernel_svg(obj, title)
    elif isinstance(obj, MountNamespace):
        picture = mount_namespace_svg(obj, title=title)
    elif isinstance(obj, SuperBlock):
        picture = superblock_svg(obj, title=title)
    elif isinstance(obj, Task):
        picture = task_svg(obj, title)
    else:
        raise TypeError(f"no picture for {type(obj).__name__}")
    text = _text(obj)
    shell = _ipython_shell()
    if shell is not None:
        # IPython is optional (a terminal run needs none) and is running here already.
        display: Any = importlib.import_module("IPython.display").display
        display({"image/svg+xml": picture, "text/plain": text}, raw=True)
    else:
        if title:
            print(f"-- {title}")
        print(text)


def _ipython_shell() -> Any:
    """The running IPython shell, or None (IPython absent or not running)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    return ipython.get_ipython()


register_renderer(mimebundle)
