# OpenMP thread setting shared by the kernel modules: each .pyx does
# `include "threads.pxi"` (a textual include, so every compiled module keeps its
# own setting) and passes its own thresholds to _threads_for.

cdef extern from "omp.h" nogil:
    int omp_get_max_threads()

cdef int _num_threads = 0          # 0: OpenMP's default (OMP_NUM_THREADS or the cores)


def set_num_threads(int n):
    """Threads for this module's kernels (n >= 1), or 0 for the OpenMP default."""
    global _num_threads
    if n < 0:
        raise ValueError("n must be >= 0")
    _num_threads = n


def get_num_threads():
    """Threads a large kernel call of this module will use."""
    return _num_threads if _num_threads > 0 else omp_get_max_threads()


cdef inline int _threads_for(Py_ssize_t work, Py_ssize_t min_work) noexcept nogil:
    """One thread below ``min_work`` (waking a sleeping worker costs tens of
    microseconds, more than small jobs take), else the configured count."""
    if work < min_work:
        return 1
    return _num_threads if _num_threads > 0 else omp_get_max_threads()
