# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restoring sessions from a backup archive (used by ``session_restore``).

Order of the work, and why:

1. The archive is verified against its manifest (and its checksum file) before anything is touched: a
   corrupted or hostile archive is refused and nothing changes.
2. Under the migration's lock, each tenant is compared with its archived copy: identical ones are left alone
   (a second run changes nothing); a session with valid creds that is newer than its archived copy is refused
   unless ``force``.
3. The archive is read a second time and each tenant is written into ``<root>/.staging-<token>/`` (root-owned,
   mode 0700 until it is in place), its creds file under the fixed name ``.creds.staged``; every member is
   checked again against the manifest. Then everything is flushed (``syncfs``, or fsync per file).
4. Per tenant: a session that is replaced is first saved as a verified archive ``replaced-<tenant>-<time>``
   in the backup directory, its creds file is renamed to ``.creds.replaced`` and the directory is swapped out
   (``renameat2(RENAME_EXCHANGE)`` where the file system offers it, else two renames). The staging directory is
   renamed to ``<root>/<tenant>``, ``.creds.staged`` to the real creds name, the directory gets its owner and
   mode, the directories are fsynced, and the old copy is removed.

So at no moment does a creds file exist below the root other than ``<root>/<tenant>/<creds>``, and a crash
leaves each tenant either as it was, restored, or without a creds file (the state a re-run repairs), plus at
most ``.staging-*`` directories, which the next run removes. The crash tests kill the process at each step
through ``safecopy.fault_point`` (phases ``restore-stage``, ``restore-flushed``, ``restore-saved``,
``restore-aside``, ``restore-swapped``, ``restore-in-place`` and ``cleanup``).

Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import grp
import os
import pwd
import stat
import time

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import archive as arc
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.backup import open_sessions_root
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    DEFAULT_LAYOUT, MAX_CREDS_BYTES, get_layout)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import (
    CREATE_FLAGS, LockTimeout, SessionError, acquire_lock, fault_point, kind_of, libc_function, lstat_at, open_dir,
    read_file_at, rmtree_at, syncfs_available)

DEFAULT_STATE_DIR = '/var/lib/rubymanager/session_persistence'
LOCK_NAME = 'session_migrate.lock'
LEGACY_LOCK_NAME = '.session_migrate.lock'
STAGING_PREFIX = '.staging-'
CREDS_REPLACED = '.creds.replaced'
RENAME_EXCHANGE = 2

__all__ = ['restore', 'RestoreFailed', 'LockTimeout']


class RestoreFailed(Exception):
    """Some tenants were refused or failed; ``result`` holds what was done."""

    def __init__(self, msg, result):
        super(RestoreFailed, self).__init__(msg)
        self.result = result


# ----------------------------------------------------------------------------------------------------------
# small helpers


def exchange(dir_fd, first, second):
    """Swap the entries ``first`` and ``second`` of ``dir_fd`` atomically; False when the system cannot."""
    func = libc_function('renameat2', 'c_int', 'c_char_p', 'c_int', 'c_char_p', 'c_uint')
    if func is None:
        return False
    try:
        func(dir_fd, os.fsencode(first), dir_fd, os.fsencode(second), RENAME_EXCHANGE)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            return False
        raise
    return True


def resolve_override(value, what):
    """uid/gid of a user/group name or numeric id that exists on this host; None when ``value`` is empty."""
    if value is None or value == '':
        return None
    text = str(value).strip()
    by_name, by_id = (pwd.getpwnam, pwd.getpwuid) if what == 'owner' else (grp.getgrnam, grp.getgrgid)
    try:
        return by_name(text)[2]
    except KeyError:
        pass
    if text.isdigit():
        try:
            by_id(int(text))
            return int(text)
        except (KeyError, OverflowError):
            pass
    raise arc.BackupError('%s %r does not exist on this host; give the service user/group (or leave it unset to '
                          'keep the owners recorded in the archive)' % (what, text))


def entry_ids(entry, uid, gid):
    """Owner and group of a restored member: the override, else the archived name when it exists here, else the
    archived numeric id."""
    if uid is None:
        try:
            uid = pwd.getpwnam(entry.get('user') or '').pw_uid
        except KeyError:
            uid = entry['uid']
    if gid is None:
        try:
            gid = grp.getgrnam(entry.get('group') or '').gr_gid
        except KeyError:
            gid = entry['gid']
    return uid, gid


def entry_mode(entry):
    """The archived mode, without setuid or sticky bits (and without setgid on files)."""
    mode = int(entry['mode'], 8)
    return mode & (0o2777 if entry['type'] == 'dir' else 0o777)


class _NullSpool(object):
    """A spool that keeps nothing: comparing a session with its archived copy needs only the hashes."""

    def __init__(self):
        self.pos = 0

    def seek(self, pos, whence=0):
        self.pos = pos

    def truncate(self, size=None):
        pass

    def tell(self):
        return self.pos

    def write(self, data):
        self.pos += len(data)


# States of ``<root>/<tenant>`` before a restore.
ABSENT = 'absent'
EMPTY = 'an empty directory'
NOT_DIR = 'not a directory'
INVALID = 'invalid'
VALID = 'valid'


def tenant_state(root_fd, name, creds, layout):
    """``(state, problem)`` of ``<root>/<name>``, read without following anything: the creds file (one small
    file) is read and validated; nothing else."""
    st = lstat_at(root_fd, name)
    if st is None:
        return ABSENT, None
    if not stat.S_ISDIR(st.st_mode):
        return NOT_DIR, 'is a %s' % kind_of(st.st_mode)
    fd = open_dir(name, dir_fd=root_fd)
    try:
        creds_st = lstat_at(fd, creds)
        if creds_st is None:
            with os.scandir(fd) as it:
                empty = next(iter(it), None) is None
            return (EMPTY, None) if empty else (INVALID, 'no creds file %s' % creds)
        if not stat.S_ISREG(creds_st.st_mode):
            return INVALID, 'creds file %s is a %s' % (creds, kind_of(creds_st.st_mode))
        problem = arc.creds_problem_of(read_file_at(fd, creds, MAX_CREDS_BYTES), layout)
    finally:
        os.close(fd)
    return (INVALID, problem) if problem is not None else (VALID, None)


def archive_layout(verified):
    try:
        return get_layout(verified.manifest.get('layout') or DEFAULT_LAYOUT)
    except ValueError:
        return get_layout(DEFAULT_LAYOUT)


# ----------------------------------------------------------------------------------------------------------
# the run

def find_newest(backup_dir):
    """Path of the newest ``sessions-*`` archive in ``backup_dir``."""
    arc.require_absolute(backup_dir, 'backup_dir')
    try:
        fd = open_dir(backup_dir)
    except OSError as exc:
        raise arc.BackupError('backup_dir %s cannot be opened (%s); give the archive with backup_archive'
                              % (backup_dir, exc.strerror))
    try:
        names = arc.list_archives(fd)
    finally:
        os.close(fd)
    if not names:
        raise arc.BackupError('There is no archive (sessions-*.tar.gz) in backup_dir %s; give one with '
                              'backup_archive' % backup_dir)
    return os.path.join(backup_dir, names[-1])


def restore(dest, archive=None, backup_dir=arc.DEFAULT_BACKUP_DIR, state_dir=DEFAULT_STATE_DIR, sessions=None,
            force=False, owner=None, group=None, lock_timeout=300, check_mode=False, want_diff=False,
            use_syncfs=None, use_exchange=True):
    """Restore the tenants ``sessions`` (all tenants of the archive when None) into the sessions root ``dest``.

    Raises BackupError (bad options, nothing touched), ArchiveError (the archive is refused, nothing touched),
    LockTimeout, or RestoreFailed (with the result) when a tenant was refused or failed.
    """
    arc.check_names(sessions)
    uid = resolve_override(owner, 'owner')
    gid = resolve_override(group, 'group')
    arc.require_absolute(dest, 'dest')
    arc.require_absolute(state_dir, 'state_dir')
    arc.require_absolute(backup_dir, 'backup_dir')
    try:
        timeout = float(lock_timeout)
    except (TypeError, ValueError):
        timeout = -1
    if timeout < 0:
        raise arc.BackupError('lock_timeout must be a number of seconds >= 0, got %r' % (lock_timeout,))
    if arc.inside(state_dir, dest):
        raise arc.BackupError('state_dir %s is inside the sessions root %s; root\'s lock must be where the service '
                              'user cannot write' % (state_dir, dest))
    if archive is None:
        archive = find_newest(backup_dir)
    arc.require_absolute(archive, 'archive')
    verified = arc.verify_archive(archive, sessions)
    names = sorted(set(sessions)) if sessions is not None else sorted(verified.tenants)
    root_fd = open_sessions_root(dest, 'dest')
    try:
        state_fd, _changes = arc.private_dir(state_dir, 'state_dir', dest, create=True,
                                             check_mode=check_mode)
        lock_fds = []
        try:
            if state_fd is not None:
                lock_fd = acquire_lock(state_fd, LOCK_NAME, timeout, os.path.join(state_dir, LOCK_NAME),
                                       create=not check_mode)
                if lock_fd is not None:
                    lock_fds.append(lock_fd)
            legacy = acquire_lock(root_fd, LEGACY_LOCK_NAME, timeout, os.path.join(dest, LEGACY_LOCK_NAME),
                                  create=False)
            if legacy is not None:
                lock_fds.append(legacy)
            result = _run(dest, root_fd, verified, names, force, uid, gid, backup_dir, check_mode, want_diff,
                          use_syncfs, use_exchange)
        finally:
            for fd in lock_fds:
                os.close(fd)
            if state_fd is not None:
                os.close(state_fd)
    finally:
        os.close(root_fd)
    problems = ['%s: %s' % (item['name'], item['reason']) for item in result['refused']]
    problems += [item['msg'] for item in result['errors']]
    if problems:
        raise RestoreFailed('%d tenant(s) not restored: %s' % (len(problems), '; '.join(problems)), result)
    return result


def _run(dest, root_fd, verified, names, force, uid, gid, backup_dir, check_mode, want_diff, use_syncfs,
         use_exchange):
    result = {'changed': False, 'archive': verified.path, 'archive_sha256': verified.sha256,
              'archive_created': verified.manifest.get('created'), 'restored': [], 'unchanged': [],
              'refused': [], 'errors': [], 'stale_staging': []}
    with os.scandir(root_fd) as it:
        stale = sorted(entry.name for entry in it if entry.name.startswith(STAGING_PREFIX))
    for name in stale:
        path = os.path.join(dest, name)
        if not check_mode:
            try:
                rmtree_at(root_fd, name, path)
                os.fsync(root_fd)
            except OSError as exc:
                result['errors'].append({'name': name, 'path': path, 'msg': 'cannot remove the stale staging '
                                         'directory %s: %s' % (path, exc.strerror)})
                continue
        result['stale_staging'].append(path)
        result['changed'] = True

    plans = []
    before_lines, after_lines = [], []
    for name in names:
        try:
            plan = _plan(dest, root_fd, verified, name, force)
        except (OSError, SessionError) as exc:
            path = getattr(exc, 'path', None) or getattr(exc, 'filename', None) or os.path.join(dest, name)
            result['errors'].append({'name': name, 'path': path, 'msg': '%s: %s' % (
                path, getattr(exc, 'reason', None) or exc.strerror or exc)})
            continue
        before_lines.append('%s: %s\n' % (name, plan['previous']))
        if plan['action'] == 'unchanged':
            result['unchanged'].append(name)
            after_lines.append('%s: %s\n' % (name, plan['previous']))
        elif plan['action'] == 'refuse':
            result['refused'].append({'name': name, 'reason': plan['reason']})
            after_lines.append('%s: %s\n' % (name, plan['previous']))
        elif plan['action'] == 'error':
            result['errors'].append({'name': name, 'path': os.path.join(dest, name), 'msg': plan['reason']})
            after_lines.append('%s: %s\n' % (name, plan['previous']))
        else:
            plans.append(plan)
            summary = verified.tenants[name]
            after_lines.append('%s: restored from %s (%d files, %d bytes)\n'
                               % (name, verified.path, summary.get('files', 0), summary.get('bytes', 0)))
    if want_diff:
        result['diff'] = {'before_header': dest, 'after_header': '%s (from %s)' % (dest, verified.path),
                          'before': ''.join(before_lines), 'after': ''.join(after_lines)}
    if check_mode:
        stamp = time.strftime(arc.STAMP_FORMAT, time.gmtime())
        for plan in plans:
            entry = _entry(plan, verified)
            if plan['action'] == 'replace':
                entry['backup'] = os.path.join(backup_dir, _replaced_name(plan['name'], stamp))
            result['restored'].append(entry)
            result['changed'] = True
        return result
    if not plans:
        return result

    for plan in plans:
        plan.update(top_entry=verified.entries[(plan['name'],)], uid=uid, gid=gid)
    bdir_fd = None
    if any(plan['action'] == 'replace' for plan in plans):
        bdir_fd, _changes = arc.private_dir(backup_dir, 'backup_dir', dest, create=True, check_mode=False)
    try:
        staged = _extract(dest, root_fd, verified, plans, uid, gid, use_syncfs)
        try:
            for plan in plans:
                stage = staged[plan['name']]
                try:
                    backup_path = None
                    if plan['action'] == 'replace':
                        backup_path = _save_replaced(dest, root_fd, bdir_fd, backup_dir, plan, verified)
                        fault_point('restore-saved')
                    _swap_in(dest, root_fd, plan, stage, use_exchange)
                except (OSError, SessionError, arc.BackupError, arc.ArchiveError) as exc:
                    path = (getattr(exc, 'path', None) or getattr(exc, 'filename', None)
                            or os.path.join(dest, plan['name']))
                    result['errors'].append({'name': plan['name'], 'path': path, 'msg': '%s: %s' % (
                        os.path.join(dest, plan['name']), getattr(exc, 'reason', None) or exc.strerror or exc)})
                    continue
                entry = _entry(plan, verified)
                entry['backup'] = backup_path
                result['restored'].append(entry)
                result['changed'] = True
        finally:
            for stage in staged.values():
                if not stage.get('done'):
                    _remove_staging(root_fd, dest, stage['staging'], result)
    finally:
        if bdir_fd is not None:
            os.close(bdir_fd)
    return result


def _entry(plan, verified):
    summary = verified.tenants[plan['name']]
    return {'name': plan['name'], 'previous': plan['previous'], 'files': summary.get('files', 0),
            'bytes': summary.get('bytes', 0), 'backup': None}


def _replaced_name(name, stamp):
    return '%s%s-%s.tar.gz' % (arc.REPLACED_PREFIX, arc.short_component(name), stamp)


def _plan(dest, root_fd, verified, name, force):
    """What to do with ``<dest>/<name>``: ``restore`` (absent or empty), ``replace`` (after a backup),
    ``unchanged``, ``refuse`` or ``error``."""
    summary = verified.tenants[name]
    creds = summary['creds']
    plan = {'name': name, 'creds': creds}
    state, problem = tenant_state(root_fd, name, creds, archive_layout(verified))
    if state == NOT_DIR:
        return dict(plan, action='error', previous=NOT_DIR,
                    reason='%s exists but is not a directory (%s); not touched' % (os.path.join(dest, name), problem))
    if state in (ABSENT, EMPTY):
        return dict(plan, action='restore', previous=state)
    if state == INVALID:
        return dict(plan, action='replace', previous='invalid (%s)' % problem)
    snapshot = arc.read_session(root_fd, dest, name, _NullSpool(), retries=1)
    current = dict((m.parts, (m.kind, m.size, m.sha256)) for m in snapshot.members)
    archived = dict((parts, (entry['type'], entry.get('size', 0), entry.get('sha256')))
                    for parts, entry in verified.tenant_entries(name))
    if current == archived:
        return dict(plan, action='unchanged', previous='valid, identical to the archived copy')
    newest = max([m.st.st_mtime_ns for m in snapshot.files] or [0])
    archived_newest = max([entry['mtime_ns'] for _parts, entry in verified.tenant_entries(name)
                           if entry['type'] == 'file'] or [0])
    when = time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(newest / 1e9))
    if newest > archived_newest:
        previous = 'valid, newer than the archived copy (a file changed %s)' % when
        if not force:
            return dict(plan, action='refuse', previous=previous,
                        reason='%s has valid creds and is newer than its copy in the archive (a file changed %s); '
                               'not replaced. Set restore_force=true (force) to replace it; it is saved first'
                               % (os.path.join(dest, name), when))
        return dict(plan, action='replace', previous=previous)
    return dict(plan, action='replace', previous='valid, differs from the archived copy and not newer than it')


# ----------------------------------------------------------------------------------------------------------
# pass 2: write every chosen tenant into its staging directory

def _extract(dest, root_fd, verified, plans, uid, gid, use_syncfs):
    """Stage every planned tenant; returns ``{name: stage}``. On any problem every staging directory is removed
    and the error raised (nothing was changed in the sessions root)."""
    use_syncfs = syncfs_available() if use_syncfs is None else use_syncfs
    chosen = dict((plan['name'], plan) for plan in plans)
    staged = {}
    current = {'name': None, 'fds': {}}
    try:
        fd = arc.open_archive(verified.path)
        try:
            reader = arc.ArchiveReader(fd, verified.path)
            for parts, member, fileobj in reader:
                name = parts[0]
                if name not in chosen:
                    continue
                entry = verified.entries.get(parts)
                if entry is None:
                    raise arc.ArchiveError(verified.path, 'member %r is not in the manifest (the archive changed '
                                                          'while it was restored)' % member.name)
                if current['name'] != name:
                    _close_fds(current)
                    current['name'] = name
                    if name not in staged:
                        staged[name] = _new_staging(root_fd, dest, name)
                stage = staged[name]
                if entry['type'] == 'dir':
                    _ensure_dir(root_fd, stage, current['fds'], parts, uid, gid, verified)
                    continue
                parent = _ensure_dir(root_fd, stage, current['fds'], parts[:-1], uid, gid, verified)
                file_name = arc.CREDS_STAGED if (len(parts) == 2 and parts[1] == chosen[name]['creds']) \
                    else parts[-1]
                _write_file(parent, file_name, fileobj, entry, uid, gid, verified.path, parts, use_syncfs)
                if file_name == arc.CREDS_STAGED:
                    stage['creds_staged'] = True
            _close_fds(current)
            if reader.sha256 != verified.sha256:
                raise arc.ArchiveError(verified.path, 'it changed between its verification and the restore')
        finally:
            os.close(fd)
        for name in sorted(chosen):
            if name not in staged:
                staged[name] = _new_staging(root_fd, dest, name)
            _finish_dirs(root_fd, staged[name], verified, uid, gid, use_syncfs)
        if use_syncfs:
            arc.flush(root_fd, True)
        else:
            os.fsync(root_fd)
        fault_point('restore-flushed')
    except BaseException:
        _close_fds(current)
        for stage in staged.values():
            try:
                rmtree_at(root_fd, stage['staging'], os.path.join(dest, stage['staging']))
            except OSError:
                pass
        raise
    return staged


def _close_fds(current):
    for fd in current['fds'].values():
        os.close(fd)
    current['fds'] = {}


def _new_staging(root_fd, dest, name):
    staging = STAGING_PREFIX + arc.token()
    os.mkdir(staging, 0o700, dir_fd=root_fd)
    fd = open_dir(staging, dir_fd=root_fd)
    try:
        st = os.fstat(fd)
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return {'name': name, 'staging': staging, 'dev': st.st_dev, 'ino': st.st_ino, 'creds_staged': False}


def _open_staging(root_fd, stage):
    """The staging directory, checked to be the one this run created (the sessions root is writable by the
    service user, who could put something else under its name)."""
    fd = open_dir(stage['staging'], dir_fd=root_fd)
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (stage['dev'], stage['ino']):
        os.close(fd)
        raise SessionError(stage['staging'], 'the staging directory was replaced while the restore ran')
    return fd


def _ensure_dir(root_fd, stage, fds, parts, uid, gid, verified):
    """fd of the staged directory ``parts`` (the tenant's top = the staging directory), created when missing."""
    if parts in fds:
        return fds[parts]
    if len(parts) == 1:
        fds[parts] = _open_staging(root_fd, stage)
        return fds[parts]
    parent = _ensure_dir(root_fd, stage, fds, parts[:-1], uid, gid, verified)
    try:
        os.mkdir(parts[-1], 0o700, dir_fd=parent)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise
    fds[parts] = open_dir(parts[-1], dir_fd=parent)
    return fds[parts]


def _write_file(dir_fd, file_name, fileobj, entry, uid, gid, display, parts, use_syncfs):
    fd = os.open(file_name, CREATE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        owner, group = entry_ids(entry, uid, gid)
        os.fchown(fd, owner, group)
        os.fchmod(fd, entry_mode(entry))

        def write(chunk):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        size, sha256 = arc.read_member_data(fileobj, display, parts, write)
        if size != entry.get('size') or sha256 != entry.get('sha256'):
            raise arc.ArchiveError(display, 'member %r changed between its verification and the restore'
                                   % arc.display_path(parts))
        os.utime(fd, ns=(entry['mtime_ns'], entry['mtime_ns']))
        if not use_syncfs:
            os.fsync(fd)
        fault_point('restore-stage')
    finally:
        os.close(fd)


def _finish_dirs(root_fd, stage, verified, uid, gid, use_syncfs):
    """Owner, mode and mtime of every staged sub-directory (deepest first); the tenant's own directory keeps
    root-only 0700 until it is in place."""
    dirs = sorted((parts for parts, entry in verified.tenant_entries(stage['name']) if entry['type'] == 'dir'
                   and len(parts) > 1), key=len, reverse=True)
    top = _open_staging(root_fd, stage)
    try:
        for parts in dirs:
            fd = top
            opened = []
            try:
                for part in parts[1:]:
                    fd = open_dir(part, dir_fd=fd)
                    opened.append(fd)
                entry = verified.entries[parts]
                os.fchown(fd, *entry_ids(entry, uid, gid))
                os.fchmod(fd, entry_mode(entry))
                os.utime(fd, ns=(entry['mtime_ns'], entry['mtime_ns']))
                if not use_syncfs:
                    os.fsync(fd)
            finally:
                for sub in opened:
                    os.close(sub)
        if not use_syncfs:
            os.fsync(top)
    finally:
        os.close(top)


def _remove_staging(root_fd, dest, staging, result):
    try:
        rmtree_at(root_fd, staging, os.path.join(dest, staging))
        os.fsync(root_fd)
    except OSError as exc:
        result.setdefault('warnings', []).append('%s: could not remove the staging directory (%s); the next run '
                                                 'removes it' % (os.path.join(dest, staging), exc.strerror))


# ----------------------------------------------------------------------------------------------------------
# per tenant: save the current session, swap the staged one in

def _save_replaced(dest, root_fd, bdir_fd, backup_dir, plan, verified):
    """Write the current ``<dest>/<name>`` as a verified single-tenant archive in the backup directory."""
    name = plan['name']
    stamp = time.strftime(arc.STAMP_FORMAT, time.gmtime())
    final = arc.archive_name('%s%s-' % (arc.REPLACED_PREFIX, arc.short_component(name)), stamp, True,
                             lambda n: lstat_at(bdir_fd, n) is not None)
    written, failed = arc.write_archive(bdir_fd, backup_dir, final, root_fd, dest, [name], archive_layout(verified),
                                        creds_file=plan['creds'], compress=True, retries=3,
                                        extra={'replaced_by_restore_of': verified.path})
    if failed:
        path = os.path.join(backup_dir, final)
        arc.unlink_quiet(bdir_fd, final)
        arc.unlink_quiet(bdir_fd, final + arc.CHECKSUM_SUFFIX)
        raise SessionError(failed[0]['path'], '%s; it could not be saved to %s, so it was not replaced'
                           % (failed[0]['msg'], path))
    return written['archive']


def _swap_in(dest, root_fd, plan, stage, use_exchange):
    name = plan['name']
    target = os.path.join(dest, name)
    top = _open_staging(root_fd, stage)
    try:
        aside = None
        if plan['action'] == 'replace':
            aside = _swap_out(root_fd, plan, stage, use_exchange)
        else:
            try:
                os.rename(stage['staging'], name, src_dir_fd=root_fd, dst_dir_fd=root_fd)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                    raise SessionError(target, 'something was written there while restoring (%s); nothing '
                                               'changed for this tenant, re-run' % exc.strerror)
                raise
        stage['done'] = True
        os.fsync(root_fd)
        fault_point('restore-swapped')
        st = lstat_at(root_fd, name)
        mine = os.fstat(top)
        if st is None or (st.st_dev, st.st_ino) != (mine.st_dev, mine.st_ino):
            raise SessionError(target, 'was replaced by something else right after the restore put it in place')
        if stage['creds_staged']:
            os.rename(arc.CREDS_STAGED, plan['creds'], src_dir_fd=top, dst_dir_fd=top)
        entry = plan['top_entry']
        os.fchown(top, *entry_ids(entry, plan['uid'], plan['gid']))
        os.fchmod(top, entry_mode(entry))
        os.utime(top, ns=(entry['mtime_ns'], entry['mtime_ns']))
        os.fsync(top)
        os.fsync(root_fd)
        fault_point('restore-in-place')
        if aside is not None:
            rmtree_at(root_fd, aside, os.path.join(dest, aside))
            os.fsync(root_fd)
    finally:
        os.close(top)


def _swap_out(root_fd, plan, stage, use_exchange):
    """Put the staged tenant in place of the current one; returns the name the old one now has (a staging
    name, removed by the caller or by the next run). Its creds file is renamed away first, so no second creds
    file ever exists below the root. On failure the old session is put back as it was."""
    name = plan['name']
    old = open_dir(name, dir_fd=root_fd)
    try:
        had_creds = lstat_at(old, plan['creds']) is not None
        if had_creds:
            os.rename(plan['creds'], CREDS_REPLACED, src_dir_fd=old, dst_dir_fd=old)
            os.fsync(old)
            fault_point('restore-aside')
        try:
            if use_exchange and exchange(root_fd, stage['staging'], name):
                return stage['staging']
            aside = STAGING_PREFIX + arc.token()
            os.rename(name, aside, src_dir_fd=root_fd, dst_dir_fd=root_fd)
            try:
                os.rename(stage['staging'], name, src_dir_fd=root_fd, dst_dir_fd=root_fd)
            except OSError:
                os.rename(aside, name, src_dir_fd=root_fd, dst_dir_fd=root_fd)
                raise
            return aside
        except OSError:
            if had_creds:
                os.rename(CREDS_REPLACED, plan['creds'], src_dir_fd=old, dst_dir_fd=old)
                os.fsync(old)
            raise
    finally:
        os.close(old)
