"""A small study whose pairs' votes are known exactly, for the export tests."""

from dataclasses import dataclass

from raters.models import Vote
from tests.factories import (
    CandidateFactory,
    MembershipFactory,
    OutputFactory,
    PairFactory,
    PromptFactory,
    RaterFactory,
    VoteFactory,
)

# Per pair: (candidate a, candidate b, votes by raters 0..2 (None: no vote)).
PAIR_VOTES = [
    ("alpha", "beta", ["a", "a", "b"]),  # majority a, agreement 2/3
    ("beta", "gamma", ["b", "b", "b"]),  # unanimous b
    ("alpha", "gamma", ["tie", "tie", "a"]),  # majority tie
    ("alpha", "beta", ["both_bad", "both_bad", "a"]),  # majority both-bad
    ("beta", "gamma", ["a", "b", None]),  # split
]
HOSTILE = '<script>alert("x")</script> \u202e\u0301 e\u0301 \U0001f600 \u2028 end'


@dataclass
class KnownStudy:
    study: object
    pairs: list
    raters: list
    gold_pair: object


def known_study(study, *, hostile_answer: bool = False) -> KnownStudy:
    candidates = {
        name: CandidateFactory(study=study, label=name, model=f"openai/{name}")
        for name in ("alpha", "beta", "gamma")
    }
    raters = [RaterFactory() for _ in range(3)]
    for rater in raters:
        MembershipFactory(rater=rater, study=study)
    pairs = []
    for k, (a, b, votes) in enumerate(PAIR_VOTES):
        prompt = PromptFactory(study=study, category="math" if k % 2 else "writing")
        out_a = OutputFactory(prompt=prompt, candidate=candidates[a], text=f"{a} answers {k}")
        text_b = HOSTILE if hostile_answer and k == 0 else f"{b} answers {k}"
        out_b = OutputFactory(prompt=prompt, candidate=candidates[b], text=text_b)
        pair = PairFactory(study=study, prompt=prompt, output_a=out_a, output_b=out_b)
        pairs.append(pair)
        for rater, choice in zip(raters, votes, strict=True):
            if choice:
                VoteFactory(pair=pair, rater=rater, choice=choice)
    gold = PairFactory(study=study, gold_answer="a")
    VoteFactory(pair=gold, rater=raters[0], choice=Vote.Choice.B)
    return KnownStudy(study=study, pairs=pairs, raters=raters, gold_pair=gold)
