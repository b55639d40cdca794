# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults during session_migrate on real trees: kill -9 in every phase, disk full, read-only dest, permission
errors, concurrent runs. After every fault a normal re-run must leave every session complete and nothing lost."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import errno
import fcntl
import glob
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import migration, safecopy
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.migration import Options, migrate
from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.module_utils import faultlib as fl

SESSIONS = ['s%d' % i for i in range(8)]
PHASES = ('copy', 'fsync', 'verify', 'rename', 'renamed', 'remove', 'cleanup', 'backup')


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
        subprocess.check_call(['rm', '-rf', self.legacy, self.dest])
        subprocess.check_call(['cp', '-a', self.pristine, self.legacy])
        os.mkdir(self.dest)
        os.mkdir(os.path.join(self.dest, 's0'))              # pre-created by the storage role: replaced
        os.mkdir(os.path.join(self.dest, 's1'))              # not a session: moved into .backup first
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
            os.path.join(self.dest, '.backup', 's1.*', 'notes.txt'))
        found = [p for p in places if os.path.isfile(p)]
        assert len(found) == 1, found
        with open(found[0], 'rb') as handle:
            assert handle.read() == b'operator notes that must never be lost'

    def check_after_kill(self, mode, where):
        for name in SESSIONS:
            now = fl.summary(os.path.join(self.dest, name))
            if now == self.golden[name]:
                continue
            if now == self.dest_initial[name]:
                continue
            # s1 is renamed into .backup just before the new copy is renamed into place.
            assert name == 's1' and now is None, '%s: partial session %s visible in dest: %r' % (where, name, now)
        self.notes_kept()
        extra = [n for n in os.listdir(self.dest) if n.startswith('.') and not n.startswith(
            (migration.STAGING_PREFIX, migration.JOURNAL_PREFIX)) and n not in (migration.LOCK_NAME,
                                                                                migration.BACKUP_DIR)]
        assert not extra, extra
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
        assert not [n for n in os.listdir(self.dest) if n.startswith(migration.JOURNAL_PREFIX)], where
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
              ('backup', 'copy', None, 2), ('backup', 'move', None, 2)]
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
        result = migrate(Options(**opts))
        stats['re-runs'] += 1
        lab.check_after_rerun(opts['mode'], result, where)
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
    fault_summary('kill -9: %d kills (%s); %d re-runs; %d sessions verified complete; %d runs ended before '
                  'their kill point; %.1f s' % (
                      total, ', '.join('%s %d' % item for item in sorted(kills.items())), stats['re-runs'],
                      stats['sessions verified'], stats['runs that ended before the kill point'],
                      time.monotonic() - started))
    assert total >= 200, kills
    for phase in PHASES:
        assert kills[phase] > 0, (phase, kills)
