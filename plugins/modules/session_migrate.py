#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: session_migrate
short_description: Migrate legacy WhatsApp Web gateway sessions into the fixed sessions root
version_added: 0.1.0
description:
  - Finds every legacy session of a BaileysCSharp (or Node.js Baileys) WhatsApp Web gateway in O(legacy_roots)
    and copies (or moves) the whole session directory into the fixed sessions root O(dest), so that no tenant
    has to scan a QR code again after a deploy.
  - A session is a directory C(<name>) holding its creds file (see O(layout)) plus key-store folders or files.
    The whole directory is migrated recursively, with modification times preserved and owner, group and modes
    set from the options.
  - Sessions already present in O(dest) are kept (see O(on_conflict)); legacy copies are never merged.
  - Idempotent; a run with nothing to do changes nothing and reads no file contents.
author:
  - RubyManager maintainers (@rubymanager)
options:
  dest:
    description:
      - The sessions root, for example C(/home/RubyManager/web/whatsapp.rubymanager.app/sessions).
      - It must be an absolute path at least two levels deep, not inside a system directory such as C(/etc),
        C(/usr) or C(/boot) (the same rule as the role's C(session_storage_root)).
      - It must exist; apply the C(rubymanager.session_persistence.session_storage) role first. In check mode a
        missing O(dest) is treated as empty, so a dry run before the first deploy lists what would be migrated.
      - It belongs to the service user, so nothing found in it is trusted. Only C(.staging-*) and
        C(.replaced-*) directories and the tenant directories are ever created in it.
      - Never treated as legacy data. A legacy root or legacy session directory that is O(dest), lies inside
        it, or contains it (at any depth, through any symlink, bind mount or glob) is skipped with a warning.
    type: path
    required: true
  legacy_roots:
    description:
      - Absolute paths of the directories to search for legacy sessions, in order of preference (see O(prefer)).
      - Shell-style globs are allowed (for example C(/srv/app/releases/*/sessions/)); the matches of one glob
        are used in sorted order. A path that exists is used literally even when it holds glob characters
        (C([), C(]), C(*), C(?)); it is expanded as a glob only when it does not exist.
      - Roots that are missing, not directories, unreadable or inside O(dest) are skipped and listed in
        RV(skipped_roots) with the reason.
    type: list
    elements: path
    required: true
  state_dir:
    description:
      - Root's own bookkeeping, outside the sessions root where the service user can not write it - the lock
        C(session_migrate.lock), move journals in C(journal/), and in C(backup/<name>.<UTC time>/) a verified
        copy of every session that a migration replaced.
      - Created mode C(0700) when missing. An existing one must be a directory (not a symlink) owned by the user
        running the module, with no permissions for group or others.
      - Must not be inside O(dest), nor contain it. Use the same O(state_dir) for every run on one O(dest).
    type: path
    default: /var/lib/rubymanager/session_persistence
  sessions:
    description:
      - Names of the sessions to migrate. When omitted, every session found in O(legacy_roots) is migrated.
      - Each name must be a single safe path component; the task fails before anything is touched otherwise.
      - Discovered directories whose names are not safe are skipped with a warning.
    type: list
    elements: str
  layout:
    description:
      - The on-disk layout of the sessions, that is, which gateway library reads them.
      - V(baileys_csharp) is C(<name>/<name>_creds.json) plus key-store folders such as C(pre-key/),
        C(session/), C(sender-key/), C(app-state-sync-key/) holding C(<id>.json) files (C(/) and C(::) in ids
        written as C(__)). Its creds file may start with a UTF-8 byte order mark (BaileysCSharp reads it with
        C(File.ReadAllText), which drops it).
      - V(baileys_multi_file) is Node.js Baileys C(useMultiFileAuthState), C(<name>/creds.json) plus flat
        C(<type>-<id>.json) files (C(/) in ids written as C(__), C(:) as C(-)); they are copied as they are.
        A creds file that starts with a UTF-8 byte order mark is B(not) valid here - the library's C(JSON.parse)
        fails on it and it silently starts with fresh creds (a QR code) - so such a copy is never migrated and
        never wins under O(prefer=newest); it is listed in RV(invalid).
      - Valid creds are a non-empty JSON object of at most 16 MiB (real ones are a few KB); a larger creds file
        is listed in RV(invalid) as too large.
      - When the legacy roots hold sessions of the other layout and none of this one, the task fails naming
        the O(layout) value to use (nothing is changed); when they hold both, the other layout's sessions are
        left alone with a warning naming them.
    type: str
    choices: [baileys_csharp, baileys_multi_file]
    default: baileys_csharp
  creds_file:
    description:
      - Overrides the creds file name of the layout. C({name}) is replaced with the session name.
      - Defaults to C({name}_creds.json) for V(baileys_csharp) and C(creds.json) for V(baileys_multi_file).
    type: str
  normalize_names:
    description:
      - Only for V(baileys_csharp). Older builds on Linux wrote key-store files with a literal backslash in
        their name (one file C(pre-key\\7.json) in the session folder) and a LiteDB store C(<name>\\store.db)
        beside the session folder.
      - When V(true), such a file is written as C(pre-key/7.json), and C(<legacy root>/<name>\\store*.db)
        files become C(<dest>/<name>/store*.db). When both spellings exist, the file in the folder wins and the
        other one is reported and left where it is (also with O(mode=move)).
      - When V(true), a session already in O(dest) that holds such names (builds between the path change and
        the key-store fix wrote them straight into the fixed root, and the gateway's own start-up migration copies
        them as they are) is repaired in place, per session atomically - a copy with normalised names is staged
        and committed like a migration, the old session backed up into O(state_dir) first, and the
        C(<name>\\store*.db) files beside it removed after the commit. See RV(repaired); C(--check) and
        C(--diff) show it.
      - When V(false), files are copied with their names as they are and nothing beside the folder is used.
    type: bool
    default: true
  owner:
    description: User that owns the migrated files and directories, a name or a numeric id. Must exist on the host.
    type: str
    default: www-data
  group:
    description: Group of the migrated files and directories, a name or a numeric id. Must exist on the host.
    type: str
    default: www-data
  dir_mode:
    description:
      - Mode of the migrated directories, as an octal string. Quote it in YAML.
      - Modes giving any permission to others are refused, and the owner must have C(rwx).
    type: str
    default: '2750'
  file_mode:
    description:
      - Mode of the migrated files, as an octal string. Quote it in YAML.
      - Modes giving any permission to others, and modes with setuid, setgid, sticky or any execute bit, are
        refused (session files are data).
    type: str
    default: '0640'
  mode:
    description:
      - V(copy) leaves the legacy session in place.
      - V(move) removes the legacy session only after its copy in O(dest) was verified (same relative paths,
        sizes and SHA-256). Only the verified files are removed, without following symlinks; anything that
        appeared or changed meanwhile is kept and reported.
    type: str
    choices: [copy, move]
    default: copy
  prefer:
    description:
      - Which legacy copy to use when the same session is in several legacy roots.
      - V(first) takes the first root in O(legacy_roots) order, V(newest) the one with the latest creds file.
      - The others are reported under RV(duplicates) and never merged.
          - A candidate whose creds file is not valid for O(layout) (see there) is skipped (RV(invalid)) and the
        next one is used.
    type: str
    choices: [first, newest]
    default: first
  on_conflict:
    description:
      - What to do when O(dest) already holds the session with a creds file (non-empty regular file).
      - V(keep) keeps it and ignores the legacy copies.
      - V(newest) replaces it only when the chosen legacy creds file is newer; the old directory is first
        copied to C(<state_dir>/backup/<name>.<timestamp>) and the copy verified.
      - V(fail) fails for that session unless the legacy creds file has the same size and mtime as the one
        in O(dest) (that is, it was already migrated).
      - A directory in O(dest) without a usable creds file (missing, empty, not a regular file) is not a
        session, whatever this option says. An empty directory (the storage role creates those for onboarding) is
        replaced atomically by the migrated session; a non-empty one is first backed up into C(<state_dir>/backup/).
      - A creds file in O(dest) that is not empty but is not valid creds (not JSON, not an object) is corrupt and
        never counts as present. With a valid legacy copy it is backed up and replaced under V(keep) and
        V(newest), and V(fail) fails for that session naming the corrupt file. Without one it is listed in
        RV(corrupt).
    type: str
    choices: [keep, newest, fail]
    default: keep
  lock_timeout:
    description:
      - Seconds to wait for another run holding C(<state_dir>/session_migrate.lock) before failing.
    type: int
    default: 300
notes:
  - Crash safety and what the gateway sees. Each session is assembled in a hidden staging directory
    C(<dest>/.staging-<name>-<random>) with its creds file under the name C(.creds.staged), flushed to disk (one
    C(syncfs) per batch of sessions, or one C(fsync) per file and directory where C(syncfs) is not available),
    renamed to C(<dest>/<name>), and only then is C(.creds.staged) renamed to the real creds file name. The
    gateway loads every C(*_creds.json) below its root, so no such path ever exists below O(dest) other than
    C(<dest>/<tenant>/<tenant>_creds.json), and a session appears to it complete or not at all. A crash or
    C(kill -9) at any moment leaves what the next run removes or finishes (see the Safety page of the collection,
    docs/safety.md).
  - A session that is replaced is copied into C(<state_dir>/backup/) and verified first; its creds file is then
    renamed to C(.creds.replaced) and its directory to C(<dest>/.replaced-<name>-<random>) (removed after the
    new session is in place).
  - With O(mode=move) the legacy files are removed only after the copy is in place and flushed, the creds file
    last, each only while it is still the file that was copied (inode, size, mtime and ctime). A journal in
    C(<state_dir>/journal/) written before the commit lets the next run finish a move that was interrupted; it
    removes only legacy files that have an identical copy in O(dest).
  - Legacy directories are read through directory file descriptors with C(O_NOFOLLOW); symlinks, FIFOs,
    sockets and devices inside a legacy session are never followed or copied, only reported. Hard links
    become separate files; sparse files stay sparse.
  - Symlinks in O(legacy_roots) are resolved once per run and the root is pinned by device and inode; a root
    swapped for a symlink or another directory while the module runs is refused, never followed.
  - Stop the gateway service while migrating (the deploy playbook does). A legacy file that is written, added or
    removed while its session is copied (compared by inode, size, mtime and ctime in nanoseconds before and
    after it is read, and all again once the whole session is copied) fails that session; nothing of it is
    committed and, with O(mode=move), nothing is removed.
  - Directory names that can not be a session (not valid UTF-8, not a safe name, too long to hold their creds
    file) and legacy directories overlapping O(dest) are listed in RV(skipped_sessions) with the reason, never skipped in
    silence; they do not fail the run.
  - Per-session errors (permission denied, no space left, unreadable file) do not stop the other sessions;
    the task fails at the end, listing all of them, and still returns the lists.
attributes:
  check_mode:
    support: full
    description: Reports exactly what a real run would do (C(changed), RV(migrated), RV(removed), the problems),
      also after an interrupted run, and changes nothing (not even the lock file or O(state_dir)). A missing
      O(dest) is treated as empty.
  diff_mode:
    support: full
    description: Lists the sessions in O(dest) before and after.
  platform:
    support: full
    platforms: posix
    description: Needs C(flock), C(O_NOFOLLOW) and directory file descriptors (Linux, other POSIX systems).
'''

EXAMPLES = r'''
- name: Migrate every legacy session into the fixed sessions root
  rubymanager.session_persistence.session_migrate:
    dest: /home/RubyManager/web/whatsapp.rubymanager.app/sessions
    legacy_roots:
      - /home/RubyManager/web/whatsapp.rubymanager.app/bin/sessions
      - /home/RubyManager/web/whatsapp.rubymanager.app/releases/*/sessions/

- name: Move two sessions of a Node.js Baileys gateway, taking the newest copy
  rubymanager.session_persistence.session_migrate:
    dest: /srv/gateway/sessions
    legacy_roots:
      - /srv/gateway/auth_info
    sessions:
      - tenant_1
      - 7afd5398-97c3-11eb-a990-f23c917564d6
    layout: baileys_multi_file
    mode: move
    prefer: newest
    owner: node
    group: node

- name: Replace sessions in dest only when the legacy creds file is newer (old ones go to .backup)
  rubymanager.session_persistence.session_migrate:
    dest: /home/RubyManager/web/whatsapp.rubymanager.app/sessions
    legacy_roots: [/opt/old-gateway/sessions]
    on_conflict: newest
    dir_mode: '2770'
    file_mode: '0660'
  register: migration

- name: Show what was migrated
  ansible.builtin.debug:
    msg: "{{ migration.migrated | map(attribute='name') | list }}"
'''

RETURN = r'''
migrated:
  description: Sessions copied into O(dest) (in check mode, that would be copied).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Session name.
      type: str
      sample: 7afd5398-97c3-11eb-a990-f23c917564d6
    source:
      description: The legacy session directory used.
      type: str
      sample: /home/RubyManager/web/whatsapp.rubymanager.app/bin/sessions/7afd5398-97c3-11eb-a990-f23c917564d6
    dest:
      description: The session directory in O(dest).
      type: str
      sample: /home/RubyManager/web/whatsapp.rubymanager.app/sessions/7afd5398-97c3-11eb-a990-f23c917564d6
    files:
      description: Number of files copied.
      type: int
      sample: 412
    bytes:
      description: Number of bytes copied.
      type: int
      sample: 181234
    backup:
      description: Where the directory previously at RV(migrated[].dest) was backed up to, when there was one
        that was not empty.
      type: str
      returned: when a directory was replaced
      sample: /var/lib/rubymanager/session_persistence/backup/tenant_1.20260101T120000Z
present:
  description: Sessions already in O(dest) that were kept as they are.
  returned: always
  type: list
  elements: str
  sample: [tenant_1]
not_found:
  description: Sessions asked for in O(sessions) that are neither in O(dest) nor in any legacy root.
  returned: always
  type: list
  elements: str
  sample: [tenant_9]
invalid:
  description: Legacy session directories skipped because their creds file is missing or not valid for
    O(layout) (not a non-empty JSON object, larger than 16 MiB, or a UTF-8 byte order mark under
    V(baileys_multi_file)).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Session name.
      type: str
    path:
      description: The legacy session directory.
      type: str
    reason:
      description: Why it was skipped.
      type: str
      sample: creds file is empty
corrupt:
  description: Sessions whose creds file in O(dest) is not valid creds while no valid legacy copy exists to
    replace it; the tenant's session there is not usable.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Session name.
      type: str
    path:
      description: The corrupt creds file.
      type: str
    reason:
      description: What is wrong with it and what to do.
      type: str
skipped_sessions:
  description: Legacy directories that look like sessions but are not migrated, with the reason (name not
    valid UTF-8 - shown with the bytes escaped -, not a safe name, too long for its creds file, a symlink,
    or overlapping O(dest)). They do not fail the run.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The directory.
      type: str
    reason:
      description: Why it is not migrated.
      type: str
skipped_roots:
  description: Entries of O(legacy_roots) that were not searched, with the reason (missing, not a directory,
    unreadable, inside O(dest)).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The root (a glob that matched nothing is listed as given).
      type: str
    reason:
      description: Why it was not searched.
      type: str
recovered:
  description: Sessions in O(dest) left half-committed by an interrupted run, finished (creds file renamed from
    C(.creds.staged)) or rolled back (from C(.creds.replaced)).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Session name.
      type: str
    path:
      description: The session directory.
      type: str
    action:
      description: What was done.
      type: str
repaired:
  description: Sessions of O(dest) rewritten with normalised file names (O(normalize_names)); in check mode, that
    would be.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Session name.
      type: str
    dest:
      description: The session directory.
      type: str
    files:
      description: Number of files in the repaired session.
      type: int
    bytes:
      description: Number of bytes in the repaired session.
      type: int
    renamed:
      description: The files whose names changed, relative to the session directory (a file beside it is
        C(../<name>\\store.db)).
      type: list
      elements: dict
      sample: [{"from": "pre-key\\7.json", "to": "pre-key/7.json"}]
    backup:
      description: Where the session was backed up before it was rewritten.
      type: str
duplicates:
  description: Sessions found in more than one legacy root; the copies not used are listed, never merged.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Session name.
      type: str
    used:
      description: The legacy directory that was used.
      type: str
    ignored:
      description: The other legacy directories.
      type: list
      elements: str
removed:
  description: Legacy session directories removed after their copy was verified (O(mode=move) only).
  returned: when O(mode=move)
  type: list
  elements: str
errors:
  description: Sessions that failed, with the path and the reason. The task fails when this is not empty.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Session name.
      type: str
    path:
      description: The file or directory concerned.
      type: str
    msg:
      description: Path and reason (errno text).
      type: str
stale_staging:
  description: Staging (C(.staging-*)) and replaced-session (C(.replaced-*)) directories left in O(dest) by an
    interrupted earlier run, removed (or to be removed) by this run.
  returned: always
  type: list
  elements: str
legacy_roots:
  description: The legacy roots that were searched, globs expanded, in order of preference.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.pyversion import python_problem  # noqa: E402

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.layouts import (  # noqa: E402
    DEFAULT_LAYOUT, LAYOUT_NAMES)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.migration import (  # noqa: E402
    DEFAULT_STATE_DIR, MODES, ON_CONFLICT, PREFER, MigrationFailed, Options, SetupError, migrate)
from ansible_collections.rubymanager.session_persistence.plugins.module_utils.safecopy import (  # noqa: E402
    LockTimeout)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type='path', required=True),
            legacy_roots=dict(type='list', elements='path', required=True),
            sessions=dict(type='list', elements='str'),
            layout=dict(type='str', choices=list(LAYOUT_NAMES), default=DEFAULT_LAYOUT),
            creds_file=dict(type='str'),
            normalize_names=dict(type='bool', default=True),
            owner=dict(type='str', default='www-data'),
            group=dict(type='str', default='www-data'),
            dir_mode=dict(type='str', default='2750'),
            file_mode=dict(type='str', default='0640'),
            mode=dict(type='str', choices=list(MODES), default='copy'),
            prefer=dict(type='str', choices=list(PREFER), default='first'),
            on_conflict=dict(type='str', choices=list(ON_CONFLICT), default='keep'),
            lock_timeout=dict(type='int', default=300),
            state_dir=dict(type='path', default=DEFAULT_STATE_DIR),
        ),
        supports_check_mode=True,
    )
    # First: on an older Python the modules would fail later with an obscure error.
    problem = python_problem('session_migrate')
    if problem:
        module.fail_json(msg=problem)
    params = dict(module.params)
    options = Options(check_mode=module.check_mode, want_diff=module._diff, **params)
    try:
        result = migrate(options, warn=module.warn)
    except (SetupError, LockTimeout) as exc:
        module.fail_json(msg=str(exc))
    except MigrationFailed as exc:
        module.fail_json(msg=str(exc), **_public(exc.result))
    except OSError as exc:
        module.fail_json(msg='%s: %s' % (exc.filename or params['dest'], exc.strerror or exc))
    module.exit_json(**_public(result))


def _public(result):
    """The module's return values: ``warnings`` are emitted through module.warn, ``diff`` only when asked."""
    return dict((key, value) for key, value in result.items() if key != 'warnings')


if __name__ == '__main__':
    main()
