# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules on the options shared by the modules, each in ONE place: paths that may be a sessions root, octal
modes, owners and groups, and how names read from disk are shown. Plain Python, no Ansible imports."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import grp
import os
import pwd
import re

# Top-level directories a sessions root (or root's own state directory) may never be in.
SYSTEM_DIRS = ('bin', 'boot', 'dev', 'etc', 'lib', 'lib32', 'lib64', 'libx32', 'proc', 'run', 'sbin', 'sys', 'usr')


class RuleError(ValueError):
    """An option breaks a rule; the message names the value and what to do."""


def display(text):
    """``text`` (a str that may hold undecodable bytes as surrogates) as printable text: undecodable bytes
    become ``\\xNN`` and control characters such as a newline their escapes, so any file name can be shown."""
    if isinstance(text, bytes):
        raw = text
    else:
        raw = text.encode('utf-8', 'surrogateescape')
    shown = raw.decode('utf-8', 'backslashreplace')
    if any(ord(char) < 32 or ord(char) == 127 for char in shown):
        shown = ''.join(char if 32 <= ord(char) != 127 else repr(char)[1:-1] for char in shown)
    return shown


def display_all(value):
    """``value`` (dicts, lists, strings) with every string passed through ``display``."""
    if isinstance(value, dict):
        return dict((key, display_all(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [display_all(item) for item in value]
    if isinstance(value, str):
        return display(value)
    return value


def is_clean(text):
    """True when ``text`` shows as itself (valid UTF-8, no control characters)."""
    return display(text) == text


def sessions_root_problem(path, option='dest'):
    """Why ``path`` can not be a sessions root, or None: it must be absolute, not ``/``, at least two levels
    deep and not inside a system directory such as ``/etc`` or ``/usr`` (the tree is handed to the service
    user)."""
    if not isinstance(path, str) or not path:
        return '%s must be an absolute path, got %r' % (option, path)
    if not path.startswith('/'):
        return '%s %r is a relative path; give the absolute path of the sessions root' % (option, path)
    parts = [part for part in os.path.normpath(path).split('/') if part]
    if not parts:
        return '%s %r is the filesystem root; give a directory of its own such as %s' % (
            option, path, '/home/RubyManager/web/whatsapp.rubymanager.app/sessions')
    if parts[0] in SYSTEM_DIRS:
        return '%s %r is inside the system directory /%s; use a directory of its own under /home, /srv or /var' % (
            option, path, parts[0])
    if len(parts) == 1:
        return '%s %r is a top-level directory; use a directory of its own below it, such as %s/sessions' % (
            option, path, path.rstrip('/'))
    return None


def absolute_path_problem(path, option):
    """Why ``path`` is not an absolute path, or None."""
    if not isinstance(path, str) or not path.startswith('/'):
        return '%s %r is not an absolute path; relative paths depend on where Ansible happens to run' % (
            option, path)
    return None


def normalised_root_problem(path, option):
    """Why ``path`` is not a normalised absolute path (no ``.``/``..`` components, no NUL), or None; then
    ``sessions_root_problem``."""
    if (not isinstance(path, str) or not path.startswith('/') or '\x00' in path
            or re.search(r'/\.\.?/', '/' + path + '/')):
        return ('%s %r is not a normalised absolute path. Give an absolute path without \'.\' or \'..\' components, '
                'for example /home/RubyManager/web/whatsapp.rubymanager.app/sessions.' % (option, path))
    problem = sessions_root_problem(path, option)
    if problem:
        return '%s; the role would take ownership of it and everything in it.' % problem
    return None


def inside(path, parent):
    """True when normalised absolute ``path`` is ``parent`` or below it."""
    path, parent = os.path.normpath(path), os.path.normpath(parent)
    return path == parent or path.startswith(parent.rstrip('/') + '/')


def octal_mode(value, option):
    """An octal mode string (3 or 4 digits, or 4 with a leading 0) -> int; RuleError naming ``option``."""
    text = str(value).strip()
    if not re.match(r'^0?[0-7]{3,4}$', text):
        raise RuleError('%s is %r, which is not an octal mode: it must be an octal mode string like "0640" or '
                        '"2750" (quote it in YAML; an unquoted 0750 is read as the number 488)' % (option, str(value)))
    return int(text, 8)


def parse_mode(value, option, kind):
    """Octal string such as ``'2750'`` / ``'0640'`` -> int, for ``kind`` ``'dir'`` or ``'file'``. One rule for
    session_migrate's ``dir_mode``/``file_mode`` and the session_storage role's ``session_storage_tenant_mode``
    (tenant directories are session directories).

    Modes giving anything to others (world) are refused; a file mode with setuid, setgid, sticky or any
    execute bit is refused (session files are data)."""
    mode = octal_mode(value, option)
    text = str(value).strip()
    if mode & 0o007:
        raise RuleError('%s %r gives permissions to others (world); session credentials must never be '
                        'world-accessible. Use something like "0640"/"2750"%s'
                        % (option, value, ' (an unquoted 0640 in YAML becomes the number 416)'
                           if text == '416' else ''))
    if kind == 'file' and mode & 0o7111:
        raise RuleError('%s %r sets %s on session files, which are data; use "0640" or "0660"'
                        % (option, value, 'an execute bit' if mode & 0o111 else 'setuid, setgid or sticky'))
    if kind == 'dir' and mode & 0o700 != 0o700:
        raise RuleError('%s %r does not give the owner rwx on directories; use "2750" or "2770"' % (option, value))
    return mode


def resolve_id_with(value, what, by_name, by_id, option=None):
    """The rule for owners and groups, over any user/group database: ``value`` is a name, or else a numeric id,
    that exists. ``by_name(text)`` returns the id of a name or None; ``by_id(number)`` whether the id exists.
    ``option`` names the setting in the message (default: ``what``)."""
    text = str(value).strip()
    found = by_name(text) if text else None
    if found is not None:
        return found
    if text.isdigit() and by_id(int(text)):
        return int(text)
    raise RuleError('%s %r does not exist on this host (neither as a name nor as a numeric id); create it first '
                    'or set the %s option' % (option or what, text, option or what))


def _local_lookup(what):
    by_name, by_id = ((pwd.getpwnam, pwd.getpwuid) if what == 'owner' else (grp.getgrnam, grp.getgrgid))

    def name(text):
        try:
            return by_name(text)[2]
        except KeyError:
            return None

    def number(num):
        try:
            by_id(num)
            return True
        except (KeyError, OverflowError):
            return False
    return name, number


def resolve_id(value, what, option=None):
    """uid (``what='owner'``) or gid (``'group'``) of a name or numeric id that exists on this host."""
    return resolve_id_with(value, what, *_local_lookup(what), option=option)


def getent_id(entries, value, what, option=None):
    """``resolve_id`` over the facts ``ansible.builtin.getent`` returned for key ``value`` (``getent_passwd`` or
    ``getent_group``: ``{name: [password, id, ...]}``, the name mapped to None when not found). getent looks a
    numeric key up as an id, so a numeric id that exists is found under its name."""
    entries = dict((key, item) for key, item in (entries or {}).items() if item)

    def name(text):
        return int(entries[text][1]) if text in entries else None

    def number(num):
        return any(int(item[1]) == num for item in entries.values())
    return resolve_id_with(value, what, name, number, option=option)


def resolve_owner(owner, group):
    """``(uid, gid)`` of user ``owner`` and group ``group`` (names or numeric ids that exist)."""
    return resolve_id(owner, 'owner'), resolve_id(group, 'group')
