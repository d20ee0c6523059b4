"""zenws.fast: the compiled hot-path primitives (Cython over C kernels in ext/).

Each submodule is a compiled extension with a ``.pxd`` that other Cython code
(including yours) can ``cimport``.  There is no pure-Python fallback: a missing
extension raises ImportError here.
"""
