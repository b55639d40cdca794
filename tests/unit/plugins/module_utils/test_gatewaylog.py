# -*- coding: utf-8 -*-
# Copyright: (c) 2026, RubyManager maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the gateway's own log lines are judged after a start, on the gateway's real wording, real log files and a
real writer thread (no mocks)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import threading
import time

import pytest

from ansible_collections.rubymanager.session_persistence.plugins.module_utils.gatewaylog import (
    DEFAULT_LOADED_PATTERNS, DEFAULT_MIGRATED_PATTERNS, DEFAULT_NEW_PATTERNS, PatternError, compile_patterns, decide,
    events, file_positions, in_tenant_dir, read_files, unit_problems, watch)

ROOT = '/home/RubyManager/web/whatsapp.rubymanager.app/sessions'
LEGACY = '/home/RubyManager/web/whatsapp.rubymanager.app/netcoreapp'
T1 = '7afd5398-97c3-11eb-a990-f23c917564d6'
COMPILED = compile_patterns(DEFAULT_LOADED_PATTERNS, DEFAULT_NEW_PATTERNS, DEFAULT_MIGRATED_PATTERNS)


def loaded(tenant, root=ROOT):
    """The gateway's line (WhatsAppServiceV2.StartSessionAsync) for a tenant whose creds file it read."""
    return 'Successfully loaded existing credentials for session %s from %s/%s/%s_creds.json' % (
        tenant, root, tenant, tenant)


def no_creds(tenant):
    """FindOrMigrateCredentialsFile's line when it found nothing: the tenant gets new credentials."""
    return 'No existing credentials found for session %s, will create new ones' % tenant


def qr(tenant):
    return 'Generating QR code for session %s (session time: 0.0min/10min)' % tenant


def test_default_patterns_match_the_gateway_lines_in_every_log_format():
    lines = [
        # journald, --output=cat (the .NET console logger writes the category line, then the message)
        'info: WhatsAppApi.Services.WhatsAppServiceV2[0]',
        '      ' + loaded(T1),
        # a Serilog file line
        '2026-03-02 10:00:01.123 +00:00 [INF] ' + loaded('tenant-b'),
        '2026-03-02 10:00:01.200 +00:00 [INF] ' + no_creds('tenant-new'),
        'Failed to deserialize credentials for session tenant-bad, creating new credentials',
        qr('tenant-qr'),
        'Starting QR session for tenant-qr2, will timeout after 10 minutes',
        'Successfully migrated session tenant-m from %s/tenant-m/tenant-m_creds.json to %s/tenant-m/tenant-m_creds.json'
        % (LEGACY, ROOT),
        'Scanning for existing WhatsApp sessions to restore...',
        'Found 3 existing WhatsApp sessions to restore',
        'Successfully updated credentials for session %s at %s/%s/%s_creds.json' % (T1, ROOT, T1, T1),
    ]
    found = [(kind, tenant, path) for kind, tenant, path, line in events(lines, COMPILED)]
    assert found == [
        ('loaded', T1, '%s/%s/%s_creds.json' % (ROOT, T1, T1)),
        ('loaded', 'tenant-b', '%s/tenant-b/tenant-b_creds.json' % ROOT),
        ('new', 'tenant-new', None),
        ('new', 'tenant-bad', None),
        ('new', 'tenant-qr', None),
        ('new', 'tenant-qr2', None),
        ('migrated', 'tenant-m', '%s/tenant-m/tenant-m_creds.json' % LEGACY),
    ]


def test_trailing_blanks_and_carriage_returns_are_not_part_of_the_path():
    found = events([loaded('t') + ' \r'], COMPILED)
    assert found[0][2] == '%s/t/t_creds.json' % ROOT


def test_in_tenant_dir():
    assert in_tenant_dir('%s/t/t_creds.json' % ROOT, ROOT, 't')
    assert in_tenant_dir('%s//t/./t_creds.json' % ROOT, ROOT + '/', 't')
    assert in_tenant_dir('%s/t/creds.json' % ROOT, ROOT, 't')          # the Node.js layout's creds file
    assert not in_tenant_dir('%s/t/t_creds.json' % LEGACY, ROOT, 't')
    assert not in_tenant_dir('%s/.backup/t.20260302T100000Z/t_creds.json' % ROOT, ROOT, 't')
    assert not in_tenant_dir('%s/.staging-x/t_creds.json' % ROOT, ROOT, 't')
    assert not in_tenant_dir('%s/t/../u/t_creds.json' % ROOT, ROOT, 't')
    assert not in_tenant_dir('%s/t/sub/t_creds.json' % ROOT, ROOT, 't')


def test_every_known_tenant_restored_and_a_new_one_waits_for_its_qr_scan():
    lines = [loaded(T1), loaded('tenant-b'), no_creds('tenant-new'), qr('tenant-new')]
    verdict = decide(lines, [T1, 'tenant-b'], ROOT, COMPILED)
    assert verdict == dict(restored=sorted([T1, 'tenant-b']), new=['tenant-new'], failed=[], pending=[])


def test_a_known_tenant_that_logs_a_qr_code_fails_even_after_loading():
    lines = [loaded(T1), qr(T1)]
    verdict = decide(lines, [T1], ROOT, COMPILED)
    assert verdict['restored'] == [] and [f['tenant'] for f in verdict['failed']] == [T1]
    assert 'creates new credentials (a QR code): "Generating QR code for session %s' % T1 in verdict['failed'][0]['reason']


def test_a_known_tenant_without_creds_fails_with_the_gateway_line():
    verdict = decide([no_creds('tenant-b')], ['tenant-b'], ROOT, COMPILED)
    assert verdict['failed'] == [dict(tenant='tenant-b', reason='it had a valid session before, but the gateway '
                                      'logged that it creates new credentials (a QR code): "%s"' % no_creds('tenant-b'))]
    assert verdict['new'] == []


def test_an_old_build_loading_its_legacy_folder_fails_known_or_not():
    lines = [loaded(T1, root=LEGACY), loaded('only-legacy', root=LEGACY)]
    verdict = decide(lines, [T1], ROOT, COMPILED)
    assert [f['tenant'] for f in verdict['failed']] == sorted([T1, 'only-legacy'])
    reason = dict((f['tenant'], f['reason']) for f in verdict['failed'])[T1]
    assert reason.startswith('loaded its credentials from %s/%s/%s_creds.json, not from its directory %s/%s in the '
                             'sessions root' % (LEGACY, T1, T1, ROOT, T1))


def test_a_stray_creds_copy_below_the_root_is_a_failure_even_when_the_real_one_loaded():
    """The gateway restores every *_creds.json below its root (AllDirectories): a backup copy inside the root is
    loaded as a second copy of the tenant."""
    stray = 'Successfully loaded existing credentials for session t from %s/.backup/t.20260302T100000Z/t_creds.json' % ROOT
    verdict = decide([loaded('t'), stray], ['t'], ROOT, COMPILED)
    assert verdict['restored'] == [] and verdict['failed'][0]['tenant'] == 't'
    assert '.backup/t.20260302T100000Z/t_creds.json' in verdict['failed'][0]['reason']


def test_the_gateway_migrating_a_tenant_itself_is_a_failure():
    lines = ['Successfully migrated session t from %s/t/t_creds.json to %s/t/t_creds.json' % (LEGACY, ROOT),
             loaded('t')]
    verdict = decide(lines, ['t'], ROOT, COMPILED)
    assert verdict['failed'] == [dict(tenant='t', reason='the gateway copied it itself from %s/t/t_creds.json: the '
                                      'deploy did not migrate it' % LEGACY)]
    # no migrated patterns: only the load counts
    assert decide(lines, ['t'], ROOT, compile_patterns(DEFAULT_LOADED_PATTERNS, DEFAULT_NEW_PATTERNS, []))['restored'] == ['t']


def test_pending_until_final_then_failed_with_the_time_waited():
    verdict = decide([loaded('a')], ['a', 'b'], ROOT, COMPILED)
    assert verdict['pending'] == ['b'] and verdict['failed'] == []
    verdict = decide([loaded('a')], ['a', 'b'], ROOT, COMPILED, final=True, waited=30.4)
    assert verdict['pending'] == [] and verdict['restored'] == ['a']
    assert verdict['failed'] == [dict(tenant='b', reason='it had a valid session before, but the gateway logged nothing '
                                      'about loading its credentials within 30 s')]


def test_an_unknown_tenant_that_loaded_from_the_root_counts_as_restored():
    assert decide([loaded('late')], [], ROOT, COMPILED)['restored'] == ['late']


@pytest.mark.parametrize('loaded_p, new_p, text', [
    (['Successfully loaded (?P<tenant>\\S+'], [],
     "The loaded pattern 'Successfully loaded (?P<tenant>\\\\S+' is not a valid regular expression"),
    (['loaded (?P<tenant>\\S+)'], [], "The loaded pattern 'loaded (?P<tenant>\\\\S+)' has no named group (?P<path>...)"),
    (['loaded (?P<name>\\S+) from (?P<file>\\S+)'], [], 'has no named groups (?P<tenant>...), (?P<path>...)'),
    (list(DEFAULT_LOADED_PATTERNS), ['QR for (\\S+)'],
     "The new pattern 'QR for (\\\\S+)' has no named group (?P<tenant>...). Mark the tenant name with (?P<tenant>...)."),
])
def test_bad_patterns_are_named(loaded_p, new_p, text):
    with pytest.raises(PatternError) as info:
        compile_patterns(loaded_p, new_p, [])
    assert text in str(info.value)


def test_custom_patterns():
    compiled = compile_patterns([r'restored (?P<tenant>\w+) <- (?P<path>\S+)'], [r'QR for (?P<tenant>\w+)'], [])
    verdict = decide(['restored a <- %s/a/creds.json' % ROOT, 'QR for b'], ['a'], ROOT, compiled)
    assert verdict['restored'] == ['a'] and verdict['new'] == ['b']


# ---------------------------------------------------------------------------------------------------------------
# log files

def append(path, *lines):
    with open(str(path), 'a') as handle:
        handle.write(''.join(line + '\n' for line in lines))


def test_files_are_read_after_the_marked_positions(tmp_path):
    logs = tmp_path / 'logs'
    logs.mkdir()
    old = logs / 'whatsapp-20260301.log'
    append(old, loaded('t', root=LEGACY), 'the old build ran here')
    (logs / 'other.txt').write_text(no_creds('t') + '\n')          # does not match the glob
    (logs / 'whatsapp-dir.log').mkdir()                             # a directory matching the glob is skipped
    pattern = str(logs / 'whatsapp-*.log')
    positions = file_positions([pattern])
    assert positions == {str(old): os.path.getsize(str(old))}
    assert read_files([pattern], positions) == []
    append(old, loaded('t'))
    new = logs / 'whatsapp-20260302.log'                            # a file that appeared after the mark
    append(new, loaded('u'))
    assert read_files([pattern], positions) == [loaded('t'), loaded('u')]
    # a rotated (truncated) file is read from its start
    old.write_text(loaded('v') + '\n')
    assert read_files([pattern], positions) == [loaded('v'), loaded('u')]
    # no positions: everything; no files: nothing
    assert len(read_files([pattern], {})) == 2
    assert read_files([str(tmp_path / 'none-*.log')], {}) == [] and file_positions([str(tmp_path / 'x*')]) == {}


def test_undecodable_bytes_do_not_stop_the_reading(tmp_path):
    log = tmp_path / 'gw.log'
    log.write_bytes(b'\xff\xfe garbage\n' + loaded('t').encode() + b'\n')
    lines = read_files([str(log)], {})
    assert decide(lines, ['t'], ROOT, COMPILED)['restored'] == ['t']


# ---------------------------------------------------------------------------------------------------------------
# waiting for the outcome

class Writer(threading.Thread):
    """Appends ``lines`` to ``path`` one by one, ``delay`` seconds apart, like a gateway restoring its tenants."""

    def __init__(self, path, lines, delay):
        super(Writer, self).__init__()
        self.path, self.lines, self.delay = path, lines, delay
        self.daemon = True

    def run(self):
        for line in self.lines:
            time.sleep(self.delay)
            append(self.path, line)


def test_watch_returns_once_every_tenant_logged_and_the_settle_time_passed(tmp_path):
    log = tmp_path / 'gw.log'
    log.write_text('')
    writer = Writer(log, [loaded('a'), loaded('b'), no_creds('new')], 0.2)
    writer.start()
    began = time.monotonic()
    verdict, lines, states = watch(lambda: read_files([str(log)], {}), ['a', 'b'], ROOT, COMPILED, timeout=20,
                                   settle=0.6, interval=0.05)
    took = time.monotonic() - began
    writer.join()
    assert verdict == dict(restored=['a', 'b'], new=['new'], failed=[], pending=[])
    assert 0.4 + 0.6 <= took < 10, took
    assert states == (None, None)


def test_watch_sees_a_qr_code_logged_during_the_settle_time(tmp_path):
    log = tmp_path / 'gw.log'
    log.write_text('')
    writer = Writer(log, [loaded('a'), qr('a')], 0.3)
    writer.start()
    verdict = watch(lambda: read_files([str(log)], {}), ['a'], ROOT, COMPILED, timeout=20, settle=1.5,
                    interval=0.05)[0]
    writer.join()
    assert verdict['restored'] == [] and verdict['failed'][0]['tenant'] == 'a'


def test_watch_gives_up_after_the_timeout(tmp_path):
    log = tmp_path / 'gw.log'
    log.write_text(loaded('a') + '\n')
    began = time.monotonic()
    verdict = watch(lambda: read_files([str(log)], {}), ['a', 'silent'], ROOT, COMPILED, timeout=0.5,
                    interval=0.05)[0]
    assert 0.5 <= time.monotonic() - began < 5
    assert verdict['restored'] == ['a'] and verdict['pending'] == []
    assert verdict['failed'] == [dict(tenant='silent', reason='it had a valid session before, but the gateway logged '
                                      'nothing about loading its credentials within 0 s')]


def test_watch_stops_when_the_unit_is_no_longer_running_or_restarted(tmp_path):
    log = tmp_path / 'gw.log'
    log.write_text('')
    states = iter([dict(active_state='active', invocation_id='one')] * 3
                  + [dict(active_state='failed', sub_state='failed', invocation_id='one')])
    began = time.monotonic()
    verdict, lines, (first, last) = watch(lambda: read_files([str(log)], {}), ['a'], ROOT, COMPILED, timeout=30,
                                          unit_state=lambda: next(states), interval=0.05)
    assert time.monotonic() - began < 5
    assert [f['tenant'] for f in verdict['failed']] == ['a']
    assert unit_problems('gw.service', first, last) == [
        'service gw.service is failed (failed) after the start, not active: see journalctl -u gw.service']
    states = iter([dict(active_state='active', invocation_id='one'), dict(active_state='active', invocation_id='two')])
    first, last = watch(lambda: [], ['a'], ROOT, COMPILED, timeout=30, unit_state=lambda: next(states),
                        interval=0.05)[2]
    assert unit_problems('gw.service', first, last)[0].startswith(
        'service gw.service restarted while its log was being checked (invocation one, then two)')
    assert unit_problems('gw.service', first, first) == []
