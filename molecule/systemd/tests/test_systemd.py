# -*- coding: utf-8 -*-
"""What an operator checks after the role ran: every stand-in gateway writes its sessions under its own sandbox,
gets the root from WHATSAPP_SESSIONS_ROOT, and still cannot see what its sandbox hid before."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

ROOT = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'
SRV_ROOT = '/srv/whatsapp/sessions'
HIDDEN = 'TemporaryFileSystem=/home:ro,mode=0711,nosuid,nodev,noexec /root:ro,mode=0000,nosuid,nodev,noexec ' \
         '/run/user:ro,mode=0000,nosuid,nodev,noexec'

# unit: (root, sandbox lines the drop-in must hold, effective ProtectHome, what the probe must have seen)
UNITS = {
    'gw-home-true': (ROOT, ['ProtectHome=tmpfs', HIDDEN, 'BindPaths=' + ROOT], 'tmpfs',
                     {'other_home': 'hidden', 'home_listing': 'denied', 'shared_home': 'no-access'}),
    'gw-home-true-nostrict': (ROOT, ['ProtectHome=tmpfs', HIDDEN, 'BindPaths=' + ROOT], 'tmpfs',
                              {'other_home': 'hidden', 'home_listing': 'denied', 'shared_home': 'no-access'}),
    'gw-home-readonly': (ROOT, ['ReadWritePaths=' + ROOT], 'read-only',
                         {'other_home': 'visible', 'shared_home': 'read-only'}),
    'gw-home-tmpfs': (ROOT, ['BindPaths=' + ROOT], 'tmpfs',
                      {'other_home': 'hidden', 'home_listing': 'RubyManager ', 'shared_home': 'no-access'}),
    # ProtectSystem=strict leaves /home to ProtectHome=: nothing to change but the environment.
    'gw-home-unset': (ROOT, [], 'no', {'other_home': 'visible', 'shared_home': 'writable'}),
    'gw-plain': (ROOT, [], 'no', {'other_home': 'visible', 'shared_home': 'writable'}),
    'gw-srv': (SRV_ROOT, ['ReadWritePaths=' + SRV_ROOT], 'yes',
               {'other_home': 'hidden', 'home_listing': 'denied', 'shared_home': 'no-access'}),
    # ReadOnlyPaths=/home: the deeper ReadWritePaths= wins; the rest of /home stays read-only.
    'gw-home-ropaths': (ROOT, ['ReadWritePaths=' + ROOT], 'no', {'other_home': 'visible', 'shared_home': 'read-only'}),
}
SANDBOX_KEYS = ('ProtectHome=', 'TemporaryFileSystem=', 'BindPaths=', 'ReadWritePaths=', 'ProtectSystem=')


def dropin(unit):
    return '/etc/systemd/system/%s.service.d/50-session-storage.conf' % unit


def probe(host, unit, root):
    """The probe file the unit wrote, as a dict."""
    f = host.file('%s/probe-%s.txt' % (root, unit))
    assert f.exists, 'no session file from %s' % unit
    assert (f.user, f.group) == ('www-data', 'www-data')
    return dict(line.split('=', 1) for line in f.content_string.splitlines())


@pytest.mark.parametrize('unit', sorted(UNITS))
def test_dropin_holds_only_the_needed_change(host, unit):
    root, sandbox = UNITS[unit][:2]
    f = host.file(dropin(unit))
    assert (f.user, f.group, f.mode) == ('root', 'root', 0o644)
    lines = f.content_string.splitlines()
    assert 'Environment=WHATSAPP_SESSIONS_ROOT=%s' % root in lines
    assert 'UMask=0027' in lines
    assert [x for x in lines if x.startswith(SANDBOX_KEYS)] == sandbox


@pytest.mark.parametrize('unit', sorted(UNITS))
def test_unit_file_itself_untouched(host, unit):
    content = host.file('/etc/systemd/system/%s.service' % unit).content_string
    assert 'Description=Stand-in WhatsApp gateway' in content
    assert 'WHATSAPP_SESSIONS_ROOT' not in content


@pytest.mark.parametrize('unit', sorted(UNITS))
def test_effective_settings(host, unit):
    root, protect_home = UNITS[unit][0], UNITS[unit][2]
    show = host.check_output('systemctl show -p ProtectHome,Environment,NeedDaemonReload,UMask %s.service' % unit)
    assert 'ProtectHome=%s' % protect_home in show.splitlines()
    assert 'UMask=0027' in show.splitlines()
    assert 'NeedDaemonReload=no' in show.splitlines()
    assert 'WHATSAPP_SESSIONS_ROOT=%s' % root in show


@pytest.mark.parametrize('unit', sorted(UNITS))
def test_unit_writes_its_sessions_and_sees_only_what_it_saw_before(host, unit):
    root, seen = UNITS[unit][0], UNITS[unit][3]
    host.run_expect([0], 'rm -f %s/probe-%s.txt' % (root, unit))
    start = host.run('systemctl start %s.service' % unit)
    assert start.rc == 0, host.run('journalctl --no-pager -o cat -n 20 -u %s.service' % unit).stdout
    got = probe(host, unit, root)
    assert got['user'] == 'www-data'
    assert got['env'] == root
    # UMask=0027: what the service writes is not readable by other users
    assert host.file('%s/probe-%s.txt' % (root, unit)).mode == 0o640
    for key, value in seen.items():
        assert got[key] == value, key


@pytest.mark.parametrize('unit', ['gw-home-true', 'gw-home-true-nostrict'])
def test_protecthome_true_replacement_is_empty_read_only_noexec(host, unit):
    """Where ProtectHome=true was replaced, /home, /root and /run/user are read-only nosuid/nodev/noexec mounts."""
    host.run_expect([0], 'systemctl start %s.service' % unit)
    mounts = dict(m.split(':', 1) for m in probe(host, unit, ROOT)['home_mounts'].split())
    assert sorted(mounts) == ['/home', '/root', '/run/user']
    for path, options in mounts.items():
        assert options.startswith('ro,nosuid,nodev,noexec'), (path, options)


def test_running_gateway_was_restarted_into_the_drop_in(host):
    assert host.service('gw-gateway').is_running
    assert probe(host, 'gw-gateway', ROOT)['env'] == ROOT


def test_pending_gateway_writes_after_its_restart(host):
    assert host.service('gw-pending').is_running
    assert probe(host, 'gw-pending', ROOT)['env'] == ROOT


def test_refused_unit_has_no_drop_in(host):
    assert not host.file('/etc/systemd/system/gw-as-root.service.d').exists


def test_user_check_off_installs_the_drop_in(host):
    assert host.file(dropin('gw-other-user')).exists
