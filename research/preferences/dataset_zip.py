"""Preference records as a Hugging Face dataset: Parquet plus a dataset card, zipped."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from evaluations.models import Study
from research.preferences.export import PreferenceExport

PARQUET_PATH = "data/train-00000-of-00001.parquet"

FIELD_NOTES = {
    "trl": "`prompt`, `chosen`, `rejected`: strings (message lists when the study has "
    "conversations), as TRL's DPOTrainer and RewardTrainer take them.",
    "trl-kto": "`prompt`, `completion`, `label` (true: the preferred answer), unpaired, as "
    "TRL's KTOTrainer takes them.",
    "openai-dpo": "`input.messages`, `preferred_output`, `non_preferred_output`, as OpenAI's "
    "preference fine-tuning takes them.",
    "rewardbench": "`prompt`, `chosen`, `chosen_model`, `rejected`, `rejected_model`, `subset` "
    "(the prompt's category).",
    "arena": "the Chatbot Arena battle format: `model_a`, `model_b`, `winner`, `judge`, "
    "`question_id`, `turn`, `tstamp`, `conversation_a`, `conversation_b`.",
}
CONTESTED_NOTES = (
    "- `pair_id`, `prompt_id`, `category`: the pair judged and its prompt.\n"
    "- `rater` (one record per vote) or `raters` (per pair): pseudonyms, stable within this "
    "study and not linkable to other studies or to a person.\n"
    "- `votes`: the pair's votes counted; `votes_chosen` / `votes_rejected` (arena: `votes_a` / "
    "`votes_b`), `ties`, `both_bad`: how they split.\n"
    "- `agreement`: the share of the pair's votes with this record's outcome.\n"
    "- `margin_elo`: the first-named model's rating minus the other's in the Bradley-Terry fit "
    "of the same votes (Elo scale: 400 points = 10:1 odds); a property of the two models, not "
    "of this pair.\n"
)


def _parquet(records: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records), sink, compression="zstd")
    return sink.getvalue()


def _yaml_text(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'"{escaped}"'


def dataset_card(*, study: Study, export: PreferenceExport, records: list[dict]) -> str:
    options = export.options
    models = sorted(
        {
            r[k]
            for r in records
            for k in ("model_a", "model_b", "chosen_model", "rejected_model")
            if k in r
        }
    )
    pairs = len({r["pair_id"] for r in records if "pair_id" in r})
    chosen = {
        "exclude_flagged": options.exclude_flagged,
        "exclude_gold_failures": options.exclude_gold_failures,
        "excluded_raters": len(options.exclude_raters),
        "min_votes": options.min_votes,
        "min_agreement": options.min_agreement,
        "category": options.category or "all",
        "mode": options.mode,
        "ties": options.ties,
        "both_bad": options.both_bad,
        "adjudicated": options.adjudicated,
    }
    dropped = ", ".join(f"{k}: {v}" for k, v in sorted(export.dropped.items())) or "none"
    return (
        "---\n"
        "# The licence of this data is yours to choose: replace `other` (e.g. cc-by-4.0).\n"
        "license: other\n"
        f"pretty_name: {_yaml_text(study.name)}\n"
        "task_categories:\n- text-generation\n"
        "tags:\n- human-feedback\n- preference\n- tastetest\n"
        "configs:\n- config_name: default\n  data_files:\n  - split: train\n"
        f"    path: {PARQUET_PATH}\n"
        "---\n\n"
        f"# {study.name}\n\n"
        f"Blind pairwise human preference votes collected with tastetest. Raters were asked: "
        f"*{study.question}*\n\n"
        "## Counts\n\n"
        f"- records: {len(records)}\n"
        f"- pairs: {pairs if options.contested else 'not recorded (contested=false)'}\n"
        f"- models: {len(models) if models else 'not recorded in this format'}\n"
        f"- left out: {dropped}\n\n"
        "## Selection\n\n"
        + "".join(f"- {k}: {v}\n" for k, v in chosen.items())
        + "\nGold (attention-check) pairs are never included.\n\n"
        "## Fields\n\n"
        f"Format `{options.format}`: {FIELD_NOTES[options.format]}\n\n"
        + (CONTESTED_NOTES if options.contested else "")
        + "\n## Licence\n\nSet by the researcher in the `license` field above.\n"
    )


def preferences_zip(*, study: Study, export: PreferenceExport) -> bytes:
    """The zip's bytes; ValueError when no record matches the options (an empty dataset has no
    columns for `datasets` to read)."""
    records = list(export.records)
    if not records:
        dropped = ", ".join(f"{k}: {v}" for k, v in sorted(export.dropped.items())) or "no votes"
        raise ValueError(f"no record matches these options ({dropped})")
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(PARQUET_PATH, _parquet(records))
        archive.writestr("README.md", dataset_card(study=study, export=export, records=records))
    return sink.getvalue()
