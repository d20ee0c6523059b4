# Shared C-level declarations for the zenws.fast modules (cimport-able by users).
from libc.stdint cimport int64_t, uint16_t, uint64_t


cdef extern from "zenws_compat.h" nogil:
    int64_t zenws_monotonic_ns() noexcept
    uint16_t zenws_load_be16(const unsigned char* p) noexcept
    uint64_t zenws_load_be64(const unsigned char* p) noexcept
    void zenws_store_be16(unsigned char* p, uint16_t v) noexcept
    void zenws_store_be64(unsigned char* p, uint64_t v) noexcept


# The one CPU-feature detector and dispatcher (zenws_cpu.h, compiled into
# zenws.fast.frame): ZENWS_CPU_* bits of this machine.  An extension other than frame
# stores frame's cpu_api_c() in zenws_cpu_link before calling anything here.
cdef extern from "zenws_cpu.h" nogil:
    ctypedef struct zenws_cpu_api:
        pass
    unsigned int zenws_cpu_features() noexcept
