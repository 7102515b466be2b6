"""kernel/bpf/preload (d71fa5c9763c v5.10; a light skeleton since cb80ddc67152 v5.18):
the kernel's own iterator programs behind every instance's ``maps.debug`` and
``progs.debug``.

``load_skel`` runs once, the first time a bpffs instance is filled (the module is
loaded on demand by that mount): the skeleton's ``.rodata`` map
(``iterator.rodata``, an array of one element), the programs ``dump_bpf_map`` and
``dump_bpf_prog`` (TRACING, BPF_TRACE_ITER, both using the map) and their two iter
links, which the kernel keeps (``bpf_link_get_from_fd``) and every new instance pins.
The skeleton's loader program and map, which the kernel also creates and frees, are
not modelled (their ids are not consumed).
"""

from __future__ import annotations

import attrs

from pinfs.ebpf.arraymap import array_map_alloc
from pinfs.ebpf.attr import BPF_MAP_TYPE_ARRAY, BPF_PROG_TYPE_TRACING
from pinfs.ebpf.context import BpfKernel
from pinfs.ebpf.ids import bpf_map_alloc_id, bpf_prog_alloc_id
from pinfs.ebpf.iter import IterLink
from pinfs.ebpf.iterids import BPF_TRACE_ITER, ITER_BTF_IDS
from pinfs.ebpf.link import bpf_link_init
from pinfs.ebpf.objects import BpfMap, BpfProg, bpf_map_inc
from pinfs.ebpf.prog import RETURN_ZERO

#: The .rodata the two programs' format strings live in (its value size, rounded).
_RODATA_SIZE = 104


@attrs.define(eq=False)
class BpfPreload:
    """What the module keeps: the two programs and their links."""

    rodata: BpfMap
    maps_prog: BpfProg
    progs_prog: BpfProg
    maps_link: IterLink
    progs_link: IterLink


def bpf_preload_load(kernel: BpfKernel) -> BpfPreload:
    """``load_skel``: the map, the programs, the links (each link holds its program;
    the kernel holds each link once)."""
    storage = array_map_alloc(4, _RODATA_SIZE, 1)
    rodata = BpfMap(kernel, 0, BPF_MAP_TYPE_ARRAY, 4, _RODATA_SIZE, 1, storage, storage.pages)
    rodata.name, rodata.refcnt, rodata.usercnt = b"iterator.rodata", 0, 0
    rodata.id = kernel.register_bpf_object(rodata)
    bpf_map_alloc_id(rodata)
    progs = []
    for name, target in ((b"dump_bpf_map", "bpf_map"), (b"dump_bpf_prog", "bpf_prog")):
        prog = BpfProg(kernel, 0, BPF_PROG_TYPE_TRACING, 2, RETURN_ZERO, True, 1)
        prog.name, prog.expected_attach_type = name, BPF_TRACE_ITER
        prog.attach_btf_id, prog.attach_func_name = ITER_BTF_IDS[target], f"bpf_iter_{target}"
        bpf_map_inc(rodata, uref=False)
        prog.used_maps = [rodata]
        prog.id = kernel.register_bpf_object(prog)
        bpf_prog_alloc_id(prog)
        progs.append(prog)
    links = []
    for prog, target in zip(progs, ("bpf_map", "bpf_prog"), strict=True):
        link = IterLink(kernel, prog, BPF_TRACE_ITER, target=target)
        bpf_link_init(kernel, link)
        if kernel.profile.link_ids:
            link.idr_id = kernel.link_idr.alloc_cyclic(link)
        links.append(link)
    return BpfPreload(rodata, progs[0], progs[1], links[0], links[1])
