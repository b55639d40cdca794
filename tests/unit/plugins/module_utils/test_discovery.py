# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import discovery
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    BAILEYS_CSHARP, BAILEYS_MULTI_FILE)


def session(root, name, creds='{"me": 1}', creds_name=None, mtime=None):
    path = root / name
    path.mkdir(parents=True)
    creds_path = path / (creds_name or '%s_creds.json' % name)
    creds_path.write_text(creds)
    if mtime is not None:
        os.utime(str(creds_path), (mtime, mtime))
    return path


def test_expand_roots_globs_sorted_missing_skipped_and_dest_excluded(tmp_path):
    dest = tmp_path / 'app' / 'sessions'
    dest.mkdir(parents=True)
    for rel in ('releases/3/sessions', 'releases/10/sessions', 'releases/2/sessions', 'old'):
        (tmp_path / rel).mkdir(parents=True)
    (tmp_path / 'link-to-dest').symlink_to(dest)
    (tmp_path / 'afile').write_text('x')
    patterns = [str(tmp_path / 'old') + '/', str(tmp_path / 'missing'), str(tmp_path / 'releases/*/sessions/'),
                str(dest), str(dest) + '/', str(tmp_path / 'link-to-dest'), str(tmp_path / 'app/*'),
                str(tmp_path / 'afile'), str(tmp_path / 'nomatch*'), str(tmp_path / 'old'), str(dest / 'x')]
    (dest / 'x').mkdir()
    roots, skipped = discovery.expand_roots(patterns, str(dest))
    assert [root.path for root in roots] == [
        str(tmp_path / 'old'), str(tmp_path / 'releases/10/sessions'), str(tmp_path / 'releases/2/sessions'),
        str(tmp_path / 'releases/3/sessions')]
    reasons = dict(skipped)
    assert reasons[str(tmp_path / 'missing')] == 'does not exist'
    assert reasons[str(tmp_path / 'afile')] == 'not a directory'
    assert reasons[str(tmp_path / 'nomatch*')] == 'does not exist (and nothing matches it as a glob)'
    for excluded in (str(dest), str(tmp_path / 'link-to-dest'), str(dest / 'x')):
        assert 'is the sessions root %s or inside it' % dest in reasons[excluded]


def test_dest_reached_through_a_symlinked_root_is_never_a_legacy_root(tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    (tmp_path / 'dest').symlink_to(real)
    roots, _skipped = discovery.expand_roots([str(real), str(tmp_path / '*')], str(tmp_path / 'dest'))
    assert roots == []


def test_discovery_finds_sessions_with_creds_only_and_warns_about_unsafe_names(tmp_path):
    root = tmp_path / 'legacy'
    session(root, 'b')
    session(root, 'a')
    (root / 'no-creds').mkdir()
    (root / 'wwwroot').mkdir()
    session(root, '.hidden')
    (root / 'a\\store.db').write_text('db')
    (root / 'file.txt').write_text('x')
    session(tmp_path / 'elsewhere', 'linked')
    (root / 'linked').symlink_to(tmp_path / 'elsewhere' / 'linked')
    roots, _skipped = discovery.expand_roots([str(root)], str(tmp_path / 'dest'))
    found, warnings = discovery.find_candidates(roots, BAILEYS_CSHARP)
    assert list(found) == ['a', 'b']
    cand = found['a'][0]
    assert cand.path == str(root / 'a') and cand.creds == 'a_creds.json' and cand.creds_st.st_size == 9
    assert any('/.hidden: ' in w and 'not a safe session name' in w for w in warnings)
    assert any('linked' in w and 'symlink' in w for w in warnings)
    assert not any('no-creds' in w or 'wwwroot' in w for w in warnings)


def test_explicit_names_return_dirs_without_creds_too(tmp_path):
    root = tmp_path / 'legacy'
    session(root, 'a')
    (root / 'empty').mkdir()
    roots, _skipped = discovery.expand_roots([str(root)], str(tmp_path / 'dest'))
    found, _warnings = discovery.find_candidates(roots, BAILEYS_CSHARP, names=['a', 'empty', 'gone'])
    assert list(found) == ['a', 'empty']
    assert found['empty'][0].creds_st is None
    assert discovery.creds_problem_of(found['empty'][0]) == 'no creds file empty_creds.json'


def test_multi_file_layout_and_creds_file_override(tmp_path):
    root = tmp_path / 'auth'
    session(root, 'node1', creds_name='creds.json')
    session(root, 'cs1')  # a BaileysCSharp session: no creds.json
    roots, _skipped = discovery.expand_roots([str(root)], str(tmp_path / 'dest'))
    found, _warnings = discovery.find_candidates(roots, BAILEYS_MULTI_FILE)
    assert list(found) == ['node1']
    found, _warnings = discovery.find_candidates(roots, BAILEYS_CSHARP, creds_file='creds.json')
    assert list(found) == ['node1']
    found, _warnings = discovery.find_candidates(roots, BAILEYS_MULTI_FILE, creds_file='{name}_creds.json')
    assert list(found) == ['cs1']


def test_same_session_in_several_roots_in_root_order_and_prefer(tmp_path):
    for i, mtime in ((1, 1000), (2, 3000), (3, 2000)):
        session(tmp_path / ('r%d' % i), 's', mtime=mtime)
    roots, _skipped = discovery.expand_roots([str(tmp_path / 'r1'), str(tmp_path / 'r*')], str(tmp_path / 'dest'))
    found, _warnings = discovery.find_candidates(roots, BAILEYS_CSHARP)
    assert [c.root.path for c in found['s']] == [str(tmp_path / p) for p in ('r1', 'r2', 'r3')]
    first = discovery.order_candidates(found['s'], 'first')
    newest = discovery.order_candidates(found['s'], 'newest')
    assert [c.root.path[-2:] for c in first] == ['r1', 'r2', 'r3']
    assert [c.root.path[-2:] for c in newest] == ['r2', 'r3', 'r1']
    with pytest.raises(ValueError):
        discovery.order_candidates(found['s'], 'oldest')


@pytest.mark.parametrize('layout', [BAILEYS_CSHARP, BAILEYS_MULTI_FILE], ids=lambda layout: layout.name)
@pytest.mark.parametrize('creds,problem', [
    ('{"a": 1}', None), ('\ufeff{"a": 1}', 'BOM'), ('', 'empty'), ('nope', 'not JSON'), ('[1]', 'list'),
    ('{}', 'empty JSON object')])
def test_creds_problem_of_candidate(tmp_path, layout, creds, problem):
    session(tmp_path / 'r', 's', creds=creds, creds_name=layout.creds_pattern.replace('{name}', 's'))
    roots, _skipped = discovery.expand_roots([str(tmp_path / 'r')], str(tmp_path / 'dest'))
    found, _warnings = discovery.find_candidates(roots, layout)
    assert found['s'][0].layout is layout
    got = discovery.creds_problem_of(found['s'][0])
    if problem == 'BOM':  # BaileysCSharp strips a byte order mark, Node.js Baileys' JSON.parse fails on it
        problem = None if layout is BAILEYS_CSHARP else 'UTF-8 byte order mark'
    assert (got is None) if problem is None else (problem in got)


def test_newer_bom_copy_never_wins_under_multi_file(tmp_path):
    """prefer: newest takes the newest VALID copy: a newer creds.json with a BOM is skipped for the Node layout,
    taken for the C# layout (the order and the skip rule session_migrate applies)."""
    good = session(tmp_path / 'r1', 's', creds_name='creds.json', mtime=1000)
    session(tmp_path / 'r2', 's', creds='\ufeff{"me": 1}', creds_name='creds.json', mtime=2000)
    (good / 's_creds.json').write_text('{"me": 1}')
    os.utime(str(good / 's_creds.json'), (1000, 1000))
    (tmp_path / 'r2' / 's' / 's_creds.json').write_text('\ufeff{"me": 1}')
    os.utime(str(tmp_path / 'r2' / 's' / 's_creds.json'), (2000, 2000))
    roots, _skipped = discovery.expand_roots([str(tmp_path / 'r1'), str(tmp_path / 'r2')], str(tmp_path / 'dest'))
    for layout, winner in ((BAILEYS_MULTI_FILE, 'r1'), (BAILEYS_CSHARP, 'r2')):
        found, _warnings = discovery.find_candidates(roots, layout)
        ordered = discovery.order_candidates(found['s'], 'newest')
        assert [c.root.path[-2:] for c in ordered] == ['r2', 'r1']
        usable = [c for c in ordered if discovery.creds_problem_of(c) is None]
        assert usable[0].root.path[-2:] == winner, layout.name


def test_creds_over_16_mib_is_too_large_and_2_mib_is_fine(tmp_path):
    session(tmp_path / 'r', 'big', creds='{"a": "%s"}' % ('x' * (2 * 1024 * 1024)))
    with open(str(session(tmp_path / 'r', 'huge') / 'huge_creds.json'), 'w') as f:
        f.write('{"a": "%s"}' % ('x' * (16 * 1024 * 1024)))
    roots, _skipped = discovery.expand_roots([str(tmp_path / 'r')], str(tmp_path / 'dest'))
    found, _warnings = discovery.find_candidates(roots, BAILEYS_CSHARP)
    assert discovery.creds_problem_of(found['big'][0]) is None
    assert discovery.creds_problem_of(found['huge'][0]).startswith('creds file is too large: over 16777216 bytes')


def test_creds_problem_of_needs_a_layout(tmp_path):
    session(tmp_path / 'r', 's')
    roots, _skipped = discovery.expand_roots([str(tmp_path / 'r')], str(tmp_path / 'dest'))
    found, _warnings = discovery.find_candidates(roots, BAILEYS_CSHARP)
    bare = found['s'][0]._replace(layout=None)
    with pytest.raises(ValueError, match='layout'):
        discovery.creds_problem_of(bare)
    assert discovery.creds_problem_of(bare, BAILEYS_MULTI_FILE) is None


def node_session(root, name):
    path = session(root, name, creds_name='creds.json')
    (path / 'pre-key-1.json').write_text('{}')
    return path


def test_other_layout_sessions_are_found_and_named(tmp_path):
    legacy = tmp_path / 'legacy'
    node_session(legacy, 'n1')
    node_session(legacy, 'n2')
    (legacy / 'empty').mkdir()
    (legacy / 'looks-like-creds').mkdir()
    (legacy / 'looks-like-creds' / 'creds.json').mkdir()  # not a regular file: not a session
    (legacy / 'link').symlink_to(legacy / 'n1')
    roots, _skipped = discovery.expand_roots([str(legacy)], str(tmp_path / 'dest'))
    found, _warnings = discovery.find_candidates(roots, BAILEYS_CSHARP)
    assert not found
    others = discovery.find_other_layout_sessions(roots, BAILEYS_CSHARP)
    assert others == [('baileys_multi_file', str(legacy / 'n1')), ('baileys_multi_file', str(legacy / 'n2'))]
    assert discovery.find_other_layout_sessions(roots, BAILEYS_CSHARP, names=['n2', 'x']) == [
        ('baileys_multi_file', str(legacy / 'n2'))]
    error, warning = discovery.check_layout(roots, BAILEYS_CSHARP, found)
    assert warning is None
    assert error == ('layout is baileys_csharp, but the legacy roots hold no session of that layout and 2 of '
                     'layout baileys_multi_file (%s, %s): set layout: baileys_multi_file (nothing of theirs is '
                     'used with layout: baileys_csharp)' % (legacy / 'n1', legacy / 'n2'))
    # the right layout: nothing to say
    found, _warnings = discovery.find_candidates(roots, BAILEYS_MULTI_FILE)
    assert {'n1', 'n2'} <= set(found)
    assert discovery.check_layout(roots, BAILEYS_MULTI_FILE, found) == (None, None)


def test_csharp_sessions_under_the_node_layout_and_mixed_roots(tmp_path):
    legacy, other = tmp_path / 'legacy', tmp_path / 'other'
    session(legacy, 'c1')
    roots, _skipped = discovery.expand_roots([str(legacy)], str(tmp_path / 'dest'))
    found, _warnings = discovery.find_candidates(roots, BAILEYS_MULTI_FILE)
    error, warning = discovery.check_layout(roots, BAILEYS_MULTI_FILE, found)
    assert 'set layout: baileys_csharp' in error and str(legacy / 'c1') in error and warning is None
    # mixed: sessions of both layouts (in one root or in several): a warning, no error
    node_session(other, 'n1')
    node_session(legacy, 'n2')
    roots, _skipped = discovery.expand_roots([str(legacy), str(other)], str(tmp_path / 'dest'))
    found, _warnings = discovery.find_candidates(roots, BAILEYS_CSHARP)
    assert list(found) == ['c1']
    error, warning = discovery.check_layout(roots, BAILEYS_CSHARP, found)
    assert error is None
    assert warning == ('the legacy roots hold sessions of layout baileys_csharp and also 2 of layout '
                       'baileys_multi_file (%s, %s): those are not used with layout: baileys_csharp; handle them '
                       'with layout: baileys_multi_file' % (legacy / 'n2', other / 'n1'))


def test_named_sessions_without_creds_do_not_count_as_the_chosen_layout(tmp_path):
    legacy = tmp_path / 'legacy'
    node_session(legacy, 'n1')
    roots, _skipped = discovery.expand_roots([str(legacy)], str(tmp_path / 'dest'))
    found, _warnings = discovery.find_candidates(roots, BAILEYS_CSHARP, names=['n1'])
    assert found['n1'][0].creds_st is None  # the directory is returned, without a creds file of the layout
    error, _warning = discovery.check_layout(roots, BAILEYS_CSHARP, found, names=['n1'])
    assert 'set layout: baileys_multi_file' in error


def test_a_directory_with_both_creds_files_is_a_session_of_the_chosen_layout(tmp_path):
    legacy = tmp_path / 'legacy'
    path = session(legacy, 'both')
    (path / 'creds.json').write_text('{"me": 1}')
    roots, _skipped = discovery.expand_roots([str(legacy)], str(tmp_path / 'dest'))
    for layout in (BAILEYS_CSHARP, BAILEYS_MULTI_FILE):
        assert discovery.find_other_layout_sessions(roots, layout) == []


def test_creds_symlink_is_not_read(tmp_path):
    (tmp_path / 'r' / 's').mkdir(parents=True)
    (tmp_path / 'secret').write_text('{"a": 1}')
    (tmp_path / 'r' / 's' / 's_creds.json').symlink_to(tmp_path / 'secret')
    roots, _skipped = discovery.expand_roots([str(tmp_path / 'r')], str(tmp_path / 'dest'))
    found, _warnings = discovery.find_candidates(roots, BAILEYS_CSHARP)
    assert 'not a regular file' in discovery.creds_problem_of(found['s'][0])


def test_dest_state_and_list_dest_sessions(tmp_path):
    dest = tmp_path / 'dest'
    session(dest, 'valid')
    (dest / 'empty').mkdir()
    (dest / 'partial').mkdir()
    (dest / 'partial' / 'pre-key').mkdir()
    session(dest, 'zero', creds='')
    (dest / 'afile').write_text('x')
    (dest / 'alink').symlink_to(dest / 'valid')
    session(dest, '.staging-x')
    session(dest, 'corrupt', creds='{"truncated": ')
    fd = os.open(str(dest), os.O_RDONLY)
    try:
        states = dict((name, discovery.dest_state(fd, name, '%s_creds.json' % name, BAILEYS_CSHARP).state)
                      for name in ('valid', 'empty', 'partial', 'zero', 'afile', 'alink', 'missing', 'corrupt'))
        assert discovery.list_dest_sessions(fd, BAILEYS_CSHARP) == ['valid']
    finally:
        os.close(fd)
    assert states == {'valid': discovery.VALID, 'empty': discovery.EMPTY, 'partial': discovery.INVALID,
                      'zero': discovery.INVALID, 'afile': discovery.NOT_DIR, 'alink': discovery.NOT_DIR,
                      'missing': discovery.ABSENT, 'corrupt': discovery.CORRUPT}
