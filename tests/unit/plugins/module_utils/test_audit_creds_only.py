# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""session_info's creds_only pass: the same inventory of sessions and creds as the full pass, without walking
the session trees (on real temporary trees)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import audit as audit_mod
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.audit import audit
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import BAILEYS_CSHARP
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.module_utils.test_audit import (
    IDS, NOW, make_session, mkdir, write)

INVENTORY = ('name', 'path', 'creds_file', 'creds_present', 'creds_valid', 'creds_problem', 'creds_age_seconds',
             'creds_mtime', 'location')


def inventory(result):
    return dict((key, [tuple(s[k] for k in INVENTORY) for s in result[key]])
                for key in ('sessions', 'legacy_sessions')), result['legacy_only'], result['exists']


def test_creds_only_gives_the_same_inventory_without_walking_the_trees(reachable_tmp, monkeypatch):
    # reachable by others: a world-readable file there is a real problem (the full pass reports it)
    root = mkdir(os.path.join(reachable_tmp, 'sessions'))
    legacy = mkdir(os.path.join(reachable_tmp, 'legacy'))
    make_session(root, 'ok')
    make_session(root, 'empty-creds', creds=b'')
    make_session(root, 'no-creds', creds=None)          # key folders but no creds: the gateway asks for a QR
    mkdir(os.path.join(str(root), 'onboarding'))        # a tenant waiting for its first scan
    mkdir(os.path.join(str(root), 'interrupted'))       # a commit killed before the creds file got its name
    write(os.path.join(str(root), 'interrupted', '.creds.staged'), b'{}')
    make_session(legacy, 'ok')
    make_session(legacy, 'legacy-only')
    make_session(legacy, 'broken', creds=b'[]')
    for path in (str(root), os.path.join(str(root), 'ok'), os.path.join(str(root), 'ok', 'pre-key')):
        os.chmod(path, 0o2755)                             # traversable by others ...
    os.chmod(os.path.join(str(root), 'ok', 'pre-key', '0.json'), 0o644)  # ... a problem only the full pass sees
    full = audit(str(root), [str(legacy)], BAILEYS_CSHARP, ids=IDS, now=NOW)

    walked = []
    real_walk = audit_mod._walk

    def spy(fd, rel, *args, **kwargs):
        walked.append(rel)
        return real_walk(fd, rel, *args, **kwargs)
    monkeypatch.setattr(audit_mod, '_walk', spy)
    fast = audit(str(root), [str(legacy)], BAILEYS_CSHARP, ids=IDS, now=NOW, creds_only=True)

    assert walked == []
    assert inventory(fast) == inventory(full)
    assert fast['legacy_only'] == ['legacy-only']
    by_name = dict((s['name'], s) for s in fast['sessions'])
    assert by_name['no-creds']['creds_problem'].startswith('creds file no-creds_creds.json is missing while key')
    assert 'a migration was interrupted' in by_name['interrupted']['creds_problem']
    assert by_name['ok']['files'] is None and by_name['ok']['bytes'] is None
    assert by_name['ok']['problems'] == []
    assert any('world-readable' in p for p in full['problems'])
    assert not any('world-readable' in p for p in fast['problems'])
