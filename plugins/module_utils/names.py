# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of session (tenant) names: one safe path component, nothing else."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

MAX_NAME_BYTES = 255


def name_problem(name):
    """Return why ``name`` is not a safe session name, or None when it is."""
    if not isinstance(name, str):
        return 'must be a string, got %s' % type(name).__name__
    if name == '':
        return 'must not be empty'
    if '\x00' in name:
        return 'must not contain a NUL byte'
    if '/' in name:
        return "must be a single path component (no '/')"
    if name in ('.', '..'):
        return "must not be '.' or '..'"
    if name.startswith('.'):
        return "must not start with a dot (hidden names are reserved for staging, backups and locks)"
    try:
        size = len(name.encode('utf-8', 'surrogateescape'))
    except UnicodeEncodeError:
        return 'must be valid UTF-8'
    if size > MAX_NAME_BYTES:
        return 'is %d bytes long; at most %d bytes are allowed' % (size, MAX_NAME_BYTES)
    return None


def check_session_name(name):
    """Raise ValueError naming ``name`` and the fix when it is not a safe session name."""
    problem = name_problem(name)
    if problem is not None:
        raise ValueError('Invalid session name %r: it %s. Use the bare tenant/session directory name, '
                         'for example 7afd5398-97c3-11eb-a990-f23c917564d6.' % (name, problem))


def bad_names(names):
    """The entries of ``names`` that are not safe session names (``name_problem``), as given."""
    return [name for name in names if name_problem(name) is not None]
