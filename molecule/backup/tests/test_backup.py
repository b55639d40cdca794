# -*- coding: utf-8 -*-
"""After backup, loss, refused corrupted archive and restore: what an operator checks."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os

import pytest

ROOT = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'
BACKUPS = '/var/backups/rubymanager-sessions'
GATEWAY = '/opt/gateway/gateway_standin.py'
TENANTS = ['7afd5398-97c3-11eb-a990-f23c917564d6', 'tenant-assembly', 'tenant-base', 'tenant-netcoreapp']


def archives(host, pattern='sessions-*.tar.gz'):
    return sorted(host.check_output('find %s -maxdepth 1 -name %s' % (BACKUPS, pattern)).split())


def test_every_tenant_is_restored_without_a_qr_code(host):
    cmd = host.run('runuser -u www-data -- python3 %s %s' % (GATEWAY, ' '.join(TENANTS)))
    assert cmd.rc == 0, cmd.stderr
    assert cmd.stdout.splitlines() == ['%s: restored' % t for t in TENANTS]


@pytest.mark.parametrize('tenant', TENANTS)
def test_restored_sessions_are_owned_by_the_service_and_private(host, tenant):
    top = host.file('%s/%s' % (ROOT, tenant))
    assert (top.user, top.group, top.mode) == ('www-data', 'www-data', 0o2750)
    owners = host.check_output("find %s/%s -printf '%%u:%%g %%y %%m\\n' | sort -u" % (ROOT, tenant)).splitlines()
    assert set(owners) <= {'www-data:www-data d 2750', 'www-data:www-data f 640'}, owners
    assert host.file('%s/%s/%s_creds.json' % (ROOT, tenant, tenant)).content.startswith(b'\xef\xbb\xbf{')


def test_the_corrupted_tenant_has_all_its_keys_back(host):
    tenant = '7afd5398-97c3-11eb-a990-f23c917564d6'
    assert int(host.check_output('find %s/%s/pre-key -type f | wc -l' % (ROOT, tenant))) == 300


def test_nothing_of_the_restore_is_left_in_the_sessions_root(host):
    top = host.check_output("find %s -mindepth 1 -maxdepth 1 -printf '%%f\\n' | sort" % ROOT).splitlines()
    assert [name for name in top if name != '.session_migrate.lock'] == TENANTS  # the migration's lock of old
    assert host.check_output("find %s -name '.creds.*' -o -name '.staging-*'" % ROOT) == ''
    creds = host.check_output("find %s -name '*_creds.json' | sort" % ROOT).splitlines()
    assert creds == ['%s/%s/%s_creds.json' % (ROOT, t, t) for t in TENANTS]


def test_backups_are_root_only(host):
    directory = host.file(BACKUPS)
    assert (directory.user, directory.group, directory.mode) == ('root', 'root', 0o700)
    for path in archives(host) + archives(host, 'replaced-*.tar.gz'):
        archive = host.file(path)
        assert (archive.user, archive.mode) == ('root', 0o600), path
        assert host.run('cd %s && sha256sum -c %s.sha256' % (BACKUPS, os.path.basename(path))).rc == 0, path
    assert len(archives(host)) == 2
    replaced = archives(host, 'replaced-*.tar.gz')
    assert [os.path.basename(p).rsplit('-', 1)[0] for p in replaced] == [
        'replaced-7afd5398-97c3-11eb-a990-f23c917564d6', 'replaced-tenant-base']


def test_the_emergency_tar_command_restores_a_tenant_by_hand(host):
    newest = archives(host)[-1]
    listing = host.check_output('tar -tvzf %s' % newest)
    assert 'drwxr-s--- www-data/www-data' in listing and '.rubymanager-manifest.json' in listing
    host.check_output('rm -rf /tmp/emergency && mkdir -p /tmp/emergency && '
                      'tar -xzpf %s --numeric-owner -C /tmp/emergency tenant-assembly' % newest)
    fmt = "'%P %u:%g %m %s %T@\\n'"
    by_hand = host.check_output('cd /tmp/emergency/tenant-assembly && find . -printf %s | sort' % fmt)
    live = host.check_output('cd %s/tenant-assembly && find . -printf %s | sort' % (ROOT, fmt))
    assert by_hand == live  # owners, modes, sizes and modification times to the nanosecond
    sums = host.check_output('cd /tmp/emergency && find tenant-assembly -type f -exec sha256sum {} + | sort -k 2')
    manifest = json.loads(host.check_output('tar -xzOf %s .rubymanager-manifest.json' % newest))
    expected = sorted((e['sha256'], e['path']) for e in manifest['entries']
                      if e['type'] == 'file' and e['path'].startswith('tenant-assembly/'))
    assert sorted(tuple(line.split()) for line in sums.splitlines()) == expected


def test_the_fetched_archive_is_private_on_the_controller(host):
    fetched = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'fetched')
    (hostdir,) = os.listdir(fetched)
    assert oct(os.stat(os.path.join(fetched, hostdir)).st_mode & 0o777) == '0o700'
    names = sorted(os.listdir(os.path.join(fetched, hostdir)))
    assert len(names) == 2 and names[1] == names[0] + '.sha256'
    archive = os.path.join(fetched, hostdir, names[0])
    for name in names:
        assert oct(os.stat(os.path.join(fetched, hostdir, name)).st_mode & 0o777) == '0o600'
    with open(archive, 'rb') as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    with open(archive + '.sha256') as handle:
        assert handle.read().split()[0] == digest
