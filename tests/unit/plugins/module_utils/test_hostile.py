# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input for session_migrate: symlinks, FIFOs and devices in legacy sessions, directories swapped for
symlinks while the module runs, unsafe session names, broken creds files, a 1 GB sparse file."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import random
import resource
import shutil
import stat
import subprocess
import tempfile
import threading
import time

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.rules import display
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.migration import (
    Options, SetupError, migrate)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.names import name_problem
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.module_utils import faultlib as fl

SECRET = b'root:$y$OUTSIDE-SECRET-MUST-NEVER-BE-COPIED:19000:0:99999:7:::\n'


def outside_tree(base, names):
    """A tree outside every legacy root, standing in for /etc: secrets in directories named like sessions."""
    outside = os.path.join(str(base), 'outside')
    os.makedirs(outside)
    with open(os.path.join(outside, 'shadow'), 'wb') as handle:
        handle.write(SECRET)
    os.chmod(os.path.join(outside, 'shadow'), 0o600)
    for name in names:
        os.makedirs(os.path.join(outside, name, 'pre-key'))
        for rel in ('secret.txt', os.path.join('pre-key', '1.json')):
            with open(os.path.join(outside, name, rel), 'wb') as handle:
                handle.write(SECRET)
    return outside


def assert_nothing_from_outside(dest):
    for dirpath, dirnames, filenames in os.walk(str(dest)):
        for entry in filenames:
            full = os.path.join(dirpath, entry)
            assert entry not in ('secret.txt', 'shadow'), full
            if stat.S_ISREG(os.lstat(full).st_mode):
                with open(full, 'rb') as handle:
                    assert b'OUTSIDE-SECRET' not in handle.read(), full


# ----------------------------------------------------------------------------------------------------------
# symlinks, FIFOs and devices inside a legacy session

@pytest.mark.parametrize('mode', ['copy', 'move'])
def test_symlinks_fifos_and_devices_are_never_followed_opened_or_copied(tmp_path, mode):
    legacy, dest = tmp_path / 'legacy', tmp_path / 'dest'
    dest.mkdir()
    outside = outside_tree(tmp_path, ['s1'])
    for name in ('s1', 's2'):
        fl.make_session(legacy, name)
    session = legacy / 's1'
    (session / 'shadow').symlink_to(os.path.join(outside, 'shadow'))
    (session / 'pre-key' / '7.json').symlink_to(os.path.join(outside, 'shadow'))
    (session / 'sender-key').symlink_to(os.path.join(outside, 's1'))
    os.mkfifo(str(session / 'session' / 'fifo.json'))  # a reader opening it would block for ever
    os.mkfifo(str(legacy / 's1\\store.db'))
    expected_left = ['shadow', os.path.join('pre-key', '7.json'), 'sender-key',
                     os.path.join('session', 'fifo.json')]
    if fl.IS_ROOT:
        os.mknod(str(session / 'device.json'), 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null
        expected_left.append('device.json')
    # s2's creds file is a symlink to a valid creds file outside: s2 is invalid, never read through it.
    with open(os.path.join(outside, 'creds.json'), 'wb') as handle:
        handle.write(json.dumps({'me': {'id': 'outside'}}).encode())
    os.unlink(str(legacy / 's2' / 's2_creds.json'))
    (legacy / 's2' / 's2_creds.json').symlink_to(os.path.join(outside, 'creds.json'))
    before = fl.tree_state(outside)

    code, data, err = fl.run_child(fl.options(dest, [legacy], mode=mode), timeout=60)
    assert code == 0, err
    result = data['result']
    assert [m['name'] for m in result['migrated']] == ['s1']
    assert [i['name'] for i in result['invalid']] == ['s2'] and 'not a regular file' in result['invalid'][0]['reason']
    for rel in expected_left:
        assert not os.path.lexists(str(dest / 's1' / rel)), rel
        assert any(rel in w and 'not followed or copied' in w for w in result['warnings']), (rel, result['warnings'])
        assert os.path.lexists(str(session / rel)), rel   # also with mode=move: never removed
    assert not os.path.lexists(str(dest / 's1' / 'store.db'))
    assert os.path.exists(str(dest / 's1' / 'pre-key' / '1.json'))
    assert fl.tree_state(outside) == before                # not copied, chmodded, chowned, removed
    assert_nothing_from_outside(dest)
    assert not os.path.exists(str(dest / 's2'))
    if mode == 'move':
        assert not result['removed'] and os.path.isdir(str(session)) and os.path.isdir(str(legacy / 's2'))


@pytest.mark.parametrize('mode', ['copy', 'move'])
def test_legacy_root_and_session_dir_that_are_symlinks(tmp_path, mode):
    """A symlinked session directory is skipped; a symlinked legacy root is resolved once (deploy layouts such
    as current -> releases/42 rely on it), and only the sessions in it are used."""
    dest, legacy, real = tmp_path / 'dest', tmp_path / 'legacy', tmp_path / 'releases' / '42'
    dest.mkdir()
    fl.make_session(real, 's0')
    outside = outside_tree(tmp_path, [])
    fl.make_session(outside, 'victim')                     # looks like a session, but lives outside
    (real / 'victim').symlink_to(os.path.join(outside, 'victim'))
    legacy.symlink_to(real)
    before = fl.tree_state(outside)
    result = migrate(Options(**fl.options(dest, [legacy], mode=mode)))
    assert [m['name'] for m in result['migrated']] == ['s0']
    assert any('victim' in w and 'symlink' in w for w in result['warnings'])
    assert not os.path.lexists(str(dest / 'victim'))
    assert fl.tree_state(outside) == before


def test_directories_swapped_for_symlinks_while_migrating(tmp_path, fault_summary):
    """A racing thread swaps the legacy root, and a session directory, for symlinks to an outside tree holding
    directories with the same names, while migrations (copy and move) run in a loop in child processes."""
    names = ['s0', 's1', 's2', 's3']
    pristine, legacy, dest = str(tmp_path / 'pristine'), str(tmp_path / 'legacy'), str(tmp_path / 'dest')
    for i, name in enumerate(names):
        fl.make_session(pristine, name, seed=i)
    outside = outside_tree(tmp_path, names)
    before = fl.tree_state(outside)
    golden_dest = str(tmp_path / 'golden')
    os.mkdir(golden_dest)
    migrate(Options(**fl.options(golden_dest, [pristine])))
    golden = dict((name, fl.summary(os.path.join(golden_dest, name))) for name in names)
    reference = fl.summary(pristine)
    figures = {'runs': 0, 'swaps': 0, 'sessions refused': 0, 'sessions migrated': 0}
    rng = random.Random(5)

    def swapper(stop):
        aside = legacy + '.aside'
        while not stop.is_set():
            if rng.random() < 0.5:
                os.rename(legacy, aside)
                os.symlink(outside, legacy)
                time.sleep(rng.uniform(0, 0.004))
                os.unlink(legacy)
                os.rename(aside, legacy)
            else:
                victim = os.path.join(legacy, rng.choice(names))
                if os.path.isdir(victim) and not os.path.islink(victim):
                    os.rename(victim, victim + '.aside')
                    os.symlink(os.path.join(outside, os.path.basename(victim)), victim)
                    time.sleep(rng.uniform(0, 0.004))
                    os.unlink(victim)
                    os.rename(victim + '.aside', victim)
            figures['swaps'] += 1
            time.sleep(rng.uniform(0, 0.003))

    for round_ in range(40):
        mode = 'move' if round_ % 2 else 'copy'
        subprocess.check_call(['rm', '-rf', legacy, dest])
        subprocess.check_call(['cp', '-a', pristine, legacy])
        os.mkdir(dest)
        stop = threading.Event()
        thread = threading.Thread(target=swapper, args=(stop,))
        thread.start()
        try:
            for _run in range(3):
                code, data, err = fl.run_child(fl.options(dest, [legacy], mode=mode, use_syncfs=False))
                assert code == 0, err
                figures['runs'] += 1
                figures['sessions migrated'] += len(data['result'].get('migrated', []))
                figures['sessions refused'] += len(data['result'].get('errors', []))
        finally:
            stop.set()
            thread.join()
        assert fl.tree_state(outside) == before, 'the outside tree was modified (round %d, %s)' % (round_, mode)
        assert_nothing_from_outside(dest)
        assert not fl.staging_dirs(dest)
        for name in fl.visible_sessions(dest):
            assert fl.summary(os.path.join(dest, name)) == golden[name], name
        now = fl.summary(legacy)
        for rel, value in now.items():
            if rel != '.' and value[0] != stat.S_IFDIR:
                assert reference.get(rel) == value, rel
        for rel in reference:
            if rel != '.' and rel not in now:
                assert mode == 'move' and fl.summary(os.path.join(dest, rel.split(os.sep)[0])) == golden[
                    rel.split(os.sep)[0]], rel
    fault_summary('symlink swap race: %(runs)d runs while %(swaps)d swaps; %(sessions migrated)d sessions '
                  'migrated, %(sessions refused)d refused; outside tree unchanged, nothing from it in dest'
                  % figures)


# ----------------------------------------------------------------------------------------------------------
# session names

def good_names():
    return st.text(st.characters(blacklist_categories=('Cs',)), min_size=1, max_size=120).filter(
        lambda n: name_problem(n) is None)


def bad_names():
    text = st.text(min_size=0, max_size=20)
    return st.one_of(
        st.builds(lambda a, b: a + '/' + b, text, text),
        st.builds(lambda a, b: a + '\x00' + b, text, text),
        st.builds(lambda a: '.' + a, text),
        st.sampled_from(['..', '.', '', '../x', 'a/../..', '/etc', '.staging-x', '.backup']),
        st.builds(lambda a, n: (a or 'x') * n, st.text(min_size=1, max_size=3), st.integers(256, 300)).filter(
            lambda n: len(n.encode('utf-8', 'surrogateescape')) > 255),
    )


HYPOTHESIS = settings(max_examples=60, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@HYPOTHESIS
@given(name=good_names())
@example(name='0\\')            # found by hypothesis: the creds file "0\\_creds.json" was split into 0/_creds.json
@example(name='pre-key\\7')
@example(name=' ')
def test_accepted_names_stay_inside_dest(name):
    base = tempfile.mkdtemp(prefix='session-migrate-names-')
    try:
        dest, legacy = os.path.join(base, 'dest'), os.path.join(base, 'legacy')
        os.mkdir(dest)
        os.mkdir(legacy)
        creds = '%s_creds.json' % name
        can_hold_creds = len(creds.encode('utf-8')) <= 255
        if can_hold_creds:
            os.mkdir(os.path.join(legacy, name))
            with open(os.path.join(legacy, name, creds), 'wb') as handle:
                handle.write(b'{"me": {"id": "x"}}')
        result = migrate(Options(**fl.options(dest, [legacy], sessions=[name], mode='move')))
        target = os.path.realpath(os.path.join(dest, name))
        assert os.path.dirname(target) == os.path.realpath(dest)
        if can_hold_creds:
            assert [m['name'] for m in result['migrated']] == [display(name)]  # shown escaped, if need be
            assert os.listdir(dest) == [name]
            assert os.path.isfile(os.path.join(target, creds)) and os.listdir(legacy) == []
        assert sorted(os.listdir(base)) == ['dest', 'dest.state', 'legacy']
    finally:
        shutil.rmtree(base)


@HYPOTHESIS
@given(name=bad_names())
def test_unsafe_names_are_rejected_before_anything_is_touched(name):
    assert name_problem(name) is not None
    base = tempfile.mkdtemp(prefix='session-migrate-names-')
    try:
        dest, legacy = os.path.join(base, 'dest'), os.path.join(base, 'legacy')
        os.mkdir(dest)
        fl.make_session(legacy, 'ok')
        before = fl.tree_state(base)
        for mode in ('copy', 'move'):
            with pytest.raises(SetupError, match='Invalid session name'):
                migrate(Options(**fl.options(dest, [legacy], sessions=['ok', name], mode=mode)))
        assert fl.tree_state(base) == before   # not even the lock file was created
    finally:
        shutil.rmtree(base)


# ----------------------------------------------------------------------------------------------------------
# broken creds files and a huge file

@pytest.mark.parametrize('mode', ['copy', 'move'])
def test_corrupt_empty_and_directory_creds_are_reported_and_kept(tmp_path, mode):
    legacy, dest = tmp_path / 'legacy', tmp_path / 'dest'
    dest.mkdir()
    for name in ('good', 'corrupt', 'empty', 'isdir', 'array', 'huge'):
        fl.make_session(legacy, name)
    (legacy / 'corrupt' / 'corrupt_creds.json').write_bytes(b'{"me": {"id": "x"')
    (legacy / 'empty' / 'empty_creds.json').write_bytes(b'')
    (legacy / 'isdir' / 'isdir_creds.json').unlink()
    (legacy / 'isdir' / 'isdir_creds.json').mkdir()
    (legacy / 'array' / 'array_creds.json').write_bytes(b'[1, 2]')
    with open(str(legacy / 'huge' / 'huge_creds.json'), 'wb') as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse; only MAX_CREDS_BYTES + 1 are ever read
    before = fl.tree_state(legacy)
    names = sorted(['corrupt', 'empty', 'isdir', 'array'])
    result = migrate(Options(**fl.options(dest, [legacy], mode=mode, sessions=names + ['good', 'huge'])))
    reasons = dict((item['name'], item['reason']) for item in result['invalid'])
    assert 'not JSON' in reasons['corrupt'] and reasons['empty'] == 'creds file is empty'
    assert 'not a regular file' in reasons['isdir'] and 'JSON list' in reasons['array']
    assert reasons['huge'].startswith('creds file is too large: over 16777216 bytes (16 MiB)')
    assert [m['name'] for m in result['migrated']] == ['good'] and not result['errors']
    assert fl.visible_sessions(dest) == ['good']
    after = fl.tree_state(legacy)
    if mode == 'move':
        assert not any(rel == 'good' or rel.startswith('good' + os.sep) for rel in after)
        after = dict((k, v) for k, v in after.items() if k != '.')
        before = dict((k, v) for k, v in before.items() if k != '.' and k != 'good'
                      and not k.startswith('good' + os.sep))
    assert after == before


def wait_with_rusage(proc, timeout):
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError('the migration did not finish in %s s' % timeout)
        time.sleep(0.05)


@pytest.mark.parametrize('mode', ['copy', 'move'])
def test_a_1_gb_sparse_file_is_streamed_and_copied_exactly(tmp_path, mode, fault_summary):
    legacy, dest = tmp_path / 'legacy', tmp_path / 'dest'
    dest.mkdir()
    fl.make_session(legacy, 'big')
    huge = legacy / 'big' / 'session' / 'huge.bin'
    with open(str(huge), 'wb') as handle:
        handle.write(b'head')
        handle.truncate(1024 ** 3)
        handle.seek(512 * 1024 ** 2)
        handle.write(b'middle')
        handle.seek(1024 ** 3 - 4)
        handle.write(b'tail')
    want = fl.digest(str(huge))
    # ru_maxrss survives fork+exec, so the figure that counts is the growth over an identical no-op child.
    empty = tmp_path / 'empty'
    empty.mkdir()
    idle = fl.start_child(fl.options(dest, [empty]))
    baseline = wait_with_rusage(idle, 60).ru_maxrss / 1024.0
    idle.communicate()
    started = time.monotonic()
    proc = fl.start_child(fl.options(dest, [legacy], mode=mode))
    usage = wait_with_rusage(proc, 300)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, err.decode()
    data = json.loads(out.decode())
    assert not data['failed'] and [m['name'] for m in data['result']['migrated']] == ['big']
    copied = dest / 'big' / 'session' / 'huge.bin'
    st_copy = os.stat(str(copied))
    assert st_copy.st_size == 1024 ** 3 and fl.digest(str(copied)) == want
    assert st_copy.st_blocks * 512 < 64 * 1024 ** 2, 'the copy of a sparse file is not sparse'
    max_rss_mb = usage.ru_maxrss / 1024.0 - baseline
    assert max_rss_mb < 64, 'the copy does not stream: %.0f MB more resident memory' % max_rss_mb
    fault_summary('1 GB sparse file (mode=%s): copied in %.1f s, %.0f MB more resident memory than a no-op run, %d KB allocated in dest'
                  % (mode, elapsed, max_rss_mb, st_copy.st_blocks // 2))
    if mode == 'move':
        assert not os.path.exists(str(legacy / 'big'))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 < 1024
