# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fix_ownership on real trees: re-owns inside, never follows symlinks out, keeps modes and content."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.ownership import (
    OwnershipError, fix_ownership)

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason='re-owning to another user needs root')
UID, GID = 33, 33  # www-data on Debian; the ids need not exist for chown


def owner(path):
    """(uid, gid) of ``path`` itself."""
    st = os.lstat(str(path))
    return st.st_uid, st.st_gid


@pytest.fixture
def tree(tmp_path):
    """A sessions root with a tenant, key files, a setgid executable and symlinks out of the root."""
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'secret').write_text('secret')
    (outside / 'dir').mkdir()
    root = tmp_path / 'sessions'
    tenant = root / 'tenant-a'
    (tenant / 'pre-key').mkdir(parents=True)
    (tenant / 'tenant-a_creds.json').write_text('{"me": {}}')
    os.chmod(str(tenant / 'tenant-a_creds.json'), 0o600)
    (tenant / 'pre-key' / '7.json').write_text('{}')
    (tenant / 'tool').write_text('#!/bin/sh\n')
    os.chmod(str(tenant / 'tool'), 0o6755)
    os.symlink(str(outside / 'secret'), str(tenant / 'link-file'))
    os.symlink(str(outside / 'dir'), str(tenant / 'link-dir'))
    os.mkfifo(str(tenant / 'fifo'))
    return root, outside


@ROOT_ONLY
def test_reowns_everything_inside_and_nothing_outside(tree):
    root, outside = tree
    report = fix_ownership(str(root), UID, GID)
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            assert owner(name) == (UID, GID), name
    assert owner(outside / 'secret') == (0, 0)
    assert owner(outside / 'dir') == (0, 0)
    assert report.reowned == report.checked == 9
    assert '.' in report.sample and 'tenant-a/tenant-a_creds.json' in report.sample


@ROOT_ONLY
def test_keeps_modes_content_and_setid_bits(tree):
    root, dummy = tree
    creds = root / 'tenant-a' / 'tenant-a_creds.json'
    fix_ownership(str(root), UID, GID)
    assert stat.S_IMODE(os.stat(str(creds)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(root / 'tenant-a' / 'tool')).st_mode) == 0o6755
    assert creds.read_text() == '{"me": {}}'


@ROOT_ONLY
def test_second_run_changes_nothing(tree):
    root, dummy = tree
    fix_ownership(str(root), UID, GID)
    again = fix_ownership(str(root), UID, GID)
    assert again.reowned == 0 and again.sample == []


@ROOT_ONLY
def test_check_mode_counts_and_changes_nothing(tree):
    root, dummy = tree
    report = fix_ownership(str(root), UID, GID, check_mode=True)
    assert report.reowned == 9
    assert owner(root / 'tenant-a' / 'tenant-a_creds.json') == (0, 0)


@ROOT_ONLY
def test_hard_link_to_outside_file_is_left_alone(tree):
    root, outside = tree
    os.link(str(outside / 'secret'), str(root / 'tenant-a' / 'shadow'))
    report = fix_ownership(str(root), UID, GID)
    assert owner(outside / 'secret') == (0, 0)
    assert any(line.startswith('tenant-a/shadow: has 2 hard links') for line in report.skipped)


@ROOT_ONLY
def test_sample_is_bounded_on_large_trees(tmp_path):
    root = tmp_path / 'sessions'
    root.mkdir()
    for i in range(500):
        (root / ('f%d' % i)).write_text('x')
    report = fix_ownership(str(root), UID, GID)
    assert report.reowned == 501
    assert len(report.sample) == 20


def test_root_that_is_a_symlink_is_refused(tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    os.symlink(str(real), str(tmp_path / 'sessions'))
    with pytest.raises(OwnershipError, match='sessions is a symlink; point the sessions root at the real directory'):
        fix_ownership(str(tmp_path / 'sessions'), os.geteuid(), os.getegid())


def test_missing_root_names_the_path(tmp_path):
    with pytest.raises(OwnershipError, match='cannot open .*nope: No such file or directory'):
        fix_ownership(str(tmp_path / 'nope'), os.geteuid(), os.getegid())


def test_own_files_need_no_change(tree):
    root, dummy = tree
    report = fix_ownership(str(root), os.geteuid(), os.getegid())
    assert report.reowned == 0
