"""GET /api/v1/studies/ID/decision/: the decision as JSON, with the same access rules as the
other study endpoints."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from research.api.views import BAD_REQUEST, ERRORS, InvalidOption, StudyApi
from research.decision.constraints import PRICE_SOURCES, ConstraintsError
from research.decision.selectors import decision_document


class DecisionQuerySerializer(serializers.Serializer):
    price_source = serializers.ChoiceField(
        choices=PRICE_SOURCES,
        required=False,
        help_text="What if prices change: measured (the costs recorded at generation), litellm "
        "(LiteLLM's local table now) or typed (the researcher's prices). Default: the saved one.",
    )
    volume_scale = serializers.DecimalField(
        max_digits=12,
        decimal_places=4,
        min_value=Decimal(0),
        max_value=Decimal(100_000),
        required=False,
        help_text="What if volume changes: every category's monthly volume times this.",
    )


class ScopeSerializer(serializers.Serializer):
    scope = serializers.CharField(help_text="A category, or 'overall'.")
    votes = serializers.IntegerField()
    volume = serializers.IntegerField(help_text="Requests per month (after volume_scale).")
    best = serializers.CharField(allow_null=True)
    recommended = serializers.CharField(allow_null=True)
    decided = serializers.BooleanField()
    verdict = serializers.CharField()
    monthly_cost_usd = serializers.CharField(allow_null=True, help_text="USD, Decimal as text.")
    single_best_monthly_cost_usd = serializers.CharField(allow_null=True)
    saving_usd = serializers.CharField(allow_null=True)
    evidence = serializers.DictField(allow_null=True)
    more_votes_would_decide = serializers.ListField(child=serializers.DictField())
    models = serializers.ListField(child=serializers.DictField())


class DecisionSerializer(serializers.Serializer):
    study = serializers.DictField()
    constraints = serializers.DictField()
    margin = serializers.DictField()
    volume_scale = serializers.CharField()
    prices = serializers.DictField(help_text="kind, source and date of the prices used.")
    test = serializers.CharField()
    single_best_model = serializers.CharField(allow_null=True)
    overall = ScopeSerializer()
    categories = ScopeSerializer(many=True)
    routing = serializers.DictField()
    break_even = serializers.DictField()
    votes_needed = serializers.ListField(child=serializers.DictField())
    recorded = serializers.ListField(child=serializers.DictField())


class DecisionApi(StudyApi):
    @extend_schema(
        parameters=[DecisionQuerySerializer],
        responses={200: DecisionSerializer, **BAD_REQUEST, **ERRORS},
    )
    def get(self, request: Request, study_id: int) -> Response:
        """Which model to use per category and overall under the study's constraints, at what
        monthly cost, the routing table, price and volume what-ifs, and recorded decisions."""
        query = DecisionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            document = decision_document(study=self.study(), **query.validated_data)
        except ConstraintsError as exc:
            raise InvalidOption(str(exc)) from None
        return Response(document)
