# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    BAILEYS_CSHARP, BAILEYS_MULTI_FILE, DEFAULT_LAYOUT, LAYOUT_NAMES, LAYOUTS, MAX_CREDS_BYTES, UTF8_BOM,
    creds_filename, creds_problem, get_layout, split_backslash_name)


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


@pytest.mark.parametrize('layout', [BAILEYS_CSHARP, BAILEYS_MULTI_FILE], ids=lambda layout: layout.name)
def test_creds_problem(layout):
    good = json.dumps({'noiseKey': {'private': 'x'}, 'registrationId': 42}).encode()
    assert creds_problem(good, layout) is None
    assert 'empty' in creds_problem(b'', layout)
    assert 'not JSON' in creds_problem(b'{"a":', layout)
    assert 'list' in creds_problem(b'[1, 2]', layout)
    assert 'empty JSON object' in creds_problem(b'{}', layout)
    assert 'not UTF-8' in creds_problem(b'\xff\xfe{}', layout)


def test_utf8_bom_is_valid_only_where_the_gateway_strips_it():
    good = json.dumps({'noiseKey': {'private': 'x'}}).encode()
    assert BAILEYS_CSHARP.creds_bom_allowed and not BAILEYS_MULTI_FILE.creds_bom_allowed
    assert creds_problem(UTF8_BOM + good, BAILEYS_CSHARP) is None
    problem = creds_problem(UTF8_BOM + good, BAILEYS_MULTI_FILE)
    assert problem.startswith('creds file starts with a UTF-8 byte order mark, which layout baileys_multi_file '
                              'does not read') and 'QR' in problem
    # a BOM in front of something that is not creds stays invalid for the C# layout too
    assert 'empty JSON object' in creds_problem(UTF8_BOM + b'{}', BAILEYS_CSHARP)


def test_creds_size_bound_is_16_mib():
    assert MAX_CREDS_BYTES == 16 * 1024 * 1024
    # 2 MiB creds (refused by the old 1 MiB bound) are valid: the libraries read them
    big = json.dumps({'noiseKey': 'x' * (2 * 1024 * 1024)}).encode()
    assert creds_problem(big, BAILEYS_CSHARP) is None
    at_bound = b'{"a":"' + b'x' * (MAX_CREDS_BYTES - 8) + b'"}'
    assert len(at_bound) == MAX_CREDS_BYTES and creds_problem(at_bound, BAILEYS_MULTI_FILE) is None
    # read_file_at hands over one byte more than the bound when the file is larger
    problem = creds_problem(at_bound + b' ', BAILEYS_MULTI_FILE)
    assert problem.startswith('creds file is too large: over 16777216 bytes (16 MiB)')
