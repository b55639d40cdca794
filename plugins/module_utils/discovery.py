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
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import (
    lstat_at, open_dir, read_file_at)

# A legacy root as given (``path``, glob matches expanded, trailing slashes removed) and resolved (``real``),
# with the identity (``dev``, ``ino``) it had when it was resolved; ``open_root`` refuses any other directory.
Root = collections.namedtuple('Root', 'path real dev ino')
Root.__new__.__defaults__ = (None, None)

# One legacy session directory: ``root`` (a Root), ``name``, ``path`` (display path of the directory),
# ``creds`` (creds file name), ``creds_st`` (its lstat, or None when missing) and ``layout`` (the Layout it was
# found as: whether its creds file is valid depends on it).
Candidate = collections.namedtuple('Candidate', 'name root path creds creds_st layout')
Candidate.__new__.__defaults__ = (None,)

# States of ``<dest>/<name>``.
ABSENT = 'absent'        # nothing there
EMPTY = 'empty'          # an empty directory (the role pre-creates those for onboarding)
INVALID = 'invalid'      # a directory without a usable creds file (missing, empty or not a regular file)
VALID = 'valid'          # a directory with a non-empty regular creds file: a session
NOT_DIR = 'not_dir'      # a file, symlink or something else: never touched


def _strip(path):
    stripped = path.rstrip('/')
    return stripped or '/'


def _inside(path, parent):
    return path == parent or path.startswith(parent.rstrip('/') + '/')


def expand_roots(patterns, dest):
    """Expand ``patterns`` (paths or shell globs) into existing directories, in the given order.

    Glob matches are sorted. Missing roots are skipped, duplicates (same real path) kept once, and
    ``dest`` - or anything inside it - is never a legacy root. Returns ``(roots, skipped)`` where
    ``skipped`` is a list of ``(path, reason)``.
    """
    dest_real = os.path.realpath(dest)
    roots, skipped, seen = [], [], set()
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                skipped.append((pattern, 'no match'))
        else:
            matches = [pattern]
        for match in matches:
            path = _strip(match)
            try:
                real = os.path.realpath(path)  # may raise when a component is swapped while it is resolved
                st = os.stat(real)
            except OSError:
                real, st = path, None
            if st is None or not stat.S_ISDIR(st.st_mode):
                skipped.append((path, 'does not exist' if not os.path.lexists(path) else 'not a directory'))
                continue
            if _inside(real, dest_real):
                skipped.append((path, 'is the sessions root (dest) or inside it'))
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


def find_candidates(roots, layout, creds_file=None, names=None, dest=None):
    """Find legacy session directories in ``roots`` (from ``expand_roots``).

    With ``names`` only those names are looked up (a directory without a creds file is still returned,
    with ``creds_st`` None, so it can be reported as invalid). Without ``names`` every directory holding
    its creds file is a candidate (discovery); unsafe directory names are warned about and skipped.
    Symlinked session directories are never followed. Returns ``(OrderedDict name -> [Candidate, ...]
    in root order, sorted by name; warnings)``.
    """
    found = {}
    warnings = []
    dest_real = os.path.realpath(dest) if dest else None
    for root in roots:
        try:
            root_fd = open_root(root)
        except OSError as exc:
            warnings.append('%s: legacy root not searched (%s)' % (root.path, exc.strerror))
            continue
        try:
            if names is not None:
                entries = [(name, lstat_at(root_fd, name)) for name in names]
            else:
                with os.scandir(root_fd) as it:
                    entries = sorted((entry.name, None) for entry in it if '\\' not in entry.name)
            for name, st in entries:
                if st is None and names is None:
                    st = lstat_at(root_fd, name)
                if st is None:
                    continue
                path = os.path.join(root.path, name)
                if dest_real is not None and os.path.join(root.real, name) == dest_real:
                    continue
                creds = creds_filename(layout, name, creds_file) if not name_problem(name) else None
                if stat.S_ISLNK(st.st_mode):
                    if names is not None or (creds and _stat_at(root_fd, os.path.join(name, creds))):
                        warnings.append('%s: is a symlink; not followed (legacy session skipped)' % path)
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    continue
                if names is None:
                    problem = name_problem(name)
                    if problem is not None:
                        if _holds_any_creds(root_fd, name, layout, creds_file):
                            warnings.append('%s: directory name %r is not a safe session name (it %s); skipped'
                                            % (path, name, problem))
                        continue
                creds_st = _stat_at(root_fd, os.path.join(name, creds))
                if creds_st is None and names is None:
                    continue
                found.setdefault(name, []).append(Candidate(name, root, path, creds, creds_st, layout))
        finally:
            os.close(root_fd)
    ordered = collections.OrderedDict((name, found[name]) for name in sorted(found))
    return ordered, warnings


def _stat_at(root_fd, relpath):
    """lstat of ``relpath`` below the open legacy root (metadata only); None when it does not exist."""
    try:
        return os.stat(relpath, dir_fd=root_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise


def _holds_any_creds(root_fd, name, layout, creds_file):
    pattern = creds_file if creds_file else layout.creds_pattern
    creds = pattern.replace('{name}', name)
    if '/' in creds or not creds:
        return False
    return _stat_at(root_fd, os.path.join(name, creds)) is not None


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


def dest_state(dest_fd, name, creds):
    """State of ``<dest>/<name>`` from metadata only: ``(state, creds lstat or None)``.

    A session counts as present (VALID) when it is a real directory with a non-empty regular creds file;
    contents are not read so that a run with nothing to do reads no file.
    """
    st = lstat_at(dest_fd, name)
    if st is None:
        return ABSENT, None
    if not stat.S_ISDIR(st.st_mode):
        return NOT_DIR, None
    try:
        creds_st = os.stat(os.path.join(name, creds), dir_fd=dest_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise
        creds_st = None
    if creds_st is not None and stat.S_ISREG(creds_st.st_mode) and creds_st.st_size > 0:
        return VALID, creds_st
    if creds_st is None:
        fd = open_dir(name, dir_fd=dest_fd)
        try:
            with os.scandir(fd) as it:
                empty = next(iter(it), None) is None
        finally:
            os.close(fd)
        if empty:
            return EMPTY, None
    return INVALID, creds_st


def list_dest_sessions(dest, layout, creds_file=None):
    """Sorted names of the sessions present in ``dest`` (directories with a non-empty regular creds file)."""
    result = []
    fd = open_dir(dest, follow=True)
    try:
        with os.scandir(fd) as it:
            names = sorted(entry.name for entry in it if not entry.name.startswith('.'))
        for name in names:
            if name_problem(name):
                continue
            state, _st = dest_state(fd, name, creds_filename(layout, name, creds_file))
            if state == VALID:
                result.append(name)
    finally:
        os.close(fd)
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
        if _stat_at(dir_fd, os.path.join(name, creds_filename(layout, name, creds_file))) is not None:
            continue
        for other in others:
            other_st = _stat_at(dir_fd, os.path.join(name, creds_filename(other, name)))
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
