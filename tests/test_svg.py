"""pinfs.svg: every object, pin and holder of a kernel state appears in its picture.

Each picture is parsed with ElementTree and checked against the kernel's own
bookkeeping: one ``obj-N`` box per live object (plus freed ones still reachable), one
row per pinned name, and exactly ``len(holders)`` holder arrows into each object, of
the same kinds as ``kernel.objects()`` reports.  Boxes must not overlap and their text
must fit.  The example states are the tour's steps, states built by hand (prog_array
slots, used_maps, dup/fork, unshare, O_PATH-held unlinked pins, the refcount wrap), a
50-object state, and every picture the notebooks in docs/notebooks draw.
"""

from __future__ import annotations

import itertools
import re
import runpy
import struct
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import pinfs
import pinfs.tour
from pinfs import svg
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from pinfs.inode import bpf_map_iops, bpf_prog_iops
from pinfs.machine.invariants import collect_holders
from pinfs.machine.task import CLONE_NEWNS
from pinfs.vfs import d_path_name, walk_tree

SVG_NS = "{http://www.w3.org/2000/svg}"
NOTEBOOKS = sorted((Path(__file__).parent.parent / "docs" / "notebooks").glob("[0-9][0-9]_*.py"))
O_PATH = 0o10000000
OBJECT_IOPS = (bpf_map_iops, bpf_prog_iops)


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


# ---------------------------------------------------------------------------------------
# Reading a picture


@attrs.frozen
class Box:
    id: str
    x: float
    y: float
    w: float
    h: float


class Picture:
    """A parsed pinfs SVG."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.root = ET.fromstring(text)
        assert self.root.tag == f"{SVG_NS}svg"
        self.by_id: dict[str, ET.Element] = {}
        for el in self.root.iter():
            ident = el.get("id")
            if ident is not None:
                assert ident not in self.by_id, f"duplicate id {ident}"
                self.by_id[ident] = el

    def classed(self, name: str) -> Iterator[ET.Element]:
        for el in self.root.iter():
            if name in (el.get("class") or "").split():
                yield el

    def title(self, ident: str) -> str:
        el = self.by_id[ident].find(f"{SVG_NS}title")
        assert el is not None and el.text is not None, ident
        return el.text

    def boxes(self) -> list[Box]:
        out = []
        for g in self.classed("box"):
            rect = g.find(f"{SVG_NS}rect")
            assert rect is not None
            out.append(
                Box(
                    g.get("id", ""),
                    float(rect.get("x", "0")),
                    float(rect.get("y", "0")),
                    float(rect.get("width", "0")),
                    float(rect.get("height", "0")),
                )
            )
        return out

    def holder_edges(self) -> list[ET.Element]:
        return list(self.classed("holder"))


def shown(name: str) -> str:
    """A name as the picture shows it: characters XML cannot hold become ``\\xNN``."""
    return re.sub(
        "[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]",
        lambda m: f"\\x{ord(m.group()):02x}",
        name,
    )


def overlaps(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def check_layout(pic: Picture) -> None:
    """Boxes are disjoint and inside the canvas; text fits its box; every element
    with a class has a title; arrows join existing elements."""
    boxes = pic.boxes()
    width = float(pic.root.get("width", "0"))
    height = float(pic.root.get("height", "0"))
    for i, a in enumerate(boxes):
        assert 0 <= a.x <= a.x + a.w <= width and 0 <= a.y <= a.y + a.h <= height, a
        for b in boxes[i + 1 :]:
            assert not overlaps(a, b), (a, b)
    for g in pic.classed("box"):
        rect = g.find(f"{SVG_NS}rect")
        assert rect is not None
        box_w = float(rect.get("width", "0"))
        for text in g.iter(f"{SVG_NS}text"):
            chars = len(text.text or "")
            assert chars <= svg.MAX_CHARS
            assert chars * svg.CHAR_W + 2 * svg.PAD <= box_w + 0.5, (g.get("id"), text.text)
    for el in pic.root.iter():
        if el.get("class") and el.get("class") != "background" and el.tag != f"{SVG_NS}text":
            assert el.find(f"{SVG_NS}title") is not None, el.get("id") or el.get("class")
    for edge in pic.classed("edge"):
        assert edge.get("data-from") in pic.by_id, edge.get("id")
        assert edge.get("data-to") in pic.by_id, edge.get("id")
        # a Bezier curve stays inside its control points: all on the canvas
        points = re.findall(r"(-?[\d.]+),(-?[\d.]+)", edge.get("d", ""))
        assert points
        for x, y in points:
            assert 0 <= float(x) <= width and 0 <= float(y) <= height, edge.get("id")


def check_kernel_picture(kernel: pinfs.Kernel, text: str) -> Picture:
    """Every object, pin and holder of ``kernel`` is in its full picture."""
    pic = Picture(text)
    check_layout(pic)
    infos = kernel.objects()
    edges = pic.holder_edges()
    by_obj: dict[str, Counter[str]] = {}
    for edge in edges:
        kind = next(c for c in (edge.get("class") or "").split() if c.startswith("holder-"))
        by_obj.setdefault(edge.get("data-obj", ""), Counter())[kind.removeprefix("holder-")] += 1
        assert edge.get("data-to") == f"obj-{edge.get('data-obj')}"
    for info in infos:
        ident = f"obj-{info.id}"
        assert ident in pic.by_id, ident
        assert f"refcnt={info.refcnt}" in pic.title(ident)
        assert "obj" in (pic.by_id[ident].get("class") or "").split()
        expected = Counter(h.kind for h in info.holders)
        assert by_obj.get(str(info.id), Counter()) == expected, (info, by_obj.get(str(info.id)))
    holders = collect_holders(kernel)
    assert len(edges) == sum(len(held) for _obj, held in holders.values())
    for obj, held in holders.values():  # freed objects still reachable are drawn too
        assert f"obj-{obj.id}" in pic.by_id
        assert sum(by_obj.get(str(obj.id), Counter()).values()) == len(held)
    for sb in kernel.filesystems["bpf"].fs_supers:
        assert f"sb-{sb.s_dev}" in pic.by_id
        for inode in sb.s_inodes:
            obj = inode.i_private
            if obj is not None and inode.i_op in OBJECT_IOPS:
                row = f"ino-{sb.s_dev}-{inode.i_ino}"
                assert row in pic.by_id, row
                assert f"obj-{obj.id}" in {
                    e.get("data-to") for e in edges if e.get("data-from") == row
                }
        if sb.s_root is not None:
            for dentry in walk_tree(sb.s_root):
                if dentry.d_inode is not None:
                    ident = f"ino-{sb.s_dev}-{dentry.d_inode.i_ino}"
                    assert ident in pic.by_id
                    assert any(
                        shown(d_path_name(dentry)) in pic.title(i)
                        for i in pic.by_id
                        if i == ident or i.startswith(ident + "-")
                    ), d_path_name(dentry)
    for ns in kernel.namespaces:
        assert f"ns-{ns.ns_id}" in pic.by_id
        for mnt in kernel.mounts(ns):
            assert f"mnt-{mnt.mnt_id}" in pic.by_id
            if mnt.mnt_sb.s_type.name == "bpf":
                assert f"edge-mount-mnt-{mnt.mnt_id}-sb-{mnt.mnt_sb.s_dev}" in pic.by_id
    for pid, task in kernel.tasks.items():
        assert f"task-{pid}" in pic.by_id
        for fd in task.files.open_fds():
            assert f"task-{pid}-fd-{fd}" in pic.by_id
    return pic


# ---------------------------------------------------------------------------------------
# Example states


def mounted() -> tuple[pinfs.Kernel, pinfs.Task]:
    k = pinfs.Kernel()
    k.init_task.mount("bpf", "/sys/fs/bpf", "bpf")
    return k, k.init_task


def tail_calls() -> pinfs.Kernel:
    """A prog_array with two slots filled, a program using a hash map and the array,
    pins in subdirectories, a forked child and a dup'ed fd."""
    k, t = mounted()
    t.mkdir("/sys/fs/bpf/tc")
    t.mkdir("/sys/fs/bpf/tc/globals")
    counters = t.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
    jmp = t.map_create(pinfs.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4)
    t.obj_pin(counters, "/sys/fs/bpf/tc/globals/counters")
    t.obj_pin(jmp, "/sys/fs/bpf/tc/globals/jmp")
    main = t.prog_load(
        pinfs.BPF_PROG_TYPE_SCHED_CLS,
        BPF_LD_MAP_FD(1, counters) + BPF_LD_MAP_FD(2, jmp) + RETURN_ZERO,
    )
    leaf = t.prog_load(pinfs.BPF_PROG_TYPE_SCHED_CLS, RETURN_ZERO)
    t.map_update_elem(jmp, u32(0), u32(leaf))
    t.map_update_elem(jmp, u32(2), u32(main))  # main can tail-call itself
    t.obj_pin(main, "/sys/fs/bpf/tc/main")
    t.fork()
    t.dup(counters)
    return k


def two_namespaces() -> pinfs.Kernel:
    k, t = mounted()
    fd = t.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 8, 2)
    t.obj_pin(fd, "/sys/fs/bpf/shared")
    other = k.spawn(uid=0)
    other.unshare(CLONE_NEWNS)
    other.mkdir("/mnt")
    other.mount("bpf", "/mnt", "bpf")
    own = other.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 4, 4)
    other.obj_pin(own, "/mnt/private")
    other.close(own)
    return k


def unlinked_but_held() -> pinfs.Kernel:
    """An O_PATH fd keeps a pinned inode (and so its map) after unlink."""
    k, t = mounted()
    fd = t.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 4, 4)
    t.obj_pin(fd, "/sys/fs/bpf/gone")
    t.close(fd)
    t.open("/sys/fs/bpf/gone", O_PATH)
    t.unlink("/sys/fs/bpf/gone")
    return k


def refcount_wrapped() -> pinfs.Kernel:
    """CVE-2016-4558 with an 8-bit counter: the map is freed while still pinned."""
    k = pinfs.Kernel(profile=attrs.evolve(pinfs.SEED, refcnt_bits=8))
    t = k.init_task
    t.mount("bpf", "/sys/fs/bpf", "bpf")
    fd = t.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 8, 1)
    t.obj_pin(fd, "/sys/fs/bpf/m")
    fds = [t.obj_get("/sys/fs/bpf/m") for _ in range(255)]  # refcnt 2 + 255 = 257 = 1 (mod 256)
    del fds
    t.close(fd)
    return k


def odd_names() -> pinfs.Kernel:
    """Names XML cannot hold as such: markup characters and control bytes."""
    k, t = mounted()
    fd = t.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    t.obj_pin(fd, '/sys/fs/bpf/<b>&"x"\x01\x7f\udc80')
    t.obj_pin(fd, "/sys/fs/bpf/" + "long" * 40)
    return k


def fifty_objects() -> pinfs.Kernel:
    k, t = mounted()
    t.setrlimit(8, 1 << 30, 1 << 30)  # RLIMIT_MEMLOCK
    for d in "abc":
        t.mkdir(f"/sys/fs/bpf/{d}")
    loader = k.spawn(uid=0)
    maps = []
    for i in range(30):
        map_type = pinfs.BPF_MAP_TYPE_HASH if i % 2 else pinfs.BPF_MAP_TYPE_ARRAY
        fd = loader.map_create(map_type, 4, 8, 4)
        loader.obj_pin(fd, f"/sys/fs/bpf/{'abc'[i % 3]}/map_{i}")
        maps.append(fd)
    jmp = loader.map_create(pinfs.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 8)
    loader.obj_pin(jmp, "/sys/fs/bpf/jmp")
    for i in range(19):
        insns = BPF_LD_MAP_FD(1, maps[i]) + BPF_LD_MAP_FD(2, maps[i * 7 % 30]) + RETURN_ZERO
        prog = loader.prog_load(pinfs.BPF_PROG_TYPE_SCHED_CLS, insns)
        if i < 8:
            loader.map_update_elem(jmp, u32(i), u32(prog))
        if i % 3 == 0:
            loader.obj_pin(prog, f"/sys/fs/bpf/prog_{i}")
        if i % 2 and i < 8:
            loader.close(prog)
    for fd in maps[::2]:
        loader.close(fd)
    return k


STATES: dict[str, Callable[[], pinfs.Kernel]] = {
    "boot": pinfs.Kernel,
    "mounted": lambda: mounted()[0],
    "tail_calls": tail_calls,
    "two_namespaces": two_namespaces,
    "unlinked_but_held": unlinked_but_held,
    "refcount_wrapped": refcount_wrapped,
    "odd_names": odd_names,
    "fifty_objects": fifty_objects,
}


# ---------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize("name", list(STATES))
def test_every_object_pin_and_holder_is_drawn(name: str) -> None:
    kernel = STATES[name]()
    check_kernel_picture(kernel, svg.kernel_svg(kernel))


def test_tour_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Draw the tour's kernel at every line it says (each step, each tree it prints)."""
    kernels: list[pinfs.Kernel] = []

    class Recorded(pinfs.Kernel):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            kernels.append(self)

    monkeypatch.setattr(pinfs.tour, "Kernel", Recorded)
    pictures: list[Picture] = []

    def say(line: str) -> None:
        if kernels:
            pictures.append(check_kernel_picture(kernels[0], svg.kernel_svg(kernels[0])))

    final = pinfs.tour.run_tour(say)
    pictures.append(check_kernel_picture(final, svg.kernel_svg(final)))
    assert len(pictures) > 20
    objects_seen = [len(list(p.classed("obj"))) for p in pictures]
    assert max(objects_seen) == 1 and objects_seen[-1] == 0
    assert any(len(list(p.classed("ns"))) == 2 for p in pictures)  # step 6: unshare


def test_tail_calls_picture_details() -> None:
    pic = Picture(svg.kernel_svg(tail_calls()))
    # map 2 is the prog_array: two slots, each an arrow to its program
    assert {e.get("id") for e in pic.classed("holder-slot")} == {
        "edge-holder-slot-obj-2-slot-0-obj-4",
        "edge-holder-slot-obj-2-slot-2-obj-3",
    }
    assert {e.get("id") for e in pic.classed("holder-used_map")} == {
        "edge-holder-used_map-obj-3-obj-1",
        "edge-holder-used_map-obj-3-obj-2",
    }
    # the fork and the dup share files: dashed arrows that are not holders
    shared = list(pic.classed("fd-shared"))
    assert shared and not any("holder" in (e.get("class") or "") for e in shared)
    assert "refcnt=3" in pic.title("obj-1")  # one file + one pin + one used_map
    assert "mismatch" not in pic.text


def test_unlinked_pin_is_a_row_of_its_own() -> None:
    k = unlinked_but_held()
    pic = check_kernel_picture(k, svg.kernel_svg(k))
    rows = list(pic.classed("unlinked"))
    assert len(rows) == 1 and "(unlinked)" in ET.tostring(rows[0], encoding="unicode")
    assert len(list(pic.classed("file-inode"))) == 1  # the O_PATH fd holds that inode


def test_freed_object_still_pinned_is_drawn_red() -> None:
    k = refcount_wrapped()
    assert k.objects() == [] and k.bugs == []  # freed, no access yet
    pic = check_kernel_picture(k, svg.kernel_svg(k))
    freed = list(pic.classed("freed"))
    assert [g.get("id") for g in freed if "box" in (g.get("class") or "")] == ["obj-1"]
    assert "FREED" in pic.title("obj-1")


def test_fifty_objects_stay_readable() -> None:
    k = fifty_objects()
    assert len(k.objects()) == 50
    pic = check_kernel_picture(k, svg.kernel_svg(k))
    assert len([b for b in pic.boxes() if b.id.startswith("obj-")]) == 50
    assert float(pic.root.get("width", "0")) < 2000  # four columns and their lanes
    check_arrows_can_be_followed(pic)


def check_arrows_can_be_followed(pic: Picture) -> None:
    """Arrows between neighbouring columns are routed: out, along a vertical lane of
    their own, in.  No two share a stretch of lane, and no two arrive at the same
    point, so each holder can be followed from its end to its object."""
    runs: list[tuple[float, float, float, str]] = []
    ends: dict[tuple[float, float], str] = {}
    routed = 0
    for edge in pic.classed("edge"):
        d = edge.get("d", "")
        if " C" in d:
            continue  # a curve: its ends are not in neighbouring columns
        routed += 1
        points = [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", d)]
        assert len(points) == 4, d
        (_x1, y1), (lx, ly1), (lx2, ly2), end = points
        assert lx == lx2 and ly1 == y1, d  # horizontal, vertical, horizontal
        runs.append((lx, min(ly1, ly2), max(ly1, ly2), edge.get("id", "")))
        assert end not in ends, (edge.get("id"), ends.get(end))
        ends[end] = edge.get("id", "")
    assert routed
    runs.sort()
    for (xa, _ta, ba, ida), (xb, tb, _bb, idb) in itertools.pairwise(runs):
        if xa == xb:
            assert ba < tb, (ida, idb)  # same lane: one run ends before the next begins


@pytest.mark.parametrize("state", ["tail_calls", "two_namespaces", "unlinked_but_held"])
def test_small_pictures_route_arrows_too(state: str) -> None:
    k = STATES[state]()
    check_arrows_can_be_followed(check_kernel_picture(k, svg.kernel_svg(k)))


def test_limit_keeps_the_first_objects_and_says_how_many_more() -> None:
    k = fifty_objects()
    pic = Picture(svg.kernel_svg(k, max_objects=12))
    check_layout(pic)
    objs = [b.id for b in pic.boxes() if b.id.startswith("obj-")]
    assert objs == [f"obj-{o.id}" for o in sorted(k.objects(), key=lambda o: o.id)[:12]]
    notes = [el.text for el in pic.classed("note")]
    assert notes == ["+38 more objects (max_objects=12)"]
    assert {e.get("data-to") for e in pic.holder_edges()} <= set(objs)
    assert not list(Picture(svg.kernel_svg(k, max_objects=50)).classed("note"))


def test_filter_one_object_and_its_holders() -> None:
    k = fifty_objects()
    target = next(o for o in k.objects() if o.id == 2)
    for arg in (2, target.obj):
        pic = Picture(svg.kernel_svg(k, obj=arg))
        check_layout(pic)
        into = Counter(
            next(c for c in (e.get("class") or "").split() if c.startswith("holder-"))
            for e in pic.holder_edges()
            if e.get("data-to") == "obj-2"
        )
        assert into == Counter(f"holder-{h.kind}" for h in target.holders)
        check_arrows_can_be_followed(pic)


def test_filter_namespace_and_superblock() -> None:
    k = two_namespaces()
    ns2 = k.namespaces[1]
    assert svg.kernel_svg(k, namespace=ns2) == svg.mount_namespace_svg(ns2)
    assert svg.kernel_svg(k, namespace=ns2.ns_id) == svg.mount_namespace_svg(ns2)
    sb = k.filesystems["bpf"].fs_supers[0]
    assert svg.kernel_svg(k, superblock=sb.s_dev) == svg.superblock_svg(sb)


def test_filter_and_limit_arguments_are_checked() -> None:
    k = tail_calls()
    with pytest.raises(ValueError, match="at most one of"):
        svg.kernel_svg(k, namespace=1, obj=1)
    with pytest.raises(ValueError, match="obj 999"):
        svg.kernel_svg(k, obj=999)
    with pytest.raises(TypeError, match="obj must be"):
        svg.kernel_svg(k, obj="map 1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="namespace 42"):
        svg.kernel_svg(k, namespace=42)
    with pytest.raises(ValueError, match="superblock 0x999"):
        svg.kernel_svg(k, superblock=0x999)
    with pytest.raises(ValueError, match="max_objects must be >= 0"):
        svg.kernel_svg(k, max_objects=-1)
    with pytest.raises(TypeError, match="max_objects must be an int"):
        svg.kernel_svg(k, max_objects=2.5)  # type: ignore[arg-type]


def test_pictures_are_deterministic() -> None:
    assert svg.kernel_svg(tail_calls()) == svg.kernel_svg(tail_calls())


def test_marker_ids_differ_between_pictures() -> None:
    """Several pictures inline in one HTML page must not share marker ids."""
    a, b = svg.kernel_svg(mounted()[0]), svg.kernel_svg(tail_calls())
    ids_a = set(re.findall(r'<marker id="([^"]+)"', a))
    ids_b = set(re.findall(r'<marker id="([^"]+)"', b))
    assert ids_a and ids_b and not ids_a & ids_b


def test_mount_namespace_picture() -> None:
    k = two_namespaces()
    ns2 = k.namespaces[1]
    pic = Picture(svg.mount_namespace_svg(ns2))
    check_layout(pic)
    assert [g.get("id") for g in pic.classed("ns")] == ["ns-2"]
    # it shows both superblocks: the copied /sys/fs/bpf and its own /mnt
    assert len(list(pic.classed("sb"))) == 2
    assert len(list(pic.classed("mount"))) == 2  # two bpf mounts -> two arrows
    assert len(list(pic.classed("mnt"))) == 3  # /, /sys/fs/bpf, /mnt
    assert {g.get("id") for g in pic.classed("obj") if "box" in (g.get("class") or "")} == {
        "obj-1",
        "obj-2",
    }
    tasks = [g.get("id") for g in pic.classed("task")]
    assert tasks == [f"task-{t.pid}" for t in k.tasks.values() if t.mnt_ns is ns2]


def test_superblock_picture() -> None:
    k = two_namespaces()
    shared = k.filesystems["bpf"].fs_supers[0]
    pic = Picture(svg.superblock_svg(shared))
    check_layout(pic)
    assert [g.get("id") for g in pic.classed("sb")] == [f"sb-{shared.s_dev}"]
    # both namespaces show it; only the bpf mounts are listed
    assert len(list(pic.classed("ns"))) == 2
    assert all("fs-bpf" in (r.get("class") or "") for r in pic.classed("mnt"))
    assert len(list(pic.classed("holder-pin"))) == 1
    # with tail calls: the arcs between objects stay on the canvas
    k = tail_calls()
    pic = Picture(svg.superblock_svg(k.filesystems["bpf"].fs_supers[0]))
    check_layout(pic)
    assert len(list(pic.classed("holder-slot"))) == 2


def test_task_picture() -> None:
    k = tail_calls()
    t = k.init_task
    pic = Picture(svg.task_svg(t))
    check_layout(pic)
    assert [g.get("id") for g in pic.classed("task")] == ["task-1"]
    assert {f"task-1-fd-{fd}" for fd in t.files.open_fds()} <= set(pic.by_id)
    # fds 0..3 hold maps 1-2 and progs 3-4; fd 4 is a dup of fd 0
    assert len(list(pic.classed("holder-file"))) == 4
    assert len(list(pic.classed("fd-shared"))) == 1


def test_to_svg_and_mimebundle() -> None:
    k = tail_calls()
    sb = k.filesystems["bpf"].fs_supers[0]
    for obj in (k, k.init_task.mnt_ns, sb, k.init_task):
        bundle = svg.mimebundle(obj)
        assert set(bundle) == {"image/svg+xml", "text/plain"}
        assert bundle["image/svg+xml"] == svg.to_svg(obj)
        Picture(bundle["image/svg+xml"])
    assert svg.mimebundle(k)["text/plain"] == k.tree()
    with pytest.raises(TypeError):
        svg.to_svg(object())


def test_mimebundle_of_the_dead_and_the_ordinary() -> None:
    """An exited task, a namespace with no mounts left, the ramfs root and the
    anon-inode superblock all have a representation; none raises."""
    k, t = mounted()
    child = k.spawn(uid=0)
    child.unshare(CLONE_NEWNS)
    dead_ns = child.mnt_ns
    child.exit(0)
    assert dead_ns.root is None
    assert svg.mimebundle(dead_ns) == {"text/plain": repr(dead_ns)}
    for obj in (child, t.mnt_ns.root.mnt_sb, k.anon_inode.i_sb):
        check_layout(Picture(svg.mimebundle(obj)["image/svg+xml"]))
    with pytest.raises(ValueError):
        svg.mount_namespace_svg(dead_ns)
    check_layout(Picture(svg.mount_namespace_svg(dead_ns, kernel=k)))


def test_show_prints_text_outside_ipython(capsys: pytest.CaptureFixture[str]) -> None:
    k = tail_calls()
    svg.show(k, "title here")
    out = capsys.readouterr().out
    assert out.startswith("-- title here\n") and k.tree() in out


# ---------------------------------------------------------------------------------------
# The notebooks' pictures


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_pictures(
    notebook: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run the lesson as a script with every picture it draws checked against the
    kernel it shows; each lesson draws at least one."""
    checked: list[str] = []
    original = svg.kernel_svg

    def checked_kernel_svg(kernel: pinfs.Kernel, title: str | None = None) -> str:
        text = original(kernel, title)
        check_kernel_picture(kernel, text)
        checked.append(text)
        return text

    monkeypatch.setattr(svg, "kernel_svg", checked_kernel_svg)
    for name in ("mount_namespace_svg", "superblock_svg", "task_svg"):
        real = getattr(svg, name)

        def laid_out(*args: Any, _real: Any = real, **kwargs: Any) -> str:
            text: str = _real(*args, **kwargs)
            check_layout(Picture(text))
            checked.append(text)
            return text

        monkeypatch.setattr(svg, name, laid_out)
    monkeypatch.setattr(sys, "argv", [str(notebook)])
    monkeypatch.chdir(notebook.parent)
    runpy.run_path(str(notebook), run_name="__main__")
    capsys.readouterr()
    assert checked, f"{notebook.name} draws no picture"


def test_every_lesson_is_here() -> None:
    assert [p.name[:2] for p in NOTEBOOKS][:6] == ["01", "02", "03", "04", "05", "06"]
