# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup archives of the sessions root (used by ``session_backup`` and ``session_restore``).

The format is a plain POSIX.1-2001 (pax) tar file, gzip-compressed by default, that ``tar`` lists and extracts
by hand. Members are ``<tenant>/...`` (directories and regular files only) with their owner, group (ids and
names), mode (setgid included) and modification time, followed by one last member ``MANIFEST_NAME``: a JSON
document listing the tenants and every member with its size and SHA-256. A checksum file
``<archive>.sha256`` (the ``sha256sum`` format) sits beside the archive.

Rules kept here:

* The sessions root is written by the service user and read by root: nothing in it is followed. Directories
  are opened with ``O_NOFOLLOW`` relative to their parent, files with ``O_NOFOLLOW | O_NONBLOCK``; symlinks,
  FIFOs, sockets, devices and files with more than one hard link are reported, never read.
* Each session is read once, into a private spool, and compared before and after (inode, size, mtime and ctime
  of every file and directory). A session that changed while it was read is read again, or reported.
* An archive is written under a temporary name in the backup directory, read back and verified against its
  manifest, flushed, and only then renamed to its final name.
* Reading an archive trusts nothing: member names must be relative, without ``.``/``..`` components, under a
  safe tenant name; only regular files and directories; every member must match the manifest.

Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import errno
import grp
import hashlib
import inspect
import io
import json
import os
import pwd
import re
import socket
import stat
import sys
import tarfile
import tempfile
import time

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (
    MAX_CREDS_BYTES, creds_filename, creds_problem, get_layout)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.names import (
    check_session_name, name_problem)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import (
    BUFFER_SIZE, CREATE_FLAGS, O_CLOEXEC, O_NOFOLLOW, SessionError, kind_of, lstat_at, open_dir, open_regular,
    read_file_at, syncfs, syncfs_available)

DEFAULT_BACKUP_DIR = '/var/backups/rubymanager-sessions'
MANIFEST_NAME = '.rubymanager-manifest.json'
MANIFEST_FORMAT = 'rubymanager.session_persistence.backup'
MANIFEST_VERSION = 1
ARCHIVE_PREFIX = 'sessions-'     # archives of every tenant
PARTIAL_PREFIX = 'tenants-'      # archives of named tenants (-e tenants=...)
REPLACED_PREFIX = 'replaced-'
CHECKSUM_SUFFIX = '.sha256'
TEMP_PREFIX = '.tmp-'
STAMP_FORMAT = '%Y%m%dT%H%M%SZ'
ARCHIVE_RE = re.compile(r'^(sessions|tenants)-(\d{8}T\d{6}Z)(?:-(\d+))?\.tar(?:\.gz)?$')
# Sessions up to this size are spooled in memory, bigger ones in an unnamed file in the backup directory.
SPOOL_MEMORY = 32 * 1024 * 1024
RETRY_DELAY = 0.5
# A file or directory changed less than this before a session is read counts as changing (file times come
# from a coarse clock, so a write in the same tick as the read would not move them).
RACY_NS = 50 * 1000 * 1000
# Largest manifest accepted when reading an archive (about 200 bytes per file: 1 million files).
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
RDWR_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC
# The fixed name a restored creds file has in its staging directory until the session is in place.
CREDS_STAGED = '.creds.staged'


class BackupError(Exception):
    """Bad options or an unusable directory: nothing was written."""


class ArchiveError(Exception):
    """An archive that is unreadable, corrupted or hostile; ``path`` names it."""

    def __init__(self, path, reason):
        super(ArchiveError, self).__init__('Archive %s is refused: %s' % (path, reason))
        self.path = path
        self.reason = reason


class SessionChanged(Exception):
    """A session changed while it was read; ``path`` names what changed."""

    def __init__(self, path):
        super(SessionChanged, self).__init__(
            '%s: changed while it was being read (is the gateway still running?)' % path)
        self.path = path


# ----------------------------------------------------------------------------------------------------------
# small helpers

def same_version(st, old):
    """Same version of one file: same inode, size, mtime and ctime (nanoseconds)."""
    return (st.st_ino == old.st_ino and st.st_dev == old.st_dev and st.st_size == old.st_size
            and st.st_mtime_ns == old.st_mtime_ns and st.st_ctime_ns == old.st_ctime_ns)


def same_dir_version(st, old):
    """A directory with no entry added, removed or renamed and no metadata change (inode, mtime, ctime)."""
    return (st.st_ino == old.st_ino and st.st_dev == old.st_dev and st.st_mtime_ns == old.st_mtime_ns
            and st.st_ctime_ns == old.st_ctime_ns)


def token():
    return binascii.hexlify(os.urandom(6)).decode('ascii')


def inside(path, parent):
    """True when the real path of ``path`` is ``parent``'s real path or below it."""
    real, preal = os.path.realpath(path), os.path.realpath(parent)
    return real == preal or real.startswith(preal.rstrip('/') + '/')


def display_path(parts):
    """A member path (tuple of parts) as text."""
    return '/'.join(parts)


_USERS = {}
_GROUPS = {}


def user_name(uid):
    if uid not in _USERS:
        try:
            _USERS[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            _USERS[uid] = ''
    return _USERS[uid]


def group_name(gid):
    if gid not in _GROUPS:
        try:
            _GROUPS[gid] = grp.getgrgid(gid).gr_name
        except KeyError:
            _GROUPS[gid] = ''
    return _GROUPS[gid]


def require_absolute(path, option):
    if not isinstance(path, str) or not path.startswith('/'):
        raise BackupError('%s %r is not an absolute path; give an absolute path' % (option, path))
    if '\x00' in path:
        raise BackupError('%s %r contains a NUL byte' % (option, path))


def private_dir(path, option, root, create, check_mode):
    """Open (creating it when missing) the root-only directory ``path``: a real directory (no symlink), owned by
    the user running this (root), mode 0700 (group and other bits are removed), never inside the sessions root
    ``root``. Returns ``(fd or None, changes)``; fd is None only in check mode when it does not exist yet."""
    require_absolute(path, option)
    if root is not None and inside(path, root):
        raise BackupError('%s %s is inside the sessions root %s: the service user could read or replace the '
                          'backups there. Use a directory outside it, such as %s'
                          % (option, path, root, DEFAULT_BACKUP_DIR))
    changes = []
    try:
        st = os.lstat(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise BackupError('%s %s cannot be read: %s' % (option, path, exc.strerror))
        st = None
    if st is None:
        if not create:
            raise BackupError('%s %s does not exist' % (option, path))
        changes.append('create %s (owner root, mode 0700)' % path)
        if check_mode:
            return None, changes
        try:
            parent = os.path.dirname(path.rstrip('/'))
            if parent and not os.path.isdir(parent):
                os.makedirs(parent, 0o755)
            os.mkdir(path, 0o700)
        except OSError as exc:
            raise BackupError('%s %s cannot be created: %s' % (option, path, exc.strerror))
    elif stat.S_ISLNK(st.st_mode):
        raise BackupError('%s %s is a symlink; give the real directory (backups hold private keys and are never '
                          'written through a symlink)' % (option, path))
    elif not stat.S_ISDIR(st.st_mode):
        raise BackupError('%s %s exists but is a %s, not a directory' % (option, path, kind_of(st.st_mode)))
    try:
        fd = open_dir(path)
    except OSError as exc:
        raise BackupError('%s %s cannot be opened: %s' % (option, path, exc.strerror))
    try:
        fst = os.fstat(fd)
        if fst.st_uid != os.geteuid():
            raise BackupError('%s %s is owned by uid %d, not by the user running the task (uid %d): another user '
                              'could read or replace the backups. Give it to root (chown root:root) or use '
                              'another directory' % (option, path, fst.st_uid, os.geteuid()))
        if stat.S_IMODE(fst.st_mode) & 0o077:
            changes.append('chmod %s from %04o to 0700' % (path, stat.S_IMODE(fst.st_mode)))
            if not check_mode:
                os.fchmod(fd, 0o700)
    except BaseException:
        os.close(fd)
        raise
    return fd, changes


# ----------------------------------------------------------------------------------------------------------
# reading one session consistently

class Member(object):
    """One archive member read from disk: ``parts`` (path tuple, first part = tenant), ``kind``
    (``dir``/``file``), ``st`` (its stat), and for files ``offset`` in the spool, ``size`` and ``sha256``."""
    __slots__ = ('parts', 'kind', 'st', 'offset', 'size', 'sha256')

    def __init__(self, parts, kind, st, offset=0, size=0, sha256=None):
        self.parts = parts
        self.kind = kind
        self.st = st
        self.offset = offset
        self.size = size
        self.sha256 = sha256


class SessionSnapshot(object):
    """A session read once and found unchanged: its members (data in ``spool``) and what was skipped."""

    def __init__(self, name, members, skipped, attempts):
        self.name = name
        self.members = members
        self.skipped = skipped
        self.attempts = attempts

    @property
    def files(self):
        return [m for m in self.members if m.kind == 'file']


def read_session(root_fd, root_path, name, spool, retries=3, after_file=None, delay=RETRY_DELAY):
    """Read session ``name`` of the sessions root (open as ``root_fd``) into ``spool`` (a binary file object,
    emptied first) and return a ``SessionSnapshot``.

    Nothing is followed: a symlink, FIFO, socket, device or a file with more than one hard link is listed in
    ``skipped`` and never opened. The session counts as changed, and is read again (up to ``retries`` more
    times, then SessionChanged is raised), when any file or directory differs between the start and the end of
    the read (inode, size, mtime, ctime, entries), or was changed so shortly before the read started
    (``RACY_NS``) that a change in the same clock tick would not show in its times.
    ``after_file(parts)`` is called after each file was read (a seam for the tests, which change the session at
    that moment). Raises SessionError/OSError when the session cannot be read.
    """
    attempt = 0
    while True:
        attempt += 1
        spool.seek(0)
        spool.truncate()
        try:
            members, skipped = _read_once(root_fd, root_path, name, spool, after_file)
            return SessionSnapshot(name, members, skipped, attempt)
        except SessionChanged:
            if attempt > retries:
                raise
            time.sleep(delay * attempt)


def _read_once(root_fd, root_path, name, spool, after_file):
    path = os.path.join(root_path, name)
    started = time.time_ns()
    before = lstat_at(root_fd, name)
    if before is None:
        raise SessionError(path, 'vanished while the backup ran')
    if not stat.S_ISDIR(before.st_mode):
        raise SessionError(path, 'is a %s, not a directory; not backed up (never followed)'
                           % kind_of(before.st_mode))
    try:
        fd = open_dir(name, dir_fd=root_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
            raise SessionChanged(path)
        raise SessionError(path, exc.strerror or str(exc))
    members, skipped = [], []
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):
            raise SessionChanged(path)
        _read_dir(fd, (name,), st, path, members, skipped, spool, after_file)
        _recheck(fd, path, members, started - RACY_NS)
    finally:
        os.close(fd)
    return members, skipped


def _read_dir(fd, parts, st_before, path, members, skipped, spool, after_file):
    members.append(Member(parts, 'dir', st_before))
    try:
        with os.scandir(fd) as it:
            entries = sorted((entry.name, entry.stat(follow_symlinks=False)) for entry in it)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise SessionChanged(path)
        raise SessionError(path, exc.strerror or str(exc))
    for name, est in entries:
        child = parts + (name,)
        child_path = os.path.join(path, name)
        mode = est.st_mode
        if stat.S_ISDIR(mode):
            try:
                sub = open_dir(name, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                    raise SessionChanged(child_path)
                raise SessionError(child_path, exc.strerror or str(exc))
            try:
                sst = os.fstat(sub)
                if (sst.st_dev, sst.st_ino) != (est.st_dev, est.st_ino):
                    raise SessionChanged(child_path)
                _read_dir(sub, child, sst, child_path, members, skipped, spool, after_file)
            finally:
                os.close(sub)
        elif stat.S_ISREG(mode):
            if len(parts) == 1 and name == CREDS_STAGED:
                skipped.append({'path': child_path, 'reason': 'is a creds file staged by an interrupted restore; '
                                                              'not backed up (the archive it came from has it)'})
                continue
            if est.st_nlink > 1:
                skipped.append({'path': child_path, 'reason': 'has %d hard links; not backed up (its other name may '
                                                              'be outside the sessions root)' % est.st_nlink})
                continue
            members.append(_read_file(fd, name, est, child, child_path, spool))
            if after_file is not None:
                after_file(child)
        else:
            skipped.append({'path': child_path, 'reason': 'is a %s; not backed up (never followed or opened)'
                                                          % kind_of(mode)})


def _recheck(top_fd, path, members, quiet_since):
    """After the whole session was read: every directory and file must be exactly what was read, and none may
    have changed after ``quiet_since`` (timestamps come from a coarse clock: a write in the same tick as the
    read would not move them). Then the snapshot is the session as it was at one moment."""
    fds = {members[0].parts: top_fd}
    try:
        for member in members:
            parts = member.parts
            display = os.path.join(os.path.dirname(path), *parts)
            if member.kind == 'dir':
                if parts not in fds:
                    try:
                        fds[parts] = open_dir(parts[-1], dir_fd=fds[parts[:-1]])
                    except OSError:
                        raise SessionChanged(display)
                st = os.fstat(fds[parts])
                if not same_dir_version(st, member.st):
                    raise SessionChanged(display)
            else:
                st = lstat_at(fds[parts[:-1]], parts[-1])
                if st is None or not stat.S_ISREG(st.st_mode) or not same_version(st, member.st):
                    raise SessionChanged(display)
            if st.st_ctime_ns >= quiet_since or st.st_mtime_ns >= quiet_since:
                raise SessionChanged(display)
    finally:
        for parts, fd in fds.items():
            if len(parts) > 1:
                os.close(fd)


def _read_file(dir_fd, name, est, parts, path, spool):
    try:
        src, fst = open_regular(dir_fd, name, expect=est)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOENT, errno.EAGAIN, errno.EINVAL, errno.ENXIO):
            raise SessionChanged(path)  # replaced by a symlink or something else, or removed, since the scan
        raise SessionError(path, exc.strerror or str(exc))
    try:
        offset = spool.tell()
        digest = hashlib.sha256()
        size = 0
        while True:
            try:
                chunk = os.read(src, BUFFER_SIZE)
            except OSError as exc:
                raise SessionError(path, exc.strerror or str(exc))
            if not chunk:
                break
            size += len(chunk)
            digest.update(chunk)
            spool.write(chunk)
        after = os.fstat(src)
    finally:
        os.close(src)
    if size != fst.st_size or not same_version(fst, est) or not same_version(after, fst):
        raise SessionChanged(path)
    return Member(parts, 'file', fst, offset, size, digest.hexdigest())


# ----------------------------------------------------------------------------------------------------------
# writing an archive

def _tarinfo(name, kind, st=None, size=0):
    info = tarfile.TarInfo(name)
    if kind == 'dir':
        info.type = tarfile.DIRTYPE
    else:
        info.type = tarfile.REGTYPE
        info.size = size
    if st is not None:
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname, info.gname = user_name(st.st_uid), group_name(st.st_gid)
        seconds, rest = divmod(st.st_mtime_ns, 1000000000)
        info.mtime = seconds
        if rest:
            # the exact time in the pax header (a float would round it), which GNU tar applies to the nanosecond
            info.mtime = st.st_mtime_ns / 1e9
            info.pax_headers = {'mtime': '%d.%09d' % (seconds, rest)}
    return info


class Entry(object):
    """One member of a manifest, kept compact in memory (an archive may list hundreds of thousands of files).
    Read like the JSON object it is written as: ``entry['type']``, ``entry.get('size')``."""
    __slots__ = ('path', 'type', 'mode', 'uid', 'gid', 'user', 'group', 'mtime_ns', 'size', 'sha256')
    KEYS = frozenset(__slots__)

    def __init__(self, **fields):
        for key in self.__slots__:
            value = fields.get(key)
            if isinstance(value, str) and key in ('type', 'mode', 'user', 'group'):
                value = sys.intern(value)
            setattr(self, key, value)

    def __getitem__(self, key):
        return getattr(self, key)

    def get(self, key, default=None):
        value = getattr(self, key, None)
        return default if value is None else value

    def as_dict(self):
        return dict((key, getattr(self, key)) for key in self.__slots__ if getattr(self, key) is not None)


def manifest_entry(member):
    st = member.st
    return Entry(path=display_path(member.parts), type=member.kind, mode='%04o' % stat.S_IMODE(st.st_mode),
                 uid=st.st_uid, gid=st.st_gid, user=user_name(st.st_uid), group=group_name(st.st_gid),
                 mtime_ns=st.st_mtime_ns, size=member.size if member.kind == 'file' else None,
                 sha256=member.sha256 if member.kind == 'file' else None)


def _entry_hook(obj):
    """json object_hook: manifest entries become compact Entry objects as they are parsed."""
    if 'path' in obj and 'type' in obj and set(obj) <= Entry.KEYS:
        return Entry(**obj)
    return obj


class ArchiveWriter(object):
    """Writes tenants into a pax tar (gzip when ``compress``) on the open binary file ``fileobj``."""

    def __init__(self, fileobj, compress=True):
        if compress:
            self.tar = tarfile.open(fileobj=fileobj, mode='w:gz', format=tarfile.PAX_FORMAT, compresslevel=6)
        else:
            self.tar = tarfile.open(fileobj=fileobj, mode='w', format=tarfile.PAX_FORMAT)
        self.entries = []

    def add_snapshot(self, snapshot, spool):
        for member in snapshot.members:
            name = display_path(member.parts)
            if member.kind == 'dir':
                self.tar.addfile(_tarinfo(name, 'dir', member.st))
            else:
                spool.seek(member.offset)
                self.tar.addfile(_tarinfo(name, 'file', member.st, member.size), spool)
            self.tar.members = []  # tarfile keeps every TarInfo otherwise: memory would grow with the files
            self.entries.append(manifest_entry(member))

    def finish(self, manifest):
        """Write the manifest (``entries`` are filled in) as the last member and close the tar stream."""
        manifest = dict(manifest, entries=self.entries)
        data = json.dumps(manifest, sort_keys=True, default=Entry.as_dict).replace(
            '}, {"gid"', '},\n{"gid"').encode('ascii')
        info = _tarinfo(MANIFEST_NAME, 'file', size=len(data))
        info.mode = 0o600
        info.mtime = int(time.time())
        self.tar.addfile(info, io.BytesIO(data))
        self.tar.close()
        return manifest


def tenant_summary(snapshot, creds_name, creds_ok, problem):
    files = snapshot.files
    return {
        'files': len(files), 'bytes': sum(m.size for m in files), 'creds': creds_name, 'creds_valid': creds_ok,
        'creds_problem': problem,
        'newest_mtime_ns': max([m.st.st_mtime_ns for m in files] or [0]),
    }


# layouts.creds_problem takes the layout as a second argument in newer versions of the collection's core.
_CREDS_TAKES_LAYOUT = len(inspect.signature(creds_problem).parameters) > 1


def creds_problem_of(data, layout):
    """Why the bytes ``data`` are not valid creds for ``layout`` (layouts.creds_problem), or None."""
    return creds_problem(data, layout) if _CREDS_TAKES_LAYOUT else creds_problem(data)


def creds_state(snapshot, spool, creds_name, layout):
    """``(valid, problem)`` of the creds file in a snapshot (read from the spool, not from disk again)."""
    for member in snapshot.members:
        if member.kind == 'file' and len(member.parts) == 2 and member.parts[1] == creds_name:
            if member.size > MAX_CREDS_BYTES:
                return False, 'creds file is larger than %d bytes' % MAX_CREDS_BYTES
            spool.seek(member.offset)
            problem = creds_problem_of(spool.read(member.size), layout)
            return problem is None, problem
    return False, 'no creds file %s' % creds_name


def write_archive(dir_fd, dir_path, final_name, root_fd, root_path, names, layout, creds_file=None,
                  compress=True, retries=3, after_file=None, extra=None):
    """Read the sessions ``names`` of the open sessions root and write them as the archive ``final_name`` in
    the open directory ``dir_fd`` (temp file, read back and verified, fsync, rename; checksum file beside it).

    Returns ``(result, failed)``: ``result`` describes the archive (path, sha256, size, tenants, skipped);
    ``failed`` lists the sessions that could not be read consistently (they are not in the archive).
    """
    tmp_name = '%s%s.%s' % (TEMP_PREFIX, final_name, token())
    fd = os.open(tmp_name, RDWR_CREATE_FLAGS, 0o600, dir_fd=dir_fd)
    tenants, skipped, failed = {}, [], []
    try:
        with os.fdopen(os.dup(fd), 'wb') as out:
            writer = ArchiveWriter(out, compress)
            for name in names:
                spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, dir=dir_path)
                try:
                    try:
                        snapshot = read_session(root_fd, root_path, name, spool, retries, after_file)
                    except SessionChanged as exc:
                        failed.append({'name': name, 'path': exc.path,
                                       'msg': '%s; it was read %d times and changed each time. Stop the gateway '
                                              '(backup_stop_service) and back up again' % (exc, retries + 1)})
                        continue
                    except SessionError as exc:
                        failed.append({'name': name, 'path': exc.path, 'msg': str(exc)})
                        continue
                    creds_name = creds_filename(layout, name, creds_file)
                    creds_ok, problem = creds_state(snapshot, spool, creds_name, layout)
                    writer.add_snapshot(snapshot, spool)
                    tenants[name] = tenant_summary(snapshot, creds_name, creds_ok, problem)
                    skipped.extend(snapshot.skipped)
                finally:
                    spool.close()
            manifest = {
                'format': MANIFEST_FORMAT, 'version': MANIFEST_VERSION,
                'created': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'created_ns': time.time_ns(),
                'host': socket.gethostname(), 'root': root_path, 'layout': layout.name, 'tenants': tenants,
                'skipped': skipped, 'not_backed_up': [item['name'] for item in failed],
            }
            if extra:
                manifest.update(extra)
            writer.finish(manifest)
            out.flush()
        os.fsync(fd)
        os.lseek(fd, 0, os.SEEK_SET)
        verified = verify_fd(fd, os.path.join(dir_path, tmp_name))
        size = os.fstat(fd).st_size
        os.rename(tmp_name, final_name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp_name, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    os.close(fd)
    write_checksum(dir_fd, final_name, verified.sha256)
    os.fsync(dir_fd)
    result = {
        'archive': os.path.join(dir_path, final_name), 'checksum_file': os.path.join(dir_path, final_name
                                                                                     + CHECKSUM_SUFFIX),
        'sha256': verified.sha256, 'size': size, 'tenants': tenants, 'skipped': skipped,
    }
    return result, failed


def write_checksum(dir_fd, archive_name, sha256):
    """``<archive>.sha256`` in the ``sha256sum`` format, written atomically."""
    name = archive_name + CHECKSUM_SUFFIX
    tmp_name = '%s%s.%s' % (TEMP_PREFIX, name, token())
    fd = os.open(tmp_name, CREATE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        os.write(fd, ('%s  %s\n' % (sha256, archive_name)).encode('utf-8', 'surrogateescape'))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp_name, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def archive_name(prefix, stamp, compress, exists):
    """A free archive file name ``<prefix><stamp>[-n].tar[.gz]`` that sorts after every taken name of the same
    second (so the retention never takes a new archive for an old one); ``exists(name)`` tells a taken one."""
    suffix = '.tar.gz' if compress else '.tar'
    free = None
    for attempt in range(1000):
        name = '%s%s%s%s' % (prefix, stamp, '' if not attempt else '-%d' % attempt, suffix)
        other = '%s%s%s%s' % (prefix, stamp, '' if not attempt else '-%d' % attempt,
                              '.tar' if compress else '.tar.gz')
        taken = exists(name) or exists(name + CHECKSUM_SUFFIX) or exists(other)
        if taken:
            free = None
        elif free is None:
            free = name
        if attempt >= 50 and free is not None:
            break
    if free is None:
        raise BackupError('no free archive name for %s%s' % (prefix, stamp))
    return free


def short_component(text, limit=200):
    """``text`` as a part of a file name of at most ``limit`` bytes (long tenant names are hashed)."""
    if len(text.encode('utf-8', 'surrogateescape')) <= limit:
        return text
    return hashlib.sha256(text.encode('utf-8', 'surrogateescape')).hexdigest()[:32]


# ----------------------------------------------------------------------------------------------------------
# the archives in a backup directory

def archive_sort_key(name):
    match = ARCHIVE_RE.match(name)
    return (match.group(2), int(match.group(3) or 0)) if match else None


def list_archives(dir_fd, prefix=ARCHIVE_PREFIX):
    """Names of the ``<prefix><time>.tar[.gz]`` regular files in the open backup directory, oldest first
    (``sessions-`` archives hold every tenant, ``tenants-`` archives named tenants)."""
    with os.scandir(dir_fd) as it:
        names = [entry.name for entry in it if entry.name.startswith(prefix) and ARCHIVE_RE.match(entry.name)
                 and entry.is_file(follow_symlinks=False)]
    return sorted(names, key=archive_sort_key)


def stale_temp_files(dir_fd):
    with os.scandir(dir_fd) as it:
        return sorted(entry.name for entry in it if entry.name.startswith(TEMP_PREFIX)
                      and entry.is_file(follow_symlinks=False))


def unlink_quiet(dir_fd, name):
    try:
        os.unlink(name, dir_fd=dir_fd)
        return True
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
        return False


# ----------------------------------------------------------------------------------------------------------
# reading an archive: member checks, verification against the manifest

class _HashingReader(object):
    """A read-only file object over an fd that hashes every byte read (the whole archive's SHA-256)."""

    def __init__(self, fd):
        self.fd = fd
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size=-1):
        if size is None or size < 0:
            chunks = []
            while True:
                chunk = self.read(BUFFER_SIZE)
                if not chunk:
                    return b''.join(chunks)
                chunks.append(chunk)
        data = os.read(self.fd, size)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self):
        while self.read(BUFFER_SIZE):
            pass
        return self.digest.hexdigest()


def member_problem(member):
    """Why a tar member is not acceptable in a sessions archive, or None. Returns ``(parts, problem)``."""
    name = member.name
    if not name or '\x00' in name:
        return None, 'a member has an empty name or a NUL byte in its name'
    if name.startswith('/'):
        return None, 'member %r has an absolute path' % name
    parts = tuple(name.split('/'))
    if member.isdir() and parts and parts[-1] == '':
        parts = parts[:-1]
    for part in parts:
        if part in ('', '.', '..'):
            return None, 'member %r has an empty, "." or ".." path component' % name
    if parts == (MANIFEST_NAME,):
        if not member.isreg() or member.issparse():
            return None, 'member %r is not a regular file' % name
        return parts, None
    problem = name_problem(parts[0])
    if problem is not None:
        return None, 'member %r is not under a safe tenant name (the name %s)' % (name, problem)
    if member.issym() or member.islnk():
        return None, 'member %r is a %s; archives of sessions never hold links' % (
            name, 'symbolic link' if member.issym() else 'hard link')
    if member.isdev():
        return None, 'member %r is a device or FIFO; only regular files and directories are accepted' % name
    if member.issparse():
        return None, 'member %r is a sparse file entry; only plain regular files are accepted' % name
    if not (member.isreg() or member.isdir()):
        return None, 'member %r has the unsupported type %r' % (name, member.type)
    if member.isreg() and len(parts) == 1:
        return None, 'member %r is a file where a tenant directory is expected' % name
    return parts, None


class ArchiveReader(object):
    """Reads an archive sequentially and checks every member name and type. Use as an iterator of
    ``(parts, member, fileobj or None)``; ``sha256`` is the whole file's hash once it was read to the end."""

    def __init__(self, fd, display):
        self.fd = fd
        self.display = display
        self.reader = _HashingReader(fd)
        self.sha256 = None

    def __iter__(self):
        seen = set()
        try:
            tar = tarfile.open(fileobj=self.reader, mode='r|*')
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            raise ArchiveError(self.display, 'it is not a readable tar or tar.gz file (%s)' % (exc or type(exc)))
        try:
            while True:
                try:
                    member = tar.next()
                except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError) as exc:
                    raise ArchiveError(self.display, 'it is truncated or corrupted (%s)' % (exc or type(exc).__name__))
                if member is None:
                    break
                parts, problem = member_problem(member)
                if problem is not None:
                    raise ArchiveError(self.display, problem)
                if parts in seen:
                    raise ArchiveError(self.display, 'member %r appears twice' % member.name)
                seen.add(parts)
                fileobj = tar.extractfile(member) if member.isreg() else None
                yield parts, member, fileobj
                tar.members = []  # read sequentially: no need to keep every TarInfo
        finally:
            tar.close()
        try:
            self.sha256 = self.reader.drain()
        except OSError as exc:
            raise ArchiveError(self.display, 'cannot be read to its end (%s)' % exc.strerror)


def read_member_data(fileobj, display, parts, callback):
    """Read a member's data in chunks, calling ``callback(chunk)``; returns ``(size, sha256)``."""
    digest = hashlib.sha256()
    size = 0
    while True:
        try:
            chunk = fileobj.read(BUFFER_SIZE)
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            raise ArchiveError(display, 'member %r cannot be read; the archive is truncated or corrupted (%s)'
                               % (display_path(parts), exc or type(exc).__name__))
        if not chunk:
            break
        size += len(chunk)
        digest.update(chunk)
        if callback is not None:
            callback(chunk)
    return size, digest.hexdigest()


class VerifiedArchive(object):
    """An archive whose members all match its manifest: ``manifest``, ``entries`` {parts: manifest entry},
    ``tenants`` {name: tenant summary}, ``sha256`` of the whole file, ``path``."""

    def __init__(self, path, manifest, entries, sha256):
        self.path = path
        self.manifest = manifest
        self.entries = entries
        self.tenants = manifest['tenants']
        self.sha256 = sha256
        self.by_tenant = {}
        for parts, entry in entries.items():
            self.by_tenant.setdefault(parts[0], []).append((parts, entry))
        manifest['entries'] = None  # kept once, in ``entries``

    def tenant_entries(self, name):
        return self.by_tenant.get(name, [])


def open_archive(path):
    """Open archive ``path`` for reading: a regular file, never through a final symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC | getattr(os, 'O_NONBLOCK', 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ArchiveError(path, 'it is a symlink; give the real file')
        raise ArchiveError(path, 'it cannot be opened (%s)' % (exc.strerror or exc))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ArchiveError(path, 'it is a %s, not a regular file' % kind_of(st.st_mode))
    return fd


def expected_checksum(path):
    """The SHA-256 recorded in ``<path>.sha256`` beside the archive, or None when there is no such file."""
    try:
        dir_fd = open_dir(os.path.dirname(path) or '.', follow=True)
    except OSError:
        return None
    try:
        name = os.path.basename(path) + CHECKSUM_SUFFIX
        if lstat_at(dir_fd, name) is None:
            return None
        try:
            text = read_file_at(dir_fd, name, 4096).decode('utf-8', 'replace')
        except OSError as exc:
            raise ArchiveError(path, 'its checksum file %s cannot be read (%s)' % (name, exc.strerror))
    finally:
        os.close(dir_fd)
    match = re.match(r'^([0-9a-fA-F]{64})\b', text.strip())
    if not match:
        raise ArchiveError(path, 'its checksum file %s%s does not hold a SHA-256' % (path, CHECKSUM_SUFFIX))
    return match.group(1).lower()


def verify_archive(path, tenants=None):
    """Verify archive ``path`` against its manifest (and the checksum file beside it, when there is one)
    without writing anything. ``tenants`` (names) must all be in it. Returns a VerifiedArchive; raises
    ArchiveError naming the archive and the first problem found."""
    fd = open_archive(path)
    try:
        return verify_fd(fd, path, tenants, expected_checksum(path))
    finally:
        os.close(fd)


def verify_fd(fd, display, tenants=None, checksum=None):
    """``verify_archive`` on an open archive (read from its start)."""
    os.lseek(fd, 0, os.SEEK_SET)
    reader = ArchiveReader(fd, display)
    found = {}
    manifest_data = None
    for parts, member, fileobj in reader:
        if parts == (MANIFEST_NAME,):
            if member.size > MAX_MANIFEST_BYTES:
                raise ArchiveError(display, 'its manifest is larger than %d bytes' % MAX_MANIFEST_BYTES)
            chunks = []
            read_member_data(fileobj, display, parts, chunks.append)
            manifest_data = b''.join(chunks)
            continue
        size, sha256 = None, None
        if member.isreg():
            size, sha256 = read_member_data(fileobj, display, parts, None)
            if size != member.size:
                raise ArchiveError(display, 'member %r is truncated' % member.name)
        # compact: a path string and a tuple per member (an archive may hold hundreds of thousands of files)
        found[display_path(parts)] = ('dir' if member.isdir() else 'file', member.mode, member.uid, member.gid,
                                      size, sha256)
    if checksum is not None and reader.sha256 != checksum:
        raise ArchiveError(display, 'its SHA-256 is %s but %s%s records %s: the file is corrupted or was changed '
                                    'after the backup' % (reader.sha256, display, CHECKSUM_SUFFIX, checksum))
    manifest = parse_manifest(manifest_data, display)
    manifest_data = None
    entries = {}
    for entry in manifest['entries']:
        parts = tuple(entry['path'].split('/'))
        if parts in entries:
            raise ArchiveError(display, 'its manifest lists %r twice' % entry['path'])
        entries[parts] = entry
    missing = sorted(parts for parts in entries if display_path(parts) not in found)
    extra = sorted(tuple(path.split('/')) for path in set(found) - set(display_path(parts) for parts in entries))
    if missing or extra:
        raise ArchiveError(display, 'it does not match its manifest: %s' % '; '.join(
            ([('missing from the archive: %s' % ', '.join(display_path(p) for p in missing[:5]))] if missing else [])
            + ([('not in the manifest: %s' % ', '.join(display_path(p) for p in extra[:5]))] if extra else [])))
    for parts in sorted(entries):
        entry = entries[parts]
        kind, mode, uid, gid, size, sha256 = found.pop(display_path(parts))
        what = display_path(parts)
        if entry['type'] != kind:
            raise ArchiveError(display, 'member %r is a %s, the manifest says %s' % (what, kind, entry['type']))
        if kind == 'file' and (entry.get('size') != size or entry.get('sha256') != sha256):
            raise ArchiveError(display, 'member %r does not match its manifest: size %s, SHA-256 %s (the manifest '
                                        'says size %s, SHA-256 %s); the archive is corrupted'
                               % (what, size, sha256, entry.get('size'), entry.get('sha256')))
        if int(entry['mode'], 8) != mode or entry['uid'] != uid or entry['gid'] != gid:
            raise ArchiveError(display, 'member %r has other owner or mode than its manifest entry' % what)
        parent = entries.get(parts[:-1]) if len(parts) > 1 else None
        if len(parts) > 1 and (parent is None or parent['type'] != 'dir'):
            raise ArchiveError(display, 'member %r has no directory entry for its parent' % what)
        if parts[0] not in manifest['tenants']:
            raise ArchiveError(display, 'member %r belongs to no tenant of the manifest' % what)
        if len(parts) == 2 and parts[1] == CREDS_STAGED:
            raise ArchiveError(display, 'member %r uses the name reserved for restoring creds files' % what)
    for name, summary in manifest['tenants'].items():
        if (name,) not in entries or entries[(name,)]['type'] != 'dir':
            raise ArchiveError(display, 'tenant %r of the manifest has no directory in the archive' % name)
    for name in tenants or ():
        if name not in manifest['tenants']:
            raise ArchiveError(display, 'tenant %r is not in it (it holds: %s)'
                               % (name, ', '.join(sorted(manifest['tenants'])) or 'no tenant'))
    return VerifiedArchive(display, manifest, entries, reader.sha256)


def parse_manifest(data, display):
    if data is None:
        raise ArchiveError(display, 'it has no manifest (%s); it was not written by session_backup' % MANIFEST_NAME)
    try:
        manifest = json.loads(data.decode('utf-8'), object_hook=_entry_hook)
    except ValueError as exc:
        raise ArchiveError(display, 'its manifest is not valid JSON (%s)' % exc)
    if not isinstance(manifest, dict) or manifest.get('format') != MANIFEST_FORMAT:
        raise ArchiveError(display, 'its manifest is not a %s manifest' % MANIFEST_FORMAT)
    if manifest.get('version') != MANIFEST_VERSION:
        raise ArchiveError(display, 'its manifest has version %r; this collection reads version %d'
                           % (manifest.get('version'), MANIFEST_VERSION))
    tenants, entries = manifest.get('tenants'), manifest.get('entries')
    if not isinstance(tenants, dict) or not isinstance(entries, list):
        raise ArchiveError(display, 'its manifest lacks the tenants or the entries')
    for name, summary in tenants.items():
        if name_problem(name) is not None or not isinstance(summary, dict):
            raise ArchiveError(display, 'its manifest names an unsafe tenant %r' % (name,))
        creds = summary.get('creds')
        if not isinstance(creds, str) or not creds or '/' in creds or creds in ('.', '..', CREDS_STAGED) \
                or '\x00' in creds:
            raise ArchiveError(display, 'its manifest gives tenant %r the creds file name %r' % (name, creds))
    for entry in entries:
        if not isinstance(entry, Entry) or not isinstance(entry.get('path'), str) \
                or entry.get('type') not in ('dir', 'file') or not isinstance(entry.get('mtime_ns'), int) \
                or not isinstance(entry.get('uid'), int) or not isinstance(entry.get('gid'), int) \
                or not isinstance(entry.get('mode'), str) or not re.match(r'^[0-7]{3,5}$', entry['mode']):
            raise ArchiveError(display, 'its manifest has a malformed entry %r' % (entry,))
    return manifest


def check_names(names):
    """Validate requested tenant names (BackupError naming the bad one)."""
    for name in names or ():
        try:
            check_session_name(name)
        except ValueError as exc:
            raise BackupError(str(exc))


def resolve_layout(name):
    try:
        return get_layout(name)
    except ValueError as exc:
        raise BackupError(str(exc))


def flush(fd, use_syncfs=None):
    """Flush the file system holding ``fd`` (syncfs) or, when unavailable, the fd itself."""
    if (syncfs_available() if use_syncfs is None else use_syncfs):
        syncfs(fd)
    else:
        os.fsync(fd)
