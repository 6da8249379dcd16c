#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""The p2pmr Python binding with Debian's pyverbs, one case per run.

usage: rdma_lib_test.py --list
       rdma_lib_test.py CASE --device PCI --bar N [--ib-dev rxe0] [--gid-index 0]
       rdma_lib_test.py --all DIR --device PCI ...

Each case prints what it did; on failure, what was expected and what came.
Exit status: 0 passed, 1 failed. --all runs every case, each in a child
process of its own forked after the imports (so that Python's start and
pyverbs' import are paid once), with its output in DIR/CASE.out and its
exit status in DIR/CASE.rc; exit status 0 once every case ran.
"""
import argparse
import errno
import os
import sys

import p2pmr
from pyverbs.addr import AHAttr, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
import pyverbs.enums as e
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import SGE, SendWR

MIB = 1 << 20
ACCESS = e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE | e.IBV_ACCESS_REMOTE_READ


class Failed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failed(what)


class Env:
    """The VFIO device, one dma-buf of 1 MiB of the BAR, an RDMA context and PD."""

    def __init__(self, args):
        self.args = args
        self.dev = p2pmr.Device(args.device)
        self.dmabuf = self.dev.export_dmabuf(args.bar, [(0, MIB)])
        self.ctx = Context(name=args.ib_dev)
        self.pd = PD(self.ctx)

    def close(self):
        self.pd.close()
        self.ctx.close()
        self.dmabuf.close()
        self.dev.close()


def case_bars(env):
    """the binding lists the BARs: the test BAR is a mappable memory BAR"""
    bars = {b.index: b for b in env.dev.bars()}
    print('BARs:', list(bars.values()))
    bar = bars.get(env.args.bar)
    expect(bar and bar.is_memory and bar.can_mmap,
           'BAR %d: expected a mappable memory BAR, got %r' % (env.args.bar, bar))


def case_dmabuf_supported(env):
    """the kernel exports the device's BARs: Device.dmabuf_supported() is True"""
    supported = env.dev.dmabuf_supported()
    print('dmabuf_supported(): %r %s' % (supported, p2pmr.last_error()))
    expect(supported is True, 'expected True, got %r (%s)' % (supported, p2pmr.last_error()))


def case_export(env):
    """an exported range is a dma-buf fd of that size"""
    with env.dev.export_dmabuf(env.args.bar, [(0, 64 << 10)]) as buf:
        size = p2pmr.DmaBuf(os.dup(buf.fd)).size
        print('dma-buf fd %d: %d bytes' % (buf.fd, size))
        expect(size == 64 << 10, 'expected 65536 bytes, fdinfo says %d' % size)


def register(env, **kwargs):
    try:
        return p2pmr.DmaBufMR(env.pd, env.dmabuf, 0, MIB, **kwargs)
    except OSError as err:
        raise Failed('registering the BAR dma-buf failed: errno %d: %s'
                     % (err.errno, err.strerror)) from err


def check_mr(mr, fallback):
    print('MR: handle %d lkey %#x rkey %#x length %d iova %#x fallback %s'
          % (mr.handle, mr.lkey, mr.rkey, mr.length, mr.iova, mr.is_fallback))
    expect(mr.length == MIB and mr.iova == 0, 'expected length 1 MiB at iova 0')
    if fallback is not None:
        expect(mr.is_fallback == fallback, 'expected fallback %s' % fallback)


def case_reg_default(env):
    """DmaBufMR on a pyverbs PD registers (provider, else the uverbs fallback)"""
    with register(env) as mr:
        check_mr(mr, None)


def case_reg_forced(env):
    """with P2PMR_FORCE_UVERBS=1 libp2pmr registers the MR by the kernel method"""
    forced('1')
    try:
        with register(env) as mr:
            check_mr(mr, True)
    finally:
        forced('')


def case_reg_iova(env):
    """an iova other than the offset registers (rxe of rdma-core 44: by the kernel method)"""
    try:
        mr = p2pmr.DmaBufMR(env.pd, env.dmabuf, 0, MIB, iova=1 << 30)
    except OSError as err:
        raise Failed('registering at iova 1 GiB failed: errno %d: %s'
                     % (err.errno, err.strerror)) from err
    with mr:
        print('MR: lkey %#x iova %#x fallback %s' % (mr.lkey, mr.iova, mr.is_fallback))
        expect(mr.iova == 1 << 30 and mr.is_fallback, 'expected iova 1 GiB, fallback')


def case_not_dmabuf(env):
    """a memfd instead of a dma-buf is refused with EINVAL naming the fd"""
    fd = os.memfd_create('not-a-dmabuf')
    os.ftruncate(fd, MIB)
    try:
        p2pmr.DmaBufMR(env.pd, fd, 0, MIB)
        raise Failed('a memfd was registered as a dma-buf MR')
    except OSError as err:
        print('refused:', err)
        expect(err.errno in (errno.EINVAL, errno.EBADF) and 'not a dma-buf' in err.strerror,
               'expected EINVAL "not a dma-buf fd", got errno %d: %s'
               % (err.errno, err.strerror))
    finally:
        os.close(fd)


def case_outside(env):
    """a range past the end of the dma-buf is refused with EINVAL naming it"""
    try:
        p2pmr.DmaBufMR(env.pd, env.dmabuf, MIB // 2, MIB)
        raise Failed('a range past the end of the dma-buf was registered')
    except OSError as err:
        print('refused:', err)
        expect(err.errno == errno.EINVAL and 'outside the dma-buf' in err.strerror,
               'expected EINVAL "outside the dma-buf", got errno %d: %s'
               % (err.errno, err.strerror))


def forced(value):
    """P2PMR_FORCE_UVERBS set to value ('' unsets it)."""
    if value:
        os.environ['P2PMR_FORCE_UVERBS'] = value
    else:
        os.environ.pop('P2PMR_FORCE_UVERBS', None)


def case_pd_close_closes_mrs(env):
    """PD.close() closes the PD's DmaBufMRs first (one of each path), as pyverbs' own MRs"""
    mrs = []
    for force in ('', '1'):
        forced(force)
        mrs.append(register(env))
    forced('')
    print('MRs: %s' % ', '.join('handle %d fallback %s' % (mr.handle, mr.is_fallback)
                                for mr in mrs))
    try:
        env.pd.close()
    except Exception as err:    # noqa: BLE001 - pyverbs raises its own types
        raise Failed('PD.close() with live DmaBufMRs failed (they were not closed first?): '
                     '%s' % err) from err
    for mr in mrs:
        mr.close()      # closed already: nothing to do, no error
    print('PD closed with its MRs; MR.close() afterwards is a no-op')


def case_context_close_closes_mrs(env):
    """Context.close() closes its PDs and, through them, their DmaBufMRs"""
    mr = register(env)
    try:
        env.ctx.close()
    except Exception as err:    # noqa: BLE001
        raise Failed('Context.close() with a live DmaBufMR failed: %s' % err) from err
    mr.close()
    print('context closed with its PD and MR (handle %d)' % mr.handle)


def case_mr_keeps_pd(env):
    """a DmaBufMR keeps its PD alive: the PD's last other reference dropped, the MR works"""
    pd = PD(env.ctx)
    mr = p2pmr.DmaBufMR(pd, env.dmabuf, 0, MIB)
    expect(mr.pd is pd, 'expected mr.pd to be the PD it was registered on')
    del pd
    mr.close()
    print('MR handle %d closed after its PD lost its other references' % mr.handle)


def case_not_a_pd(env):
    """a Context instead of a PD is refused with TypeError naming pyverbs.pd.PD"""
    try:
        p2pmr.DmaBufMR(env.ctx, env.dmabuf, 0, MIB)
        raise Failed('a Context was taken for a PD')
    except TypeError as err:
        print('refused:', err)
        expect('pyverbs.pd.PD' in str(err), 'expected the message to name pyverbs.pd.PD')


def case_closed_pd(env):
    """a closed PD is refused with EBADF"""
    pd = PD(env.ctx)
    pd.close()
    try:
        p2pmr.DmaBufMR(pd, env.dmabuf, 0, MIB)
        raise Failed('a closed PD was used')
    except OSError as err:
        print('refused:', err)
        expect(err.errno == errno.EBADF and 'closed' in err.strerror,
               'expected EBADF "the PD is closed", got errno %d: %s' % (err.errno, err.strerror))


def connect_pair(env):
    """Two RC QPs of the PD, connected to each other through GID gid_index."""
    cq = CQ(env.ctx, 16)
    init = QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq,
                      cap=QPCap(max_send_wr=4, max_recv_wr=4, max_send_sge=1, max_recv_sge=1))
    qps = [QP(env.pd, init), QP(env.pd, init)]
    gid = env.ctx.query_gid(1, env.args.gid_index)
    for qp, peer in ((qps[0], qps[1]), (qps[1], qps[0])):
        attr = QPAttr(port_num=1)
        attr.qp_access_flags = ACCESS
        attr.dest_qp_num = peer.qp_num
        attr.path_mtu = e.IBV_MTU_1024
        attr.max_dest_rd_atomic = attr.max_rd_atomic = 1
        attr.min_rnr_timer, attr.timeout, attr.retry_cnt, attr.rnr_retry = 12, 14, 7, 7
        route = GlobalRoute(dgid=gid, sgid_index=env.args.gid_index)
        attr.ah_attr = AHAttr(gr=route, is_global=1, port_num=1)
        qp.to_rts(attr)
    return cq, qps


def rdma_write(cq, qp, sge, remote_addr, rkey):
    wr = SendWR(opcode=e.IBV_WR_RDMA_WRITE, num_sge=1, sg=[sge],
                send_flags=e.IBV_SEND_SIGNALED)
    wr.set_wr_rdma(rkey, remote_addr)
    qp.post_send(wr)
    for _ in range(1000000):
        n, wcs = cq.poll()
        if n:
            expect(wcs[0].status == e.IBV_WC_SUCCESS,
                   'RDMA WRITE completed with status %d' % wcs[0].status)
            return
    raise Failed('no completion for the RDMA WRITE')


def case_qp_uses_keys(env):
    """pyverbs QPs post SGEs with the MR's lkey and target its rkey"""
    size = 64 << 10
    cq, qps = connect_pair(env)
    host = MR(env.pd, size, ACCESS)
    pattern = os.urandom(size)
    with register(env) as bar_mr, env.dev.mmap_bar(env.args.bar) as bar:
        host.write(pattern, size)
        rdma_write(cq, qps[0], SGE(host.buf, size, host.lkey), bar_mr.iova, bar_mr.rkey)
        expect(bytes(bar.buf[:size]) == pattern,
               'RDMA WRITE with rkey %#x: the BAR (VFIO mmap) does not hold the pattern'
               % bar_mr.rkey)
        bar.buf[:size] = pattern[::-1]
        rdma_write(cq, qps[0], SGE(bar_mr.iova, size, bar_mr.lkey), host.buf, host.rkey)
        expect(host.read(size, 0) == pattern[::-1],
               'RDMA WRITE from lkey %#x: host memory does not hold the BAR bytes'
               % bar_mr.lkey)
        print('64 KiB host -> BAR (rkey) and BAR (lkey) -> host: bytes match')
    for qp in qps:
        qp.close()
    host.close()
    cq.close()


CASES = {name[len('case_'):].replace('_', '-'): fn
         for name, fn in sorted(globals().items()) if name.startswith('case_')}


def run_case(args, name):
    """Run case @name with an Env of its own; its exit status."""
    env = Env(args)
    try:
        CASES[name](env)
    except Failed as err:
        print('FAILED: %s' % err, file=sys.stderr)
        return 1
    finally:
        env.close()
    print('passed')
    return 0


def run_all(args):
    """Every case in a forked child, its output and status under args.all."""
    os.makedirs(args.all, exist_ok=True)
    for name in CASES:
        base = os.path.join(args.all, name)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            out = os.open(base + '.out', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, 1)
            os.dup2(out, 2)
            rc = 1
            try:
                rc = run_case(args, name)
            except BaseException:   # pylint: disable=broad-except
                import traceback
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(rc)
        _, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        with open(base + '.rc', 'w') as f:
            f.write('%d\n' % rc)
        print('%s: exit status %d' % (name, rc))
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('case', nargs='?')
    parser.add_argument('--list', action='store_true')
    parser.add_argument('--all', metavar='DIR')
    parser.add_argument('--device')
    parser.add_argument('--bar', type=int, default=2)
    parser.add_argument('--ib-dev', default='rxe0')
    parser.add_argument('--gid-index', type=int, default=0)
    args = parser.parse_args()
    if args.list:
        for name, fn in CASES.items():
            print('%s\t%s' % (name, fn.__doc__))
        return 0
    if args.all and args.device:
        return run_all(args)
    if args.case not in CASES or not args.device:
        parser.error('a case (--list) or --all, and --device are needed')
    return run_case(args, args.case)


if __name__ == '__main__':
    sys.exit(main())
