# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared parts of the real-client tests: the gateway's user, the Node.js Baileys client, the C# reader and the
collection's modules run through ansible-playbook. ``bash scripts/test.sh client`` installs what they need."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.rubymanager.session_persistence.tests.unit.plugins.modules.modrunner import ModuleRunner

HERE = os.path.dirname(os.path.abspath(__file__))
GATEWAY_USER = 'www-data'


@pytest.fixture(scope='session')
def workspace():
    """A scratch directory the gateway's user can traverse (pytest's own tmp_path is private to root)."""
    if os.geteuid() != 0:
        pytest.fail('the real-client tests run as root: they run the gateway library as %s with runuser'
                    % GATEWAY_USER)
    base = tempfile.mkdtemp(prefix='rubymanager-sp-client-')
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base)


@pytest.fixture
def scratch(workspace, request):
    path = os.path.join(workspace, request.node.name.replace('[', '-').replace(']', ''))
    os.mkdir(path)
    os.chmod(path, 0o755)
    return path


@pytest.fixture(scope='session')
def node_client(workspace):
    """The client script with its node_modules, copied where the gateway's user can read them."""
    modules = os.path.join(HERE, 'node_modules', '@whiskeysockets', 'baileys')
    if not os.path.isdir(modules) or shutil.which('node') is None:
        pytest.fail('Node.js or the npm packages are missing: run bash scripts/test.sh client (it runs npm ci in %s)'
                    % HERE)
    dest = os.path.join(workspace, 'client')
    os.mkdir(dest)
    for name in ('baileys_client.mjs', 'package.json'):
        shutil.copy(os.path.join(HERE, name), dest)
    shutil.copytree(os.path.join(HERE, 'node_modules'), os.path.join(dest, 'node_modules'), symlinks=True)
    subprocess.check_call(['chmod', '-R', 'a+rX', dest])
    return NodeClient(os.path.join(dest, 'baileys_client.mjs'))


class NodeClient(object):
    """Runs baileys_client.mjs; ``user`` runs it as that user (runuser), as the gateway service would."""

    def __init__(self, script):
        self.script = script
        self.node = [shutil.which('node')]
        version = subprocess.check_output(self.node + ['--version']).decode().strip()
        if int(version.lstrip('v').split('.', maxsplit=1)[0]) < 19:
            # Debian 12's Node.js 18: Baileys uses globalThis.crypto, which Node 18 only has behind this flag.
            self.node.append('--experimental-global-webcrypto')

    def run(self, *args, **kwargs):
        user = kwargs.pop('user', None)
        cmd = self.node + [self.script] + [str(a) for a in args]
        if user is not None:
            cmd = ['runuser', '-u', user, '--'] + cmd
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd='/', check=False)
        assert proc.returncode == 0, '%s failed:\n%s\n%s' % (' '.join(cmd), proc.stdout.decode(), proc.stderr.decode())
        out = proc.stdout.decode().strip()
        return json.loads(out.splitlines()[-1]) if out else None


@pytest.fixture(scope='session')
def csharp_reader(workspace):
    """SessionReader.exe, compiled with Debian's mono-mcs."""
    if shutil.which('mcs') is None or shutil.which('mono') is None:
        pytest.fail('mono-mcs is missing: run bash scripts/test.sh client (it installs mono-mcs)')
    exe = os.path.join(workspace, 'SessionReader.exe')
    subprocess.check_call(['mcs', '-nologo', '-out:' + exe, os.path.join(HERE, 'csharp', 'SessionReader.cs')])
    os.chmod(exe, 0o755)
    return CSharpReader(exe)


class CSharpReader(object):
    """Reads a session the way BaileysCSharp does; returns its JSON report."""

    def __init__(self, exe):
        self.exe = exe

    def read(self, root, name, keys=(), user=GATEWAY_USER):
        cmd = ['runuser', '-u', user, '--', 'mono', self.exe, root, name] + ['%s/%s' % key for key in keys]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        assert proc.returncode == 0, '%s failed:\n%s\n%s' % (' '.join(cmd), proc.stdout.decode(), proc.stderr.decode())
        return json.loads(proc.stdout.decode())


class Modules(object):
    """The collection's real modules, run through ansible-playbook on localhost."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path

    def run(self, module, args, *extra):
        """The registered result (plus ``_output``, the playbook's output); ``extra``: e.g. --check, --diff.
        session_migrate keeps root's state (lock, journals, backups) in the test's own folder."""
        if module == 'session_migrate':
            args = dict({'state_dir': str(self.tmp_path / 'state')}, **args)
        result, output = ModuleRunner(module).run_ansible(self.tmp_path, args, *extra)
        result['_output'] = output
        return result


@pytest.fixture
def modules(tmp_path):
    return Modules(tmp_path)


def sessions_root(path, owner=GATEWAY_USER):
    """A sessions root as the session_storage role leaves it: owned by the gateway's user, 2750."""
    os.mkdir(path)
    shutil.chown(path, owner, owner)
    os.chmod(path, 0o2750)
    return path


def files_below(path):
    """Relative paths of the files below ``path``, sorted."""
    found = []
    for dirpath, _dirs, files in os.walk(path):
        found.extend(os.path.relpath(os.path.join(dirpath, name), path) for name in files)
    return sorted(found)
