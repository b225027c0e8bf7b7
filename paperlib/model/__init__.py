"""The network and its per-domain parameters (paper sec. 3): ResNet-26 (`resnet`), residual
adapters in series and in parallel (`adapters`, sec. 3.1) and their fused training form
(`fused`), which parameters a method trains (`roles`), parameter and FLOP accounting (`sizes`,
Table 1's "#par"), joint SVD compression (`compress`, sec. 3.4), LoRA through peft (`lora`, not
in the paper), and networks and adapters as files (`weights`, `adapter_files`).

It imports `paperlib.core` only: nothing here knows about runs, data or experiments.
"""
