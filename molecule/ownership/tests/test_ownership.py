# -*- coding: utf-8 -*-
"""After the role ran over a hand-copied sessions root: everything inside is www-data's, nothing outside moved."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

ROOT = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'
TENANT = ROOT + '/7afd5398-97c3-11eb-a990-f23c917564d6'


def owner(host, path):
    """Owner, group and octal mode of ``path`` itself (symlinks not followed)."""
    return host.check_output("stat -c '%%U:%%G %%a' %s" % path)


@pytest.mark.parametrize('path', [
    ROOT, TENANT, TENANT + '/pre-key', TENANT + '/pre-key/1.json', TENANT + '/session',
    TENANT + '/session/27665245067.0.json', TENANT + '/7afd5398-97c3-11eb-a990-f23c917564d6_creds.json',
    TENANT + '/fifo',
])
def test_everything_inside_is_reowned(host, path):
    assert owner(host, path).split()[0] == 'www-data:www-data'


def test_modes_are_kept(host):
    assert owner(host, ROOT).split()[1] == '2755'
    assert owner(host, TENANT + '/7afd5398-97c3-11eb-a990-f23c917564d6_creds.json').split()[1] == '600'
    assert owner(host, TENANT + '/helper.sh').split()[1] == '6755', 'setuid/setgid put back after chown'


def test_content_is_kept(host):
    creds = host.file(TENANT + '/7afd5398-97c3-11eb-a990-f23c917564d6_creds.json')
    assert creds.content == b'\xef\xbb\xbf{"noiseKey":{}}'


@pytest.mark.parametrize('link', [TENANT + '/link-to-secret', TENANT + '/link-to-dir', ROOT + '/link-to-outside'])
def test_symlinks_reowned_themselves(host, link):
    assert host.file(link).is_symlink
    assert owner(host, link).split()[0] == 'www-data:www-data'


@pytest.mark.parametrize('target,expected', [
    ('/srv/outside', 'root:root 755'),
    ('/srv/outside/secret.txt', 'root:root 600'),
    ('/srv/outside/dir', 'root:root 600'),
    ('/srv/outside/hardlinked.txt', 'root:root 640'),
])
def test_nothing_outside_the_root_changed(host, target, expected):
    assert owner(host, target) == expected


def test_hard_link_left_alone(host):
    assert owner(host, TENANT + '/hardlink.txt').split()[0] == 'root:root'
