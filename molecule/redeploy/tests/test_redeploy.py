# -*- coding: utf-8 -*-
"""After deploy, a redeploy into a new directory and a restart: what the user's testing checklist asks."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import csv
import json
import os

import pytest

ROOT = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'
NEW_APP = '/home/RubyManager/web/whatsapp.rubymanager.app/releases/v2'
EXISTING = ['7afd5398-97c3-11eb-a990-f23c917564d6', 'tenant-assembly', 'tenant-netcoreapp', 'tenant-base']


def gateway(host, *tenants):
    """Run the gateway stand-in from the new release as the service user; its output lines."""
    cmd = host.run('runuser -u www-data -- python3 %s/gateway_standin.py %s' % (NEW_APP, ' '.join(tenants)))
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.splitlines()


def test_sessions_persist_across_the_redeploy_and_restarts(host):
    for attempt in range(2):
        assert gateway(host, *EXISTING) == ['%s: restored' % t for t in EXISTING], 'restart %d' % attempt


def test_no_qr_for_the_existing_tenant(host):
    assert gateway(host, '7afd5398-97c3-11eb-a990-f23c917564d6') == ['7afd5398-97c3-11eb-a990-f23c917564d6: restored']


def test_new_tenant_onboarding_still_works(host):
    assert gateway(host, 'tenant-new') == ['tenant-new: restored']
    creds = host.file(ROOT + '/tenant-new/tenant-new_creds.json')
    assert (creds.user, creds.group) == ('www-data', 'www-data')


def test_unknown_tenant_needs_a_qr_scan(host):
    assert gateway(host, 'tenant-never-seen') == ['tenant-never-seen: needs QR']


@pytest.mark.parametrize('tenant', EXISTING)
def test_migrated_sessions_are_owned_by_the_service_and_private(host, tenant):
    session = host.file('%s/%s' % (ROOT, tenant))
    assert (session.user, session.group, session.mode) == ('www-data', 'www-data', 0o2750)
    creds = host.file('%s/%s/%s_creds.json' % (ROOT, tenant, tenant))
    assert (creds.user, creds.group, creds.mode) == ('www-data', 'www-data', 0o640)
    assert creds.content.startswith(b'\xef\xbb\xbf{')


def test_old_build_key_files_were_normalised(host):
    tenant = ROOT + '/7afd5398-97c3-11eb-a990-f23c917564d6'
    assert host.file(tenant + '/pre-key/1.json').is_file
    assert host.file(tenant + '/store.db').is_file
    assert host.run("find %s -name '*\\\\*'" % tenant).stdout == ''
    assert int(host.check_output('find %s/pre-key -type f | wc -l' % tenant)) == 300


def test_audit_csv_report_lists_every_session():
    with open(os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'audit.csv')) as handle:
        rows = list(csv.DictReader(handle))
    in_root = sorted(r['session'] for r in rows if r['location'] == 'sessions_root')
    assert in_root == sorted(EXISTING + ['tenant-late', 'tenant-new'])
    assert all(r['creds_valid'] == 'True' and r['problems'] == '' for r in rows if r['location'] == 'sessions_root')


def test_audit_report_has_no_problems():
    with open(os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'audit.json')) as handle:
        report = json.load(handle)
    (host_report,) = report.values()
    assert host_report['problems'] == []
    assert sorted(s['name'] for s in host_report['sessions'] if s['creds_valid']) == sorted(EXISTING + ['tenant-late', 'tenant-new'])
