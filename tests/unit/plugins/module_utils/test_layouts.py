# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    BAILEYS_CSHARP, BAILEYS_MULTI_FILE, DEFAULT_LAYOUT, LAYOUT_NAMES, LAYOUTS, UTF8_BOM, creds_filename,
    creds_problem, get_layout, split_backslash_name)


def test_table_holds_both_layouts_in_one_place():
    assert LAYOUT_NAMES == ('baileys_csharp', 'baileys_multi_file')
    assert DEFAULT_LAYOUT == 'baileys_csharp'
    assert get_layout('baileys_csharp') is BAILEYS_CSHARP is LAYOUTS['baileys_csharp']
    assert get_layout('baileys_multi_file') is BAILEYS_MULTI_FILE
    assert 'pre-key' in BAILEYS_CSHARP.keystore_dirs and 'app-state-sync-version' in BAILEYS_CSHARP.keystore_dirs
    assert set(BAILEYS_CSHARP.keystore_aliases) == {'pre-keys', 'session-keys', 'sender-keys'}
    assert BAILEYS_CSHARP.backslash_names and BAILEYS_CSHARP.sidecar_patterns == ('store*.db',)
    assert not BAILEYS_MULTI_FILE.backslash_names and not BAILEYS_MULTI_FILE.sidecar_patterns
    assert {'lid-mapping', 'device-list', 'tctoken', 'identity-key', 'pre-key'} <= set(BAILEYS_MULTI_FILE.flat_prefixes)


def test_unknown_layout_lists_choices():
    with pytest.raises(ValueError, match='baileys_csharp, baileys_multi_file'):
        get_layout('signal')


def test_creds_filename_defaults_and_override():
    assert creds_filename(BAILEYS_CSHARP, 't1') == 't1_creds.json'
    assert creds_filename(BAILEYS_MULTI_FILE, 't1') == 'creds.json'
    assert creds_filename(BAILEYS_CSHARP, 't1', 'creds.json') == 'creds.json'
    assert creds_filename(BAILEYS_MULTI_FILE, 't1', '{name}.auth.json') == 't1.auth.json'
    for bad in ('sub/{name}.json', '..'):
        with pytest.raises(ValueError, match='not a plain file name'):
            creds_filename(BAILEYS_CSHARP, 't1', bad)


@pytest.mark.parametrize('name,parts', [
    ('pre-key\\7.json', ('pre-key', '7.json')),
    ('app-state-sync-version\\critical_block.json', ('app-state-sync-version', 'critical_block.json')),
    ('a\\b\\c.json', ('a', 'b', 'c.json')),
    ('plain.json', None), ('\\x.json', None), ('x\\', None), ('..\\x.json', None), ('a\\\\b', None),
])
def test_split_backslash_name(name, parts):
    assert split_backslash_name(name) == parts


def test_creds_problem():
    good = json.dumps({'noiseKey': {'private': 'x'}, 'registrationId': 42}).encode()
    assert creds_problem(good) is None
    assert creds_problem(UTF8_BOM + good) is None
    assert 'empty' in creds_problem(b'')
    assert 'not JSON' in creds_problem(b'{"a":')
    assert 'list' in creds_problem(b'[1, 2]')
    assert 'empty JSON object' in creds_problem(b'{}')
    assert 'not UTF-8' in creds_problem(b'\xff\xfe{}')
    assert 'larger' in creds_problem(b'{' + b' ' * (2 * 1024 * 1024) + b'}')
