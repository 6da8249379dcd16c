# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
"""p2pmr: RDMA memory regions over PCI BARs, from Python (ctypes over libp2pmr).

    import p2pmr
    from pyverbs.device import Context
    from pyverbs.pd import PD

    with p2pmr.Device('0000:03:00.0') as dev:
        buf = dev.export_dmabuf(2, [(0, 1 << 20)])
        ctx = Context(name='rxe0')
        pd = PD(ctx)
        with p2pmr.DmaBufMR(pd, buf, 0, 1 << 20, ctx=ctx) as mr:
            ...  # post work requests with mr.lkey / mr.rkey and mr.iova

Failures raise OSError(errno, message); the message names the cause and,
where there is one, the fix (p2pmr_last_error()).

The library is found through, in order: $P2PMR_LIB; the path CMake wrote
into _config.py (the build tree's lib/ for the copy in build/cmake/python,
the installed library for the installed module); its soname, also from
_config.py, through the loader's search path.
"""
import ctypes
import errno
import fcntl
import os
import struct

__all__ = ['Device', 'DmaBuf', 'DmaBufMR', 'BarInfo', 'BarMapping', 'last_error',
           'ACCESS_LOCAL_WRITE', 'ACCESS_REMOTE_WRITE', 'ACCESS_REMOTE_READ',
           'ACCESS_REMOTE_ATOMIC', 'ACCESS_RELAXED_ORDERING']

# enum ibv_access_flags (infiniband/verbs.h)
ACCESS_LOCAL_WRITE = 1
ACCESS_REMOTE_WRITE = 2
ACCESS_REMOTE_READ = 4
ACCESS_REMOTE_ATOMIC = 8
ACCESS_RELAXED_ORDERING = 1 << 20

_APIS = {'auto': 0, 'cdev': 1, 'group': 2}

# linux/vfio.h: VFIO_DEVICE_GET_REGION_INFO is _IO(';', 100 + 8); struct
# vfio_region_info is argsz, flags, index, cap_offset (u32), size, offset (u64).
_VFIO_DEVICE_GET_REGION_INFO = 0x3b6c
_VFIO_REGION_INFO = struct.Struct('=IIIIQQ')
_VFIO_PCI_CONFIG_REGION_INDEX = 7
# linux/pci_regs.h
PCI_COMMAND = 0x04
PCI_COMMAND_MEMORY = 0x2


class _BarInfo(ctypes.Structure):
    _fields_ = [('index', ctypes.c_uint), ('size', ctypes.c_uint64),
                ('region_offset', ctypes.c_uint64), ('is_memory', ctypes.c_bool),
                ('is_64bit', ctypes.c_bool), ('is_prefetchable', ctypes.c_bool),
                ('can_mmap', ctypes.c_bool)]


class _Range(ctypes.Structure):
    _fields_ = [('offset', ctypes.c_uint64), ('length', ctypes.c_uint64)]


class _MrKeys(ctypes.Structure):
    _fields_ = [('handle', ctypes.c_uint32), ('lkey', ctypes.c_uint32),
                ('rkey', ctypes.c_uint32)]


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
        'p2pmr_uverbs_reg_dmabuf_mr': (c.c_int, [c.c_int, c.c_uint32, c.c_uint64, c.c_uint64,
                                                 c.c_uint64, c.c_int, c.c_int,
                                                 c.POINTER(_MrKeys)]),
        'p2pmr_uverbs_dereg_mr': (c.c_int, [c.c_int, c.c_uint32]),
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

    def _config_region(self):
        """(offset, size) of the PCI config space region in the device fd."""
        query = _VFIO_REGION_INFO.pack(_VFIO_REGION_INFO.size, 0,
                                       _VFIO_PCI_CONFIG_REGION_INDEX, 0, 0, 0)
        reply = fcntl.ioctl(self.fd, _VFIO_DEVICE_GET_REGION_INFO, query)
        _, _, _, _, size, offset = _VFIO_REGION_INFO.unpack(reply)
        return offset, size

    def config_read(self, pos, length):
        """length bytes of PCI config space at pos, through VFIO."""
        offset, _ = self._config_region()
        data = os.pread(self.fd, length, offset + pos)
        if len(data) != length:
            raise OSError(errno.EIO, 'config space read of %d bytes at %#x gave %d'
                          % (length, pos, len(data)))
        return data

    def config_write(self, pos, data):
        """Write bytes to PCI config space at pos, through VFIO (which
        virtualises some registers: see the vfio-pci documentation)."""
        offset, _ = self._config_region()
        done = os.pwrite(self.fd, data, offset + pos)
        if done != len(data):
            raise OSError(errno.EIO, 'config space write of %d bytes at %#x wrote %d'
                          % (len(data), pos, done))

    def set_memory_decode(self, on):
        """Set or clear the memory space enable bit of PCI_COMMAND. Clearing
        it revokes the device's dma-bufs (MRs over them fail their accesses);
        setting it again restores them."""
        cmd = int.from_bytes(self.config_read(PCI_COMMAND, 2), 'little')
        cmd = cmd | PCI_COMMAND_MEMORY if on else cmd & ~PCI_COMMAND_MEMORY
        self.config_write(PCI_COMMAND, cmd.to_bytes(2, 'little'))

    def memory_decode(self):
        """True when the memory space enable bit of PCI_COMMAND is set."""
        cmd = int.from_bytes(self.config_read(PCI_COMMAND, 2), 'little')
        return bool(cmd & PCI_COMMAND_MEMORY)

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


class DmaBufMR(_Closing):
    """A dma-buf registered as an MR of a pyverbs PD.

    pd: a pyverbs PD (anything with .handle, the kernel's PD handle).
    dmabuf: a DmaBuf or a dma-buf fd. length defaults to the rest of the
    dma-buf after offset, iova to offset. ctx: the pyverbs Context of the PD
    (anything with .cmd_fd); Debian's pyverbs PD does not expose its
    context, so pass it unless pd has .ctx.

    Like p2pmr_reg_dmabuf_mr(): the provider first (pyverbs' own DmaBufMR,
    ibv_reg_dmabuf_mr(); only when iova == offset, which is all it can do),
    and when the provider lacks the op (EOPNOTSUPP, rxe), the kernel
    directly through the raw uverbs layer on ctx.cmd_fd with pd.handle.
    P2PMR_FORCE_UVERBS=1 skips the provider. (pyverbs 44's PD.pd property
    does not give the ibv_pd address, so the C entry point cannot be used.)

    Close the MR before its PD and Context (or use it in a with block).
    Attributes, as struct p2pmr_mr in C: lkey, rkey, handle, length, iova,
    offset, is_fallback; provider_mr is pyverbs' MR when the provider
    registered it (None on the fallback), like p2pmr_mr_ibv_mr(): it
    belongs to this object, which closes it.
    """

    def __init__(self, pd, dmabuf, offset=0, length=None, iova=None,
                 access=ACCESS_LOCAL_WRITE | ACCESS_REMOTE_WRITE | ACCESS_REMOTE_READ,
                 ctx=None):
        self._provider_mr = None
        self._cmd_fd = None
        self._pd = pd          # keeps the PD (and through it the context) alive
        self._ctx = ctx if ctx is not None else getattr(pd, 'ctx', None)
        fd = _fd_of(dmabuf)
        if length is None:
            size = ctypes.c_uint64()
            _check(_lib.p2pmr_dmabuf_size(fd, ctypes.byref(size)))
            length = size.value - offset
        self.offset = offset
        self.length = length
        self.iova = offset if iova is None else iova
        self.is_fallback = not self._reg_provider(pd, fd, access)
        if self.is_fallback:
            self._reg_uverbs(pd, fd, access)

    def _reg_provider(self, pd, fd, access):
        """True when the provider registered the MR; False: fall back."""
        force = os.environ.get('P2PMR_FORCE_UVERBS', '')
        if (force and force != '0') or self.iova != self.offset:
            return False
        try:
            from pyverbs.mr import DmaBufMR as ProviderDmaBufMR
            from pyverbs.pyverbs_error import PyverbsRDMAError
        except ImportError:
            return False
        try:
            mr = ProviderDmaBufMR(pd, self.length, access, dmabuf=fd, offset=self.offset)
        except PyverbsRDMAError as err:
            if err.error_code == errno.EOPNOTSUPP:
                return False
            raise OSError(err.error_code, 'the provider refused the dma-buf MR: %s' % err) from err
        self._provider_mr = mr
        self.handle, self.lkey, self.rkey = mr.handle, mr.lkey, mr.rkey
        return True

    def _reg_uverbs(self, pd, fd, access):
        if self._ctx is None:
            raise OSError(errno.EOPNOTSUPP,
                          'the provider has no dma-buf MRs and the kernel fallback needs the '
                          'PD\'s context: pass ctx=<pyverbs Context> to DmaBufMR')
        keys = _MrKeys()
        _check(_lib.p2pmr_uverbs_reg_dmabuf_mr(self._ctx.cmd_fd, pd.handle, self.offset,
                                               self.length, self.iova, fd, access,
                                               ctypes.byref(keys)))
        self._cmd_fd = self._ctx.cmd_fd
        self.handle, self.lkey, self.rkey = keys.handle, keys.lkey, keys.rkey

    @property
    def provider_mr(self):
        return self._provider_mr

    def close(self):
        if self._provider_mr is not None:
            self._provider_mr.close()
            self._provider_mr = None
        elif self._cmd_fd is not None:
            _check(_lib.p2pmr_uverbs_dereg_mr(self._cmd_fd, self.handle))
            self._cmd_fd = None
        self._pd = None
        self._ctx = None
