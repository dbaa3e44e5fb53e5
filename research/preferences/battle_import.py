"""Battle-format vote files (Chatbot Arena, MT-Bench human judgments) -> a study's rows.

JSON Lines, or one JSON array, of {model_a, model_b, winner, judge, question_id} with optional
turn, category, tstamp and conversation_a/conversation_b. The file is checked whole before
anything is written; every problem is reported with its line number and a file with any
problem writes nothing. Models become imported candidates (never called), the conversations
become the prompt and the two answers, each judge an external rater who cannot sign in, and each
vote a vote on the pair of the two answers.

A question whose conversations have several user turns (MT-Bench's turn 2, Arena's multi-turn
battles) becomes a scripted conversation: its user turns are the prompt's turns, each model's
answers its output's turns, and each vote keeps the turn it judged (`turn`, or the conversation's
user turns when absent). The rows of one question may give its conversation up to different
turns; they must agree where they overlap.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F

from evaluations.models import Candidate, Output, Pair, Prompt, Study
from evaluations.studies.import_rows import ImportFailed
from raters.models import Membership, Rater, Vote
from research.preferences.battle_parsing import MAX_ERRORS, Battle, battles_parse

FLIPPED = {"a": "b", "b": "a", "tie": "tie", "both_bad": "both_bad"}


@dataclass
class VotesImported:
    votes: int = 0
    candidates: int = 0
    prompts: int = 0
    pairs: int = 0
    raters: int = 0
    # (line, first line): the same judge on the same pair again; the first vote is kept.
    repeats: list[tuple[int, int]] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{_count(self.votes, 'vote')} by {_count(self.raters, 'new judge')} on "
            f"{_count(self.pairs, 'new pair')} ({_count(self.candidates, 'new candidate')}, "
            f"{_count(self.prompts, 'new prompt')})"
        )
        if self.repeats:
            lines = ", ".join(f"line {a} (first on line {b})" for a, b in self.repeats[:10])
            more = f" and {len(self.repeats) - 10} more" if len(self.repeats) > 10 else ""
            text += (
                f"; {len(self.repeats)} repeat vote(s) of a judge on a pair they had already "
                f"judged were left out: {lines}{more}"
            )
        return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _consistent(seen: dict, key: Any, value: Any, line: int, what: str, errors: list[str]) -> None:
    if value is None:
        return
    if key in seen and seen[key][0] != value:
        errors.append(f"line {line}: {what} differs from line {seen[key][1]}")
    seen.setdefault(key, (value, line))


def _prefix_consistent(
    seen: dict, key: Any, head: Any, turns: tuple, line: int, what: str, errors: list[str]
) -> None:
    """As _consistent for a conversation given up to some turn: `head` (the context, or None)
    must be equal, the turns must agree where both rows have them, and the longest is kept."""
    if not turns:
        return
    if key in seen:
        (old_head, old_turns), first = seen[key]
        shorter = min(len(old_turns), len(turns))
        if old_head != head or old_turns[:shorter] != turns[:shorter]:
            errors.append(f"line {line}: {what} differs from line {first}")
            return
        if len(turns) > len(old_turns):
            seen[key] = ((head, turns), first)
        return
    seen[key] = ((head, turns), line)


def _joined(answers: tuple[str, ...]) -> str:
    return "\n\n".join(answers)


def _prompt_fields(prompts_text: dict, question: str, multi_turn: bool) -> dict[str, Any]:
    """A question's prompt: its first user turn and context, or a scripted conversation."""
    context, turns = prompts_text.get(question, (("", ("",)), 0))[0]
    context = context or ""
    if not multi_turn:
        return {"text": turns[0], "context": context}
    system = [{"role": "system", "content": [{"type": "text", "text": context}]}]
    return {
        "text": turns[0],
        "context": "",
        "turns": list(turns),
        "messages": system if context else [],
    }


def _rater_username(study: Study, judge: str) -> str:
    digest = hashlib.sha256(judge.encode()).hexdigest()[:24]
    return f"imported-{study.pk}-{digest}"


def votes_import(
    *, study: Study, data: bytes, filename: str = "", size: int | None = None
) -> VotesImported:
    """Import a battle-format vote file into ``study``; all or nothing."""
    from evaluations.anonymity.scrubbing import study_terms, text_scrub
    from research.results.cache_versioning import results_invalidate

    battles = battles_parse(data, size)
    errors: list[str] = []
    prompts_text: dict[str, tuple] = {}
    categories: dict[str, tuple] = {}
    answers: dict[tuple[str, str], tuple] = {}
    for b in battles:
        _prefix_consistent(
            prompts_text,
            b.question_id,
            b.context,
            b.user_turns,
            b.line,
            f"the prompt of question {b.question_id!r}",
            errors,
        )
        _consistent(
            categories,
            b.question_id,
            b.category or None,
            b.line,
            f"the category of question {b.question_id!r}",
            errors,
        )
        for model, given in ((b.model_a, b.answers_a), (b.model_b, b.answers_b)):
            _prefix_consistent(
                answers,
                (b.question_id, model),
                None,
                given,
                b.line,
                f"{model!r}'s answer to question {b.question_id!r}",
                errors,
            )
    multi_turn = {
        question for question, ((_, turns), _) in prompts_text.items() if len(turns) > 1
    } | {b.question_id for b in battles if b.turn is not None and b.turn > 1}
    prompts = {
        p.external_id: p
        for p in Prompt.objects.filter(
            study=study, external_id__in=list({b.question_id for b in battles})
        )
    }
    for question, ((context, turns), line) in prompts_text.items():
        existing = prompts.get(question)
        if question in multi_turn:
            differs = existing is not None and existing.text and list(existing.turns) != list(turns)
        else:
            differs = existing is not None and (existing.text, existing.context) != (
                turns[0],
                context,
            )
        if differs and existing.text:
            errors.append(
                f"line {line}: question {question!r} is already a prompt of this study "
                "with another text"
            )
    candidates = {c.label: c for c in Candidate.objects.filter(study=study)}
    outputs = {
        (o.prompt.external_id, o.candidate.label): o
        for o in Output.objects.filter(prompt__in=list(prompts.values())).select_related(
            "prompt", "candidate"
        )
    }
    for (question, model), ((_, given), line) in answers.items():
        text = _joined(given)
        existing = outputs.get((question, model))
        if existing and existing.status != Output.Status.DONE:
            errors.append(
                f"line {line}: {model!r}'s answer to question {question!r} is being "
                "generated in this study"
            )
        elif existing and existing.raw_text and existing.raw_text != text:
            errors.append(
                f"line {line}: {model!r} already has another answer to question "
                f"{question!r} in this study"
            )
    # One vote per judge, pair and turn: a repeat is left out (analyze drops it from agreement
    # too).
    first_vote: dict[tuple, int] = {}
    kept: list[Battle] = []
    repeats: list[tuple[int, int]] = []

    def vote_turn(b: Battle) -> int | None:
        return (b.turn or 1) if b.question_id in multi_turn else None

    for b in battles:
        key = (b.question_id, frozenset((b.model_a, b.model_b)), b.judge, vote_turn(b))
        if key in first_vote:
            repeats.append((b.line, first_vote[key]))
        else:
            first_vote[key] = b.line
            kept.append(b)
    usernames = {b.judge: _rater_username(study, b.judge) for b in kept}
    User = get_user_model()
    users = {u.username: u for u in User.objects.filter(username__in=list(usernames.values()))}
    existing_votes = set()
    if users:
        existing_votes = set(
            Vote.objects.filter(study=study, rater__user__in=list(users.values())).values_list(
                "rater__user__username",
                "prompt__external_id",
                "candidate_a__label",
                "candidate_b__label",
                "turn",
            )
        )
    for b in kept:
        user, turn = usernames[b.judge], vote_turn(b)
        if (user, b.question_id, b.model_a, b.model_b, turn) in existing_votes or (
            user,
            b.question_id,
            b.model_b,
            b.model_a,
            turn,
        ) in existing_votes:
            errors.append(
                f"line {b.line}: judge {b.judge!r} already has a vote on this pair in this "
                "study (imported before?)"
            )
    if errors:
        raise ImportFailed(errors[:MAX_ERRORS])

    report = VotesImported(repeats=repeats)
    with transaction.atomic():
        for model in dict.fromkeys(m for b in kept for m in (b.model_a, b.model_b)):
            if model not in candidates:
                candidates[model] = Candidate.objects.create(
                    study=study, label=model, model=model, imported=True
                )
                report.candidates += 1
        new_prompts = []
        for question in dict.fromkeys(b.question_id for b in kept):
            fields = _prompt_fields(prompts_text, question, question in multi_turn)
            if question not in prompts:
                category = categories.get(question, ("", 0))[0]
                new_prompts.append(
                    Prompt(study=study, external_id=question, category=category, **fields)
                )
            elif prompts[question].text == "" and question in prompts_text:
                prompt = prompts[question]
                for name, value in fields.items():
                    setattr(prompt, name, value)
                prompt.save(update_fields=list(fields))
        for prompt in Prompt.objects.bulk_create(new_prompts, batch_size=1000):
            prompts[prompt.external_id] = prompt
        report.prompts = len(new_prompts)
        terms = study_terms(
            labels=[c.label for c in candidates.values()],
            models=[c.model for c in candidates.values()],
        )
        new_outputs = []
        for key in dict.fromkeys((b.question_id, m) for b in kept for m in (b.model_a, b.model_b)):
            given = answers.get(key, ((None, ()), 0))[0][1]
            text = _joined(given)
            turns = (
                [{"text": text_scrub(a, terms=terms).text, "raw_text": a} for a in given]
                if key[0] in multi_turn
                else []
            )
            existing = outputs.get(key)
            if existing is None:
                scrubbed = text_scrub(text, terms=terms)
                new_outputs.append(
                    Output(
                        prompt=prompts[key[0]],
                        candidate=candidates[key[1]],
                        status=Output.Status.DONE,
                        text=scrubbed.text,
                        raw_text=text,
                        turns=turns,
                        **scrubbed.output_fields(),
                        imported=True,
                    )
                )
            elif not existing.raw_text and text:
                scrubbed = text_scrub(text, terms=terms)
                existing.text, existing.raw_text, existing.turns = scrubbed.text, text, turns
                for name, value in scrubbed.output_fields().items():
                    setattr(existing, name, value)
                existing.save()
        for output in Output.objects.bulk_create(new_outputs, batch_size=1000):
            outputs[(output.prompt.external_id, output.candidate.label)] = output
        raters = {}
        for judge, username in usernames.items():
            user = users.get(username)
            if user is None:
                user = User(username=username, is_active=False)
                user.set_unusable_password()
                user.save()
                report.raters += 1
            rater, _ = Rater.objects.get_or_create(
                user=user,
                defaults={"display_name": judge, "expertise": "external judge (imported)"},
            )
            Membership.objects.get_or_create(rater=rater, study=study)
            raters[judge] = rater
        pairs: dict[tuple[int, int], Pair] = {}
        for pair in Pair.objects.filter(
            study=study, prompt__in=list(prompts.values())
        ).select_related("output_a", "output_b"):
            pairs[(pair.output_a_id, pair.output_b_id)] = pair
        new_pairs: list[Pair] = []
        added: dict[int, int] = {}  # id(pair) -> votes added, for the pair's load
        votes: list[Vote] = []
        dated: list[tuple[Vote, datetime]] = []
        for b in kept:
            out_a, out_b = outputs[(b.question_id, b.model_a)], outputs[(b.question_id, b.model_b)]
            pair = pairs.get((out_a.pk, out_b.pk))
            flipped = False
            if pair is None and (out_b.pk, out_a.pk) in pairs:
                pair, flipped = pairs[(out_b.pk, out_a.pk)], True
            if pair is None:
                pair = Pair(
                    study=study, prompt=prompts[b.question_id], output_a=out_a, output_b=out_b
                )
                pairs[(out_a.pk, out_b.pk)] = pair
                new_pairs.append(pair)
            turn = vote_turn(b)
            if turn is None or turn == 1:  # a judge's later turns take no place of their own
                added[id(pair)] = added.get(id(pair), 0) + 1
            vote = Vote(
                study=study,
                pair=pair,
                rater=raters[b.judge],
                choice=FLIPPED[b.choice] if flipped else b.choice,
                left_output=out_a,  # the battle format's model_a is the one shown first
                candidate_a_id=pair.output_a.candidate_id,
                candidate_b_id=pair.output_b.candidate_id,
                prompt_id=pair.prompt_id,
                turn=turn,
            )
            votes.append(vote)
            if b.tstamp is not None:
                dated.append((vote, datetime.fromtimestamp(b.tstamp, tz=UTC)))
        for pair in new_pairs:
            pair.load = added.get(id(pair), 0)
        Pair.objects.bulk_create(new_pairs, batch_size=1000)
        report.pairs = len(new_pairs)
        fresh = {id(p) for p in new_pairs}
        for pair in pairs.values():
            if id(pair) not in fresh and id(pair) in added:
                Pair.objects.filter(pk=pair.pk).update(load=F("load") + added[id(pair)])
        created = Vote.objects.bulk_create(votes, batch_size=2000)
        # created_at is set on insert (auto_now_add); the battles' own times are written after.
        for vote, moment in dated:
            vote.created_at = moment
        Vote.objects.bulk_update([v for v, _ in dated], ["created_at"], batch_size=2000)
        report.votes = len(created)
    results_invalidate(study_id=study.pk)
    return report
