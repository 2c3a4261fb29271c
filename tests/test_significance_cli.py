"""`erc-synth significance` on fixture tables: Markdown, JSON, LaTeX, per-seed input, plots and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from erc_synth.commands.significance import main
from trainers.significance import exact_pvalue_fraction

FIXTURES = Path(__file__).parent / "fixtures" / "significance"
SMALL = FIXTURES / "small.csv"
PAPER_LIKE = FIXTURES / "paper_like.csv"
PER_SEED = FIXTURES / "per_seed.csv"

EXPECTED_SMALL_MARKDOWN = """\
| Test set | tod_org | tod_natural | tod_balanced |
|---|---:|---:|---:|
| real_a | 61.20 (3) | 62.05 (2) | **63.40** (1) |
| real_b | 35.10 (2) | 34.80 (3) | **36.25** (1) |
| synth_c | 50.00 (3) | **51.75** (1.5) | **51.75** (1.5) |
| Rank sum | 8 | 6.5 | 3.5 |
| Difference |  | -1.5 | -4.5 |
| p (Bonferroni) |  | 1.0000 | 0.1296 |

Friedman chi2(2) = 3.8182, p = 0.1482; Iman-Davenport F(2, 4) = 3.5000, p = 0.1322 (k = 3 systems, n = 3 blocks).

| a | b | rank sum a | rank sum b | difference | p exact | p (Bonferroni) |
|---|---|---:|---:|---:|---:|---:|
| tod_natural | tod_org | 6.5 | 8 | -1.5 | 0.5556 | 1.0000 |
| tod_balanced | tod_org | 3.5 | 8 | -4.5 | 0.0648 | 0.1296 |

> Note: Tied scores in 1 of 3 blocks: mid-ranks were used, and the exact p-values assume no ties (a mid-rank \
difference is rounded up to the next integer), so treat them as approximate.
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_markdown_ranking_table_exact_text(capsys):
    code, out, _ = run(capsys, SMALL)
    assert code == 0
    assert out == EXPECTED_SMALL_MARKDOWN


def test_json_has_omnibus_and_the_default_six_comparisons(capsys):
    code, out, _ = run(capsys, PAPER_LIKE, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["k"] == 9 and report["n"] == 9 and report["ties"] is False
    assert set(report["omnibus"]) >= {"chi2", "p_chi2", "f", "p_f"}
    pairs = [(c["a"], c["b"]) for c in report["comparisons"]]
    assert pairs == [
        ("alpha_natural", "alpha_org"),
        ("alpha_balanced", "alpha_org"),
        ("beta_natural", "beta_org"),
        ("beta_balanced", "beta_org"),
        ("gamma_natural", "gamma_org"),
        ("gamma_balanced", "gamma_org"),
    ]
    beta_balanced = report["comparisons"][3]
    assert set(beta_balanced) == {"a", "b", "rank_sum_a", "rank_sum_b", "difference", "p_exact", "p_adjusted"}
    assert (beta_balanced["rank_sum_a"], beta_balanced["rank_sum_b"], beta_balanced["difference"]) == (16, 50, -34)
    p = exact_pvalue_fraction(34, 9, 9)
    assert beta_balanced["p_exact"] == float(p)
    assert beta_balanced["p_adjusted"] == float(6 * p)
    assert report["rank_sums"]["gamma_org"] == 78


def test_control_and_holm(capsys):
    code, out, _ = run(capsys, PAPER_LIKE, "--control", "gamma_org", "--correction", "holm", "--json")
    assert code == 0
    comparisons = json.loads(out)["comparisons"]
    assert len(comparisons) == 8 and all(c["b"] == "gamma_org" for c in comparisons)
    exact = sorted(Fraction(c["p_exact"]) for c in comparisons)
    smallest = min(comparisons, key=lambda c: c["p_exact"])
    assert smallest["p_adjusted"] == pytest.approx(min(1.0, 8 * float(exact[0])))


def test_explicit_comparisons_and_latex(capsys):
    code, out, _ = run(
        capsys, PAPER_LIKE, "--compare", "beta_balanced:alpha_balanced", "alpha_org:gamma_org", "--latex"
    )
    assert code == 0
    assert out.startswith("\\begin{tabular}{lrrrrrrrrr}\n\\toprule\nTest set & alpha\\_org & alpha\\_natural")
    assert "set\\_1 & 60.11 (6) & 60.87 (4) & 61.42 (2) & 60.35 (5) & 61.02 (3) & \\textbf{62.14} (1)" in out
    assert "Rank sum & 50 & 26 & 26 & 50 & 22 & 16 & 78 & 68 & 69 \\\\" in out
    assert "Difference & $-28$ &  &  &  &  & $-10$ &  &  &  \\\\\n" in out
    assert "$p$ (Bonferroni) & 0.0332 &  &  &  &  & 0.8360 &  &  &  \\\\\n" in out
    assert "beta\\_balanced & alpha\\_balanced & 16 & 26 & $-10$ & 0.4180 & 0.8360 \\\\\n" in out


def test_per_seed_table_mean_and_blocks(capsys):
    code, out, _ = run(capsys, PER_SEED, "--json")
    mean = json.loads(out)
    assert code == 0 and mean["n"] == 2 and mean["test_sets"] == ["real_a", "real_b"]
    # means over seeds: real_a 61.2 / 62.05 / 63.4, real_b 35.1 / 34.8 / 36.25 -> ranks (3,2,1) and (2,3,1)
    assert mean["rank_sums"] == {"tod_org": 5, "tod_natural": 5, "tod_balanced": 2}
    code, out, _ = run(capsys, PER_SEED, "--json", "--seeds", "blocks")
    blocks = json.loads(out)
    assert blocks["n"] == 4 and blocks["test_sets"][1] == "real_a@seed=2"
    assert blocks["rank_sums"] == {"tod_org": 10, "tod_natural": 10, "tod_balanced": 4}


def test_lower_is_better_flips_the_ranks(capsys):
    _, out, _ = run(capsys, SMALL, "--json", "--lower-is-better")
    assert json.loads(out)["rank_sums"] == {"tod_org": 4, "tod_natural": 5.5, "tod_balanced": 8.5}


def test_plot_writes_a_png_and_reports_the_exact_cd(capsys, tmp_path):
    target = tmp_path / "cd.png"
    code, _, err = run(capsys, PAPER_LIKE, "--plot", target)
    assert code == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 5000
    # 6 comparisons at alpha 0.05 for k = n = 9: d* = 31, i.e. 31 / 9 average ranks
    assert "CD = 3.444 average ranks" in err
    assert not [p for p in tmp_path.iterdir() if p.name != "cd.png"]


@pytest.mark.parametrize(
    "content,args,message",
    [
        ("test_set,a,b\nt1,0.5,\nt2,0.4,0.3\n", [], "line 2, column 'b': the value is missing"),
        ("test_set,a,b\nt1,0.5,0.6\nt2,0.4,abc\n", [], "line 3, column 'b': 'abc' is not a number"),
        ("test_set,a\nt1,0.5\nt2,0.4\n", [], "at least 2 systems"),
        ("test_set,a,b\nt1,0.5,0.6\n", ["--compare", "a:c"], "Unknown system 'c'"),
        ("test_set,a,b\nt1,0.5,0.6\n", ["--control", "B"], "Unknown system 'B' in --control. Did you mean 'b'?"),
    ],
)
def test_bad_tables_and_names_exit_1_with_a_clear_message(capsys, tmp_path, content, args, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, out, err = run(capsys, path, *args)
    assert code == 1 and out == ""
    assert err.startswith(f"erc-synth significance: {path}") and message in err


def test_console_script_entry_point():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    code = "from erc_synth.cli import main; raise SystemExit(main())"
    result = subprocess.run(
        [sys.executable, "-c", code, "significance", str(SMALL)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == EXPECTED_SMALL_MARKDOWN


@pytest.mark.parametrize(
    "args,message",
    [
        (["--alpha", "1.5"], "--alpha (alpha) must be a number in (0, 1), but got 1.5"),
        (["--digits", "-1"], "--digits"),
    ],
)
def test_bad_options_exit_1(capsys, args, message):
    code, out, err = run(capsys, SMALL, *args)
    assert code == 1 and out == "" and message in err and "Traceback" not in err


def test_missing_file_exits_1(capsys, tmp_path):
    code, _, err = run(capsys, tmp_path / "nope.csv")
    assert code == 1 and f"{str(tmp_path / 'nope.csv')!r} does not exist" in err


def test_baseline_columns_are_the_floor_shown_but_never_ranked(capsys, tmp_path):
    table = tmp_path / "table.csv"
    floor = {"real_a": ("31.27", "47.19"), "real_b": ("20.00", "30.50"), "synth_c": ("10.00", "40.00")}
    lines = SMALL.read_text().splitlines()
    rows = [lines[0] + ",majority,tfidf_lr"]
    rows += [f"{line},{','.join(floor[line.split(',')[0]])}" for line in lines[1:] if line.strip()]
    table.write_text("\n".join(rows) + "\n")
    code, out, _ = run(capsys, table)
    assert code == 0
    # The systems' ranks, rank sums and p-values are those of the table without the floor.
    without_floor = EXPECTED_SMALL_MARKDOWN.splitlines()
    lines = out.splitlines()
    assert lines[0] == without_floor[0] + " majority (floor) | tfidf_lr (floor) |"
    assert lines[2] == without_floor[2] + " 31.27 | 47.19 |"
    assert lines[5] == without_floor[5] + " - | - |"
    assert lines[8:] == without_floor[8:]
    report = json.loads(run(capsys, table, "--json")[1])
    assert report["k"] == 3 and "majority" not in report["systems"]
    assert report["floors"] == {"majority": [31.27, 20.0, 10.0], "tfidf_lr": [47.19, 30.5, 40.0]}
