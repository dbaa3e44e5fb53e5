"""GET /api/v1/studies/ID/preferences.jsonl and .zip: thin views over `study_preferences_export`."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from research.api.exports import export_response
from research.api.views import BAD_REQUEST, ERRORS, ExportApi, InvalidOption, _validated
from research.preferences.dataset_zip import preferences_zip
from research.preferences.export import study_preferences_export
from research.preferences.options import BOTH_BAD, FORMATS, MODES, TIES, PreferenceOptions


class PreferenceQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=FORMATS,
        default="trl",
        help_text="trl: prompt, chosen, rejected (DPOTrainer, RewardTrainer); trl-kto: prompt, "
        "completion, label; openai-dpo: input.messages, preferred_output, non_preferred_output; "
        "rewardbench: prompt, chosen, chosen_model, rejected, rejected_model, subset; arena: the "
        "battle format with conversation_a/b.",
    )
    mode = serializers.ChoiceField(
        choices=MODES,
        required=False,
        help_text="majority: one record per pair, its majority outcome (a split pair gives none); "
        "every: one record per vote. Default: every for arena, majority otherwise.",
    )
    ties = serializers.ChoiceField(
        choices=TIES,
        required=False,
        help_text="drop (default for trainer formats) or keep (arena only, its default).",
    )
    both_bad = serializers.ChoiceField(
        choices=BOTH_BAD,
        required=False,
        help_text="drop (trainer formats' default), rejected (trl-kto: both answers as "
        "undesirable) or keep (arena only, its default).",
    )
    min_votes = serializers.IntegerField(
        min_value=1, max_value=10_000, default=1, help_text="Leave out pairs with fewer votes."
    )
    min_agreement = serializers.FloatField(
        min_value=0.0,
        max_value=1.0,
        default=0.0,
        help_text="Leave out pairs whose majority outcome has a smaller share of their votes.",
    )
    category = serializers.CharField(
        required=False, max_length=100, help_text="Only pairs on prompts of this category."
    )
    exclude_flagged = serializers.BooleanField(
        default=False, help_text="Leave out the votes of raters flagged in this study."
    )
    exclude_gold_failures = serializers.BooleanField(
        default=False,
        help_text="Leave out the votes of raters below the study's gold-pair accuracy.",
    )
    exclude_raters = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        max_length=10000,
        help_text="Raters to leave out, by id or pseudonym (rater-...); repeat the parameter.",
    )
    contested = serializers.BooleanField(
        default=True,
        help_text="Add how contested each pair is (votes per side, ties, both_bad, agreement, "
        "margin_elo, pair and rater pseudonyms); false gives only the format's own fields.",
    )

    adjudicated = serializers.BooleanField(
        default=False,
        help_text="A pair a senior rater adjudicated takes the verdict as its label instead of "
        "the raters' majority (mode=majority only); min_agreement does not drop it.",
    )

    def to_options(self) -> PreferenceOptions:
        data = self.validated_data
        return PreferenceOptions(
            format=data["format"],
            mode=data.get("mode"),
            ties=data.get("ties"),
            both_bad=data.get("both_bad"),
            min_votes=data["min_votes"],
            min_agreement=data["min_agreement"],
            category=data.get("category"),
            exclude_flagged=data["exclude_flagged"],
            exclude_gold_failures=data["exclude_gold_failures"],
            exclude_raters=tuple(data.get("exclude_raters", ())),
            contested=data["contested"],
            adjudicated=data["adjudicated"],
        )


def _export(view: ExportApi, request: Request) -> Any:
    study = view.study()
    options = _validated(PreferenceQuerySerializer, request).to_options()
    try:
        return study, study_preferences_export(study=study, options=options)
    except ValueError as exc:
        raise InvalidOption(str(exc)) from None


class PreferenceExportApi(ExportApi):
    fmt = "jsonl"

    @extend_schema(
        parameters=[PreferenceQuerySerializer],
        responses={
            (200, "application/jsonl"): OpenApiResponse(
                OpenApiTypes.STR, description="One preference record per line, streamed."
            ),
            **BAD_REQUEST,
            **ERRORS,
        },
        operation_id="studies_preferences_export_jsonl",
    )
    def get(self, request: Request, study_id: int) -> StreamingHttpResponse:
        """The study's votes as training records (DPO, KTO, reward models, the battle format),
        each saying how contested its pair was. Gold pairs never count; raters are pseudonyms."""
        study, export = _export(self, request)
        return export_response(
            export.records,
            fields=[],
            fmt="jsonl",
            filename=f"{study.slug}-preferences-{export.options.format}",
        )


class PreferenceDatasetApi(ExportApi):
    @extend_schema(
        parameters=[PreferenceQuerySerializer],
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="data/train-00000-of-00001.parquet and a dataset card README.md.",
            ),
            **BAD_REQUEST,
            **ERRORS,
        },
        operation_id="studies_preferences_export_zip",
    )
    def get(self, request: Request, study_id: int) -> HttpResponse:
        """The same records as Parquet with a dataset card, zipped: `datasets.load_dataset` on
        the unzipped folder reads it."""
        study, export = _export(self, request)
        try:
            body = preferences_zip(study=study, export=export)
        except ValueError as exc:
            raise InvalidOption(str(exc)) from None
        response = HttpResponse(body, content_type="application/zip")
        name = f"{study.slug}-preferences-{export.options.format}"
        response["Content-Disposition"] = f'attachment; filename="{name}.zip"'
        return response
