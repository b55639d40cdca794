# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the fault-injection and hostile-input tests of session_migrate (real trees, real processes)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import grp
import hashlib
import json
import os
import pwd
import random
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import migration
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import FAULT_ENV

IS_ROOT = os.geteuid() == 0
OWNER = 'www-data' if IS_ROOT else pwd.getpwuid(os.getuid()).pw_name
GROUP = 'www-data' if IS_ROOT else grp.getgrgid(os.getgid()).gr_name
# The directory holding ansible_collections/ (wherever the collection is imported from).
COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(migration.__file__), *(['..'] * 5)))
MODULE = 'ansible_collections.rubymanager.session_persistence.plugins.modules.session_migrate'
PACKAGE = os.path.join('ansible_collections', 'rubymanager', 'session_persistence', 'plugins')

# Runs one migration in a child process and prints {"failed": msg or false, "result": {...}}.
CHILD_SCRIPT = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.rubymanager.session_persistence.plugins.module_utils import migration, safecopy
try:
    result = migration.migrate(migration.Options(**json.loads(sys.argv[2])))
    failed = False
except migration.MigrationFailed as exc:
    result, failed = exc.result, str(exc)
except (migration.SetupError, safecopy.LockTimeout) as exc:
    result, failed = {}, str(exc)
print(json.dumps({'failed': failed, 'result': result}))
'''


def creds_bytes(name, rng):
    return json.dumps({'me': {'id': '%s@s.whatsapp.net' % name}, 'registrationId': rng.randint(1, 1 << 14),
                       'noiseKey': '%032x' % rng.getrandbits(128)}).encode()


def make_session(root, name, seed=0, prekeys=4, backslash=False, sidecar=False, mtime=1600000000):
    """A BaileysCSharp-like session with deterministic contents; returns its path."""
    rng = random.Random('%s-%s' % (name, seed))
    path = os.path.join(str(root), name)
    files = {'%s_creds.json' % name: creds_bytes(name, rng)}
    for i in range(prekeys):
        files[os.path.join('pre-key', '%d.json' % i)] = bytes(rng.getrandbits(8) for _i in range(164))
    files[os.path.join('session', '123__1.json')] = bytes(rng.getrandbits(8) for _i in range(700))
    files[os.path.join('app-state-sync-key', 'AAAA.json')] = bytes(rng.getrandbits(8) for _i in range(300))
    if backslash:
        files['pre-key\\99.json'] = b'{"legacy": "backslash name"}'
    for rel, data in files.items():
        full = os.path.join(path, rel)
        if not os.path.isdir(os.path.dirname(full)):
            os.makedirs(os.path.dirname(full))
        with open(full, 'wb') as handle:
            handle.write(data)
        os.utime(full, (mtime, mtime))
    if sidecar:
        full = os.path.join(str(root), '%s\\store.db' % name)
        with open(full, 'wb') as handle:
            handle.write(b'LiteDB' + bytes(rng.getrandbits(8) for _i in range(2000)))
        os.utime(full, (mtime, mtime))
    for sub in ('pre-key', 'session', 'app-state-sync-key', ''):
        os.utime(os.path.join(path, sub), (mtime - 10, mtime - 10))
    return path


def digest(path):
    sha = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            sha.update(chunk)
    return sha.hexdigest()


def summary(path, times=True):
    """{relative path: (type, size, sha256, mtime)} of everything at and below ``path`` (None if absent)."""
    path = str(path)
    if not os.path.lexists(path):
        return None
    top = os.lstat(path)
    if not stat.S_ISDIR(top.st_mode):
        return {'.': (stat.S_IFMT(top.st_mode), top.st_size, None, None)}
    out = {'.': (stat.S_IFDIR, 0, None, top.st_mtime_ns if times else None)}
    for dirpath, dirnames, filenames in os.walk(path):
        for entry in dirnames + filenames:
            full = os.path.join(dirpath, entry)
            st = os.lstat(full)
            sha = digest(full) if stat.S_ISREG(st.st_mode) else None
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            out[os.path.relpath(full, path)] = (stat.S_IFMT(st.st_mode), size, sha,
                                                st.st_mtime_ns if times else None)
    return out


def state_of(path):
    """Metadata that must not change: type, mode, owner, size, mtime, ctime, inode (+ content of files)."""
    st = os.lstat(str(path))
    item = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size,
            st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if stat.S_ISREG(st.st_mode):
        try:
            item += (digest(str(path)),)
        except PermissionError:   # a file made unreadable on purpose (tests running as a normal user)
            item += (None,)
    return item


def tree_state(path):
    """``state_of`` for ``path`` and everything below it."""
    path = str(path)
    out = {'.': state_of(path)}
    for dirpath, dirnames, filenames in os.walk(path):
        for entry in dirnames + filenames:
            full = os.path.join(dirpath, entry)
            out[os.path.relpath(full, path)] = state_of(full)
    return out


def options(dest, legacy_roots, **kwargs):
    kwargs.setdefault('owner', OWNER)
    kwargs.setdefault('group', GROUP)
    kwargs.setdefault('state_dir', state_dir_of(dest))
    return dict(kwargs, dest=str(dest), legacy_roots=[str(r) for r in legacy_roots])


def state_dir_of(dest):
    """The state directory the tests give a sessions root: beside it, outside it."""
    return str(dest).rstrip('/') + '.state'


def child_env(kill_at=None):
    env = dict(os.environ)
    env.pop(FAULT_ENV, None)
    if kill_at:
        env[FAULT_ENV] = kill_at
    return env


def start_child(opts, kill_at=None, python=None, collections=None, **popen):
    """Start one migration in a child process (``kill_at`` = "<phase>:<n>" makes it SIGKILL itself)."""
    return subprocess.Popen([python or sys.executable, '-c', CHILD_SCRIPT, collections or COLLECTIONS,
                             json.dumps(opts)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=child_env(kill_at), **popen)


def finish_child(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    data = json.loads(out.decode()) if proc.returncode == 0 and out else None
    return proc.returncode, data, err.decode(errors='replace')


def run_child(opts, kill_at=None, timeout=120, **popen):
    """Run one migration in a child process; ``(returncode, {"failed", "result"} or None, stderr)``."""
    return finish_child(start_child(opts, kill_at, **popen), timeout)


def run_module(tmp_dir, args, kill_at=None, timeout=120):
    """Run the real module file as Ansible does on the target; ``(returncode, result or None)``."""
    path = os.path.join(str(tmp_dir), 'args-%d.json' % random.getrandbits(32))
    with open(path, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': dict(args, _ansible_check_mode=False, _ansible_diff=False)}, handle)
    env = child_env(kill_at)
    env['PYTHONPATH'] = os.pathsep.join([COLLECTIONS] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                                                         if p])
    proc = subprocess.run([sys.executable, '-m', MODULE, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env, cwd=str(tmp_dir), timeout=timeout, check=False)
    os.unlink(path)
    result = json.loads(proc.stdout.decode()) if proc.stdout else None
    return proc.returncode, result


def require_root(what):
    if not IS_ROOT:
        pytest.skip('%s needs root (run the tests as root to cover it)' % what)


@contextlib.contextmanager
def tmpfs(path, size):
    """Mount a tmpfs of ``size`` (e.g. "2m") on the existing directory ``path``; skip when not possible."""
    require_root('mounting a tmpfs')
    proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s,mode=0755' % size, 'tmpfs', str(path)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        pytest.skip('mounting a tmpfs is not permitted here: %s' % proc.stdout.decode().strip())
    try:
        yield str(path)
    finally:
        subprocess.call(['umount', '-l', str(path)])


def remount(path, flags):
    subprocess.check_call(['mount', '-o', 'remount,%s' % flags, str(path)])


def runnable_by_others(path):
    """True when every directory up to ``path`` and the file itself can be used by any user."""
    path = os.path.realpath(path)
    while True:
        try:
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
        if path == '/':
            return True
        path = os.path.dirname(path)


@contextlib.contextmanager
def unprivileged_world():
    """As root: a scratch directory everyone can enter, holding a copy of the module_utils, and a python
    the user nobody may run. Yields ``(base, collections, python, user)``; as another user, the user itself."""
    base = tempfile.mkdtemp(prefix='session-migrate-faults-')
    try:
        os.chmod(base, 0o755)
        python = sys.executable
        user = pwd.getpwuid(os.getuid())
        collections = COLLECTIONS
        if IS_ROOT:
            python = next((p for p in (sys.executable, getattr(sys, '_base_executable', ''), '/usr/bin/python3')
                           if p and runnable_by_others(p)), None)
            if python is None:
                pytest.skip('no python interpreter that the user nobody may run')
            user = pwd.getpwnam('nobody')
            collections = os.path.join(base, 'coll')
            shutil.copytree(os.path.join(COLLECTIONS, PACKAGE, 'module_utils'),
                            os.path.join(collections, PACKAGE, 'module_utils'),
                            ignore=shutil.ignore_patterns('__pycache__'))
            for dirpath, dirnames, filenames in os.walk(collections):
                for entry in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
                    os.chmod(entry, 0o755)
        yield base, collections, python, user
    finally:
        subprocess.call(['chmod', '-R', 'u+rwX', base])
        subprocess.call(['rm', '-rf', base])


def chown_tree(path, user):
    for dirpath, dirnames, filenames in os.walk(str(path)):
        for entry in [dirpath] + [os.path.join(dirpath, f) for f in dirnames + filenames]:
            os.lchown(entry, user.pw_uid, user.pw_gid)


def as_user(user):
    """Keyword arguments of subprocess to run the child as ``user`` (root only; setuid in preexec_fn)."""
    if not IS_ROOT:
        return {}

    def drop():
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    return {'preexec_fn': drop}


def visible_sessions(dest):
    return sorted(n for n in os.listdir(str(dest)) if not n.startswith('.'))


def staging_dirs(dest):
    prefixes = (migration.STAGING_PREFIX, migration.REPLACED_PREFIX)
    return sorted(n for n in os.listdir(str(dest)) if n.startswith(prefixes))


def stray_creds(dest, pattern_suffix='_creds.json'):
    """Every path below ``dest`` that the gateway's start-up scan (``*_creds.json``, recursively) would load,
    other than ``<dest>/<tenant>/<tenant>_creds.json``: it must always be empty."""
    stray = []
    dest = str(dest)
    for dirpath, _dirnames, filenames in os.walk(dest):
        for name in filenames:
            if not name.endswith(pattern_suffix):
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), dest).split(os.sep)
            if not (len(rel) == 2 and rel[1] == rel[0] + pattern_suffix):
                stray.append(os.path.join(dirpath, name))
    return stray


def journals(dest):
    """The move journals root keeps for ``dest`` (in its state directory)."""
    path = os.path.join(state_dir_of(dest), migration.JOURNAL_DIR)
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def tree_state(path, ctime=True):
    """{relative path: (type, mode, uid, gid, size, mtime, [ctime, inode,] sha256)} of everything below ``path``
    (links not followed): equal before and after a run only when the run changed nothing there. ``ctime=False``
    leaves out what a copy cannot keep (ctime and inode)."""
    result = {}
    path = str(path)
    for dirpath, dirnames, filenames in os.walk(path):
        for entry in ['.'] + dirnames + filenames:
            full = os.path.normpath(os.path.join(dirpath, entry))
            st = os.lstat(full)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(full, 'rb') as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            extra = (st.st_ctime_ns, st.st_ino) if ctime else ()
            result[os.path.relpath(full, path)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                                                   st.st_gid, st.st_size, st.st_mtime_ns) + extra + (digest,)
    return result
