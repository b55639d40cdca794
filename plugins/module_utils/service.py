# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the gateway's systemd unit can do with the sessions root, from its ``systemctl show`` properties.

Pure functions over the text ``systemctl show`` prints; session_info runs the command. The sandbox rules are the
ones proven on systemd 252 by the ``systemd`` Molecule scenario (see the role's service integration):

* under ``/home``, ``/root`` or ``/run/user``: ``ProtectHome=yes`` hides the root whatever else is set;
  ``ProtectHome=tmpfs`` shows an empty directory unless ``BindPaths=`` brings the root in;
  ``ProtectHome=read-only`` needs ``ReadWritePaths=`` (or ``BindPaths=``); ``ProtectSystem=`` does not apply;
* elsewhere: ``ProtectSystem=strict`` makes everything read-only but ``ReadWritePaths=``/``BindPaths=``;
  ``full`` makes ``/usr``, ``/boot``, ``/efi`` and ``/etc`` read-only, ``yes`` the first three;
* ``TemporaryFileSystem=`` over the root (or a parent) hides it unless ``BindPaths=`` brings it in;
* ``ReadOnlyPaths=`` covering the root wins unless a deeper ``ReadWritePaths=``/``BindPaths=`` entry covers it;
  ``InaccessiblePaths=`` covering the root always wins (systemd drops every mount below an inaccessible path).

The role's drop-in is planned here too (``plan_dropin``), and checked with the same ``sandbox_verdict`` against
the unit's settings with the drop-in applied, so the role never writes a drop-in that ``session_info`` rejects.

Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import re
import shlex
import time

DROPIN_NAME = '50-session-storage.conf'
PROPERTIES = ('Id', 'LoadState', 'ActiveState', 'User', 'Group', 'ProtectSystem', 'ProtectHome', 'ReadWritePaths',
              'ReadOnlyPaths', 'InaccessiblePaths', 'BindPaths', 'TemporaryFileSystem', 'WorkingDirectory',
              'DropInPaths', 'Environment', 'NeedDaemonReload', 'UMask')
HOMES = ('/home', '/root', '/run/user')
READ_ONLY_SYSTEM = {'yes': ('/usr', '/boot', '/efi'), 'full': ('/usr', '/boot', '/efi', '/etc')}


def unit_name(name):
    """The unit name with ``.service`` added when it has no unit suffix."""
    return name if name.endswith('.service') else name + '.service'


def parse_show(text):
    """``systemctl show`` output (``Key=value`` lines) as a dict."""
    props = {}
    for line in text.splitlines():
        key, sep, value = line.partition('=')
        if sep:
            props[key] = value
    return props


def _covers(prefix, path):
    """Whether ``prefix`` is ``path`` or one of its ancestors."""
    prefix = prefix.rstrip('/') or '/'
    return path == prefix or path.startswith(prefix.rstrip('/') + '/')


def _paths(value):
    """Paths of a ``ReadWritePaths=``-style property (``-``/``+`` prefixes dropped)."""
    return [p.lstrip('-+') for p in value.split()]


def _bind_targets(value):
    """Destinations of a ``BindPaths=`` property (``src[:dst[:options]]`` entries)."""
    targets = []
    for entry in value.split():
        parts = entry.lstrip('-').split(':')
        targets.append(parts[1] if len(parts) > 1 and parts[1] else parts[0])
    return targets


def _deepest(prefixes, path):
    """Length of the deepest entry of ``prefixes`` covering ``path``, or -1."""
    return max([len(p.rstrip('/')) for p in prefixes if _covers(p, path)] or [-1])


def sandbox_verdict(props, root):
    """``(can_write, reason)``: whether the unit's sandbox lets it write ``root``, and why (not)."""
    writable = _paths(props.get('ReadWritePaths', '')) + _bind_targets(props.get('BindPaths', ''))
    opened = _deepest(writable, root)
    if _deepest(_paths(props.get('InaccessiblePaths', '')), root) >= 0:
        # systemd drops every mount below an inaccessible path: no ReadWritePaths=/BindPaths= entry helps.
        return False, 'InaccessiblePaths= covers the sessions root'
    closed = _deepest(_paths(props.get('ReadOnlyPaths', '')), root)
    if closed >= 0 and closed >= opened:
        return False, 'ReadOnlyPaths= covers the sessions root'
    binds = _bind_targets(props.get('BindPaths', ''))
    tmpfs = [entry.split(':', 1)[0] for entry in props.get('TemporaryFileSystem', '').split()]
    if any(_covers(t, root) for t in tmpfs) and not any(_covers(b, root) for b in binds):
        return False, 'TemporaryFileSystem= hides the sessions root; BindPaths= for it is missing'
    home = [h for h in HOMES if _covers(h, root)]
    if home:
        protect = props.get('ProtectHome', 'no')
        if protect == 'yes':
            return False, ('ProtectHome=yes hides %s, and ReadWritePaths= cannot undo it; apply the session_storage '
                           'role with session_storage_service_unit to install the drop-in' % home[0])
        if protect == 'tmpfs' and not any(_covers(b, root) for b in binds):
            return False, 'ProtectHome=tmpfs shows an empty %s; BindPaths= for the sessions root is missing' % home[0]
        if protect == 'read-only' and opened < 0:
            return False, 'ProtectHome=read-only makes %s read-only; ReadWritePaths= for the sessions root is missing' % home[0]
        return True, 'ProtectHome=%s%s' % (protect, ' with the sessions root made writable' if opened >= 0 else '')
    protect = props.get('ProtectSystem', 'no')
    if protect == 'strict' and opened < 0:
        return False, 'ProtectSystem=strict makes the sessions root read-only; ReadWritePaths= for it is missing'
    for ro in READ_ONLY_SYSTEM.get(protect, ()):
        if _covers(ro, root) and opened < 0:
            return False, 'ProtectSystem=%s makes %s read-only' % (protect, ro)
    return True, 'ProtectSystem=%s' % protect


def environment(value):
    """The ``Environment=`` property as a dict."""
    try:
        words = shlex.split(value)
    except ValueError:
        words = value.split()
    return dict(w.split('=', 1) for w in words if '=' in w)


def umask_lets_others_read(value):
    """Whether the ``UMask=`` property (octal, for example ``0022``) leaves files readable by other users; None when
    systemd did not report it."""
    try:
        return not int(value, 8) & 0o004
    except (TypeError, ValueError):
        return None


def assess_unit(props, unit, root, owner, group, env_var, legacy_roots=()):
    """Report on ``unit`` from its properties: who it runs as, whether it can write ``root``, its working
    directory, the drop-in and the environment variable. Returns ``(report, problems)``."""
    report = dict(unit=unit, found=props.get('LoadState') not in (None, '', 'not-found'),
                  load_state=props.get('LoadState'), active_state=props.get('ActiveState'))
    problems = []
    if not report['found']:
        problems.append('service %s: the unit does not exist on this host (LoadState=%s)'
                        % (unit, props.get('LoadState') or 'unknown'))
        return report, problems
    user = props.get('User') or 'root'
    run_group = props.get('Group') or ''
    can_write, why = sandbox_verdict(props, root)
    dropins = props.get('DropInPaths', '').split()
    env = environment(props.get('Environment', ''))
    workdir = props.get('WorkingDirectory') or ''
    report.update(
        user=user, group=run_group or None, user_ok=user == owner, group_ok=(not run_group) or run_group == group,
        can_write=can_write, sandbox=why, working_directory=workdir or None,
        working_directory_is_legacy_root=bool(workdir) and any(workdir.rstrip('/') == r.rstrip('/') for r in legacy_roots),
        dropin=next((d for d in dropins if d.endswith('/' + DROPIN_NAME)), None),
        env_var=env_var, env_var_value=env.get(env_var) if env_var else None,
        need_daemon_reload=props.get('NeedDaemonReload') == 'yes', umask=props.get('UMask') or None)
    report['umask_ok'] = umask_lets_others_read(report['umask']) is not True
    report['dropin_present'] = report['dropin'] is not None
    report['env_var_ok'] = (not env_var) or report['env_var_value'] == root
    if not report['user_ok']:
        problems.append('service %s runs as %s, but the sessions belong to %s: the service cannot write its own '
                        'session files' % (unit, user, owner))
    if not report['group_ok']:
        problems.append('service %s runs with group %s, not %s' % (unit, run_group, group))
    if not can_write:
        problems.append('service %s cannot write the sessions root %s: %s' % (unit, root, why))
    if env_var and not report['env_var_ok']:
        problems.append('service %s: %s is %s, not the sessions root %s' % (
            unit, env_var, 'not set' if report['env_var_value'] is None else repr(report['env_var_value']), root))
    if not report['umask_ok']:
        problems.append('service %s: UMask=%s lets other users read the files it writes (session keys); the '
                        'session_storage drop-in sets UMask=0027' % (unit, report['umask']))
    if report['need_daemon_reload']:
        problems.append('service %s: its unit files changed; run systemctl daemon-reload' % unit)
    return report, problems


# ------------------------------------------------------------------------------------------------------------
# The role's drop-in (roles/session_storage): planned from the unit's effective settings, never written when it
# would not let the unit write the sessions root.

DROPIN_DIR = '/etc/systemd/system'
# Properties the role reads with ``systemctl show`` (drop-ins included): the sandbox, and what the restart
# decision needs.
ROLE_PROPERTIES = PROPERTIES + ('ActiveEnterTimestamp', 'FragmentPath')
UNIT_TYPES = ('socket', 'device', 'mount', 'automount', 'swap', 'target', 'path', 'timer', 'slice', 'scope')
_UNIT_NAME = re.compile(r'^[A-Za-z0-9:_\\-][A-Za-z0-9:_.\\-]*(@[A-Za-z0-9:_.\\-]+)?\.service$')
_ENV_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
_UNSAFE_IN_UNIT = re.compile(r'[\s"\'\\:%;\x00-\x1f\x7f]')
# The access kinds of the drop-in (the role's fact session_storage_service_access):
#   hide-home   ProtectHome=true (or our own hide-home drop-in): ProtectHome=tmpfs, read-only tmpfs on /home,
#               /root, /run/user (TemporaryFileSystem=) and BindPaths=<root>
#   bind        ProtectHome=tmpfs set by the unit itself, or a TemporaryFileSystem= of the unit over the root:
#               BindPaths=<root>
#   read-write  ProtectHome=read-only; ReadOnlyPaths= over the root; or, with the root elsewhere (/srv, /var, ...),
#               ProtectSystem=strict (or a ProtectSystem= that makes the root read-only): ReadWritePaths=<root>
#   none        nothing in the sandbox stops the unit from writing the root: only the environment variable
COMMENTS = {
    'hide-home': ('The unit has ProtectHome=true, which leaves no way to reach anything under {home}.',
                  'Instead of it: /home, /root and /run/user are empty, read-only tmpfs (mode 0000 like '
                  'ProtectHome=true,', '{home} 0711: traversable, not listable) and only the sessions root is bound in.'),
    'bind': ('{why}',),
    'read-write': ('The unit sees the sessions root read-only ({why}): only the root is made writable.',),
    'none': ("Nothing in the unit's sandbox keeps it from writing the sessions root: no sandbox setting is changed.",),
}


def unit_name_problem(name):
    """Why ``name`` (as given, before ``unit_name``) is not a systemd service unit name, or None."""
    if not isinstance(name, str):
        return 'not a string'
    full = unit_name(name)
    if len(full) > 255 or not _UNIT_NAME.match(full) or re.match(r'^.*\.(%s)\.service$' % '|'.join(UNIT_TYPES), full):
        return 'not a systemd service unit name'
    return None


def env_var_problem(name):
    """Why ``name`` is not an environment variable name (empty: none is set), or None."""
    if name in (None, ''):
        return None
    if not isinstance(name, str) or not _ENV_NAME.match(name):
        return 'not an environment variable name'
    return None


def unit_path_problem(path):
    """Why ``path`` cannot be written into a unit file (separators, quotes, specifiers, control characters)."""
    return 'unsafe characters' if _UNSAFE_IN_UNIT.search(path) else None


def root_home(root):
    """The directory of ``HOMES`` that holds ``root``, or ''."""
    return next((h for h in HOMES if _covers(h, root) and h != root), '')


def hidden_homes(root):
    """``TemporaryFileSystem=`` entries standing in for ProtectHome=true: the three home directories as empty,
    read-only, nosuid/nodev/noexec tmpfs; mode 0000 like ProtectHome=true, except the one holding the root,
    which is 0711 (traversable, not listable) so the bound root can be reached."""
    home = root_home(root)
    return ['%s:ro,mode=%s,nosuid,nodev,noexec' % (d, '0711' if d == home else '0000') for d in HOMES]


def apply_dropin(props, directives):
    """The unit's properties with a drop-in's ``(key, value)`` directives applied, as systemd merges them:
    ``ProtectHome=``/``ProtectSystem=`` replace, list settings and ``Environment=`` append."""
    merged = dict(props)
    for key, value in directives:
        if key in ('ProtectHome', 'ProtectSystem'):
            merged[key] = value
        elif key == 'BindPaths':
            merged[key] = ' '.join(filter(None, [merged.get(key, ''), '%s:%s:rbind' % (value, value)]))
        else:
            merged[key] = ' '.join(filter(None, [merged.get(key, ''), value]))
    return merged


# The umask the drop-in sets: the files the gateway writes are not readable by other users.
DROPIN_UMASK = '0027'


def plan_dropin(props, root, env_var=''):
    """The narrowest drop-in that lets the unit with effective settings ``props`` write ``root``.

    Returns a dict: ``access`` (hide-home, bind, read-write, none), ``directives`` (``(key, value)`` pairs in
    the order written), ``comment`` (lines explaining it), ``root_home``, ``hidden_homes`` and ``problem``: None,
    or why no drop-in can help (then nothing must be written). The plan is checked with ``sandbox_verdict`` on the
    settings with the drop-in applied, the rule session_info judges the unit by."""
    home = root_home(root)
    hidden = hidden_homes(root)
    protect = props.get('ProtectHome', 'no')
    tmpfs = [entry.split(':', 1)[0] for entry in props.get('TemporaryFileSystem', '').split()]
    why = ''
    if home:
        if protect in ('yes', 'true') or (protect == 'tmpfs' and set(hidden) <= set(
                props.get('TemporaryFileSystem', '').split())):
            access = 'hide-home'
        elif protect == 'tmpfs':
            # (the comment as earlier versions of the role wrote it: an unchanged drop-in needs no restart)
            access, why = 'bind', 'The unit has ProtectHome=tmpfs: the sessions root is bound into its empty %s.' % home
        elif protect == 'read-only':
            access, why = 'read-write', 'ProtectHome=read-only'
        else:
            access = 'none'
    else:
        system = props.get('ProtectSystem', 'no')
        if system == 'strict' or any(_covers(ro, root) for ro in READ_ONLY_SYSTEM.get(system, ())):
            access, why = 'read-write', 'ProtectSystem=%s' % system
        else:
            access = 'none'
    if access in ('none', 'read-write') and any(_covers(t, root) for t in tmpfs):
        access, why = 'bind', "The unit's TemporaryFileSystem= hides the sessions root: it is bound in."
    readonly = _deepest(_paths(props.get('ReadOnlyPaths', '')), root)
    if access == 'none' and readonly >= 0:
        access, why = 'read-write', 'ReadOnlyPaths='
    directives = [('UMask', DROPIN_UMASK)]
    if env_var:
        directives.append(('Environment', '%s=%s' % (env_var, root)))
    if access == 'hide-home':
        directives.append(('ProtectHome', 'tmpfs'))
        directives.append(('TemporaryFileSystem', ' '.join(hidden)))
    if access in ('hide-home', 'bind'):
        directives.append(('BindPaths', root))
    elif access == 'read-write':
        directives.append(('ReadWritePaths', root))
    comment = [line.format(home=home, why=why) for line in COMMENTS[access]] + [
        'UMask=%s: the files the gateway writes (keys, creds) are not readable by other users.' % DROPIN_UMASK]
    plan = dict(access=access, directives=directives, comment=comment, root_home=home, hidden_homes=hidden,
                problem=None)
    can_write, reason = sandbox_verdict(apply_dropin(props, directives), root)
    if not can_write:
        plan['problem'] = ('%s; a drop-in cannot change that (remove the setting from the unit, or choose a '
                           'sessions root it does not cover)' % reason)
    return plan


def dropin_problem(props, root, env_var=''):
    """Why the unit's effective settings ``props`` (read after the drop-in was installed and systemd reloaded)
    still do not let it write ``root`` or do not name it in ``env_var``, or None. The rule session_info uses."""
    can_write, reason = sandbox_verdict(props, root)
    if not can_write:
        return reason
    if env_var and environment(props.get('Environment', '')).get(env_var) != root:
        return '%s is not %s' % (env_var, root)
    if props.get('UMask') not in (None, DROPIN_UMASK):
        return 'UMask is %s, not %s' % (props.get('UMask'), DROPIN_UMASK)
    return None


def parse_timestamp(text):
    """Seconds since the epoch of a ``systemctl show`` timestamp printed with ``TZ=UTC``
    (``Wed 2026-11-25 10:00:00 UTC``), or None (never started, or another format)."""
    match = re.match(r'^\w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC$', text or '')
    if not match:
        return None
    return calendar.timegm(time.strptime(match.group(1), '%Y-%m-%d %H:%M:%S'))


def restart_pending(props, dropin_changed, dropin_mtime):
    """Whether the running unit predates its drop-in: it is active and the drop-in was just changed, or was
    changed after the unit started (``dropin_mtime`` None: there is no drop-in)."""
    if props.get('ActiveState', '') not in ('active', 'activating', 'reloading'):
        return False
    if dropin_changed:
        return True
    if dropin_mtime is None:
        return False
    started = parse_timestamp(props.get('ActiveEnterTimestamp', ''))
    return (started or 0) < int(dropin_mtime)
