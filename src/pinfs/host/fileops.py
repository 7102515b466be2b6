"""read, write, lseek, ioctl and mmap on pinfs fds, answered by the model.

A placeholder is a pipe's write end: left to the real kernel, ``read`` would be EBADF
and ``write`` would fill the pipe.  The filter notifies these calls for fds from 3 up
(0, 1 and 2 are the program's terminal or pipes, and the hottest); a call on an fd
that is not a placeholder passes through, any other is answered as the modelled
kernel would answer it on the bpf object or bpffs file (``vfs_read``: EINVAL for a
map, EISDIR for a directory; ``ksys_pread64``: ESPIPE without ``FMODE_PREAD``;
``do_vfs_ioctl``'s generic commands, then ENOTTY; ``do_mmap``'s checks, then
``bpf_map_mmap``).  What pinfs cannot model (mmap of a ``BPF_F_MMAPABLE`` map: shared
memory with the model; the freeze and extent ioctls) gets the "not supported" errno
of that call and is listed in the trace; it never reaches the real kernel.

Not intercepted: poll/select/epoll (the fds are in memory; the placeholder pipe
answers: writable, where a map says EPOLLERR), ``fcntl(F_SETFL)``, sendfile/splice.
"""

from __future__ import annotations

import errno
import os
import struct
from stat import S_IFDIR, S_IFLNK, S_IFMT, S_IFREG

from pinfs.ebpf.attr import BPF_F_MMAPABLE, BPF_MAP_TYPE_ARRAY
from pinfs.ebpf.objects import BpfMap
from pinfs.host.context import Call
from pinfs.host.context import Served as Supervisor
from pinfs.vfs import File

PASS = object()  # SECCOMP_USER_NOTIF_FLAG_CONTINUE: the real kernel runs the call
PASS_DONE = object()  # answered already (by ADDFD)
FMODE_READ = 1
FMODE_WRITE = 2
UIO_MAXIOV = 1024
PAGE_SIZE = 4096
ENOTSUPP = 524  # kernel-internal, and what bpf_map_mmap gives user space
BPF_F_RDONLY_PROG = 1 << 7
#: Map types with ``->map_mmap`` at v6.18: array, ringbuf, user ringbuf, arena.
MAP_MMAP_TYPES = (2, 27, 31, 33)
# include/uapi/asm-generic/ioctls.h and linux/fs.h
FIONBIO = 0x5421
FIONCLEX = 0x5450
FIOCLEX = 0x5451
FIOASYNC = 0x5452
FIOQSIZE = 0x5460
FIGETBSZ = 2
#: do_vfs_ioctl's other generic commands, not modelled (FIFREEZE, FITHAW,
#: FS_IOC_FIEMAP, FICLONE, FICLONERANGE, FIDEDUPERANGE, FS_IOC_GETFSUUID,
#: FS_IOC_GETFSSYSFSPATH): ENOTTY and listed.
UNMODELLED_IOCTLS = {0xC0045877, 0xC0045878, 0xC020660B, 0x40049409, 0x4020940D,
                     0xC0189436, 0x80111500, 0x80811501}  # fmt: skip
MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_SHARED_VALIDATE = 0x03
MAP_TYPE = 0x0F
MAP_ANONYMOUS = 0x20
PROT_WRITE = 0x2
PROT_EXEC = 0x4
#: LEGACY_MAP_MASK (include/linux/mman.h)
LEGACY_MAP_MASK = 0x01 | 0x02 | 0x10 | 0x100 | 0x800 | 0x2000 | 0x4000 | 0x8000 | 0x10000
LEGACY_MAP_MASK |= 0x20000 | 0x40000 | 0x100000 | 0x20 | 0x80000 | 0xFC000000


def _is_dir(file: File) -> bool:
    inode = file.f_inode
    return inode is not None and inode.is_dir


def _has_pread(file: File) -> bool:
    """FMODE_PREAD: set by a normal open (bpffs files and directories), not on the
    anonymous files of bpf objects (``alloc_file_pseudo``)."""
    return file.f_path is not None


def serve_read(sup: Supervisor, call: Call) -> object:
    """read(fd, buf, count): ``vfs_read`` in the model, then the bytes to ``buf``."""
    file = sup.placeholder_file(call, call.sarg(0))
    if file is None:
        return PASS
    data = call.task.read(call.sarg(0), call.arg(2))
    call.mem.write(call.arg(1), data)
    return len(data)


def serve_pread(sup: Supervisor, call: Call) -> object:
    """pread64: EINVAL for a negative position, ESPIPE without FMODE_PREAD."""
    if not _positioned_call(sup, call, "pread"):
        return PASS
    return serve_read(sup, call)


def _positioned_call(sup: Supervisor, call: Call, what: str) -> bool:
    """The checks ``ksys_pread64``/``ksys_pwrite64`` add before the plain read or
    write: EINVAL for a negative position, ESPIPE without FMODE_PREAD/PWRITE.  False
    if the fd is not a pinfs file (the call passes)."""
    file = sup.placeholder_file(call, call.sarg(0))
    if file is None:
        return False
    if call.arg(3) >= 1 << 63:
        raise OSError(errno.EINVAL, "negative position")
    if not _has_pread(file):
        raise OSError(errno.ESPIPE, f"no {what}")
    return True


def serve_write(sup: Supervisor, call: Call) -> object:
    """write(fd, buf, count): the model's checks (EBADF, EINVAL) come before the
    buffer is read, as ``vfs_write``'s do."""
    fd = call.sarg(0)
    file = sup.placeholder_file(call, fd)
    if file is None:
        return PASS
    if file.f_op is None or file.f_op.write is None or not file.f_mode & FMODE_WRITE:
        return call.task.write(fd, b"")  # raises the model's errno
    return call.task.write(fd, call.mem.read(call.arg(1), call.arg(2)))


def serve_pwrite(sup: Supervisor, call: Call) -> object:
    """pwrite64: as pread64, then the write."""
    if not _positioned_call(sup, call, "pwrite"):
        return PASS
    return serve_write(sup, call)


def _iovecs(call: Call, address: int, count: int) -> list[tuple[int, int]]:
    """``import_iovec``: EINVAL past UIO_MAXIOV, EFAULT on the array."""
    if count > UIO_MAXIOV:
        raise OSError(errno.EINVAL, "too many iovecs")
    raw = call.mem.read(address, 16 * count)
    return [struct.unpack_from("=QQ", raw, 16 * i) for i in range(count)]


def serve_readv(sup: Supervisor, call: Call) -> object:
    """readv: the model's read of the total, scattered over the iovecs (a map's
    EINVAL comes first, before the iovecs are read, as in ``vfs_readv``)."""
    fd = call.sarg(0)
    file = sup.placeholder_file(call, fd)
    if file is None:
        return PASS
    if file.f_op is None or file.f_op.read is None or not file.f_mode & FMODE_READ:
        call.task.read(fd, 0)  # raises the model's errno
    vecs = _iovecs(call, call.arg(1), call.arg(2) & 0xFFFFFFFF)
    data = call.task.read(fd, sum(length for _base, length in vecs))
    offset = 0
    for base, length in vecs:
        if offset >= len(data):
            break
        call.mem.write(base, data[offset : offset + length])
        offset += length
    return len(data)


def serve_writev(sup: Supervisor, call: Call) -> object:
    fd = call.sarg(0)
    file = sup.placeholder_file(call, fd)
    if file is None:
        return PASS
    if file.f_op is None or file.f_op.write is None or not file.f_mode & FMODE_WRITE:
        return call.task.write(fd, b"")
    vecs = _iovecs(call, call.arg(1), call.arg(2) & 0xFFFFFFFF)
    data = b"".join(call.mem.read(base, length) for base, length in vecs)
    return call.task.write(fd, data)


def serve_positioned_vector(sup: Supervisor, call: Call) -> object:
    """preadv/pwritev(2): the position checks of pread, then as readv/writev."""
    reading = call.notif.nr in (295, 327)
    if not _positioned_call(sup, call, "pread" if reading else "pwrite"):
        return PASS
    return serve_readv(sup, call) if reading else serve_writev(sup, call)


def serve_lseek(sup: Supervisor, call: Call) -> object:
    file = sup.placeholder_file(call, call.sarg(0))
    if file is None:
        return PASS
    offset = call.arg(1)
    offset = offset - (1 << 64) if offset >= 1 << 63 else offset
    return call.task.lseek(call.sarg(0), offset, call.arg(2) & 0xFFFFFFFF)


def serve_ioctl(sup: Supervisor, call: Call) -> object:
    """``do_vfs_ioctl``'s generic commands on a pinfs file, then ``vfs_ioctl``:
    no bpf object or bpffs file has ``unlocked_ioctl``, so ENOTTY."""
    file = sup.placeholder_file(call, call.sarg(0))
    if file is None:
        return PASS
    cmd, arg = call.arg(1) & 0xFFFFFFFF, call.arg(2)
    if cmd in (FIOCLEX, FIONCLEX):
        return PASS  # the close-on-exec flag of the real fd: the real kernel's
    if cmd == FIONBIO:
        (on,) = struct.unpack("=i", call.mem.read(arg, 4))
        file.f_flags = file.f_flags | os.O_NONBLOCK if on else file.f_flags & ~os.O_NONBLOCK
        return 0
    if cmd == FIOASYNC:
        (on,) = struct.unpack("=i", call.mem.read(arg, 4))
        if bool(on) != bool(file.f_flags & 0o20000):  # FASYNC; no ->fasync
            raise OSError(errno.ENOTTY, "no fasync")
        return 0
    if cmd == FIOQSIZE:
        inode = file.f_inode
        if file.f_path is None or inode is None or not _sized(inode.i_mode):
            raise OSError(errno.ENOTTY, "FIOQSIZE")
        call.mem.write(arg, struct.pack("=q", inode.i_size))
        return 0
    if cmd == FIGETBSZ:
        call.mem.write(arg, struct.pack("=i", _blocksize(file)))
        return 0
    if cmd in UNMODELLED_IOCTLS:
        sup.unmodelled.append(f"ioctl({call.sarg(0)}, {cmd:#x}): ENOTTY")
    raise OSError(errno.ENOTTY, "no ioctl")


def _sized(mode: int) -> bool:
    return S_IFMT(mode) in (S_IFDIR, S_IFREG, S_IFLNK)


def _blocksize(file: File) -> int:
    inode = file.f_inode
    sb = inode.i_sb if inode is not None else None
    return int(getattr(sb, "s_blocksize", PAGE_SIZE))


def serve_mmap(sup: Supervisor, call: Call) -> object:
    """mmap of a pinfs fd: ``sys_mmap`` and ``do_mmap``'s checks in their order,
    then the file's ``->mmap``: ENODEV without one (programs, bpffs files, and every
    map before v5.5), ``bpf_map_mmap``'s ENOTSUPP / EINVAL / EPERM / EACCES."""
    length, prot, flags, fd, offset = (call.arg(i) for i in (1, 2, 3, 4, 5))
    if flags & MAP_ANONYMOUS:
        return PASS
    file = sup.placeholder_file(call, call.sarg(4))
    if file is None:
        return PASS
    if offset & (PAGE_SIZE - 1):
        raise OSError(errno.EINVAL, "offset")
    if not length:
        raise OSError(errno.EINVAL, "length")
    if (length + PAGE_SIZE - 1) >> 64:
        raise OSError(errno.ENOMEM, "length")
    _check_map_type(file, flags, prot)
    if not _has_mmap(call, file):
        raise OSError(errno.ENODEV, "no mmap")
    return _bpf_map_mmap(sup, call, file, flags, prot, fd)


def _check_map_type(file: File, flags: int, prot: int) -> None:
    kind = flags & MAP_TYPE
    mode = file.f_mode
    if kind == MAP_SHARED:
        flags &= LEGACY_MAP_MASK
    if kind in (MAP_SHARED, MAP_SHARED_VALIDATE):
        if flags & ~LEGACY_MAP_MASK:
            raise OSError(errno.EOPNOTSUPP, "flags")
        if prot & PROT_WRITE and not mode & FMODE_WRITE:
            raise OSError(errno.EACCES, "not open for writing")
    elif kind != MAP_PRIVATE:
        raise OSError(errno.EINVAL, "map type")
    if not mode & FMODE_READ:
        raise OSError(errno.EACCES, "not open for reading")
    if file.f_path is None and prot & PROT_EXEC:  # anon_inodefs is SB_I_NOEXEC
        raise OSError(errno.EPERM, "noexec")


def _has_mmap(call: Call, file: File) -> bool:
    """Only maps have ``->mmap`` (``bpf_map_fops``, v5.5 with BPF_F_MMAPABLE)."""
    known = call.task.kernel.profile.map_create_flags & BPF_F_MMAPABLE
    return isinstance(file.private_data, BpfMap) and bool(known)


def _bpf_map_mmap(
    sup: Supervisor, call: Call, file: File, flags: int, prot: int, fd: int
) -> object:
    bpf_map = file.private_data
    assert isinstance(bpf_map, BpfMap)
    if bpf_map.map_type not in MAP_MMAP_TYPES:
        raise OSError(ENOTSUPP, "no map_mmap")
    if bpf_map.map_type != BPF_MAP_TYPE_ARRAY:
        sup.unmodelled.append(
            f"mmap({fd & 0xFFFFFFFF}) of a map of type {bpf_map.map_type}: ENODEV"
        )
        raise OSError(errno.ENODEV, "ring buffers and arenas in memory are not modelled")
    if flags & MAP_TYPE == MAP_PRIVATE:
        raise OSError(errno.EINVAL, "not VM_SHARED")
    if prot & PROT_WRITE and bpf_map.frozen:
        raise OSError(errno.EPERM, "frozen")
    if prot & PROT_WRITE and bpf_map.map_flags & BPF_F_RDONLY_PROG:
        raise OSError(errno.EACCES, "BPF_F_RDONLY_PROG")
    if not bpf_map.map_flags & BPF_F_MMAPABLE:
        raise OSError(errno.EINVAL, "not BPF_F_MMAPABLE")  # array_map_mmap
    sup.unmodelled.append(f"mmap({fd & 0xFFFFFFFF}) of a BPF_F_MMAPABLE map: ENODEV")
    raise OSError(errno.ENODEV, "shared memory with the model is not modelled")
