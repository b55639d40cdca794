# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Symlink-safe, crash-safe copying of one session directory, built on directory file descriptors.

Rules kept by every function here:

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

import collections
import errno
import fcntl
import hashlib
import os
import signal
import stat
import time

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    creds_filename, split_backslash_name)

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
    """lstat ``name`` inside ``dir_fd``; None when it does not exist."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
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


_SYNCFS = []


def _syncfs_function():
    if not _SYNCFS:
        func = None
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            candidate = getattr(libc, 'syncfs', None)
            if candidate is not None:
                candidate.argtypes = [ctypes.c_int]
                candidate.restype = ctypes.c_int

                def func(fd):
                    if candidate(fd) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, os.strerror(err))
        except Exception:  # pylint: disable=broad-except
            func = None
        _SYNCFS.append(func)
    return _SYNCFS[0]


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
# scanning a legacy session directory

# One regular file to copy. ``src_dir`` / ``dst_dir`` are tuples of path parts relative to the session
# directory (``None`` as src_dir = the legacy root: a ``<name>\\store.db`` file beside the session dir).
FileItem = collections.namedtuple('FileItem', 'src_dir src_name dst_dir dst_name st')
DirItem = collections.namedtuple('DirItem', 'src_dir dst_dir st')


class SessionPlan(object):
    """Everything one session copy will do, found from metadata only (no file contents are read)."""

    def __init__(self, name, source):
        self.name = name
        self.source = source
        self.dirs = []       # DirItem, parents before children; first item = the session dir itself
        self.files = []      # FileItem
        self.warnings = []
        self.left_behind = set()  # legacy paths that are not copied (conflicting spellings, symlinks, ...)
        self.forbidden = frozenset()  # (st_dev, st_ino) of directories that must not be met (the sessions root)

    @property
    def nbytes(self):
        return sum(item.st.st_size for item in self.files)

    def source_path(self, src_dir, name=None):
        """Display path of a source entry."""
        if src_dir is None:
            path = os.path.join(os.path.dirname(self.source), name)
            return path
        parts = (self.source,) + tuple(src_dir) + ((name,) if name is not None else ())
        return os.path.join(*parts)


def scan_session(root_fd, root_path, name, layout, normalize=True, creds=None, forbidden=()):
    """Build the ``SessionPlan`` for legacy session directory ``root_path/name``, opened via ``root_fd``.

    The creds file (``creds``, by default the layout's) always keeps its name, also when the session name holds
    a backslash: splitting it would leave the migrated session without its creds file.

    ``forbidden`` holds ``(st_dev, st_ino)`` pairs of directories that must never be part of a session (the
    sessions root): meeting one at any depth raises SessionError, so a legacy session can never carry the live
    sessions with it, whatever paths, bind mounts or symlinks led there.

    Raises OSError/SessionError when the directory cannot be read.
    """
    source = os.path.join(root_path, name)
    plan = SessionPlan(name, source)
    plan.forbidden = frozenset(forbidden)
    raw_files = []
    top_fd = open_dir(name, dir_fd=root_fd)
    try:
        top_st = os.fstat(top_fd)
        _check_allowed(plan, top_st, ())
        plan.dirs.append(DirItem((), (), top_st))
        _scan_dir(top_fd, (), plan, raw_files)
    finally:
        os.close(top_fd)

    normalise = normalize and layout.backslash_names
    real_paths = set(item.src_dir + (item.src_name,) for item in raw_files)
    dir_paths = set(item.src_dir for item in plan.dirs)
    occupied = real_paths | dir_paths
    planned_dirs = set(dir_paths)
    file_targets = set(real_paths)
    extra_dirs = {}
    if creds is None:
        try:
            creds = creds_filename(layout, name)
        except ValueError:
            creds = None
    for item in raw_files:
        literal = item.src_dir == () and item.src_name == creds
        parts = split_backslash_name(item.src_name) if normalise and not literal else None
        if parts is None:
            plan.files.append(item)
            continue
        target = item.src_dir + parts
        path = plan.source_path(item.src_dir, item.src_name)
        if target in occupied:
            plan.warnings.append(
                '%s: both spellings exist; kept %s from the folder, left this file where it is (not migrated)'
                % (path, os.path.join(name, *target)))
            plan.left_behind.add(path)
            continue
        clash = None
        for i in range(len(item.src_dir) + 1, len(target)):
            prefix = target[:i]
            if prefix in file_targets:
                clash = prefix
                break
        if clash is None and target in planned_dirs:
            clash = target
        if clash is not None:
            plan.warnings.append('%s: cannot be stored as %s because %s is a file; copied with its literal name'
                                 % (path, os.path.join(*target), os.path.join(*clash)))
            plan.files.append(item)
            continue
        occupied.add(target)
        file_targets.add(target)
        for i in range(len(item.src_dir) + 1, len(target)):
            prefix = target[:i]
            if prefix not in planned_dirs:
                planned_dirs.add(prefix)
                extra_dirs.setdefault(prefix, item.st)
            if prefix in extra_dirs and item.st.st_mtime_ns > extra_dirs[prefix].st_mtime_ns:
                extra_dirs[prefix] = item.st
        plan.files.append(item._replace(dst_dir=target[:-1], dst_name=target[-1]))

    # Sidecars beside the session directory: <root>/<name>\store.db -> <dest>/<name>/store.db
    if normalise and layout.sidecar_patterns:
        for sidecar, st in list_sidecars(root_fd, name, layout):
            rest = sidecar[len(name) + 1:]
            parts = split_backslash_name(rest) if '\\' in rest else (rest,)
            path = os.path.join(root_path, sidecar)
            if parts is None or not stat.S_ISREG(st.st_mode):
                plan.warnings.append('%s: %s beside the session directory not migrated'
                                     % (path, kind_of(st.st_mode)))
                plan.left_behind.add(path)
                continue
            if parts in occupied or any(parts[:i] in real_paths for i in range(1, len(parts))):
                plan.warnings.append(
                    '%s: both spellings exist; kept %s from the folder, left this file where it is (not migrated)'
                    % (path, os.path.join(name, *parts)))
                plan.left_behind.add(path)
                continue
            occupied.add(parts)
            for i in range(1, len(parts)):
                if parts[:i] not in planned_dirs:
                    planned_dirs.add(parts[:i])
                    extra_dirs[parts[:i]] = st
            plan.files.append(FileItem(None, sidecar, parts[:-1], parts[-1], st))

    for dst_dir in sorted(extra_dirs, key=len):
        plan.dirs.append(DirItem(None, dst_dir, extra_dirs[dst_dir]))
    plan.files.sort(key=lambda item: (item.dst_dir, item.dst_name))
    return plan


# Names with a backslash in a legacy root, keyed by the root's identity and change times: one scan of a root
# serves every session in it (scanning it once per session made a run over N sessions O(N^2)).
_BACKSLASH_NAMES = {}


def _backslash_names(root_fd):
    """Names holding a backslash in the directory ``root_fd``, scanned again only when it changed."""
    st = os.fstat(root_fd)
    key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    names = _BACKSLASH_NAMES.get(key)
    if names is None:
        with os.scandir(root_fd) as it:
            names = [entry.name for entry in it if '\\' in entry.name]
        if len(_BACKSLASH_NAMES) >= 16:
            _BACKSLASH_NAMES.clear()
        _BACKSLASH_NAMES[key] = names
    return names


def list_sidecars(root_fd, name, layout, entries=None):
    """``[(file name, lstat)]`` of ``<name>\\<pattern>`` entries in the legacy root (for BaileysCSharp)."""
    import fnmatch
    prefix = name + '\\'
    result = []
    if entries is None:
        entries = _backslash_names(root_fd)
    for entry in entries:
        if not entry.startswith(prefix):
            continue
        rest = entry[len(prefix):]
        if any(fnmatch.fnmatchcase(rest, pattern) for pattern in layout.sidecar_patterns):
            st = lstat_at(root_fd, entry)
            if st is not None:
                result.append((entry, st))
    result.sort()
    return result


class OverlapError(SessionError):
    """A legacy session directory reaches the sessions root: it is skipped, never copied or removed."""


def _check_allowed(plan, st, rel):
    if (st.st_dev, st.st_ino) in plan.forbidden:
        raise OverlapError(plan.source_path(rel) if rel else plan.source,
                           'is the sessions root (reached through the legacy session directory); the session is '
                           'skipped and nothing is copied or removed')


def _scan_dir(fd, rel, plan, raw_files):
    try:
        with os.scandir(fd) as it:
            entries = sorted(it, key=lambda entry: entry.name)
    except OSError as exc:
        raise os_error(exc, plan.source_path(rel))
    for entry in entries:
        st = entry.stat(follow_symlinks=False)
        child = rel + (entry.name,)
        if stat.S_ISREG(st.st_mode):
            raw_files.append(FileItem(rel, entry.name, rel, entry.name, st))
        elif stat.S_ISDIR(st.st_mode):
            try:
                sub_fd = open_dir(entry.name, dir_fd=fd)
            except OSError as exc:
                raise os_error(exc, plan.source_path(child))
            try:
                sub_st = os.fstat(sub_fd)
                _check_allowed(plan, sub_st, child)
                plan.dirs.append(DirItem(child, child, sub_st))
                _scan_dir(sub_fd, child, plan, raw_files)
            finally:
                os.close(sub_fd)
        else:
            path = plan.source_path(rel, entry.name)
            plan.warnings.append('%s: %s not followed or copied' % (path, kind_of(st.st_mode)))
            plan.left_behind.add(path)


# ----------------------------------------------------------------------------------------------------------
# copying into a staging directory

class CopySettings(object):
    """Owner, group and modes for the copy; ``uid``/``gid`` -1 = leave as created."""

    def __init__(self, uid=-1, gid=-1, dir_mode=0o2750, file_mode=0o640, use_syncfs=None, hash_files=False,
                 defer_syncfs=False):
        self.uid = uid
        self.gid = gid
        self.dir_mode = dir_mode
        self.file_mode = file_mode
        self.use_syncfs = syncfs_available() if use_syncfs is None else use_syncfs
        self.hash_files = hash_files
        # With syncfs: leave the one syncfs to the caller, who flushes several staged sessions at once and
        # must not rename any of them into place before that.
        self.defer_syncfs = defer_syncfs


def copy_plan(plan, root_fd, session_name, staging_parent_fd, staging_name, settings, display=None):
    """Copy everything in ``plan`` into a new directory ``staging_name`` inside ``staging_parent_fd``.

    The legacy session directory is re-opened through ``root_fd`` without following symlinks.
    Every file and directory is flushed to disk before this returns (one ``syncfs`` or one fsync each), except
    with ``settings.defer_syncfs`` and syncfs: then the caller must call ``syncfs`` before using the copy.
    Returns ``{dst relative path tuple: sha256 hex}`` when ``settings.hash_files``, else ``{}``.
    ``display`` (the final session path) names the files in write errors such as ENOSPC.
    The caller removes the staging directory when this raises.
    """
    hashes = {}
    src_fds = {}
    dst_fds = {}
    per_file_sync = not settings.use_syncfs
    try:
        src_fds[()] = open_dir(session_name, dir_fd=root_fd)
        if os.fstat(src_fds[()]).st_ino != plan.dirs[0].st.st_ino:
            raise SessionError(plan.source, 'was replaced while being migrated; stop the service and re-run')
        os.mkdir(staging_name, 0o700, dir_fd=staging_parent_fd)
        dst_fds[()] = open_dir(staging_name, dir_fd=staging_parent_fd)
        _set_owner_mode(dst_fds[()], settings, settings.dir_mode)
        for item in plan.dirs[1:]:
            parent = dst_fds[item.dst_dir[:-1]]
            os.mkdir(item.dst_dir[-1], 0o700, dir_fd=parent)
            dst_fds[item.dst_dir] = open_dir(item.dst_dir[-1], dir_fd=parent)
            _set_owner_mode(dst_fds[item.dst_dir], settings, settings.dir_mode)
            if item.src_dir is not None:
                try:
                    src_fds[item.src_dir] = open_dir(item.src_dir[-1], dir_fd=src_fds[item.src_dir[:-1]])
                except OSError as exc:
                    raise os_error(exc, plan.source_path(item.src_dir))
        for item in plan.files:
            src_dir_fd = root_fd if item.src_dir is None else src_fds[item.src_dir]
            src_path = plan.source_path(item.src_dir, item.src_name)
            digest = _copy_file(src_dir_fd, item, src_path, dst_fds[item.dst_dir], settings, per_file_sync,
                                display)
            if digest is not None:
                hashes[item.dst_dir + (item.dst_name,)] = digest
        _recheck_sources(plan, root_fd, src_fds)
        # Directory times last, deepest first, so creating the entries does not change them again.
        for item in reversed(plan.dirs):
            fd = dst_fds[item.dst_dir]
            os.utime(fd, ns=(item.st.st_atime_ns, item.st.st_mtime_ns))
            if per_file_sync:
                fault_point('fsync')
                os.fsync(fd)
        if not per_file_sync and not settings.defer_syncfs:
            fault_point('fsync')
            syncfs(dst_fds[()])
    finally:
        for fd in list(src_fds.values()) + list(dst_fds.values()):
            os.close(fd)
    return hashes


def _recheck_sources(plan, root_fd, src_fds):
    """After the copy: every legacy directory and file must still be what the scan saw (no file written, added
    or removed meanwhile, ctime included), or the copy is a torn snapshot and the session fails."""
    for item in plan.dirs:
        if item.src_dir is None:
            continue
        if not same_dir_version(os.fstat(src_fds[item.src_dir]), item.st):
            raise SessionError(plan.source_path(item.src_dir) if item.src_dir else plan.source,
                               'had files added, removed or renamed while being migrated (is the service still '
                               'running?); stop the service and re-run')
    for item in plan.files:
        dir_fd = root_fd if item.src_dir is None else src_fds[item.src_dir]
        st = lstat_at(dir_fd, item.src_name)
        if st is None or not _same_file(st, item.st):
            raise SessionError(plan.source_path(item.src_dir, item.src_name), CHANGED_MSG)


def _set_owner_mode(fd, settings, mode):
    if settings.uid != -1 or settings.gid != -1:
        os.fchown(fd, settings.uid, settings.gid)
    os.fchmod(fd, mode)


STAGED_DISPLAY = '<staging>'


def _staged_display(item, display):
    return '%s (writing its staged copy)' % os.path.join(display or STAGED_DISPLAY,
                                                         *(item.dst_dir + (item.dst_name,)))


def _copy_file(src_dir_fd, item, src_path, dst_dir_fd, settings, per_file_sync, display=None):
    try:
        src, st = open_regular(src_dir_fd, item.src_name, expect=item.st)
    except OSError as exc:
        raise os_error(exc, src_path)
    try:
        try:
            dst = os.open(item.dst_name, CREATE_FLAGS, 0o600, dir_fd=dst_dir_fd)
        except OSError as exc:
            raise os_error(exc, os.path.join(display or STAGED_DISPLAY, *(item.dst_dir + (item.dst_name,))))
        try:
            _set_owner_mode(dst, settings, settings.file_mode)
            digest = hashlib.sha256() if settings.hash_files else None
            copied = 0
            while True:
                try:
                    chunk = os.read(src, BUFFER_SIZE)
                except OSError as exc:
                    raise os_error(exc, src_path)
                if not chunk:
                    break
                copied += len(chunk)
                if digest is not None:
                    digest.update(chunk)
                if chunk.count(0) == len(chunk):
                    os.lseek(dst, len(chunk), os.SEEK_CUR)  # keep holes: a sparse file stays sparse
                    continue
                view = memoryview(chunk)
                while view:
                    try:
                        written = os.write(dst, view)
                    except OSError as exc:
                        raise os_error(exc, _staged_display(item, display))
                    view = view[written:]
            try:
                os.ftruncate(dst, copied)  # the length, also when the file ends in a hole
            except OSError as exc:
                raise os_error(exc, _staged_display(item, display))
            READ_STATS['files'] += 1
            READ_STATS['bytes'] += copied
            after = os.fstat(src)
            if copied != st.st_size or not same_version(st, item.st) or not same_version(after, st):
                raise SessionError(src_path, CHANGED_MSG)
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
            fault_point('copy')
            if per_file_sync:
                fault_point('fsync')
                os.fsync(dst)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return digest.hexdigest() if digest is not None else None


# ----------------------------------------------------------------------------------------------------------
# verification and verified removal (mode: move)

def hash_tree(dir_fd, display):
    """``{relative path tuple: (size, sha256 hex)}`` of every regular file below ``dir_fd``.

    Anything that is not a regular file or directory is returned with size -1 so it never matches.
    """
    result = {}
    _hash_tree(dir_fd, (), display, result)
    return result


def _hash_tree(fd, rel, display, result):
    with os.scandir(fd) as it:
        entries = sorted(it, key=lambda entry: entry.name)
    for entry in entries:
        st = entry.stat(follow_symlinks=False)
        child = rel + (entry.name,)
        if stat.S_ISDIR(st.st_mode):
            sub = open_dir(entry.name, dir_fd=fd)
            try:
                _hash_tree(sub, child, display, result)
            finally:
                os.close(sub)
        elif stat.S_ISREG(st.st_mode):
            src, _st = open_regular(fd, entry.name)
            try:
                digest = hashlib.sha256()
                size = 0
                while True:
                    chunk = os.read(src, BUFFER_SIZE)
                    if not chunk:
                        break
                    size += len(chunk)
                    digest.update(chunk)
            finally:
                os.close(src)
            READ_STATS['files'] += 1
            READ_STATS['bytes'] += size
            result[child] = (size, digest.hexdigest())
        else:
            result[child] = (-1, kind_of(st.st_mode))


def hash_sources(plan, root_fd):
    """``{dst relative path tuple: sha256 hex}`` of the legacy files of ``plan`` (each must be unchanged)."""
    hashes = {}
    session_fd = open_dir(plan.name, dir_fd=root_fd)
    fds = {(): session_fd}
    try:
        if os.fstat(session_fd).st_ino != plan.dirs[0].st.st_ino:
            raise SessionError(plan.source, 'was replaced while being migrated; stop the service and re-run')
        for item in plan.files:
            if item.src_dir is None:
                dir_fd = root_fd
            else:
                for i in range(1, len(item.src_dir) + 1):
                    if item.src_dir[:i] not in fds:
                        fds[item.src_dir[:i]] = open_dir(item.src_dir[i - 1], dir_fd=fds[item.src_dir[:i - 1]])
                dir_fd = fds[item.src_dir]
            path = plan.source_path(item.src_dir, item.src_name)
            try:
                src, _st = open_regular(dir_fd, item.src_name, expect=item.st)
            except OSError as exc:
                raise os_error(exc, path)
            try:
                digest = hashlib.sha256()
                while True:
                    chunk = os.read(src, BUFFER_SIZE)
                    if not chunk:
                        break
                    digest.update(chunk)
                    READ_STATS['bytes'] += len(chunk)
                READ_STATS['files'] += 1
            finally:
                os.close(src)
            hashes[item.dst_dir + (item.dst_name,)] = digest.hexdigest()
    finally:
        for fd in fds.values():
            os.close(fd)
    return hashes


def verify_copy(plan, source_hashes, dest_fd, display, exact=True):
    """Raise SessionError unless the tree at ``dest_fd`` holds exactly the planned files, sizes and hashes.

    With ``exact=False`` the tree may hold more files (a session the service has used since): every planned
    file must still be there with the same size and hash.
    """
    found = hash_tree(dest_fd, display)
    expected = {}
    for item in plan.files:
        key = item.dst_dir + (item.dst_name,)
        expected[key] = (item.st.st_size, source_hashes.get(key))
    if (exact and set(found) != set(expected)) or not set(expected) <= set(found):
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected)) if exact else []
        raise SessionError(display, 'verification failed: copy differs in file names (missing %s, extra %s)'
                           % ([os.path.join(*k) for k in missing[:5]], [os.path.join(*k) for k in extra[:5]]))
    for key, value in expected.items():
        if found[key] != value:
            raise SessionError(os.path.join(display, *key), 'verification failed: size or SHA-256 differs')


def remove_verified(plan, root_fd, last=None, dry_run=False):
    """Remove the legacy files of ``plan`` that are still exactly what was copied, then empty directories.

    ``last`` (the creds file name) is removed after everything else, so that a run interrupted half-way
    leaves a legacy directory that is still found (and finished) by the next run.
    Returns ``(fully_removed, warnings)``. Anything new or changed since the copy is kept and warned about.
    ``dry_run`` (check mode) removes nothing and returns what a real call would return.
    """
    warnings = []
    try:
        top = open_dir(plan.name, dir_fd=root_fd)
    except OSError as exc:
        raise os_error(exc, plan.source)
    by_dir = collections.defaultdict(dict)
    sidecars = []
    for item in plan.files:
        if item.src_dir is None:
            sidecars.append(item)
        else:
            by_dir[item.src_dir][item.src_name] = item
    final = by_dir[()].pop(last, None) if last is not None else None
    try:
        if os.fstat(top).st_ino != plan.dirs[0].st.st_ino:
            raise SessionError(plan.source, 'was replaced during the migration; legacy copy not removed')
        complete = _remove_dir(top, (), plan, by_dir, warnings, keep=last if final is not None else None,
                               dry_run=dry_run)
        for item in sidecars:
            path = plan.source_path(None, item.src_name)
            st = lstat_at(root_fd, item.src_name)
            if st is None or not _same_file(st, item.st):
                warnings.append('%s: changed or vanished after it was copied; kept' % path)
                complete = False
                continue
            if not dry_run:
                fault_point('remove')
                os.unlink(item.src_name, dir_fd=root_fd)
        if final is not None:
            st = lstat_at(top, last)
            if st is not None and _same_file(st, final.st):
                if not dry_run:
                    fault_point('remove')
                    os.unlink(last, dir_fd=top)
            elif st is not None:
                warnings.append('%s: changed after it was copied; kept in the legacy directory'
                                % plan.source_path((), last))
                complete = False
    finally:
        os.close(top)
    if complete and not dry_run:
        try:
            fault_point('remove')
            os.rmdir(plan.name, dir_fd=root_fd)
        except OSError as exc:
            warnings.append('%s: not removed (%s)' % (plan.source, exc.strerror))
            complete = False
    return complete, warnings


def _same_file(st, old):
    return stat.S_ISREG(st.st_mode) and same_version(st, old)


def _remove_dir(fd, rel, plan, by_dir, warnings, keep=None, dry_run=False):
    """Remove verified entries below ``fd``; True when the directory is now empty (except ``keep``)."""
    verified = by_dir.get(rel, {})
    empty = True
    with os.scandir(fd) as it:
        entries = sorted(it, key=lambda entry: entry.name)
    for entry in entries:
        if keep is not None and entry.name == keep:
            continue
        st = entry.stat(follow_symlinks=False)
        path = plan.source_path(rel, entry.name)
        if stat.S_ISDIR(st.st_mode):
            sub = open_dir(entry.name, dir_fd=fd)
            try:
                sub_empty = _remove_dir(sub, rel + (entry.name,), plan, by_dir, warnings, dry_run=dry_run)
            finally:
                os.close(sub)
            if sub_empty:
                if not dry_run:
                    fault_point('remove')
                    os.rmdir(entry.name, dir_fd=fd)
            else:
                empty = False
            continue
        item = verified.get(entry.name)
        if item is not None and _same_file(st, item.st):
            if not dry_run:
                fault_point('remove')
                os.unlink(entry.name, dir_fd=fd)
            continue
        empty = False
        if item is None and path in plan.left_behind:
            continue  # already reported during the scan
        if item is None:
            warnings.append('%s: appeared after the copy was made; kept in the legacy directory' % path)
        else:
            warnings.append('%s: changed after it was copied; kept in the legacy directory' % path)
    return empty


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
