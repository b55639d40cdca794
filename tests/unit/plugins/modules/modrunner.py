# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one of the collection's real modules the way Ansible does: as a subprocess with an args file, and
through ``ansible-playbook`` (only ansible-core is needed)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys

import pytest

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the module
      %s: %s
      register: outcome
      ignore_errors: true
    - name: Save the result for the test
      ansible.builtin.copy:
        content: "{{ outcome | to_json }}"
        dest: %s
        mode: "0600"
      check_mode: false
      diff: false
"""


class ModuleRunner(object):
    """Runs module ``name`` of rubymanager.session_persistence, imported from ``collections``."""

    def __init__(self, name):
        self.module = 'ansible_collections.rubymanager.session_persistence.plugins.modules.%s' % name
        self.fqcn = 'rubymanager.session_persistence.%s' % name
        # The directory holding ansible_collections/ (wherever the collection is imported from).
        self.collections = os.path.abspath(os.path.join(os.path.dirname(__file__), *(['..'] * 7)))

    def env(self):
        """The environment of a run: the collection importable and found by Ansible, no user config."""
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join([self.collections] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
        env['ANSIBLE_COLLECTIONS_PATH'] = self.collections
        env['ANSIBLE_LOCALHOST_WARNING'] = '0'
        env['ANSIBLE_RETRY_FILES_ENABLED'] = '0'
        env['ANSIBLE_INVENTORY_UNPARSED_WARNING'] = '0'
        env.pop('ANSIBLE_CONFIG', None)
        return env

    def run(self, tmp_path, args, check=False, diff=False):
        """Run the module file as Ansible does on the target: python -m <module> <args file>."""
        args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        path = tmp_path / 'args.json'
        path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
        proc = subprocess.run([sys.executable, '-m', self.module, str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=self.env(), cwd=str(tmp_path), check=False)
        assert proc.stdout, proc.stderr.decode()
        return json.loads(proc.stdout.decode())

    def cli(self, tool='ansible-playbook'):
        """The ansible command line tool, or None. Under ansible-test units only a restricted ``ansible``
        package is importable, so the installed command is run with a clean PYTHONPATH, not ``python -m``."""
        for candidate in (os.path.join(os.path.dirname(sys.executable), tool), shutil.which(tool)):
            if candidate and os.access(candidate, os.X_OK):
                env = self.env()
                env.pop('PYTHONPATH', None)
                if subprocess.call([candidate, '--version'], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL) == 0:
                    return candidate
        return None

    def run_ansible(self, tmp_path, args, *extra):
        """Run the module through ``ansible-playbook``; returns (registered result, output)."""
        cli = self.cli()
        if cli is None:
            pytest.skip('the ansible-playbook command line tool is not available here')
        out = tmp_path / 'result.json'
        if out.exists():
            out.unlink()
        playbook = tmp_path / 'playbook.yml'
        playbook.write_text(PLAYBOOK % (self.fqcn, json.dumps(args), json.dumps(str(out))))
        cmd = [cli, '-i', 'localhost,', '-c', 'local', str(playbook),
               '-e', 'ansible_python_interpreter=%s' % sys.executable] + list(extra)
        env = self.env()
        env.pop('PYTHONPATH', None)
        env.pop('ANSIBLE_STDOUT_CALLBACK', None)
        env['ANSIBLE_NOCOLOR'] = '1'
        env['ANSIBLE_REMOTE_TMP'] = str(tmp_path / '.ansible-remote-tmp')  # the user may have no home directory
        env['ANSIBLE_LOCAL_TEMP'] = str(tmp_path / '.ansible-local-tmp')
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=str(tmp_path),
                              check=False)
        output = proc.stdout.decode()
        assert out.exists(), output
        return json.loads(out.read_text()), output
