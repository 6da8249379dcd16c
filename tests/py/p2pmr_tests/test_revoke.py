# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""Revocation of a BAR dma-buf under its MR: memory decode cleared through
the VFIO config region while traffic runs. Accesses to the MR fail with the
protection errors of IB (remote access error for the target, local
protection error for a local SGE), no byte reaches the BAR, and once
decode is back the same MR works on new QPs."""
import errno
import os
import threading
import time

import p2pmr
import pyverbs.enums as e

from .base import KIB, MIB, P2pmrTestCase, wc_status_str
from .vfio_config import memory_decode, set_memory_decode

LENGTH = 64 * KIB


class RevokeTest(P2pmrTestCase):
    """Memory decode off and on again under a BAR MR."""

    BAR_OFFSET = 10 * MIB

    def setUp(self):
        super().setUp()
        self.assertTrue(memory_decode(self.vfio), 'memory decode is off before the case')
        self.addCleanup(set_memory_decode, self.vfio, True)

    def traffic(self, rc, mr, host_w, host_r, stop, statuses):
        """RDMA WRITE host_w -> MR and READ MR -> host_r, one at a time,
        until one fails, stop is set or 120 s pass; statuses gets each."""
        end = time.monotonic() + 120
        i = 0
        while not stop.is_set() and time.monotonic() < end:
            host = host_r if i & 1 else host_w
            op = e.IBV_WR_RDMA_READ if i & 1 else e.IBV_WR_RDMA_WRITE
            try:
                status = rc.rdma(op, host.addr, LENGTH, host.lkey, mr.iova, mr.rkey)
            except AssertionError as err:   # no completion
                statuses.append(str(err))
                return
            statuses.append(status)
            if status != e.IBV_WC_SUCCESS:
                return
            i += 1

    def test_revoke_during_traffic(self):
        """Decode cleared mid-traffic: remote access / local protection errors, no byte written; restore works"""
        _, mr = self.bar_mr(self.BAR_OFFSET, LENGTH)
        host_w, host_r = self.host_buffer(LENGTH), self.host_buffer(LENGTH)
        pattern = os.urandom(LENGTH)
        host_w.write(pattern)

        rc = self.pair()
        stop, statuses = threading.Event(), []
        thread = threading.Thread(target=self.traffic,
                                  args=(rc, mr, host_w, host_r, stop, statuses))
        thread.start()
        try:
            end = time.monotonic() + 60
            while len(statuses) < 4 and thread.is_alive() and time.monotonic() < end:
                time.sleep(0.01)
            self.assertGreaterEqual(len(statuses), 4, 'traffic did not get going: %r' % statuses)
            self.assertTrue(all(s == e.IBV_WC_SUCCESS for s in statuses[:4]),
                            'traffic before the revoke: %r' % statuses)
            set_memory_decode(self.vfio, False)
            thread.join(60)
            self.assertFalse(thread.is_alive(), 'traffic went on 60 s after the revoke')
        finally:
            stop.set()
            thread.join()
        ok = len(statuses) - 1
        print('%d work requests succeeded, then %s' % (ok, statuses[-1] if isinstance(
            statuses[-1], str) else wc_status_str(statuses[-1])))
        self.assertTrue(all(s == e.IBV_WC_SUCCESS for s in statuses[:-1]),
                        'statuses before the first failure: %r' % statuses)
        self.assert_status(statuses[-1], e.IBV_WC_REM_ACCESS_ERR,
                           'the work request that met the revoke')

        # While revoked, each on new QPs (the failure moved the last ones to
        # the error state).
        host_w.write(os.urandom(LENGTH))
        self.assert_status(self.pair().rdma(e.IBV_WR_RDMA_WRITE, host_w.addr, LENGTH,
                                            host_w.lkey, mr.iova, mr.rkey),
                           e.IBV_WC_REM_ACCESS_ERR, 'RDMA WRITE into the revoked MR')
        self.assert_status(self.pair().rdma(e.IBV_WR_RDMA_READ, host_r.addr, LENGTH,
                                            host_r.lkey, mr.iova, mr.rkey),
                           e.IBV_WC_REM_ACCESS_ERR, 'RDMA READ from the revoked MR')
        self.assert_status(self.pair().rdma(e.IBV_WR_RDMA_WRITE, mr.iova, LENGTH, mr.lkey,
                                            host_r.addr, host_r.rkey),
                           e.IBV_WC_LOC_PROT_ERR, 'RDMA WRITE gathered from the revoked MR')
        self.assert_status(self.pair().rdma(e.IBV_WR_RDMA_READ, mr.iova, LENGTH, mr.lkey,
                                            host_r.addr, host_r.rkey),
                           e.IBV_WC_LOC_PROT_ERR, 'RDMA READ response into the revoked MR')
        sent, _ = self.pair().send((mr.iova, mr.lkey), (host_r.addr, host_r.lkey), LENGTH,
                                   recv_timeout=1)
        self.assert_status(sent, e.IBV_WC_LOC_PROT_ERR, 'SEND gathered from the revoked MR')
        sent, received = self.pair().send((host_w.addr, host_w.lkey), (mr.iova, mr.lkey),
                                          LENGTH)
        print('SEND into a receive in the revoked MR: send %s, receive %s'
              % (wc_status_str(sent), 'none' if received is None else wc_status_str(received)))
        if self.is_rxe:
            # rxe's responder fails the receive and NAKs with a remote
            # operational error (the receive WQE, not the rkey, was bad).
            self.assert_status(sent, e.IBV_WC_REM_OP_ERR, 'SEND into a revoked receive buffer')
            self.assert_status(received, e.IBV_WC_LOC_QP_OP_ERR, 'receive into the revoked MR')
        else:
            self.assertNotEqual(sent, e.IBV_WC_SUCCESS, 'SEND into a revoked receive buffer')
            self.assertNotEqual(received, e.IBV_WC_SUCCESS, 'receive into the revoked MR')

        set_memory_decode(self.vfio, True)
        self.assert_bytes(self.bar_read(self.BAR_OFFSET, LENGTH), pattern,
                          'the BAR (%s) after the revoke: the last pattern written before it'
                          % self.where())

        # Restored: the same MR works again on new QPs.
        again = os.urandom(LENGTH)
        host_w.write(again)
        rc = self.pair()
        self.assert_status(rc.rdma(e.IBV_WR_RDMA_WRITE, host_w.addr, LENGTH, host_w.lkey,
                                   mr.iova, mr.rkey), e.IBV_WC_SUCCESS,
                           'RDMA WRITE after the restore')
        self.assert_bytes(self.bar_read(self.BAR_OFFSET, LENGTH), again,
                          'the BAR (%s) after the restore' % self.where())
        self.assert_status(rc.rdma(e.IBV_WR_RDMA_READ, host_r.addr, LENGTH, host_r.lkey,
                                   mr.iova, mr.rkey), e.IBV_WC_SUCCESS,
                           'RDMA READ after the restore')
        self.assert_bytes(host_r.read(), again, 'RDMA READ after the restore')
        sent, received = rc.send((host_w.addr, host_w.lkey), (mr.iova, mr.lkey), LENGTH)
        self.assert_status(sent, e.IBV_WC_SUCCESS, 'SEND after the restore')
        self.assert_status(received, e.IBV_WC_SUCCESS, 'receive into the MR after the restore')

    def test_reg_while_revoked(self):
        """Registration while decode is off fails with ENODEV, and works once it is back"""
        old = self.export([(self.BAR_OFFSET + LENGTH, LENGTH)])
        set_memory_decode(self.vfio, False)
        new = self.export([(self.BAR_OFFSET + 2 * LENGTH, LENGTH)])
        for what, buf in (('exported before the revoke', old), ('exported while revoked', new)):
            err = self.assert_errno(errno.ENODEV, p2pmr.DmaBufMR, self.pd, buf, 0, LENGTH)
            print('%s: %s' % (what, err))
        set_memory_decode(self.vfio, True)
        host = self.host_buffer(LENGTH)
        pattern = os.urandom(LENGTH)
        host.write(pattern)
        for i, buf in enumerate((old, new)):
            mr = self.reg(buf, 0, LENGTH)
            self.assert_status(self.pair().rdma(e.IBV_WR_RDMA_WRITE, host.addr, LENGTH,
                                                host.lkey, mr.iova, mr.rkey),
                               e.IBV_WC_SUCCESS, 'RDMA WRITE after decode is back')
            self.assert_bytes(self.bar_read(self.BAR_OFFSET + (i + 1) * LENGTH, LENGTH),
                              pattern, 'the BAR (%s)' % self.where())
