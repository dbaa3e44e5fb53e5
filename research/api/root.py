"""GET /api/v1/: what the API offers, with links, for researchers (JSON 401/403 otherwise)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from research.api.permissions import IsResearcher

# Per-study endpoints, by URL name; their paths are shown with a {study_id} placeholder.
STUDY_ENDPOINTS = [
    "study-detail",
    "candidates",
    "ranking",
    "pairwise",
    "agreement",
    "biases",
    "votes",
    "votes-csv",
    "votes-jsonl",
    "votes-json",
    "outputs",
    "outputs-csv",
    "outputs-jsonl",
    "preferences-jsonl",
    "preferences-zip",
    "judges",
    "drift",
]


class ApiRootSerializer(serializers.Serializer):
    studies = serializers.URLField()
    study = serializers.DictField(
        child=serializers.CharField(), help_text="Per-study endpoints; replace {study_id}."
    )
    schema = serializers.URLField(help_text="The OpenAPI schema.")
    docs = serializers.URLField(help_text="Interactive documentation of the schema.")


class ApiRoot(APIView):
    permission_classes = [IsResearcher]

    @extend_schema(responses={200: ApiRootSerializer})
    def get(self, request: Request) -> Response:
        """The API's entry points: the study list, per-study endpoints, the schema and docs."""

        def url(name: str, **kwargs: Any) -> str:
            return reverse(f"api:{name}", kwargs=kwargs or None, request=request)

        placeholder = 999_999_999
        study = {
            name: url(name, study_id=placeholder).replace(str(placeholder), "{study_id}")
            for name in STUDY_ENDPOINTS
        }
        return Response(
            {
                "studies": url("study-list"),
                "study": study,
                "schema": url("schema"),
                "docs": url("docs"),
            }
        )
