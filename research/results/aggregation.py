"""A study's votes as the analysis module's input, aggregated in SQL, and its cached results.

Ranking never loads vote rows: the database groups a study's votes into cells of
(candidate a, candidate b, outcome, side shown, category, gold answer) with a count, and the
cells are expanded into `VoteArrays` in numpy (`np.repeat`), which is exact for everything the
ranking computes. Agreement and biases need each vote's rater, item and answer lengths, so
`study_vote_arrays(detail=True)` reads one row per vote over indexed columns: slower, and
computed only when those are asked for.

Results are cached under a key holding the study's "votes version": the newest vote id (one
index probe, so votes added by any process or by bulk inserts show up) and a generation counter
bumped by signals when a vote, a pair's gold answer, a rater's flag or a candidate changes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Q

from evaluations.analysis import A_WINS, B_WINS, BOTH_BAD, TIE, VoteArrays
from evaluations.analysis.style_features import STYLE_FEATURES
from evaluations.models import Candidate, Output, Pair, Prompt, Study
from evaluations.output_style import STYLE_COLUMNS, outputs_style_fill
from raters.models import CriterionVote, Membership, Vote
from research.results.cache_versioning import study_votes_version

CACHE_TIMEOUT = 24 * 3600
CHOICE_CODES = {"a": A_WINS, "b": B_WINS, "tie": TIE, "both_bad": BOTH_BAD}


@dataclass(frozen=True)
class ResultOptions:
    """The analysis options (as `manage.py analyze`) plus which raters' votes to leave out."""

    ties: str = "half"
    both_bad: str = "tie"
    bootstrap: int = 0
    seed: int | None = None
    category: str | None = None
    anchor: str | None = None
    cluster: str = "auto"
    power: float = 0.8
    exclude_flagged: bool = False
    exclude_gold_failures: bool = False
    exclude_raters: tuple[int, ...] = field(default_factory=tuple)
    turn: int | None = None  # only the votes on this turn of multi-turn conversations

    def analysis_kwargs(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "ties": self.ties,
            "both_bad": self.both_bad,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
            "category": self.category,
            "anchor": self.anchor,
            "cluster": self.cluster,
            "power": self.power,
        }

    def cache_token(self) -> str:
        values = asdict(self)
        if values["turn"] is None:  # the tokens stored before turns existed stay valid
            del values["turn"]
        raw = json.dumps(values, sort_keys=True, default=list)
        return hashlib.sha256(raw.encode()).hexdigest()[:20]


# --- which raters count ------------------------------------------------------------------------


def study_gold_failures(*, study: Study) -> list[int]:
    """Raters whose accuracy on the study's gold pairs is below `study.gold_min_accuracy`."""
    rows = (
        Vote.objects.filter(study=study)
        .exclude(pair__gold_answer="")
        .values("rater_id")
        .annotate(
            total=Count("id"),
            correct=Count("id", filter=Q(choice=F("pair__gold_answer"))),
        )
    )
    return sorted(
        row["rater_id"]
        for row in rows
        if row["total"] and row["correct"] / row["total"] < study.gold_min_accuracy
    )


def study_excluded_raters(*, study: Study, options: ResultOptions) -> list[int]:
    excluded = set(options.exclude_raters)
    if options.exclude_flagged:
        excluded.update(
            Membership.objects.filter(study=study, flagged=True).values_list("rater_id", flat=True)
        )
    if options.exclude_gold_failures:
        excluded.update(study_gold_failures(study=study))
    return sorted(excluded)


# --- votes -> arrays ---------------------------------------------------------------------------


def _rater_filter(excluded: list[int]) -> tuple[str, list[int]]:
    if not excluded:
        return "", []
    return f" AND v.rater_id NOT IN ({', '.join(['%s'] * len(excluded))})", list(excluded)


def study_vote_cells(*, study: Study, excluded_raters: list[int]) -> list[tuple]:
    """Counts of the study's votes per (candidate a, candidate b, choice, category, gold
    answer, turn), grouped in the database.

    Votes carry copies of their pair's candidates and prompt, so the grouping reads one table
    (in parallel on PostgreSQL) joined only to the study's prompts and its few gold pairs,
    both small enough to hash. Rows written without the copies (bulk writers that leave them
    out) are grouped through the pair instead; the partial index vote_study_uncopied finds
    them in one probe, normally none.
    """
    rater_sql, rater_params = _rater_filter(excluded_raters)
    vote, pair, output, prompt = (
        Vote._meta.db_table,
        Pair._meta.db_table,
        Output._meta.db_table,
        Prompt._meta.db_table,
    )
    gold = f"SELECT id, gold_answer FROM {pair} WHERE study_id = %s AND gold_answer <> ''"
    copied = f"""
        SELECT v.candidate_a_id, v.candidate_b_id, v.choice, pr.category, g.gold_answer,
               v.turn, COUNT(*)
        FROM {vote} v
        JOIN {prompt} pr ON pr.id = v.prompt_id
        LEFT JOIN ({gold}) g ON g.id = v.pair_id
        WHERE v.study_id = %s AND v.candidate_a_id IS NOT NULL{rater_sql}
        GROUP BY v.candidate_a_id, v.candidate_b_id, v.choice, pr.category, g.gold_answer, v.turn
    """  # noqa: S608 - table names come from model metadata, values are parameters
    uncopied = f"""
        SELECT oa.candidate_id, ob.candidate_id, v.choice, pr.category, p.gold_answer, v.turn,
               COUNT(*)
        FROM {vote} v
        JOIN {pair} p ON p.id = v.pair_id
        JOIN {output} oa ON oa.id = p.output_a_id
        JOIN {output} ob ON ob.id = p.output_b_id
        JOIN {prompt} pr ON pr.id = p.prompt_id
        WHERE v.study_id = %s AND v.candidate_a_id IS NULL{rater_sql}
        GROUP BY oa.candidate_id, ob.candidate_id, v.choice, pr.category, p.gold_answer, v.turn
    """  # noqa: S608 - table names come from model metadata, values are parameters
    counts: dict[tuple, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(copied, [study.pk, study.pk, *rater_params])
        rows = cursor.fetchall()
        cursor.execute(uncopied, [study.pk, *rater_params])
        rows += cursor.fetchall()
    for *key, n in rows:
        # The gold join yields NULL for ordinary pairs, which store "" as their gold answer.
        key[4] = key[4] or ""
        counts[tuple(key)] = counts.get(tuple(key), 0) + n
    return [(*key, n) for key, n in counts.items()]


def _codes(values: list[Any]) -> tuple[np.ndarray, list[Any]]:
    names = sorted(set(values), key=str)
    index = {name: k for k, name in enumerate(names)}
    return np.fromiter((index[v] for v in values), dtype=np.int32, count=len(values)), names


def _model_codes(
    study: Study, a_ids: list[int], b_ids: list[int]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Candidate ids -> codes into the labels of the candidates that have votes, in id order."""
    labels = dict(Candidate.objects.filter(study=study).values_list("id", "label"))
    present = sorted(set(a_ids) | set(b_ids))
    index = {cid: k for k, cid in enumerate(present)}
    codes_a = np.fromiter((index[c] for c in a_ids), dtype=np.int32, count=len(a_ids))
    codes_b = np.fromiter((index[c] for c in b_ids), dtype=np.int32, count=len(b_ids))
    return codes_a, codes_b, [labels[cid] for cid in present]


def _gold_codes(answers: list[str]) -> np.ndarray:
    return np.fromiter(
        (CHOICE_CODES.get(a, -1) for a in answers), dtype=np.int8, count=len(answers)
    )


def study_vote_arrays_aggregated(*, study: Study, excluded_raters: list[int]) -> VoteArrays:
    """The study's votes without rater or item, from SQL cells expanded in numpy."""
    cells = study_vote_cells(study=study, excluded_raters=excluded_raters)
    if not cells:
        empty = np.zeros(0, dtype=np.int32)
        return VoteArrays(model_a=empty, model_b=empty, outcome=empty.astype(np.int8), models=[])
    cand_a, cand_b, choice, category, gold, turn, count = (
        list(col) for col in zip(*cells, strict=True)
    )
    repeats = np.asarray(count, dtype=np.int64)
    model_a, model_b, models = _model_codes(study, cand_a, cand_b)
    category_codes, categories = _codes(category)
    outcome = np.fromiter((CHOICE_CODES[c] for c in choice), dtype=np.int8, count=len(choice))
    return VoteArrays(
        model_a=np.repeat(model_a, repeats),
        model_b=np.repeat(model_b, repeats),
        outcome=np.repeat(outcome, repeats),
        models=models,
        category=np.repeat(category_codes, repeats),
        categories=[str(c) for c in categories],
        gold_answer=np.repeat(_gold_codes(gold), repeats),
        **_turn_arrays(np.repeat(np.asarray(_turn_numbers(turn), dtype=np.int64), repeats)),
    )


def _turn_numbers(turns: list[int | None]) -> list[int]:
    return [0 if t is None else t for t in turns]


def _turn_arrays(turn: np.ndarray) -> dict[str, Any]:
    """Each vote's turn as VoteArrays codes ("" for a whole conversation), or nothing when no
    vote has a turn (a study voted per conversation: its documents stay as they were)."""
    if not len(turn) or not turn.any():
        return {}
    codes, values = _array_codes(turn)
    return {"turn": codes, "turns": ["" if v == 0 else str(v) for v in values]}


def _array_codes(values: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """`_codes` of an integer array, vectorised: the same codes and names in the same order."""
    unique, inverse = np.unique(values, return_inverse=True)
    names = unique.tolist()
    order = sorted(range(len(names)), key=lambda k: str(names[k]))
    rank = np.empty(len(names), dtype=np.int32)
    rank[order] = np.arange(len(names), dtype=np.int32)
    return rank[inverse].astype(np.int32), [names[k] for k in order]


def _study_output_table(study: Study) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The study's outputs as sorted ids, their candidates and their stored style features.

    Outputs written without style columns (raw SQL) get them first: normally one index probe."""
    outputs_style_fill(Output.objects.filter(candidate__study=study))
    columns = list(STYLE_COLUMNS.values())
    rows = list(
        Output.objects.filter(prompt__study=study)
        .order_by("id")
        .values_list("id", "candidate_id", *columns)
    )
    table = np.asarray(rows, dtype=np.float64).reshape(len(rows), 2 + len(columns))
    style = {name: table[:, 2 + k] for k, name in enumerate(STYLE_COLUMNS)}
    return table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), style


def study_vote_arrays_detailed(*, study: Study, excluded_raters: list[int]) -> VoteArrays:
    """One entry per vote with pseudonymous rater, item (pair) and the answers' lengths and
    style features (stored per output: see evaluations.output_style).

    Votes are read as integer columns (the choice and gold answer coded in SQL) straight into
    numpy arrays; per-output and per-prompt values are joined in numpy by id."""
    rater_sql, rater_params = _rater_filter(excluded_raters)
    choice_code = " ".join(f"WHEN '{name}' THEN {code}" for name, code in CHOICE_CODES.items())
    columns_sql = f"""
               p.output_a_id, p.output_b_id, CASE {{choice}} {choice_code} END,
               CASE WHEN v.left_output_id = p.output_a_id THEN 1 ELSE 0 END,
               v.rater_id, v.pair_id, p.prompt_id,
               CASE p.gold_answer {choice_code} ELSE -1 END, COALESCE({{strength}}, 0),
               COALESCE(v.turn, 0)
    """
    sql = f"""
        SELECT {columns_sql.format(choice="v.choice", strength="v.strength")}
        FROM {Vote._meta.db_table} v
        JOIN {Pair._meta.db_table} p ON p.id = v.pair_id
        WHERE v.study_id = %s{rater_sql}
    """  # noqa: S608 - table names come from model metadata, values are parameters
    # A study with criteria: each criterion's answers too, as votes of their own criterion.
    criteria_sql = f"""
        SELECT {columns_sql.format(choice="c.choice", strength="c.strength")}, c.criterion
        FROM {CriterionVote._meta.db_table} c
        JOIN {Vote._meta.db_table} v ON v.id = c.vote_id
        JOIN {Pair._meta.db_table} p ON p.id = v.pair_id
        WHERE v.study_id = %s{rater_sql}
    """  # noqa: S608 - table names come from model metadata, values are parameters
    criterion_rows: list[tuple] = []
    with connection.cursor() as cursor:
        cursor.execute(sql, [study.pk, *rater_params])
        rows = cursor.fetchall()
        if study.criteria:
            cursor.execute(criteria_sql, [study.pk, *rater_params])
            criterion_rows = cursor.fetchall()
    if not rows:
        return study_vote_arrays_aggregated(study=study, excluded_raters=excluded_raters)
    criteria = ["", *sorted({row[-1] for row in criterion_rows})]
    criterion = np.r_[
        np.zeros(len(rows), dtype=np.int32),
        np.fromiter(
            (criteria.index(row[-1]) for row in criterion_rows),
            dtype=np.int32,
            count=len(criterion_rows),
        ),
    ]
    rows += [row[:-1] for row in criterion_rows]
    columns = np.asarray(rows, dtype=np.int64).reshape(len(rows), 10)
    del rows
    out_a, out_b, choice, left, rater, pair, prompt, gold, strength, turn = columns.T
    output_ids, output_candidate, style = _study_output_table(study)
    row_a = np.searchsorted(output_ids, out_a)
    row_b = np.searchsorted(output_ids, out_b)
    model_a, model_b, models = _model_codes(
        study, output_candidate[row_a].tolist(), output_candidate[row_b].tolist()
    )
    prompt_codes, prompt_ids = _array_codes(prompt)
    categories_by_prompt = dict(Prompt.objects.filter(study=study).values_list("id", "category"))
    prompt_category_codes, categories = _codes([categories_by_prompt[p] for p in prompt_ids])
    rater_codes, rater_ids = _array_codes(rater)
    pseudonyms = rater_pseudonyms(study_id=study.pk, rater_ids=rater_ids)
    # The unit of agreement is the pair, or with turns the pair's turn (MT-Bench's item).
    max_turn = int(turn.max(initial=0)) + 1
    item_codes, items = _array_codes(pair * max_turn + turn)
    external_ids = dict(Prompt.objects.filter(study=study).values_list("id", "external_id"))
    public_ids = dict(Pair.objects.filter(study=study).values_list("id", "public_id"))
    return VoteArrays(
        model_a=model_a,
        model_b=model_b,
        outcome=choice.astype(np.int8),
        models=models,
        rater=rater_codes,
        raters=[pseudonyms[r] for r in rater_ids],
        item=item_codes,
        items=[
            public_ids[p // max_turn] + (f"/{p % max_turn}" if p % max_turn else "") for p in items
        ],
        category=prompt_category_codes[prompt_codes],
        categories=[str(c) for c in categories],
        left_is_a=left.astype(np.int8),
        length_a=style["length"][row_a],
        length_b=style["length"][row_b],
        gold_answer=gold.astype(np.int8),
        prompt=prompt_codes,
        prompts=[str(external_ids[p]) for p in prompt_ids],
        features={name: (style[name][row_a], style[name][row_b]) for name in STYLE_FEATURES},
        criterion=criterion if len(criteria) > 1 else None,
        criteria=criteria if len(criteria) > 1 else [],
        strength=strength.astype(np.int8) if (strength > 0).any() else None,
        **_turn_arrays(turn),
    )


def rater_pseudonyms(*, study_id: int, rater_ids: list[int]) -> dict[int, str]:
    """Stable per study, unlinkable across studies and not reversible without SECRET_KEY."""
    key = settings.SECRET_KEY.encode()

    def name(rater_id: int) -> str:
        digest = hmac.new(key, f"tastetest:{study_id}:{rater_id}".encode(), hashlib.sha256)
        return f"rater-{digest.hexdigest()[:12]}"

    return {rater_id: name(rater_id) for rater_id in rater_ids}


# --- results -----------------------------------------------------------------------------------


def results_state(*, study: Study, options: ResultOptions) -> tuple[str, list[int]]:
    """What a result of the study under the options depends on, as a string, and the raters
    left out.

    The raters left out are part of it (not only the generation counter) because flags are also
    changed by queryset updates that send no signal. Read before the votes are: votes that
    arrive meanwhile make the stored result stale, never current."""
    version = study_votes_version(study_id=study.pk)
    excluded = study_excluded_raters(study=study, options=options)
    raters = hashlib.sha256(",".join(map(str, excluded)).encode()).hexdigest()[:12]
    return f"{version}:{raters}", excluded


def _cached(study: Study, kind: str, options: ResultOptions, compute: Any) -> Any:
    """The result for the study's current state: from the cache, or computed now (then stored
    with when and from how many votes, for `results.snapshots`)."""
    from research.results.snapshots import results_snapshot_store

    state, excluded = results_state(study=study, options=options)
    key = f"results:{kind}:{study.pk}:{state}:{options.cache_token()}"
    document = cache.get(key)
    if document is None:
        document = compute(excluded)
        cache.set(key, document, timeout=CACHE_TIMEOUT)
        results_snapshot_store(
            study_id=study.pk, kind=kind, options=options, state=state, document=document
        )
    return document


def study_ranking(*, study: Study, options: ResultOptions) -> dict[str, Any]:
    """`analyze` over the study's votes aggregated in SQL: the `manage.py analyze` layout.

    Agreement, gold accuracy and biases need each vote's rater, side and answers, which the
    aggregate leaves out; their keys point to `study_analysis` (the agreement and biases
    endpoints) instead. Clustered intervals (the default) read one row per vote, since they
    need each vote's rater and prompt. Raises ValueError for options `analyze` rejects.
    """

    def compute(excluded: list[int]) -> dict[str, Any]:
        # Clustered intervals need each vote's rater and prompt, which the aggregate drops.
        if options.cluster == "none":
            votes = study_vote_arrays_aggregated(study=study, excluded_raters=excluded)
        else:
            # Agreement and biases are not part of this document: leave out what they read.
            votes = replace(
                study_vote_arrays_detailed(study=study, excluded_raters=excluded),
                item=None,
                items=[],
                left_is_a=None,
                length_a=None,
                length_b=None,
            )
        from evaluations.analysis import analyze  # scipy: loaded with the first analysis

        document = analyze(votes, **options.analysis_kwargs())
        document["summary"].update(
            study_vote_counts(
                study=study,
                excluded_raters=excluded,
                category=options.category,
                turn=options.turn,
            )
        )
        document["summary"]["excluded_raters"] = len(excluded)
        note = "computed per vote: see the agreement endpoint"
        document["agreement"] = {"message": note}
        document["gold"] = {"message": note}
        document["bias"] = {"message": "computed per vote: see the biases endpoint"}
        return document

    return _cached(study, "ranking", options, compute)


def study_vote_counts(
    *, study: Study, excluded_raters: list[int], category: str | None, turn: int | None = None
) -> dict[str, int]:
    """Raters and items (prompts) behind the votes, as `analyze` counts them in a vote file
    (the aggregated cells leave both out)."""
    votes = Vote.objects.filter(study=study).exclude(rater_id__in=excluded_raters)
    if category is not None:
        votes = votes.filter(pair__prompt__category=category)
    if turn is not None:
        votes = votes.filter(turn=turn)
    return votes.aggregate(
        raters=Count("rater_id", distinct=True), items=Count("pair__prompt_id", distinct=True)
    )


def study_ranking_json(*, study: Study, options: ResultOptions) -> bytes:
    """The ranking already serialized: a warm request then costs one cache read."""

    def compute(excluded: list[int]) -> bytes:
        return ranking_json_bytes(study_ranking(study=study, options=options))

    return _cached(study, "ranking-json", options, compute)


def ranking_json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, allow_nan=False, separators=(",", ":")).encode()


def study_analysis(*, study: Study, options: ResultOptions) -> dict[str, Any]:
    """`analyze` over one row per vote: everything, agreement and biases included."""

    def compute(excluded: list[int]) -> dict[str, Any]:
        votes = study_vote_arrays_detailed(study=study, excluded_raters=excluded)
        from evaluations.analysis import analyze  # scipy: loaded with the first analysis

        document = analyze(votes, **options.analysis_kwargs())
        document["summary"]["excluded_raters"] = len(excluded)
        return document

    return _cached(study, "analysis", options, compute)


def pairwise_matrix(document: dict[str, Any]) -> dict[str, Any]:
    """The ranking's pairwise block as square matrices in rating order (row beats column)."""
    names = [row["model"] for row in document["models"]]
    index = {name: k for k, name in enumerate(names)}
    m = len(names)
    keys = ("win_probability", "ci_low", "ci_high", "p_value", "p_value_holm", "votes")
    matrices: dict[str, list[list[Any]]] = {k: [[None] * m for _ in range(m)] for k in keys}
    for pair in document["pairwise"]:
        i, j = index[pair["model_a"]], index[pair["model_b"]]
        for k in ("p_value", "p_value_holm", "votes"):
            matrices[k][i][j] = matrices[k][j][i] = pair[k]
        matrices["win_probability"][i][j] = pair["win_probability"]
        matrices["ci_low"][i][j], matrices["ci_high"][i][j] = pair["ci_low"], pair["ci_high"]
        # Seen from the other model: P(j beats i) = 1 - P(i beats j), and the bounds swap.
        matrices["win_probability"][j][i] = _complement(pair["win_probability"])
        matrices["ci_low"][j][i] = _complement(pair["ci_high"])
        matrices["ci_high"][j][i] = _complement(pair["ci_low"])
    return {"models": names, **matrices, "pairs": document["pairwise"]}


def _complement(value: float | None) -> float | None:
    return None if value is None else 1.0 - value
