"""Prompt (and output) files -> the study's prompts (and outputs), all or nothing.

A file is parsed and validated whole before anything is written; every problem found is
reported with its line number, and a file with any problem writes nothing. Reading the
file into rows is studies/import_rows.py.
"""

import json
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evaluations.models import Prompt, PromptMedia, Study
from evaluations.studies.conversations import ArchiveReader, Conversation, conversation_parse
from evaluations.studies.import_rows import ImportFailed, _guess_format, parse_rows, size_text
from evaluations.studies.prompt_archive import ArchiveRefused, archive_open, is_zip
from evaluations.studies.prompt_media import Media, MediaRefused, media_delete_files, media_store

PROMPT_FIELDS = ("id", "text")
PROMPT_OPTIONAL = ("category", "context", "reference")
# A JSONL line may hold a conversation instead of text (studies/conversations.py).
PROMPT_CONVERSATION = ("text", "messages", "turns", "system")


def _prompt_rows(data: bytes, filename: str, size: int | None) -> list[tuple[int, dict]]:
    head = data[:4096].decode("utf-8", "ignore").lstrip("\ufeff")
    if _guess_format(filename, head) == "csv":
        return parse_rows(
            data, filename, required=PROMPT_FIELDS, optional=PROMPT_OPTIONAL, size=size
        )
    rows = parse_rows(
        data,
        filename,
        required=("id",),
        optional=PROMPT_OPTIONAL,
        size=size,
        structured=PROMPT_CONVERSATION,
    )
    missing = [
        f"line {number}: missing field(s) text (or messages, or turns)"
        for number, row in rows
        if not any(key in row for key in ("text", "messages", "turns"))
    ]
    if missing:
        raise ImportFailed(missing)
    return rows


def _prompts_source(
    data: bytes, filename: str, size: int | None
) -> tuple[bytes, str, int | None, ArchiveReader | None]:
    """The prompt file's bytes, name and size, and the reader of the zip's files if zipped."""
    if not is_zip(data, filename):
        return data, filename, size, None
    limit = settings.MAX_IMPORT_BYTES
    whole = max(size or 0, len(data))
    if whole > limit:
        raise ImportFailed(
            [f"line 1: the zip is {size_text(whole)}; the limit is {size_text(limit)}"]
        )
    try:
        archive = archive_open(data)
        prompt_data = archive.prompt_file()
    except (ArchiveRefused, MediaRefused) as exc:
        raise ImportFailed([f"line 1: {exc}"]) from None
    return prompt_data, archive.prompt_name, None, archive.media_read


def prompts_import(*, study: Study, data: bytes, filename: str, size: int | None = None) -> int:
    """Create the study's prompts from a CSV/JSONL file, or a zip of one with the images and
    documents it names; all or nothing. Returns rows created."""
    data, filename, size, read = _prompts_source(data, filename, size)
    rows = _prompt_rows(data, filename, size)
    errors: list[str] = []
    seen: dict[str, int] = {}
    existing = set(Prompt.objects.filter(study=study).values_list("external_id", flat=True))
    prompts: list[Prompt] = []
    media: dict[str, Media] = {}
    for number, row in rows:
        external_id = row.get("id", "").strip()
        if not external_id:
            errors.append(f"line {number}: empty id")
        elif len(external_id) > 200:
            errors.append(f"line {number}: id longer than 200 characters")
        elif external_id in seen:
            first = seen[external_id]
            errors.append(f"line {number}: duplicate id {external_id!r} (first on line {first})")
        elif external_id in existing:
            errors.append(f"line {number}: id {external_id!r} already exists in this study")
        else:
            seen[external_id] = number
        conversation = Conversation()
        if "messages" in row or "turns" in row:
            conversation, problems = conversation_parse(row, read)
            errors.extend(f"line {number}: {problem}" for problem in problems)
            text = conversation.text
            media.update((m.sha256, m) for m in conversation.media)
        else:
            text = row.get("text", "")
            if not isinstance(text, str):
                text = "" if text is None else json.dumps(text)
            if "system" in row:
                errors.append(f"line {number}: system goes with turns, not with text")
            if not text.strip():
                errors.append(f"line {number}: empty text")
        category = row.get("category", "").strip()
        if len(category) > 100:
            errors.append(f"line {number}: category longer than 100 characters")
        prompts.append(
            Prompt(
                study=study,
                external_id=external_id,
                text=text,
                category=category,
                context=row.get("context", ""),
                reference=row.get("reference", ""),
                messages=conversation.messages,
                turns=conversation.turns,
            )
        )
    if errors:
        raise ImportFailed(errors)
    stored: list[PromptMedia] = []
    try:
        with transaction.atomic():
            for item in media.values():
                before = PromptMedia.objects.filter(study=study, sha256=item.sha256).exists()
                record = media_store(study, item)
                if not before:
                    stored.append(record)
            Prompt.objects.bulk_create(prompts, batch_size=1000)
    except BaseException:
        media_delete_files(stored)  # the rows rolled back; their files go too
        raise
    return len(prompts)


OUTPUT_FIELDS = ("prompt_id", "model", "output")
OUTPUT_OPTIONAL = ("label", "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost_usd")


# The columns' ranges: PostgreSQL's integer, and the cost's numeric(14, 8). Latencies have no
# column limit, but a time over a week is a unit mistake, not a measurement.
MAX_TOKENS = 2**31 - 1
MAX_MS = 7 * 24 * 3600 * 1000
COST_LIMIT = Decimal(1_000_000)


def _number(row: dict[str, str], name: str, number: int, errors: list[str], *, integer: bool):
    value = row.get(name, "").strip()
    if not value:
        return None
    try:
        parsed = int(value) if integer else Decimal(value)
    except (ValueError, ArithmeticError):
        kind = "a whole number" if integer else "a number"
        errors.append(f"line {number}: {name} must be {kind}, got {value[:40]!r}")
        return None
    if not integer and not parsed.is_finite():
        errors.append(f"line {number}: {name} must be a finite number, got {value[:40]!r}")
        return None
    if parsed < 0:
        errors.append(f"line {number}: {name} must be at least 0, got {value[:40]!r}")
        return None
    if integer and parsed > MAX_TOKENS:
        errors.append(f"line {number}: {name} must be at most {MAX_TOKENS:,}, got {value[:40]!r}")
        return None
    if not integer and name.endswith("_ms") and parsed > MAX_MS:
        errors.append(
            f"line {number}: {name} must be at most {MAX_MS:,} (a week), got {value[:40]!r}"
        )
        return None
    return parsed


def outputs_import(*, study: Study, data: bytes, filename: str, size: int | None = None) -> int:
    """Import finished outputs (prompt_id, model, output, ...) into ``study``; all or nothing.

    Candidates are matched by model string within the study, or created with the model string
    (or the optional ``label`` column) as their label. Text is scrubbed like generated text.
    Returns how many outputs were imported.
    """
    from evaluations.anonymity.scrubbing import study_terms, text_scrub
    from evaluations.models import Candidate, Output

    rows = parse_rows(data, filename, required=OUTPUT_FIELDS, optional=OUTPUT_OPTIONAL, size=size)
    errors: list[str] = []
    prompts = dict(Prompt.objects.filter(study=study).values_list("external_id", "id"))
    candidates = {c.model: c for c in Candidate.objects.filter(study=study)}
    labels_taken = {c.label for c in candidates.values()}
    new_candidates: dict[str, str] = {}  # model -> label
    finished = set(
        Output.objects.filter(prompt__study=study, status=Output.Status.DONE).values_list(
            "prompt_id", "candidate__model"
        )
    )
    seen: dict[tuple[str, str], int] = {}
    parsed: list[tuple[int, str, dict]] = []
    for number, row in rows:
        prompt_key = row.get("prompt_id", "").strip()
        model = row.get("model", "").strip()
        text = row.get("output", "")
        if not prompt_key:
            errors.append(f"line {number}: empty prompt_id")
        elif prompt_key not in prompts:
            errors.append(f"line {number}: no prompt with id {prompt_key!r} in this study")
        if not model:
            errors.append(f"line {number}: empty model")
        elif len(model) > 200:
            errors.append(f"line {number}: model longer than 200 characters")
        if not text.strip():
            errors.append(f"line {number}: empty output")
        key = (prompt_key, model)
        if key in seen:
            errors.append(
                f"line {number}: a second output for prompt {prompt_key!r} and model {model!r} "
                f"(first on line {seen[key]})"
            )
        seen[key] = number
        if prompt_key in prompts and (prompts[prompt_key], model) in finished:
            errors.append(
                f"line {number}: prompt {prompt_key!r} already has a finished output from {model!r}"
            )
        if model and model not in candidates and model not in new_candidates:
            label = (row.get("label", "").strip() or model)[:100]
            if label in labels_taken:
                errors.append(f"line {number}: label {label!r} is already used by a candidate")
            labels_taken.add(label)
            new_candidates[model] = label
        metrics = {
            "latency_ms": _number(row, "latency_ms", number, errors, integer=False),
            "ttft_ms": _number(row, "ttft_ms", number, errors, integer=False),
            "input_tokens": _number(row, "input_tokens", number, errors, integer=True),
            "output_tokens": _number(row, "output_tokens", number, errors, integer=True),
            "cost_usd": _number(row, "cost_usd", number, errors, integer=False),
        }
        if metrics["cost_usd"] is not None:
            # Rounded first: 999999.999999999 rounds up to the limit the column cannot hold.
            cost = metrics["cost_usd"]
            if cost < COST_LIMIT:
                cost = cost.quantize(Decimal("1e-8"))
            if cost >= COST_LIMIT:
                errors.append(f"line {number}: cost_usd must be below 1,000,000")
            else:
                metrics["cost_usd"] = cost
        for name in ("latency_ms", "ttft_ms"):
            if metrics[name] is not None:
                metrics[name] = float(metrics[name])
        parsed.append((number, prompt_key, {"model": model, "text": text, **metrics}))
    if errors:
        raise ImportFailed(errors)
    with transaction.atomic():
        for model, label in new_candidates.items():
            candidates[model] = Candidate.objects.create(study=study, label=label, model=model)
        candidate_list = list(candidates.values())
        terms = study_terms(
            labels=[c.label for c in candidate_list],
            models=[c.model for c in candidate_list],
            versions=[c.version for c in candidate_list],
        )
        now = timezone.now()
        for _, prompt_key, values in parsed:
            scrubbed = text_scrub(values["text"], terms=terms)
            Output.objects.update_or_create(
                prompt_id=prompts[prompt_key],
                candidate=candidates[values["model"]],
                defaults={
                    "status": Output.Status.DONE,
                    "text": scrubbed.text,
                    "raw_text": values["text"],
                    **scrubbed.output_fields(),
                    "imported": True,
                    "latency_ms": values["latency_ms"],
                    "ttft_ms": values["ttft_ms"],
                    "input_tokens": values["input_tokens"],
                    "output_tokens": values["output_tokens"],
                    "cost_usd": values["cost_usd"],
                    "last_error": "",
                    "finished_at": now,
                },
            )
    return len(parsed)
