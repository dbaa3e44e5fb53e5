import csv
import json
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from statsmodels.stats import inter_rater

from evaluations.analysis import agreement_block, cohen_kappa, fleiss_kappa, krippendorff_alpha

STATSMODELS = "statsmodels_inter_rater"


def _expected(refdata: Path, folder: str) -> dict:
    return json.loads((refdata / folder / "expected.json").read_text())


@pytest.mark.refdata
def test_sas_cohen_kappa_table_with_standard_errors(refdata: Path) -> None:
    table = np.loadtxt(
        refdata / STATSMODELS / "sas_cohen_table10.csv",
        delimiter=",",
        skiprows=1,
        usecols=(1, 2, 3),
    )
    sas = _expected(refdata, STATSMODELS)["sas_cohen_table10.csv"]["expected"]
    linear = 1 - np.abs(np.subtract.outer(range(3), range(3))) / 2
    for result, printed in (
        (cohen_kappa(table), sas["unweighted"]),
        (cohen_kappa(table, linear), sas["weighted_linear_(Cicchetti-Allison, scores 0,1,2)"]),
    ):
        assert result["kappa"] == pytest.approx(printed["kappa"], abs=5e-5)
        assert result["se"] == pytest.approx(printed["ASE"], abs=5e-5)
        assert result["se_h0"] == pytest.approx(printed["ASE_H0"], abs=5e-5)
        assert result["z"] == pytest.approx(printed["Z"], abs=5e-5)
        assert [result["ci_low"], result["ci_high"]] == pytest.approx(printed["ci95"], abs=5e-5)
        assert result["p_value"] == pytest.approx(printed["p_two_sided"], abs=5e-5)


def _irr_table(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    levels = np.unique(np.r_[x, y])
    table = np.zeros((len(levels), len(levels)))
    np.add.at(table, (np.searchsorted(levels, x), np.searchsorted(levels, y)), 1)
    return table


def _toeplitz(vector: list[float]) -> np.ndarray:
    v = np.asarray(vector, dtype=float)
    k = len(v)
    distance = np.abs(np.subtract.outer(range(k), range(k)))
    return 1 - (v[distance] - v.min()) / (v.max() - v.min())


@pytest.mark.refdata
def test_r_irr_kappa2_on_anxiety_ratings(refdata: Path) -> None:
    ratings = np.loadtxt(
        refdata / STATSMODELS / "irr_anxiety_ratings.csv", delimiter=",", skiprows=1
    )[:, 1:]
    cases = _expected(refdata, STATSMODELS)["irr_anxiety_ratings.csv"]["expected"]
    r1, r2, r3 = ratings.T
    k5 = np.abs(np.subtract.outer(range(5), range(5)))
    weights = {
        "kappa2(r1,r2, weights c(0,0,0,1,1,1))": (r1, r2, _toeplitz([0, 0, 0, 1, 1, 1])),
        "kappa2(r1,r2, weights c(0,0,1,1,2,2))": (r1, r2, _toeplitz([0, 0, 1, 1, 2, 2])),
        "kappa2(r2,r3) unweighted": (r2, r3, None),
        "kappa2(r2,r3,'equal')": (r2, r3, 1 - k5 / 4),
        "kappa2(r2,r3,'squared')": (r2, r3, 1 - k5**2 / 16),
        "kappa2(r2,r3, weights c(0,0,1,1,2))": (r2, r3, _toeplitz([0, 0, 1, 1, 2])),
    }
    for name, (x, y, w) in weights.items():
        result = cohen_kappa(_irr_table(x, y), w)
        assert result["kappa"] == pytest.approx(cases[name]["kappa"], abs=5e-7), name
        assert result["z"] == pytest.approx(cases[name]["z"], abs=5e-6), name
        assert result["p_value"] == pytest.approx(cases[name]["p"], abs=5e-7), name


@pytest.mark.refdata
def test_fleiss_kappa_wikipedia_and_fleiss_1971(refdata: Path) -> None:
    expected = _expected(refdata, STATSMODELS)
    wiki = np.loadtxt(
        refdata / STATSMODELS / "fleiss_wikipedia_counts.csv", delimiter=",", skiprows=1
    )[:, 1:]
    result = fleiss_kappa(wiki)
    assert round(result["kappa"], 3) == 0.210
    assert round(result["p_bar"], 3) == expected["fleiss_wikipedia_counts.csv"]["expected"]["P_bar"]
    assert round(result["p_e"], 3) == expected["fleiss_wikipedia_counts.csv"]["expected"]["P_e_bar"]
    ratings = np.loadtxt(
        refdata / STATSMODELS / "fleiss1971_diagnoses_ratings.csv", delimiter=",", skiprows=1
    )[:, 1:]
    counts = np.stack([(ratings == k).sum(axis=1) for k in range(1, 6)], axis=1)
    published = expected["fleiss1971_diagnoses_ratings.csv"]["expected"]
    result = fleiss_kappa(counts)
    assert result["kappa"] == pytest.approx(published["fleiss_kappa"], abs=5e-8)
    assert result["z"] == pytest.approx(published["z"], abs=5e-6)
    assert [round(k, 3) for k in result["category_kappas"]] == pytest.approx(
        published["category_kappas_computed"], abs=1e-9
    )


def _krippendorff_counts(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = list(csv.reader(path.open()))[1:]
    matrix = np.array([[float(x) if x else np.nan for x in row[1:]] for row in rows])
    values = np.unique(matrix[~np.isnan(matrix)])
    return np.stack([(matrix == v).sum(axis=0) for v in values], axis=1), values, matrix


@pytest.mark.refdata
def test_krippendorff_2011_examples(refdata: Path) -> None:
    expected = _expected(refdata, "krippendorff_examples")
    for name, block in expected.items():
        if not name.endswith(".csv"):
            continue
        counts, values, _ = _krippendorff_counts(refdata / "krippendorff_examples" / name)
        for metric, value in block["expected"].items():
            digits = len(str(value).split(".")[1])
            assert krippendorff_alpha(counts, metric, values) == pytest.approx(
                value, abs=0.5 * 10**-digits
            ), (name, metric)


def test_cohen_kappa_equals_statsmodels_on_random_tables() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        table = rng.integers(0, 30, (3, 3)).astype(float) + np.eye(3) * 10
        ours = cohen_kappa(table)
        theirs = inter_rater.cohens_kappa(table)
        assert ours["kappa"] == pytest.approx(theirs.kappa, abs=1e-12)
        assert ours["se"] == pytest.approx(theirs.std_kappa, abs=1e-12)
        assert ours["se_h0"] == pytest.approx(theirs.std_kappa0, abs=1e-12)


def test_fleiss_kappa_equals_statsmodels_on_random_tables() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        counts = rng.multinomial(5, rng.dirichlet(np.ones(3)), size=40)
        assert fleiss_kappa(counts)["kappa"] == pytest.approx(
            inter_rater.fleiss_kappa(counts), abs=1e-12
        )


def test_krippendorff_alpha_equals_the_krippendorff_package_with_missing_data() -> None:
    rng = np.random.default_rng(2)
    for _ in range(10):
        matrix = rng.integers(0, 3, (4, 50)).astype(float)
        matrix[rng.random(matrix.shape) < 0.3] = np.nan
        counts = np.stack([(matrix == v).sum(axis=0) for v in range(3)], axis=1)
        for metric in ("nominal", "ordinal", "interval"):
            assert krippendorff_alpha(counts, metric, np.arange(3.0)) == pytest.approx(
                krippendorff.alpha(
                    reliability_data=matrix,
                    level_of_measurement=metric,
                    value_domain=[0.0, 1.0, 2.0],
                ),
                abs=1e-10,
            )


def test_percent_agreement_counts_each_pair_of_different_raters_once() -> None:
    # Unit 0: raters 0,1,2 say first, first, tie -> 3 pairs, 1 agrees; without ties 1 of 1.
    # Unit 1: raters 0,1 say second, first -> 1 pair, 0 agree; without ties 0 of 1.
    # Unit 2: rater 0 twice (a repeat, dropped) -> no pair.
    unit = np.array([0, 0, 0, 1, 1, 2, 2])
    rater = np.array([0, 1, 2, 0, 1, 0, 0])
    label = np.array([0, 0, 1, 2, 0, 1, 1])
    block = agreement_block(unit, rater, label, ["r0", "r1", "r2"], min_shared=1)
    agreement = block["percent_agreement"]
    assert agreement["vote_pairs_with_ties"] == 4
    assert agreement["with_ties"] == pytest.approx(1 / 4)
    assert agreement["vote_pairs_without_ties"] == 2
    assert agreement["without_ties"] == pytest.approx(1 / 2)
    assert block["repeat_votes_dropped"] == 1
    pairs = {(c["rater_1"], c["rater_2"]): c["shared_items"] for c in block["cohen_kappa"]}
    assert pairs == {("r0", "r1"): 2, ("r0", "r2"): 1, ("r1", "r2"): 1}
    loo = {row["rater"]: row for row in block["leave_one_out_majority"]}
    # Only unit 0 has two other votes; for r2 the others agree on "first", r2 said tie.
    assert loo["r2"]["agreement"] == 0.0
    assert loo["r0"]["votes"] == 0 if "r0" in loo else True


@pytest.mark.refdata
def test_fleiss_kappa_on_the_randolph_tables(refdata: Path) -> None:
    cases = _expected(refdata, STATSMODELS)["randolph_tables"]["cases"]
    checked = 0
    for case in cases:
        if "fleiss" not in case:
            continue
        result = fleiss_kappa(np.array(case["table"]))
        assert result["kappa"] == pytest.approx(case["fleiss"], abs=5e-7)
        if "overall_agreement" in case:
            assert result["p_bar"] == pytest.approx(case["overall_agreement"], abs=5e-7)
        checked += 1
    assert checked == 4
