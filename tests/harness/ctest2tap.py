#!/usr/bin/python3
"""Run the host tests of a CMake build (ctest) and write their results as
one TAP file, for tests/harness/tap-summary.py.

usage: ctest2tap.py BUILD-DIR TAP-FILE

Each ctest test that prints TAP counts check by check, named
"TEST: what it checks"; a test that printed none counts once. A test
whose exit status says it failed while all its checks passed (a crash, a
valgrind finding) counts one more failure, with the end of its output.
Exit status: 0 when every test passed.
"""
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

RESULT = re.compile(r'^(ok|not ok)\s+\d+\s*(?:- )?(.*)$')


def run_ctest(build_dir):
    with tempfile.TemporaryDirectory() as tmp:
        junit = os.path.join(tmp, 'ctest.xml')
        proc = subprocess.run(['ctest', '--test-dir', build_dir, '--output-junit', junit,
                               '--test-output-size-passed', '1000000',
                               '--test-output-size-failed', '1000000'],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        if not os.path.exists(junit):
            return None, proc.stdout.decode(errors='replace')
        return ET.parse(junit).getroot(), proc.stdout.decode(errors='replace')


def tap_lines(case):
    """The TAP lines of one ctest test: [(ok, name, [diagnostics])]."""
    name = case.get('name')
    out = case.findtext('system-out') or ''
    passed = case.get('status') == 'run' and case.find('failure') is None
    results = []
    for line in out.splitlines():
        m = RESULT.match(line)
        if m:
            results.append([m.group(1) == 'ok', '%s: %s' % (name, m.group(2)), []])
        elif line.startswith('#') and results:
            results[-1][2].append(line)
    if not results:
        tail = ['# ' + l for l in out.splitlines()[-40:]]
        return [(passed, name, [] if passed else tail)]
    if not passed and all(ok for ok, _, _ in results):
        tail = ['# ' + l for l in out.splitlines()[-40:]]
        results.append((False, '%s: exits with status 0' % name, tail))
    return results


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    root, log = run_ctest(sys.argv[1])
    lines = []
    if root is None:
        lines.append((False, 'ctest ran', ['# ' + l for l in log.splitlines()[-40:]]))
    else:
        for case in root.iter('testcase'):
            lines.extend(tap_lines(case))
    with open(sys.argv[2], 'w') as tap:
        for i, (ok, name, diag) in enumerate(lines, 1):
            tap.write('%sok %d - %s\n' % ('' if ok else 'not ', i, name))
            for d in diag:
                tap.write(d + '\n')
        tap.write('1..%d\n' % len(lines))
    failed = [name for ok, name, _ in lines if not ok]
    print('ctest2tap: %d checks, %d failed%s' % (len(lines), len(failed),
                                               ''.join('\n  ' + f for f in failed)))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
