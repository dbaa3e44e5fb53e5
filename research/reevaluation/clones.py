"""Re-evaluation when models change: clone a study (comparing.py compares two studies, drift.py
checks for drift).

Cloning (`study_clone`) copies a study with candidates added, removed or re-pinned to a new
version, and reuses everything still valid:

- an output is reused when its candidate is kept unchanged (same model, version, parameters)
  and it is done; the prompt is copied verbatim, so the request would be identical;
- a pair is reused when both its outputs are; it gets a new public id in the clone (public
  ids are unique per pair row and raters' URLs of the source must not reach the clone);
- a vote (and its rater's assignment, so the rater is not shown the pair again) is reused when
  its pair is; every rater of the source becomes a rater of the clone;
- a finished judge call is reused when its pair is and the judge is kept.

Only the new material is left to generate (`generation_start` on the clone), then to be paired
(`pairs_build` adds just the pairs the new outputs allow) and voted on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction

from evaluations.models import Candidate, Judge, JudgeVote, Output, Pair, Prompt, Study
from evaluations.providers.access import candidate_access_errors, judge_access_errors
from raters.models import Assignment, CriterionVote, Membership, Vote


class CloneError(Exception):
    """The requested clone is inconsistent (unknown label, clash, nothing to re-pin)."""


def _copy_values(instance: models.Model, *, exclude: set[str]) -> dict[str, Any]:
    return {
        f.attname: getattr(instance, f.attname)
        for f in instance._meta.concrete_fields
        if not f.primary_key and f.name not in exclude and f.attname not in exclude
    }


# -- cloning --------------------------------------------------------------------------------


@dataclass
class CloneReport:
    study: Study
    prompts: int = 0
    kept: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    repinned: list[str] = field(default_factory=list)
    outputs_reused: int = 0
    outputs_to_generate: int = 0
    pairs_reused: int = 0
    votes_reused: int = 0
    judge_votes_reused: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "study": self.study.pk,
            "slug": self.study.slug,
            "status": self.study.status,
            **{k: v for k, v in self.__dict__.items() if k != "study"},
        }


def _clone_plan(
    candidates: list[Candidate],
    add: list[dict[str, Any]],
    remove: list[str],
    repin: dict[str, str],
) -> None:
    labels = {c.label: c for c in candidates}
    unknown = [label for label in [*remove, *repin] if label not in labels]
    if unknown:
        raise CloneError(f"no candidate labelled {', '.join(map(repr, unknown))}")
    both = set(remove) & set(repin)
    if both:
        raise CloneError(f"{', '.join(sorted(both))}: removed and re-pinned at once")
    for label, version in repin.items():
        if not str(version).strip():
            raise CloneError(f"{label}: the new pinned version is empty")
        if labels[label].version == version:
            raise CloneError(f"{label} is already pinned to {version!r}")
    remaining = set(labels) - set(remove)
    for spec in add:
        if not spec.get("label") or not spec.get("model"):
            raise CloneError("an added candidate needs a label and a model")
        if spec["label"] in remaining:
            raise CloneError(f"a candidate labelled {spec['label']!r} is already in the study")
        unknown_fields = set(spec) - {f.name for f in Candidate._meta.concrete_fields}
        if unknown_fields or {"id", "study", "study_id"} & set(spec):
            raise CloneError(f"unknown candidate fields: {', '.join(sorted(unknown_fields))}")
        remaining.add(spec["label"])
    if len(remaining) < 2:
        raise CloneError("the clone would have fewer than two candidates")


def _clone_access_check(
    *, study: Study, candidates: list[Candidate], add: list[dict], remove: list[str], owner: Any
) -> None:
    """The clone's candidates and judges must pass the operator's provider rules for its owner
    (who may not be the original's)."""
    errors = []
    kept = [c for c in candidates if c.label not in remove]
    for candidate in [*kept, *(Candidate(**spec) for spec in add)]:
        for messages in candidate_access_errors(candidate, owner=owner).values():
            errors += [f"{candidate.label}: {message}" for message in messages]
    for judge in Judge.objects.filter(study=study).order_by("id"):
        for messages in judge_access_errors(judge, owner=owner).values():
            errors += [f"judge {judge.model}: {message}" for message in messages]
    if errors:
        raise CloneError("; ".join(errors))


@transaction.atomic
def study_clone(
    *,
    study: Study,
    name: str,
    slug: str,
    owner: Any = None,
    add: list[dict[str, Any]] | None = None,
    remove: list[str] | None = None,
    repin: dict[str, str] | None = None,
) -> CloneReport:
    """A copy of ``study`` with candidates changed, reusing still-valid rows (module docstring).

    The clone is ready (for voting on what it reused) when nothing needs generating, and a
    draft otherwise: start generation on it to produce only the new outputs.
    """
    add, remove, repin = list(add or []), list(remove or []), dict(repin or {})
    candidates = list(Candidate.objects.filter(study=study).order_by("id"))
    _clone_plan(candidates, add, remove, repin)
    _clone_access_check(
        study=study, candidates=candidates, add=add, remove=remove, owner=owner or study.owner
    )
    if Study.objects.filter(slug=slug).exists():
        raise CloneError(f"a study with slug {slug!r} already exists")

    clone = Study.objects.create(
        **_copy_values(
            study,
            exclude={"name", "slug", "status", "owner", "created_at", "updated_at", "cloned_from"},
        ),
        name=name,
        slug=slug,
        owner=owner or study.owner,
        status=Study.Status.DRAFT,
        cloned_from=study,
    )
    report = CloneReport(study=clone)

    prompt_map: dict[int, int] = {}
    prompts = list(Prompt.objects.filter(study=study).order_by("id"))
    new_prompts = Prompt.objects.bulk_create(
        [Prompt(study=clone, **_copy_values(p, exclude={"study", "created_at"})) for p in prompts]
    )
    prompt_map = {old.pk: new.pk for old, new in zip(prompts, new_prompts, strict=True)}
    report.prompts = len(prompts)

    candidate_map: dict[int, int] = {}  # kept unchanged: their outputs stay valid
    for candidate in candidates:
        if candidate.label in remove:
            report.removed.append(candidate.label)
            continue
        values = _copy_values(candidate, exclude={"study", "created_at"})
        if candidate.label in repin:
            values["version"] = repin[candidate.label]
            Candidate.objects.create(study=clone, **values)
            report.repinned.append(candidate.label)
        else:
            candidate_map[candidate.pk] = Candidate.objects.create(study=clone, **values).pk
            report.kept.append(candidate.label)
    for spec in add:
        Candidate.objects.create(study=clone, **spec)
        report.added.append(spec["label"])

    outputs = list(
        Output.objects.filter(
            prompt__study=study, status=Output.Status.DONE, candidate_id__in=candidate_map
        ).order_by("id")
    )
    new_outputs = Output.objects.bulk_create(
        [
            Output(
                prompt_id=prompt_map[o.prompt_id],
                candidate_id=candidate_map[o.candidate_id],
                **_copy_values(o, exclude={"prompt", "candidate", "created_at"}),
            )
            for o in outputs
        ],
        batch_size=1000,
    )
    output_map = {old.pk: new.pk for old, new in zip(outputs, new_outputs, strict=True)}
    new_candidate_of = {o.pk: candidate_map[o.candidate_id] for o in outputs}  # old output id
    report.outputs_reused = len(new_outputs)
    report.outputs_to_generate = report.prompts * clone.candidates.count() - len(new_outputs)

    pairs = list(
        Pair.objects.filter(study=study, output_a_id__in=output_map, output_b_id__in=output_map)
        .order_by("id")
    )  # fmt: skip
    new_pairs = Pair.objects.bulk_create(
        [
            Pair(
                study=clone,
                prompt_id=prompt_map[p.prompt_id],
                output_a_id=output_map[p.output_a_id],
                output_b_id=output_map[p.output_b_id],
                gold_answer=p.gold_answer,
            )
            for p in pairs
        ],
        batch_size=1000,
    )
    pair_map = {old.pk: new.pk for old, new in zip(pairs, new_pairs, strict=True)}
    # What Vote copies from its pair (candidates, prompt), in the clone's ids.
    pair_cells = {
        p.pk: (new_candidate_of[p.output_a_id], new_candidate_of[p.output_b_id],
               prompt_map[p.prompt_id])
        for p in pairs
    }  # fmt: skip
    report.pairs_reused = len(new_pairs)

    Membership.objects.bulk_create(
        [
            Membership(study=clone, rater_id=m.rater_id, flagged=m.flagged)
            for m in Membership.objects.filter(study=study)
        ]
    )
    votes = list(Vote.objects.filter(study=study, pair_id__in=pair_map).order_by("id"))
    copies = Vote.objects.bulk_create(
        [
            Vote(
                study=clone,
                pair_id=pair_map[v.pair_id],
                rater_id=v.rater_id,
                choice=v.choice,
                strength=v.strength,
                turn=v.turn,
                left_output_id=output_map[v.left_output_id],
                time_spent_ms=v.time_spent_ms,
                rationale=v.rationale,
                candidate_a_id=pair_cells[v.pair_id][0],
                candidate_b_id=pair_cells[v.pair_id][1],
                prompt_id=pair_cells[v.pair_id][2],
            )
            for v in votes
        ],
        batch_size=1000,
    )
    report.votes_reused = len(copies)
    # The criteria's answers go with their votes (bulk_create sets the copies' ids in order).
    new_vote = {v.pk: copy.pk for v, copy in zip(votes, copies, strict=True)}
    CriterionVote.objects.bulk_create(
        [
            CriterionVote(
                vote_id=new_vote[c.vote_id],
                criterion=c.criterion,
                choice=c.choice,
                strength=c.strength,
            )
            for c in CriterionVote.objects.filter(vote__study=study).iterator(chunk_size=5000)
            if c.vote_id in new_vote
        ],
        batch_size=1000,
    )
    settled = [Assignment.State.VOTED, Assignment.State.SKIPPED]
    Assignment.objects.bulk_create(
        [
            Assignment(
                study=clone,
                pair_id=pair_map[a.pair_id],
                rater_id=a.rater_id,
                left_output_id=output_map[a.left_output_id],
                state=a.state,
                is_gold=a.is_gold,
                expires_at=a.expires_at,
                shown_at=a.shown_at,
            )
            for a in Assignment.objects.filter(
                study=study, pair_id__in=pair_map, state__in=settled
            ).iterator(chunk_size=5000)
        ],
        batch_size=1000,
    )

    judge_map = {
        judge.pk: Judge.objects.create(
            study=clone, **_copy_values(judge, exclude={"study", "created_at"})
        ).pk
        for judge in Judge.objects.filter(study=study).order_by("id")
    }
    judge_votes = JudgeVote.objects.filter(
        study=study, pair_id__in=pair_map, status=JudgeVote.Status.DONE
    )
    report.judge_votes_reused = len(
        JudgeVote.objects.bulk_create(
            [
                JudgeVote(
                    study=clone,
                    judge_id=judge_map[jv.judge_id],
                    pair_id=pair_map[jv.pair_id],
                    **_copy_values(jv, exclude={"study", "judge", "pair", "created_at"}),
                )
                for jv in judge_votes.iterator(chunk_size=5000)
            ],
            batch_size=1000,
        )
    )
    if report.outputs_to_generate == 0 and new_pairs:
        clone.transition_to(Study.Status.READY)
    return report
