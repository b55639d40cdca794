# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding sessions: legacy roots (with globs), candidate session directories, and the state of the
sessions root. Metadata only, except ``creds_problem_of`` which reads one creds file.

Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import errno
import glob
import os
import stat

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    LAYOUTS, MAX_CREDS_BYTES, creds_filename, creds_problem)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.names import name_problem
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.rules import display
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import (
    kind_of, lstat_at, open_dir, read_file_at)

# A legacy root as given (``path``, glob matches expanded, trailing slashes removed) and resolved (``real``),
# with the identity (``dev``, ``ino``) it had when it was resolved; ``open_root`` refuses any other directory.
Root = collections.namedtuple('Root', 'path real dev ino')
Root.__new__.__defaults__ = (None, None)

# One legacy session directory: ``root`` (a Root), ``name``, ``path`` (display path of the directory),
# ``creds`` (creds file name), ``creds_st`` (its lstat, or None when missing) and ``layout`` (the Layout it was
# found as: whether its creds file is valid depends on it).
Candidate = collections.namedtuple('Candidate', 'name root path creds creds_st layout')
Candidate.__new__.__defaults__ = (None,)

# A legacy root or a directory in one that is not used, and why: never skipped in silence.
Skipped = collections.namedtuple('Skipped', 'path reason')

# States of ``<dest>/<name>``.
ABSENT = 'absent'        # nothing there
EMPTY = 'empty'          # an empty directory (the role pre-creates those for onboarding)
INVALID = 'invalid'      # a directory without a usable creds file (missing, empty or not a regular file)
CORRUPT = 'corrupt'      # a directory whose non-empty creds file is not valid creds (not JSON, ...)
VALID = 'valid'          # a directory with valid creds: a session
NOT_DIR = 'not_dir'      # a file, symlink or something else: never touched

# An interrupted commit leaves the creds file of ``<dest>/<name>`` under one of these names (see migration.py):
# the new session's creds before their final rename, or the old session's creds set aside for a replacement.
STAGED_CREDS = '.creds.staged'
REPLACED_CREDS = '.creds.replaced'

# What ``dest_state`` found: ``state``, the creds file's lstat, the creds problem (CORRUPT/INVALID) and
# ``pending`` (None, STAGED_CREDS or REPLACED_CREDS: the name the creds file has after an interrupted commit).
DestState = collections.namedtuple('DestState', 'state creds_st problem pending')


def _strip(path):
    stripped = path.rstrip('/')
    return stripped or '/'


def _inside(path, parent):
    return path == parent or path.startswith(parent.rstrip('/') + '/')


def overlap(path, dest_real):
    """Why the real path ``path`` must never be used as legacy data with sessions root ``dest_real``, or None:
    it is the sessions root, lies inside it, or contains it."""
    if path == dest_real:
        return 'is the sessions root %s' % dest_real
    if _inside(path, dest_real):
        return 'is inside the sessions root %s' % dest_real
    if _inside(dest_real, path):
        return 'contains the sessions root %s' % dest_real
    return None


def _identity(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def expand_roots(patterns, dest):
    """Expand ``patterns`` (paths or shell globs) into existing directories, in the given order.

    A path that exists is used literally, also when it holds glob characters (``[``, ``]``, ``*``, ``?``);
    it is globbed only when it does not exist. Glob matches are sorted. Duplicates (same real path) are kept
    once. A root that is ``dest`` or inside it is never used. Returns ``(roots, skipped)`` where ``skipped``
    lists every root not used, as ``Skipped(path, reason)``.
    """
    dest_real = os.path.realpath(dest)
    dest_id = _identity(dest_real)
    roots, skipped, seen = [], [], set()
    for pattern in patterns:
        if os.path.lexists(pattern) or not glob.has_magic(pattern):
            matches = [pattern]
        else:
            matches = sorted(glob.glob(pattern))
            if not matches:
                skipped.append(Skipped(_strip(pattern), 'does not exist (and nothing matches it as a glob)'))
        for match in matches:
            path = _strip(match)
            try:
                real = os.path.realpath(path)  # may raise when a component is swapped while it is resolved
                st = os.stat(real)
            except OSError:
                real, st = path, None
            if st is None or not stat.S_ISDIR(st.st_mode):
                skipped.append(Skipped(path, 'does not exist' if not os.path.lexists(path) else 'not a directory'))
                continue
            if _inside(real, dest_real) or (st.st_dev, st.st_ino) == dest_id:
                skipped.append(Skipped(path, 'is the sessions root %s or inside it; never used as a legacy root'
                                       % dest_real))
                continue
            if real in seen:
                continue
            seen.add(real)
            roots.append(Root(path, real, st.st_dev, st.st_ino))
    return roots, skipped


def open_root(root):
    """Open legacy root ``root`` (a Root). Symlinks in the configured path were resolved once, by
    ``expand_roots``; if the path now leads to another directory (a component swapped for a symlink while the
    module runs), OSError(ESTALE) is raised instead of reading, copying or removing anything there."""
    fd = open_dir(root.real, follow=True)
    if root.dev is not None:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (root.dev, root.ino):
            os.close(fd)
            raise OSError(errno.ESTALE, 'the legacy root was replaced (a symlink or another directory put in '
                                        'its place) while the migration ran; not used', root.path)
    return fd


def name_skip_reason(name, layout, creds_file=None):
    """Why a directory called ``name`` (as read from disk) can not be migrated as a session, or None."""
    try:
        name.encode('utf-8')
    except UnicodeEncodeError:
        return ('its name is not valid UTF-8 (shown with the undecodable bytes escaped); the gateway can not '
                'load it under that name. Rename the directory and its creds file to a UTF-8 name and re-run')
    problem = name_problem(name)
    if problem is not None:
        return 'its name is not a safe session name: it %s' % problem
    creds = creds_filename(layout, name, creds_file)
    if len(creds.encode('utf-8', 'surrogateescape')) > 255:
        return ('its name is too long to hold its creds file %s (%d bytes; a file name holds at most 255)'
                % (display(creds), len(creds.encode('utf-8', 'surrogateescape'))))
    return None


def find_candidates(roots, layout, creds_file=None, names=None, dest=None, skipped=None):
    """Find legacy session directories in ``roots`` (from ``expand_roots``).

    With ``names`` only those names are looked up (a directory without a creds file is still returned,
    with ``creds_st`` None, so it can be reported as invalid). Without ``names`` every directory holding
    its creds file is a candidate (discovery). A directory that can not be a session (its name is not valid
    UTF-8, not a safe name, too long for its creds file), a symlinked one, and one that is, holds or lies in the
    sessions root ``dest`` are skipped, never silently: each is added to ``skipped`` (a list, as
    ``Skipped(path, reason)``) and warned about. A root that can not be read is added to ``skipped`` too.
    Returns ``(OrderedDict name -> [Candidate, ...] in root order, sorted by name; warnings)``.
    """
    found = {}
    warnings = []
    skipped = [] if skipped is None else skipped
    dest_real = os.path.realpath(dest) if dest else None
    dest_id = _identity(dest_real) if dest_real else None
    for root in roots:
        root_fd = None
        try:
            root_fd = open_root(root)
            if names is None:
                with os.scandir(root_fd) as it:
                    entries = sorted((entry.name, None) for entry in it)
        except OSError as exc:
            reason = 'can not be read (%s); not searched' % (exc.strerror or exc)
            skipped.append(Skipped(root.path, reason))
            warnings.append('%s: legacy root %s' % (display(root.path), reason))
            if root_fd is not None:
                os.close(root_fd)
            continue
        try:
            if names is not None:
                entries = [(name, lstat_at(root_fd, name)) for name in names]
            for name, st in entries:
                if st is None and names is None:
                    st = lstat_at(root_fd, name)
                if st is None:
                    continue
                path = os.path.join(root.path, name)
                if names is None and not stat.S_ISDIR(st.st_mode) and not stat.S_ISLNK(st.st_mode):
                    continue  # a file (sidecars such as <name>\\store.db are found with their session)
                reason = name_skip_reason(name, layout, creds_file)
                looks = _looks_like_session(root_fd, name, layout, creds_file, st)
                if reason is not None:
                    if looks:
                        _skip(skipped, warnings, path, reason)
                    continue
                creds = creds_filename(layout, name, creds_file)
                if stat.S_ISLNK(st.st_mode):
                    if names is not None or looks:
                        _skip(skipped, warnings, path, 'is a symlink; not followed (legacy session skipped)')
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    continue
                if dest_real is not None:
                    why = overlap(os.path.join(root.real, name), dest_real)
                    if why is None and (st.st_dev, st.st_ino) == dest_id:
                        why = 'is the sessions root %s' % dest_real
                    if why is not None:
                        if names is not None or looks:
                            _skip(skipped, warnings, path, '%s; never copied or moved' % why)
                        continue
                creds_st = lstat_at(root_fd, os.path.join(name, creds))
                if creds_st is None and names is None:
                    continue
                found.setdefault(name, []).append(Candidate(name, root, path, creds, creds_st, layout))
        finally:
            os.close(root_fd)
    ordered = collections.OrderedDict((name, found[name]) for name in sorted(found))
    return ordered, warnings


def _skip(skipped, warnings, path, reason):
    skipped.append(Skipped(path, reason))
    warnings.append('%s: %s' % (display(path), reason))


def _looks_like_session(root_fd, name, layout, creds_file, st):
    """True when directory (or symlink) ``name`` holds something a gateway writes: a creds-like file
    (``*creds.json``) or a key-store folder. Used only to decide whether a directory that is skipped is worth a
    warning (a legacy root also holds the application's own folders)."""
    try:
        creds = creds_filename(layout, name, creds_file)
    except ValueError:
        creds = None
    if creds and lstat_at(root_fd, os.path.join(name, creds)) is not None:
        return True
    if stat.S_ISLNK(st.st_mode):
        return False
    try:
        fd = open_dir(name, dir_fd=root_fd)
    except OSError:
        return False
    try:
        keystores = set(layout.keystore_dirs) | set(layout.keystore_aliases)
        with os.scandir(fd) as it:
            for entry in it:
                if entry.name.endswith('creds.json') or entry.name in keystores:
                    return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def order_candidates(candidates, prefer='first'):
    """Candidates in order of preference: ``first`` = order of the legacy roots, ``newest`` = latest creds
    mtime first (ties keep root order; candidates without a creds file last)."""
    if prefer == 'first':
        return list(candidates)
    if prefer != 'newest':
        raise ValueError("prefer must be 'first' or 'newest', got %r" % (prefer,))
    return sorted(candidates, key=lambda cand: -cand.creds_st.st_mtime_ns if cand.creds_st else float('inf'))


def creds_problem_of(candidate, layout=None):
    """Why ``candidate``'s creds file is unusable, or None when it is valid creds for ``layout`` (by default the
    layout the candidate was found as; see ``layouts.creds_problem``).

    Reads the creds file without following symlinks (neither the session directory nor the file).
    """
    layout = layout if layout is not None else candidate.layout
    if layout is None:
        raise ValueError('creds_problem_of: the layout of candidate %s is not known' % (candidate.path,))
    if candidate.creds_st is None:
        return 'no creds file %s' % candidate.creds
    if not stat.S_ISREG(candidate.creds_st.st_mode):
        return 'creds file %s is not a regular file' % candidate.creds
    try:
        root_fd = open_root(candidate.root)
        try:
            session_fd = open_dir(candidate.name, dir_fd=root_fd)
            try:
                data = read_file_at(session_fd, candidate.creds, MAX_CREDS_BYTES)
            finally:
                os.close(session_fd)
        finally:
            os.close(root_fd)
    except OSError as exc:
        return 'cannot read creds file %s: %s' % (candidate.creds, exc.strerror or exc)
    return creds_problem(data, layout)


def dest_state(dest_fd, name, creds, layout):
    """State of ``<dest>/<name>`` as a ``DestState``.

    The creds file (one small file) is read and validated: a non-empty creds file that is not valid creds is
    CORRUPT, never "present". Key-store files are not read. After an interrupted commit the creds file may sit
    under ``STAGED_CREDS`` or ``REPLACED_CREDS`` (``pending`` says which); it is judged as if in place.
    ``dest_fd`` None (a sessions root that does not exist yet, in check mode) means ABSENT.
    """
    if dest_fd is None:
        return DestState(ABSENT, None, None, None)
    st = lstat_at(dest_fd, name)
    if st is None:
        return DestState(ABSENT, None, None, None)
    if not stat.S_ISDIR(st.st_mode):
        return DestState(NOT_DIR, None, None, None)
    fd = open_dir(name, dir_fd=dest_fd)
    try:
        pending, creds_name = None, creds
        creds_st = lstat_at(fd, creds)
        if creds_st is None:
            for alt in (STAGED_CREDS, REPLACED_CREDS):
                alt_st = lstat_at(fd, alt)
                if alt_st is not None and stat.S_ISREG(alt_st.st_mode):
                    creds_st, pending, creds_name = alt_st, alt, alt
                    break
        if creds_st is None:
            with os.scandir(fd) as it:
                empty = next(iter(it), None) is None
            return DestState(EMPTY if empty else INVALID, None, 'no creds file %s' % display(creds), None)
        if not stat.S_ISREG(creds_st.st_mode):
            return DestState(INVALID, creds_st, 'creds file %s is a %s, not a regular file'
                             % (display(creds), kind_of(creds_st.st_mode)), None)
        if creds_st.st_size == 0:
            return DestState(INVALID, creds_st, 'creds file %s is empty' % display(creds), pending)
        problem = creds_problem(read_file_at(fd, creds_name, MAX_CREDS_BYTES), layout)
        if problem is not None:
            return DestState(CORRUPT, creds_st, problem, pending)
        return DestState(VALID, creds_st, None, pending)
    finally:
        os.close(fd)


def list_dest_sessions(dest_fd, layout, creds_file=None):
    """Sorted names of the sessions present (VALID) in the open sessions root ``dest_fd`` (None: none)."""
    result = []
    if dest_fd is None:
        return result
    with os.scandir(dest_fd) as it:
        names = sorted(entry.name for entry in it if not entry.name.startswith('.'))
    for name in names:
        if name_skip_reason(name, layout, creds_file):
            continue
        try:
            state = dest_state(dest_fd, name, creds_filename(layout, name, creds_file), layout).state
        except OSError:
            continue
        if state == VALID:
            result.append(name)
    return result


# Sessions of another layout. A wrong ``layout`` must not look like "nothing to migrate": Node.js sessions under
# the default layout would otherwise give changed=false, and every tenant a QR code.

def other_layout_sessions(dir_fd, dir_path, layout, creds_file=None, names=None):
    """Session directories directly inside the open directory ``dir_fd`` (shown as ``dir_path``) that hold the
    creds file of ANOTHER layout (under that layout's own creds file name) and not the creds file of ``layout``.

    Metadata only; symlinks, hidden and unsafe names are not looked at. ``names`` limits the look-up to those
    session names. Returns a list of ``(layout name, path)``, sorted by name.
    """
    others = [other for other in LAYOUTS.values() if other.name != layout.name]
    if names is not None:
        entries = sorted(set(names))
    else:
        with os.scandir(dir_fd) as it:
            entries = sorted(entry.name for entry in it)
    found = []
    for name in entries:
        if name_problem(name) or '\\' in name:
            continue
        st = lstat_at(dir_fd, name)
        if st is None or not stat.S_ISDIR(st.st_mode):
            continue
        if lstat_at(dir_fd, os.path.join(name, creds_filename(layout, name, creds_file))) is not None:
            continue
        for other in others:
            other_st = lstat_at(dir_fd, os.path.join(name, creds_filename(other, name)))
            if other_st is not None and stat.S_ISREG(other_st.st_mode):
                found.append((other.name, os.path.join(dir_path, name)))
                break
    return found


def find_other_layout_sessions(roots, layout, creds_file=None, names=None):
    """``other_layout_sessions`` over every legacy root (from ``expand_roots``), in root order.

    Roots that cannot be opened are skipped (``find_candidates`` warns about them).
    """
    found = []
    for root in roots:
        try:
            root_fd = open_root(root)
        except OSError:
            continue
        try:
            found.extend(other_layout_sessions(root_fd, root.path, layout, creds_file, names))
        finally:
            os.close(root_fd)
    return found


def layout_mismatch(layout, others, chosen_found, where='the legacy roots'):
    """Messages about sessions of another layout: ``(error, warning)``, each None when there is nothing to say.

    ``others`` is a list of ``(layout name, path)`` (``other_layout_sessions``), ``chosen_found`` how many
    sessions of ``layout`` were found in the same places (``where``, for the messages). Sessions of another layout
    and none of ``layout``: an error naming the ``layout`` value to use. Both: a warning that the others are left.
    """
    if not others:
        return None, None
    by_layout = collections.OrderedDict()
    for name, path in others:
        by_layout.setdefault(name, []).append(path)
    listed = '; '.join('%d of layout %s (%s)' % (len(paths), name, _examples(paths))
                       for name, paths in by_layout.items())
    use = ' or '.join('layout: %s' % name for name in by_layout)
    hold = 'hold' if where.endswith('s') else 'holds'
    if not chosen_found:
        return ('layout is %s, but %s %s no session of that layout and %s: set %s (nothing of theirs is used '
                'with layout: %s)' % (layout.name, where, hold, listed, use, layout.name)), None
    return None, ('%s %s sessions of layout %s and also %s: those are not used with layout: %s; handle them '
                  'with %s' % (where, hold, layout.name, listed, layout.name, use))


def _examples(paths, count=3):
    return ', '.join(paths[:count]) + (', ...' if len(paths) > count else '')


def check_layout(roots, layout, candidates, creds_file=None, names=None):
    """session_migrate's check after ``find_candidates``: ``(error, warning)`` from ``layout_mismatch`` over the
    legacy roots. ``candidates`` is what ``find_candidates`` returned for ``layout`` (copies without a creds file
    do not count as sessions of the layout)."""
    chosen = sum(1 for cands in candidates.values() for cand in cands if cand.creds_st is not None)
    others = find_other_layout_sessions(roots, layout, creds_file, names)
    return layout_mismatch(layout, others, chosen)
