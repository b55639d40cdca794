# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark session_migrate, session_info and the whole deploy playbook against cp -a, cp -a + sync, rsync -a and
ansible.builtin.copy.

Run it through ``bash benchmarks/run.sh [options]`` (it prepares the venv and the collection path); running
``python benchmarks/bench.py`` outside that script hands over to it. See benchmarks/README.md.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gen_tree  # noqa: E402  pylint: disable=wrong-import-position

WRAPPER = os.path.join(HERE, 'rss_python.py')
MIGRATE = 'rubymanager.session_persistence.session_migrate'
INFO = 'rubymanager.session_persistence.session_info'

# Run order inside one repetition; every variant runs once per repetition, so the variants alternate.
VARIANTS = ('cp', 'cp_sync', 'rsync', 'ansible_copy', 'migrate_check', 'migrate_first', 'migrate_noop', 'session_info',
            'deploy_first', 'deploy_noop')
LABELS = {
    'cp': 'cp -a',
    'cp_sync': 'cp -a + sync (durable baseline)',
    'rsync': 'rsync -a',
    'ansible_copy': 'ansible.builtin.copy remote_src',
    'migrate_check': 'session_migrate --check (empty dest)',
    'migrate_first': 'session_migrate, first run',
    'migrate_noop': 'session_migrate, no-op re-run',
    'session_info': 'session_info (dest + legacy root)',
    'deploy_first': 'deploy playbook, first run',
    'deploy_noop': 'deploy playbook, no-op re-run',
}
DEPLOY = 'rubymanager.session_persistence.deploy'
# Comparisons without a target that take minutes per run on large trees (see --slow-max-files).
SLOW = ('rsync', 'ansible_copy')
# Ratio each variant is judged by, and the target (None = no target, figure for information).
BASELINE = {
    'cp': ('cp', None), 'cp_sync': ('cp_sync', None), 'rsync': ('cp_sync', None), 'ansible_copy': ('cp_sync', None),
    'migrate_first': ('cp_sync', 1.2), 'migrate_noop': ('cp', 0.25), 'migrate_check': ('cp', 0.25),
    'session_info': ('cp', 0.25), 'deploy_first': ('cp_sync', 1.3), 'deploy_noop': ('cp', 0.5),
}


def sh(*args):
    return subprocess.check_output(args, universal_newlines=True).strip()


def machine_info(path):
    cpu = 'unknown'
    try:
        with open('/proc/cpuinfo') as handle:
            for line in handle:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        fstype = sh('findmnt', '-n', '-o', 'FSTYPE', '--target', path)
    except (OSError, subprocess.CalledProcessError):
        fstype = 'unknown'
    try:
        ansible_version = sh('ansible', '--version').splitlines()[0]
    except (OSError, subprocess.CalledProcessError):
        ansible_version = 'unknown'
    return {'cpu': cpu, 'cores': os.cpu_count(), 'kernel': platform.release(), 'filesystem': fstype,
            'python': platform.python_version(), 'ansible': ansible_version,
            'memory_mb': os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // (1024 * 1024)}


def remove(path):
    if os.path.lexists(path):
        subprocess.check_call(['rm', '-rf', '--one-file-system', path])


def settle(drop_caches):
    """Untimed: flush what earlier runs left dirty so it is not billed to the next run; optionally drop caches."""
    os.sync()
    if drop_caches:
        with open('/proc/sys/vm/drop_caches', 'w') as handle:
            handle.write('3\n')


TIME = '/usr/bin/time' if os.access('/usr/bin/time', os.X_OK) else None


def timed(argv, env=None, stdout=None, rss_file=None):
    """Run ``argv``; returns (seconds, peak RSS in KB of the largest single process of its tree).

    The peak comes from GNU time (``/usr/bin/time -f %M``) when installed: a process forked from this Python
    process would carry this process's own resident size as a floor into its peak (Linux keeps the peak across
    exec). Without GNU time the figure is wait4's, and it is never below this process's size.
    """
    if TIME and rss_file:
        argv = [TIME, '-f', '%M', '-o', rss_file] + list(argv)
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode('utf-8', 'replace')
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError('%s failed (rc %s): %s' % (' '.join(argv), proc.returncode, err[-2000:]))
    if TIME and rss_file:
        with open(rss_file) as handle:
            return seconds, int(handle.read().split()[-1])
    return seconds, usage.ru_maxrss


class Bench(object):

    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.user = sh('id', '-un')
        self.group = sh('id', '-gn')
        self.have_rsync = shutil.which('rsync') is not None

    def ansible(self, module, margs, check=False, out=None):
        """Run one module through ``ansible`` on localhost; returns (seconds, ansible tree KB, module KB, result)."""
        log = os.path.join(self.workdir, 'rss.log')
        if os.path.exists(log):
            os.unlink(log)
        env = dict(os.environ, BENCH_RSS_LOG=log, BENCH_REAL_PYTHON=sys.executable,
                   ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='json', ANSIBLE_NOCOLOR='1',
                   ANSIBLE_HOST_KEY_CHECKING='0', ANSIBLE_RETRY_FILES_ENABLED='0')
        argv = ['ansible', 'localhost', '-c', 'local', '-i', 'localhost,',
                '-e', 'ansible_python_interpreter=%s' % WRAPPER, '-m', module, '-a', json.dumps(margs)]
        if check:
            argv.append('--check')
        out = out or os.path.join(self.workdir, 'ansible-out.json')
        with open(out, 'w') as handle:
            seconds, tree_kb = timed(argv, env=env, stdout=handle, rss_file=log + '.tree')
        with open(out) as handle:
            doc = json.load(handle)
        result = doc['plays'][0]['tasks'][0]['hosts']['localhost']
        if result.get('failed'):
            raise RuntimeError('%s failed: %s' % (module, result.get('msg')))
        module_kb = 0
        with open(log) as handle:
            for line in handle:
                module_kb = max(module_kb, json.loads(line)['maxrss_kb'])
        return seconds, tree_kb, module_kb, result

    def run_variant(self, variant, legacy, nsessions):
        """Run one variant once on the tree ``legacy``; returns a dict of figures (None when skipped)."""
        w = self.workdir
        out = os.path.join(w, 'out')
        dest = os.path.join(w, 'dest')
        drop = self.args.drop_caches
        figures = {}
        if variant in ('cp', 'cp_sync', 'rsync', 'ansible_copy', 'migrate_check'):
            remove(out)
        if variant in ('migrate_first', 'deploy_first'):
            remove(dest)
        if variant in ('cp', 'cp_sync', 'rsync'):
            if variant == 'rsync' and not self.have_rsync:
                return None
            settle(drop)
            argv = {'cp': ['cp', '-a', legacy, out],
                    'cp_sync': ['sh', '-c', 'cp -a "$1" "$2" && sync', 'sh', legacy, out],
                    'rsync': ['rsync', '-a', legacy + '/', out + '/']}[variant]
            figures['seconds'], figures['tree_rss_kb'] = timed(argv, rss_file=os.path.join(w, 'rss.tree'))
        elif variant in ('deploy_first', 'deploy_noop'):
            settle(drop)
            seconds, tree_kb, module_kb, res = self.deploy(dest, legacy)
            figures.update(seconds=seconds, tree_rss_kb=tree_kb, module_rss_kb=module_kb)
            self.check_deploy(variant, res, nsessions)
        elif variant == 'ansible_copy':
            os.mkdir(out)
            settle(drop)
            figures['seconds'], figures['tree_rss_kb'], figures['module_rss_kb'], _res = self.ansible(
                'ansible.builtin.copy', {'src': legacy + '/', 'dest': out + '/', 'remote_src': True})
        else:
            margs = {'dest': out if variant == 'migrate_check' else dest, 'legacy_roots': [legacy],
                     'owner': self.user, 'group': self.group}
            module = MIGRATE
            if variant == 'session_info':
                module = INFO
                margs = {'path': dest, 'legacy_roots': [legacy], 'owner': self.user, 'group': self.group}
            if variant in ('migrate_check', 'migrate_first'):
                os.mkdir(margs['dest'])
            settle(drop)
            seconds, tree_kb, module_kb, res = self.ansible(module, margs, check=variant == 'migrate_check')
            figures.update(seconds=seconds, tree_rss_kb=tree_kb, module_rss_kb=module_kb)
            self.check_result(variant, res, nsessions)
        return figures

    def deploy(self, dest, legacy):
        """Run the whole ``deploy`` playbook on localhost with ``dest`` as the sessions root and ``legacy`` as the
        only legacy root; returns (seconds, ansible tree KB, largest module KB, the json callback's document)."""
        log = os.path.join(self.workdir, 'rss.log')
        if os.path.exists(log):
            os.unlink(log)
        inventory = os.path.join(self.workdir, 'inventory.json')
        with open(inventory, 'w') as handle:
            json.dump({'whatsapp_gateways': {'hosts': {'localhost': {
                'ansible_connection': 'local', 'ansible_python_interpreter': WRAPPER,
                'session_storage_root': dest, 'session_storage_owner': self.user, 'session_storage_group': self.group,
                'session_migrate_legacy_roots': [legacy]}}}}, handle)
        env = dict(os.environ, BENCH_RSS_LOG=log, BENCH_REAL_PYTHON=sys.executable,
                   ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='json', ANSIBLE_NOCOLOR='1',
                   ANSIBLE_HOST_KEY_CHECKING='0', ANSIBLE_RETRY_FILES_ENABLED='0')
        out = os.path.join(self.workdir, 'deploy-out.json')
        with open(out, 'w') as handle:
            seconds, tree_kb = timed(['ansible-playbook', '-i', inventory, DEPLOY], env=env, stdout=handle,
                                     rss_file=log + '.tree')
        with open(out) as handle:
            doc = json.load(handle)
        module_kb = 0
        with open(log) as handle:
            for line in handle:
                module_kb = max(module_kb, json.loads(line)['maxrss_kb'])
        return seconds, tree_kb, module_kb, doc

    @staticmethod
    def check_deploy(variant, doc, nsessions):
        """The playbook ran without failure and migrated every session (first run) or changed nothing."""
        stats = doc['stats']['localhost']
        migrated = None
        for play in doc['plays']:
            for task in play['tasks']:
                if task['task']['name'] == 'Migrate the legacy sessions into the sessions root':
                    migrated = len(task['hosts']['localhost'].get('migrated', []))
        ok = stats['failures'] == 0 and stats['unreachable'] == 0 and (
            migrated == nsessions if variant == 'deploy_first' else (stats['changed'] == 0 and migrated == 0))
        if not ok:
            raise RuntimeError('%s: unexpected result: stats %s, migrated %s' % (variant, stats, migrated))

    @staticmethod
    def check_result(variant, res, nsessions):
        """The runs must do what they claim, or the timing means nothing."""
        if variant in ('migrate_first', 'migrate_check'):
            ok = res.get('changed') and len(res.get('migrated', [])) == nsessions and not res.get('errors')
        elif variant == 'migrate_noop':
            ok = not res.get('changed') and len(res.get('present', [])) == nsessions and not res.get('migrated')
        else:
            summary = res.get('summary', {})
            ok = summary.get('valid') == nsessions and summary.get('legacy') == nsessions
        if not ok:
            raise RuntimeError('%s: unexpected result %s' % (variant, json.dumps(res)[:2000]))


def median(values):
    return statistics.median(values) if values else None


def summarize(runs):
    """Medians per variant and the ratios to the baselines (medians of the same run)."""
    rows = {}
    for variant, items in runs.items():
        items = [item for item in items if item is not None]
        if not items:
            continue
        rows[variant] = {
            'runs': len(items),
            'seconds': median([i['seconds'] for i in items]),
            'seconds_all': [round(i['seconds'], 3) for i in items],
            'tree_rss_kb': max(i['tree_rss_kb'] for i in items),
            'module_rss_kb': max(i['module_rss_kb'] for i in items) if 'module_rss_kb' in items[0] else None,
        }
    for variant, row in rows.items():
        base, target = BASELINE[variant]
        if base in rows and rows[base]['seconds']:
            row['ratio'] = row['seconds'] / rows[base]['seconds']
            row['baseline'] = base
            row['target'] = target
            row['met'] = None if target is None else row['ratio'] <= target
    return rows


def fmt_kb(kb):
    return '-' if kb is None else '%.1f MB' % (kb / 1024.0)


def print_table(size, rows, selected):
    facts = (size['sessions'], size['files_per_session'], size['files'], size['bytes'] / 1e6)
    print('\n%d sessions x %d files (%d files, %.1f MB)' % facts)
    header = ('run', 'median s', 'ratio (target)', 'module RSS', 'whole run RSS')
    print('| %-38s | %10s | %-28s | %13s | %13s |' % header)
    print('|%s|%s|%s|%s|%s|' % ('-' * 40, '-' * 12, '-' * 30, '-' * 15, '-' * 15))
    for variant in VARIANTS:
        row = rows.get(variant)
        if variant not in selected:
            continue
        if row is None:
            print('| %-38s | %10s | %-28s | %13s | %13s |' % (LABELS[variant], 'not run', '', '', ''))
            continue
        ratio = ''
        if 'ratio' in row and row['baseline'] != variant:
            ratio = '%.2fx %s' % (row['ratio'], 'cp+sync' if row['baseline'] == 'cp_sync' else 'cp')
            if row['target'] is not None:
                ratio += ' (<=%.2g %s)' % (row['target'], 'ok' if row['met'] else 'MISS')
        module_rss = fmt_kb(row['module_rss_kb'])
        tree_rss = fmt_kb(row['tree_rss_kb'])
        print('| %-38s | %10.2f | %-28s | %13s | %13s |' % (LABELS[variant], row['seconds'], ratio, module_rss, tree_rss))


def parse_size(text):
    sessions, files = text.lower().split('x')
    return int(sessions), int(files)


def main():
    if 'ANSIBLE_COLLECTIONS_PATH' not in os.environ or not os.environ.get('BENCH_FROM_RUN_SH'):
        os.execvp('bash', ['bash', os.path.join(HERE, 'run.sh')] + sys.argv[1:])
    parser = argparse.ArgumentParser(description='Benchmark session_migrate and session_info (see benchmarks/README.md).')
    parser.add_argument('--sizes', nargs='+', type=parse_size, default=None,
                        help='SESSIONSxFILES per size (default: 200x150 2000x150; with --quick: 20x30 100x30)')
    parser.add_argument('--quick', action='store_true', help='small sizes and one repetition, for a smoke run')
    parser.add_argument('--repeat', type=int, default=None, help='repetitions per size (default 3, --quick 1)')
    parser.add_argument('--workdir', default=os.path.join(os.environ.get('TMPDIR', '/tmp'), 'session-persistence-bench-%d' % os.getuid()),
                        help='scratch directory for the trees (default: $TMPDIR/session-persistence-bench-<uid>)')
    parser.add_argument('--drop-caches', action='store_true',
                        help='drop the page cache before every timed run (root only; default: warm cache for all runs)')
    parser.add_argument('--variants', nargs='+', choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument('--slow-max-files', type=int, default=40000,
                        help='run rsync and ansible.builtin.copy (comparisons without a target, minutes per run on large '
                             'trees) only on trees of at most this many files (default 40000; 0 = always)')
    parser.add_argument('--keep', action='store_true', help='keep the generated trees for the next run')
    args = parser.parse_args()
    sizes = args.sizes or ([(20, 30), (100, 30)] if args.quick else [(200, 150), (2000, 150)])
    repeat = args.repeat or (1 if args.quick else 3)
    for needed in ('cp_sync', 'cp'):
        if needed not in args.variants:
            args.variants.append(needed)

    os.makedirs(args.workdir, exist_ok=True)
    bench = Bench(args, args.workdir)
    report = {'started': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'machine': machine_info(args.workdir),
              'repeat': repeat, 'page_cache': 'dropped before every run' if args.drop_caches else 'warm (not dropped)',
              'rsync': bench.have_rsync, 'sizes': []}
    if not bench.have_rsync:
        print('note: rsync is not installed; its runs are skipped')
    print('machine: %(cpu)s, %(cores)s cores, %(filesystem)s, kernel %(kernel)s, Python %(python)s' % report['machine'])
    for sessions, files in sizes:
        legacy = os.path.join(args.workdir, 'legacy-%dx%d' % (sessions, files))
        stamp = legacy + '.json'
        if os.path.exists(stamp) and os.path.isdir(legacy):
            with open(stamp) as handle:
                size = json.load(handle)
        else:
            remove(legacy)
            print('generating %d sessions x %d files in %s ...' % (sessions, files, legacy))
            size = gen_tree.generate(legacy, sessions, files)
            with open(stamp, 'w') as handle:
                json.dump(size, handle)
        runs = dict((variant, []) for variant in VARIANTS if variant in args.variants)
        for rep in range(repeat):
            for variant in VARIANTS:
                if variant not in args.variants:
                    continue
                if variant in SLOW and args.slow_max_files and size['files'] > args.slow_max_files:
                    continue
                figures = bench.run_variant(variant, legacy, sessions)
                runs[variant].append(figures)
                if figures is not None:
                    print('  [%d/%d] %-14s %8.2f s' % (rep + 1, repeat, variant, figures['seconds']))
                    sys.stdout.flush()
        for path in ('out', 'dest'):
            remove(os.path.join(args.workdir, path))
        if not args.keep:
            remove(legacy)
            os.unlink(stamp)
        rows = summarize(runs)
        report['sizes'].append({'size': size, 'results': rows})
        print_table(size, rows, args.variants)
    module_rss = [max(row.get('module_rss_kb') or 0 for row in item['results'].values()) for item in report['sizes']]
    if len(module_rss) > 1:
        report['module_rss_growth_kb'] = module_rss[-1] - module_rss[0]
        print('\nmodule process peak RSS (largest of all module runs): %s at %d files, %s at %d files (growth %s)'
              % (fmt_kb(module_rss[0]), report['sizes'][0]['size']['files'], fmt_kb(module_rss[-1]),
                 report['sizes'][-1]['size']['files'], fmt_kb(module_rss[-1] - module_rss[0])))
    report['finished'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    results_dir = os.path.join(HERE, 'results')
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, '%s.json' % time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()))
    with open(path, 'w') as handle:
        json.dump(report, handle, indent=2, sort_keys=True)
    print('\nfigures written to %s' % os.path.relpath(path))


if __name__ == '__main__':
    main()
