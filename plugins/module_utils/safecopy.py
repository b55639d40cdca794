# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The file-descriptor layer: symlink-safe, crash-safe primitives built on directory file descriptors.

This layer knows nothing of session layouts. The layers above it, each in its own module:

* ``session_scan``: what one legacy session consists of (needs the layouts' rules);
* ``staging_copy``: the copy into a staging directory, its hashes and its verification;
* ``verified_removal``: removing legacy files that are still exactly what was copied (``mode: move``).

A change of the layout rules touches ``session_scan`` only, never the code the crash tests guard here and in
``staging_copy``/``verified_removal``. Fault points (``fault_point``) are looked up on this module at call time,
so the crash tests can count and trigger every one of them.

Rules kept by every function here and above:

* Sources are opened relative to an already opened directory with ``O_NOFOLLOW`` (directories also with
  ``O_DIRECTORY``), so a directory swapped for a symlink while we run is never followed, and nothing outside
  the session directory is read.
* Only regular files and directories are copied. Symlinks, FIFOs, sockets and devices are reported, never
  opened. Hard links become separate files.
* Data is streamed with a fixed buffer (``BUFFER_SIZE``); memory does not grow with the file sizes.
* Removal uses ``unlinkat``/``rmdir`` relative to directory descriptors and never follows symlinks.

Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import importlib
import os
import signal
import stat
import time

BUFFER_SIZE = 1024 * 1024

O_CLOEXEC = getattr(os, 'O_CLOEXEC', 0)
O_NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
O_DIRECTORY = getattr(os, 'O_DIRECTORY', 0)
O_NONBLOCK = getattr(os, 'O_NONBLOCK', 0)
DIR_FLAGS = os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
READ_FLAGS = os.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC

# Counters of file contents read by this module; tests use them to prove that a no-op run reads nothing.
READ_STATS = {'files': 0, 'bytes': 0}


class SessionError(Exception):
    """A problem with one session; ``path`` names the file or directory concerned."""

    def __init__(self, path, reason):
        super(SessionError, self).__init__('%s: %s' % (path, reason))
        self.path = path
        self.reason = reason


def os_error(exc, path):
    """Turn an OSError into a SessionError naming ``path`` and the errno text."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ELOOP, errno.ENOTDIR) and reason:
        reason = '%s (a symlink or non-directory where a directory was expected; not followed)' % reason
    return SessionError(path, reason)


def kind_of(mode):
    """Short name of the file type in ``mode``."""
    if stat.S_ISREG(mode):
        return 'file'
    if stat.S_ISDIR(mode):
        return 'directory'
    if stat.S_ISLNK(mode):
        return 'symlink'
    if stat.S_ISFIFO(mode):
        return 'FIFO'
    if stat.S_ISSOCK(mode):
        return 'socket'
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return 'device'
    return 'special file'


CHANGED_MSG = ('changed while being migrated (is the service still running?); stop the service and re-run')


def same_version(st, old):
    """True when two stat results show the same version of one file: same inode, size, mtime and ctime (in
    nanoseconds). A write in place that keeps the size and puts the mtime back still moves the ctime."""
    return (st.st_ino == old.st_ino and st.st_dev == old.st_dev and st.st_size == old.st_size
            and st.st_mtime_ns == old.st_mtime_ns and st.st_ctime_ns == old.st_ctime_ns)


def same_dir_version(st, old):
    """True when a directory has had no entry added, removed or renamed (same inode, mtime and ctime)."""
    return (st.st_ino == old.st_ino and st.st_dev == old.st_dev and st.st_mtime_ns == old.st_mtime_ns
            and st.st_ctime_ns == old.st_ctime_ns)


def same_file(st, old):
    """True when ``st`` is a regular file and the same version as ``old`` (see ``same_version``)."""
    return stat.S_ISREG(st.st_mode) and same_version(st, old)


# ----------------------------------------------------------------------------------------------------------
# fault injection hook for the crash tests

FAULT_ENV = 'SESSION_MIGRATE_TEST_KILL_AT'
_FAULT_COUNTS = {}


def fault_point(phase):
    """Test hook: with ``SESSION_MIGRATE_TEST_KILL_AT=<phase>:<n>`` in the environment, the process kills
    itself with SIGKILL the ``n``-th time it reaches ``phase``. Does nothing when the variable is not set.

    Phases: ``copy`` (a file's data is written, not yet flushed), ``fsync`` (a staged session is about to be
    flushed), ``verify`` (mode=move: the staged copy was verified), ``rename`` (about to rename the staged copy
    into place), ``renamed`` (renamed, before the legacy copy is removed), ``remove`` (mode=move: before each
    removal in the legacy directory), ``cleanup`` (before each removal in a staging directory), ``backup``.
    """
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    want, _sep, nth = spec.partition(':')
    if want != phase:
        return
    _FAULT_COUNTS[phase] = _FAULT_COUNTS.get(phase, 0) + 1
    if str(_FAULT_COUNTS[phase]) == nth:
        os.kill(os.getpid(), signal.SIGKILL)


# ----------------------------------------------------------------------------------------------------------
# small fd helpers

def open_dir(path, dir_fd=None, follow=False):
    """Open directory ``path`` (relative to ``dir_fd`` when given). ``follow=False`` refuses symlinks."""
    flags = DIR_FLAGS if not follow else (os.O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    return os.open(path, flags, dir_fd=dir_fd)


def lstat_at(dir_fd, name):
    """lstat ``name`` (a name or a relative path, its last component not followed) inside ``dir_fd``; None when it
    does not exist or cannot exist (a component is not a directory or is a symlink, the name is too long)."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG):
            return None
        raise


def open_regular(dir_fd, name, expect=None):
    """Open regular file ``name`` in ``dir_fd`` for reading without following symlinks or blocking on FIFOs.

    ``expect`` (an lstat result) makes sure it is still the same inode that was scanned.
    Returns ``(fd, fstat)``.
    """
    fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, 'is a %s, not a regular file; not copied' % kind_of(st.st_mode))
        if expect is not None and (st.st_ino != expect.st_ino or st.st_dev != expect.st_dev):
            raise OSError(errno.EAGAIN, 'was replaced while being migrated; stop the service and re-run')
        return fd, st
    except BaseException:
        os.close(fd)
        raise


def read_file_at(dir_fd, name, limit):
    """Read at most ``limit`` + 1 bytes of regular file ``name`` in ``dir_fd`` (symlinks refused)."""
    fd, st = open_regular(dir_fd, name)
    try:
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, BUFFER_SIZE))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b''.join(chunks)
        READ_STATS['files'] += 1
        READ_STATS['bytes'] += len(data)
        return data
    finally:
        os.close(fd)


def fsync_dir(fd):
    os.fsync(fd)


_LIBC = {}


def libc_function(name, *argtypes):
    """The C library's ``name`` (``argtypes``: ctypes type names, the result an int) as a Python function that
    raises OSError when it returns non-zero; None when this system has no such function. Looked up once."""
    if name not in _LIBC:
        func = None
        try:
            import ctypes
            candidate = getattr(ctypes.CDLL(None, use_errno=True), name, None)
            if candidate is not None:
                candidate.argtypes = [getattr(ctypes, argtype) for argtype in argtypes]
                candidate.restype = ctypes.c_int

                def func(*args):
                    if candidate(*args) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, os.strerror(err))
        except Exception:  # pylint: disable=broad-except
            func = None
        _LIBC[name] = func
    return _LIBC[name]


def _syncfs_function():
    return libc_function('syncfs', 'c_int')


def syncfs_available():
    """True when ``syncfs(2)`` can be called (Linux with glibc or musl)."""
    return _syncfs_function() is not None


def syncfs(fd):
    """Flush the whole file system holding ``fd`` (one call per session instead of one fsync per file)."""
    func = _syncfs_function()
    if func is None:
        raise OSError(errno.ENOSYS, 'syncfs is not available')
    func(fd)


# ----------------------------------------------------------------------------------------------------------
# recursive removal without following symlinks

def rmtree_at(parent_fd, name, display):
    """Remove ``name`` (file or directory tree) inside ``parent_fd``; never follows symlinks."""
    st = lstat_at(parent_fd, name)
    if st is None:
        return
    fault_point('cleanup')
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        return
    fd = open_dir(name, dir_fd=parent_fd)
    try:
        with os.scandir(fd) as it:
            names = [entry.name for entry in it]
        for child in names:
            rmtree_at(fd, child, os.path.join(display, child))
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


# ----------------------------------------------------------------------------------------------------------
# the lock

class LockTimeout(Exception):
    pass


def acquire_lock(dest_fd, name, timeout, display, create=True):
    """Take an exclusive ``flock`` on ``name`` in ``dest_fd``, waiting at most ``timeout`` seconds.

    Returns the open lock fd (close it to release), or None when ``create`` is False and it does not exist.
    """
    flags = (os.O_RDWR | os.O_CREAT if create else os.O_RDONLY) | O_NOFOLLOW | O_CLOEXEC
    try:
        fd = os.open(name, flags, 0o600, dir_fd=dest_fd)
    except OSError as exc:
        if not create and exc.errno == errno.ENOENT:
            return None
        raise
    deadline = time.monotonic() + max(0, timeout)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
        if time.monotonic() >= deadline:
            os.close(fd)
            raise LockTimeout('%s is locked by another session_migrate run; gave up after waiting %s seconds '
                              '(lock_timeout). Wait for the other run to finish and try again.'
                              % (display, timeout))
        time.sleep(0.1)


# ----------------------------------------------------------------------------------------------------------
# The layers above, still reachable as ``safecopy.<name>`` for existing callers, imported on first use (they
# import the primitives above from this module, so importing them here at load time would be circular).

_LAYERS = dict(
    (name, layer) for layer, names in (
        ('session_scan', ('DirItem', 'FileItem', 'OverlapError', 'SessionPlan', 'list_sidecars', 'scan_session')),
        ('staging_copy', ('STAGED_DISPLAY', 'CopySettings', 'copy_plan', 'hash_sources', 'hash_tree', 'verify_copy')),
        ('verified_removal', ('remove_verified',)),
    ) for name in names)


def __getattr__(name):
    layer = _LAYERS.get(name)
    if layer is None:
        raise AttributeError('module %r has no attribute %r' % (__name__, name))
    module = importlib.import_module(__name__.rsplit('.', 1)[0] + '.' + layer)
    return getattr(module, name)
