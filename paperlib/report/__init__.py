"""What the series shows, read from the results store and never trained: Table 1 (`table1`), the
claims and their verdicts (`claims`), the Decathlon score (`score`, sec. 4.1), Figure 4 and the
other figures (`plots`, `heatmap`, `pareto`), the training budgets (`budget`), the files and
README blocks it writes (`outputs`), and Table 1 on the test split where it is trained apart
(`test_phase`: from the labelled test split, or through the evaluation server: `unlabelled`,
`submissions`, `server_scores`, `cli`: `paperlib report`).

It imports every room below it (`core`, `data`, `model`, `train`, `series`); nothing imports it
but the command line.
"""
