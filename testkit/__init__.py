"""The fake Bot API, process harnesses and helpers that tests and benchmarks share.

Not application code: no application package imports it (an import contract says so), and
it imports nothing from ``tests``, so the scripts in ``bench/`` can use it as well.
"""
