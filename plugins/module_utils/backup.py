# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One backup run of the sessions root (used by ``session_backup``): choose the tenants, read each one
consistently, write one verified archive into the backup directory, apply the retention.

``backup(...)`` returns the result dict; ``BackupFailed`` carries it when some sessions could not be read.
Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import stat
import time

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import archive as arc
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    DEFAULT_LAYOUT, creds_filename)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.names import name_problem
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import (
    kind_of, lstat_at, open_dir)

DEFAULT_KEEP = 7


class BackupFailed(Exception):
    """Some sessions were not backed up; ``result`` describes the archive written with the others."""

    def __init__(self, msg, result):
        super(BackupFailed, self).__init__(msg)
        self.result = result


def open_sessions_root(path, option='path'):
    """Open the sessions root (the configured path, as ``session_migrate`` does)."""
    arc.require_absolute(path, option)
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise arc.BackupError('The sessions root (%s) %s does not exist. Give the sessions root of the '
                                  'gateway, for example /home/RubyManager/web/whatsapp.rubymanager.app/sessions'
                                  % (option, path))
        raise arc.BackupError('The sessions root (%s) %s cannot be read: %s' % (option, path, exc.strerror))
    if not stat.S_ISDIR(st.st_mode):
        raise arc.BackupError('The sessions root (%s) %s is not a directory' % (option, path))
    try:
        return open_dir(path, follow=True)
    except OSError as exc:
        raise arc.BackupError('The sessions root (%s) %s cannot be opened: %s' % (option, path, exc.strerror))


def select_tenants(root_fd, root_path, sessions):
    """``(names, not_found, skipped)``: the tenant directories to back up. Without ``sessions``, every directory
    of the sessions root with a safe name; hidden entries (staging directories, locks) are not tenants.
    Anything else at the top (files, symlinks, unsafe names) is reported in ``skipped``, never followed."""
    names, not_found, skipped = [], [], []
    if sessions is not None:
        candidates = sorted(set(sessions))
    else:
        with os.scandir(root_fd) as it:
            candidates = sorted(entry.name for entry in it if not entry.name.startswith('.'))
    for name in candidates:
        path = os.path.join(root_path, name)
        st = lstat_at(root_fd, name)
        if st is None:
            not_found.append(name)
            continue
        if not stat.S_ISDIR(st.st_mode):
            skipped.append({'path': path, 'reason': 'is a %s, not a tenant directory; not backed up (never '
                                                    'followed)' % kind_of(st.st_mode)})
            continue
        problem = name_problem(name)
        if problem is not None:
            skipped.append({'path': path, 'reason': 'is not a safe tenant name (it %s); not backed up' % problem})
            continue
        names.append(name)
    return names, not_found, skipped


def measure_session(root_fd, root_path, name):
    """``(files, bytes, skipped)`` of a session from metadata only (check mode); nothing is followed."""
    counts = [0, 0]
    skipped = []

    def walk(fd, path):
        with os.scandir(fd) as it:
            entries = sorted((entry.name, entry.stat(follow_symlinks=False)) for entry in it)
        for entry, st in entries:
            child = os.path.join(path, entry)
            if stat.S_ISDIR(st.st_mode):
                sub = open_dir(entry, dir_fd=fd)
                try:
                    walk(sub, child)
                finally:
                    os.close(sub)
            elif stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                counts[0] += 1
                counts[1] += st.st_size
            elif stat.S_ISREG(st.st_mode):
                skipped.append({'path': child, 'reason': 'has %d hard links; not backed up' % st.st_nlink})
            else:
                skipped.append({'path': child, 'reason': 'is a %s; not backed up (never followed or opened)'
                                                         % kind_of(st.st_mode)})

    fd = open_dir(name, dir_fd=root_fd)
    try:
        walk(fd, os.path.join(root_path, name))
    finally:
        os.close(fd)
    return counts[0], counts[1], skipped


def backup(path, backup_dir=arc.DEFAULT_BACKUP_DIR, sessions=None, layout=DEFAULT_LAYOUT, creds_file=None,
           keep=DEFAULT_KEEP, compress=True, retries=3, check_mode=False, want_diff=False, after_file=None):
    """Back up the sessions root ``path`` (or the tenants ``sessions``) into one archive in ``backup_dir``.

    Raises BackupError (nothing written) for bad options, BackupFailed (with the result: the archive holds the
    other sessions, the retention is not applied) when a session could not be read consistently.
    """
    layout = arc.resolve_layout(layout)
    arc.check_names(sessions)
    try:
        creds_filename(layout, 'example', creds_file)
    except ValueError as exc:
        raise arc.BackupError(str(exc))
    for value, option in ((keep, 'keep'), (retries, 'retries')):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise arc.BackupError('%s must be a whole number >= 0, got %r' % (option, value))
    arc.require_absolute(backup_dir, 'backup_dir')
    root_fd = open_sessions_root(path)
    try:
        dir_fd, dir_changes = arc.private_dir(backup_dir, 'backup_dir', path, create=True, check_mode=check_mode)
        try:
            return _run(path, root_fd, backup_dir, dir_fd, dir_changes, sessions, layout, creds_file, keep,
                        compress, retries, check_mode, want_diff, after_file)
        finally:
            if dir_fd is not None:
                os.close(dir_fd)
    finally:
        os.close(root_fd)


def _run(path, root_fd, backup_dir, dir_fd, dir_changes, sessions, layout, creds_file, keep, compress, retries,
         check_mode, want_diff, after_file):
    names, not_found, skipped = select_tenants(root_fd, path, sessions)
    # Archives of named tenants have their own prefix and retention: they never push out a full backup.
    prefix = arc.ARCHIVE_PREFIX if sessions is None else arc.PARTIAL_PREFIX
    existing = arc.list_archives(dir_fd, prefix) if dir_fd is not None else []
    stamp = time.strftime(arc.STAMP_FORMAT, time.gmtime())
    name = arc.archive_name(prefix, stamp, compress,
                            lambda n: dir_fd is not None and lstat_at(dir_fd, n) is not None)
    result = {
        'changed': True, 'archive': os.path.join(backup_dir, name),
        'checksum_file': os.path.join(backup_dir, name + arc.CHECKSUM_SUFFIX), 'backup_dir': backup_dir,
        'backup_dir_changes': dir_changes, 'tenants': [], 'files': 0, 'bytes': 0, 'not_found': not_found,
        'skipped': skipped, 'failed': [], 'removed': [], 'stale_temp': [],
    }
    after_names = existing + [name]
    if keep:
        doomed = after_names[:max(0, len(after_names) - keep)]
    else:
        doomed = []
    if check_mode:
        for tenant in names:
            files, nbytes, tenant_skipped = measure_session(root_fd, path, tenant)
            result['tenants'].append({'name': tenant, 'files': files, 'bytes': nbytes})
            result['files'] += files
            result['bytes'] += nbytes
            result['skipped'].extend(tenant_skipped)
        result['removed'] = [os.path.join(backup_dir, n) for n in doomed]
        if dir_fd is not None:
            result['stale_temp'] = [os.path.join(backup_dir, n) for n in arc.stale_temp_files(dir_fd)]
    else:
        for stale in arc.stale_temp_files(dir_fd):
            arc.unlink_quiet(dir_fd, stale)
            result['stale_temp'].append(os.path.join(backup_dir, stale))
        written, failed = arc.write_archive(dir_fd, backup_dir, name, root_fd, path, names, layout, creds_file,
                                            compress, retries, after_file)
        result['failed'] = failed
        result['sha256'] = written['sha256']
        result['size'] = written['size']
        result['skipped'].extend(written['skipped'])
        for tenant in names:
            summary = written['tenants'].get(tenant)
            if summary is None:
                continue
            result['tenants'].append({'name': tenant, 'files': summary['files'], 'bytes': summary['bytes'],
                                      'creds_valid': summary['creds_valid']})
            result['files'] += summary['files']
            result['bytes'] += summary['bytes']
        if failed:
            doomed = []  # an incomplete backup never pushes a complete one out
        for old in doomed:
            arc.unlink_quiet(dir_fd, old)
            arc.unlink_quiet(dir_fd, old + arc.CHECKSUM_SUFFIX)
            result['removed'].append(os.path.join(backup_dir, old))
        if doomed:
            os.fsync(dir_fd)
    if want_diff:
        after = [n for n in after_names if n not in doomed]
        result['diff'] = {'before_header': backup_dir, 'after_header': backup_dir,
                          'before': ''.join('%s\n' % n for n in existing),
                          'after': ''.join('%s\n' % n for n in after)}
    if result['failed']:
        raise BackupFailed('%d session(s) not backed up: %s. The archive %s holds the other %d session(s); old '
                           'archives were kept.' % (len(result['failed']), '; '.join(item['msg'] for item in
                                                                                     result['failed']),
                                                    result['archive'], len(result['tenants'])), result)
    return result
