# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only inspection of sessions: what session_info reports. Metadata only, plus each creds file.

Every directory is opened with ``O_NOFOLLOW`` relative to its parent's descriptor, so nothing outside a
session directory is looked at. Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fnmatch
import os
import stat
import time

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.discovery import (
    REPLACED_CREDS, STAGED_CREDS, expand_roots, find_candidates, find_other_layout_sessions, layout_mismatch,
    name_skip_reason, open_root, other_layout_sessions)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    MAX_CREDS_BYTES, creds_filename, creds_problem, split_backslash_name)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.rules import display_all
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
        self.stray_creds = _Found()
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


def _is_creds_name(name, layout):
    """True when the gateway's start-up scan would load file ``name`` as a session's creds: BaileysCSharp
    restores every ``*_creds.json`` below its root (recursively), Node Baileys reads ``creds.json``."""
    if layout is None:
        return False
    return name == 'creds.json' if layout.creds_pattern == 'creds.json' else name.endswith('_creds.json')


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


def _walk(fd, rel, ids, tally, layout=None, own_creds=None, reach=True):
    """Count files and bytes below ``fd`` and note ownership, world-readable and special entries, and files
    the gateway would load as creds other than the session's own (``own_creds``, at the top).

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
            if (rel or entry.name != own_creds) and _is_creds_name(entry.name, layout):
                tally.stray_creds.append(rel + entry.name)
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
                _walk(child, path + '/', ids, tally, layout, reach=reach and bool(st.st_mode & _S_IXOTH))
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


def backslash_names_in(layout, names):
    """The top-level ``names`` of a session directory that an older build of ``layout``'s gateway wrote with a
    literal backslash (``pre-key\\7.json``, ``<name>\\store.db``), sorted. The current gateway looks for
    ``pre-key/7.json`` and never finds them."""
    if not layout.backslash_names:
        return []
    return sorted(name for name in names if split_backslash_name(name) is not None)


def sidecars_beside(layout, names, sessions):
    """``{session: [file names]}`` of the ``names`` of a directory that are ``<session>\\<sidecar>`` files of
    ``layout`` (``store.db`` beside the session folder instead of in it), for the given ``sessions``."""
    found = {}
    if not layout.backslash_names:
        return found
    for name in sorted(names):
        parts = split_backslash_name(name)
        if parts is None or len(parts) != 2 or parts[0] not in sessions:
            continue
        if any(fnmatch.fnmatchcase(parts[1], pattern) for pattern in layout.sidecar_patterns):
            found.setdefault(parts[0], []).append(name)
    return found


_BACKSLASH_FIX = ('the gateway cannot find them (keys lost: messages fail to decrypt); repair with '
                  'session_migrate (normalize_names: true)')


def inspect_session(parent_fd, parent_path, name, layout, creds_file, ids, now, in_sessions_root=False, reach=True,
                    creds_only=False):
    """Report on session directory ``name`` inside the open directory ``parent_fd``.

    ``ids`` is the expected ``(uid, gid)`` or None to skip the ownership and world-readable checks.
    ``in_sessions_root``: the directory is a session of the sessions root, where names with a backslash (which
    session_migrate normalises when it copies from a legacy root) are a problem, and so are files the gateway
    would load as creds other than the session's own. ``reach``: whether others can traverse into ``parent_fd``
    (world-readable paths are reported only where they can).
    ``creds_only``: read the creds file and list the top of the directory, nothing below it (no tree walk, so
    ``files`` and ``bytes`` are None and nothing is checked but the creds file).
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
            if creds_only:
                tally.top_level.extend(os.listdir(fd))
            else:
                _walk(fd, '', ids, tally, layout if in_sessions_root else None, creds,
                      reach=reach and bool(st.st_mode & _S_IXOTH))
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
                    info['creds_problem'] = creds_problem(read_file_at(fd, creds, MAX_CREDS_BYTES), layout)
                except OSError as exc:
                    info['creds_problem'] = 'creds file cannot be read: %s' % exc.strerror
            else:
                info['creds_problem'] = 'creds file is a %s, not a regular file' % kind_of(cst.st_mode)
        else:
            # A directory without key stores is a tenant waiting for its first QR scan, not a problem.
            keystores = key_stores_in(layout, tally.top_level)
            pending = [name for name in (STAGED_CREDS, REPLACED_CREDS) if name in tally.top_level]
            if pending:
                info['creds_problem'] = ('creds file %s is missing and %s is there: a migration was interrupted; '
                                         'run session_migrate (the deploy or migrate playbook) to finish it'
                                         % (creds, pending[0]))
            elif keystores:
                info['creds_problem'] = ('creds file %s is missing while key folders exist (%s): the gateway will '
                                         'ask for a QR scan' % (creds, ', '.join(keystores)))
    finally:
        os.close(fd)
    info['creds_valid'] = info['creds_present'] and info['creds_problem'] is None
    info['files'] = None if creds_only else tally.files
    info['bytes'] = None if creds_only else tally.nbytes
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
    if tally.stray_creds:
        problems.append('%d stray creds file(s) (%s): the gateway loads every such file below its root as a '
                        'session; move them out of the sessions root' % (len(tally.stray_creds),
                                                                         _sample(tally.stray_creds)))
    backslashed = backslash_names_in(layout, tally.top_level) if in_sessions_root else []
    if backslashed:
        problems.append('%d file name(s) with a backslash written by an older gateway build (%s): %s'
                        % (len(backslashed), _sample(backslashed), _BACKSLASH_FIX))
    return info


def _check_other_entry(root_fd, path, name, is_dir, is_file, layout, result):
    """A hidden entry or a non-directory at the top of the sessions root: only creds-like files matter there
    (the gateway loads every one it finds below its root as a session)."""
    full = os.path.join(path, name)
    if is_file:
        if _is_creds_name(name, layout):
            result['problems'].append('%s: stray creds file at the top of the sessions root: the gateway loads it '
                                      'as a session; move it out of the sessions root' % full)
        return
    if not is_dir:
        return
    tally = _Tally()
    try:
        fd = open_dir(name, dir_fd=root_fd)
        try:
            _walk(fd, name + '/', None, tally, layout)
        finally:
            os.close(fd)
    except OSError as exc:
        result['problems'].append('%s: cannot be read to look for stray creds files (%s)' % (full, exc.strerror))
        return
    if tally.stray_creds:
        result['problems'].append('%s: %d stray creds file(s) (%s): the gateway loads every such file below its '
                                  'root as a session; move them out of the sessions root'
                                  % (full, len(tally.stray_creds), _sample(tally.stray_creds)))


def audit(path, legacy_roots, layout, creds_file=None, ids=None, names=None, now=None, creds_only=False):
    """Inspect the sessions root ``path`` and the legacy roots; return the session_info result dict.

    ``creds_only``: which sessions exist and whether their creds files are valid, without walking the session
    trees (see ``inspect_session``); ownership is not checked (``ids`` is ignored) and hidden directories at the
    top of the sessions root are not searched for stray creds files."""
    if creds_only:
        ids = None
    now = time.time() if now is None else now
    result = dict(sessions_root=path, exists=False, sessions=[], legacy_sessions=[], legacy_only=[], problems=[],
                  legacy_roots=[], skipped_roots=[], warnings=[])
    others = []
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
                listing = sorted((e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False))
                                 for e in it)
            entries = sorted(name for name, is_dir, _f in listing if is_dir and not name.startswith('.'))
            reach = ids is not None and others_can_traverse(path)
            sidecars = sidecars_beside(layout, [name for name, is_dir, _f in listing if not is_dir], set(entries))
            for name, is_dir, is_file in listing:
                if name.startswith('.') or not is_dir:
                    if not creds_only:
                        _check_other_entry(root_fd, path, name, is_dir, is_file, layout, result)
                    continue
                if wanted is not None and name not in wanted:
                    continue
                reason = name_skip_reason(name, layout, creds_file)
                if reason is not None:
                    result['problems'].append('%s: not a usable session directory: %s' % (os.path.join(path, name),
                                                                                          reason))
                    continue
                info = inspect_session(root_fd, path, name, layout, creds_file, ids, now, in_sessions_root=True,
                                       reach=reach, creds_only=creds_only)
                if name in sidecars:
                    info['problems'].append('%d file(s) beside the session folder written by an older gateway build '
                                            '(%s): %s' % (len(sidecars[name]), _sample(sidecars[name]), _BACKSLASH_FIX))
                info['location'] = SESSIONS_ROOT
                result['sessions'].append(info)
            others = other_layout_sessions(root_fd, path, layout, creds_file, names)
        finally:
            os.close(root_fd)
    else:
        result['problems'].append('%s: the sessions root does not exist; apply the session_storage role' % path)

    if legacy_roots:
        roots, skipped = expand_roots(legacy_roots, path)
        result['legacy_roots'] = [r.path for r in roots]
        skipped_sessions = []
        candidates, warnings = find_candidates(roots, layout, creds_file, names=None, dest=path,
                                               skipped=skipped_sessions)
        root_paths = set(r.path for r in roots)
        result['skipped_roots'] = [dict(path=item.path, reason=item.reason) for item in skipped] + [
            dict(path=item.path, reason=item.reason) for item in skipped_sessions if item.path in root_paths]
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
                    info = inspect_session(parent_fd, cand.root.path, name, layout, creds_file, None, now,
                                           creds_only=creds_only)
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
        others.extend(find_other_layout_sessions(roots, layout, creds_file, names))
    chosen = (sum(1 for s in result['sessions'] if s['creds_present'])
              + sum(1 for s in result['legacy_sessions'] if s['creds_present']))
    where = 'the sessions root and the legacy roots' if legacy_roots else 'the sessions root'
    mismatch, mixed = layout_mismatch(layout, others, chosen, where)
    if mismatch:
        result['problems'].append(mismatch)
    if mixed:
        result['warnings'].append(mixed)
    for info in result['sessions']:
        result['problems'].extend('%s: %s' % (info['name'], p) for p in info['problems'])
    result = display_all(result)
    result['summary'] = dict(
        sessions=len(result['sessions']),
        valid=sum(1 for s in result['sessions'] if s['creds_valid']),
        with_problems=sum(1 for s in result['sessions'] if s['problems']),
        legacy=len(result['legacy_sessions']),
        legacy_only=len(result['legacy_only']),
        problems=len(result['problems']),
    )
    return result
