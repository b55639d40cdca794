# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one-time migration of legacy sessions into the fixed sessions root (used by ``session_migrate``).

``migrate(options)`` does the whole run and returns the result dict; ``MigrationFailed`` carries the same
dict when some sessions failed. Plain Python, no Ansible imports.

What happens to ``<dest>/<name>`` (``dest_state`` in discovery):

* absent                 -> the staged copy is renamed into place.
* empty directory        -> (the role pre-creates those) the staged copy is renamed over it; rename(2)
                            replaces an empty directory atomically, so there is no moment without it.
* directory without a usable creds file (missing/empty creds, but other files)
                         -> it is not a session; it is renamed to ``.backup/<name>.<timestamp>`` and the
                            staged copy is renamed into place. Nothing is deleted.
* valid session          -> ``on_conflict`` decides: keep (default), newest (replace only when the chosen
                            legacy creds file is newer; old one renamed into ``.backup`` first), fail.
* anything else (file, symlink) -> error for that session, never touched.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import errno
import grp
import hashlib
import json
import os
import pwd
import re
import stat
import time

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import discovery
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    DEFAULT_LAYOUT, creds_filename, get_layout)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.names import check_session_name
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import (
    O_CLOEXEC, O_NOFOLLOW, O_NONBLOCK, STAGED_DISPLAY, CopySettings, SessionError, acquire_lock, copy_plan,
    fault_point, hash_sources, open_dir, os_error, read_file_at, remove_verified, rmtree_at, scan_session, syncfs,
    verify_copy)

LOCK_NAME = '.session_migrate.lock'
STAGING_PREFIX = '.staging-'
JOURNAL_PREFIX = '.moving-'
BACKUP_DIR = '.backup'
STORAGE_ROLE = 'rubymanager.session_persistence.session_storage'

# Staged sessions flushed by one syncfs before they are renamed into place (bounds memory and open files).
SYNC_BATCH_SESSIONS = 64
SYNC_BATCH_FILES = 8192

MODES = ('copy', 'move')
PREFER = ('first', 'newest')
ON_CONFLICT = ('keep', 'newest', 'fail')


class SetupError(Exception):
    """Bad options or an unusable ``dest``: nothing has been touched."""


class MigrationFailed(Exception):
    """Some sessions failed; ``result`` holds everything that was done and ``errors``."""

    def __init__(self, msg, result):
        super(MigrationFailed, self).__init__(msg)
        self.result = result


def parse_mode(value, option):
    """Octal string such as ``'2750'`` / ``'0640'`` -> int. World permission bits are refused."""
    text = str(value).strip()
    if not re.match(r'^0?[0-7]{3,4}$', text):
        raise SetupError('%s must be an octal mode string like "0640" or "2750" (quote it in YAML), got %r'
                         % (option, value))
    mode = int(text, 8)
    if mode & 0o007:
        raise SetupError('%s %r gives permissions to others (world); session credentials must never be '
                         'world-accessible. Use something like "0640"/"2750"%s'
                         % (option, value, ' (an unquoted 0640 in YAML becomes the number 416)'
                            if text == '416' else ''))
    return mode


def resolve_owner(owner, group):
    """``(uid, gid)`` of user ``owner`` and group ``group`` (names or numbers); SetupError if unknown."""
    def lookup(value, getter, what):
        text = str(value)
        try:
            return getter(text)
        except KeyError:
            if text.isdigit():
                return int(text)
            raise SetupError('%s %r does not exist on this host; create it first or set the %s option'
                             % (what, text, what))
    uid = lookup(owner, lambda v: pwd.getpwnam(v).pw_uid, 'owner')
    gid = lookup(group, lambda v: grp.getgrnam(v).gr_gid, 'group')
    return uid, gid


def _component(name, suffix):
    """``name`` + ``suffix`` as one file name of at most 255 bytes (long names are hashed)."""
    if len((name + suffix).encode('utf-8', 'surrogateescape')) <= 255:
        return name + suffix
    return hashlib.sha256(name.encode('utf-8', 'surrogateescape')).hexdigest()[:32] + suffix


def _token():
    return binascii.hexlify(os.urandom(4)).decode('ascii')


class Options(object):
    """Options of a migration run; the same names as the module options."""

    def __init__(self, dest, legacy_roots, sessions=None, layout=DEFAULT_LAYOUT, creds_file=None,
                 normalize_names=True, owner='www-data', group='www-data', dir_mode='2750', file_mode='0640',
                 mode='copy', prefer='first', on_conflict='keep', lock_timeout=300, check_mode=False,
                 want_diff=False, use_syncfs=None):
        self.dest = dest
        self.legacy_roots = list(legacy_roots or [])
        self.sessions = list(sessions) if sessions is not None else None
        self.layout = layout
        self.creds_file = creds_file
        self.normalize_names = normalize_names
        self.owner = owner
        self.group = group
        self.dir_mode = dir_mode
        self.file_mode = file_mode
        self.mode = mode
        self.prefer = prefer
        self.on_conflict = on_conflict
        self.lock_timeout = lock_timeout
        self.check_mode = check_mode
        self.want_diff = want_diff
        self.use_syncfs = use_syncfs


def new_result(move):
    result = {
        'changed': False, 'migrated': [], 'present': [], 'not_found': [], 'invalid': [], 'duplicates': [],
        'warnings': [], 'errors': [], 'stale_staging': [], 'legacy_roots': [],
    }
    if move:
        result['removed'] = []
    return result


def validate(options):
    """Check every option before anything is touched; returns ``(layout, settings)``."""
    try:
        layout = get_layout(options.layout)
    except ValueError as exc:
        raise SetupError(str(exc))
    for value, choices, option in ((options.mode, MODES, 'mode'), (options.prefer, PREFER, 'prefer'),
                                   (options.on_conflict, ON_CONFLICT, 'on_conflict')):
        if value not in choices:
            raise SetupError('%s must be one of %s, got %r' % (option, ', '.join(choices), value))
    if options.sessions is not None:
        for name in options.sessions:
            try:
                check_session_name(name)
            except ValueError as exc:
                raise SetupError(str(exc))
    try:
        creds_filename(layout, 'example', options.creds_file)
    except ValueError as exc:
        raise SetupError(str(exc))
    if not options.legacy_roots:
        raise SetupError('legacy_roots must list at least one directory (or glob) to search')
    try:
        timeout = float(options.lock_timeout)
    except (TypeError, ValueError):
        timeout = -1
    if timeout < 0:
        raise SetupError('lock_timeout must be a number of seconds >= 0, got %r' % (options.lock_timeout,))
    dir_mode = parse_mode(options.dir_mode, 'dir_mode')
    file_mode = parse_mode(options.file_mode, 'file_mode')
    uid, gid = resolve_owner(options.owner, options.group)
    settings = CopySettings(uid, gid, dir_mode, file_mode, use_syncfs=options.use_syncfs, defer_syncfs=True,
                            hash_files=options.mode == 'move')
    return layout, settings


def migrate(options, warn=None):
    """Run the migration described by ``options`` (an ``Options``). Returns the result dict.

    Raises SetupError (nothing touched), LockTimeout, or MigrationFailed (with the result) when at least one
    session failed; the other sessions are still processed.
    """
    layout, settings = validate(options)
    dest = options.dest
    if not os.path.isdir(dest):
        raise SetupError('The sessions root (dest) %s does not exist or is not a directory. Apply the %s role '
                         'first: it creates the sessions root with the right owner and modes.'
                         % (dest, STORAGE_ROLE))
    result = new_result(options.mode == 'move')
    try:
        dest_fd = open_dir(dest, follow=True)
    except OSError as exc:
        raise SetupError('Cannot open the sessions root (dest) %s: %s' % (dest, exc.strerror))
    try:
        lock_path = os.path.join(dest, LOCK_NAME)
        try:
            lock_fd = acquire_lock(dest_fd, LOCK_NAME, float(options.lock_timeout), lock_path,
                                   create=not options.check_mode)
        except OSError as exc:
            hint = {errno.EROFS: 'the sessions root is on a read-only file system',
                    errno.EACCES: 'run the task as root (become: true) or as the owner of the sessions root',
                    errno.EPERM: 'run the task as root (become: true) or as the owner of the sessions root'}
            raise SetupError('Cannot open the lock file %s: %s (%s); nothing was changed'
                             % (lock_path, exc.strerror or exc, hint.get(exc.errno, 'check the sessions root')))
        try:
            if lock_fd is not None and not options.check_mode:
                _own(lock_fd, settings)
            _run(options, layout, settings, dest_fd, result)
        finally:
            if lock_fd is not None:
                os.close(lock_fd)
    finally:
        os.close(dest_fd)
    if warn is not None:
        for message in result['warnings']:
            warn(message)
    if result['errors']:
        msg = '%d session(s) failed: %s' % (len(result['errors']), '; '.join(
            '%s: %s' % (err['name'], err['msg']) for err in result['errors']))
        raise MigrationFailed(msg, result)
    return result


def _run(options, layout, settings, dest_fd, result):
    dest = options.dest
    check = options.check_mode
    # Stale staging directories of an interrupted earlier run (we hold the lock, so none is in use).
    with os.scandir(dest_fd) as it:
        stale = sorted(entry.name for entry in it if entry.name.startswith(STAGING_PREFIX))
    for name in stale:
        path = os.path.join(dest, name)
        if not check:
            try:
                rmtree_at(dest_fd, name, path)
                os.fsync(dest_fd)
            except OSError as exc:
                result['errors'].append({'name': name, 'path': path,
                                         'msg': 'cannot remove stale staging directory %s: %s'
                                                % (path, exc.strerror)})
                continue
        result['stale_staging'].append(path)
        result['changed'] = True

    journals = _read_journals(dest_fd, dest, result) if options.mode == 'move' else {}
    roots, _skipped = discovery.expand_roots(options.legacy_roots, dest)
    result['legacy_roots'] = [root.path for root in roots]
    candidates, warnings = discovery.find_candidates(roots, layout, options.creds_file, options.sessions, dest)
    result['warnings'].extend(warnings)
    if options.want_diff:
        before = discovery.list_dest_sessions(dest, layout, options.creds_file)
        result['diff'] = {'before_header': dest, 'after_header': dest, 'before': before, 'after': list(before)}

    names = sorted(set(options.sessions)) if options.sessions is not None else list(candidates)
    staged = []  # (name, files, resumable migration) copied into staging, waiting for the shared syncfs
    try:
        for name in names:
            try:
                pending = _one_session(options, layout, settings, dest_fd, name, candidates.get(name, []), result,
                                       journals)
            except (OSError, SessionError) as exc:
                _session_error(dest, name, exc, result)
                continue
            if pending is not None:
                staged.append((name, pending[0], pending[1]))
                if len(staged) >= SYNC_BATCH_SESSIONS or sum(item[1] for item in staged) >= SYNC_BATCH_FILES:
                    _flush_staged(dest_fd, dest, staged, result)
        _flush_staged(dest_fd, dest, staged, result)
    finally:
        for _name, _files, migration in staged:
            migration.close()  # interrupted: remove the staging directories that were never renamed
    for name in sorted(journals):
        # The creds file of an unfinished move is gone: it was removed last, so at most an empty legacy
        # directory is left of it.
        if not check and (options.sessions is None or name in options.sessions):
            _remove_empty_leftover(roots, name, journals[name], result)
            _drop_journal(dest_fd, name)
    if 'diff' in result:
        diff = result['diff']
        after = set(diff['after'])
        after.update(item['name'] for item in result['migrated'])
        diff['before'] = ''.join('%s\n' % name for name in diff['before'])
        diff['after'] = ''.join('%s\n' % name for name in sorted(after))


def _session_error(dest, name, exc, result):
    if isinstance(exc, OSError):
        exc = os_error(exc, getattr(exc, 'filename', None) or os.path.join(dest, name))
    result['errors'].append({'name': name, 'path': exc.path, 'msg': str(exc)})


def _flush_staged(dest_fd, dest, staged, result):
    """Flush the staged copies of several sessions with ONE ``syncfs``, rename each into place, then fsync the
    sessions root once for the renames of plain copies (moves and replacements fsync after their own rename).

    ``syncfs`` costs a journal commit however little it writes, so one per session dominated the copy of many
    small sessions. Durability is unchanged: every staged file and directory is on disk before any session
    is renamed, and each session still appears with one atomic rename.
    """
    batch = list(staged)
    del staged[:]
    try:
        if batch:
            try:
                fault_point('fsync')
                syncfs(dest_fd)
            except OSError as exc:
                for name, _files, migration in batch:
                    migration.close()
                    _session_error(dest, name, exc, result)
                return
        for name, _files, migration in batch:
            try:
                next(migration, None)
            except (OSError, SessionError) as exc:
                _session_error(dest, name, exc, result)
        if batch:
            try:
                os.fsync(dest_fd)  # the renames of the batch (plain copies skip their own fsync)
            except OSError as exc:
                _session_error(dest, batch[-1][0], os_error(exc, dest), result)
    finally:
        for _name, _files, migration in batch:
            migration.close()


def _start(migration):
    """Run ``migration`` (a ``_migrate_one`` generator) up to its staged, unflushed copy.

    Returns ``(files, migration)`` to resume after the shared syncfs, or None when it finished already.
    """
    try:
        files = next(migration)
    except StopIteration:
        return None
    return files, migration


def _one_session(options, layout, settings, dest_fd, name, candidates, result, journals):
    dest = options.dest
    creds = creds_filename(layout, name, options.creds_file)
    target = os.path.join(dest, name)
    state, dest_creds = discovery.dest_state(dest_fd, name, creds)
    if state == discovery.NOT_DIR:
        raise SessionError(target, 'exists but is not a directory (or is a symlink); not touched')
    ordered = discovery.order_candidates(candidates, options.prefer)
    if not ordered:
        if state == discovery.VALID:
            _finish_move(options, layout, dest_fd, name, ordered, result, journals)
            result['present'].append(name)
        else:
            result['not_found'].append(name)
        return

    chosen = None
    if state == discovery.VALID:
        if options.on_conflict == 'keep':
            result['present'].append(name)
            _finish_move(options, layout, dest_fd, name, ordered, result, journals)
            return
        if options.on_conflict == 'fail':
            if any(_same_creds(cand.creds_st, dest_creds) for cand in ordered):
                result['present'].append(name)  # this legacy session was already migrated
                _finish_move(options, layout, dest_fd, name, ordered, result, journals)
                return
            chosen = _choose(ordered, result)
            if chosen is None:
                result['present'].append(name)
                return
            raise SessionError(target, 'already exists with other creds than the legacy session %s '
                                       '(on_conflict=fail); nothing changed for this session' % chosen.path)
        # on_conflict == 'newest': walk the candidates in order of preference; only a newer one is read.
        for cand in ordered:
            if cand.creds_st is None:
                continue
            if cand.creds_st.st_mtime_ns <= dest_creds.st_mtime_ns:
                break
            problem = discovery.creds_problem_of(cand)
            if problem is None:
                chosen = cand
                break
            result['invalid'].append({'name': name, 'path': cand.path, 'reason': problem})
        if chosen is None:
            result['present'].append(name)
            _finish_move(options, layout, dest_fd, name, ordered, result, journals)
            return
    else:
        chosen = _choose(ordered, result)
        if chosen is None:
            return  # every candidate is invalid: reported under invalid

    ignored = [cand.path for cand in ordered if cand is not chosen
               and not any(inv['path'] == cand.path for inv in result['invalid'] if inv['name'] == name)]
    if ignored:
        result['duplicates'].append({'name': name, 'used': chosen.path, 'ignored': ignored})
    journals.pop(name, None)
    return _start(_migrate_one(options, layout, settings, dest_fd, name, chosen, state, result))


def _finish_move(options, layout, dest_fd, name, ordered, result, journals):
    """mode=move, ``<dest>/<name>`` is a session: finish a move that an earlier run journaled but did not
    complete (killed after the rename, or half-way through removing the legacy files). The legacy files are
    removed only when each has an identical copy in dest; otherwise the legacy copy is kept and reported."""
    source = journals.pop(name, None)
    if options.mode != 'move' or source is None:
        return
    for cand in ordered:
        if cand.path != source or cand.creds_st is None:
            continue
        creds = creds_filename(layout, name, options.creds_file)
        root_fd = discovery.open_root(cand.root)
        try:
            try:
                plan = scan_session(root_fd, cand.root.path, name, layout, options.normalize_names, creds)
                hashes = hash_sources(plan, root_fd)
            except OSError as exc:
                raise os_error(exc, cand.path)
            session_fd = open_dir(name, dir_fd=dest_fd)
            try:
                verify_copy(plan, hashes, session_fd, os.path.join(options.dest, name), exact=False)
                complete, warnings = not plan.left_behind, []
                if not options.check_mode:
                    try:
                        complete, warnings = remove_verified(plan, root_fd, last=creds)
                    except OSError as exc:
                        raise os_error(exc, cand.path)
                    os.fsync(root_fd)
            except SessionError as exc:
                complete, warnings = False, ['%s: an interrupted move is not finished: %s' % (cand.path, exc)]
            finally:
                os.close(session_fd)
        finally:
            os.close(root_fd)
        result['warnings'].extend(warnings)
        result['changed'] = True
        if complete:
            result['removed'].append(cand.path)
        else:
            result['warnings'].append('%s: legacy session directory kept (it still holds files that were not '
                                      'migrated or changed); the migrated copy is in %s'
                                      % (cand.path, os.path.join(options.dest, name)))
        break
    if not options.check_mode:
        _drop_journal(dest_fd, name)


def _remove_empty_leftover(roots, name, source, result):
    for root in roots:
        if os.path.join(root.path, name) != source:
            continue
        try:
            root_fd = discovery.open_root(root)
        except OSError:
            continue
        try:
            os.rmdir(name, dir_fd=root_fd)  # only an empty directory; never follows a symlink
            os.fsync(root_fd)
            result['removed'].append(source)
            result['changed'] = True
        except OSError:
            pass
        finally:
            os.close(root_fd)


def _journal_name(name):
    return _component(JOURNAL_PREFIX + name, '')


def _write_journal(dest_fd, name, source):
    """Record (durably) that the legacy copy ``source`` of ``name`` is being moved."""
    data = json.dumps({'name': name, 'source': source}).encode('ascii')
    fd = os.open(_journal_name(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                 0o600, dir_fd=dest_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, 'not a regular file')
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.fsync(dest_fd)


def _read_journals(dest_fd, dest, result):
    """``{name: legacy source}`` of the moves journaled by earlier runs that did not finish."""
    journals = {}
    with os.scandir(dest_fd) as it:
        entries = sorted(entry.name for entry in it if entry.name.startswith(JOURNAL_PREFIX))
    for entry in entries:
        try:
            value = json.loads(read_file_at(dest_fd, entry, 65536).decode('ascii'))
            journals[value['name']] = value['source']
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            result['warnings'].append('%s: unreadable move journal ignored (%s)' % (os.path.join(dest, entry), exc))
    return journals


def _drop_journal(dest_fd, name):
    try:
        os.unlink(_journal_name(name), dir_fd=dest_fd)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
        return
    os.fsync(dest_fd)


def _same_creds(st, other):
    return (st is not None and other is not None and st.st_size == other.st_size
            and st.st_mtime_ns == other.st_mtime_ns)


def _choose(ordered, result):
    """The first candidate with valid creds; the invalid ones before it are reported."""
    for cand in ordered:
        problem = discovery.creds_problem_of(cand)
        if problem is None:
            return cand
        result['invalid'].append({'name': cand.name, 'path': cand.path, 'reason': problem})
    return None


def _migrate_one(options, layout, settings, dest_fd, name, chosen, state, result):
    dest = options.dest
    target = os.path.join(dest, name)
    try:
        root_fd = discovery.open_root(chosen.root)
    except OSError as exc:
        raise os_error(exc, chosen.path)
    try:
        try:
            plan = scan_session(root_fd, chosen.root.path, name, layout, options.normalize_names,
                                creds_filename(layout, name, options.creds_file))
        except OSError as exc:
            raise os_error(exc, chosen.path)
        result['warnings'].extend(plan.warnings)
        entry = {'name': name, 'source': chosen.path, 'dest': target, 'files': len(plan.files),
                 'bytes': plan.nbytes}
        backup = state in (discovery.INVALID, discovery.VALID)
        if options.check_mode:
            if backup:
                entry['backup'] = os.path.join(dest, BACKUP_DIR, _component(name, '.<timestamp>'))
            result['migrated'].append(entry)
            result['changed'] = True
            if options.mode == 'move':
                if plan.left_behind:
                    result['warnings'].append('%s: would be kept (holds files that are not migrated)'
                                              % chosen.path)
                else:
                    result['removed'].append(chosen.path)
            return

        staging = _component(STAGING_PREFIX + name, '-' + _token())
        staging_path = os.path.join(dest, staging)
        try:
            hashes = _copy(plan, root_fd, name, dest_fd, staging, settings, target)
            if settings.defer_syncfs and settings.use_syncfs:
                yield len(plan.files)  # the caller flushes a batch of staged sessions with one syncfs
            if options.mode == 'move':
                staged_fd = open_dir(staging, dir_fd=dest_fd)
                try:
                    verify_copy(plan, hashes, staged_fd, staging_path)
                finally:
                    os.close(staged_fd)
                fault_point('verify')
                _write_journal(dest_fd, name, chosen.path)
            if backup:
                entry['backup'] = _backup(dest_fd, dest, name, settings)
            try:
                fault_point('rename')
                os.rename(staging, name, src_dir_fd=dest_fd, dst_dir_fd=dest_fd)
            except OSError as exc:
                if backup:
                    _restore(dest_fd, dest, name, entry['backup'])
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise SessionError(target, 'something was written into it while migrating (%s); '
                                               'nothing changed for this session, re-run' % exc.strerror)
                raise os_error(exc, target)
            if not (settings.defer_syncfs and settings.use_syncfs and options.mode == 'copy' and not backup):
                os.fsync(dest_fd)
            # else: _flush_staged fsyncs the sessions root once for the whole batch. A rename lost to a power
            # failure before that leaves the complete staged copy (removed by the next run) and the legacy copy.
        except BaseException:
            _cleanup(dest_fd, staging, staging_path, result)
            raise
        result['migrated'].append(entry)
        result['changed'] = True
        fault_point('renamed')

        if options.mode == 'move':
            try:
                complete, warnings = remove_verified(plan, root_fd,
                                                     last=creds_filename(layout, name, options.creds_file))
            except OSError as exc:
                raise os_error(exc, chosen.path)
            result['warnings'].extend(warnings)
            if complete:
                os.fsync(root_fd)
                result['removed'].append(chosen.path)
            else:
                result['warnings'].append('%s: legacy session directory kept (it still holds files that were '
                                          'not migrated or changed); the migrated copy is in %s'
                                          % (chosen.path, target))
            _drop_journal(dest_fd, name)
    finally:
        os.close(root_fd)


def _copy(plan, root_fd, name, dest_fd, staging, settings, target):
    """``copy_plan``; a write error (such as ENOSPC) names the file by its path in the final session."""
    try:
        return copy_plan(plan, root_fd, name, dest_fd, staging, settings)
    except SessionError as exc:
        if exc.path.startswith(STAGED_DISPLAY):
            raise SessionError(target + exc.path[len(STAGED_DISPLAY):], exc.reason)
        raise
    except OSError as exc:
        if exc.filename == staging:  # creating the staging directory in dest failed
            raise os_error(exc, os.path.join(os.path.dirname(target), staging))
        raise


def _cleanup(dest_fd, staging, staging_path, result):
    try:
        rmtree_at(dest_fd, staging, staging_path)
    except OSError as exc:
        result['warnings'].append('%s: could not remove the staging directory (%s); the next run removes it'
                                  % (staging_path, exc.strerror))


def _own(fd, settings):
    """Give the open file or directory ``fd`` (the lock, ``.backup``) the sessions' owner and group, so that
    the next run of the session_storage role has nothing to re-own."""
    st = os.fstat(fd)
    uid = st.st_uid if settings.uid == -1 else settings.uid
    gid = st.st_gid if settings.gid == -1 else settings.gid
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.fchown(fd, uid, gid)


def _backup(dest_fd, dest, name, settings):
    """Rename ``<dest>/<name>`` to ``<dest>/.backup/<name>.<timestamp>``; returns the new path.

    ``.backup`` is private (0700) and, like the sessions, owned by the sessions' owner and group.
    """
    try:
        os.mkdir(BACKUP_DIR, 0o700, dir_fd=dest_fd)
        os.fsync(dest_fd)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise os_error(exc, os.path.join(dest, BACKUP_DIR))
    backup_fd = open_dir(BACKUP_DIR, dir_fd=dest_fd)
    try:
        _own(backup_fd, settings)
        stamp = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())
        for attempt in range(100):
            backup_name = _component(name, '.%s%s' % (stamp, '' if not attempt else '.%d' % attempt))
            if os.path.lexists(os.path.join(dest, BACKUP_DIR, backup_name)):
                continue
            fault_point('backup')
            os.rename(name, backup_name, src_dir_fd=dest_fd, dst_dir_fd=backup_fd)
            os.fsync(backup_fd)
            os.fsync(dest_fd)
            return os.path.join(dest, BACKUP_DIR, backup_name)
        raise SessionError(os.path.join(dest, BACKUP_DIR), 'no free backup name for %s' % name)
    finally:
        os.close(backup_fd)


def _restore(dest_fd, dest, name, backup_path):
    backup_fd = open_dir(BACKUP_DIR, dir_fd=dest_fd)
    try:
        os.rename(os.path.basename(backup_path), name, src_dir_fd=backup_fd, dst_dir_fd=dest_fd)
        os.fsync(dest_fd)
    except OSError:
        pass  # the backup stays in .backup; the error about the session is raised by the caller
    finally:
        os.close(backup_fd)
