# -*- coding: utf-8 -*-
"""What an operator checks after the role ran: the sessions root and tenant folders, owned and moded right."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

ROOT = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'
TENANTS = ['7afd5398-97c3-11eb-a990-f23c917564d6', 'tenant-onboarding']


def test_sessions_root_owner_group_and_setgid_mode(host):
    root = host.file(ROOT)
    assert root.is_directory
    assert (root.user, root.group) == ('www-data', 'www-data')
    assert root.mode == 0o2755


@pytest.mark.parametrize('tenant', TENANTS)
def test_tenant_directories_precreated(host, tenant):
    d = host.file('%s/%s' % (ROOT, tenant))
    assert d.is_directory
    assert (d.user, d.group) == ('www-data', 'www-data')
    assert d.mode == 0o2750


@pytest.mark.parametrize('parent', ['/home/RubyManager', '/home/RubyManager/web',
                                    '/home/RubyManager/web/whatsapp.rubymanager.app'])
def test_parents_created_root_owned_and_not_chowned(host, parent):
    d = host.file(parent)
    assert d.is_directory
    assert (d.user, d.group) == ('root', 'root')
    assert d.mode == 0o755


def test_home_itself_untouched(host):
    home = host.file('/home')
    assert (home.user, home.group, home.mode) == ('root', 'root', 0o755)


def test_new_files_and_folders_inherit_the_group(host):
    probe = ROOT + '/probe-tenant'
    # Created as root, like a migration run by hand: setgid on the root hands them the www-data group.
    host.run_expect([0], 'rm -rf %s && mkdir %s && touch %s/probe_creds.json' % (probe, probe, probe))
    try:
        assert host.file(probe).group == 'www-data'
        assert host.file(probe).mode & 0o2000, 'subdirectories inherit the setgid bit'
        assert host.file(probe + '/probe_creds.json').group == 'www-data'
    finally:
        host.run('rm -rf %s' % probe)


def test_service_user_can_write_its_sessions(host):
    tenant = '%s/%s' % (ROOT, TENANTS[0])
    cmd = host.run("su -s /bin/sh -c 'echo {} > %s/probe.json && cat %s/probe.json' www-data" % (tenant, tenant))
    host.run('rm -f %s/probe.json' % tenant)
    assert cmd.rc == 0, cmd.stderr
    assert cmd.stdout.strip() == '{}'
