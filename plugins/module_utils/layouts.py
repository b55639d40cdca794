# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""On-disk session layouts of WhatsApp Web gateways, defined in ONE place.

Every module of the collection (session_migrate, session_info, ...) takes the layout facts from the
``LAYOUTS`` table below instead of repeating them. Plain Python, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import json

# Largest creds file read to validate it. Real ones are 2.5-3.4 KB and the libraries read any size; no real
# creds file comes near this bound, which only keeps a stray huge file from being read into memory.
MAX_CREDS_BYTES = 16 * 1024 * 1024

UTF8_BOM = b'\xef\xbb\xbf'

Layout = collections.namedtuple('Layout', [
    'name',               # the value of the module option ``layout``
    'description',        # one line for documentation
    'creds_pattern',      # creds file name inside the session directory; ``{name}`` = session name
    'keystore_dirs',      # key-store folder names the gateway writes (sub-directories of the session)
    'keystore_aliases',   # other spellings seen in deployment notes (plural forms)
    'flat_prefixes',      # ``<prefix>-<id>.json`` files directly in the session directory
    'backslash_names',    # older builds wrote ``<prefix>\\<id>.json`` as ONE file; normalise to ``<prefix>/<id>.json``
    'sidecar_patterns',   # fnmatch patterns for ``<legacy root>/<name>\\<pattern>`` files BESIDE the session dir
    'creds_bom_allowed',  # whether the gateway reads a creds file that starts with a UTF-8 byte order mark
])

BAILEYS_CSHARP = Layout(
    name='baileys_csharp',
    description='BaileysCSharp: <name>/<name>_creds.json plus key-store folders <prefix>/<id>.json',
    creds_pattern='{name}_creds.json',
    keystore_dirs=('pre-key', 'session', 'sender-key', 'sender-key-memory',
                   'app-state-sync-key', 'app-state-sync-version'),
    keystore_aliases=('pre-keys', 'session-keys', 'sender-keys'),
    flat_prefixes=(),
    backslash_names=True,
    sidecar_patterns=('store*.db',),
    # File.ReadAllText detects and strips a UTF-8 BOM before the JSON is parsed.
    creds_bom_allowed=True,
)

BAILEYS_MULTI_FILE = Layout(
    name='baileys_multi_file',
    description='Node.js Baileys useMultiFileAuthState: <name>/creds.json plus flat <type>-<id>.json files',
    creds_pattern='creds.json',
    keystore_dirs=(),
    keystore_aliases=(),
    flat_prefixes=('pre-key', 'session', 'sender-key', 'sender-key-memory', 'app-state-sync-key',
                   'app-state-sync-version', 'lid-mapping', 'device-list', 'tctoken', 'identity-key'),
    backslash_names=False,
    sidecar_patterns=(),
    # readFile(..., 'utf-8') keeps the BOM and JSON.parse fails on it: the library then starts silently with fresh
    # creds, and the tenant has to scan a QR code.
    creds_bom_allowed=False,
)

LAYOUTS = collections.OrderedDict((layout.name, layout) for layout in (BAILEYS_CSHARP, BAILEYS_MULTI_FILE))
DEFAULT_LAYOUT = BAILEYS_CSHARP.name
LAYOUT_NAMES = tuple(LAYOUTS)


def get_layout(name):
    """Return the ``Layout`` called ``name``; ValueError listing the choices otherwise."""
    try:
        return LAYOUTS[name]
    except (KeyError, TypeError):
        raise ValueError('Unknown session layout %r; choose one of: %s' % (name, ', '.join(LAYOUT_NAMES)))


def creds_filename(layout, name, creds_file=None):
    """File name of the creds file of session ``name`` (``creds_file`` overrides the layout's pattern).

    The pattern may contain ``{name}``. The result must be one plain path component.
    """
    pattern = creds_file if creds_file else layout.creds_pattern
    try:
        result = pattern.replace('{name}', name)
    except AttributeError:
        raise ValueError('creds_file must be a string, got %r' % (pattern,))
    if not result or '/' in result or '\x00' in result or result in ('.', '..'):
        raise ValueError('creds_file %r gives %r for session %r, which is not a plain file name'
                         % (pattern, result, name))
    return result


def split_backslash_name(filename):
    """Split a legacy ``pre-key\\7.json`` file name into path parts ``('pre-key', '7.json')``.

    Returns None when the name has no backslash or a part would not be a safe path component
    (empty, ``.``, ``..``), in which case the file keeps its literal name.
    """
    if '\\' not in filename:
        return None
    parts = tuple(filename.split('\\'))
    for part in parts:
        if part in ('', '.', '..') or '/' in part or '\x00' in part:
            return None
    return parts


def creds_problem(data, layout):
    """Why the raw bytes ``data`` of a creds file are not valid creds for ``layout``, or None when they are.

    Valid creds = a non-empty JSON object of at most ``MAX_CREDS_BYTES`` bytes (``data`` may hold one byte more,
    as ``read_file_at`` returns). A UTF-8 byte order mark is allowed only where the layout's gateway strips it
    (``creds_bom_allowed``).
    """
    if not data:
        return 'creds file is empty'
    if len(data) > MAX_CREDS_BYTES:
        return ('creds file is too large: over %d bytes (16 MiB), the most that is read to validate creds; real '
                'creds files are a few KB' % MAX_CREDS_BYTES)
    if data.startswith(UTF8_BOM):
        if not layout.creds_bom_allowed:
            return ('creds file starts with a UTF-8 byte order mark, which layout %s does not read (Node.js '
                    'Baileys fails to parse it and starts with fresh creds: a QR scan)' % layout.name)
        data = data[len(UTF8_BOM):]
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        return 'creds file is not UTF-8 (%s)' % exc
    try:
        value = json.loads(text)
    except ValueError as exc:
        return 'creds file is not JSON (%s)' % exc
    if not isinstance(value, dict):
        return 'creds file holds a JSON %s, not an object' % type(value).__name__
    if not value:
        return 'creds file holds an empty JSON object'
    return None
