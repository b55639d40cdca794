# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateway unit's report from real `systemctl show` output shapes (systemd 252)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.service import (
    assess_unit, parse_show, sandbox_verdict, unit_name)

ROOT = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'
APP = '/home/RubyManager/web/whatsapp.rubymanager.app'


def show(**props):
    """`systemctl show` text for a loaded unit with ``props``."""
    base = dict(Id='whatsapp-gateway.service', LoadState='loaded', ActiveState='active', User='www-data',
                Group='', ProtectSystem='no', ProtectHome='no', ReadWritePaths='', ReadOnlyPaths='',
                InaccessiblePaths='', BindPaths='', TemporaryFileSystem='', WorkingDirectory=APP, DropInPaths='', Environment='',
                NeedDaemonReload='no')
    base.update(props)
    return ''.join('%s=%s\n' % item for item in base.items())


def test_unit_name_gets_service_suffix():
    assert unit_name('whatsapp-gateway') == 'whatsapp-gateway.service'
    assert unit_name('whatsapp-gateway.service') == 'whatsapp-gateway.service'


@pytest.mark.parametrize('props,can_write,why', [
    ({}, True, 'ProtectHome=no'),
    ({'ProtectHome': 'yes'}, False, 'ProtectHome=yes hides /home'),
    ({'ProtectHome': 'yes', 'ReadWritePaths': ROOT}, False, 'ReadWritePaths= cannot undo it'),
    ({'ProtectHome': 'tmpfs'}, False, 'BindPaths= for the sessions root is missing'),
    ({'ProtectHome': 'tmpfs', 'BindPaths': '%s:%s:rbind' % (ROOT, ROOT)}, True, 'ProtectHome=tmpfs'),
    ({'ProtectHome': 'read-only'}, False, 'ReadWritePaths= for the sessions root is missing'),
    ({'ProtectHome': 'read-only', 'ReadWritePaths': '-' + ROOT}, True, 'made writable'),
    ({'ProtectSystem': 'strict'}, True, 'ProtectHome=no'),  # strict leaves /home to ProtectHome=
    ({'InaccessiblePaths': '/home/RubyManager'}, False, 'InaccessiblePaths= covers'),
    ({'ReadOnlyPaths': '/home', 'ReadWritePaths': ROOT}, True, 'made writable'),
    ({'TemporaryFileSystem': '/home:ro'}, False, 'TemporaryFileSystem= hides the sessions root'),
    ({'ProtectHome': 'tmpfs', 'TemporaryFileSystem': '/home:ro,mode=0711 /root:ro,mode=0000',
      'BindPaths': '%s:%s:rbind' % (ROOT, ROOT)}, True, 'ProtectHome=tmpfs'),
])
def test_sandbox_under_home(props, can_write, why):
    verdict = sandbox_verdict(parse_show(show(**props)), ROOT)
    assert verdict[0] is can_write
    assert why in verdict[1]


@pytest.mark.parametrize('props,can_write', [
    ({'ProtectSystem': 'strict', 'ProtectHome': 'yes'}, False),
    ({'ProtectSystem': 'strict', 'ProtectHome': 'yes', 'ReadWritePaths': '/srv/whatsapp/sessions'}, True),
    ({'ProtectSystem': 'full'}, True),
])
def test_sandbox_outside_home(props, can_write):
    assert sandbox_verdict(parse_show(show(**props)), '/srv/whatsapp/sessions')[0] is can_write


def test_etc_is_read_only_with_protect_system_full():
    assert sandbox_verdict({'ProtectSystem': 'full'}, '/etc/whatsapp/sessions') == (
        False, 'ProtectSystem=full makes /etc read-only')


def test_healthy_unit_after_the_role():
    text = show(ProtectHome='tmpfs', BindPaths='%s:%s:rbind' % (ROOT, ROOT),
                DropInPaths='/etc/systemd/system/whatsapp-gateway.service.d/50-session-storage.conf',
                Environment='DOTNET_ENV=prod WHATSAPP_SESSIONS_ROOT=%s' % ROOT)
    report, problems = assess_unit(parse_show(text), 'whatsapp-gateway.service', ROOT, 'www-data', 'www-data',
                                   'WHATSAPP_SESSIONS_ROOT', [APP + '/netcoreapp', APP])
    assert problems == []
    assert report['user_ok'] and report['can_write'] and report['dropin_present'] and report['env_var_ok']
    assert report['working_directory_is_legacy_root'] is True


def test_unit_running_as_another_user_is_flagged():
    report, problems = assess_unit(parse_show(show(User='')), 'gw.service', ROOT, 'www-data', 'www-data',
                                   'WHATSAPP_SESSIONS_ROOT')
    assert report['user'] == 'root' and not report['user_ok']
    assert 'service gw.service runs as root, but the sessions belong to www-data' in problems[0]
    assert any('WHATSAPP_SESSIONS_ROOT is not set' in p for p in problems)


def test_missing_unit_and_pending_reload():
    report, problems = assess_unit(parse_show('LoadState=not-found\n'), 'nope.service', ROOT, 'www-data',
                                   'www-data', '')
    assert report['found'] is False
    assert problems == ['service nope.service: the unit does not exist on this host (LoadState=not-found)']
    dummy, problems = assess_unit(parse_show(show(NeedDaemonReload='yes')), 'gw.service', ROOT, 'www-data',
                                  'www-data', '')
    assert problems == ['service gw.service: its unit files changed; run systemctl daemon-reload']


def test_umask_that_lets_others_read_is_flagged():
    report, problems = assess_unit(parse_show(show(UMask='0022')), 'gw.service', ROOT, 'www-data', 'www-data', '')
    assert report['umask'] == '0022' and report['umask_ok'] is False
    assert problems == ['service gw.service: UMask=0022 lets other users read the files it writes (session keys); '
                        'the session_storage drop-in sets UMask=0027']
    for mask in ('0027', '0077', '0007'):
        report, problems = assess_unit(parse_show(show(UMask=mask)), 'gw.service', ROOT, 'www-data', 'www-data', '')
        assert report['umask_ok'] is True and problems == [], mask
    # systemd that does not report it: nothing to say
    report, problems = assess_unit(parse_show(show()), 'gw.service', ROOT, 'www-data', 'www-data', '')
    assert report['umask'] is None and report['umask_ok'] is True and problems == []
