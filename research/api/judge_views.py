"""LLM judges and re-evaluation in the results API: the judges' results beside the humans',
two studies compared, and model drift. Same access rules as the rest of the API."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from research.api.permissions import study_get_for
from research.api.views import BAD_REQUEST, ERRORS, InvalidOption, StudyApi
from research.reevaluation.drift import candidates_drift


class JudgeBlockSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.CharField(help_text="The judge's LiteLLM model string.")
    progress = serializers.DictField(
        help_text="Calls done, failed, pending, unparseable, and calls_with_logprobs (those with "
        "the judge's probability for its verdict)."
    )
    position_consistency = serializers.DictField(
        help_text="Share of pairs whose two orders agree; the first-shown answer's win share."
    )
    ranking = serializers.DictField(help_text="The judge's own ranking (analyze layout).")
    beside_humans = serializers.DictField(help_text="Judge and human ratings per model.")
    agreement_with_humans = serializers.DictField(
        help_text="Percent agreement with and without ties; Cohen's kappa vs the majority."
    )
    ppi = serializers.DictField(
        help_text="Prediction-powered (PPI++) ratings: the human votes plus this judge's score "
        "on every pair (its probability for its verdict from log-probabilities, else its mean "
        "verdict, over both orders; recalibrated on the human-voted pairs by cross-fitting), "
        "with tuning, effective_human_votes, "
        "width_ratio (PPI over human-only interval width) and the assumption they rest on."
    )
    cost = serializers.DictField(help_text="USD, tokens and latency of the judge calls.")


class JudgeResultsSerializer(serializers.Serializer):
    study = serializers.IntegerField()
    human_votes_only_in_ranking = serializers.BooleanField()
    human_ranking = serializers.DictField()
    judges = JudgeBlockSerializer(many=True)
    ppi_all_judges = serializers.DictField(
        help_text="PPI++ ratings from every judge at once, one power-tuning weight per judge "
        "(judge_weights); a message with fewer than two judges."
    )
    verdict_rule = serializers.CharField()


class CompareQuerySerializer(serializers.Serializer):
    anchor = serializers.CharField(
        required=False, help_text="Put both studies relative to this model (default: centred)."
    )


class CompareSerializer(serializers.Serializer):
    study_a = serializers.DictField()
    study_b = serializers.DictField()
    shared_prompts = serializers.IntegerField()
    reference = serializers.CharField()
    test = serializers.CharField()
    models = serializers.ListField(child=serializers.DictField())
    warnings = serializers.ListField(child=serializers.CharField())


class DriftSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    model = serializers.CharField()
    pinned_version = serializers.CharField()
    outputs_done = serializers.IntegerField()
    outputs_version_mismatch = serializers.IntegerField()
    served_models = serializers.DictField(child=serializers.IntegerField())
    drift = serializers.BooleanField(help_text="Some output was served by another model.")


class JudgeResultsApi(StudyApi):
    @extend_schema(responses={200: JudgeResultsSerializer, **ERRORS})
    def get(self, request: Request, study_id: int) -> Response:
        """Each LLM judge's ranking beside the human ranking, its agreement with the humans,
        its position consistency, progress and cost. Judge votes never enter the human ranking.
        """
        from research.judging.results import study_judge_results  # scipy: loaded on first use

        return Response(study_judge_results(study=self.study()))


class StudyCompareApi(StudyApi):
    @extend_schema(
        parameters=[CompareQuerySerializer],
        responses={200: CompareSerializer, **BAD_REQUEST, **ERRORS},
    )
    def get(self, request: Request, study_id: int, other_id: int) -> Response:
        """This study (a) against another of the same prompts (b): ratings side by side with
        intervals, and which models' ratings differ significantly (Holm-corrected)."""
        query = CompareQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        study = self.study()
        other = study_get_for(request.user, other_id)
        from research.reevaluation.comparing import (  # scipy: on first use
            CompareError,
            studies_compare,
        )

        try:
            document = studies_compare(
                study_a=study, study_b=other, anchor=query.validated_data.get("anchor")
            )
        except CompareError as exc:
            raise InvalidOption(str(exc)) from None
        return Response(document)


class DriftApi(StudyApi):
    @extend_schema(
        responses={
            200: OpenApiResponse(DriftSerializer(many=True), "Drift per candidate."),
            **ERRORS,
        }
    )
    def get(self, request: Request, study_id: int) -> Any:
        """Per candidate, the models the provider reported serving against the pinned version;
        `drift` is true when any output was served by another model."""
        return Response(DriftSerializer(candidates_drift(study=self.study()), many=True).data)
