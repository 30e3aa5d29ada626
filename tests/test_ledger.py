"""The claims ledger: rows from comparisons, Holm's adjustment, storage and the generated Markdown table."""
import json

import numpy as np
import pytest

from samlab import evidence, ledger
from samlab.paths import project_root


@pytest.fixture
def seeds_dir():
    path = project_root().parent / "shared" / "seeds"
    if not path.is_dir():
        pytest.skip(f"the seed texts are not beside the checkout ({path})")
    return path


def _comparison(diff, sd=1.0, n=5, seed=0):
    rng = np.random.default_rng(seed)
    d = diff + sd * rng.standard_normal(n)
    d = d - d.mean() + diff          # the mean is exactly `diff`
    return evidence.paired_difference(d, np.zeros(n))


def test_every_claim_has_source_quote_and_test_and_unique_key():
    keys = [c.key for c in ledger.CLAIMS]
    assert len(keys) == len(set(keys))
    for c in ledger.CLAIMS:
        assert c.source and c.quote and c.test and c.notebook
        assert "seeds/" in c.source or "arXiv" in c.source, c.source


def test_quotes_are_in_the_seed_texts(seeds_dir):
    """Each quote appears word for word in the seed it cites (whitespace and markup aside)."""
    import re
    texts = {p.name[:3]: re.sub(r"\s+", " ", p.read_text(errors="replace")) for p in seeds_dir.glob("0*.txt")}
    # whitespace, emphasis and a word hyphenated across a page break ("am- plified") are not the words
    norm = lambda s: re.sub(r"(\w)- (\w)", r"\1\2", re.sub(r"[*_]", "", re.sub(r"\s+", " ", s)))  # noqa: E731
    for c in ledger.CLAIMS:
        m = re.search(r"seeds/(\d{3})", c.source)
        if m is None:     # a claim from outside the seeds (cited by its arXiv number)
            continue
        assert norm(c.quote) in norm(texts[m.group(1)]), f"{c.key}: quote not found in seed {m.group(1)}"


def test_finding_from_comparison_points_and_verdicts():
    up = ledger.finding("clipping", _comparison(0.05, sd=0.01), subject="SAM + clipping vs SAM", scale="quick")
    assert up.verdict == "supported" and up.estimate == pytest.approx(5.0) and up.low < 5 < up.high
    assert up.seeds_needed is None
    down = ledger.finding("clipping", _comparison(-0.05, sd=0.01), subject="x", scale="quick")
    assert down.verdict == "contradicted"
    flipped = ledger.finding("clipping", _comparison(-0.05, sd=0.01), subject="x", scale="quick", direction=-1)
    assert flipped.verdict == "supported"
    c = _comparison(0.01, sd=0.05, n=3)
    unresolved = ledger.finding("clipping", c, subject="x", scale="quick")
    assert unresolved.verdict == "unresolved"
    sd = c.difference / c.effect_size   # the observed sd of the per-seed differences
    assert unresolved.seeds_needed == evidence.seeds_needed(0.01 / abs(sd)) > 3


def test_unknown_claim_and_bad_verdict_are_refused():
    with pytest.raises(KeyError, match="no claim"):
        ledger.finding("nope", _comparison(1.0), subject="x", scale="quick")
    with pytest.raises(ValueError, match="verdict"):
        ledger.exact_finding("pareto", subject="x", scale="quick", verdict="maybe", note="")


def test_holm_turns_marginal_rows_unresolved():
    strong = ledger.finding("clipping", _comparison(0.05, sd=0.01), subject="strong", scale="q")
    d = np.array([0.005, 0.035, 0.02, 0.01, 0.03])   # mean 0.02, sd 0.0127: t = 3.5 on 4 dof, p = 0.025
    marginal = ledger.finding("noise", evidence.paired_difference(d, np.zeros(5)), subject="m", scale="q")
    assert marginal.verdict == "supported" and 0.0167 < marginal.p_value < 0.05
    adjusted = ledger.adjust([strong] + [marginal] * 3)
    # Holm: the three equal p-values take multipliers 3, 2, 1 and the running maximum: 3 p for all three
    assert [f.p_adjusted for f in adjusted[1:]] == pytest.approx([3 * marginal.p_value] * 3)
    assert all(f.verdict == "unresolved" and "Holm" in f.note for f in adjusted[1:])
    # d_z = 0.02 / 0.0127 = 1.58: 5 seeds at alpha 0.05, more at Bonferroni's 0.05 / 4 (hand: power table)
    sd = float(np.std(d, ddof=1))
    assert adjusted[1].seeds_needed == evidence.seeds_needed(0.02 / sd, alpha=0.05 / 4) > 5
    assert adjusted[0].verdict == "supported" and adjusted[0].p_adjusted == pytest.approx(4 * strong.p_value)
    assert ledger.adjust([marginal])[0] == marginal   # one test alone: nothing to adjust


def test_save_load_and_markdown(tmp_path):
    rows = [ledger.finding("clipping", _comparison(0.05, sd=0.01), subject="SAM + clipping vs SAM", scale="quick"),
            ledger.exact_finding("pareto", subject="frontier", scale="quick", verdict="unresolved",
                                 note="2 of 4 frontier settings are SAMSON")]
    ledger.save(rows, "05", folder=tmp_path / "ledger")
    assert json.loads((tmp_path / "ledger" / "05.json").read_text())["notebook"] == "05"
    assert ledger.load(tmp_path / "ledger")["05"] == rows
    md = ledger.write_ledger(tmp_path / "ledger", out=tmp_path / "l.md").read_text()
    assert "2 findings: 1 supported, 0 contradicted, 1 unresolved" in md
    assert "SAM + clipping vs SAM" in md and "Pareto frontier" in md and md.count("\n| ") >= 3
    with pytest.raises(ValueError, match="notebook"):
        ledger.save(rows, "../x", folder=tmp_path)


def test_each_row_says_how_likely_a_rerun_agrees():
    """Wiring: a row's rerun_agrees is evidence.rerun_probabilities for its verdict, at its Holm step after adjust."""
    d = np.array([0.005, 0.035, 0.02, 0.01, 0.03])   # t = 3.5 on 4 dof: supported alone, not under Holm over 4
    row = ledger.finding("noise", evidence.paired_difference(d, np.zeros(5)), subject="m", scale="q")
    above, _, _ = evidence.rerun_probabilities(row.estimate, row.low, row.high, df=4)
    assert row.rerun_agrees == pytest.approx(above, abs=1e-3) and 0.3 < row.rerun_agrees < 0.8
    strong = ledger.finding("clipping", _comparison(0.05, sd=0.01), subject="strong", scale="q")
    assert strong.rerun_agrees > 0.9
    adjusted = ledger.adjust([strong, row, row, row])
    # the three marginal rows are unresolved after Holm; each row's agreement is computed at its own step
    steps = [3, 2, 1]          # equal p-values: Holm's multipliers 3, 2, 1 in order
    for f, k in zip(adjusted[1:], steps):
        _, _, neither = evidence.rerun_probabilities(row.estimate, row.low, row.high, df=4, tests=k)
        assert f.verdict == "unresolved" and f.rerun_agrees == pytest.approx(neither, abs=1e-3)
    assert "a rerun with new seeds agrees: about" in str(adjusted[1])
    exact = ledger.exact_finding("pareto", subject="x", scale="q", verdict="unresolved", note="n")
    assert exact.rerun_agrees is None and "rerun" not in str(exact)
