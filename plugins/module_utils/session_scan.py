# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scanning one legacy session directory: which files and directories a copy takes, from metadata only.

This is the layer that knows the layouts (creds file names, backslash names, sidecar files beside the session
directory); it builds a ``SessionPlan`` that ``staging_copy`` and ``verified_removal`` carry out.

Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import os
import stat

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    creds_filename, split_backslash_name)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import (
    SessionError, kind_of, lstat_at, open_dir, os_error)

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
