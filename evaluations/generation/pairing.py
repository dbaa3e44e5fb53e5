"""Finished outputs -> blind pairs, per prompt, in a seeded and balanced A/B order.

Invariants of ``pairs_build``:

- only outputs that are done are paired, and only outputs of the same prompt;
- rerunning it adds the pairs that newly finished outputs allow and never duplicates a pair,
  whichever side a pair was stored in;
- the canonical A/B order is balanced: for every two candidates, the number of prompts on which
  each is A differs by at most one, ties broken by the study's seed, so neither the first-created
  candidate nor any other is systematically A;
- with balanced pairing, each prompt gets ``pairs_per_prompt`` pairs chosen so that every
  candidate pairing and every candidate are used about equally often across prompts;
- the same seed and the same outputs give the same pairs.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections import Counter, defaultdict

from django.db import transaction

from evaluations.models import Candidate, Output, Pair, Prompt, Study


class PairingError(Exception):
    pass


def _rng(seed: int, *parts: object) -> random.Random:
    key = ":".join(str(p) for p in (seed, *parts))
    return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


@transaction.atomic
def pairs_build(*, study: Study) -> int:
    """Create the missing pairs of ``study``; returns how many were created."""
    # Serialise concurrent builds of one study: both would otherwise create the same pairs.
    Study.objects.select_for_update().filter(pk=study.pk).first()
    outputs_by_prompt: dict[int, dict[int, int]] = defaultdict(dict)  # prompt -> cand -> output
    for output_id, prompt_id, candidate_id in (
        Output.objects.filter(prompt__study=study, status=Output.Status.DONE)
        .order_by("prompt_id", "candidate_id")
        .values_list("id", "prompt_id", "candidate_id")
    ):
        outputs_by_prompt[prompt_id][candidate_id] = output_id

    existing = list(
        Pair.objects.filter(study=study).values_list(
            "prompt_id", "output_a__candidate_id", "output_b__candidate_id"
        )
    )
    # Tallies over pairs already built, so that a rerun continues the same balance.
    first_count: Counter[tuple[int, int]] = Counter()  # (x, y) -> times x was A against y
    combo_count: Counter[frozenset[int]] = Counter()
    candidate_count: Counter[int] = Counter()
    built: dict[int, set[frozenset[int]]] = defaultdict(set)
    for prompt_id, cand_a, cand_b in existing:
        first_count[(cand_a, cand_b)] += 1
        combo_count[frozenset((cand_a, cand_b))] += 1
        candidate_count[cand_a] += 1
        candidate_count[cand_b] += 1
        built[prompt_id].add(frozenset((cand_a, cand_b)))

    # Seeded choices are keyed by stable names, not database ids, so that the same study
    # rebuilt elsewhere (same prompts, candidates in the same order) gets the same pairs.
    prompt_key = dict(Prompt.objects.filter(study=study).values_list("id", "external_id"))
    position = {
        pk: index
        for index, pk in enumerate(
            Candidate.objects.filter(study=study).order_by("id").values_list("id", flat=True)
        )
    }
    balanced = study.pairing_mode == Study.PairingMode.BALANCED and study.pairs_per_prompt
    new_pairs: list[Pair] = []
    for prompt_id in sorted(outputs_by_prompt):
        by_candidate = outputs_by_prompt[prompt_id]
        possible = [
            frozenset(c)
            for c in itertools.combinations(sorted(by_candidate), 2)
            if frozenset(c) not in built[prompt_id]
        ]
        if balanced:
            wanted = max(0, study.pairs_per_prompt - len(built[prompt_id]))
            rng = _rng(study.seed, "select", prompt_key[prompt_id])
            chosen: list[frozenset[int]] = []
            while possible and len(chosen) < wanted:
                # Least-used candidate pairing first, then least-used candidates, then seed.
                tiebreak = {combo: rng.random() for combo in possible}
                best = min(
                    possible,
                    key=lambda combo: (
                        combo_count[combo],
                        sum(candidate_count[c] for c in combo),
                        tiebreak[combo],
                    ),
                )
                possible.remove(best)
                chosen.append(best)
                combo_count[best] += 1
                for c in best:
                    candidate_count[c] += 1
        else:
            chosen = possible
            for combo in chosen:
                combo_count[combo] += 1
                for c in combo:
                    candidate_count[c] += 1
        for combo in chosen:
            x, y = sorted(combo)
            if first_count[(x, y)] != first_count[(y, x)]:
                a, b = (x, y) if first_count[(x, y)] < first_count[(y, x)] else (y, x)
            else:
                coin = _rng(study.seed, "side", prompt_key[prompt_id], position[x], position[y])
                a, b = (x, y) if coin.random() < 0.5 else (y, x)
            first_count[(a, b)] += 1
            built[prompt_id].add(combo)
            new_pairs.append(
                Pair(
                    study=study,
                    prompt_id=prompt_id,
                    output_a_id=by_candidate[a],
                    output_b_id=by_candidate[b],
                )
            )
    Pair.objects.bulk_create(new_pairs, batch_size=1000)
    return len(new_pairs)


def pair_set_gold(*, pair: Pair, answer: str) -> Pair:
    """Make ``pair`` an attention check whose right answer is ``answer`` ('' to unset)."""
    if answer and answer not in Pair.Answer.values:
        raise PairingError(f"{answer!r} is not one of {', '.join(Pair.Answer.values)}")
    study = pair.study
    if answer == Pair.Answer.TIE and not study.allow_tie:
        raise PairingError("this study does not offer a tie, so a tie cannot be the gold answer")
    if answer == Pair.Answer.BOTH_BAD and not study.allow_both_bad:
        raise PairingError("this study does not offer 'both bad', so it cannot be the gold answer")
    Pair.objects.filter(pk=pair.pk).update(gold_answer=answer)
    pair.gold_answer = answer
    return pair
