#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""The command lines of the p2pmr tool and the C test programs, on the host
(no device needed): bad arguments end with exit status 2 (3 for the
fuzzer, as documented) and one line naming the problem; a failure of the
library reaches the user as the library's message, exit status 1; every
program names the RDMA device options as perftest does (--ib-dev,
--gid-index), none as --ibdev or --gid.

usage: cli_test.py BIN-DIR   (build/cmake/bin)
Prints TAP; exit status 0 when every check held.
"""
import os
import re
import subprocess
import sys

# (what it proves, argv, exit status, a regular expression the output matches)
CASES = [
    ('p2pmr without a command shows the usage',
     ['p2pmr'], 2, r'usage: p2pmr COMMAND'),
    ('an unknown command is named',
     ['p2pmr', 'frobnicate'], 2, r"no command 'frobnicate'"),
    ("'p2pmr help bench' lists the RDMA options as perftest names them",
     ['p2pmr', 'help', 'bench'], 0,
     r'-d, --ib-dev NAME.*\n.*-i, --ib-port N.*\n.*-x, --gid-index N'),
    ("'p2pmr write --help' lists the same RDMA options",
     ['p2pmr', 'write', '--help'], 0,
     r'-d, --ib-dev NAME.*\n.*-i, --ib-port N.*\n.*-x, --gid-index N'),
    ('bench: BAR 9 is refused',
     ['p2pmr', 'bench', '--bar', '9'], 2, r"bad BAR '9'"),
    ('bench: GID index 256 is refused, with the range',
     ['p2pmr', 'bench', '--mem', 'host', '-x', '256'], 2,
     r"bad --gid-index '256' \(a GID index from 0 to 255\)"),
    ('bench: a size list that does not parse is refused',
     ['p2pmr', 'bench', '--mem', 'host', '--sizes', '64,1Q'], 2, r"bad --sizes '64,1Q'"),
    ('bench: an unknown operation is refused',
     ['p2pmr', 'bench', '--mem', 'host', '--ops', 'write,copy'], 2, r"bad --ops 'write,copy'"),
    ('bench: a message of 4 GiB or more is refused',
     ['p2pmr', 'bench', '--mem', 'host', '--sizes', '4G'], 2, r'at most 4 GiB - 1 bytes'),
    ('bench: a PCI device without --bar is refused',
     ['p2pmr', 'bench', '0000:03:00.0'], 2, r'--bar N is needed with a PCI device'),
    ('bench: --verify without the BAR is refused',
     ['p2pmr', 'bench', '0000:03:00.0', '--bar', '2', '--mem', 'host', '--verify'], 2,
     r'--verify needs the BAR'),
    ('write: neither --text nor --file is refused',
     ['p2pmr', 'write', '0000:03:00.0', '--bar', '2'], 2, r'give either --text or --file'),
    ('write: no PCI device is refused',
     ['p2pmr', 'write', '--bar', '2', '--text', 'x'], 2, r'name the PCI device'),
    ('write: port 0 is refused, with the range',
     ['p2pmr', 'write', '0000:03:00.0', '--bar', '2', '--text', 'x', '--ib-port', '0'], 2,
     r"bad --ib-port '0' \(a port from 1 to 255\)"),
    ('export: BAR 7 is refused',
     ['p2pmr', 'export', '0000:03:00.0', '--bar', '7'], 2, r"bad value '7'"),
    ("export: the library's message for a malformed address reaches the user, exit 1",
     ['p2pmr', 'export', 'bogus', '--bar', '2'], 1,
     r"^p2pmr export: 'bogus' is not a PCI address \(want DDDD:BB:SS\.F\) \(Invalid argument\)$"),
    ("write: a device that does not exist is named, exit 1",
     ['p2pmr', 'write', 'ffff:ff:1f.7', '--bar', '2', '--text', 'x'], 1,
     r'^p2pmr write: no PCI device ffff:ff:1f\.7 \(see lspci -D\)'),
    ('dma-bench: no devices named is refused',
     ['p2pmr', 'dma-bench', '--bar', '2'], 2,
     r'--nvme PCI, and --bar-pci PCI and --bar N \(or --host-only\), are needed'),
    ('dma-bench: --host-only with a BAR is refused',
     ['p2pmr', 'dma-bench', '--nvme', '06:00.0', '--host-only', '--bar', '2'], 2,
     r'--host-only takes no --bar-pci or --bar'),
    ('dma-bench: depth 0 is refused',
     ['p2pmr', 'dma-bench', '--nvme', '06:00.0', '--bar-pci', '03:00.0', '--bar', '2',
      '--depth', '0'], 2, r"bad --depth '0'"),
    ('dma-bench: an unaligned BAR offset is refused',
     ['p2pmr', 'dma-bench', '--nvme', '06:00.0', '--bar-pci', '03:00.0', '--bar', '2',
      '--bar-offset', '0x200'], 2, r"bad --bar-offset '0x200'"),
    ('dma-bench: a size list that does not parse is refused',
     ['p2pmr', 'dma-bench', '--nvme', '06:00.0', '--bar-pci', '03:00.0', '--bar', '2',
      '--sizes', '4K,x'], 2, r"bad --sizes '4K,x'"),
    ("dma-bench: a failure of the library is named, exit 1",
     ['p2pmr', 'dma-bench', '--nvme', 'ffff:ff:1f.7', '--bar-pci', '03:00.0', '--bar', '2'], 1,
     r'^p2pmr dma-bench: (no /dev/iommu|no PCI device ffff:ff:1f\.7)'),
    ('nvme-dma-test --list prints its cases, name TAB description',
     ['nvme-dma-test', '--list'], 0, r'^bar-revoke\t'),
    ('nvme-dma-test: a case without --nvme is refused',
     ['nvme-dma-test', 'read-4k'], 2, r'--nvme and --ns-file are needed'),
    ("'p2pmr hw-check --help' lists the same RDMA options",
     ['p2pmr', 'hw-check', '--help'], 0,
     r'-d, --ib-dev NAME.*\n.*-i, --ib-port N.*\n.*-x, --gid-index N'),
    ('hw-check: no PCI device is refused',
     ['p2pmr', 'hw-check', '--bar', '2'], 2, r'^p2pmr hw-check: name the PCI device$'),
    ('hw-check: no BAR is refused',
     ['p2pmr', 'hw-check', '0000:03:00.0'], 2, r'^p2pmr hw-check: --bar N is needed$'),
    ('hw-check: 0 seconds are refused',
     ['p2pmr', 'hw-check', '0000:03:00.0', '--bar', '2', '--seconds', '0'], 2,
     r"^p2pmr hw-check: bad seconds '0'"),
    ("hw-check: a device that does not exist is named, exit 1",
     ['p2pmr', 'hw-check', 'ffff:ff:1f.7', '--bar', '2'], 1,
     r'^p2pmr hw-check: no PCI device ffff:ff:1f\.7 \(see lspci -D\)'),
    ('rdma-dmabuf-test --list prints its cases, name TAB description',
     ['rdma-dmabuf-test', '--list'], 0, r'^write-into-bar\t'),
    ('rdma-dmabuf-test: GID index 300 is refused, with the range',
     ['rdma-dmabuf-test', 'write-into-bar', '--device', '0000:03:00.0', '--gid-index', '300'], 2,
     r"bad --gid-index '300' \(a GID index from 0 to 255\)"),
    ('rdma-pair-test: GID index x is refused',
     ['rdma-pair-test', 'client', '--length', '4K', '--seed', '1', '--gid-index', 'x'], 2,
     r"bad --gid-index 'x'"),
    ('p2pmr-fuzz: GID index -1 is refused (exit status 3, bad usage)',
     ['p2pmr-fuzz', '--device', '0000:03:00.0', '--gid-index', '-1'], 3,
     r"bad --gid-index '-1'"),
    ("the old option --ibdev is gone",
     ['p2pmr-fuzz', '--device', '0000:03:00.0', '--ibdev', 'rxe0'], 3,
     r"unrecognized option '--ibdev'"),
]

# Programs whose usage text must name --ib-dev and --gid-index and nothing older.
USAGES = [
    ['p2pmr', 'help', 'bench'],
    ['p2pmr', 'help', 'write'],
    ['p2pmr', 'help', 'hw-check'],
    ['rdma-dmabuf-test'],
    ['rdma-pair-test'],
    ['p2pmr-fuzz'],
]
OLD_NAMES = re.compile(r'--ibdev\b|--gid\b(?!-)')


def run(bin_dir, argv):
    proc = subprocess.run([os.path.join(bin_dir, argv[0])] + argv[1:],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=30, check=False)
    return proc.returncode, proc.stdout.decode(errors='replace')


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    bin_dir = sys.argv[1]
    n = failed = 0
    for what, argv, status, pattern in CASES:
        rc, out = run(bin_dir, argv)
        n += 1
        if rc == status and re.search(pattern, out, re.M):
            print('ok %d - %s' % (n, what))
            continue
        failed += 1
        print('not ok %d - %s' % (n, what))
        print('# %s: exit status %d (want %d), output:' % (' '.join(argv), rc, status))
        for line in out.splitlines() or ['(none)']:
            print('#   ' + line)
        print('# wanted a line matching: %s' % pattern)
    for argv in USAGES:
        _, out = run(bin_dir, argv)
        n += 1
        old = OLD_NAMES.findall(out)
        if '--ib-dev' in out and '--gid-index' in out and not old:
            print('ok %d - %s names --ib-dev and --gid-index, nothing older'
                  % (n, ' '.join(argv)))
            continue
        failed += 1
        print('not ok %d - %s names --ib-dev and --gid-index, nothing older'
              % (n, ' '.join(argv)))
        print('# %s printed (old names: %s):' % (' '.join(argv), ', '.join(old) or 'none'))
        for line in out.splitlines():
            print('#   ' + line)
    print('1..%d' % n)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
