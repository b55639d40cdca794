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
* ``InaccessiblePaths=`` and ``ReadOnlyPaths=`` covering the root win unless a deeper
  ``ReadWritePaths=``/``BindPaths=`` entry covers it.

Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import shlex

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
    for prop in ('InaccessiblePaths', 'ReadOnlyPaths'):
        closed = _deepest(_paths(props.get(prop, '')), root)
        if closed >= 0 and closed >= opened:
            return False, '%s= covers the sessions root' % prop
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
