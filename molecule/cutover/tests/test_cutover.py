# -*- coding: utf-8 -*-
"""After the cutover: what an operator checks on each gateway, from the gateway's own ledger and journal."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re

import pytest

ROOT = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'
OLD = '/srv/whatsapp/netcoreapp'
LEDGER = '/var/lib/gw-ledger/ledger.jsonl'
UNIT = 'whatsapp-gateway.service'
KNOWN = {'gw_a': ['7afd5398-97c3-11eb-a990-f23c917564d6', 'tenant-b', 'tenant-c'],
         'gw_b': ['tenant-d', 'tenant-e'],
         'gw_broken': ['tenant-f']}
NEW_LINE = re.compile(r'(No existing credentials found for session|Failed to deserialize credentials for session|'
                      r'Generating QR code for session|Starting QR session for) (\S+?)[,\s]')


def group(host):
    return next(g for g in host.ansible.get_variables()['group_names'] if g in KNOWN)


def journal(host):
    """What the unit logged since its current start."""
    invocation = host.check_output('systemctl show --property=InvocationID --value %s' % UNIT)
    assert invocation
    return host.check_output('journalctl --no-pager --quiet --output=cat _SYSTEMD_INVOCATION_ID=%s' % invocation)


@pytest.fixture
def cut_over(host):
    if group(host) == 'gw_broken':
        pytest.skip('the broken host was never cut over')
    return KNOWN[group(host)]


def test_every_write_of_the_old_build_is_in_the_sessions_root_byte_for_byte(host, cut_over):
    report = json.loads(host.check_output('python3 /usr/local/lib/gw_ledger_check.py %s --root %s' % (LEDGER, ROOT)))
    assert report['mismatched'] == []
    assert report['tenants'] == sorted(cut_over) and report['fixed_loaded'] == sorted(cut_over)
    # it really wrote, every kind of write, before the stop
    assert report['old_writes'] >= 40
    assert set(report['kinds']) == {'pre-key', 'session', 'store-page', 'creds'} and min(report['kinds'].values()) > 0
    assert report['checked_in_root'] > 0


def test_the_old_build_stopped_cleanly_before_the_fixed_build_started(host, cut_over):
    entries = [json.loads(line) for line in host.file(LEDGER).content_string.splitlines()]
    builds = [e['build'] for e in entries]
    # every old write comes before the first line of the fixed build, and the old build recorded its stop
    first_fixed = builds.index('fixed')
    assert 'old' not in builds[first_fixed:]
    assert entries[first_fixed - 1]['event'] == 'stopped' and entries[first_fixed - 1]['build'] == 'old'
    assert entries[first_fixed]['event'] == 'loaded'


def test_every_known_tenant_loaded_its_credentials_from_the_sessions_root_and_none_needs_a_qr_code(host, cut_over):
    log = journal(host)
    loaded = re.findall(r'Successfully loaded existing credentials for session (\S+) from (\S+)', log)
    assert sorted(loaded) == sorted((t, '%s/%s/%s_creds.json' % (ROOT, t, t)) for t in cut_over)
    assert [t for dummy, t in NEW_LINE.findall(log) if t in cut_over] == []
    assert OLD not in log
    assert 'Session restoration completed. Active sessions: %d' % len(cut_over) in log


def test_the_unit_runs_the_fixed_build_with_the_drop_in(host, cut_over):
    assert host.service('whatsapp-gateway').is_running
    show = host.check_output('systemctl show --property=ActiveState,ExecStart,UMask,Environment,User %s' % UNIT)
    assert 'ActiveState=active' in show and 'UMask=0027' in show and 'User=www-data' in show
    assert '/srv/whatsapp/releases/v2/gateway.py --build fixed' in show
    assert 'WHATSAPP_SESSIONS_ROOT=%s' % ROOT in show
    # the fixed build keeps writing the sessions under its sandbox
    entries = [json.loads(line) for line in host.file(LEDGER).content_string.splitlines()]
    assert sum(1 for e in entries if e['build'] == 'fixed' and e['event'] == 'write') > 0


def test_files_the_fixed_build_wrote_are_private(host, cut_over):
    entries = [json.loads(line) for line in host.file(LEDGER).content_string.splitlines()]
    created = [e for e in entries if e['build'] == 'fixed' and e['event'] == 'write' and e['kind'] == 'pre-key']
    assert created
    for entry in created[-3:]:
        f = host.file('%s/%s' % (ROOT, entry['physical']))
        assert (f.user, f.group, f.mode) == ('www-data', 'www-data', 0o640)


def test_the_legacy_copies_were_left_in_place(host):
    for tenant in KNOWN[group(host)]:
        assert host.file('%s/%s/%s_creds.json' % (OLD, tenant, tenant)).exists


def test_the_broken_host_runs_its_old_build_again_and_nothing_was_migrated(host):
    if group(host) != 'gw_broken':
        pytest.skip('only the broken host')
    assert host.service('whatsapp-gateway').is_running
    assert '%s/gateway.py --build old' % OLD in host.check_output('systemctl show --property=ExecStart %s' % UNIT)
    assert host.check_output('ls -A %s' % ROOT) == ''
    assert 'Successfully loaded existing credentials for session tenant-f from %s/tenant-f/tenant-f_creds.json' % OLD \
        in journal(host)
