"""CUDA support. Importing this package never imports pycuda: only :mod:`runtime.cuda.device` does."""
