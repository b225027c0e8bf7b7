"""The paper's promise for your own images: one shared network as a base file, a small adapter
file per new domain. `paperlib export-base` (`base`), `paperlib adapt` (`adapt`, on a folder of
images: `imagefolder`) and `paperlib predict` (`predict`). The file formats themselves are the
model's (`paperlib.model.adapter_files`).

It imports the rooms below it (`core`, `data`, `model`, `train`, `series`: the base network is
found in the results store); no other room imports it.
"""
