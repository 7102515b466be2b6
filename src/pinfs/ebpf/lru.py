"""BPF_MAP_TYPE_LRU_HASH and LRU_PERCPU_HASH: kernel/bpf/bpf_lru_list.c and the LRU
half of kernel/bpf/hashtab.c.

An LRU map never says E2BIG: every update first takes a free node
(``prealloc_lru_pop``), and when none is free the LRU shrinks, deleting the oldest
elements from the hash table.  The kernel's lists are ported as they are (circular
doubly linked ``list_head``s, newest at the head): the common LRU has a global
active/inactive/free list plus, per CPU, a local free list and a pending list of
nodes handed out since the last flush; ``BPF_F_NO_COMMON_LRU`` gives each CPU its own
active/inactive/free lists.  The observable consequences follow: eviction in batches
of ``target_free``, an update that then fails (EEXIST, ENOENT) still evicts, and an
element replaced by an update is marked referenced (it survives one more shrink).

Every syscall runs on CPU 0 (pinfs has no scheduler), which is what the live tests
pin their task to.  Free nodes carry no state, so a free list that was never used is
a count (a map of 2^20 entries costs nothing until used).  Lookups from user space
do not set the reference bit (``htab_lru_map_lookup_elem_sys``); programs, which
would, do not run.
"""

from __future__ import annotations

import errno

import attrs

from pinfs.base.errors import kernel_error
from pinfs.ebpf.attr import BPF_EXIST, BPF_NOEXIST
from pinfs.ebpf.hashtab import HashTab, htab_map_alloc
from pinfs.ebpf.percpu import htab_pages, percpu_value_size, round_up8

LOCAL_FREE_TARGET = 128
LOCAL_NR_SCANS = LOCAL_FREE_TARGET
PERCPU_FREE_TARGET = 4
PERCPU_NR_SCANS = PERCPU_FREE_TARGET

# enum bpf_lru_list_type
ACTIVE, INACTIVE, FREE, LOCAL_FREE, LOCAL_PENDING = range(5)
NR_BPF_LRU_LIST_COUNT = 2  # only active and inactive are counted
CURRENT_CPU = 0


class ListHead:
    """``struct list_head``: a sentinel, or the link inside a node."""

    __slots__ = ("next", "prev")

    def __init__(self) -> None:
        self.next: ListHead = self
        self.prev: ListHead = self

    def empty(self) -> bool:
        return self.next is self

    def add(self, entry: ListHead) -> None:
        """``list_add(entry, self)``: right after the head."""
        entry.prev, entry.next = self, self.next
        self.next.prev = entry
        self.next = entry

    def reverse(self) -> list[LruNode]:
        """The entries from the tail (oldest) to the head, safe against moves."""
        out, cur = [], self.prev
        while cur is not self:
            assert isinstance(cur, LruNode)
            out.append(cur)
            cur = cur.prev
        return out


def list_del(entry: ListHead) -> None:
    entry.prev.next = entry.next
    entry.next.prev = entry.prev
    entry.next = entry.prev = entry


def list_move(entry: ListHead, head: ListHead) -> None:
    list_del(entry)
    head.add(entry)


class LruNode(ListHead):
    """``struct bpf_lru_node`` with the ``htab_elem`` around it (key and value)."""

    __slots__ = ("cpu", "key", "ref", "type", "value")

    def __init__(self, cpu: int, type: int) -> None:
        super().__init__()
        self.cpu, self.type, self.ref = cpu, type, False
        self.key: bytes | None = None
        self.value = b""


class FreeList(ListHead):
    """A free list: real nodes once used, and ``virgin`` ones never touched."""

    __slots__ = ("cpu", "virgin")

    def __init__(self, cpu: int, virgin: int = 0) -> None:
        super().__init__()
        self.cpu, self.virgin = cpu, virgin

    def has_nodes(self) -> bool:
        return not self.empty() or self.virgin > 0

    def first(self, type: int) -> LruNode:
        """``list_first_entry`` (a virgin node is made on demand)."""
        if not self.empty():
            node = self.next
            assert isinstance(node, LruNode)
            return node
        self.virgin -= 1
        node = LruNode(self.cpu, type)
        self.add(node)
        return node


class LruList:
    """``struct bpf_lru_list``: active, inactive, free, and ``next_inactive_rotation``."""

    def __init__(self, cpu: int, nr_free: int) -> None:
        self.lists: dict[int, ListHead] = {
            ACTIVE: ListHead(),
            INACTIVE: ListHead(),
            FREE: FreeList(cpu, nr_free),
        }
        self.counts = [0, 0]
        self.next_inactive_rotation: ListHead = self.lists[INACTIVE]

    @property
    def free(self) -> FreeList:
        free = self.lists[FREE]
        assert isinstance(free, FreeList)
        return free


class LocalList:
    """``struct bpf_lru_locallist``: a CPU's free and pending nodes."""

    def __init__(self, cpu: int) -> None:
        self.free = FreeList(cpu)
        self.pending = ListHead()
        self.next_steal = cpu


class BpfLru:
    """``struct bpf_lru``: common (one list, local lists per CPU) or per CPU."""

    def __init__(self, percpu: bool, nr_elems: int, ncpus: int, table: LruHash) -> None:
        self.percpu, self.ncpus, self.table = percpu, ncpus, table
        if percpu:
            per_cpu = nr_elems // ncpus
            self.percpu_lru = [LruList(cpu, per_cpu) for cpu in range(ncpus)]
            self.nr_scans = PERCPU_NR_SCANS
        else:
            self.lru_list = LruList(CURRENT_CPU, nr_elems)
            self.local = [LocalList(cpu) for cpu in range(ncpus)]
            self.nr_scans = LOCAL_NR_SCANS
            # bpf_common_lru_populate: half a CPU's share, at most LOCAL_FREE_TARGET
            self.target_free = min(max(nr_elems // ncpus // 2, 1), LOCAL_FREE_TARGET)

    # -- node moves -----------------------------------------------------------------

    def _move_to_free(self, lst: LruList, node: LruNode, free: ListHead, tgt: int) -> None:
        """``__bpf_lru_node_move_to_free``."""
        if node is lst.next_inactive_rotation:
            lst.next_inactive_rotation = node.prev
        if node.type < NR_BPF_LRU_LIST_COUNT:
            lst.counts[node.type] -= 1
        node.type = tgt
        list_move(node, free)

    def _move_in(self, lst: LruList, node: LruNode, tgt: int) -> None:
        """``__bpf_lru_node_move_in``: from a local list into the LRU list."""
        if tgt < NR_BPF_LRU_LIST_COUNT:
            lst.counts[tgt] += 1
        node.type, node.ref = tgt, False
        list_move(node, lst.lists[tgt])

    def _move(self, lst: LruList, node: LruNode, tgt: int) -> None:
        """``__bpf_lru_node_move``: within or between active and inactive (or free)."""
        if node.type != tgt:
            if node.type < NR_BPF_LRU_LIST_COUNT:
                lst.counts[node.type] -= 1
            if tgt < NR_BPF_LRU_LIST_COUNT:
                lst.counts[tgt] += 1
            node.type = tgt
        node.ref = False
        if node is lst.next_inactive_rotation:
            lst.next_inactive_rotation = node.prev
        list_move(node, lst.lists[tgt])

    # -- rotation and shrinking ------------------------------------------------------

    def _rotate_active(self, lst: LruList) -> None:
        """``__bpf_lru_list_rotate_active``: from the tail, referenced nodes back to the
        head of active, the others to inactive; at most ``nr_scans``."""
        active = lst.lists[ACTIVE]
        first = active.next
        for i, node in enumerate(active.reverse(), 1):
            self._move(lst, node, ACTIVE if node.ref else INACTIVE)
            if i == self.nr_scans or node is first:
                break

    def _rotate_inactive(self, lst: LruList) -> None:
        """``__bpf_lru_list_rotate_inactive``: from ``next_inactive_rotation`` towards
        the head, referenced nodes go to active; at most ``nr_scans``."""
        inactive = lst.lists[INACTIVE]
        if inactive.empty():
            return
        last = lst.next_inactive_rotation.next
        if last is inactive:
            last = last.next
        cur, nxt, i = lst.next_inactive_rotation, inactive, 0
        while i < self.nr_scans:
            if cur is inactive:
                cur = cur.prev
                continue
            assert isinstance(cur, LruNode)
            nxt = cur.prev
            if cur.ref:
                self._move(lst, cur, ACTIVE)
            if cur is last:
                break
            cur = nxt
            i += 1
        lst.next_inactive_rotation = nxt

    def _rotate(self, lst: LruList) -> None:
        """``__bpf_lru_list_rotate``: active only when inactive is the shorter."""
        if lst.counts[INACTIVE] < lst.counts[ACTIVE]:
            self._rotate_active(lst)
        self._rotate_inactive(lst)

    def _shrink_inactive(self, lst: LruList, target: int, free: ListHead, tgt: int) -> int:
        """``__bpf_lru_list_shrink_inactive``: from the tail, referenced nodes to active,
        the others deleted from the table and freed, up to ``target``."""
        shrunk = 0
        for i, node in enumerate(lst.lists[INACTIVE].reverse(), 1):
            if node.ref:
                self._move(lst, node, ACTIVE)
            elif self.table.del_from_htab(node):
                self._move_to_free(lst, node, free, tgt)
                shrunk += 1
                if shrunk == target:
                    break
            if i == self.nr_scans:
                break
        return shrunk

    def _shrink(self, lst: LruList, target: int, free: ListHead, tgt: int) -> int:
        """``__bpf_lru_list_shrink``: else force out one node, ignoring the reference
        bit, from inactive (or active when inactive is empty)."""
        shrunk = self._shrink_inactive(lst, target, free, tgt)
        if shrunk:
            return shrunk
        inactive = lst.lists[INACTIVE]
        force = inactive if not inactive.empty() else lst.lists[ACTIVE]
        for node in force.reverse():
            if self.table.del_from_htab(node):
                self._move_to_free(lst, node, free, tgt)
                return 1
        return 0

    # -- the common LRU ---------------------------------------------------------------

    def _local_flush(self, lst: LruList, loc: LocalList) -> None:
        """``__local_list_flush``: pending nodes, oldest first, into the LRU list."""
        for node in loc.pending.reverse():
            self._move_in(lst, node, ACTIVE if node.ref else INACTIVE)

    def _pop_free_to_local(self, loc: LocalList) -> None:
        """``bpf_lru_list_pop_free_to_local``: flush, rotate, then ``target_free``
        nodes from the global free list, shrinking for the rest."""
        lst = self.lru_list
        self._local_flush(lst, loc)
        self._rotate(lst)
        nfree = 0
        while nfree < self.target_free and lst.free.has_nodes():
            node = lst.free.first(FREE)
            self._move_to_free(lst, node, loc.free, LOCAL_FREE)
            nfree += 1
        if nfree < self.target_free:
            self._shrink(lst, self.target_free - nfree, loc.free, LOCAL_FREE)

    def _add_pending(self, loc: LocalList, cpu: int, node: LruNode) -> None:
        node.cpu, node.type, node.ref = cpu, LOCAL_PENDING, False
        list_move(node, loc.pending)

    def _pop_pending(self, loc: LocalList) -> LruNode | None:
        """``__local_list_pop_pending``: the oldest unreferenced pending node (any,
        on the second pass) that leaves the table."""
        for force in (False, True):
            for node in loc.pending.reverse():
                if (not node.ref or force) and self.table.del_from_htab(node):
                    list_del(node)
                    return node
        return None

    def _common_pop_free(self) -> LruNode | None:
        """``bpf_common_lru_pop_free``: the local free list, else refill it from the
        global list, else steal from the CPUs' local lists in turn."""
        cpu = CURRENT_CPU
        loc = self.local[cpu]
        if not loc.free.has_nodes():
            self._pop_free_to_local(loc)
        if loc.free.has_nodes():
            node = loc.free.first(LOCAL_FREE)
            self._add_pending(loc, cpu, node)
            return node
        steal = first_steal = loc.next_steal
        found: LruNode | None = None
        while True:
            victim = self.local[steal]
            if victim.free.has_nodes():
                found = victim.free.first(LOCAL_FREE)
                list_del(found)
            else:
                found = self._pop_pending(victim)
            steal = (steal + 1) % self.ncpus
            if found is not None or steal == first_steal:
                break
        loc.next_steal = steal
        if found is not None:
            self._add_pending(loc, cpu, found)
        return found

    def _common_push_free(self, node: LruNode) -> None:
        """``bpf_common_lru_push_free``: a pending node back to its CPU's local free
        list, any other to the global free list."""
        if node.type == LOCAL_PENDING:
            node.type, node.ref = LOCAL_FREE, False
            list_move(node, self.local[node.cpu].free)
            return
        self._move(self.lru_list, node, FREE)

    # -- the per-CPU LRU --------------------------------------------------------------

    def _percpu_pop_free(self) -> LruNode | None:
        """``bpf_percpu_lru_pop_free``: rotate this CPU's list, shrink it when its free
        list is empty (PERCPU_FREE_TARGET at once), and take the first free node into
        inactive."""
        lst = self.percpu_lru[CURRENT_CPU]
        self._rotate(lst)
        if not lst.free.has_nodes():
            self._shrink(lst, PERCPU_FREE_TARGET, lst.free, FREE)
        if not lst.free.has_nodes():
            return None
        node = lst.free.first(FREE)
        node.ref = False
        self._move(lst, node, INACTIVE)
        return node

    def pop_free(self) -> LruNode | None:
        """``bpf_lru_pop_free``."""
        return self._percpu_pop_free() if self.percpu else self._common_pop_free()

    def push_free(self, node: LruNode) -> None:
        """``bpf_lru_push_free``."""
        node.key = None
        if self.percpu:
            self._move(self.percpu_lru[node.cpu], node, FREE)
        else:
            self._common_push_free(node)


@attrs.define(eq=False)
class LruHash:
    """``struct bpf_htab`` of an LRU map: the hash table (bucket order for
    GET_NEXT_KEY) and the LRU that owns its ``max_entries`` preallocated nodes."""

    key_size: int
    value_size: int  # as created; per-CPU values are ``blob`` bytes
    max_entries: int
    pages: int
    percpu: bool
    blob: int
    order: HashTab
    nodes: dict[bytes, LruNode] = attrs.field(factory=dict)
    lru: BpfLru = attrs.field(init=False)

    def del_from_htab(self, node: LruNode) -> bool:
        """``htab_lru_map_delete_node``: unlink the element if it is still in the
        table (the LRU's eviction callback)."""
        key = node.key
        if key is None or self.nodes.get(key) is not node:
            return False
        del self.nodes[key]
        self.order.delete_elem(key)
        return True

    def _check_value(self, value: bytes) -> None:
        if len(value) != self.blob:
            raise ValueError(f"value must be {self.blob} bytes, got {len(value)}")

    def lookup_elem(self, key: bytes) -> bytes | None:
        """``htab_lru_map_lookup_elem_sys``: no reference bit from user space."""
        node = self.nodes.get(bytes(key))
        return None if node is None else node.value

    def _install(self, node: LruNode, key: bytes, value: bytes) -> None:
        node.key, node.value = key, value
        self.nodes[key] = node
        self.order.update_elem(key, bytes(4), 0)

    def update_elem(self, key: bytes, value: bytes, flags: int) -> None:
        """``htab_lru_map_update_elem`` / ``__htab_lru_percpu_map_update_elem``."""
        self._check_value(value)
        key = bytes(key)
        if flags > BPF_EXIST:
            raise kernel_error(errno.EINVAL)
        if self.percpu:
            self._update_percpu(key, bytes(value), flags)
            return
        node = self.lru.pop_free()  # may evict, whatever check_flags says next
        if node is None:
            raise kernel_error(errno.ENOMEM)
        old = self.nodes.get(key)
        try:
            _check_flags(old is not None, flags)
        except BaseException:
            self.lru.push_free(node)
            raise
        if old is not None:
            self.del_from_htab(old)
        self._install(node, key, bytes(value))
        if old is not None:
            node.ref = True  # bpf_lru_node_set_ref: a replaced element was in use
            self.lru.push_free(old)

    def _update_percpu(self, key: bytes, value: bytes, flags: int) -> None:
        """Per-CPU LRU: no node taken for BPF_EXIST; a known key is updated in place
        and referenced; an unused node goes back."""
        node = None
        if flags != BPF_EXIST:
            node = self.lru.pop_free()
            if node is None:
                raise kernel_error(errno.ENOMEM)
        old = self.nodes.get(key)
        try:
            _check_flags(old is not None, flags)
            if old is not None:
                old.ref = True
                old.value = value
            else:
                assert node is not None
                self._install(node, key, value)
                node = None
        finally:
            if node is not None:
                self.lru.push_free(node)

    def delete_elem(self, key: bytes) -> None:
        """``htab_lru_map_delete_elem``."""
        node = self.nodes.get(bytes(key))
        if node is None:
            raise kernel_error(errno.ENOENT)
        self.del_from_htab(node)
        self.lru.push_free(node)

    def get_next_key(self, key: bytes | None) -> bytes:
        return self.order.get_next_key(key)

    def free(self) -> None:
        self.nodes.clear()
        self.order.free()


def _check_flags(exists: bool, flags: int) -> None:
    """hashtab.c ``check_flags``."""
    if exists and flags == BPF_NOEXIST:
        raise kernel_error(errno.EEXIST)
    if not exists and flags == BPF_EXIST:
        raise kernel_error(errno.ENOENT)


def lru_map_alloc(
    key_size: int,
    value_size: int,
    max_entries: int,
    *,
    percpu: bool,
    percpu_lru: bool,
    ncpus: int,
    key_size_limit: int | None,
) -> LruHash:
    """``htab_map_alloc`` for the LRU types: with BPF_F_NO_COMMON_LRU, max_entries
    rounds up to a multiple of the CPU count (down if that overflows) so every CPU's
    list gets the same share; beyond 2^31 E2BIG; then the table and
    ``bpf_lru_init`` + ``bpf_lru_populate``."""
    if percpu_lru:
        rounded = -(-max_entries // ncpus) * ncpus
        max_entries = rounded if rounded <= 0xFFFFFFFF else max_entries // ncpus * ncpus
    if max_entries > 1 << 31:
        raise kernel_error(errno.E2BIG)
    blob = percpu_value_size(value_size, ncpus) if percpu else value_size
    order = htab_map_alloc(
        key_size, 4, max_entries, overflow_errno=errno.E2BIG, key_size_limit=key_size_limit
    )
    pages = htab_pages(order.n_buckets, key_size, value_size, max_entries)
    if percpu:
        pages += -(-(round_up8(value_size) * ncpus * max_entries) // 4096)
    table = LruHash(key_size, value_size, max_entries, pages, percpu, blob, order)
    table.lru = BpfLru(percpu_lru, max_entries, ncpus, table)
    return table


def lru_lookup_and_delete(table: LruHash, key: bytes) -> bytes | None:
    """``__htab_map_lookup_and_delete_elem`` on an LRU map: the value, and the node
    goes back to the LRU (None: ENOENT)."""
    node = table.nodes.get(bytes(key))
    if node is None:
        return None
    value = node.value
    table.del_from_htab(node)
    table.lru.push_free(node)
    return value
