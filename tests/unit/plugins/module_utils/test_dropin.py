# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The session_storage role's drop-in, planned by module_utils/service.py and rendered by the role's own template:
session_info approves every drop-in the role can write, and the role refuses where no drop-in helps."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import itertools
import os

import jinja2
import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.service import (
    assess_unit, parse_show, parse_timestamp, plan_dropin, restart_pending)

HOME_ROOT = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'
SRV_ROOT = '/srv/whatsapp/sessions'
ENV = 'WHATSAPP_SESSIONS_ROOT'
TEMPLATE = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'session_storage', 'templates',
                        'session-storage.conf.j2')
UNIT = 'gw.service'


def show_text(props):
    base = dict(Id=UNIT, LoadState='loaded', ActiveState='active', User='www-data', Group='', ProtectSystem='no',
                ProtectHome='no', ReadWritePaths='', ReadOnlyPaths='', InaccessiblePaths='', BindPaths='',
                TemporaryFileSystem='', WorkingDirectory='', DropInPaths='', Environment='', NeedDaemonReload='no')
    base.update(props)
    return ''.join('%s=%s\n' % item for item in base.items())


def render(plan, root):
    """The role's template rendered as Ansible renders it (trim_blocks)."""
    with open(TEMPLATE) as handle:
        source = handle.read()
    env = jinja2.Environment(trim_blocks=True, keep_trailing_newline=True)
    env.filters['comment'] = lambda text: '#\n# %s\n#' % text
    return env.from_string(source).render(ansible_managed='Ansible managed', __session_storage_dropin=plan,
                                          __session_storage_service_unit=UNIT, __session_storage_root=root)


def systemd_merge(props, dropin_text):
    """What `systemctl show` prints once systemd has read the drop-in (written independently of service.py):
    in [Service], ProtectHome=/ProtectSystem= replace, path lists and Environment= append, BindPaths=X shows as
    X:X:rbind."""
    merged = dict(props)
    section = None
    for line in dropin_text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('['):
            section = line
            continue
        assert section == '[Service]', line
        key, value = line.split('=', 1)
        if key in ('ProtectHome', 'ProtectSystem'):
            merged[key] = value
            continue
        if key == 'BindPaths':
            value = ' '.join('%s:%s:rbind' % (v, v) for v in value.split())
        merged[key] = ' '.join(v for v in (merged.get(key, ''), value) if v)
    merged['DropInPaths'] = '/etc/systemd/system/%s.d/50-session-storage.conf' % UNIT
    return merged


def units(root):
    """Every combination of the sandbox settings that decide whether a unit can write ``root``."""
    other = '/home/someone-else' if root.startswith('/home') else '/srv/other'
    top = '/' + root.split('/')[1]
    parent = os.path.dirname(root)
    for protect_home, protect_system, read_only, inaccessible, tmpfs in itertools.product(
            ('no', 'yes', 'read-only', 'tmpfs'), ('no', 'yes', 'full', 'strict'),
            ('', top, parent, root, other), ('', other, parent), ('', top + ':ro', other + ':ro')):
        yield dict(ProtectHome=protect_home, ProtectSystem=protect_system, ReadOnlyPaths=read_only,
                   InaccessiblePaths=inaccessible, TemporaryFileSystem=tmpfs)


@pytest.mark.parametrize('root', [HOME_ROOT, SRV_ROOT])
def test_session_info_approves_every_dropin_the_role_writes(root):
    written = refused = 0
    for settings in units(root):
        props = parse_show(show_text(settings))
        plan = plan_dropin(props, root, ENV)
        if plan['problem'] is not None:
            refused += 1
            # Refused only where the unit cannot write the root, now and with any of the role's drop-ins.
            report, dummy = assess_unit(props, UNIT, root, 'www-data', 'www-data', ENV)
            assert report['can_write'] is False, settings
            continue
        written += 1
        text = render(plan, root)
        after = parse_show(show_text(systemd_merge(props, text)))
        report, problems = assess_unit(after, UNIT, root, 'www-data', 'www-data', ENV)
        assert report['can_write'] is True, (settings, text, report['sandbox'])
        assert problems == [], (settings, text)
        assert report['dropin_present'] and report['env_var_ok']
        # A second run plans the same drop-in: it is rewritten unchanged (idempotence, no restart pending).
        again = plan_dropin(after, root, ENV)
        assert again['problem'] is None and again['directives'] == plan['directives'], settings
    assert written > 100 and refused > 10


@pytest.mark.parametrize('settings,problem', [
    ({'ReadOnlyPaths': '/home'}, None),
    ({'ReadOnlyPaths': '/home/RubyManager'}, None),
    ({'ProtectHome': 'tmpfs', 'ReadOnlyPaths': '/home'}, None),
    ({'InaccessiblePaths': '/home'}, 'InaccessiblePaths= covers the sessions root'),
    ({'InaccessiblePaths': '/home/RubyManager', 'ReadWritePaths': HOME_ROOT}, 'InaccessiblePaths= covers'),
    ({'ReadOnlyPaths': HOME_ROOT}, 'ReadOnlyPaths= covers the sessions root'),
])
def test_read_only_and_inaccessible_paths(settings, problem):
    """The rule the role's Jinja missed: ReadOnlyPaths= over the root needs ReadWritePaths=; InaccessiblePaths=
    over it cannot be undone by a drop-in (systemd drops every mount below an inaccessible path)."""
    plan = plan_dropin(parse_show(show_text(settings)), HOME_ROOT, ENV)
    if problem is None:
        assert plan['problem'] is None
        assert ('ReadWritePaths', HOME_ROOT) in plan['directives'] or ('BindPaths', HOME_ROOT) in plan['directives']
    else:
        assert problem in plan['problem']
        assert 'a drop-in cannot change that' in plan['problem']


@pytest.mark.parametrize('settings,access,lines', [
    ({'ProtectHome': 'yes', 'ProtectSystem': 'strict'}, 'hide-home',
     ['ProtectHome=tmpfs', 'TemporaryFileSystem=/home:ro,mode=0711,nosuid,nodev,noexec '
      '/root:ro,mode=0000,nosuid,nodev,noexec /run/user:ro,mode=0000,nosuid,nodev,noexec',
      'BindPaths=' + HOME_ROOT]),
    ({'ProtectHome': 'tmpfs'}, 'bind', ['BindPaths=' + HOME_ROOT]),
    ({'ProtectHome': 'read-only'}, 'read-write', ['ReadWritePaths=' + HOME_ROOT]),
    ({'ProtectSystem': 'strict'}, 'none', []),
])
def test_the_four_kinds_of_dropin(settings, access, lines):
    plan = plan_dropin(parse_show(show_text(settings)), HOME_ROOT, ENV)
    assert plan['access'] == access
    text = render(plan, HOME_ROOT)
    service = text.split('[Service]\n', 1)[1].splitlines()
    assert service == ['UMask=0027', 'Environment=%s=%s' % (ENV, HOME_ROOT)] + lines


def test_restart_pending():
    started = 'Wed 2026-11-25 10:00:00 UTC'
    assert parse_timestamp(started) == 1795600800
    assert parse_timestamp('') is None and parse_timestamp('n/a') is None
    active = dict(ActiveState='active', ActiveEnterTimestamp=started)
    assert restart_pending(active, True, None) is True
    assert restart_pending(active, False, 1795600800 + 5) is True
    assert restart_pending(active, False, 1795600800 - 5) is False
    assert restart_pending(active, False, None) is False
    assert restart_pending(dict(active, ActiveState='inactive'), True, 1795600800 + 5) is False
