"""One training run (paper sec. 4): its spec, hashed into its identity (`spec`), where and how it
runs (`runtime`), the one table of profiles (`profiles`), the data it reads (`run_data`,
`identity`), the engine (`engine`: `build` the model, `step` by step, `evaluation`, `decay`,
`distributed`, `checkpoint`), and the results store around it (`store`, `lock`, `run`:
`run_or_load` and `paperlib train`).

It imports `core`, `data` and `model`; never the series, the report or the commands above it.
"""
