# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copying a scanned session (``SessionPlan``) into a staging directory, hashing and verifying the copy.

Guarded by the crash tests: every fault point is reached through ``safecopy.fault_point`` (``fdlayer``).

Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os
import stat

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import safecopy as fdlayer
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import (
    BUFFER_SIZE, CHANGED_MSG, CREATE_FLAGS, READ_STATS, SessionError, kind_of, lstat_at, open_dir, open_regular,
    os_error, same_dir_version, same_file, same_version, syncfs, syncfs_available)


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
                fdlayer.fault_point('fsync')
                os.fsync(fd)
        if not per_file_sync and not settings.defer_syncfs:
            fdlayer.fault_point('fsync')
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
        if st is None or not same_file(st, item.st):
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
            fdlayer.fault_point('copy')
            if per_file_sync:
                fdlayer.fault_point('fsync')
                os.fsync(dst)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return digest.hexdigest() if digest is not None else None


# ----------------------------------------------------------------------------------------------------------
# hashing and verifying the copy

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
