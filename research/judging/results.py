"""What the judges found: verdicts per judge, agreement with human raters, judge rankings."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import numpy as np
from scipy import stats

from evaluations.analysis import VoteArrays, analyze, cohen_kappa
from evaluations.models import (
    Candidate,
    Judge,
    JudgeVote,
    Pair,
    Study,
)
from raters.models import Vote
from research.judging.ppi import judge_pair_scores, judge_ppi_ratings, judges_pair_scores
from research.judging.verdicts import LABELS

# -- results --------------------------------------------------------------------------------


def combined_verdict(first: str | None, second: str | None) -> str | None:
    """MT-Bench's rule for the two orders: agreeing verdicts stand, a flip is a tie.

    None when either order has no usable verdict (not done, failed or unparseable).
    """
    usable = {JudgeVote.Verdict.A, JudgeVote.Verdict.B, JudgeVote.Verdict.TIE}
    if first not in usable or second not in usable:
        return None
    return first if first == second else JudgeVote.Verdict.TIE


def human_majority(labels: Counter) -> str:
    """The most frequent human label on a pair; a tie between top labels counts as a tie."""
    top = max(labels.values())
    leaders = [label for label, n in labels.items() if n == top]
    return leaders[0] if len(leaders) == 1 else "tie"


def judge_human_agreement(*, judge: dict[int, str], humans: dict[int, Counter]) -> dict[str, Any]:
    """Agreement of one judge's combined verdicts with the human votes, on shared pairs.

    Percent agreement is MT-Bench's: every (judge verdict, human vote) pair on the same pair of
    outputs counts once; "without ties" keeps those where neither is a tie. Cohen's kappa is
    over the 3 x 3 table of judge verdict against the human majority (a, tie, b; a human "both
    bad" counts as a tie, as in the default ranking), with the Fleiss-Cohen-Everitt SE.
    """
    shared = sorted(set(judge) & set(humans))
    agree = total = agree_nt = total_nt = 0
    table = np.zeros((3, 3))
    code = {label: k for k, label in enumerate(LABELS)}
    for pair_id in shared:
        verdict, votes = judge[pair_id], humans[pair_id]
        for label, n in votes.items():
            total += n
            agree += n * (label == verdict)
            if label != "tie" and verdict != "tie":
                total_nt += n
                agree_nt += n * (label == verdict)
        table[code[verdict], code[human_majority(votes)]] += 1

    def share(a: int, t: int) -> float | None:
        return a / t if t else None

    kappa: dict[str, Any] = {"pairs": len(shared)}
    if shared:
        result = cohen_kappa(table)
        kappa.update({k: (v if np.isfinite(v) else None) for k, v in result.items() if k != "n"})
        if kappa.get("kappa") is None:
            kappa["message"] = "judge and humans each used one label only: kappa is undefined"
    else:
        kappa["kappa"] = None
        kappa["message"] = "no pair has both a combined judge verdict and human votes"
    return {
        "pairs": len(shared),
        "percent_agreement": {
            "with_ties": share(agree, total),
            "vote_pairs_with_ties": total,
            "without_ties": share(agree_nt, total_nt),
            "vote_pairs_without_ties": total_nt,
        },
        "cohen_kappa_vs_majority": kappa,
        "majority_table": {"labels": list(LABELS), "rows_judge_columns_humans": table.tolist()},
    }


def study_human_labels(*, study: Study) -> dict[int, Counter]:
    """Human votes per regular pair as counts of a / tie / b ("both bad" as a tie)."""
    labels: dict[int, Counter] = defaultdict(Counter)
    rows = (
        Vote.objects.filter(study=study, pair__gold_answer="")
        .values_list("pair_id", "choice")
        .order_by()
    )
    for pair_id, choice in rows.iterator(chunk_size=5000):
        labels[pair_id]["tie" if choice in ("tie", "both_bad") else choice] += 1
    return labels


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _judge_block(
    judge: Judge,
    pairs: dict[int, tuple[int, int, str]],
    humans: dict[int, Counter],
    labels: dict[int, str],
    human_models: dict[str, dict],
) -> dict[str, Any]:
    rows = JudgeVote.objects.filter(judge=judge).values_list(
        "pair_id", "order", "status", "verdict", "cost_usd", "latency_ms", "input_tokens",
        "output_tokens", "cache_hit", "logprob_score",
    )  # fmt: skip
    status_counts: Counter = Counter()
    by_pair: dict[int, dict[str, str]] = defaultdict(dict)
    probabilities: dict[int, dict[str, float | None]] = defaultdict(dict)
    cost = Decimal(0)
    costed = False
    latencies: list[float] = []
    tokens_in = tokens_out = cache_hits = unparseable = with_logprobs = 0
    first_shown_wins = decisive = 0
    for pair_id, order, status, verdict, cost_usd, latency, t_in, t_out, cache_hit, p in rows:
        status_counts[status] += 1
        if status != JudgeVote.Status.DONE:
            continue
        by_pair[pair_id][order] = verdict
        probabilities[pair_id][order] = p
        with_logprobs += p is not None
        unparseable += verdict == JudgeVote.Verdict.UNPARSEABLE
        cache_hits += cache_hit
        if cost_usd is not None:
            cost += cost_usd
            costed = True
        if latency is not None and not cache_hit:
            latencies.append(latency)
        tokens_in += t_in or 0
        tokens_out += t_out or 0
        if verdict in (JudgeVote.Verdict.A, JudgeVote.Verdict.B):
            decisive += 1
            first = JudgeVote.Verdict.A if order == JudgeVote.Order.AB else JudgeVote.Verdict.B
            first_shown_wins += verdict == first
    combined: dict[int, str] = {}
    both_parsed = consistent = 0
    for pair_id, verdicts in by_pair.items():
        verdict = combined_verdict(verdicts.get("ab"), verdicts.get("ba"))
        if verdict is None or pair_id not in pairs:
            continue
        both_parsed += 1
        consistent += verdicts["ab"] == verdicts["ba"]
        combined[pair_id] = verdict
    calls = sum(status_counts.values())
    done = status_counts[JudgeVote.Status.DONE]
    ranking = _judge_ranking(combined, pairs, labels, judge.model)
    side_by_side = []
    for row in ranking["models"]:
        human = human_models.get(row["model"], {})
        side_by_side.append({
            "model": row["model"],
            "judge_rating": row["rating"], "judge_ci_low": row["ci_low"],
            "judge_ci_high": row["ci_high"], "judge_rank": row["rank"],
            "human_rating": human.get("rating"), "human_ci_low": human.get("ci_low"),
            "human_ci_high": human.get("ci_high"), "human_rank": human.get("rank"),
        })  # fmt: skip
    return {
        "id": judge.pk,
        "model": judge.model,
        "progress": {
            "calls": calls,
            "done": done,
            "failed": status_counts[JudgeVote.Status.FAILED],
            "pending": status_counts[JudgeVote.Status.PENDING],
            "running": status_counts[JudgeVote.Status.RUNNING],
            "unparseable": unparseable,
            "cache_hits": cache_hits,
            # Calls whose verdict came with the provider's log-probabilities (its probability).
            "calls_with_logprobs": with_logprobs,
            "pairs_with_verdict": len(combined),
        },
        "position_consistency": {
            "pairs_both_orders": both_parsed,
            "consistent_pairs": consistent,
            "share": consistent / both_parsed if both_parsed else None,
            # Of the decisive single-order verdicts, the share for whichever answer came first:
            # 0.5 is no position bias.
            "first_position_win_share": first_shown_wins / decisive if decisive else None,
        },
        "ranking": ranking,
        "beside_humans": {
            "models": side_by_side,
            "spearman_rho": _spearman(side_by_side),
        },
        "agreement_with_humans": judge_human_agreement(judge=combined, humans=humans),
        "ppi": judge_ppi_ratings(
            scores=[judge_pair_scores(by_pair, probabilities)],
            judge_names=[judge.model],
            pairs=pairs,
            humans=humans,
            labels=labels,
        ),
        "cost": {
            "total_usd": float(cost) if costed else None,
            "per_pair_usd": float(cost) / len(combined) if costed and combined else None,
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "latency_ms_median": _percentile(latencies, 50),
            "latency_ms_p95": _percentile(latencies, 95),
        },
    }


def _judge_ranking(
    combined: dict[int, str], pairs: dict[int, tuple[int, int, str]], labels: dict[int, str],
    judge_name: str,
) -> dict[str, Any]:  # fmt: skip
    rows = [
        {
            "model_a": labels[pairs[pair_id][0]],
            "model_b": labels[pairs[pair_id][1]],
            "winner": verdict,
            "rater": judge_name,
            "item": pair_id,
            "category": pairs[pair_id][2],
        }
        for pair_id, verdict in sorted(combined.items())
    ]
    document = analyze(VoteArrays.from_rows(rows))
    return {
        "summary": document["summary"],
        "interval": document["interval"],
        "models": document["models"],
        "pairwise": document["pairwise"],
        "warnings": document["warnings"],
    }


def _spearman(rows: list[dict[str, Any]]) -> dict[str, Any]:
    both = [r for r in rows if r["judge_rating"] is not None and r["human_rating"] is not None]
    if len(both) < 3:
        return {"rho": None, "models": len(both), "message": "needs three models rated by both"}
    rho = stats.spearmanr([r["judge_rating"] for r in both], [r["human_rating"] for r in both])
    value = float(rho.statistic)
    return {"rho": value if np.isfinite(value) else None, "models": len(both)}


def _all_judges_ppi(
    judges: list[Judge], pairs: dict[int, tuple[int, int, str]], humans: dict[int, Counter],
    labels: dict[int, str],
) -> dict[str, Any]:  # fmt: skip
    if len(judges) < 2:
        return {"message": "one judge or none: its own block carries the prediction-powered "
                "ratings"}  # fmt: skip
    scores = judges_pair_scores(judges=judges)
    return judge_ppi_ratings(
        scores=[scores[j.pk] for j in judges],
        judge_names=[f"{j.model} (#{j.pk})" for j in judges],
        pairs=pairs, humans=humans, labels=labels,
    )  # fmt: skip


def study_judge_results(*, study: Study) -> dict[str, Any]:
    """Each judge's ranking beside the human one, agreement with the humans, position
    consistency, progress and cost. The human ranking itself is untouched by judge votes."""
    from research.results.aggregation import ResultOptions, study_ranking

    pairs = {
        pk: (a, b, category)
        for pk, a, b, category in Pair.objects.filter(study=study, gold_answer="").values_list(
            "id", "output_a__candidate_id", "output_b__candidate_id", "prompt__category"
        )
    }
    labels = dict(Candidate.objects.filter(study=study).values_list("id", "label"))
    humans = study_human_labels(study=study)
    human_document = study_ranking(study=study, options=ResultOptions())
    human_models = {row["model"]: row for row in human_document["models"]}
    judges = list(Judge.objects.filter(study=study).order_by("id"))
    return {
        "study": study.pk,
        "human_votes_only_in_ranking": True,
        "human_ranking": {
            "models": human_document["models"],
            "warnings": human_document["warnings"],
        },
        "judges": [_judge_block(j, pairs, humans, labels, human_models) for j in judges],
        "ppi_all_judges": _all_judges_ppi(judges, pairs, humans, labels),
        "verdict_rule": "each pair is judged in both orders; a verdict that flips with the "
        "order counts as a tie (MT-Bench); pairs with an unparseable or failed call are left "
        "out of the judge's ranking and agreement; the prediction-powered ratings (ppi) "
        "score a pair by the judge's probabilities for its verdict where the provider returned "
        "log-probabilities (the orders averaged on the log-odds scale), otherwise by the mean "
        "over the orders with a verdict (a 1, tie 1/2, b 0), and recalibrate that score on the "
        "pairs humans voted on by cross-fitting",
    }
