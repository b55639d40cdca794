# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the backup and restore tests: real session trees and snapshots of them."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import grp
import json
import os
import pwd

from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.module_utils.faultlib import (
    tree_state)

IS_ROOT = os.geteuid() == 0


def service_ids():
    """uid/gid the sessions belong to: www-data when running as root (so owners really differ from the
    runner's), else the current user."""
    if IS_ROOT:
        try:
            return pwd.getpwnam('www-data').pw_uid, grp.getgrnam('www-data').gr_gid
        except KeyError:
            return 65534, 65534
    return os.getuid(), os.getgid()


def make_session(root, name, prekeys=5, mtime=1700000000, creds=None):
    """A BaileysCSharp-shaped session: ``<name>_creds.json`` and ``pre-key/``/``session/`` folders, dirs
    ``2750``, files ``0640``, owned by the service ids, with distinct nanosecond mtimes."""
    uid, gid = service_ids()
    top = os.path.join(str(root), name)
    os.makedirs(os.path.join(top, 'pre-key'))
    os.makedirs(os.path.join(top, 'session'))
    files = {name + '_creds.json': creds if creds is not None else
             b'\xef\xbb\xbf' + json.dumps({'me': {'id': name}, 'noiseKey': 'k' * 64}).encode()}
    for i in range(prekeys):
        files['pre-key/%d.json' % i] = json.dumps({'keyId': i, 'name': name}).encode()
    files['session/27665245067.0.json'] = b'{"record": "%s"}' % name.encode()
    for i, (rel, data) in enumerate(sorted(files.items())):
        path = os.path.join(top, rel)
        with open(path, 'wb') as handle:
            handle.write(data)
        os.chmod(path, 0o640)
        os.utime(path, ns=(mtime * 10 ** 9 + i * 1001, mtime * 10 ** 9 + i * 1001))
    for rel in ('pre-key', 'session', ''):
        path = os.path.join(top, rel) if rel else top
        os.chmod(path, 0o2750)
    if IS_ROOT:
        for dirpath, dirnames, filenames in os.walk(top):
            for entry in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
                os.lchown(entry, uid, gid)
    for rel in ('pre-key', 'session', ''):
        path = os.path.join(top, rel) if rel else top
        os.utime(path, ns=(mtime * 10 ** 9 + 7, mtime * 10 ** 9 + 7))
    return top


def content_state(path):
    """``tree_state`` without ctimes and inodes: what a restore must bring back exactly."""
    return tree_state(path, ctime=False)
