# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""session_info reports real exposure only: a world-readable path is a problem when other users can traverse every
directory down to it, never below a directory they cannot pass (real trees, real modes)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.audit import (
    audit, others_can_traverse)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import BAILEYS_CSHARP

IDS = (os.getuid(), os.getgid())
CREDS = b'{"me": {"id": "1@s.whatsapp.net"}}'


def session(root, name, dir_mode, file_mode):
    """``<root>/<name>/`` with its creds file and ``pre-key/1.json``; directories ``dir_mode``, files ``file_mode``."""
    path = os.path.join(root, name)
    os.makedirs(os.path.join(path, 'pre-key'))
    for rel, data in (('%s_creds.json' % name, CREDS), ('pre-key/1.json', b'k' * 164)):
        with open(os.path.join(path, rel), 'wb') as handle:
            handle.write(data)
        os.chmod(os.path.join(path, rel), file_mode)
    for rel in ('pre-key', ''):
        os.chmod(os.path.join(path, rel), dir_mode)
    return path


def exposed(root):
    """session name -> its world-readable problem, or None."""
    result = audit(root, [], BAILEYS_CSHARP, ids=IDS)
    return dict((s['name'], next((p for p in s['problems'] if 'world-readable' in p), None)) for s in result['sessions'])


def test_others_can_traverse(reachable_tmp, tmp_path):
    assert others_can_traverse('/')
    assert others_can_traverse(reachable_tmp)
    inner = os.path.join(reachable_tmp, 'a', 'b')
    os.makedirs(inner)
    os.chmod(os.path.join(reachable_tmp, 'a'), 0o751)
    os.chmod(inner, 0o700)
    assert others_can_traverse(os.path.join(reachable_tmp, 'a'))
    assert not others_can_traverse(inner)                      # the last directory itself counts
    os.chmod(inner, 0o711)
    assert others_can_traverse(inner)
    os.chmod(os.path.join(reachable_tmp, 'a'), 0o750)          # a parent others cannot pass
    assert not others_can_traverse(inner)
    # pytest's tmp_path sits below a 0700 directory
    assert not others_can_traverse(str(tmp_path))
    # a symlink is resolved: what counts is the real path
    os.symlink(str(tmp_path), os.path.join(reachable_tmp, 'link'))
    assert not others_can_traverse(os.path.join(reachable_tmp, 'link'))
    assert not others_can_traverse(os.path.join(reachable_tmp, 'missing'))


def test_world_readable_files_below_a_closed_tenant_directory_are_not_a_problem(reachable_tmp):
    """The role's layout: root 2755, tenant directories 2750. Files a gateway wrote 0644 (no UMask) cannot be read
    by other users: they cannot enter the tenant directory."""
    root = os.path.join(reachable_tmp, 'sessions')
    os.mkdir(root)
    os.chmod(root, 0o2755)
    session(root, 'closed', 0o2750, 0o644)
    session(root, 'open', 0o2755, 0o644)           # listable and traversable: every file is exposed
    session(root, 'passable', 0o2751, 0o644)       # traversable, not listable: the files are still exposed
    session(root, 'private', 0o2755, 0o640)        # listable, but nothing to read in it... except the listing
    found = exposed(root)
    assert found['closed'] is None
    # ./, open_creds.json, pre-key/ and pre-key/1.json (three are named, in directory order)
    assert found['open'].startswith('4 world-readable path(s) (./, ')
    assert found['open'].endswith(', ...): session files hold private keys')
    assert found['passable'].startswith('2 world-readable path(s) (')
    named = found['passable'].split(' (', 1)[1].split('):')[0].split(', ')
    assert set(named) == {'passable_creds.json', 'pre-key/1.json'}
    assert found['private'] == '2 world-readable path(s) (./, pre-key/): session files hold private keys'


def test_a_closed_sessions_root_or_parent_protects_everything_in_it(reachable_tmp):
    parent = os.path.join(reachable_tmp, 'app')
    root = os.path.join(parent, 'sessions')
    os.makedirs(root)
    os.chmod(parent, 0o755)
    os.chmod(root, 0o2755)
    session(root, 'open', 0o2755, 0o644)
    assert exposed(root)['open'] is not None
    os.chmod(root, 0o2750)                       # the sessions root closed to others
    assert exposed(root)['open'] is None
    os.chmod(root, 0o2755)
    os.chmod(parent, 0o700)                      # a parent of the root closed to others
    assert exposed(root)['open'] is None
    os.chmod(parent, 0o711)
    assert exposed(root)['open'] is not None


def test_a_directory_deeper_down_that_others_cannot_pass_protects_its_content(reachable_tmp):
    root = os.path.join(reachable_tmp, 'sessions')
    os.mkdir(root)
    os.chmod(root, 0o2751)
    path = session(root, 't', 0o2751, 0o640)
    os.chmod(os.path.join(path, 'pre-key', '1.json'), 0o644)
    os.chmod(os.path.join(path, 'pre-key'), 0o2754)    # o+r without o+x: listable by name, not enterable
    assert exposed(root)['t'] == '1 world-readable path(s) (pre-key/): session files hold private keys'
