# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Re-own a directory tree like ``chown -R``, without ever following a symlink out of it.

The tree is walked through directory file descriptors opened with ``O_NOFOLLOW``, and every entry is
re-owned with ``fchownat(..., AT_SYMLINK_NOFOLLOW)``, so an entry swapped for a symlink while the walk
runs is re-owned itself and its target is never touched. Only ownership changes: the setuid/setgid bits
that the kernel clears on ``chown`` of an executable file are put back, and no content is read.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)
_SAMPLE = 20


class OwnershipError(Exception):
    """A failure that names the path and the reason."""


class OwnershipReport(object):
    """What a walk found and did: counts, a sample of re-owned paths and what was skipped."""

    def __init__(self):
        self.checked = 0
        self.reowned = 0
        self.sample = []
        self.skipped = []

    def add(self, relpath):
        """Count one re-owned (or, in check mode, to-be-re-owned) path."""
        self.reowned += 1
        if len(self.sample) < _SAMPLE:
            self.sample.append(relpath)


def _join(parent, name):
    """Relative path of ``name`` inside ``parent`` ('' is the root)."""
    return name if not parent else parent + '/' + name


def _restore_mode(dir_fd, name, st):
    """Put back setuid/setgid bits that chown cleared on a regular file, if it is still the same file."""
    if not (stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID)):
        return
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0), dir_fd=dir_fd)
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino) and stat.S_IMODE(now.st_mode) != stat.S_IMODE(st.st_mode):
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
    finally:
        os.close(fd)


def _walk(dir_fd, relpath, uid, gid, check_mode, report):
    """Re-own every entry of the open directory ``dir_fd`` and descend into its subdirectories."""
    with os.scandir(dir_fd) as entries:
        names = [entry.name for entry in entries]
    for name in names:
        rel = _join(relpath, name)
        try:
            _visit(dir_fd, name, rel, uid, gid, check_mode, report)
        except OSError as exc:
            raise OwnershipError('%s: %s' % (rel, exc.strerror))


def _visit(dir_fd, name, rel, uid, gid, check_mode, report):
    """Re-own one entry of ``dir_fd`` (descending when it is a directory)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    report.checked += 1
    if stat.S_ISDIR(st.st_mode):
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                report.skipped.append('%s: replaced while the walk ran; left alone' % rel)
                return
            raise
        try:
            cst = os.fstat(child)
            if (cst.st_uid, cst.st_gid) != (uid, gid):
                report.add(rel + '/')
                if not check_mode:
                    os.fchown(child, uid, gid)
            _walk(child, rel, uid, gid, check_mode, report)
        finally:
            os.close(child)
        return
    if (st.st_uid, st.st_gid) == (uid, gid):
        return
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        # A hard link may share its inode with a file outside the tree (/etc/shadow, say).
        report.skipped.append('%s: has %d hard links, so it may also live outside the root; not re-owned'
                              % (rel, st.st_nlink))
        return
    report.add(rel)
    if not check_mode:
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
        _restore_mode(dir_fd, name, st)


def fix_ownership(root, uid, gid, check_mode=False):
    """Re-own ``root`` and everything below it to ``uid``:``gid``; return an OwnershipReport."""
    report = OwnershipReport()
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and os.path.islink(root)):
            raise OwnershipError('%s is a symlink; point the sessions root at the real directory' % root)
        if exc.errno == errno.ENOTDIR:
            raise OwnershipError('%s is not a directory' % root)
        raise OwnershipError('cannot open %s: %s' % (root, exc.strerror))
    try:
        st = os.fstat(fd)
        report.checked += 1
        if (st.st_uid, st.st_gid) != (uid, gid):
            report.add('.')
            if not check_mode:
                os.fchown(fd, uid, gid)
        _walk(fd, '', uid, gid, check_mode, report)
    except OwnershipError as exc:
        raise OwnershipError('re-owning %s failed at %s' % (root, exc))
    except OSError as exc:
        raise OwnershipError('re-owning %s failed: %s' % (root, exc.strerror))
    finally:
        os.close(fd)
    return report
