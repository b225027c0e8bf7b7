"""`paperlib bench`: how fast the reproduction trains, infers and feeds itself (`main`), from
shared timing pieces (`core`), the CPU variants of a step (`cpu`), the data pipeline against the
authors' (`pipeline`), peak memory (`memory`) and what is made of the figures (`report`).

It imports `core`, `data`, `model` and `train` (the engine's own step); no other room imports it.
"""
