# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""p2pmr: RDMA memory regions over PCI BARs, from Python (ctypes over libp2pmr).

    import p2pmr
    from pyverbs.device import Context
    from pyverbs.pd import PD

    with p2pmr.Device('0000:03:00.0') as dev:
        buf = dev.export_dmabuf(2, [(0, 1 << 20)])
        ctx = Context(name='rxe0')
        pd = PD(ctx)
        with p2pmr.DmaBufMR(pd, buf, 0, 1 << 20) as mr:
            ...  # post work requests with mr.lkey / mr.rkey and mr.iova

Access flags, QP types and the rest are pyverbs' (pyverbs.enums); this
module defines none of its own.

Failures raise OSError(errno, message); the message names the cause and,
where there is one, the fix (p2pmr_last_error()).

The library is found through, in order: $P2PMR_LIB; the path CMake wrote
into _config.py (the build tree's lib/ for the copy in build/cmake/python,
the installed library for the installed module); its soname, also from
_config.py, through the loader's search path.
"""
import ctypes
import errno
import gc
import os
import weakref

__all__ = ['Device', 'DmaBuf', 'DmaBufMR', 'BarInfo', 'BarMapping', 'last_error']

_APIS = {'auto': 0, 'cdev': 1, 'group': 2}


class _BarInfo(ctypes.Structure):
    _fields_ = [('index', ctypes.c_uint), ('size', ctypes.c_uint64),
                ('region_offset', ctypes.c_uint64), ('is_memory', ctypes.c_bool),
                ('is_64bit', ctypes.c_bool), ('is_prefetchable', ctypes.c_bool),
                ('can_mmap', ctypes.c_bool)]


class _Range(ctypes.Structure):
    _fields_ = [('offset', ctypes.c_uint64), ('length', ctypes.c_uint64)]


class _Mr(ctypes.Structure):
    """struct p2pmr_mr"""
    _fields_ = [('pd', ctypes.c_void_p), ('iova', ctypes.c_uint64),
                ('length', ctypes.c_uint64), ('lkey', ctypes.c_uint32),
                ('rkey', ctypes.c_uint32), ('handle', ctypes.c_uint32)]


def _library_path():
    from . import _config
    if os.environ.get('P2PMR_LIB'):
        return os.environ['P2PMR_LIB']
    if os.path.exists(_config.LIBRARY):
        return _config.LIBRARY
    return _config.SONAME


def _declare(lib):
    c = ctypes
    protos = {
        'p2pmr_last_error': (c.c_char_p, []),
        'p2pmr_device_open': (c.c_int, [c.c_char_p, c.c_int, c.POINTER(c.c_void_p)]),
        'p2pmr_device_close': (None, [c.c_void_p]),
        'p2pmr_device_fd': (c.c_int, [c.c_void_p]),
        'p2pmr_device_api': (c.c_int, [c.c_void_p]),
        'p2pmr_device_bar_info': (c.c_int, [c.c_void_p, c.c_uint, c.POINTER(_BarInfo)]),
        'p2pmr_bar_mmap': (c.c_int, [c.c_void_p, c.c_uint, c.POINTER(c.c_void_p),
                                     c.POINTER(c.c_size_t)]),
        'p2pmr_bar_munmap': (c.c_int, [c.c_void_p, c.c_size_t]),
        'p2pmr_dmabuf_supported': (c.c_bool, [c.c_void_p]),
        'p2pmr_dmabuf_export': (c.c_int, [c.c_void_p, c.c_uint, c.POINTER(_Range), c.c_uint,
                                          c.POINTER(c.c_int)]),
        'p2pmr_dmabuf_size': (c.c_int, [c.c_int, c.POINTER(c.c_uint64)]),
        'p2pmr_reg_dmabuf_mr': (c.POINTER(_Mr), [c.c_void_p, c.c_uint64, c.c_size_t,
                                                 c.c_uint64, c.c_int, c.c_int]),
        'p2pmr_dereg_mr': (c.c_int, [c.POINTER(_Mr)]),
        'p2pmr_mr_is_fallback': (c.c_bool, [c.POINTER(_Mr)]),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


_lib = _declare(ctypes.CDLL(_library_path(), use_errno=True))


def last_error():
    """The message of this thread's last failed libp2pmr call."""
    return _lib.p2pmr_last_error().decode(errors='replace')


def _check(ret):
    """Raise OSError for libp2pmr's errno return (0: success)."""
    if ret:
        raise OSError(ret, last_error())


class BarInfo:
    """What a BAR is: index, size, region_offset, is_memory, is_64bit,
    is_prefetchable, can_mmap."""

    def __init__(self, info):
        for name, _ in _BarInfo._fields_:
            setattr(self, name, getattr(info, name))

    def __repr__(self):
        flags = [n for n in ('is_memory', 'is_64bit', 'is_prefetchable', 'can_mmap')
                 if getattr(self, n)]
        return 'BarInfo(index=%d, size=%#x, %s)' % (self.index, self.size, ', '.join(flags))


class _Closing:
    """close() on exit from a with block and at garbage collection."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing to tell at collection time
            pass


class DmaBuf(_Closing):
    """A dma-buf fd (owned: close() closes it) and its size in bytes."""

    def __init__(self, fd, size=None):
        self.fd = None         # owned only once known to be a dma-buf
        if size is None:
            value = ctypes.c_uint64()
            _check(_lib.p2pmr_dmabuf_size(fd, ctypes.byref(value)))
            size = value.value
        self.fd = fd
        self.size = size

    def fileno(self):
        return self.fd

    def close(self):
        if self.fd is not None and self.fd >= 0:
            os.close(self.fd)
        self.fd = None


class BarMapping(_Closing):
    """A BAR mapped through VFIO; .buf is a writable memoryview of it."""

    def __init__(self, addr, length):
        self._addr = addr
        self.length = length
        self.buf = memoryview((ctypes.c_char * length).from_address(addr)).cast('B')

    def close(self):
        if self._addr:
            self.buf.release()
            _lib.p2pmr_bar_munmap(self._addr, self.length)
        self._addr = None


class Device(_Closing):
    """A PCI device bound to vfio-pci, opened through VFIO (api: auto, cdev, group)."""

    def __init__(self, pci_addr, api='auto'):
        if api not in _APIS:
            raise ValueError('api must be one of %s' % ', '.join(_APIS))
        self._dev = None
        handle = ctypes.c_void_p()
        _check(_lib.p2pmr_device_open(pci_addr.encode(), _APIS[api], ctypes.byref(handle)))
        self._dev = handle
        self.pci_addr = pci_addr

    @property
    def fd(self):
        return _lib.p2pmr_device_fd(self._dev)

    @property
    def api(self):
        code = _lib.p2pmr_device_api(self._dev)
        return next(name for name, value in _APIS.items() if value == code)

    def bar_info(self, bar):
        info = _BarInfo()
        _check(_lib.p2pmr_device_bar_info(self._dev, bar, ctypes.byref(info)))
        return BarInfo(info)

    def bars(self):
        """The implemented BARs (size not 0)."""
        return [info for info in (self.bar_info(i) for i in range(6)) if info.size]

    def dmabuf_supported(self):
        """True when the kernel can export this device's BARs as dma-bufs;
        when not, last_error() says why."""
        return _lib.p2pmr_dmabuf_supported(self._dev)

    def export_dmabuf(self, bar, ranges=None):
        """Export [(offset, length), ...] of a BAR (default: all of it) as one DmaBuf."""
        if ranges is None:
            ranges = [(0, self.bar_info(bar).size)]
        array = (_Range * len(ranges))(*[_Range(o, n) for o, n in ranges])
        fd = ctypes.c_int(-1)
        _check(_lib.p2pmr_dmabuf_export(self._dev, bar, array, len(ranges),
                                        ctypes.byref(fd)))
        return DmaBuf(fd.value, sum(n for _, n in ranges))

    def mmap_bar(self, bar):
        addr = ctypes.c_void_p()
        length = ctypes.c_size_t()
        _check(_lib.p2pmr_bar_mmap(self._dev, bar, ctypes.byref(addr), ctypes.byref(length)))
        return BarMapping(addr.value, length.value)

    def close(self):
        if self._dev:
            _lib.p2pmr_device_close(self._dev)
        self._dev = None


def _fd_of(dmabuf):
    return dmabuf.fileno() if hasattr(dmabuf, 'fileno') else int(dmabuf)


# pyverbs 44 (Debian 12) keeps the struct ibv_pd * of a PD and the set of
# MRs that PD.close() closes first in C fields of its Cython PD object, and
# gives Python neither: PD.pd casts the pointer to a Python object (fixed
# upstream by rdma-core commit 47c3855f3, "pyverbs: Change PD object return
# type", in rdma-core 59), PD.add_ref() is a C method. The object is laid
# out from pyverbs/base.pxd and pyverbs/pd.pxd of rdma-core 44: PyObject
# header, __weakref__, logger, the vtable pointer (16..39), then pd (40),
# ctx (48), the weak sets srqs (56), mrs (64), mws, ahs, qps,
# parent_domains, wqs, mkeys, deks, and _is_imported: 136 bytes. The
# layout is checked before a pointer is trusted: the size of the type, and
# the word at 64 must be the address of one of the weak sets the PD
# reports to the garbage collector.
_PYVERBS44_PD_SIZE = 136
_PYVERBS44_PD_PD = 40
_PYVERBS44_PD_MRS = 64


class _IbvPd(ctypes.Structure):
    """The head of struct ibv_pd (infiniband/verbs.h): context, handle."""
    _fields_ = [('context', ctypes.c_void_p), ('handle', ctypes.c_uint32)]


def _pyverbs_pd(pd):
    """(address of pd's struct ibv_pd, pd's weak set of MRs) of a pyverbs PD."""
    from pyverbs.pd import PD
    if not isinstance(pd, PD):
        raise TypeError('pd must be a pyverbs.pd.PD, got %s' % type(pd).__name__)
    if PD.__basicsize__ != _PYVERBS44_PD_SIZE:
        raise OSError(errno.EOPNOTSUPP,
                      'this pyverbs (PD object of %d bytes) is not the one p2pmr knows '
                      '(rdma-core 44: %d bytes): its PD does not give the ibv_pd and its MR set'
                      % (PD.__basicsize__, _PYVERBS44_PD_SIZE))
    word = ctypes.c_void_p.from_address(id(pd) + _PYVERBS44_PD_MRS).value
    mrs = [obj for obj in gc.get_referents(pd)
           if isinstance(obj, weakref.WeakSet) and id(obj) == word]
    if not mrs:
        raise OSError(errno.EOPNOTSUPP, 'the pyverbs PD is not laid out as in rdma-core 44: '
                      'no MR set at offset %d' % _PYVERBS44_PD_MRS)
    addr = ctypes.c_void_p.from_address(id(pd) + _PYVERBS44_PD_PD).value
    if not addr:
        raise OSError(errno.EBADF, 'the PD is closed')
    if _IbvPd.from_address(addr).handle != pd.handle:
        raise OSError(errno.EOPNOTSUPP, 'the pyverbs PD is not laid out as in rdma-core 44: '
                      'its ibv_pd has handle %d, PD.handle is %d'
                      % (_IbvPd.from_address(addr).handle, pd.handle))
    return addr, mrs[0]


class DmaBufMR(_Closing):
    """A dma-buf registered as an MR of a pyverbs PD: p2pmr_reg_dmabuf_mr().

    pd: a pyverbs.pd.PD. dmabuf: a DmaBuf or a dma-buf fd. length defaults
    to the rest of the dma-buf after offset, iova to offset, access to
    local write, remote write and remote read (pyverbs.enums flags).

    libp2pmr chooses the way (p2pmr_reg_dmabuf_mr(3)): the provider's
    ibv_reg_dmabuf_mr(), else the kernel's method on the PD's context;
    is_fallback says which did it.

    As pyverbs' own DmaBufMR: the MR keeps its PD alive, and the PD knows
    the MR: PD.close() (and Context.close(), which closes its PDs) closes
    the MR first. close() is idempotent. Attributes, as struct p2pmr_mr:
    lkey, rkey, handle, length, iova; offset; is_fallback.
    """

    def __init__(self, pd, dmabuf, offset=0, length=None, iova=None, access=None):
        self._mr = None
        if access is None:
            from pyverbs import enums
            access = (enums.IBV_ACCESS_LOCAL_WRITE | enums.IBV_ACCESS_REMOTE_WRITE |
                      enums.IBV_ACCESS_REMOTE_READ)
        pd_addr, pd_mrs = _pyverbs_pd(pd)
        fd = _fd_of(dmabuf)
        if length is None:
            size = ctypes.c_uint64()
            _check(_lib.p2pmr_dmabuf_size(fd, ctypes.byref(size)))
            length = size.value - offset
        mr = _lib.p2pmr_reg_dmabuf_mr(pd_addr, offset, length,
                                      offset if iova is None else iova, fd, access)
        if not mr:
            raise OSError(ctypes.get_errno(), last_error())
        self._mr = mr
        self.pd = pd
        self.offset = offset
        self.length = mr.contents.length
        self.iova = mr.contents.iova
        self.lkey = mr.contents.lkey
        self.rkey = mr.contents.rkey
        self.handle = mr.contents.handle
        self.is_fallback = _lib.p2pmr_mr_is_fallback(mr)
        pd_mrs.add(self)

    def close(self):
        if self._mr:
            _check(_lib.p2pmr_dereg_mr(self._mr))
        self._mr = None
        self.pd = None
