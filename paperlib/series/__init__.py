"""The notebook series: where it runs (`study`), each notebook's parameters (`params`), the paper's
experiments as plans of run specs (`plans`, `lora_front`), which notebook runs which plans
(`notebooks`), running and loading them (`running`), side by side (`workers`) or as SLURM jobs
(`cluster`), what they cost (`cost`), and `paperlib reproduce` with its runs log
(`reproduce`, `runs_log`).

It imports `core`, `data`, `model` and `train`; the report reads the series, never the other way.
"""
