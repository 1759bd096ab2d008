"""Pure numerical kernels: arrays in, arrays out; no registry, no configuration.

``constants`` imports only the standard library; ``numba_cpu`` needs numba and is imported
only by the Numba backend.
"""
