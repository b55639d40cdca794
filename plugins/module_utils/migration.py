# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one-time migration of legacy sessions into the fixed sessions root (used by ``session_migrate``).

``migrate(options)`` does the whole run and returns the result dict; ``MigrationFailed`` carries the same
dict when some sessions failed. Plain Python, no Ansible imports.

The sessions root (``dest``) belongs to the service user: everything found in it is untrusted. Root's own
bookkeeping (the lock, move journals, backups of replaced sessions) lives in ``state_dir``, a root-owned 0700
directory outside it. Inside ``dest`` this module only ever creates ``.staging-*`` and ``.replaced-*``
directories and the tenant directories themselves.

How a session is committed (``StagedSession``), so that the gateway, which loads every ``*_creds.json`` it finds
below its root, never sees a second or a partial copy of a session:

1. the legacy session is copied into ``<dest>/.staging-<name>-<token>/`` with its creds file under the name
   ``.creds.staged`` (no ``*_creds.json`` path ever exists there), and flushed to disk;
2. a session already at ``<dest>/<name>`` that is replaced is first copied into ``<state_dir>/backup/`` and
   verified; its creds file is then renamed to ``.creds.replaced`` and the directory to ``.replaced-<name>-*``;
3. the staging directory is renamed to ``<dest>/<name>`` (atomically replacing an empty directory);
4. ``.creds.staged`` is renamed to the real creds file name: only now does the gateway see the session, complete.

A crash leaves one of: a stale ``.staging-*`` / ``.replaced-*`` directory (removed by the next run), a tenant
directory whose creds file is still ``.creds.staged`` (step 4 is finished by the next run: the copy was on disk
before step 3) or ``.creds.replaced`` (step 2 is rolled back by the next run).

What happens to ``<dest>/<name>`` (``dest_state`` in discovery):

* absent or an empty directory (the role pre-creates those) -> the migrated session takes its place.
* a directory without a usable creds file (missing, empty, not a regular file) -> it is not a session; it is
  backed up and replaced.
* a directory whose creds file is not valid creds (corrupt) -> backed up and replaced by a valid legacy copy,
  unless ``on_conflict=fail``; without a valid legacy copy it is reported under ``corrupt``.
* valid session -> ``on_conflict`` decides: keep (default), newest (replace only when the chosen legacy creds
  file is newer; after a backup), fail.
* anything else (file, symlink) -> error for that session, never touched.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import copy
import errno
import hashlib
import json
import os
import stat
import time

from ansible_collections.rubymanager.session_persistence.plugins.module_utils import discovery, rules
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    DEFAULT_LAYOUT, creds_filename, get_layout)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.names import check_session_name
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import (
    O_CLOEXEC, O_NOFOLLOW, O_NONBLOCK, SessionError, acquire_lock, fault_point, lstat_at, open_dir, os_error,
    read_file_at, rmtree_at, same_version, syncfs)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.session_scan import (
    OverlapError, scan_session)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.staging_copy import (
    STAGED_DISPLAY, CopySettings, copy_plan, hash_sources, verify_copy)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.verified_removal import (
    remove_verified)

DEFAULT_STATE_DIR = '/var/lib/rubymanager/session_persistence'
LOCK_NAME = 'session_migrate.lock'
JOURNAL_DIR = 'journal'
BACKUP_DIR = 'backup'
PARTIAL_PREFIX = '.partial-'
STAGING_PREFIX = '.staging-'
REPLACED_PREFIX = '.replaced-'
STAGED_CREDS = discovery.STAGED_CREDS
REPLACED_CREDS = discovery.REPLACED_CREDS
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


def parse_mode(value, option, kind='dir'):
    """Octal mode string -> int (see ``rules.parse_mode``); SetupError when it breaks a rule."""
    try:
        return rules.parse_mode(value, option, kind)
    except rules.RuleError as exc:
        raise SetupError(str(exc))


def resolve_owner(owner, group):
    """``(uid, gid)`` of user ``owner`` and group ``group`` (names or numeric ids that exist); SetupError."""
    try:
        return rules.resolve_owner(owner, group)
    except rules.RuleError as exc:
        raise SetupError(str(exc))


def _component(name, suffix):
    """``name`` + ``suffix`` as one file name of at most 255 bytes (long names are hashed)."""
    if len((name + suffix).encode('utf-8', 'surrogateescape')) <= 255:
        return name + suffix
    return hashlib.sha256(name.encode('utf-8', 'surrogateescape')).hexdigest()[:32] + suffix


def _token():
    return binascii.hexlify(os.urandom(4)).decode('ascii')


def _strip(path):
    return path.rstrip('/') or '/'


class Options(object):
    """Options of a migration run; the same names as the module options."""

    def __init__(self, dest, legacy_roots, sessions=None, layout=DEFAULT_LAYOUT, creds_file=None,
                 normalize_names=True, owner='www-data', group='www-data', dir_mode='2750', file_mode='0640',
                 mode='copy', prefer='first', on_conflict='keep', lock_timeout=300, check_mode=False,
                 want_diff=False, use_syncfs=None, state_dir=DEFAULT_STATE_DIR):
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
        self.state_dir = state_dir


def new_result(move):
    result = {
        'changed': False, 'migrated': [], 'present': [], 'not_found': [], 'invalid': [], 'corrupt': [],
        'duplicates': [], 'skipped_sessions': [], 'skipped_roots': [], 'recovered': [], 'warnings': [], 'errors': [],
        'stale_staging': [], 'legacy_roots': [], 'repaired': [],
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
    problem = rules.sessions_root_problem(options.dest, 'dest')
    if problem is not None:
        raise SetupError('%s; nothing was changed' % problem)
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
    for root in options.legacy_roots:
        problem = rules.absolute_path_problem(root, 'legacy_roots entry')
        if problem is not None:
            raise SetupError('%s; nothing was changed' % problem)
    state_dir = options.state_dir
    problem = rules.absolute_path_problem(state_dir, 'state_dir')
    if problem is None and _strip(state_dir) == '/':
        problem = 'state_dir must be a directory of its own, not /'
    if problem is None and (rules.inside(state_dir, options.dest) or rules.inside(options.dest, state_dir)):
        problem = ('state_dir %r overlaps the sessions root %r: root\'s lock, journals and backups must live '
                   'outside it, where the service user can not write, and the sessions root must not be inside '
                   'a private directory' % (state_dir, options.dest))
    if problem is not None:
        raise SetupError('%s; nothing was changed' % problem)
    try:
        timeout = float(options.lock_timeout)
    except (TypeError, ValueError):
        timeout = -1
    if timeout < 0:
        raise SetupError('lock_timeout must be a number of seconds >= 0, got %r' % (options.lock_timeout,))
    dir_mode = parse_mode(options.dir_mode, 'dir_mode', 'dir')
    file_mode = parse_mode(options.file_mode, 'file_mode', 'file')
    uid, gid = resolve_owner(options.owner, options.group)
    settings = CopySettings(uid, gid, dir_mode, file_mode, use_syncfs=options.use_syncfs, defer_syncfs=True,
                            hash_files=options.mode == 'move')
    return layout, settings


class StateDir(object):
    """Root's own bookkeeping, outside the sessions root: ``session_migrate.lock``, move journals in
    ``journal/`` and copies of replaced sessions in ``backup/``. It must be a real directory (not a symlink)
    owned by the user running the module, with no permissions for group or others; it is created so (0700)
    when missing. In check mode nothing is created."""

    def __init__(self, path, check_mode):
        self.path = _strip(path)
        self.check_mode = check_mode
        self.fd = None

    def open(self):
        """Open (and, unless in check mode, create) the state directory; SetupError when it is unsafe."""
        if not os.path.lexists(self.path):
            if self.check_mode:
                return
            try:
                parent = os.path.dirname(self.path)
                if not os.path.isdir(parent):
                    os.makedirs(parent, 0o755)
                os.mkdir(self.path, 0o700)
            except OSError as exc:
                raise SetupError('Cannot create the state directory (state_dir) %s: %s; nothing was changed'
                                 % (self.path, exc.strerror or exc))
        try:
            fd = open_dir(self.path)  # O_NOFOLLOW: never a symlink
        except OSError as exc:
            raise SetupError('Cannot open the state directory (state_dir) %s: %s. It must be a directory (not a '
                             'symlink) owned by the user running the module; nothing was changed'
                             % (self.path, exc.strerror or exc))
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            os.close(fd)
            raise SetupError('The state directory (state_dir) %s is owned by uid %d with mode %04o; it holds the '
                             'lock, move journals and backups of root, so it must be owned by uid %d and give '
                             'nothing to group or others (chmod 0700). Nothing was changed'
                             % (self.path, st.st_uid, stat.S_IMODE(st.st_mode), os.geteuid()))
        self.fd = fd
        if not self.check_mode:
            self._remove_partial_backups()

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def lock(self, timeout):
        """Take the lock (None in check mode when it does not exist)."""
        if self.fd is None:
            return None
        lock_path = os.path.join(self.path, LOCK_NAME)
        try:
            return acquire_lock(self.fd, LOCK_NAME, timeout, lock_path, create=not self.check_mode)
        except OSError as exc:
            raise SetupError('Cannot open the lock file %s: %s; nothing was changed'
                             % (lock_path, exc.strerror or exc))

    def _subdir(self, name):
        """Open sub-directory ``name`` (0700), creating it when missing."""
        try:
            os.mkdir(name, 0o700, dir_fd=self.fd)
            os.fsync(self.fd)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise os_error(exc, os.path.join(self.path, name))
        return open_dir(name, dir_fd=self.fd)

    def _remove_partial_backups(self):
        if lstat_at(self.fd, BACKUP_DIR) is None:
            return
        fd = open_dir(BACKUP_DIR, dir_fd=self.fd)
        try:
            with os.scandir(fd) as it:
                partial = [entry.name for entry in it if entry.name.startswith(PARTIAL_PREFIX)]
            for name in partial:
                rmtree_at(fd, name, os.path.join(self.path, BACKUP_DIR, name))
        finally:
            os.close(fd)

    # move journals ------------------------------------------------------------------------------------------

    @staticmethod
    def _journal_name(dest_real, name):
        key = (dest_real + '\0' + name).encode('utf-8', 'surrogateescape')
        return hashlib.sha256(key).hexdigest()[:40] + '.json'

    def read_journals(self, dest_real, result):
        """``{name: legacy source}`` of the moves into ``dest_real`` that earlier runs journaled and did not
        finish. The journals are root's own files; each field is still checked before use."""
        journals = {}
        if self.fd is None or lstat_at(self.fd, JOURNAL_DIR) is None:
            return journals
        fd = open_dir(JOURNAL_DIR, dir_fd=self.fd)
        try:
            with os.scandir(fd) as it:
                entries = sorted(entry.name for entry in it)
            for entry in entries:
                path = os.path.join(self.path, JOURNAL_DIR, entry)
                try:
                    value = json.loads(read_file_at(fd, entry, 65536).decode('ascii'))
                    dest, name, source = value['dest'], value['name'], value['source']
                except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                    result['warnings'].append('%s: unreadable move journal ignored (%s)' % (path, exc))
                    continue
                if dest != dest_real:
                    continue  # a move into another sessions root
                if (not isinstance(name, str) or not isinstance(source, str)
                        or entry != self._journal_name(dest_real, name) or check_name_quiet(name)):
                    result['warnings'].append('%s: move journal with unexpected content ignored' % path)
                    continue
                journals[name] = source
        finally:
            os.close(fd)
        return journals

    def write_journal(self, dest_real, name, source):
        """Record (durably) that the legacy copy ``source`` of ``name`` is being moved into ``dest_real``."""
        data = json.dumps({'dest': dest_real, 'name': name, 'source': source}).encode('ascii')
        fd_dir = self._subdir(JOURNAL_DIR)
        try:
            entry = self._journal_name(dest_real, name)
            fd = os.open(entry, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                         0o600, dir_fd=fd_dir)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise OSError(errno.EINVAL, 'not a regular file')
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.fsync(fd_dir)
        finally:
            os.close(fd_dir)

    def drop_journal(self, dest_real, name):
        if self.fd is None or lstat_at(self.fd, JOURNAL_DIR) is None:
            return
        fd_dir = open_dir(JOURNAL_DIR, dir_fd=self.fd)
        try:
            os.unlink(self._journal_name(dest_real, name), dir_fd=fd_dir)
            os.fsync(fd_dir)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
        finally:
            os.close(fd_dir)

    # backups ------------------------------------------------------------------------------------------------

    def backup_path(self, name, stamp='<timestamp>'):
        return os.path.join(self.path, BACKUP_DIR, _component(name, '.' + stamp))

    def backup(self, dest_fd, dest, name, layout, creds, settings, result):
        """Copy the session directory ``<dest>/<name>`` into ``backup/<name>.<UTC time>`` and verify the copy
        (sizes and SHA-256) before anything is replaced; returns the backup's path."""
        source = os.path.join(dest, name)
        try:
            plan = scan_session(dest_fd, dest, name, layout, normalize=False, creds=creds)
        except OSError as exc:
            raise os_error(exc, source)
        result['warnings'].extend('%s (not in the backup)' % warning for warning in plan.warnings)
        backup_fd = self._subdir(BACKUP_DIR)
        partial = PARTIAL_PREFIX + _token()
        partial_path = os.path.join(self.path, BACKUP_DIR, partial)
        copy_settings = CopySettings(settings.uid, settings.gid, settings.dir_mode, settings.file_mode,
                                     use_syncfs=settings.use_syncfs, hash_files=True, defer_syncfs=False)
        try:
            try:
                hashes = copy_plan(plan, dest_fd, name, backup_fd, partial, copy_settings,
                                   display=partial_path)
                copy_fd = open_dir(partial, dir_fd=backup_fd)
                try:
                    verify_copy(plan, hashes, copy_fd, partial_path)
                finally:
                    os.close(copy_fd)
                stamp = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())
                for attempt in range(100):
                    backup_name = _component(name, '.%s%s' % (stamp, '' if not attempt else '.%d' % attempt))
                    if lstat_at(backup_fd, backup_name) is None:
                        break
                else:
                    raise SessionError(os.path.join(self.path, BACKUP_DIR), 'no free backup name for %s' % name)
                fault_point('backup')
                os.rename(partial, backup_name, src_dir_fd=backup_fd, dst_dir_fd=backup_fd)
                os.fsync(backup_fd)
            except BaseException:
                try:
                    rmtree_at(backup_fd, partial, partial_path)
                except OSError:
                    pass  # removed by the next run
                raise
        finally:
            os.close(backup_fd)
        return os.path.join(self.path, BACKUP_DIR, backup_name)


def check_name_quiet(name):
    """Why ``name`` is not a usable session name, or None (no exception)."""
    try:
        check_session_name(name)
    except ValueError as exc:
        return str(exc)
    return None


def migrate(options, warn=None):
    """Run the migration described by ``options`` (an ``Options``). Returns the result dict.

    Raises SetupError (nothing touched), LockTimeout, or MigrationFailed (with the result) when at least one
    session failed; the other sessions are still processed.
    """
    layout, settings = validate(options)
    dest = _strip(options.dest)
    check = options.check_mode
    result = new_result(options.mode == 'move')
    dest_fd = None
    if os.path.isdir(dest):
        try:
            dest_fd = open_dir(dest, follow=True)
        except OSError as exc:
            raise SetupError('Cannot open the sessions root (dest) %s: %s' % (dest, exc.strerror))
    elif not check or os.path.lexists(dest):
        raise SetupError('The sessions root (dest) %s does not exist or is not a directory. Apply the %s role '
                         'first: it creates the sessions root with the right owner and modes.'
                         % (dest, STORAGE_ROLE))
    else:
        result['warnings'].append('%s does not exist yet: check mode treats it as empty (a real run needs the %s '
                                  'role to create it first)' % (dest, STORAGE_ROLE))
    state = StateDir(options.state_dir, check)
    try:
        if not check:
            _check_writable(dest, dest_fd)
        state.open()
        lock_fd = state.lock(float(options.lock_timeout))
        try:
            _Run(options, layout, settings, dest, dest_fd, state, result).run()
        finally:
            if lock_fd is not None:
                os.close(lock_fd)
    finally:
        state.close()
        if dest_fd is not None:
            os.close(dest_fd)
    diff = result.pop('diff', None)
    result = rules.display_all(result)
    if diff is not None:
        result['diff'] = diff
    if warn is not None:
        for message in result['warnings']:
            warn(message)
    if result['errors']:
        msg = '%d session(s) failed: %s' % (len(result['errors']), '; '.join(
            '%s: %s' % (err['name'], err['msg']) for err in result['errors']))
        raise MigrationFailed(msg, result)
    return result


def _check_writable(dest, dest_fd):
    """SetupError, before anything is changed, when the sessions root can not be written."""
    if os.fstatvfs(dest_fd).f_flag & os.ST_RDONLY:
        raise SetupError('The sessions root (dest) %s is on a read-only file system; nothing was changed' % dest)
    if not os.access(dest, os.W_OK | os.X_OK):
        raise SetupError('The sessions root (dest) %s is not writable by this user (Permission denied): run the '
                         'task as root (become: true) or as the owner of the sessions root; nothing was changed'
                         % dest)


class _Run(object):
    """One migration run over an open sessions root (``dest_fd`` None: missing, in check mode)."""

    def __init__(self, options, layout, settings, dest, dest_fd, state, result):
        self.options = options
        self.layout = layout
        self.settings = settings
        self.dest = dest
        self.dest_fd = dest_fd
        self.dest_real = os.path.realpath(dest)
        self.dest_id = None
        if dest_fd is not None:
            st = os.fstat(dest_fd)
            self.dest_id = (st.st_dev, st.st_ino)
        self.state = state
        self.result = result
        self.check = options.check_mode
        self.move = options.mode == 'move'
        self.journals = {}
        self.roots = []
        self.pending = []  # StagedSession objects copied into staging, waiting for the shared syncfs
        # Batched or not, decided once: with syncfs, staged sessions are flushed together by one syncfs and
        # their commits made durable by another (``_flush``); without it, every session is flushed, committed
        # and fsynced on its own (``StagedSession._swap_in``).
        self.batched = bool(settings.use_syncfs)
        self.done = set()  # sessions migrated or repaired by this run (raw names)
        self.repairs = []  # (name, renamed files) for the diff

    def creds(self, name):
        return creds_filename(self.layout, name, self.options.creds_file)

    def run(self):
        result = self.result
        roots, skipped_roots = discovery.expand_roots(self.options.legacy_roots, self.dest)
        self.roots = roots
        result['legacy_roots'] = [root.path for root in roots]
        result['skipped_roots'] = [dict(path=skip.path, reason=skip.reason) for skip in skipped_roots]
        for skip in skipped_roots:
            if 'sessions root' in skip.reason:
                result['warnings'].append('%s: legacy root %s' % (rules.display(skip.path), skip.reason))
        skipped = []
        candidates, warnings = discovery.find_candidates(roots, self.layout, self.options.creds_file,
                                                         self.options.sessions, self.dest, skipped=skipped)
        root_paths = set(root.path for root in roots)
        for skip in skipped:
            key = 'skipped_roots' if skip.path in root_paths else 'skipped_sessions'
            result[key].append(dict(path=skip.path, reason=skip.reason))
        result['warnings'].extend(warnings)
        # Sessions of the other layout and none of this one: stop before anything changes (a QR code for every
        # tenant otherwise); both layouts: a warning naming the ones left alone.
        error, warning = discovery.check_layout(roots, self.layout, candidates, self.options.creds_file,
                                                self.options.sessions)
        if error:
            raise SetupError(error)
        if warning:
            result['warnings'].append(warning)
        self._clean_dest()
        if self.move:
            self.journals = self.state.read_journals(self.dest_real, result)
        if self.options.want_diff:
            before = discovery.list_dest_sessions(self.dest_fd, self.layout, self.options.creds_file)
            result['diff'] = {'before_header': self.dest, 'after_header': self.dest, 'before': before}

        names = sorted(set(self.options.sessions)) if self.options.sessions is not None else list(candidates)
        try:
            for name in names:
                try:
                    staged = self._one_session(name, candidates.get(name, []))
                except OverlapError as exc:
                    result['skipped_sessions'].append(dict(path=exc.path, reason=exc.reason))
                    result['warnings'].append(str(exc))
                    continue
                except (OSError, SessionError) as exc:
                    self.session_error(name, exc)
                    continue
                if staged is None:
                    continue
                self._queue(staged)
            self._flush()
            self._repair_pass()
            self._flush()
        finally:
            for staged in self.pending:
                staged.abort()  # interrupted: remove the staging directories that were never renamed
        for name in sorted(self.journals):
            # The creds file of an unfinished move is gone: it was removed last, so at most an empty legacy
            # directory is left of it.
            if self.options.sessions is None or name in self.options.sessions:
                self._remove_empty_leftover(name, self.journals[name])
        if 'diff' in result:
            diff = result['diff']
            after = set(diff['before'])
            after.update(item['name'] for item in result['migrated'])
            before_lines = [rules.display(name) for name in diff['before']]
            after_lines = [rules.display(name) for name in sorted(after)]
            for name, renamed in self.repairs:  # a repaired session: its files' old and new names
                before_lines.extend('%s: %s' % (rules.display(name), item['from']) for item in renamed)
                after_lines.extend('%s: %s' % (rules.display(name), item['to']) for item in renamed)
            diff['before'] = ''.join('%s\n' % line for line in before_lines)
            diff['after'] = ''.join('%s\n' % line for line in after_lines)

    def _repair_pass(self):
        """``normalize_names``: a session already in the sessions root that holds file names written by older
        gateway builds (``pre-key\\7.json`` in the folder, ``<name>\\store.db`` beside it), which the gateway
        can no longer find, is repaired in place, per session atomically: a copy with normalised names is staged
        and committed like a migration (the old session backed up first, the same rules when both spellings
        exist), and the files beside the folder are removed after the commit."""
        if self.dest_fd is None or not self.options.normalize_names or not self.layout.backslash_names:
            return
        with os.scandir(self.dest_fd) as it:
            listing = sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in it)
        beside = [name for name, is_dir in listing if not is_dir and '\\' in name]
        wanted = set(self.options.sessions) if self.options.sessions is not None else None
        dest_st = os.fstat(self.dest_fd)
        root = discovery.Root(self.dest, self.dest_real, dest_st.st_dev, dest_st.st_ino)
        for name, is_dir in listing:
            if (not is_dir or name.startswith('.') or name in self.done or (wanted is not None and name not in wanted)
                    or discovery.name_skip_reason(name, self.layout, self.options.creds_file)):
                continue
            try:
                if not self._needs_repair(name, beside):
                    continue
                creds = self.creds(name)
                found = discovery.dest_state(self.dest_fd, name, creds, self.layout)
                if found.state != discovery.VALID:
                    continue  # not a session: reported by session_info, replaced by a migration when one exists
                cand = discovery.Candidate(name, root, os.path.join(self.dest, name), creds, found.creds_st,
                                           self.layout)
                staged = StagedSession(self, name, cand, discovery.VALID, repair=True).start()
            except OverlapError as exc:
                self.result['warnings'].append(str(exc))
                continue
            except (OSError, SessionError) as exc:
                self.session_error(name, exc)
                continue
            if staged is not None:
                self._queue(staged)

    def _needs_repair(self, name, beside):
        """True when the session would keep a different set of names once normalised (metadata only)."""
        creds = self.creds(name)
        if not any(entry.startswith(name + '\\') for entry in beside):
            fd = open_dir(name, dir_fd=self.dest_fd)
            try:
                with os.scandir(fd) as it:
                    if not any('\\' in entry.name and entry.name != creds for entry in it):
                        return False
            finally:
                os.close(fd)
        plan = scan_session(self.dest_fd, self.dest, name, self.layout, True, creds)
        return bool(renamed_files(plan))

    def session_error(self, name, exc):
        if isinstance(exc, OSError):
            exc = os_error(exc, getattr(exc, 'filename', None) or os.path.join(self.dest, name))
        self.result['errors'].append({'name': name, 'path': exc.path, 'msg': str(exc)})

    # the sessions root: leftovers of interrupted runs ----------------------------------------------------------

    def _clean_dest(self):
        """Remove stale staging and replaced directories, and finish (or roll back) interrupted commits."""
        if self.dest_fd is None:
            return
        result = self.result
        with os.scandir(self.dest_fd) as it:
            entries = sorted(entry.name for entry in it)
        for name in entries:
            path = os.path.join(self.dest, name)
            if name.startswith(STAGING_PREFIX) or name.startswith(REPLACED_PREFIX):
                if not self.check:
                    try:
                        rmtree_at(self.dest_fd, name, path)
                        os.fsync(self.dest_fd)
                    except OSError as exc:
                        result['errors'].append({'name': name, 'path': path,
                                                 'msg': 'cannot remove stale staging directory %s: %s'
                                                        % (path, exc.strerror)})
                        continue
                result['stale_staging'].append(path)
                result['changed'] = True
                continue
            if name.startswith('.') or discovery.name_skip_reason(name, self.layout, self.options.creds_file):
                continue
            creds = self.creds(name)
            if lstat_at(self.dest_fd, name) is None or lstat_at(self.dest_fd, os.path.join(name, creds)) is not None:
                continue
            for pending, action in ((STAGED_CREDS, 'finished an interrupted commit'),
                                    (REPLACED_CREDS, 'rolled back an interrupted replacement')):
                st = lstat_at(self.dest_fd, os.path.join(name, pending))
                if st is None or not stat.S_ISREG(st.st_mode):
                    continue
                if not self.check:
                    try:
                        fd = open_dir(name, dir_fd=self.dest_fd)
                        try:
                            times = os.fstat(fd)
                            os.rename(pending, creds, src_dir_fd=fd, dst_dir_fd=fd)
                            os.utime(fd, ns=(times.st_atime_ns, times.st_mtime_ns))  # as the commit would
                            os.fsync(fd)
                        finally:
                            os.close(fd)
                    except OSError as exc:
                        self.session_error(name, os_error(exc, os.path.join(path, pending)))
                        break
                result['recovered'].append({'name': name, 'path': path, 'action': action})
                result['changed'] = True
                break

    # one session -------------------------------------------------------------------------------------------

    def _one_session(self, name, candidates):
        """Decide what to do with session ``name``; returns a StagedSession to commit, or None."""
        options, result = self.options, self.result
        creds = self.creds(name)
        target = os.path.join(self.dest, name)
        found = discovery.dest_state(self.dest_fd, name, creds, self.layout)
        state = found.state
        if state == discovery.NOT_DIR:
            raise SessionError(target, 'exists but is not a directory (or is a symlink); not touched')
        ordered = discovery.order_candidates(candidates, options.prefer)
        if not ordered:
            if state == discovery.VALID:
                self._finish_move(name, ordered, found.pending)
                result['present'].append(name)
            elif state == discovery.CORRUPT:
                self._corrupt(name, found)
            else:
                result['not_found'].append(name)
            return None

        chosen = None
        if state == discovery.VALID:
            if options.on_conflict == 'keep':
                result['present'].append(name)
                self._finish_move(name, ordered, found.pending)
                return None
            if options.on_conflict == 'fail':
                if any(_same_creds(cand.creds_st, found.creds_st) for cand in ordered):
                    result['present'].append(name)  # this legacy session was already migrated
                    self._finish_move(name, ordered, found.pending)
                    return None
                chosen = self._choose(ordered)
                if chosen is None:
                    result['present'].append(name)
                    return None
                raise SessionError(target, 'already exists with other creds than the legacy session %s '
                                           '(on_conflict=fail); nothing changed for this session' % chosen.path)
            # on_conflict == 'newest': walk the candidates in order of preference; only a newer one is read.
            for cand in ordered:
                if cand.creds_st is None:
                    continue
                if cand.creds_st.st_mtime_ns <= found.creds_st.st_mtime_ns:
                    break
                problem = discovery.creds_problem_of(cand)
                if problem is None:
                    chosen = cand
                    break
                result['invalid'].append({'name': name, 'path': cand.path, 'reason': problem})
            if chosen is None:
                result['present'].append(name)
                self._finish_move(name, ordered, found.pending)
                return None
        else:
            chosen = self._choose(ordered)
            if chosen is None:
                if state == discovery.CORRUPT:
                    self._corrupt(name, found)
                return None  # every candidate is invalid: reported under invalid
            if state == discovery.CORRUPT and options.on_conflict == 'fail':
                raise SessionError(os.path.join(target, creds),
                                   'is corrupt (%s) and on_conflict=fail; nothing changed for this session. Set '
                                   'on_conflict to keep or newest to back it up and bring the valid legacy copy '
                                   '%s' % (found.problem, chosen.path))

        ignored = [cand.path for cand in ordered if cand is not chosen
                   and not any(inv['path'] == cand.path for inv in result['invalid'] if inv['name'] == name)]
        if ignored:
            result['duplicates'].append({'name': name, 'used': chosen.path, 'ignored': ignored})
        self.journals.pop(name, None)
        return StagedSession(self, name, chosen, state).start()

    def _corrupt(self, name, found):
        self.result['corrupt'].append({
            'name': name, 'path': os.path.join(self.dest, name, self.creds(name)),
            'reason': '%s; no valid legacy copy was found to replace it: restore the session from a backup or the '
                      'tenant must scan a QR code again' % found.problem})

    def _choose(self, ordered):
        """The first candidate with valid creds; the invalid ones before it are reported."""
        for cand in ordered:
            problem = discovery.creds_problem_of(cand)
            if problem is None:
                return cand
            self.result['invalid'].append({'name': cand.name, 'path': cand.path, 'reason': problem})
        return None

    def _queue(self, staged):
        """Add a staged session to the batch; flush the batch when it is full, or at once when not batched."""
        self.pending.append(staged)
        if (not self.batched or len(self.pending) >= SYNC_BATCH_SESSIONS
                or sum(item.files for item in self.pending) >= SYNC_BATCH_FILES):
            self._flush()

    def _flush(self):
        """Flush the staged copies of several sessions with ONE ``syncfs``, commit each, then make the commits of
        plain copies durable with one more ``syncfs`` (moves and replacements are flushed at once by their own
        commit, before any legacy file is removed).

        ``syncfs`` costs a journal commit however little it writes, so one per session dominated the copy of many
        small sessions. Durability is unchanged: every staged file and directory is on disk before any session
        is renamed into place.
        """
        batch, self.pending = self.pending, []
        if not batch:
            return
        use_syncfs = self.batched
        try:
            if use_syncfs:
                try:
                    fault_point('fsync')
                    syncfs(self.dest_fd)
                except OSError as exc:
                    for staged in batch:
                        staged.abort()
                        self.session_error(staged.name, os_error(exc, self.dest))
                    return
            for staged in batch:
                try:
                    staged.commit()
                except (OSError, SessionError) as exc:
                    self.session_error(staged.name, exc)
            if use_syncfs:
                try:
                    syncfs(self.dest_fd)
                except OSError as exc:
                    self.session_error(batch[-1].name, os_error(exc, self.dest))
        finally:
            for staged in batch:
                staged.abort()

    # mode=move: journals ---------------------------------------------------------------------------------------

    def _finish_move(self, name, ordered, pending=None):
        """mode=move, ``<dest>/<name>`` is a session: finish a move that an earlier run journaled but did not
        complete (killed after the commit, or half-way through removing the legacy files). The legacy files are
        removed only when each has an identical copy in dest; otherwise the legacy copy is kept and reported."""
        source = self.journals.pop(name, None)
        if not self.move or source is None:
            return
        result = self.result
        for cand in ordered:
            if cand.path != source or cand.creds_st is None:
                continue
            creds = self.creds(name)
            root_fd = discovery.open_root(cand.root)
            try:
                try:
                    plan = scan_session(root_fd, cand.root.path, name, self.layout, self.options.normalize_names,
                                        creds, forbidden=(self.dest_id,) if self.dest_id else ())
                    hashes = hash_sources(plan, root_fd)
                except OSError as exc:
                    raise os_error(exc, cand.path)
                session_fd = open_dir(name, dir_fd=self.dest_fd)
                try:
                    # In check mode an interrupted commit is not finished yet: its creds file is still staged.
                    expected = _with_staged_creds(plan, creds) if pending == STAGED_CREDS else plan
                    verify_copy(expected, _staged_hashes(hashes, creds) if expected is not plan else hashes,
                                session_fd, os.path.join(self.dest, name), exact=False)
                    try:
                        complete, warnings = remove_verified(plan, root_fd, last=creds, dry_run=self.check)
                    except OSError as exc:
                        raise os_error(exc, cand.path)
                    if not self.check:
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
                                          % (cand.path, os.path.join(self.dest, name)))
            break
        result['changed'] = True
        if not self.check:
            self.state.drop_journal(self.dest_real, name)

    def _remove_empty_leftover(self, name, source):
        """An unfinished move whose creds file was already removed: remove the (empty) legacy directory, which
        must be ``<root>/<name>`` of a legacy root of this run, and the journal."""
        for root in self.roots:
            if os.path.join(root.path, name) != source:
                continue
            try:
                root_fd = discovery.open_root(root)
            except OSError:
                continue
            try:
                if self.check:
                    st = lstat_at(root_fd, name)
                    if st is not None and stat.S_ISDIR(st.st_mode) and _is_empty_dir(root_fd, name):
                        self.result['removed'].append(source)
                else:
                    os.rmdir(name, dir_fd=root_fd)  # only an empty directory; never follows a symlink
                    os.fsync(root_fd)
                    self.result['removed'].append(source)
            except OSError:
                pass
            finally:
                os.close(root_fd)
        self.result['changed'] = True
        if not self.check:
            self.state.drop_journal(self.dest_real, name)


def _is_empty_dir(parent_fd, name):
    try:
        fd = open_dir(name, dir_fd=parent_fd)
    except OSError:
        return False
    try:
        with os.scandir(fd) as it:
            return next(iter(it), None) is None
    finally:
        os.close(fd)


def _same_creds(st, other):
    return (st is not None and other is not None and st.st_size == other.st_size
            and st.st_mtime_ns == other.st_mtime_ns)


class StagedSession(object):
    """One legacy session on its way into the sessions root: ``start()`` copies it into a staging directory,
    ``commit()`` puts it in place (see the module docstring for the order), ``abort()`` removes whatever is
    left of the staging directory (a no-op after a commit)."""

    def __init__(self, run, name, chosen, state, repair=False):
        self.run = run
        self.repair = repair  # a session of the sessions root rewritten with normalised names, not a migration
        self.name = name
        self.chosen = chosen
        self.state = state
        self.creds = run.creds(name)
        self.target = os.path.join(run.dest, name)
        self.replace = state in (discovery.INVALID, discovery.CORRUPT, discovery.VALID)
        self.root_fd = None
        self.plan = None
        self.staged_plan = None
        self.staging = None
        self.hashes = None
        self.files = 0
        self.entry = None

    def start(self):
        """Scan the legacy session and copy it into staging; returns self, or None when nothing is left to do
        (check mode)."""
        run = self.run
        try:
            self.root_fd = discovery.open_root(self.chosen.root)
        except OSError as exc:
            raise os_error(exc, self.chosen.path)
        try:
            try:
                self.plan = scan_session(self.root_fd, self.chosen.root.path, self.name, run.layout,
                                         run.options.normalize_names, self.creds,
                                         forbidden=(run.dest_id,) if run.dest_id else ())
            except OSError as exc:
                raise os_error(exc, self.chosen.path)
            self.staged_plan = _with_staged_creds(self.plan, self.creds)
            run.result['warnings'].extend(self.plan.warnings)
            self.files = len(self.plan.files)
            self.entry = {'name': self.name, 'source': self.chosen.path, 'dest': self.target,
                          'files': len(self.plan.files), 'bytes': self.plan.nbytes}
            if run.check:
                self._predict()
                self._close()
                return None
            self.staging = _component(STAGING_PREFIX + self.name, '-' + _token())
            self.hashes = self._copy()
        except BaseException:
            self.abort()
            raise
        return self

    def _record(self):
        run, result = self.run, self.run.result
        run.done.add(self.name)
        if self.repair:
            del self.entry['source']
            self.entry['renamed'] = renamed_files(self.plan)
            result['repaired'].append(self.entry)
            run.repairs.append((self.name, self.entry['renamed']))
        else:
            result['migrated'].append(self.entry)
        result['changed'] = True

    def _predict(self):
        run, result = self.run, self.run.result
        if self.replace:
            self.entry['backup'] = run.state.backup_path(self.name)
        self._record()
        if run.move and not self.repair:
            if self.plan.left_behind:
                result['warnings'].append('%s: would be kept (holds files that are not migrated)' % self.chosen.path)
            else:
                result['removed'].append(self.chosen.path)

    def _copy(self):
        """``copy_plan`` into staging; a write error (such as ENOSPC) names the file by its final path."""
        run = self.run
        try:
            return copy_plan(self.staged_plan, self.root_fd, self.name, run.dest_fd, self.staging, run.settings)
        except SessionError as exc:
            if exc.path.startswith(STAGED_DISPLAY):
                rest = exc.path[len(STAGED_DISPLAY):].replace(STAGED_CREDS, self.creds)
                raise SessionError(self.target + rest, exc.reason)
            raise
        except OSError as exc:
            if exc.filename == self.staging:  # creating the staging directory in dest failed
                raise os_error(exc, os.path.join(run.dest, self.staging))
            raise

    def commit(self):
        """Verify (mode=move), back up what is replaced, and put the staged session in place, creds file last."""
        run, result = self.run, self.run.result
        try:
            if run.move and not self.repair:
                staged_fd = open_dir(self.staging, dir_fd=run.dest_fd)
                try:
                    verify_copy(self.staged_plan, self.hashes, staged_fd, os.path.join(run.dest, self.staging))
                finally:
                    os.close(staged_fd)
                fault_point('verify')
                run.state.write_journal(run.dest_real, self.name, self.chosen.path)
            if self.replace:
                self.entry['backup'] = run.state.backup(run.dest_fd, run.dest, self.name, run.layout, self.creds,
                                                        run.settings, result)
            self._swap_in()
        except BaseException:
            self.abort()
            raise
        self.staging = None
        self._record()
        fault_point('renamed')
        try:
            if self.repair:
                self._remove_sidecars()
            elif run.move:
                self._remove_legacy()
        finally:
            self._close()

    def _remove_sidecars(self):
        """A repair: the ``<name>\\store.db`` files beside the session are now inside it; remove them from the
        sessions root while each is still the version that was copied."""
        run = self.run
        for item in self.plan.files:
            if item.src_dir is not None:
                continue
            st = lstat_at(run.dest_fd, item.src_name)
            path = os.path.join(run.dest, item.src_name)
            if st is None or not stat.S_ISREG(st.st_mode) or not same_version(st, item.st):
                run.result['warnings'].append('%s: changed after it was copied into the session; kept' % path)
                continue
            os.unlink(item.src_name, dir_fd=run.dest_fd)
        os.fsync(run.dest_fd)

    def _swap_in(self):
        run = self.run
        dest_fd = run.dest_fd
        replaced = None
        if self.replace:
            # The old session stops being one for the gateway (no creds file) before its directory leaves.
            old_fd = open_dir(self.name, dir_fd=dest_fd)
            try:
                if lstat_at(old_fd, self.creds) is not None:
                    fault_point('swap')
                    os.rename(self.creds, REPLACED_CREDS, src_dir_fd=old_fd, dst_dir_fd=old_fd)
            finally:
                os.close(old_fd)
            replaced = _component(REPLACED_PREFIX + self.name, '-' + _token())
            fault_point('swap')
            os.rename(self.name, replaced, src_dir_fd=dest_fd, dst_dir_fd=dest_fd)
        try:
            fault_point('rename')
            os.rename(self.staging, self.name, src_dir_fd=dest_fd, dst_dir_fd=dest_fd)
        except OSError as exc:
            if replaced is not None:
                self._roll_back(replaced)
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise SessionError(self.target, 'something was written into it while migrating (%s); '
                                                'nothing changed for this session, re-run' % exc.strerror)
            raise os_error(exc, self.target)
        new_fd = open_dir(self.name, dir_fd=dest_fd)
        try:
            fault_point('commit')
            os.rename(STAGED_CREDS, self.creds, src_dir_fd=new_fd, dst_dir_fd=new_fd)
            top = self.plan.dirs[0].st  # the rename touched the directory: its time is the legacy one again
            os.utime(new_fd, ns=(top.st_atime_ns, top.st_mtime_ns))
            durable_now = run.move or not run.batched
            if durable_now:
                os.fsync(new_fd)
        finally:
            os.close(new_fd)
        if durable_now:
            os.fsync(dest_fd)
        # else: _flush makes the batch durable with one syncfs. A commit lost to a power failure before that
        # leaves the staged copy (removed, or finished, by the next run) and the legacy copy.
        if replaced is not None:
            try:
                rmtree_at(dest_fd, replaced, os.path.join(run.dest, replaced))
            except OSError as exc:
                run.result['warnings'].append('%s: could not remove the replaced session (%s); it is in %s, and the '
                                              'next run removes it' % (os.path.join(run.dest, replaced),
                                                                       exc.strerror, self.entry.get('backup')))

    def _roll_back(self, replaced):
        dest_fd = self.run.dest_fd
        try:
            os.rename(replaced, self.name, src_dir_fd=dest_fd, dst_dir_fd=dest_fd)
            fd = open_dir(self.name, dir_fd=dest_fd)
            try:
                if lstat_at(fd, REPLACED_CREDS) is not None:
                    os.rename(REPLACED_CREDS, self.creds, src_dir_fd=fd, dst_dir_fd=fd)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.fsync(dest_fd)
        except OSError:
            pass  # the next run rolls it back (.creds.replaced) or finds it in the backup

    def _remove_legacy(self):
        run, result = self.run, self.run.result
        try:
            complete, warnings = remove_verified(self.plan, self.root_fd, last=self.creds)
        except OSError as exc:
            raise os_error(exc, self.chosen.path)
        result['warnings'].extend(warnings)
        if complete:
            os.fsync(self.root_fd)
            result['removed'].append(self.chosen.path)
        else:
            result['warnings'].append('%s: legacy session directory kept (it still holds files that were not '
                                      'migrated or changed); the migrated copy is in %s'
                                      % (self.chosen.path, self.target))
        run.state.drop_journal(run.dest_real, self.name)

    def abort(self):
        """Remove the staging directory if it is still there; close the legacy root."""
        if self.staging is not None and self.run.dest_fd is not None:
            path = os.path.join(self.run.dest, self.staging)
            try:
                rmtree_at(self.run.dest_fd, self.staging, path)
            except OSError as exc:
                self.run.result['warnings'].append('%s: could not remove the staging directory (%s); the next run '
                                                   'removes it' % (path, exc.strerror))
            self.staging = None
        self._close()

    def _close(self):
        if self.root_fd is not None:
            os.close(self.root_fd)
            self.root_fd = None


def renamed_files(plan):
    """``[{'from', 'to'}]``: the files of ``plan`` whose names normalising changes (relative to the session
    directory; a file beside it is shown as ``../<name>\\store.db``)."""
    renamed = []
    for item in plan.files:
        new = os.path.join(*(tuple(item.dst_dir) + (item.dst_name,)))
        if item.src_dir is None:
            old = os.path.join('..', item.src_name)
        else:
            old = os.path.join(*(tuple(item.src_dir) + (item.src_name,)))
        if old != new:
            renamed.append({'from': old, 'to': new})
    return renamed


def _staged_hashes(hashes, creds):
    """``hashes`` (keyed by destination path tuples) with the creds file under its staged name."""
    return dict(((STAGED_CREDS,) if key == (creds,) else key, value) for key, value in hashes.items())


def _with_staged_creds(plan, creds):
    """A copy of ``plan`` that writes the creds file as ``STAGED_CREDS`` (a legacy file that already has that
    name is left behind, with a warning)."""
    staged = copy.copy(plan)
    staged.files = []
    for item in plan.files:
        if item.dst_dir == () and item.dst_name == STAGED_CREDS:
            path = plan.source_path(item.src_dir, item.src_name)
            plan.warnings.append('%s: has a name reserved for the migration; not migrated' % path)
            plan.left_behind.add(path)
            continue
        if item.dst_dir == () and item.dst_name == creds:
            item = item._replace(dst_name=STAGED_CREDS)
        staged.files.append(item)
    plan.files = [item for item in plan.files if not (item.dst_dir == () and item.dst_name == STAGED_CREDS)]
    return staged
