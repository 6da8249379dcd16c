#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""p2pmr doctor against fake system trees (P2PMR_DOCTOR_ROOT): each case
builds /sys, /proc, /dev and /boot in a scratch directory as Linux shows
them, runs `p2pmr doctor --json` there, and checks the verdict, the words
of what was found and of the fix for the rows it is about, and the exit
status. The topology is the test guest's (tests/harness/guest-lib.sh): a
PCIe switch below root port 00:01.0 with ivshmem (03:00.0) on sw-dn1, an
NVMe controller (04:00.0) on sw-dn2 and a NIC function (05:00.0) on
sw-dn3; pci-testdev (00:02.0) and another NIC function (00:03.0) on the
root bus; a second host bridge pci0000:80 with a NIC function (80:00.0).

usage: doctor_test.py BIN-DIR   (build/cmake/bin)
Prints TAP; exit status 0 when every check held.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

IORESOURCE_IO = 0x100
IORESOURCE_MEM = 0x200
IORESOURCE_PREFETCH = 0x2000
IORESOURCE_MEM_64 = 0x100000
MEM_PF64 = IORESOURCE_MEM | IORESOURCE_PREFETCH | IORESOURCE_MEM_64

# name -> (path below /sys/devices, vendor, device, class, BARs [(size, flags)])
DEVICES = {
    '0000:00:00.0': ('pci0000:00', 0x8086, 0x29c0, 0x060000, []),
    '0000:00:01.0': ('pci0000:00', 0x1b36, 0x000c, 0x060400, []),
    '0000:01:00.0': ('pci0000:00/0000:00:01.0', 0x104c, 0x8232, 0x060400, []),
    '0000:02:00.0': ('pci0000:00/0000:00:01.0/0000:01:00.0', 0x104c, 0x8233, 0x060400, []),
    '0000:02:01.0': ('pci0000:00/0000:00:01.0/0000:01:00.0', 0x104c, 0x8233, 0x060400, []),
    '0000:02:02.0': ('pci0000:00/0000:00:01.0/0000:01:00.0', 0x104c, 0x8233, 0x060400, []),
    '0000:03:00.0': ('pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0', 0x1af4, 0x1110,
                     0x050000, [(256, IORESOURCE_MEM), None, (16 << 20, MEM_PF64)]),
    '0000:04:00.0': ('pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0', 0x1b36, 0x0010,
                     0x010802, [(16 << 10, IORESOURCE_MEM | IORESOURCE_MEM_64), None,
                                (16 << 20, MEM_PF64)]),
    '0000:05:00.0': ('pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:02.0', 0x15b3, 0x101b,
                     0x020700, [(32 << 20, MEM_PF64)]),
    '0000:00:02.0': ('pci0000:00', 0x1b36, 0x0005, 0x00ff00,
                     [(4096, IORESOURCE_MEM), (256, IORESOURCE_IO)]),
    '0000:00:03.0': ('pci0000:00', 0x15b3, 0x101b, 0x020700, [(32 << 20, MEM_PF64)]),
    '0000:80:00.0': ('pci0000:80', 0x15b3, 0x101b, 0x020700, [(32 << 20, MEM_PF64)]),
}

AMD_ZEN = ('AuthenticAMD', 23)
INTEL = ('GenuineIntel', 6)


def config_space(acs_ctrl=None, size=4096):
    """Config space bytes: an ACS extended capability at 0x100 if asked."""
    cfg = bytearray(size)
    if acs_ctrl is not None and size >= 0x108:
        cfg[0x100:0x104] = (0x000d | 1 << 16).to_bytes(4, 'little')
        cfg[0x106:0x108] = acs_ctrl.to_bytes(2, 'little')
    return bytes(cfg)


class Tree:
    """A fake system below a scratch directory."""

    def __init__(self, root, cpu=AMD_ZEN, iommu=True, noiommu=False, config='y',
                 drivers=None, acs=None, config_size=4096, host_bridge=None,
                 vfio_nodes=True, rdma=None, vfio_driver=True):
        self.root = root
        drivers = drivers if drivers is not None else {
            '0000:03:00.0': 'vfio-pci', '0000:04:00.0': 'vfio-pci', '0000:00:02.0': 'vfio-pci'}
        acs = acs or {}
        self.write('proc/sys/kernel/osrelease', '6.12.41-p2pmr\n')
        self.write('proc/cpuinfo', 'processor\t: 0\nvendor_id\t: %s\ncpu family\t: %d\n' % cpu)
        self.write('proc/cmdline', 'root=/dev/sda1 %s\n' %
                   ('intel_iommu=on' if iommu else 'intel_iommu=off'))
        if config == 'y':
            self.write('boot/config-6.12.41-p2pmr', 'CONFIG_VFIO_PCI=y\nCONFIG_VFIO_PCI_DMABUF=y\n')
        elif config == 'n':
            self.write('boot/config-6.12.41-p2pmr', 'CONFIG_VFIO_PCI=y\n')
        self.write('sys/module/vfio/parameters/enable_unsafe_noiommu_mode',
                   'Y\n' if noiommu else 'N\n')
        if vfio_driver:
            os.makedirs(self.p('sys/bus/pci/drivers/vfio-pci'))
        os.makedirs(self.p('sys/kernel/iommu_groups'))
        if iommu:
            os.makedirs(self.p('sys/class/iommu/dmar0'))
        for group, (name, (parent, vendor, device, cls, bars)) in enumerate(DEVICES.items()):
            if host_bridge and name == '0000:00:00.0':
                vendor, device = host_bridge
            d = 'sys/devices/%s/%s' % (parent, name)
            self.write(d + '/vendor', '0x%04x\n' % vendor)
            self.write(d + '/device', '0x%04x\n' % device)
            self.write(d + '/class', '0x%06x\n' % cls)
            self.write(d + '/config', config_space(acs.get(name), config_size))
            lines = []
            for i in range(13):
                bar = bars[i] if i < len(bars) else None
                start = 0xfe000000 + 0x1000000 * i
                lines.append('0x%016x 0x%016x 0x%016x' % (start, start + bar[0] - 1, bar[1])
                             if bar else '0x%016x 0x%016x 0x%016x' % (0, 0, 0))
            self.write(d + '/resource', '\n'.join(lines) + '\n')
            self.link('sys/bus/pci/devices/' + name, d)
            if iommu or noiommu:
                g = 'sys/kernel/iommu_groups/%d' % group
                if iommu:
                    self.write(g + '/type', 'DMA\n')
                self.link(d + '/iommu_group', g)
            drv = drivers.get(name)
            if drv:
                os.makedirs(self.p('sys/bus/pci/drivers/' + drv), exist_ok=True)
                self.link(d + '/driver', 'sys/bus/pci/drivers/' + drv)
            if drv == 'vfio-pci' and vfio_nodes:
                self.write('dev/vfio/%s%d' % ('' if iommu else 'noiommu-', group), '')
        for dev, pci in (rdma or {'rxe0': None}).items():
            os.makedirs(self.p('sys/class/infiniband/' + dev))
            if pci:
                self.link('sys/class/infiniband/%s/device' % dev, 'sys/bus/pci/devices/' + pci)

    def p(self, rel):
        return os.path.join(self.root, rel)

    def write(self, rel, data):
        os.makedirs(os.path.dirname(self.p(rel)), exist_ok=True)
        with open(self.p(rel), 'wb' if isinstance(data, bytes) else 'w') as f:
            f.write(data)

    def link(self, rel, target):
        """A relative symlink, as sysfs makes them."""
        os.makedirs(os.path.dirname(self.p(rel)), exist_ok=True)
        os.symlink(os.path.relpath(self.p(target), os.path.dirname(self.p(rel))), self.p(rel))


ACS_RR = 0x0004
# (what it proves, tree options, doctor arguments, exit status,
#  [(check, subject regexp, verdict, found regexp, fix regexp)])
CASES = [
    ('same switch, no ACS redirect: bus address, everything ok, exit 0',
     {}, ['0000:03:00.0', '--bar', '2', '--peer', '0000:05:00.0'], 0,
     [('kernel', 'system', 'ok', r'CONFIG_VFIO_PCI_DMABUF=y in /boot/config-6\.12\.41-p2pmr', ''),
      ('iommu', 'system', 'ok', r'^on: dmar0', ''),
      ('binding', '0000:03:00.0', 'ok', r'bound to vfio-pci', ''),
      ('access', '0000:03:00.0', 'ok', r'type DMA; read-write for this user: /dev/vfio/\d+', ''),
      ('bar', '0000:03:00.0 BAR 2', 'ok', r'memory, 16M, prefetchable, 64-bit', ''),
      ('path', '0000:05:00.0 > 0000:03:00.0', 'ok',
       r'common upstream bridge 0000:01:00\.0, distance 4; no ACS redirect; '
       r'map type: bus address \(PCI_P2PDMA_MAP_BUS_ADDR\)', '')]),
    ('same switch with ACS redirect on the downstream port: through the host bridge (AMD Zen), warn',
     {'acs': {'0000:02:00.0': ACS_RR}}, ['0000:03:00.0', '--bar', '2', '--peer', '0000:05:00.0'], 0,
     [('path', '', 'warn', r'ACS redirect on 0000:02:00\.0.*allowed: AuthenticAMD family 23.*'
       r'map type: through the host bridge \(PCI_P2PDMA_MAP_THRU_HOST_BRIDGE\)',
       r'pci=disable_acs_redir=0000:02:00\.0')]),
    ('ACS redirect on the client side and an Intel CPU with q35\'s host bridge: not supported, exit 1',
     {'acs': {'0000:02:02.0': ACS_RR}, 'cpu': INTEL},
     ['0000:03:00.0', '--bar', '2', '--peer', '0000:05:00.0'], 1,
     [('path', '', 'fail', r'ACS redirect on 0000:02:02\.0.*not allowed: host bridge 0000:00:00\.0 '
       r'8086:29c0 is not on the kernel\'s list.*PCI_P2PDMA_MAP_NOT_SUPPORTED',
       r'GenuineIntel family 6.*pci=disable_acs_redir=0000:02:02\.0')]),
    ('ACS bits on the common upstream bridge count too (the kernel checks it)',
     {'acs': {'0000:01:00.0': 0x0020}}, ['0000:03:00.0', '--peer', '0000:05:00.0'], 0,
     [('path', '', 'warn', r'ACS redirect on 0000:01:00\.0', r'pci=disable_acs_redir=0000:01:00\.0$')]),
    ('ACS bits above the common bridge do not count',
     {'acs': {'0000:00:01.0': ACS_RR}}, ['0000:03:00.0', '--peer', '0000:05:00.0'], 0,
     [('path', '', 'ok', r'no ACS redirect; map type: bus address', '')]),
    ('across the host bridge on AMD Zen: allowed, map through the host bridge',
     {}, ['0000:03:00.0', '--bar', '2', '--peer', '0000:00:03.0'], 0,
     [('path', '0000:00:03.0 > 0000:03:00.0', 'ok',
       r'no common upstream bridge.*allowed: AuthenticAMD family 23 \(0x17\); '
       r'map type: through the host bridge', '')]),
    ('across the host bridge on an Intel CPU with q35\'s host bridge: not supported, exit 1',
     {'cpu': INTEL}, ['0000:03:00.0', '--bar', '2', '--peer', '0000:00:03.0'], 1,
     [('path', '', 'fail', r'not allowed: host bridge 0000:00:00\.0 8086:29c0 is not on the '
       r'kernel\'s list; map type: not supported', r'below one PCIe switch')]),
    ('AMD before Zen (family 15h) is not enough',
     {'cpu': ('AuthenticAMD', 0x15)}, ['0000:03:00.0', '--peer', '0000:00:03.0'], 1,
     [('path', '', 'fail', r'not supported', r'AuthenticAMD family 21 \(0x15\)')]),
    ('across the host bridge, Intel with a Skylake-E host bridge: allowed',
     {'cpu': INTEL, 'host_bridge': (0x8086, 0x2020)},
     ['0000:03:00.0', '--peer', '0000:00:03.0'], 0,
     [('path', '', 'ok', r'allowed: host bridge 0000:00:00\.0 8086:2020 is on the kernel\'s list; '
       r'map type: through the host bridge', '')]),
    ('Intel Xeon E5 host bridge: allowed within one host bridge',
     {'cpu': INTEL, 'host_bridge': (0x8086, 0x3c00)},
     ['0000:03:00.0', '--peer', '0000:00:03.0'], 0,
     [('path', '', 'ok', r'8086:3c00 is on the kernel\'s list', '')]),
    ('Intel Xeon E5 host bridge: not across two host bridges',
     {'cpu': INTEL, 'host_bridge': (0x8086, 0x3c00)},
     ['0000:03:00.0', '--peer', '0000:80:00.0'], 1,
     [('path', '', 'fail', r'0000:03:00\.0 under pci0000:00, 0000:80:00\.0 under pci0000:80.*'
       r'only within one host bridge',
       r'host bridge 0000:00:00\.0 8086:3c00 is on the kernel\'s list only within one host bridge; '
       r'host bridge 0000:80:00\.0 15b3:101b is not on the kernel\'s list\): put the NIC')]),
    ('config space cut at 64 bytes (not root): ACS unknown, warn',
     {'config_size': 64}, ['0000:03:00.0', '--peer', '0000:05:00.0'], 0,
     [('path', '', 'warn', r'ACS unknown', r'as root')]),
    ('the RDMA device\'s PCI function is the path\'s other end',
     {'rdma': {'mlx5_0': '0000:05:00.0'}}, ['0000:03:00.0', '-d', 'mlx5_0'], 0,
     [('path', '0000:05:00.0 > 0000:03:00.0', 'ok', r'bus address', '')]),
    ('rxe has no PCI function: path n/a, the fix names --peer',
     {}, ['0000:03:00.0', '--ib-dev', 'rxe0'], 0,
     [('path', '0000:03:00.0', 'n/a', r'rxe0 has no PCI function \(a software RDMA device',
       r'--peer DDDD:BB:SS\.F')]),
    ('an RDMA device that does not exist fails',
     {}, ['0000:03:00.0', '--ib-dev', 'mlx5_9'], 1,
     [('rdma', 'mlx5_9', 'fail', r'no such RDMA device', r'ibv_devices')]),
    ('a device bound to no driver: fail, the fix binds it',
     {'drivers': {}}, ['0000:03:00.0', '--peer', '0000:05:00.0'], 1,
     [('binding', '0000:03:00.0', 'fail', r'bound to no driver: not vfio-pci',
       r'^echo vfio-pci > /sys/bus/pci/devices/0000:03:00\.0/driver_override; '
       r'echo 0000:03:00\.0 > /sys/bus/pci/drivers_probe$')]),
    ('a device bound to nvme: the fix unbinds it first',
     {'drivers': {'0000:04:00.0': 'nvme'}}, ['0000:04:00.0', '--bar', '2'], 1,
     [('binding', '0000:04:00.0', 'fail', r'bound to nvme: not vfio-pci',
       r'driver_override; echo 0000:04:00\.0 > /sys/bus/pci/devices/0000:04:00\.0/driver/unbind; '
       r'echo 0000:04:00\.0 > /sys/bus/pci/drivers_probe')]),
    ('no vfio-pci driver at all: the fix loads it',
     {'drivers': {}, 'vfio_driver': False}, ['0000:03:00.0'], 1,
     [('binding', '', 'fail', r'bound to no driver', r'^modprobe vfio-pci; echo vfio-pci')]),
    ('the group node is missing: access fails',
     {'vfio_nodes': False}, ['0000:03:00.0', '--bar', '2'], 1,
     [('access', '0000:03:00.0', 'fail', r'/dev/vfio/\d+ does not exist', r'rebind')]),
    ('every BAR without --bar: the I/O BAR is n/a, the memory BAR a register warning',
     {}, ['0000:00:02.0'], 0,
     [('bar', '0000:00:02.0 BAR 0', 'warn', r'memory, 4K, non-prefetchable: likely device registers',
       r'prefetchable BAR'),
      ('bar', '0000:00:02.0 BAR 1', 'n/a', r'an I/O-port BAR \(256\): only memory BARs', '')]),
    ('the I/O BAR named with --bar fails',
     {}, ['0000:00:02.0', '--bar', '1'], 1,
     [('bar', '0000:00:02.0 BAR 1', 'fail', r'I/O-port BAR', r'pick a memory BAR')]),
    ('a BAR the device does not implement fails',
     {}, ['0000:00:02.0', '--bar', '4'], 1,
     [('bar', '0000:00:02.0 BAR 4', 'fail', r'not implemented', r'pick a memory BAR')]),
    ('BAR 0 of an NVMe controller: its registers, warn; the CMB BAR is ok',
     {}, ['0000:04:00.0'], 0,
     [('bar', '0000:04:00.0 BAR 0', 'warn', r'BAR 0 of an NVMe controller holds its registers',
       r'controller memory buffer'),
      ('bar', '0000:04:00.0 BAR 2', 'ok', r'prefetchable', '')]),
    ('IOMMU off and no no-IOMMU mode: fail, the fix turns it on',
     {'iommu': False}, ['0000:03:00.0'], 1,
     [('iommu', 'system', 'fail', r'off .*intel_iommu=off', r'intel_iommu=on'),
      ('access', '0000:03:00.0', 'fail', r'in no IOMMU group', r'iommu check')]),
    ('IOMMU off in VFIO no-IOMMU mode: warn, the noiommu group node',
     {'iommu': False, 'noiommu': True}, ['0000:03:00.0', '--bar', '2'], 0,
     [('iommu', 'system', 'warn', r'no-IOMMU mode', r'intel_iommu=on'),
      ('access', '0000:03:00.0', 'ok', r'/dev/vfio/noiommu-\d+', '')]),
    ('a kernel built without CONFIG_VFIO_PCI_DMABUF: fail, install the p2pmr kernel',
     {'config': 'n'}, ['0000:03:00.0'], 1,
     [('kernel', 'system', 'fail', r'kernel lacks VFIO_DEVICE_FEATURE_DMA_BUF: '
       r'/boot/config-6\.12\.41-p2pmr has no CONFIG_VFIO_PCI_DMABUF=y', r'install the p2pmr kernel')]),
    ('no kernel config to read and no probe: cannot tell, warn',
     {'config': None}, ['0000:03:00.0'], 0,
     [('kernel', 'system', 'warn', r'^VFIO_DEVICE_FEATURE_DMA_BUF not probed \(P2PMR_DOCTOR_ROOT is set\)$',
       r'bind the device to vfio-pci and run the doctor again')]),
    ('a PCI device that does not exist fails',
     {}, ['0000:09:00.0'], 1,
     [('binding', '0000:09:00.0', 'fail', r'no such PCI device', r'lspci -D')]),
    ('--peer naming no device fails',
     {}, ['0000:03:00.0', '--peer', '0000:09:00.0'], 1,
     [('path', '0000:09:00.0', 'fail', r'no such PCI device', r'lspci -D')]),
]

# (what it proves, arguments, exit status, regexp of stderr or stdout)
USAGE = [
    ('--bar 6 is refused', ['--bar', '6'], 2, r"bad --bar '6' \(a BAR from 0 to 5\)"),
    ('--peer that is not a PCI address is refused', ['--peer', 'mlx5_0'], 2,
     r"bad --peer 'mlx5_0' \(a PCI address"),
    ('--help shows the options', ['--help'], 0, r'--peer PCI'),
]


def run(binary, root, args, **kw):
    env = dict(os.environ, P2PMR_DOCTOR_ROOT=root)
    return subprocess.run([binary, 'doctor'] + args, env=env, capture_output=True, text=True,
                          timeout=120, **kw)


def check_case(binary, tmp, opts, args, status, expects):
    root = tempfile.mkdtemp(dir=tmp)
    Tree(root, **opts)
    res = run(binary, root, args + ['--json'])
    problems = []
    if res.returncode != status:
        problems.append('exit status %d, expected %d' % (res.returncode, status))
    try:
        report = json.loads(res.stdout)
    except ValueError as e:
        return ['output is not JSON (%s): %r %r' % (e, res.stdout[:300], res.stderr[:300])]
    if report['works'] != (status == 0):
        problems.append('"works" is %s' % report['works'])
    for check, subject, verdict, found, fix in expects:
        rows = [r for r in report['checks'] if r['check'] == check and
                re.search(re.escape(subject) if subject else '', r['subject'])]
        rows = [r for r in rows if not subject or r['subject'] == subject] or rows
        if not rows:
            problems.append('no %s row for %r in %s' % (check, subject, report['checks']))
            continue
        r = rows[0]
        if r['verdict'] != verdict:
            problems.append('%s %s: verdict %s, expected %s (%s)' %
                            (check, r['subject'], r['verdict'], verdict, r['found']))
        if not re.search(found, r['found']):
            problems.append('%s %s: found %r does not match %r' % (check, r['subject'],
                                                                    r['found'], found))
        if not re.search(fix, r['fix']) or (not fix and r['fix']):
            problems.append('%s %s: fix %r does not match %r' % (check, r['subject'],
                                                                  r['fix'], fix))
    shutil.rmtree(root)
    return problems


def main():
    binary = os.path.join(sys.argv[1], 'p2pmr')
    n = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for what, opts, args, status, expects in CASES:
            n += 1
            problems = check_case(binary, tmp, opts, args, status, expects)
            print('%s %d - %s' % ('not ok' if problems else 'ok', n, what))
            for p in problems:
                print('#   ' + p)
            failed += bool(problems)
        for what, args, status, pattern in USAGE:
            n += 1
            res = run(binary, tmp, args)
            ok = res.returncode == status and re.search(pattern, res.stdout + res.stderr)
            print('%s %d - %s' % ('ok' if ok else 'not ok', n, what))
            if not ok:
                print('#   exit %d: %r %r' % (res.returncode, res.stdout, res.stderr))
            failed += not ok
        # The table: one line per check, the fix below, the verdict last.
        n += 1
        root = tempfile.mkdtemp(dir=tmp)
        Tree(root, drivers={})
        res = run(binary, root, ['0000:03:00.0', '--peer', '0000:05:00.0'])
        lines = res.stdout.splitlines()
        ok = (res.returncode == 1 and lines[0].split() == ['CHECK', 'SUBJECT', 'VERDICT', 'FOUND']
              and any(re.match(r'binding +0000:03:00\.0 +fail +bound to no driver', l) for l in lines)
              and any(re.match(r' +fix: echo vfio-pci > ', l) for l in lines)
              and lines[-1].startswith('verdict: RDMA into the BAR will NOT work here: 1 check(s) failed'))
        print('%s %d - the table has a row per check, the fix under it, the verdict last' %
              ('ok' if ok else 'not ok', n))
        if not ok:
            print('#   ' + res.stdout.replace('\n', '\n#   '))
        failed += not ok
    print('1..%d' % n)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
