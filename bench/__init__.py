"""CaChannel's performance comparison: ``python -m bench`` (see bench/run.py).

Not part of the test suite: nothing here asserts on time.
"""
