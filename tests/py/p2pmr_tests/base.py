# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Common ground of the p2pmr pyverbs tests: configuration, the base test
case and the resources the cases build on (BAR and udmabuf dma-buf MRs,
host MRs, a pair of RC QPs connected to each other).

Configuration, from the environment (the runner's options set the same
variables):

    P2PMR_IBDEV         RDMA device by name (default: the first one), e.g. rxe0
    P2PMR_IB_PORT       its port (default 1)
    P2PMR_GID_INDEX     the GID the two QPs talk through (default 0)
    P2PMR_VFIO_DEVICE   PCI address of a device bound to vfio-pci, e.g. 0000:03:00.0
    P2PMR_VFIO_BAR      its memory BAR to export (default 2)
    P2PMR_IVSHMEM_FILE  the host file behind that BAR (ivshmem), if any: bytes
                        are checked there; without it, through the BAR's VFIO mmap

A case skips only when a piece is missing, and the reason names it.
"""
import ctypes
import errno
import fcntl
import mmap
import os
import struct
import time
import unittest

import p2pmr
from pyverbs.addr import AHAttr, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context, get_device_list
import pyverbs.enums as e
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import RecvWR, SGE, SendWR

KIB = 1 << 10
MIB = 1 << 20
PAGE = os.sysconf('SC_PAGE_SIZE')
ACCESS = (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE |
          e.IBV_ACCESS_REMOTE_READ)
ACCESS_ALL = ACCESS | e.IBV_ACCESS_REMOTE_ATOMIC
RXE_VENDOR_ID = 0xffffff
# How long a work request may take: rxe under TCG and a debug kernel is slow.
WR_TIMEOUT = 30.0

# linux/udmabuf.h: UDMABUF_CREATE is _IOW('u', 0x42, struct udmabuf_create),
# the struct being memfd, flags (u32), offset, size (u64).
_UDMABUF_CREATE_ARG = struct.Struct('=IIQQ')
UDMABUF_CREATE = (1 << 30) | (_UDMABUF_CREATE_ARG.size << 16) | (ord('u') << 8) | 0x42
UDMABUF_FLAGS_CLOEXEC = 0x01

_verbs = ctypes.CDLL('libibverbs.so.1')
_verbs.ibv_wc_status_str.restype = ctypes.c_char_p
_verbs.ibv_wc_status_str.argtypes = [ctypes.c_int]


def wc_status_str(status):
    """ibv_wc_status_str() with the number: 'remote access error (10)'."""
    return '%s (%d)' % (_verbs.ibv_wc_status_str(int(status)).decode(), int(status))


def config():
    """The test configuration, from the environment (see the module's doc)."""
    env = os.environ
    return {
        'ibdev': env.get('P2PMR_IBDEV') or None,
        'port': int(env.get('P2PMR_IB_PORT') or 1),
        'gid_index': int(env.get('P2PMR_GID_INDEX') or 0),
        'vfio_device': env.get('P2PMR_VFIO_DEVICE') or None,
        'bar': int(env.get('P2PMR_VFIO_BAR') or 2),
        'bar_file': env.get('P2PMR_IVSHMEM_FILE') or None,
    }


class WRTimeout(AssertionError):
    pass


class RCPair:
    """Two RC QPs of one PD, each with its own CQ, connected to each other
    through the port's GID (loopback on one device). qps[0] is the
    requester of the helpers below, qps[1] the responder."""

    def __init__(self, test, depth=16):
        self.test = test
        self.cqs = [CQ(test.ctx, 2 * depth), CQ(test.ctx, 2 * depth)]
        self.qps = []
        for cq in self.cqs:
            cap = QPCap(max_send_wr=depth, max_recv_wr=depth, max_send_sge=1,
                        max_recv_sge=1)
            init = QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=cap)
            self.qps.append(QP(test.pd, init))
        gid = test.ctx.query_gid(test.ib_port, test.gid_index)
        for qp, peer in ((self.qps[0], self.qps[1]), (self.qps[1], self.qps[0])):
            attr = QPAttr(port_num=test.ib_port)
            attr.qp_access_flags = ACCESS_ALL
            attr.dest_qp_num = peer.qp_num
            attr.path_mtu = e.IBV_MTU_1024
            attr.max_dest_rd_atomic = attr.max_rd_atomic = 1
            attr.min_rnr_timer, attr.timeout, attr.retry_cnt, attr.rnr_retry = 12, 14, 7, 7
            route = GlobalRoute(dgid=gid, sgid_index=test.gid_index)
            attr.ah_attr = AHAttr(gr=route, is_global=1, port_num=test.ib_port)
            qp.to_rts(attr)

    def close(self):
        for obj in self.qps + self.cqs:
            obj.close()
        self.qps, self.cqs = [], []

    def poll(self, side, timeout=WR_TIMEOUT):
        """The next completion on side's CQ (0 requester, 1 responder)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            n, wcs = self.cqs[side].poll()
            if n:
                return wcs[0]
        raise WRTimeout('no completion on QP %d within %.0f s' % (side, timeout))

    def post_rdma(self, opcode, addr, length, lkey, remote_addr, rkey):
        """Post an RDMA WRITE or READ on qps[0]: local [addr, +length) of lkey,
        remote remote_addr of rkey."""
        wr = SendWR(opcode=opcode, num_sge=1, sg=[SGE(addr, length, lkey)],
                    send_flags=e.IBV_SEND_SIGNALED)
        wr.set_wr_rdma(rkey, remote_addr)
        self.qps[0].post_send(wr)

    def rdma(self, opcode, addr, length, lkey, remote_addr, rkey):
        """post_rdma and wait: the completion's status."""
        self.post_rdma(opcode, addr, length, lkey, remote_addr, rkey)
        return self.poll(0).status

    def send(self, src, dst, length, recv_timeout=WR_TIMEOUT):
        """SEND [src[0], +length) of lkey src[1] from qps[0] into a receive of
        [dst[0], +length) of lkey dst[1] on qps[1]. Returns the statuses of
        the send and the receive (None when the receive did not complete)."""
        self.qps[1].post_recv(RecvWR(wr_id=1, num_sge=1, sg=[SGE(dst[0], length, dst[1])]))
        self.qps[0].post_send(SendWR(wr_id=2, opcode=e.IBV_WR_SEND, num_sge=1,
                                     sg=[SGE(src[0], length, src[1])],
                                     send_flags=e.IBV_SEND_SIGNALED))
        sent = self.poll(0).status
        try:
            received = self.poll(1, recv_timeout).status
        except WRTimeout:
            received = None
        return sent, received


class HostBuffer:
    """Host memory registered with pyverbs (MR): addr, lkey, rkey, read/write."""

    def __init__(self, pd, length):
        self.mr = MR(pd, length, ACCESS_ALL)
        self.length = length
        self.addr, self.lkey, self.rkey = self.mr.buf, self.mr.lkey, self.mr.rkey

    def write(self, data, offset=0):
        self.mr.write(data, len(data), offset)

    def read(self, length=None, offset=0):
        return self.mr.read(self.length if length is None else length, offset)

    def close(self):
        self.mr.close()


class Udmabuf:
    """A dma-buf with struct pages: a sealed memfd turned into a dma-buf by
    /dev/udmabuf. .fd is the dma-buf, .mem a shared mmap of the memfd."""

    def __init__(self, length):
        self.fd = self.memfd = -1
        self.mem = None
        self.memfd = os.memfd_create('p2pmr-udmabuf', os.MFD_ALLOW_SEALING)
        os.ftruncate(self.memfd, length)
        fcntl.fcntl(self.memfd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)
        dev = os.open('/dev/udmabuf', os.O_RDWR | os.O_CLOEXEC)
        try:
            # a mutable buffer, so that ioctl() returns the call's result (the fd)
            arg = bytearray(_UDMABUF_CREATE_ARG.pack(self.memfd, UDMABUF_FLAGS_CLOEXEC, 0,
                                                     length))
            self.fd = fcntl.ioctl(dev, UDMABUF_CREATE, arg, True)
        finally:
            os.close(dev)
        self.mem = mmap.mmap(self.memfd, length)
        self.length = length

    def fileno(self):
        return self.fd

    def close(self):
        if self.mem is not None:
            self.mem.close()
        for fd in (self.fd, self.memfd):
            if fd >= 0:
                os.close(fd)
        self.fd = self.memfd = -1
        self.mem = None


class P2pmrTestCase(unittest.TestCase):
    """Opens the RDMA device (context, PD) and, unless needs_vfio is False,
    the VFIO device; skips, naming it, when one is missing. Everything a
    case makes through the helpers is closed after it, in reverse order."""

    needs_vfio = True

    def setUp(self):
        super().setUp()
        cfg = self.config = config()
        self.ib_port = cfg['port']
        self.gid_index = cfg['gid_index']
        self.bar = cfg['bar']
        self.bar_file = cfg['bar_file']
        self.dev_name = cfg['ibdev']
        if not self.dev_name:
            try:
                devices = get_device_list()
            except PyverbsRDMAError:    # no uverbs device at all
                devices = []
            if not devices:
                raise unittest.SkipTest('needs an RDMA device: none found (set one up, '
                                        'e.g. rdma link add rxe0 type rxe netdev IF)')
            self.dev_name = devices[0].name.decode()
        self.ctx = Context(name=self.dev_name)
        self.addCleanup(self.ctx.close)
        self.pd = PD(self.ctx)
        self.addCleanup(self.pd.close)
        self.is_rxe = self.ctx.query_device().vendor_id == RXE_VENDOR_ID
        self.vfio = None
        self._bar_map = None
        if self.needs_vfio:
            if not cfg['vfio_device']:
                raise unittest.SkipTest('needs a PCI device bound to vfio-pci with a memory BAR: '
                                        'set P2PMR_VFIO_DEVICE=<pci address> '
                                        '(and P2PMR_VFIO_BAR, default 2)')
            self.vfio = p2pmr.Device(cfg['vfio_device'])
            self.addCleanup(self.vfio.close)
            info = self.vfio.bar_info(self.bar)
            self.assertTrue(info.is_memory and info.can_mmap and info.size >= 2 * MIB,
                            'BAR %d of %s: expected a mappable memory BAR of 2 MiB or more, '
                            'got %r' % (self.bar, cfg['vfio_device'], info))
            self.bar_size = info.size

    def track(self, obj):
        """Close obj (anything with close()) after the case."""
        self.addCleanup(obj.close)
        return obj

    # --- resources -------------------------------------------------------

    def pair(self, depth=16):
        return self.track(RCPair(self, depth))

    def host_buffer(self, length):
        return self.track(HostBuffer(self.pd, length))

    def export(self, ranges):
        """A DmaBuf of [(offset, length), ...] of the BAR."""
        return self.track(self.vfio.export_dmabuf(self.bar, ranges))

    def bar_mr(self, offset, length, access=ACCESS_ALL):
        """[offset, +length) of the BAR exported and registered: (dmabuf, mr).
        The MR's iova is 0 at the start of the dma-buf."""
        buf = self.export([(offset, length)])
        return buf, self.reg(buf, 0, length, access)

    def reg(self, dmabuf, offset, length, access=ACCESS_ALL, iova=None):
        """A p2pmr.DmaBufMR of the PD, closed after the case."""
        return self.track(p2pmr.DmaBufMR(self.pd, dmabuf, offset, length, iova=iova,
                                         access=access))

    def udmabuf(self, length):
        if not os.path.exists('/dev/udmabuf'):
            raise unittest.SkipTest('needs /dev/udmabuf (a kernel with CONFIG_UDMABUF)')
        return self.track(Udmabuf(length))

    # --- the BAR's bytes -------------------------------------------------

    def bar_map(self):
        """The BAR through its VFIO mmap (a BarMapping, .buf a memoryview)."""
        if self._bar_map is None:
            self._bar_map = self.track(self.vfio.mmap_bar(self.bar))
        return self._bar_map

    def bar_read(self, offset, length):
        """The BAR's bytes as the host sees them (P2PMR_IVSHMEM_FILE), else
        through the VFIO mmap."""
        if self.bar_file:
            with open(self.bar_file, 'rb', buffering=0) as f:
                data = os.pread(f.fileno(), length, offset)
            self.assertEqual(len(data), length, 'short read of %s' % self.bar_file)
            return data
        return bytes(self.bar_map().buf[offset:offset + length])

    def bar_write(self, offset, data):
        """Write the BAR through its VFIO mmap."""
        self.bar_map().buf[offset:offset + len(data)] = data

    def where(self):
        return self.bar_file if self.bar_file else 'the VFIO mmap of BAR %d' % self.bar

    def assert_bytes(self, got, want, what):
        """Compare byte strings, naming the first difference."""
        if got == want:
            return
        first = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                     min(len(got), len(want)))
        self.fail('%s: byte %#x is %s, expected %s (%d bytes compared, %d expected)'
                  % (what, first, hex(got[first]) if first < len(got) else 'missing',
                     hex(want[first]) if first < len(want) else 'missing',
                     len(got), len(want)))

    def assert_status(self, got, want, what):
        """got: a work completion status; None (no completion) or a string
        (what happened instead) fail."""
        if got is None:
            got = 'no completion'
        self.assertTrue(not isinstance(got, str) and int(got) == int(want),
                        '%s: expected %s, got %s'
                        % (what, wc_status_str(want),
                           got if isinstance(got, str) else wc_status_str(got)))

    def assert_errno(self, want, fn, *args, **kwargs):
        """fn(*args, **kwargs) raises OSError with errno want; returns it."""
        with self.assertRaises(OSError, msg='expected %s' % errno.errorcode[want]) as cm:
            obj = fn(*args, **kwargs)
            if hasattr(obj, 'close'):
                obj.close()
        self.assertEqual(cm.exception.errno, want,
                         'expected %s, got %s: %s' % (errno.errorcode[want],
                                                     errno.errorcode.get(cm.exception.errno,
                                                                         cm.exception.errno),
                                                     cm.exception))
        return cm.exception
