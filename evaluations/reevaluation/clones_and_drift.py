"""Re-evaluation when models change: clone a study, compare two studies, check for drift.

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

import asyncio
import difflib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import models, transaction
from django.db.models import Count, Q
from scipy import stats

from evaluations.analysis import ELO_SCALE, comparison_structure, fit_bradley_terry, pair_counts
from evaluations.analysis.bradley_terry import DEGENERATE_PRIOR_PRECISION
from evaluations.generation.limits import limiter_for_current_settings
from evaluations.generation.runner import (
    ProviderJob,
    call_cost,
    candidate_deployments_authorized,
    candidate_request_params,
    error_is_transient,
    output_messages,
    provider_call,
    request_hash,
    retry_after_seconds,
    retry_backoff,
    served_model_mismatch,
)
from evaluations.models import Candidate, Judge, JudgeVote, Output, Pair, Prompt, Study
from evaluations.providers.access import candidate_access_errors, judge_access_errors
from raters.models import Assignment, Membership, Vote

Z95 = float(stats.norm.ppf(0.975))


class CloneError(Exception):
    """The requested clone is inconsistent (unknown label, clash, nothing to re-pin)."""


class CompareError(Exception):
    """Two studies cannot be compared (no shared prompts or too few shared models)."""


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
    votes = Vote.objects.filter(study=study, pair_id__in=pair_map).order_by("id")
    report.votes_reused = len(
        Vote.objects.bulk_create(
            [
                Vote(
                    study=clone,
                    pair_id=pair_map[v.pair_id],
                    rater_id=v.rater_id,
                    choice=v.choice,
                    left_output_id=output_map[v.left_output_id],
                    time_spent_ms=v.time_spent_ms,
                    rationale=v.rationale,
                    candidate_a_id=pair_cells[v.pair_id][0],
                    candidate_b_id=pair_cells[v.pair_id][1],
                    prompt_id=pair_cells[v.pair_id][2],
                )
                for v in votes.iterator(chunk_size=5000)
            ],
            batch_size=1000,
        )
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


# -- comparing ------------------------------------------------------------------------------


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment; None entries are skipped and stay None."""
    indexed = sorted((p, k) for k, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, k) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[k] = running
    return adjusted


@dataclass
class _Fit:
    models: list[str]
    theta: np.ndarray
    cov: np.ndarray
    warnings: list[str]


def _study_fit(study: Study) -> _Fit:
    """Bradley-Terry (ties as half wins, both-bad as a tie) over the study's non-gold votes."""
    from evaluations.results.aggregation import study_vote_arrays_aggregated

    votes = study_vote_arrays_aggregated(study=study, excluded_raters=[])
    votes = votes.subset(~votes.is_gold)
    warnings: list[str] = []
    m = len(votes.models)
    if len(votes) == 0 or m < 2:
        return _Fit([], np.zeros(0), np.zeros((0, 0)), [f"{study.slug}: no votes to rank"])
    pc = pair_counts(votes.model_a, votes.model_b, votes.outcome, m)
    k = len(pc.first)
    cell_a, cell_b = np.repeat(pc.first, 4), np.repeat(pc.second, 4)
    cell_y, cell_n = np.tile([1.0, 0.0, 0.5, 0.5], k), pc.counts.ravel()
    used = cell_n > 0
    cell_a, cell_b, cell_y, cell_n = cell_a[used], cell_b[used], cell_y[used], cell_n[used]
    structure = comparison_structure(cell_a, cell_b, cell_y, cell_n, m)
    if structure.n_components != 1 or (structure.component < 0).any():
        raise CompareError(
            f"{study.slug}: the comparison graph is not connected, ratings are not comparable"
        )
    prior = 0.0
    if not structure.strongly_connected[0]:
        prior = DEGENERATE_PRIOR_PRECISION
        warnings.append(
            f"{study.slug}: some model never wins or never loses; ratings are MAP estimates "
            "with a N(0, 400 Elo) prior"
        )
    fit = fit_bradley_terry(cell_a, cell_b, cell_y, cell_n, m, prior_precision=prior)
    return _Fit(list(votes.models), fit.theta, fit.cov, warnings)


def _relative(fit: _Fit, reference: list[str]) -> dict[str, tuple[float, float]]:
    """Each model's rating minus the mean rating of ``reference``, in Elo, with its SE."""
    index = {name: k for k, name in enumerate(fit.models)}
    base = np.zeros(len(fit.models))
    for name in reference:
        base[index[name]] += 1 / len(reference)
    out = {}
    for name, k in index.items():
        c = -base.copy()
        c[k] += 1
        variance = float(c @ fit.cov @ c)
        out[name] = (float(ELO_SCALE * c @ fit.theta), float(ELO_SCALE * np.sqrt(max(variance, 0))))
    return out


def studies_compare(*, study_a: Study, study_b: Study, anchor: str | None = None) -> dict:
    """Ratings of two studies side by side, and which models' ratings differ significantly.

    Ratings are Bradley-Terry (ties as half wins) with sandwich SEs, as in the ranking. Two
    studies are centred on different model sets, so both are put on one reference: the mean
    of the models rated in both (or ``anchor``), and reported as 1000 + rating relative to it.
    For a model in both, the difference (b - a) is tested with z = d / sqrt(se_a^2 + se_b^2)
    (the studies' votes are independent samples), two-sided, Holm-corrected over the models.
    """
    prompts_a = set(Prompt.objects.filter(study=study_a).values_list("external_id", "text"))
    prompts_b = set(Prompt.objects.filter(study=study_b).values_list("external_id", "text"))
    shared_prompts = prompts_a & prompts_b
    if not shared_prompts:
        raise CompareError("the two studies share no prompt (same id and text)")
    warnings = []
    if prompts_a != prompts_b:
        warnings.append(
            f"the studies' prompts differ: {len(shared_prompts)} shared, "
            f"{len(prompts_a - prompts_b)} only in {study_a.slug}, "
            f"{len(prompts_b - prompts_a)} only in {study_b.slug}"
        )
    fit_a, fit_b = _study_fit(study_a), _study_fit(study_b)
    warnings += fit_a.warnings + fit_b.warnings
    common = [name for name in fit_a.models if name in set(fit_b.models)]
    if anchor is not None:
        if anchor not in common:
            raise CompareError(f"anchor {anchor!r} is not rated in both studies")
        reference = [anchor]
    else:
        if len(common) < 2:
            raise CompareError(
                "fewer than two models are rated in both studies: their ratings have no "
                "common reference"
            )
        reference = common
    rel_a, rel_b = _relative(fit_a, reference), _relative(fit_b, reference)
    versions_a = dict(Candidate.objects.filter(study=study_a).values_list("label", "version"))
    versions_b = dict(Candidate.objects.filter(study=study_b).values_list("label", "version"))

    def side(rel: dict, name: str) -> dict[str, Any] | None:
        if name not in rel:
            return None
        rating, se = rel[name]
        return {"rating": 1000 + rating, "se": se, "ci_low": 1000 + rating - Z95 * se,
                "ci_high": 1000 + rating + Z95 * se}  # fmt: skip

    names = list(dict.fromkeys([*fit_a.models, *fit_b.models]))
    rows = []
    p_values: list[float | None] = []
    for name in names:
        row: dict[str, Any] = {
            "model": name,
            "version_a": versions_a.get(name),
            "version_b": versions_b.get(name),
            "a": side(rel_a, name),
            "b": side(rel_b, name),
            "difference": None,
            "difference_se": None,
            "z": None,
            "p_value": None,
        }
        if name in rel_a and name in rel_b:
            difference = rel_b[name][0] - rel_a[name][0]
            se = float(np.hypot(rel_a[name][1], rel_b[name][1]))
            row["difference"], row["difference_se"] = difference, se
            if se > 0:
                row["z"] = difference / se
                row["p_value"] = float(2 * stats.norm.sf(abs(row["z"])))
        p_values.append(row["p_value"])
        rows.append(row)
    for row, adjusted in zip(rows, holm(p_values), strict=True):
        row["p_value_holm"] = adjusted
        row["significant"] = adjusted is not None and adjusted < 0.05
    rows.sort(key=lambda r: -(r["b"] or r["a"])["rating"])
    return {
        "study_a": {"id": study_a.pk, "slug": study_a.slug},
        "study_b": {"id": study_b.pk, "slug": study_b.slug},
        "shared_prompts": len(shared_prompts),
        "reference": (
            f"anchored: relative to {anchor} at 1000"
            if anchor
            else "centred: relative to the average of the models rated in both studies (1000)"
        ),
        "test": "z-test on sandwich SEs of the two independent fits, two-sided, Holm-corrected",
        "models": rows,
        "warnings": warnings,
    }


# -- drift ----------------------------------------------------------------------------------


def candidates_drift(*, study: Study) -> list[dict[str, Any]]:
    """Per candidate: the pinned version, the models the provider reported serving, and how
    many outputs were served by a model other than the pinned one (recorded by generation)."""
    served: dict[int, Counter] = defaultdict(Counter)
    for candidate_id, name, n in (
        Output.objects.filter(prompt__study=study, status=Output.Status.DONE)
        .exclude(served_model="")
        .values_list("candidate_id", "served_model")
        .annotate(n=Count("id"))
        .order_by()
    ):
        served[candidate_id][name] += n
    counts = {
        row["candidate_id"]: row
        for row in Output.objects.filter(prompt__study=study)
        .values("candidate_id")
        .annotate(
            done=Count("id", filter=Q(status=Output.Status.DONE)),
            mismatched=Count("id", filter=Q(version_mismatch=True)),
        )
        .order_by()
    }
    rows = []
    for candidate in Candidate.objects.filter(study=study).order_by("id"):
        row = counts.get(candidate.pk, {"done": 0, "mismatched": 0})
        rows.append(
            {
                "id": candidate.pk,
                "label": candidate.label,
                "model": candidate.model,
                "pinned_version": candidate.version,
                "outputs_done": row["done"],
                "outputs_version_mismatch": row["mismatched"],
                "served_models": dict(served[candidate.pk].most_common()),
                "drift": row["mismatched"] > 0,
            }
        )
    return rows


@dataclass
class DriftFinding:
    candidate: str
    prompt: str
    pinned_version: str
    served_then: str
    served_now: str
    version_mismatch: bool
    changed: bool
    similarity: float | None
    error: str = ""
    cost_usd: Decimal | None = None


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def drift_check(
    *, study: Study, prompts: int = 3, labels: list[str] | None = None
) -> list[DriftFinding]:
    """Ask each pinned candidate again a few prompts it already answered, and compare.

    An answer has changed when its text differs (whitespace aside) from the stored one; the
    served model is checked against the pinned version. Nothing in the study is modified, and
    the cache is bypassed: the point is to hear the provider now. With a temperature above 0
    answers vary anyway, so a changed answer is a hint, a changed served model the evidence.
    """
    candidates = Candidate.objects.filter(study=study).exclude(version="").order_by("id")
    if labels:
        candidates = candidates.filter(label__in=labels)
    work = []
    for candidate in candidates:
        outputs = (
            Output.objects.filter(candidate=candidate, status=Output.Status.DONE, imported=False)
            .select_related("prompt")
            .order_by("prompt_id")[:prompts]
        )
        params = candidate_request_params(candidate)
        deployments = candidate_deployments_authorized(candidate, owner=study.owner)
        for output in outputs:
            messages = output_messages(candidate=candidate, prompt=output.prompt)
            job = ProviderJob(
                output_id=output.pk,
                study_id=study.pk,
                limiter_key=f"drift:{candidate.pk}",
                model=candidate.model,
                version=candidate.version,
                deployments=deployments,
                params=params,
                messages=messages,
                request_hash=request_hash(candidate=candidate, params=params, messages=messages),
                max_concurrency=max(1, candidate.max_concurrency),
                requests_per_minute=candidate.requests_per_minute,
                price_in=candidate.input_price_per_mtok,
                price_out=candidate.output_price_per_mtok,
                terms=(),
            )
            work.append((candidate, output, job))
    return async_to_sync(_drift_run)(work)


async def _drift_run(work: list) -> list[DriftFinding]:
    limiter = limiter_for_current_settings()

    async def one(candidate: Candidate, output: Output, job: ProviderJob) -> DriftFinding:
        finding = DriftFinding(
            candidate=candidate.label,
            prompt=output.prompt.external_id,
            pinned_version=candidate.version,
            served_then=output.served_model,
            served_now="",
            version_mismatch=False,
            changed=False,
            similarity=None,
        )
        async with limiter.slot(job.limiter_key, job.max_concurrency):
            for attempt in range(1, settings.GENERATION_MAX_ATTEMPTS + 1):
                try:
                    answer = await provider_call(
                        job, job.deployments[(attempt - 1) % len(job.deployments)]
                    )
                except Exception as exc:  # noqa: BLE001 - reported in the finding
                    finding.error = f"{type(exc).__name__}: {exc}"[:500]
                    if not error_is_transient(exc) or attempt == settings.GENERATION_MAX_ATTEMPTS:
                        return finding
                    await asyncio.sleep(retry_backoff(attempt, retry_after_seconds(exc)))
                    continue
                finding.error = ""
                break
        then, now = _normalise(output.raw_text), _normalise(answer.text)
        finding.served_now = answer.served_model
        finding.version_mismatch = served_model_mismatch(
            version=candidate.version, model=candidate.model, served=answer.served_model
        )
        finding.changed = then != now
        finding.similarity = round(difflib.SequenceMatcher(None, then, now).ratio(), 4)
        finding.cost_usd = call_cost(job, answer.input_tokens, answer.output_tokens)
        return finding

    try:
        return list(await asyncio.gather(*(one(*item) for item in work)))
    finally:
        await limiter.aclose()
