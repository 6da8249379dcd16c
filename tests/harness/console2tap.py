#!/usr/bin/python3
"""Turn what the guest left in OUT into TAP files under OUT/results.

usage: console2tap.py OUT

kunit.tap         one line per KUnit test case run at boot, from the KTAP
                  the kernel printed on the console (nested suites and
                  parameterised cases flattened to "suite.case.param").
guest-kernel.tap  the guest ran every suite and powered off; the console
                  has no kernel report (WARNING, BUG, lockdep, KASAN,
                  debug-objects, Oops, panic, RCU stall); kmemleak found no
                  leak. A failure carries an excerpt of the report.
<suite>.tap       (the suites' own) each failed test gets, as TAP
                  diagnostics, the last lines its command printed on the
                  console, so that the summary says why it failed.
The guest of the stock-kernel variant (OUT/variant, Debian's kernel) gets
no kunit.tap and no kmemleak line: that kernel has neither.
"""
import os
import re
import sys

TIMESTAMP = re.compile(r'^\[\s*\d+\.\d+\]\s?')
RESULT = re.compile(r'^(\s*)(ok|not ok) (\d+)\s*(?:- )?([^#]*?)\s*(?:#\s*(SKIP|TODO)\b\s*(.*))?$')
SUBTEST = re.compile(r'^(\s*)# Subtest: (.+?)\s*$')
PLAN = re.compile(r'^1\.\.(\d+)\s*$')
INIT_STARTS = re.compile(r'^Run \S+ as init process')

# The first line of every report the debug kernel can print.
REPORT = re.compile(
    r'(------------\[ cut here \]------------'
    r'|\bWARNING:'
    r'|\bBUG:'
    r'|\bkernel BUG at'
    r'|\bOops\b'
    r'|general protection fault'
    r'|Kernel panic'
    r'|\bUBSAN:'
    r'|\bODEBUG:'
    r'|INFO: possible (recursive|circular|irq lock)'
    r'|INFO: task \S+ blocked for more than'
    r'|TIMED OUT after'
    r'|rcu: INFO: \S+ (self-)?detected stall'
    r'|detected stalls on CPUs)')
EXCERPT_LINES = 40
MAX_EXCERPTS = 4
FAILURE_LINES = 12
SUITE_START = re.compile(r'^p2pmr: \[\d+s\] suite (\S+): start$')
TEST_START = re.compile(r'^--- test (\d+): ')
TEST_FAILED = re.compile(r'^--- test (\d+) failed: ')


def read_console(out):
    path = os.path.join(out, 'console.log')
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            raw = f.read()
    except FileNotFoundError:
        return []
    return [TIMESTAMP.sub('', l.rstrip('\r')) for l in raw.split('\n')]


class Tap:
    def __init__(self):
        self.lines = []
        self.count = 0

    def result(self, ok, name, skip=None, diag=()):
        self.count += 1
        line = f"{'ok' if ok else 'not ok'} {self.count} - {name}"
        if skip:
            line += f' # SKIP {skip}'
        self.lines.append(line)
        self.lines.extend('# ' + d for d in diag)

    def write(self, path):
        with open(path, 'w') as f:
            f.write('\n'.join(self.lines + [f'1..{self.count}']) + '\n')


def kunit_tap(lines):
    """Flatten the KTAP printed before init into one TAP line per case."""
    tap = Tap()
    names = {}
    prev_level = None
    top_plan = None
    top_results = 0
    started = False
    for line in lines:
        if INIT_STARTS.match(line):
            break
        if not started:
            started = line.strip() == 'KTAP version 1' and not line.startswith(' ')
            continue
        m = PLAN.match(line)
        if m and top_plan is None:
            top_plan = int(m.group(1))
            continue
        m = SUBTEST.match(line)
        if m:
            level = len(m.group(1)) // 4
            names[level] = m.group(2)
            for deeper in [k for k in names if k > level]:
                del names[deeper]
            continue
        m = RESULT.match(line)
        if not m:
            continue
        level = len(m.group(1)) // 4
        if level == 0:
            top_results += 1
        # A result is a leaf unless the result just before it was deeper
        # (then it closes a suite or a parameterised case).
        leaf = prev_level is None or prev_level <= level
        prev_level = level
        if not leaf or level == 0 and names.get(1) is None:
            continue
        path = [names[k] for k in sorted(names) if 0 < k <= level]
        name = '.'.join(path[:level] + [m.group(4).strip()]) if level else m.group(4).strip()
        skip = m.group(6) or 'skipped by the test' if m.group(5) == 'SKIP' else None
        tap.result(m.group(2) == 'ok', 'kunit: ' + name, skip=skip)
    if not started:
        tap.result(False, 'kunit: KTAP output found on the guest console',
                   diag=['no "KTAP version 1" line before init started'])
    elif top_plan is not None and top_results != top_plan:
        tap.result(False, f'kunit: all {top_plan} suites reported a result',
                   diag=[f'only {top_results} did; the console stops early?'])
    return tap


def kernel_reports(lines):
    excerpts = []
    i = 0
    while i < len(lines) and len(excerpts) < MAX_EXCERPTS:
        if REPORT.search(lines[i]):
            excerpts.append(lines[i:i + EXCERPT_LINES])
            i += EXCERPT_LINES
        else:
            i += 1
    total = sum(1 for l in lines if REPORT.search(l))
    return excerpts, total


def guest_variant(out):
    """The guest variant run-guest booted (tests/harness/guest-lib.sh), or ''."""
    try:
        with open(os.path.join(out, 'variant')) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ''


# Debian's own kernel (the stock-kernel variant) has neither KUnit nor
# kmemleak built in: its guest is checked for the rest only.
STOCK = 'stock-kernel'


def guest_kernel_tap(out, lines):
    tap = Tap()

    code = None
    try:
        with open(os.path.join(out, 'exit-code')) as f:
            code = f.read().strip()
    except FileNotFoundError:
        pass
    try:
        with open(os.path.join(out, 'suites')) as f:
            expected = f.read().split()
    except FileNotFoundError:
        expected = []
    missing = [s for s in expected
               if not os.path.exists(os.path.join(out, 'results', s + '.exit'))]
    retried = os.path.exists(os.path.join(out, 'qemu-crashed'))
    if code == '0' and not missing:
        tap.result(True, 'guest ran every suite and powered off',
                   diag=['QEMU crashed on the first attempt; this is the second run'] if retried else [])
    elif code == '0':
        tap.result(False, 'guest ran every suite and powered off',
                   diag=['no result from suite(s): ' + ' '.join(missing)])
    else:
        why = ('killed by the run-guest time limit' if os.path.exists(os.path.join(out, 'timed-out'))
               else 'no exit code: the guest crashed, panicked or hung' if code is None
               else f'the suite runner exited with status {code}')
        tail = [l for l in lines if l.strip()][-15:]
        tap.result(False, 'guest ran every suite and powered off',
                   diag=[why, 'last console lines:'] + ['  ' + l for l in tail])

    excerpts, total = kernel_reports(lines)
    diag = []
    for ex in excerpts:
        diag += ['----'] + ['  ' + l for l in ex]
    if total:
        diag.insert(0, f'{total} report line(s) on the console; the first reports:')
    tap.result(not excerpts, 'no WARNING, BUG, lockdep, KASAN or debug-objects report on the guest console',
               diag=diag)

    # A misspelt parameter is passed to init and silently has no effect.
    unknown = [l for l in lines if 'Unknown kernel command line parameters' in l]
    tap.result(not unknown, 'the kernel knows every parameter on its command line',
               diag=['  ' + l for l in unknown])

    path = os.path.join(out, 'kmemleak.txt')
    if guest_variant(out) == STOCK:
        pass
    elif not os.path.exists(path):
        tap.result(True, 'kmemleak found no leak',
                   skip='kernel without CONFIG_DEBUG_KMEMLEAK (lean flavour) or guest did not finish')
    else:
        with open(path, errors='replace') as f:
            leaks = f.read().splitlines()
        n = sum(1 for l in leaks if l.startswith('unreferenced object'))
        tap.result(n == 0, 'kmemleak found no leak',
                   diag=([f'{n} leaked object(s); the first:'] + ['  ' + l for l in leaks[:60]]) if n else [])
    return tap


def failure_output(out):
    """{(suite, test number): the last lines of the failed test's output}."""
    path = os.path.join(out, 'console.log')
    found, suite, test, kept = {}, None, None, []
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            for line in f:
                line = line.rstrip('\r\n')
                if TIMESTAMP.match(line):
                    continue    # the kernel's: guest-kernel.tap reports those
                m = SUITE_START.match(line)
                if m:
                    suite, test = m.group(1), None
                    continue
                m = TEST_START.match(line)
                if m:
                    test, kept = m.group(1), []
                    continue
                m = TEST_FAILED.match(line)
                if m and m.group(1) == test:
                    found[(suite, int(test))] = kept[-FAILURE_LINES:] + [line[4:]]
                    test = None
                elif test is not None and not line.startswith('p2pmr:'):
                    kept.append(line)
                    del kept[:-FAILURE_LINES]
    except FileNotFoundError:
        pass
    return found


def annotate_failures(out):
    """Put each failed test's last output lines under it in its suite's TAP."""
    found = failure_output(out)
    if not found:
        return
    results = os.path.join(out, 'results')
    for name in sorted(os.listdir(results)):
        suite = name[:-len('.tap')]
        if not name.endswith('.tap') or not any(k[0] == suite for k in found):
            continue
        path = os.path.join(results, name)
        with open(path, errors='replace') as f:
            tap = f.read().splitlines()
        annotated = []
        for line in tap:
            annotated.append(line)
            m = RESULT.match(line)
            if m and m.group(2) == 'not ok' and (suite, int(m.group(3))) in found:
                annotated += ['# ' + l for l in found[(suite, int(m.group(3)))]]
        with open(path, 'w') as f:
            f.write('\n'.join(annotated) + '\n')


def main():
    out = sys.argv[1]
    results = os.path.join(out, 'results')
    os.makedirs(results, exist_ok=True)
    lines = read_console(out)
    if guest_variant(out) != STOCK:
        kunit_tap(lines).write(os.path.join(results, 'kunit.tap'))
    guest_kernel_tap(out, lines).write(os.path.join(results, 'guest-kernel.tap'))
    annotate_failures(out)


if __name__ == '__main__':
    main()
