# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults during session_migrate on real trees: kill -9 in every phase, disk full, read-only dest, permission
errors, concurrent runs. After every fault a normal re-run must leave every session complete and nothing lost."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import fcntl
import glob
import os
import random
import signal
import subprocess
import time

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import migration, safecopy
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.migration import Options, migrate
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.module_utils import faultlib as fl

SESSIONS = ['s%d' % i for i in range(8)]
PHASES = ('copy', 'fsync', 'verify', 'backup', 'swap', 'rename', 'commit', 'renamed', 'remove', 'cleanup')


class KillLab(object):
    """A legacy root with 8 sessions and a dest holding an empty (role-made) and an invalid session dir."""

    def __init__(self, base):
        self.base = str(base)
        self.pristine = os.path.join(self.base, 'pristine')
        self.legacy = os.path.join(self.base, 'legacy')
        self.dest = os.path.join(self.base, 'dest')
        os.mkdir(self.pristine)
        for i, name in enumerate(SESSIONS):
            fl.make_session(self.pristine, name, seed=i, backslash=(i % 3 == 2), sidecar=(i == 3))
        self.golden = None
        self.reset()
        self.legacy_initial = fl.summary(self.legacy)

    def reset(self):
        subprocess.check_call(['rm', '-rf', self.legacy, self.dest, fl.state_dir_of(self.dest)])
        subprocess.check_call(['cp', '-a', self.pristine, self.legacy])
        os.mkdir(self.dest)
        os.mkdir(os.path.join(self.dest, 's0'))              # pre-created by the storage role: replaced
        os.mkdir(os.path.join(self.dest, 's1'))              # not a session: backed up into state_dir first
        with open(os.path.join(self.dest, 's1', 'notes.txt'), 'wb') as handle:
            handle.write(b'operator notes that must never be lost')
        self.dest_initial = dict((name, fl.summary(os.path.join(self.dest, name))) for name in SESSIONS)

    def options(self, mode='copy', use_syncfs=None):
        return fl.options(self.dest, [self.legacy], mode=mode, use_syncfs=use_syncfs)

    def make_golden(self):
        migrate(Options(**self.options()))
        self.golden = dict((name, fl.summary(os.path.join(self.dest, name))) for name in SESSIONS)
        self.reset()

    def count_points(self, mode, use_syncfs, monkeypatch):
        """How often each fault point is reached by one uninterrupted run from the fresh state."""
        counts = collections.Counter()

        def count(phase):
            counts[phase] += 1
        with monkeypatch.context() as patch:
            patch.setattr(safecopy, 'fault_point', count)
            patch.setattr(migration, 'fault_point', count)
            migrate(Options(**self.options(mode, use_syncfs)))
        self.reset()
        return counts

    # -- invariants ------------------------------------------------------------------------------------
    def complete(self, name):
        return fl.summary(os.path.join(self.dest, name)) == self.golden[name]

    def notes_kept(self):
        places = [os.path.join(self.dest, 's1', 'notes.txt')] + glob.glob(
            os.path.join(fl.state_dir_of(self.dest), 'backup', 's1.*', 'notes.txt'))
        found = [p for p in places if os.path.isfile(p)]
        assert found, places
        for path in found:
            with open(path, 'rb') as handle:
                assert handle.read() == b'operator notes that must never be lost'

    def check_after_kill(self, mode, where):
        for name in SESSIONS:
            now = fl.summary(os.path.join(self.dest, name))
            if now == self.golden[name]:
                continue
            if now == self.dest_initial[name]:
                continue
            # Between the commit's renames the tenant directory has no creds file: the gateway does not see a
            # session there (the next run finishes or rolls back the commit). A visible session is complete.
            creds = os.path.join(self.dest, name, '%s_creds.json' % name)
            assert not os.path.lexists(creds), '%s: partial session %s visible in dest: %r' % (where, name, now)
        self.notes_kept()
        # Only root's staging and replaced directories are hidden entries of dest; no lock, journal or backup.
        extra = [n for n in os.listdir(self.dest) if n.startswith('.') and not n.startswith(
            (migration.STAGING_PREFIX, migration.REPLACED_PREFIX))]
        assert not extra, extra
        assert not fl.stray_creds(self.dest), (where, fl.stray_creds(self.dest))
        legacy = fl.summary(self.legacy)
        if mode == 'copy':
            assert legacy == self.legacy_initial, where
            return
        for rel, value in legacy.items():       # what is left of the legacy tree is unchanged ...
            if rel != '.' and value[0] != 0o040000:
                assert self.legacy_initial.get(rel) == value, (where, rel)
        for name in SESSIONS:                   # ... and a legacy file is gone only when its copy is complete
            gone = [rel for rel in self.legacy_initial if rel != '.' and rel not in legacy
                    and (rel == name or rel.startswith(name + os.sep) or rel.startswith(name + '\\'))]
            if gone:
                assert self.complete(name), '%s: legacy %s removed without a complete copy' % (where, gone)

    def check_after_rerun(self, mode, result, where):
        assert not result['errors'], (where, result['errors'])
        for name in SESSIONS:
            assert self.complete(name), '%s: %s incomplete after the re-run' % (where, name)
        assert not fl.staging_dirs(self.dest), where
        assert not fl.journals(self.dest), where
        assert not fl.stray_creds(self.dest), where
        assert sorted(os.listdir(self.dest)) == SESSIONS, where
        self.notes_kept()
        if mode == 'copy':
            assert fl.summary(self.legacy) == self.legacy_initial, where
        else:
            assert os.listdir(self.legacy) == [], (where, os.listdir(self.legacy))


def kill_schedule(counts_by_config, rng):
    """[(phase, mode, use_syncfs, n)]: kill points spread over every phase of copy and move runs."""
    wanted = [('copy', 'copy', None, 26), ('copy', 'move', False, 16), ('fsync', 'copy', None, 8),
              ('fsync', 'copy', False, 16), ('fsync', 'move', None, 8), ('verify', 'move', None, 8),
              ('rename', 'copy', None, 10), ('rename', 'move', None, 10), ('renamed', 'copy', None, 8),
              ('renamed', 'move', None, 8), ('remove', 'move', None, 30), ('remove', 'move', False, 10),
              ('backup', 'copy', None, 2), ('backup', 'move', None, 2), ('swap', 'copy', None, 6),
              ('swap', 'move', None, 4), ('commit', 'copy', None, 10), ('commit', 'move', None, 8)]
    schedule = []
    for phase, mode, use_syncfs, kills in wanted:
        total = counts_by_config[(mode, use_syncfs)][phase]
        assert total > 0, (phase, mode, use_syncfs)
        points = list(range(1, total + 1))
        rng.shuffle(points)
        chosen = (points * (kills // total + 1))[:kills]
        schedule.extend((phase, mode, use_syncfs, n) for n in sorted(chosen))
    rng.shuffle(schedule)
    return schedule


@pytest.fixture
def fast_dir(tmp_path):
    """A tmpfs when root (fsync and syncfs cost nothing there, and the test does not depend on the load of
    the disk); the plain temporary directory otherwise. kill -9 does not lose page-cache data either way."""
    lab = tmp_path / 'lab'
    lab.mkdir()
    if fl.IS_ROOT and subprocess.call(['mount', '-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', str(lab)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
        try:
            yield lab
        finally:
            subprocess.call(['umount', '-l', str(lab)])
    else:
        yield lab


@pytest.mark.slow
def test_kill_9_in_every_phase_then_rerun_loses_nothing(tmp_path, fast_dir, monkeypatch, fault_summary):
    started = time.monotonic()
    rng = random.Random(int(os.environ.get('SESSION_MIGRATE_FAULT_SEED', '20260505')))
    lab = KillLab(fast_dir)
    lab.make_golden()
    configs = [('copy', None), ('copy', False), ('move', None), ('move', False)]
    counts = dict((config, lab.count_points(config[0], config[1], monkeypatch)) for config in configs)
    kills = collections.Counter()
    stats = collections.Counter()

    def killed_run(opts, kill_at, where, module=False):
        if module:
            args = dict((k, v) for k, v in opts.items() if k != 'use_syncfs')
            rc, data = fl.run_module(tmp_path, args, kill_at=kill_at)
        else:
            rc, data, err = fl.run_child(opts, kill_at=kill_at)
            assert rc in (0, -signal.SIGKILL), err
        if rc == -signal.SIGKILL:
            kills[kill_at.split(':')[0] + (' (module)' if module else '')] += 1
        else:
            assert data and not data.get('failed'), data
            stats['runs that ended before the kill point'] += 1
        lab.check_after_kill(opts['mode'], where)
        return rc == -signal.SIGKILL

    def rerun(opts, where):
        checked = migrate(Options(**dict(opts, check_mode=True)))
        result = migrate(Options(**opts))
        stats['re-runs'] += 1
        lab.check_after_rerun(opts['mode'], result, where)
        assert_check_told_the_truth(checked, result, where)
        stats['check-mode runs matched by the real run'] += 1
        final = migrate(Options(**opts))
        stats['re-runs'] += 1
        assert final['changed'] is False and not final['migrated'] and not final['errors'], (where, final)
        assert sorted(final['present']) == (SESSIONS if opts['mode'] == 'copy' else [])
        stats['sessions verified'] += len(SESSIONS)

    def chained_cleanup_kill(opts, where):
        """A second kill while the next run removes the stale staging directories."""
        entries = sum(len(files) + len(dirs) + 1 for staging in fl.staging_dirs(lab.dest)
                      for _d, dirs, files in os.walk(os.path.join(lab.dest, staging)))
        if entries:
            killed_run(opts, 'cleanup:%d' % rng.randint(1, entries), where + ' then cleanup')

    for i, (phase, mode, use_syncfs, n) in enumerate(kill_schedule(counts, rng)):
        opts = lab.options(mode, use_syncfs)
        where = 'kill %d at %s:%d (mode=%s, syncfs=%s)' % (i, phase, n, mode, use_syncfs)
        killed = killed_run(opts, '%s:%d' % (phase, n), where)
        if killed and phase in ('copy', 'fsync', 'verify') and rng.random() < 0.8:
            chained_cleanup_kill(opts, where)
        rerun(opts, where)
        lab.reset()

    # The real module file, killed the same way.
    for i, phase in enumerate(('copy', 'fsync', 'rename', 'renamed', 'remove', 'verify') * 2):
        mode = 'move' if phase in ('remove', 'verify') or i % 2 else 'copy'
        opts = lab.options(mode)
        n = rng.randint(1, counts[(mode, None)][phase])
        killed_run(opts, '%s:%d' % (phase, n), 'module kill at %s:%d' % (phase, n), module=True)
        rerun(opts, 'module kill at %s:%d' % (phase, n))
        lab.reset()

    # Random moments: delays calibrated to the duration of an uninterrupted child run.
    begin = time.monotonic()
    rc, data, err = fl.run_child(lab.options('move'))
    assert rc == 0 and not data['failed'], err
    duration = time.monotonic() - begin
    lab.reset()
    for i in range(30):
        opts = lab.options('move' if i % 2 else 'copy', None if i % 3 else False)
        proc = fl.start_child(opts)
        time.sleep(rng.uniform(0.0, duration))
        proc.send_signal(signal.SIGKILL)
        rc, _data, err = fl.finish_child(proc)
        where = 'random kill %d' % i
        if rc == -signal.SIGKILL:
            kills['random moment'] += 1
        else:
            stats['runs that ended before the kill point'] += 1
        lab.check_after_kill(opts['mode'], where)
        rerun(opts, where)
        lab.reset()

    total = sum(kills.values())
    fault_summary('kill -9: %d kills (%s); %d re-runs, each after a check-mode run that predicted it exactly '
                  '(%d); %d sessions verified complete; %d runs ended before their kill point; %.1f s' % (
                      total, ', '.join('%s %d' % item for item in sorted(kills.items())), stats['re-runs'],
                      stats['check-mode runs matched by the real run'], stats['sessions verified'],
                      stats['runs that ended before the kill point'], time.monotonic() - started))
    assert total >= 200, kills
    for phase in PHASES:
        assert kills[phase] > 0, (phase, kills)


def assert_check_told_the_truth(checked, real, where):
    """What check mode reported is what the real run then did (issue: check mode tells the truth in every
    state an interrupted run leaves behind)."""
    def names(items):
        return sorted(item['name'] for item in items)
    assert checked['changed'] == real['changed'], (where, checked, real)
    for key in ('migrated', 'errors', 'invalid', 'corrupt', 'recovered'):
        assert names(checked[key]) == names(real[key]), (where, key, checked[key], real[key])
    for key in ('removed', 'present', 'not_found', 'stale_staging', 'skipped_sessions', 'skipped_roots'):
        assert sorted(map(str, checked.get(key, []))) == sorted(map(str, real.get(key, []))), (where, key)


# ----------------------------------------------------------------------------------------------------------
# mode=move killed between verification and removal

@pytest.mark.parametrize('phase', ['verify', 'renamed', 'remove'])
def test_move_killed_between_verify_and_removal_keeps_legacy_until_verified(fast_dir, phase):
    lab = KillLab(fast_dir)
    lab.make_golden()
    opts = lab.options('move')
    rc, data, err = fl.run_child(opts, kill_at='%s:1' % phase)
    assert rc == -signal.SIGKILL, err
    s0_legacy = fl.summary(os.path.join(lab.legacy, 's0'))
    if phase == 'verify':      # verified, not yet renamed: the legacy copy is untouched, nothing visible
        assert fl.summary(os.path.join(lab.dest, 's0')) == lab.dest_initial['s0']
        assert s0_legacy == dict((k[3:] if k != 's0' else '.', v) for k, v in lab.legacy_initial.items()
                                 if k == 's0' or k.startswith('s0' + os.sep))
    else:                      # renamed: the copy is complete; the legacy copy goes only after that
        assert lab.complete('s0')
        assert s0_legacy is not None and os.path.isfile(os.path.join(lab.legacy, 's0', 's0_creds.json'))
    lab.check_after_kill('move', phase)
    result = migrate(Options(**opts))
    lab.check_after_rerun('move', result, phase)
    assert os.path.join(lab.legacy, 's0') in result['removed']
    assert migrate(Options(**opts))['changed'] is False


# ----------------------------------------------------------------------------------------------------------
# disk full, read-only dest

def big_session(root, name, size):
    fl.make_session(root, name, seed=7)
    with open(os.path.join(str(root), name, 'session', 'big.bin'), 'wb') as handle:
        handle.write(os.urandom(size))


@pytest.mark.parametrize('mode', ['copy', 'move'])
def test_disk_full_fails_naming_the_file_and_enospc_then_rerun_completes(tmp_path, mode):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    for i, name in enumerate(('a', 'c')):
        fl.make_session(legacy, name, seed=i)
    big_session(legacy, 'b', 3 * 1024 * 1024)
    reference = fl.summary(legacy)
    with fl.tmpfs(dest, '2m'):
        rc, result = fl.run_module(tmp_path, dict(fl.options(dest, [legacy], mode=mode), lock_timeout=5))
        assert rc != 0 and result['failed'] is True
        assert 'No space left on device' in result['msg']
        assert os.path.join(str(dest), 'b', 'session', 'big.bin') in result['msg'], result['msg']
        assert [e['name'] for e in result['errors']] == ['b']
        assert sorted(m['name'] for m in result['migrated']) == ['a', 'c']
        assert fl.visible_sessions(dest) == ['a', 'c'] and not fl.staging_dirs(dest)  # no partial session
        legacy_b = dict((k, v) for k, v in fl.summary(legacy).items() if k == 'b' or k.startswith('b' + os.sep))
        assert legacy_b == dict((k, v) for k, v in reference.items() if k == 'b' or k.startswith('b' + os.sep))
        if mode == 'move':
            assert sorted(os.listdir(str(legacy))) == ['b']
        # Space is freed (the tmpfs grows): a re-run completes, then has nothing to do.
        fl.remount(dest, 'size=16m')
        rc, result = fl.run_module(tmp_path, fl.options(dest, [legacy], mode=mode))
        assert rc == 0 and result['changed'] is True and [m['name'] for m in result['migrated']] == ['b']
        assert fl.visible_sessions(dest) == ['a', 'b', 'c']
        for name in ('a', 'b', 'c'):
            assert fl.summary(dest / name, times=False) is not None
        got = fl.digest(str(dest / 'b' / 'session' / 'big.bin'))
        assert got == reference[os.path.join('b', 'session', 'big.bin')][2]
        rc, result = fl.run_module(tmp_path, fl.options(dest, [legacy], mode=mode))
        assert rc == 0 and result['changed'] is False


@pytest.mark.parametrize('lock_exists', [False, True])
def test_read_only_dest_fails_clearly_and_changes_nothing(tmp_path, lock_exists):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    fl.make_session(legacy, 'a')
    fl.make_session(legacy, 'b')
    with fl.tmpfs(dest, '8m'):
        if lock_exists:
            migrate(Options(**fl.options(dest, [legacy], sessions=['a'])))
        before = fl.tree_state(dest)
        legacy_before = fl.tree_state(legacy)
        fl.remount(dest, 'ro')
        for mode in ('copy', 'move'):
            rc, result = fl.run_module(tmp_path, fl.options(dest, [legacy], mode=mode))
            assert rc != 0 and result['failed'] is True
            assert 'read-only file system' in result['msg'].lower(), result['msg']
            assert 'nothing was changed' in result['msg'], result['msg']
            assert str(dest) in result['msg'], result['msg']
        assert fl.tree_state(dest) == before and fl.tree_state(legacy) == legacy_before
        fl.remount(dest, 'rw')
        rc, result = fl.run_module(tmp_path, fl.options(dest, [legacy], mode='move'))
        moved = ['b'] if lock_exists else ['a', 'b']
        assert rc == 0 and sorted(result['removed']) == [str(legacy / n) for n in moved]


# ----------------------------------------------------------------------------------------------------------
# permission denied (as root the checks are bypassed: the run is done as the user nobody)

def test_permission_denied_on_a_legacy_directory_and_dest_fails_clearly(tmp_path):
    with fl.unprivileged_world() as (base, collections, python, user):
        dest, legacy = os.path.join(base, 'dest'), os.path.join(base, 'legacy')
        os.mkdir(dest)
        for i, name in enumerate(('a', 'b', 'c')):
            fl.make_session(legacy, name, seed=i)
        if fl.IS_ROOT:
            fl.chown_tree(base, user)
        os.chmod(os.path.join(legacy, 'b', 'pre-key'), 0)             # a key-store folder nobody may read
        with open(os.path.join(legacy, 'c', 'session', 'locked.json'), 'wb') as handle:
            handle.write(b'{}')
        os.chmod(os.path.join(legacy, 'c', 'session', 'locked.json'), 0)   # an unreadable file
        before = fl.tree_state(legacy)
        group = fl.grp.getgrgid(user.pw_gid).gr_name
        run_as = fl.as_user(user)
        for mode in ('move', 'copy'):
            opts = fl.options(dest, [legacy], mode=mode, owner=user.pw_name, group=group)
            rc, data, err = fl.run_child(opts, python=python, collections=collections, cwd=base, **run_as)
            assert rc == 0, err
            result = data['result']
            errors = dict((e['name'], e) for e in result['errors'])
            assert sorted(errors) == ['b', 'c'], result
            assert errors['b']['path'] == os.path.join(legacy, 'b', 'pre-key')
            assert errors['b']['msg'].endswith('Permission denied')
            assert errors['c']['msg'] == '%s: Permission denied' % os.path.join(legacy, 'c', 'session', 'locked.json')
            assert 'Permission denied' in data['failed']
            assert fl.visible_sessions(dest) == ['a'] and not fl.staging_dirs(dest)
            assert not os.path.exists(os.path.join(legacy, 'a'))  # moved (verified) by the move run
        for rel, value in fl.tree_state(legacy).items():          # b and c: every file untouched
            if rel != '.' and value[0] != 0o040000:
                assert before[rel] == value, rel
        # dest itself not writable for the user: the task fails before anything is done, naming dest
        os.chmod(dest, 0o555)
        if fl.IS_ROOT:
            os.chown(dest, 0, 0)
        os.chmod(os.path.join(legacy, 'c', 'session', 'locked.json'), 0o644)
        opts = fl.options(dest, [legacy], owner=user.pw_name, group=group)
        before_dest = fl.tree_state(dest)
        rc, data, err = fl.run_child(opts, python=python, collections=collections, cwd=base, **run_as)
        assert rc == 0, err
        assert dest in data['failed'] and 'Permission denied' in data['failed'], data['failed']
        assert 'nothing was changed' in data['failed'] and data['result'] == {}
        assert fl.tree_state(dest) == before_dest
        # state_dir not usable by the user: named, nothing done
        os.chmod(dest, 0o755)
        if fl.IS_ROOT:
            os.chown(dest, user.pw_uid, user.pw_gid)
        state = fl.state_dir_of(dest)
        os.chmod(state, 0o755)
        rc, data, err = fl.run_child(opts, python=python, collections=collections, cwd=base, **run_as)
        assert rc == 0, err
        assert state in data['failed'] and 'chmod 0700' in data['failed'], data['failed']
        assert fl.visible_sessions(dest) == ['a'] and not fl.staging_dirs(dest)


# ----------------------------------------------------------------------------------------------------------
# two runs at once

@pytest.mark.parametrize('mode', ['copy', 'move'])
def test_two_runs_at_once_do_not_interleave_or_lose_anything(fast_dir, mode, fault_summary):
    tmp_path = fast_dir
    dest, pristine, legacy = tmp_path / 'dest', tmp_path / 'pristine', tmp_path / 'legacy'
    names = ['t%02d' % i for i in range(24)]
    for i, name in enumerate(names):
        fl.make_session(pristine, name, seed=i, prekeys=30)
    golden_dest = tmp_path / 'golden'
    golden_dest.mkdir()
    migrate(Options(**fl.options(golden_dest, [pristine])))
    golden = dict((name, fl.summary(golden_dest / name)) for name in names)
    waited = 0
    for round_ in range(3):
        subprocess.check_call(['rm', '-rf', str(legacy), str(dest)])
        subprocess.check_call(['cp', '-a', str(pristine), str(legacy)])
        dest.mkdir()
        opts = fl.options(dest, [legacy], mode=mode, lock_timeout=120)
        procs = [fl.start_child(opts) for _i in range(2)]
        outcomes = [fl.finish_child(proc) for proc in procs]
        results = []
        for rc, data, err in outcomes:
            assert rc == 0 and not data['failed'], err
            results.append(data['result'])
        migrated = sorted(m['name'] for r in results for m in r['migrated'])
        assert migrated == names, 'each session migrated exactly once'
        second = [r for r in results if not r['migrated']]
        waited += len(second)
        for r in second:    # the one that waited found nothing to do
            assert r['changed'] is False and r['present'] == (names if mode == 'copy' else [])
        for name in names:
            assert fl.summary(dest / name) == golden[name]
        assert not fl.staging_dirs(dest)
        if mode == 'move':
            assert os.listdir(str(legacy)) == []
            assert sorted(p for r in results for p in r['removed']) == [str(legacy / n) for n in names]
    fault_summary('two runs at once (mode=%s): 3 rounds of 2 concurrent runs on %d sessions; each session '
                  'migrated once; %d runs waited for the lock and found nothing left to do'
                  % (mode, len(names), waited))


def test_a_run_that_cannot_get_the_lock_times_out_with_a_clear_message(tmp_path):
    dest, legacy = tmp_path / 'dest', tmp_path / 'legacy'
    dest.mkdir()
    fl.make_session(legacy, 'a')
    state = fl.state_dir_of(dest)
    os.mkdir(state, 0o700)
    lock = os.path.join(state, migration.LOCK_NAME)
    holder = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        for mode in ('copy', 'move'):
            rc, result = fl.run_module(tmp_path, dict(fl.options(dest, [legacy], mode=mode), lock_timeout=1))
            assert rc != 0 and result['failed'] is True
            assert lock in result['msg'] and 'lock_timeout' in result['msg']
        assert fl.visible_sessions(dest) == [] and os.path.isdir(str(legacy / 'a'))
    finally:
        os.close(holder)
