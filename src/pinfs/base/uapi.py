"""The user-space ABI numbers pinfs shares across layers: one home for each.

Flags of mount(2)/umount2(2) (include/uapi/linux/mount.h, fs.h), open(2)
(include/uapi/asm-generic/fcntl.h), renameat2(2) (include/uapi/linux/fs.h),
clone(2)/unshare(2) (include/uapi/linux/sched.h), rlimits
(include/uapi/asm-generic/resource.h), prctl(2), path limits
(include/uapi/linux/limits.h) and the x86_64 page size.  Kernel-internal numbers
(``i_flags``, ``mnt_flags``, ``FMODE_*``, ``MAY_*``) live with the code that owns them.
"""

from __future__ import annotations

import os

# mount(2) flags (include/uapi/linux/mount.h)
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

# umount2(2) flags (include/linux/fs.h)
MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8

# open(2) (include/uapi/asm-generic/fcntl.h)
O_ACCMODE = os.O_ACCMODE
O_CLOEXEC = 0o2000000
O_PATH = 0o10000000
AT_FDCWD = -100

# The *at calls' flags (include/uapi/linux/fcntl.h)
AT_SYMLINK_NOFOLLOW = 0x100
AT_EACCESS = 0x200  # faccessat2
AT_REMOVEDIR = 0x200  # unlinkat
AT_SYMLINK_FOLLOW = 0x400  # linkat
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
AT_STATX_SYNC_TYPE = 0x6000
AT_STATX_FORCE_SYNC = 0x2000
AT_STATX_DONT_SYNC = 0x4000

# access(2) modes (include/linux/fs.h MAY_*: the same low bits)
F_OK, X_OK, W_OK, R_OK = 0, 1, 2, 4

# statx(2) (include/uapi/linux/stat.h)
STATX_TYPE = 0x1
STATX_MODE = 0x2
STATX_NLINK = 0x4
STATX_UID = 0x8
STATX_GID = 0x10
STATX_ATIME = 0x20
STATX_MTIME = 0x40
STATX_CTIME = 0x80
STATX_INO = 0x100
STATX_SIZE = 0x200
STATX_BLOCKS = 0x400
STATX_BASIC_STATS = 0x7FF
STATX_BTIME = 0x800
STATX_MNT_ID = 0x1000
STATX_MNT_ID_UNIQUE = 0x4000
STATX__RESERVED = 0x80000000
STATX_ATTR_MOUNT_ROOT = 0x2000

# renameat2(2) flags (include/uapi/linux/fs.h)
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4

# clone(2)/unshare(2) flags (include/uapi/linux/sched.h)
CLONE_VM = 0x100
CLONE_FS = 0x200
CLONE_FILES = 0x400
CLONE_SIGHAND = 0x800
CLONE_THREAD = 0x10000
CLONE_NEWNS = 0x20000
CLONE_SYSVSEM = 0x40000
CLONE_NEWUTS = 0x4000000
CLONE_NEWIPC = 0x8000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# getrlimit(2)/setrlimit(2) (include/uapi/asm-generic/resource.h)
RLIMIT_NOFILE = 7
RLIMIT_MEMLOCK = 8
RLIM_INFINITY = (1 << 64) - 1
#: RLIM_INFINITY as Python's :mod:`resource` spells it (``rlim_t`` read as signed): what
#: ``Task.getrlimit`` returns for "unlimited", and the value of ``pinfs.RLIM_INFINITY``.
RESOURCE_RLIM_INFINITY = -1

# prctl(2) (include/uapi/linux/prctl.h)
PR_SET_KEEPCAPS = 8

# include/uapi/linux/limits.h
NAME_MAX = 255
PATH_MAX = 4096

# x86_64
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
