"""The README's findings block: read from the claims table, never typed."""

import pandas as pd

from paperlib.report.claims import COLUMNS, PRIMARY, SMOKE_VERDICT
from paperlib.report.outputs import findings_markdown
from paperlib.report.verdicts import INTERVAL_LABEL


def _row(claim: str, verdict: str, difference: str = "+0.10", interval: str = "[-0.20, +0.40] (n = 3)") -> dict:
    return {"claim": claim, "paper": "p", "test": "t", "this run": "r", "difference": difference,
            INTERVAL_LABEL: interval, "margin": "±0.5", "verdict": verdict}


def test_findings_count_the_verdicts_and_state_the_headline_and_the_claims_beyond_the_paper():
    table = pd.DataFrame([
        _row(PRIMARY, "not reproduced", "-3.41", "[-4.02, -2.80] (n = 3)"),
        _row("Parallel adapters beat series adapters", "unresolved"),
        _row("Adapting every conv beats adapting half of them", "reproduced"),
        _row("Joint SVD keeps the accuracy with half the adapter parameters", "equivalent"),
        _row("Of the single stages, the late one matters most", "unresolved (one replicate)"),
        _row("Parallel adapters hold up against LoRA-conv (peft) at equal budget (not in the paper)", "reproduced"),
        _row("Adapters catch up with finetuning as the source grows (beyond the paper)", "not reproduced"),
    ], columns=COLUMNS)
    text = findings_markdown(table, profile="mini", replicates=3)
    assert "mini profile, 3 replicates" in text
    assert "- 7 claims: 2 reproduced, 2 not reproduced, 1 equivalent, 2 unresolved." in text
    headline = next(line for line in text.splitlines() if "headline" in line)
    assert "-3.41" in headline and "[-4.02, -2.80] (n = 3)" in headline and "**not reproduced**" in headline
    beyond = next(line for line in text.splitlines() if line.startswith("- Beyond the paper"))
    assert '"Parallel adapters hold up against LoRA-conv (peft) at equal budget": reproduced' in beyond
    assert '"Adapters catch up with finetuning as the source grows": not reproduced' in beyond
    assert "series adapters" not in beyond


def test_findings_of_a_run_without_the_headline_or_judged_verdicts_say_so():
    table = pd.DataFrame([_row("Parallel adapters beat series adapters", SMOKE_VERDICT),
                          _row("A wider pretrained network helps", "n/a")], columns=COLUMNS)
    text = findings_markdown(table, profile="smoke", replicates=1)
    assert "1 replicate of" in text
    assert "- 2 claims: none judged, 2 not judged." in text
    assert "headline" not in text and "Beyond the paper" not in text
