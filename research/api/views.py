"""Read-only results API: one thin view per operation; access checks, input validation, one
selector call. Permissions and study visibility are in `permissions.py`."""

from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from drf_spectacular.plumbing import build_array_type, build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evaluations.models import Study
from research.api.exports import export_response
from research.api.permissions import IsResearcher, studies_visible_to, study_get_for
from research.api.serializers import (
    AgreementSerializer,
    BiasSerializer,
    CandidateStatsSerializer,
    ErrorSerializer,
    OutputQuerySerializer,
    OutputRowSerializer,
    PairwiseMatrixSerializer,
    RankingSerializer,
    ResultQuerySerializer,
    StudyDetailSerializer,
    StudyListQuerySerializer,
    StudySerializer,
    VoteQuerySerializer,
    VoteRowSerializer,
)
from research.results.aggregation import (
    ResultOptions,
    pairwise_matrix,
    ranking_json_bytes,
)
from research.results.criteria import criteria_agreement, criteria_bias
from research.results.exports import (
    EXPORT_FIELDS,
    EXPORT_NUMERIC_FIELDS,
    OUTPUT_EXPORT_FIELDS,
    OUTPUT_EXPORT_NUMERIC_FIELDS,
    output_export_row,
    outputs_export_queryset,
    study_votes_values,
    vote_rows,
)
from research.results.snapshots import ResultSnapshot, results_snapshot
from research.results.study_stats import candidates_stats, study_progress

ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="No or invalid credentials."),
    403: OpenApiResponse(ErrorSerializer, description="Not a researcher (e.g. a rater)."),
    404: OpenApiResponse(ErrorSerializer, description="No such study visible to you."),
}
BAD_REQUEST = {
    400: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="Invalid query parameters: {parameter: [messages]} or {detail: message}.",
    )
}


class InvalidOption(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_option"


class Pagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000


class StudyApi(APIView):
    permission_classes = [IsResearcher]

    def study(self) -> Study:
        return study_get_for(self.request.user, self.kwargs["study_id"])


def _validated(serializer_class: type, request: Request) -> Any:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer


COMPUTING = {
    202: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="A big study's first result for these options is being computed: "
        "{detail, status: computing}; ask again after Retry-After seconds.",
    )
}


def _snapshot(kind: str, study: Study, options: ResultOptions) -> ResultSnapshot:
    try:
        snapshot = results_snapshot(study=study, kind=kind, options=options)
    except ValueError as exc:
        # analyze rejects what only the data can tell: an unknown category or anchor model.
        raise InvalidOption(str(exc)) from None
    if snapshot.error:
        raise InvalidOption(snapshot.error)
    return snapshot


def _snapshot_response(snapshot: ResultSnapshot, body: Any) -> HttpResponse:
    """The result with headers saying whether it is current, or a 202 while it is computed."""
    if snapshot.document is None:
        detail = snapshot.queue_error or "the results are being computed: ask again shortly"
        response: HttpResponse = Response(
            {"detail": detail, "status": snapshot.status}, status=status.HTTP_202_ACCEPTED
        )
        response["Retry-After"] = "5"
    else:
        response = body(snapshot.document)
        response["Results-Computed-At"] = snapshot.computed_at.isoformat()
        response["Results-Votes"] = str(snapshot.votes)
    response["Results-Status"] = snapshot.status
    return response


class StudyListApi(ListAPIView):
    """Studies visible to you (yours; all of them for a superuser), newest first."""

    permission_classes = [IsResearcher]
    serializer_class = StudySerializer
    pagination_class = Pagination

    def get_queryset(self) -> QuerySet[Study]:
        filters = _validated(StudyListQuerySerializer, self.request).validated_data
        studies = studies_visible_to(self.request.user).order_by("-created_at", "-id")
        if "status" in filters:
            studies = studies.filter(status=filters["status"])
        if filters.get("search"):
            term = filters["search"]
            studies = studies.filter(Q(name__icontains=term) | Q(slug__icontains=term))
        return studies

    @extend_schema(
        parameters=[StudyListQuerySerializer],
        responses={200: StudySerializer(many=True), **BAD_REQUEST, **ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class StudyDetailApi(StudyApi):
    @extend_schema(responses={200: StudyDetailSerializer, **ERRORS})
    def get(self, request: Request, study_id: int) -> Response:
        """A study's design and progress: outputs done and failed, pairs, votes, raters."""
        study = self.study()
        study.progress = study_progress(study=study)
        return Response(StudyDetailSerializer(study).data)


class CandidateListApi(StudyApi):
    @extend_schema(responses={200: CandidateStatsSerializer(many=True), **ERRORS})
    def get(self, request: Request, study_id: int) -> Response:
        """The study's candidates with cost, latency, time to first token and tokens over
        their done outputs."""
        stats = candidates_stats(study=self.study())
        return Response(CandidateStatsSerializer(stats, many=True).data)


class RankingApi(StudyApi):
    @extend_schema(
        parameters=[ResultQuerySerializer],
        responses={200: RankingSerializer, **COMPUTING, **BAD_REQUEST, **ERRORS},
    )
    def get(self, request: Request, study_id: int) -> Response:
        """The ranking, as `manage.py analyze` prints it, from votes aggregated in the database.

        Gold-pair votes never count. Agreement, gold accuracy and length bias are computed per
        vote: see the agreement and biases endpoints.

        The ranking, pairwise, agreement and biases responses carry `Results-Status`: `current`
        (the votes as they are now) or `stale` (a big study's newest result, computed before
        the latest votes and served while it is recomputed), with `Results-Computed-At` and
        `Results-Votes` saying when and from how many votes.
        """
        study = self.study()
        options = _validated(ResultQuerySerializer, request).to_options()
        return _snapshot_response(
            _snapshot("ranking", study, options),
            lambda document: HttpResponse(
                ranking_json_bytes(document), content_type="application/json"
            ),
        )


class PairwiseApi(StudyApi):
    @extend_schema(
        parameters=[ResultQuerySerializer],
        responses={200: PairwiseMatrixSerializer, **COMPUTING, **BAD_REQUEST, **ERRORS},
    )
    def get(self, request: Request, study_id: int) -> Response:
        """Pairwise win probabilities with 95% intervals and Holm-adjusted p-values, as
        matrices in rating order and as a list of pairs."""
        study = self.study()
        options = _validated(ResultQuerySerializer, request).to_options()
        return _snapshot_response(
            _snapshot("ranking", study, options),
            lambda document: Response(pairwise_matrix(document)),
        )


class AgreementApi(StudyApi):
    @extend_schema(
        parameters=[ResultQuerySerializer],
        responses={200: AgreementSerializer, **COMPUTING, **BAD_REQUEST, **ERRORS},
    )
    def get(self, request: Request, study_id: int) -> Response:
        """Inter-rater agreement and accuracy on gold pairs (raters pseudonymized)."""
        study = self.study()
        options = _validated(ResultQuerySerializer, request).to_options()
        return _snapshot_response(
            _snapshot("analysis", study, options),
            lambda document: Response(
                {
                    **{k: document[k] for k in ("summary", "agreement", "gold", "warnings")},
                    **criteria_agreement(document),
                }
            ),
        )


class BiasApi(StudyApi):
    @extend_schema(
        parameters=[ResultQuerySerializer],
        responses={200: BiasSerializer, **COMPUTING, **BAD_REQUEST, **ERRORS},
    )
    def get(self, request: Request, study_id: int) -> Response:
        """Position bias (does the left side win more?) and length bias (does the longer
        answer win more?), with tests and intervals."""
        study = self.study()
        options = _validated(ResultQuerySerializer, request).to_options()
        return _snapshot_response(
            _snapshot("analysis", study, options),
            lambda document: Response(
                {
                    **{k: document[k] for k in ("summary", "bias", "warnings")},
                    **criteria_bias(document),
                }
            ),
        )


class VoteListApi(StudyApi):
    pagination_class = Pagination

    @extend_schema(
        parameters=[VoteQuerySerializer],
        responses={200: VoteRowSerializer(many=True), **BAD_REQUEST, **ERRORS},
    )
    def get(self, request: Request, study_id: int) -> Response:
        """Votes in the Chatbot Arena / MT-Bench battle format, paginated, oldest first."""
        study = self.study()
        query = _validated(VoteQuerySerializer, request).validated_data
        paginator = Pagination()
        values = study_votes_values(study=study, include_gold=query["include_gold"])
        page = paginator.paginate_queryset(values, request, view=self)
        rows = list(vote_rows(study=study, values=page, pseudonymize=query["pseudonymize"]))
        return paginator.get_paginated_response(rows)


class OutputListApi(StudyApi):
    pagination_class = Pagination

    @extend_schema(
        parameters=[OutputQuerySerializer],
        responses={200: OutputRowSerializer(many=True), **BAD_REQUEST, **ERRORS},
    )
    def get(self, request: Request, study_id: int) -> Response:
        """Outputs with prompt, model, text, tokens, cost and latency, paginated."""
        study = self.study()
        query = _validated(OutputQuerySerializer, request).validated_data
        paginator = Pagination()
        outputs = outputs_export_queryset(
            study=study, candidate_id=query.get("candidate"), status=query.get("status")
        )
        page = paginator.paginate_queryset(outputs, request, view=self)
        return paginator.get_paginated_response([output_export_row(o) for o in page])


# --- streamed exports --------------------------------------------------------------------------


class FirstRenderer(BaseContentNegotiation):
    """Exports stream their own body; errors always come back as JSON, whatever was accepted."""

    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


EXPORT_MEDIA = {"csv": "text/csv", "jsonl": "application/jsonl", "json": "application/json"}


class ExportApi(StudyApi):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRenderer
    fmt = "csv"


def _export_schema(fmt: str, what: str, query: type) -> Any:
    return extend_schema(
        parameters=[query],
        responses={
            (200, EXPORT_MEDIA[fmt]): OpenApiResponse(
                # JSON is one array of row objects; CSV and JSON Lines are text.
                OpenApiTypes.STR
                if fmt != "json"
                else build_array_type(build_basic_type(OpenApiTypes.OBJECT)),
                description=f"Every {what} of the study as {fmt.upper()}, streamed.",
            ),
            **BAD_REQUEST,
            **ERRORS,
        },
        operation_id=f"studies_{what}s_export_{fmt}",
        description=f"Download every {what} of the study ({fmt.upper()}, streamed).",
    )


class VoteExportApi(ExportApi):
    def get(self, request: Request, study_id: int) -> StreamingHttpResponse:
        study = self.study()
        query = _validated(VoteQuerySerializer, request).validated_data
        values = study_votes_values(study=study, include_gold=query["include_gold"])
        rows = vote_rows(
            study=study, values=values.iterator(chunk_size=2000), pseudonymize=query["pseudonymize"]
        )
        return export_response(
            rows,
            fields=EXPORT_FIELDS,
            numeric_fields=EXPORT_NUMERIC_FIELDS,
            fmt=self.fmt,
            filename=f"{study.slug}-votes",
        )


class OutputExportApi(ExportApi):
    def get(self, request: Request, study_id: int) -> StreamingHttpResponse:
        study = self.study()
        query = _validated(OutputQuerySerializer, request).validated_data
        outputs = outputs_export_queryset(
            study=study, candidate_id=query.get("candidate"), status=query.get("status")
        )
        rows = (output_export_row(o) for o in outputs.iterator(chunk_size=1000))
        return export_response(
            rows,
            fields=OUTPUT_EXPORT_FIELDS,
            numeric_fields=OUTPUT_EXPORT_NUMERIC_FIELDS,
            fmt=self.fmt,
            filename=f"{study.slug}-outputs",
        )


def export_view(base: type, fmt: str, what: str, query: type) -> Any:
    view = type(f"{base.__name__}{fmt.title()}", (base,), {"fmt": fmt})
    view.get = _export_schema(fmt, what, query)(_with_doc(view.get, what, fmt))
    return view.as_view()


def _with_doc(method: Any, what: str, fmt: str) -> Any:
    def get(self: Any, request: HttpRequest, study_id: int) -> StreamingHttpResponse:
        return method(self, request, study_id)

    get.__doc__ = f"Every {what} of the study as {fmt.upper()}, streamed."
    return get
