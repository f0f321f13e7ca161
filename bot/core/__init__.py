"""The pure core: data in, data out. No I/O, no environment, no import of the adapters,
the pipeline or the faces (tests/test_layers.py holds it to that).
"""
