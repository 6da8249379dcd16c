# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""RC traffic into and out of dma-buf MRs (a VFIO BAR, a udmabuf) between
two QPs of one device, with the bytes checked where they land; wrong keys
and their completion statuses."""
import os

import pyverbs.enums as e

from .base import KIB, MIB, P2pmrTestCase

LENGTH = 64 * KIB        # 64 packets at MTU 1024
MR_LENGTH = 256 * KIB
MR_OFFSET = 4 * KIB      # where in the MR the transfers go


class TrafficMixin:
    """RDMA WRITE, RDMA READ and SEND with a dma-buf MR as the target.
    A subclass gives make_target(): an MR (iova, lkey, rkey) and
    target_read(offset, length) / target_write(offset, data), offsets in
    the MR, reading and writing the memory behind it with the CPU."""

    def setUp(self):
        super().setUp()
        self.mr = self.make_target()
        self.host = self.host_buffer(LENGTH)
        self.rc = self.pair()

    def test_rdma_write(self):
        """RDMA WRITE into the MR lands in its memory"""
        pattern = os.urandom(LENGTH)
        self.host.write(pattern)
        self.assert_status(self.rc.rdma(e.IBV_WR_RDMA_WRITE, self.host.addr, LENGTH,
                                        self.host.lkey, self.mr.iova + MR_OFFSET, self.mr.rkey),
                           e.IBV_WC_SUCCESS, 'RDMA WRITE')
        self.assert_bytes(self.target_read(MR_OFFSET, LENGTH), pattern,
                          'after the RDMA WRITE, %s' % self.target_name)

    def test_rdma_read(self):
        """RDMA READ from the MR returns its memory's bytes"""
        pattern = os.urandom(LENGTH)
        self.target_write(MR_OFFSET, pattern)
        self.assert_status(self.rc.rdma(e.IBV_WR_RDMA_READ, self.host.addr, LENGTH,
                                        self.host.lkey, self.mr.iova + MR_OFFSET, self.mr.rkey),
                           e.IBV_WC_SUCCESS, 'RDMA READ')
        self.assert_bytes(self.host.read(), pattern, 'host memory after the RDMA READ')

    def test_send(self):
        """A SEND received into the MR lands in its memory"""
        pattern = os.urandom(LENGTH)
        self.host.write(pattern)
        sent, received = self.rc.send((self.host.addr, self.host.lkey),
                                      (self.mr.iova + MR_OFFSET, self.mr.lkey), LENGTH)
        self.assert_status(sent, e.IBV_WC_SUCCESS, 'SEND')
        self.assert_status(received, e.IBV_WC_SUCCESS, 'receive into the MR')
        self.assert_bytes(self.target_read(MR_OFFSET, LENGTH), pattern,
                          'after the SEND, %s' % self.target_name)

    def test_send_from(self):
        """A SEND gathered from the MR arrives intact"""
        pattern = os.urandom(LENGTH)
        self.target_write(MR_OFFSET, pattern)
        sent, received = self.rc.send((self.mr.iova + MR_OFFSET, self.mr.lkey),
                                      (self.host.addr, self.host.lkey), LENGTH)
        self.assert_status(sent, e.IBV_WC_SUCCESS, 'SEND from the MR')
        self.assert_status(received, e.IBV_WC_SUCCESS, 'receive')
        self.assert_bytes(self.host.read(), pattern, 'host memory after the receive')


class BarTrafficTest(TrafficMixin, P2pmrTestCase):
    """Traffic with a VFIO BAR dma-buf MR (bytes: host file or VFIO mmap)."""

    BAR_OFFSET = 5 * MIB

    def make_target(self):
        _, mr = self.bar_mr(self.BAR_OFFSET, MR_LENGTH)
        self.target_name = 'the BAR (%s)' % self.where()
        return mr

    def target_read(self, offset, length):
        return self.bar_read(self.BAR_OFFSET + offset, length)

    def target_write(self, offset, data):
        self.bar_write(self.BAR_OFFSET + offset, data)


class UdmabufTrafficTest(TrafficMixin, P2pmrTestCase):
    """Traffic with a udmabuf MR (memfd pages; bytes: the memfd's mmap)."""

    needs_vfio = False

    def make_target(self):
        self.buf = self.udmabuf(MR_LENGTH)
        self.target_name = 'the memfd behind the udmabuf'
        return self.reg(self.buf, 0, MR_LENGTH)

    def target_read(self, offset, length):
        return bytes(self.buf.mem[offset:offset + length])

    def target_write(self, offset, data):
        self.buf.mem[offset:offset + len(data)] = data


class KeyTest(P2pmrTestCase):
    """Wrong keys and ranges on a BAR MR: the completion statuses."""

    BAR_OFFSET = 6 * MIB

    def setUp(self):
        super().setUp()
        _, self.mr = self.bar_mr(self.BAR_OFFSET, MR_LENGTH)
        self.host = self.host_buffer(LENGTH)
        self.before = self.bar_read(self.BAR_OFFSET, MR_LENGTH)
        self.host.write(os.urandom(LENGTH))

    def tearDown(self):
        self.assert_bytes(self.bar_read(self.BAR_OFFSET, MR_LENGTH), self.before,
                          'the BAR (%s) after failed work requests' % self.where())
        super().tearDown()

    def test_wrong_rkey_write(self):
        """RDMA WRITE with a wrong rkey: remote access error, the BAR untouched"""
        rc = self.pair()
        self.assert_status(rc.rdma(e.IBV_WR_RDMA_WRITE, self.host.addr, LENGTH, self.host.lkey,
                                   self.mr.iova, self.mr.rkey ^ 0xff),
                           e.IBV_WC_REM_ACCESS_ERR, 'RDMA WRITE with rkey ^ 0xff')
        # The QPs are in the error state now; new ones work with the right key.
        rc = self.pair()
        self.assert_status(rc.rdma(e.IBV_WR_RDMA_READ, self.host.addr, LENGTH, self.host.lkey,
                                   self.mr.iova, self.mr.rkey),
                           e.IBV_WC_SUCCESS, 'RDMA READ with the right rkey, new QPs')

    def test_wrong_rkey_read(self):
        """RDMA READ with a wrong rkey: remote access error"""
        rc = self.pair()
        self.assert_status(rc.rdma(e.IBV_WR_RDMA_READ, self.host.addr, LENGTH, self.host.lkey,
                                   self.mr.iova, self.mr.rkey ^ 0xff),
                           e.IBV_WC_REM_ACCESS_ERR, 'RDMA READ with rkey ^ 0xff')

    def test_rkey_past_mr_end(self):
        """RDMA WRITE with the right rkey past the MR's end: remote access error"""
        rc = self.pair()
        self.assert_status(rc.rdma(e.IBV_WR_RDMA_WRITE, self.host.addr, LENGTH, self.host.lkey,
                                   self.mr.iova + MR_LENGTH - LENGTH // 2, self.mr.rkey),
                           e.IBV_WC_REM_ACCESS_ERR, 'RDMA WRITE across the end of the MR')

    def test_wrong_lkey_read(self):
        """RDMA READ into the BAR MR with a wrong lkey: local protection error"""
        rc = self.pair()
        self.assert_status(rc.rdma(e.IBV_WR_RDMA_READ, self.mr.iova, LENGTH, self.mr.lkey ^ 0xff,
                                   self.host.addr, self.host.rkey),
                           e.IBV_WC_LOC_PROT_ERR, 'RDMA READ into lkey ^ 0xff')

    def test_wrong_lkey_write(self):
        """RDMA WRITE gathered from the BAR MR with a wrong lkey: local error"""
        rc = self.pair()
        status = rc.rdma(e.IBV_WR_RDMA_WRITE, self.mr.iova, LENGTH, self.mr.lkey ^ 0xff,
                         self.host.addr, self.host.rkey)
        # rxe's requester reports an lkey it cannot find, when gathering, as
        # a local QP operation error (rxe_req.c: copy_data() gives -EINVAL,
        # not -EFAULT); its completer, scattering a READ response, as a
        # protection error (the case above). Hardware: a protection error.
        want = e.IBV_WC_LOC_QP_OP_ERR if self.is_rxe else e.IBV_WC_LOC_PROT_ERR
        self.assert_status(status, want, 'RDMA WRITE from lkey ^ 0xff')
