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
      - It must exist; apply the C(rubymanager.session_persistence.session_storage) role first.
      - Never treated as a legacy root, also when a glob, symlink or trailing slash in O(legacy_roots) names it.
    type: path
    required: true
  legacy_roots:
    description:
      - Directories to search for legacy sessions, in order of preference (see O(prefer)).
      - Shell-style globs are allowed (for example C(/srv/app/releases/*/sessions/)); the matches of one glob
        are used in sorted order. Roots that do not exist are skipped.
    type: list
    elements: path
    required: true
  sessions:
    description:
      - Names of the sessions to migrate. When omitted, every session found in O(legacy_roots) is migrated.
      - Each name must be a single safe path component; the task fails before anything is touched otherwise.
      - Discovered directories whose names are not safe are skipped with a warning.
    type: list
    elements: str
  layout:
    description:
      - The on-disk layout of the sessions.
      - V(baileys_csharp) is C(<name>/<name>_creds.json) plus key-store folders such as C(pre-key/),
        C(session/), C(sender-key/), C(app-state-sync-key/).
      - V(baileys_multi_file) is Node.js Baileys C(useMultiFileAuthState), C(<name>/creds.json) plus flat
        C(<type>-<id>.json) files; they are copied as they are.
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
      - When V(false), files are copied with their names as they are and nothing beside the folder is used.
    type: bool
    default: true
  owner:
    description: User that owns the migrated files and directories. Must exist.
    type: str
    default: www-data
  group:
    description: Group of the migrated files and directories. Must exist.
    type: str
    default: www-data
  dir_mode:
    description:
      - Mode of the migrated directories, as an octal string. Quote it in YAML.
      - Modes giving any permission to others are refused.
    type: str
    default: '2750'
  file_mode:
    description:
      - Mode of the migrated files, as an octal string. Quote it in YAML.
      - Modes giving any permission to others are refused.
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
      - A candidate whose creds file is not a non-empty JSON object is skipped (RV(invalid)) and the next
        one is used.
    type: str
    choices: [first, newest]
    default: first
  on_conflict:
    description:
      - What to do when O(dest) already holds the session with a creds file (non-empty regular file).
      - V(keep) keeps it and ignores the legacy copies.
      - V(newest) replaces it only when the chosen legacy creds file is newer; the old directory is first
        renamed to C(<dest>/.backup/<name>.<timestamp>).
      - V(fail) fails for that session unless the legacy creds file has the same size and mtime as the one
        in O(dest) (that is, it was already migrated).
      - A directory in O(dest) without a usable creds file is not a session, whatever this option says. An
        empty directory (the storage role creates those for onboarding) is replaced atomically by the migrated
        session; a non-empty one is first renamed into C(<dest>/.backup/).
    type: str
    choices: [keep, newest, fail]
    default: keep
  lock_timeout:
    description:
      - Seconds to wait for another run holding C(<dest>/.session_migrate.lock) before failing.
    type: int
    default: 300
notes:
  - Crash safety. Each session is assembled in a hidden staging directory C(<dest>/.staging-<name>-<random>),
    flushed to disk (one C(syncfs) per session, or one C(fsync) per file and directory where C(syncfs) is not
    available) and renamed into place; the sessions root is fsynced afterwards. A crash or C(kill -9) at any
    moment leaves either no C(<dest>/<name>) or a complete one, and the legacy copy untouched. Stale staging
    directories are removed by the next run.
  - With O(mode=move) the legacy files are removed only after the copy is renamed into place, the creds file
    last. A journal C(<dest>/.moving-<name>) written before the rename lets the next run finish a move that was
    interrupted after the rename; it removes only legacy files that have an identical copy in O(dest).
  - With O(on_conflict=newest) a replaced session is renamed into C(.backup) and then the new copy into place;
    a crash between the two renames leaves the old session in C(.backup) and no C(<dest>/<name>), and the next
    run migrates it again.
  - Legacy directories are read through directory file descriptors with C(O_NOFOLLOW); symlinks, FIFOs,
    sockets and devices inside a legacy session are never followed or copied, only reported. Hard links
    become separate files; sparse files stay sparse.
  - Symlinks in O(legacy_roots) are resolved once per run and the root is pinned by device and inode; a root
    swapped for a symlink or another directory while the module runs is refused, never followed.
  - Whether a session is present in O(dest) is decided from metadata only; creds contents are validated for
    legacy copies that are going to be migrated.
  - Stop the gateway service while migrating; a file that changes while it is copied fails that session.
  - Per-session errors (permission denied, no space left, unreadable file) do not stop the other sessions;
    the task fails at the end, listing all of them, and still returns the lists.
attributes:
  check_mode:
    support: full
    description: Reports exactly what a real run would do and changes nothing (not even the lock file).
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
      description: Where the directory previously at RV(migrated[].dest) was renamed to, when there was one
        that was not empty.
      type: str
      returned: when a directory was moved aside
      sample: /home/RubyManager/web/whatsapp.rubymanager.app/sessions/.backup/tenant_1.20260101T120000Z
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
  description: Legacy session directories skipped because their creds file is missing or not a non-empty
    JSON object.
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
  description: Staging directories left by an interrupted earlier run, removed (or to be removed) by this run.
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
    MODES, ON_CONFLICT, PREFER, MigrationFailed, Options, SetupError, migrate)
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
