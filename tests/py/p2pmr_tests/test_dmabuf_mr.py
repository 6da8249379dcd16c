# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Registration of VFIO BAR dma-bufs as MRs of a pyverbs PD (p2pmr.DmaBufMR):
register, deregister (twice), bad access flags, bad ranges and fds, and
dma-bufs of several BAR ranges."""
import errno
import os

import p2pmr
import pyverbs.enums as e

from .base import ACCESS_ALL, KIB, MIB, PAGE, P2pmrTestCase

# Where in the BAR these cases work (the traffic and revoke cases use others).
REG_OFFSET = 1 * MIB
REG_LENGTH = 1 * MIB

GOOD_FLAGS = [
    0,
    e.IBV_ACCESS_LOCAL_WRITE,
    e.IBV_ACCESS_REMOTE_READ,
    e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE,
    e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE | e.IBV_ACCESS_REMOTE_READ,
    ACCESS_ALL,
    ACCESS_ALL | e.IBV_ACCESS_RELAXED_ORDERING,
]

# Flags ib_core refuses for any MR (remote write or atomic need local
# write) or that a dma-buf MR cannot have: EINVAL from the uverbs method.
BAD_FLAGS = {
    'remote write without local write': e.IBV_ACCESS_REMOTE_WRITE,
    'remote atomic without local write': e.IBV_ACCESS_REMOTE_ATOMIC,
    'remote write and atomic without local write':
        e.IBV_ACCESS_REMOTE_WRITE | e.IBV_ACCESS_REMOTE_ATOMIC,
    'memory window bind': ACCESS_ALL | e.IBV_ACCESS_MW_BIND,
    'on-demand paging': ACCESS_ALL | e.IBV_ACCESS_ON_DEMAND,
}


class DmaBufMRTest(P2pmrTestCase):
    """p2pmr.DmaBufMR over a range of the VFIO BAR."""

    def setUp(self):
        super().setUp()
        self.dmabuf = self.export([(REG_OFFSET, REG_LENGTH)])

    def register(self, offset=0, length=REG_LENGTH, access=ACCESS_ALL, iova=None):
        """An MR not tracked: the case closes it."""
        return p2pmr.DmaBufMR(self.pd, self.dmabuf, offset, length, iova=iova,
                              access=access)

    def test_dmabuf_reg_mr(self):
        """Every legal access flag set registers, at offset 0 and in the middle"""
        for flags in GOOD_FLAGS:
            for offset in (0, REG_LENGTH // 2):
                with self.subTest(access=hex(flags), offset=offset):
                    with self.register(offset, REG_LENGTH - offset, flags) as mr:
                        self.assertEqual((mr.length, mr.iova, mr.offset),
                                         (REG_LENGTH - offset, offset, offset))
                        self.assertNotEqual(mr.lkey, 0)
                        if flags & (e.IBV_ACCESS_REMOTE_READ | e.IBV_ACCESS_REMOTE_WRITE):
                            self.assertNotEqual(mr.rkey, 0)

    def test_dmabuf_reg_mr_iova(self):
        """An iova apart from the offset (same offset in a page) registers"""
        with self.register(PAGE, 64 * KIB, iova=(1 << 40) + PAGE) as mr:
            self.assertEqual(mr.iova, (1 << 40) + PAGE)
            self.assertTrue(mr.is_fallback, 'only the uverbs method takes another iova')

    def test_dmabuf_dereg_mr(self):
        """close() deregisters: the PD can be deallocated after it"""
        mr = self.register()
        keys = (mr.lkey, mr.rkey)
        mr.close()
        # ibv_dealloc_pd fails with EBUSY while an MR of the PD is left.
        self.pd.close()
        self.assertNotEqual(keys[0], 0)

    def test_dmabuf_dereg_mr_twice(self):
        """A second close() is a no-op, as for pyverbs' own MRs"""
        with self.register() as mr:
            mr.close()
            mr.close()
        self.pd.close()

    def test_dmabuf_reg_mr_bad_flags(self):
        """Illegal access flags are refused with EINVAL"""
        for what, flags in BAD_FLAGS.items():
            with self.subTest(what):
                err = self.assert_errno(errno.EINVAL, self.register, access=flags)
                print('%s (%#x): %s' % (what, flags, err))
        self.register().close()

    def test_dmabuf_reg_mr_bad_range(self):
        """Zero length, ranges past the dma-buf and a misaligned iova: EINVAL"""
        cases = {
            'zero length': dict(offset=0, length=0),
            'offset + length past the end': dict(offset=PAGE, length=REG_LENGTH),
            'offset at the end': dict(offset=REG_LENGTH, length=PAGE),
            'offset past the end': dict(offset=2 * REG_LENGTH, length=PAGE),
            'length past the end': dict(offset=0, length=REG_LENGTH + 1),
            'iova at another offset in a page': dict(offset=0, length=PAGE, iova=1 << 40 | 8),
            'iova + length wrapping': dict(offset=0, length=2 * PAGE,
                                           iova=(1 << 64) - PAGE),
        }
        for what, args in cases.items():
            with self.subTest(what):
                err = self.assert_errno(errno.EINVAL, self.register, **args)
                print('%s: %s' % (what, err))
        self.register().close()

    def test_dmabuf_reg_mr_bad_fd(self):
        """A closed fd is refused with EBADF, a memfd (not a dma-buf) with EINVAL"""
        fd = os.open('/dev/null', os.O_RDONLY)
        os.close(fd)
        err = self.assert_errno(errno.EBADF, p2pmr.DmaBufMR, self.pd, fd, 0, PAGE)
        print('closed fd: %s' % err)
        memfd = os.memfd_create('p2pmr-not-a-dmabuf')
        try:
            os.ftruncate(memfd, PAGE)
            err = self.assert_errno(errno.EINVAL, p2pmr.DmaBufMR, self.pd, memfd, 0, PAGE)
            print('memfd: %s' % err)
        finally:
            os.close(memfd)


class MultiRangeTest(P2pmrTestCase):
    """dma-bufs of more than one BAR range."""

    OFFSET = 3 * MIB

    def test_adjacent_ranges(self):
        """Two adjacent BAR ranges register as one MR; a WRITE across the seam lands"""
        half = 64 * KIB
        buf = self.export([(self.OFFSET, half), (self.OFFSET + half, half)])
        self.assertEqual(buf.size, 2 * half)
        mr = self.reg(buf, 0, 2 * half)
        host = self.host_buffer(2 * half)
        pattern = os.urandom(2 * half)
        host.write(pattern)
        pair = self.pair()
        self.assert_status(pair.rdma(e.IBV_WR_RDMA_WRITE, host.addr, 2 * half, host.lkey,
                                     mr.iova, mr.rkey), e.IBV_WC_SUCCESS,
                           'RDMA WRITE over both ranges')
        self.assert_bytes(self.bar_read(self.OFFSET, 2 * half), pattern,
                          'the BAR (%s) after the WRITE' % self.where())
        self.assert_status(pair.rdma(e.IBV_WR_RDMA_READ, host.addr + half // 2, half, host.lkey,
                                     mr.iova + half // 2, mr.rkey),
                           e.IBV_WC_SUCCESS, 'RDMA READ across the seam')

    def test_scattered_ranges(self):
        """BAR ranges scattered, in reverse order and repeated register as one MR; WRITEs land"""
        layouts = {
            'scattered': [(self.OFFSET, PAGE), (self.OFFSET + 4 * PAGE, PAGE)],
            'adjacent in reverse order': [(self.OFFSET + PAGE, PAGE), (self.OFFSET, PAGE)],
            'one page twice': [(self.OFFSET + 8 * PAGE, PAGE), (self.OFFSET + 8 * PAGE, PAGE)],
        }
        pair = self.pair()
        for what, ranges in layouts.items():
            with self.subTest(what):
                buf = self.export(ranges)
                mr = self.reg(buf, 0, 2 * PAGE)
                host = self.host_buffer(2 * PAGE)
                pattern = os.urandom(2 * PAGE)
                host.write(pattern)
                self.assert_status(pair.rdma(e.IBV_WR_RDMA_WRITE, host.addr, 2 * PAGE,
                                             host.lkey, mr.iova, mr.rkey),
                                   e.IBV_WC_SUCCESS, 'RDMA WRITE over %s ranges' % what)
                # a page given twice holds what was written to it last
                want = {}
                for i, (off, _) in enumerate(ranges):
                    want[off] = pattern[i * PAGE:(i + 1) * PAGE]
                for off, data in want.items():
                    self.assert_bytes(self.bar_read(off, PAGE), data,
                                      'BAR page 0x%x (%s) after the WRITE' % (off, self.where()))
                print('%s ranges: the WRITE landed in each BAR page' % what)
