# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only inspection of sessions: what session_info reports. Metadata only, plus each creds file.

Every directory is opened with ``O_NOFOLLOW`` relative to its parent's descriptor, so nothing outside a
session directory is looked at. Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat
import time

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.discovery import (
    expand_roots, find_candidates, open_root)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    MAX_CREDS_BYTES, creds_filename, creds_problem)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.names import name_problem
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import (
    kind_of, open_dir, read_file_at)

SESSIONS_ROOT = 'sessions_root'
LEGACY = 'legacy'
_SAMPLE = 3


class AuditError(Exception):
    """A problem that stops the whole inspection (the sessions root cannot be read)."""


class _Found(object):
    """How many paths have one kind of problem, and the first few of them (memory stays small)."""

    __slots__ = ('count', 'first')

    def __init__(self):
        self.count = 0
        self.first = []

    def append(self, path):
        """Count ``path``; keep it as an example while there are few."""
        self.count += 1
        if len(self.first) <= _SAMPLE:
            self.first.append(path)

    def __len__(self):
        return self.count


class _Tally(object):
    """Counters of one session tree walk."""

    def __init__(self):
        self.files = 0
        self.nbytes = 0
        self.wrong_owner = _Found()
        self.world_readable = _Found()
        self.special = _Found()
        self.unreadable = _Found()
        self.top_level = []


def _sample(paths):
    """Up to three example paths, for problem messages."""
    first = getattr(paths, 'first', paths)
    return ', '.join(first[:_SAMPLE]) + (', ...' if len(paths) > _SAMPLE else '')


_S_IFMT = 0o170000
_S_IFDIR = stat.S_IFDIR
_S_IFREG = stat.S_IFREG
_S_IFLNK = stat.S_IFLNK
_S_IROTH = stat.S_IROTH
_S_IXOTH = stat.S_IXOTH


def others_can_traverse(path):
    """Whether users other than a directory's owner and group can pass through every directory from ``/`` down to
    ``path`` (inclusive, symlinks resolved): only then is a world-readable entry inside ``path`` really exposed.

    A world-readable file below a directory that others cannot traverse (a 2750 tenant directory, a 0700 parent)
    cannot be opened by them; a world-readable directory there cannot be listed. The session walk carries this
    flag down: a directory passes it on only when it has ``o+x`` itself.
    """
    current = '/'
    for part in [''] + [p for p in os.path.realpath(path).split('/') if p]:
        current = os.path.join(current, part)
        try:
            if not os.stat(current).st_mode & _S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _walk(fd, rel, ids, tally, reach=True):
    """Count files and bytes below ``fd`` and note ownership, world-readable and special entries.

    The hot loop of session_info (one iteration per path of every session): plain integer tests, and a path
    string is built only for a directory or a problem. ``reach``: whether others can traverse into ``fd`` (see
    others_can_traverse); world-readable entries count only then.
    """
    with os.scandir(fd) as it:
        entries = list(it)
    if not rel:
        tally.top_level.extend(entry.name for entry in entries)
    check = ids is not None
    uid, gid = ids if check else (None, None)
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        fmt = st.st_mode & _S_IFMT
        if check and (st.st_uid != uid or st.st_gid != gid) and fmt != _S_IFLNK:
            tally.wrong_owner.append(rel + entry.name)
        if fmt == _S_IFREG:
            tally.files += 1
            tally.nbytes += st.st_size
            if check and reach and st.st_mode & _S_IROTH:
                tally.world_readable.append(rel + entry.name)
        elif fmt == _S_IFDIR:
            path = rel + entry.name
            if check and reach and st.st_mode & _S_IROTH:
                tally.world_readable.append(path + '/')
            try:
                child = open_dir(entry.name, dir_fd=fd)
            except OSError as exc:
                tally.unreadable.append('%s/ (%s)' % (path, exc.strerror))
                continue
            try:
                _walk(child, path + '/', ids, tally, reach and bool(st.st_mode & _S_IXOTH))
            finally:
                os.close(child)
        else:
            tally.special.append('%s (%s)' % (rel + entry.name, kind_of(st.st_mode)))


def key_stores_in(layout, names):
    """Which of the top-level ``names`` of a session directory are key stores of ``layout``."""
    folders = set(layout.keystore_dirs) | set(layout.keystore_aliases)
    found = set()
    for name in names:
        head = name.split('\\', 1)[0] if layout.backslash_names else name
        if head in folders:
            found.add(head)
        # the longest matching prefix: sender-key-memory-1.json is not a sender-key file
        prefixes = [prefix for prefix in layout.flat_prefixes if name.startswith(prefix + '-')]
        if prefixes:
            found.add(max(prefixes, key=len) + '-*')
    return sorted(found)


def inspect_session(parent_fd, parent_path, name, layout, creds_file, ids, now, reach=True):
    """Report on session directory ``name`` inside the open directory ``parent_fd``.

    ``ids`` is the expected ``(uid, gid)`` or None to skip the ownership and world-readable checks. ``reach``:
    whether others can traverse into ``parent_fd`` (world-readable paths are reported only where they can).
    Returns a dict: name, path, creds_file, creds_present, creds_valid, creds_problem, creds_age_seconds,
    creds_mtime, files, bytes, problems.
    """
    path = os.path.join(parent_path, name)
    creds = creds_filename(layout, name, creds_file)
    info = dict(name=name, path=path, creds_file=os.path.join(path, creds), creds_present=False,
                creds_valid=False, creds_problem=None, creds_age_seconds=None, creds_mtime=None,
                files=0, bytes=0, problems=[])
    try:
        fd = open_dir(name, dir_fd=parent_fd)
    except OSError as exc:
        info['creds_problem'] = 'session directory cannot be opened: %s' % exc.strerror
        info['problems'].append(info['creds_problem'])
        return info
    tally = _Tally()
    try:
        try:
            st = os.fstat(fd)
            if ids is not None and (st.st_uid, st.st_gid) != ids:
                tally.wrong_owner.append('./')
            if ids is not None and reach and st.st_mode & stat.S_IROTH:
                tally.world_readable.append('./')
            _walk(fd, '', ids, tally, reach and bool(st.st_mode & _S_IXOTH))
        except OSError as exc:
            tally.unreadable.append('%s (%s)' % (path, exc.strerror))
        try:
            cst = os.stat(creds, dir_fd=fd, follow_symlinks=False)
        except OSError:
            cst = None
        if cst is not None:
            info['creds_present'] = True
            info['creds_mtime'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(cst.st_mtime))
            info['creds_age_seconds'] = max(0, int(now - cst.st_mtime))
            if stat.S_ISREG(cst.st_mode):
                try:
                    info['creds_problem'] = creds_problem(read_file_at(fd, creds, MAX_CREDS_BYTES))
                except OSError as exc:
                    info['creds_problem'] = 'creds file cannot be read: %s' % exc.strerror
            else:
                info['creds_problem'] = 'creds file is a %s, not a regular file' % kind_of(cst.st_mode)
        else:
            # A directory without key stores is a tenant waiting for its first QR scan, not a problem.
            keystores = key_stores_in(layout, tally.top_level)
            if keystores:
                info['creds_problem'] = ('creds file %s is missing while key folders exist (%s): the gateway will '
                                         'ask for a QR scan' % (creds, ', '.join(keystores)))
    finally:
        os.close(fd)
    info['creds_valid'] = info['creds_present'] and info['creds_problem'] is None
    info['files'] = tally.files
    info['bytes'] = tally.nbytes
    problems = info['problems']
    if info['creds_problem']:
        problems.append(info['creds_problem'])
    if tally.wrong_owner:
        problems.append('%d path(s) with the wrong owner or group (%s)' % (len(tally.wrong_owner),
                                                                           _sample(tally.wrong_owner)))
    if tally.world_readable:
        problems.append('%d world-readable path(s) (%s): session files hold private keys'
                        % (len(tally.world_readable), _sample(tally.world_readable)))
    if tally.special:
        problems.append('%d symlink(s) or special file(s) (%s)' % (len(tally.special), _sample(tally.special)))
    if tally.unreadable:
        problems.append('cannot be read completely: %s' % _sample(tally.unreadable))
    return info


def audit(path, legacy_roots, layout, creds_file=None, ids=None, names=None, now=None):
    """Inspect the sessions root ``path`` and the legacy roots; return the session_info result dict."""
    now = time.time() if now is None else now
    result = dict(sessions_root=path, exists=False, sessions=[], legacy_sessions=[], legacy_only=[], problems=[],
                  legacy_roots=[])
    wanted = set(names) if names is not None else None
    if os.path.lexists(path):
        try:
            root_fd = open_dir(path, follow=True)
        except OSError as exc:
            raise AuditError('Cannot open the sessions root %s: %s' % (path, exc.strerror))
        result['exists'] = True
        try:
            st = os.fstat(root_fd)
            if ids is not None and (st.st_uid, st.st_gid) != ids:
                result['problems'].append('%s: the sessions root has the wrong owner or group' % path)
            with os.scandir(root_fd) as it:
                entries = sorted(e.name for e in it if not e.name.startswith('.') and e.is_dir(follow_symlinks=False))
            reach = ids is not None and others_can_traverse(path)
            for name in entries:
                if name_problem(name) or (wanted is not None and name not in wanted):
                    continue
                info = inspect_session(root_fd, path, name, layout, creds_file, ids, now, reach)
                info['location'] = SESSIONS_ROOT
                result['sessions'].append(info)
        finally:
            os.close(root_fd)
    else:
        result['problems'].append('%s: the sessions root does not exist; apply the session_storage role' % path)

    if legacy_roots:
        roots, skipped = expand_roots(legacy_roots, path)
        result['legacy_roots'] = [r.path for r in roots]
        candidates, warnings = find_candidates(roots, layout, creds_file, names=None, dest=path)
        for name, cands in candidates.items():
            if wanted is not None and name not in wanted:
                continue
            for cand in cands:
                try:
                    parent_fd = open_root(cand.root)
                except OSError as exc:
                    result['problems'].append('%s: legacy root not inspected (%s)' % (cand.root.path, exc.strerror))
                    continue
                try:
                    info = inspect_session(parent_fd, cand.root.path, name, layout, creds_file, None, now)
                finally:
                    os.close(parent_fd)
                info['location'] = LEGACY
                result['legacy_sessions'].append(info)
        valid_in_root = set(s['name'] for s in result['sessions'] if s['creds_valid'])
        missing = sorted(set(s['name'] for s in result['legacy_sessions']) - valid_in_root)
        for name in missing:
            copies = [s for s in result['legacy_sessions'] if s['name'] == name]
            usable = [s['path'] for s in copies if s['creds_valid']]
            if usable:
                result['legacy_only'].append(name)
                result['problems'].append('%s: exists in a legacy root (%s) but not in the sessions root; run '
                                          'session_migrate (the deploy or migrate playbook)' % (name, _sample(usable)))
            else:
                result['problems'].append('%s: only in a legacy root, and no copy has a valid creds file (%s): it '
                                          'cannot be migrated; the tenant must scan a QR code again'
                                          % (name, _sample(['%s: %s' % (s['path'], s['creds_problem']) for s in copies])))
        result['problems'].extend(warnings)
    for info in result['sessions']:
        result['problems'].extend('%s: %s' % (info['name'], p) for p in info['problems'])
    result['summary'] = dict(
        sessions=len(result['sessions']),
        valid=sum(1 for s in result['sessions'] if s['creds_valid']),
        with_problems=sum(1 for s in result['sessions'] if s['problems']),
        legacy=len(result['legacy_sessions']),
        legacy_only=len(result['legacy_only']),
        problems=len(result['problems']),
    )
    return result
