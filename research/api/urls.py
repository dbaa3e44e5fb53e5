from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from research.api import judge_views, root, views
from research.api import preferences as preferences_api
from research.api.decision import DecisionApi
from research.api.permissions import IsResearcher
from research.api.serializers import OutputQuerySerializer, VoteQuerySerializer

app_name = "api"

researchers = [IsResearcher]
study = "studies/<int:study_id>/"
urlpatterns = [
    path("", root.ApiRoot.as_view(), name="root"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=researchers), name="schema"),
    path(
        "docs/",
        # Split: Swagger UI's settings come as a script file of their own, not an inline script
        # (config/content_security.py); the page's own style sheet is a static file too.
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema",
            permission_classes=researchers,
            template_name="api/swagger_ui.html",
        ),
        name="docs",
    ),
    path("studies/", views.StudyListApi.as_view(), name="study-list"),
    path(study, views.StudyDetailApi.as_view(), name="study-detail"),
    path(f"{study}candidates/", views.CandidateListApi.as_view(), name="candidates"),
    path(f"{study}ranking/", views.RankingApi.as_view(), name="ranking"),
    path(f"{study}pairwise/", views.PairwiseApi.as_view(), name="pairwise"),
    path(f"{study}agreement/", views.AgreementApi.as_view(), name="agreement"),
    path(f"{study}biases/", views.BiasApi.as_view(), name="biases"),
    path(f"{study}votes/", views.VoteListApi.as_view(), name="votes"),
    path(f"{study}outputs/", views.OutputListApi.as_view(), name="outputs"),
    path(
        f"{study}preferences.jsonl",
        preferences_api.PreferenceExportApi.as_view(),
        name="preferences-jsonl",
    ),
    path(
        f"{study}preferences.zip",
        preferences_api.PreferenceDatasetApi.as_view(),
        name="preferences-zip",
    ),
    path(f"{study}judges/", judge_views.JudgeResultsApi.as_view(), name="judges"),
    path(f"{study}drift/", judge_views.DriftApi.as_view(), name="drift"),
    path(f"{study}decision/", DecisionApi.as_view(), name="decision"),
    path(
        f"{study}compare/<int:other_id>/",
        judge_views.StudyCompareApi.as_view(),
        name="compare",
    ),
    *(
        path(
            f"{study}votes.{fmt}",
            views.export_view(views.VoteExportApi, fmt, "vote", VoteQuerySerializer),
            name=f"votes-{fmt}",
        )
        for fmt in ("csv", "jsonl", "json")
    ),
    *(
        path(
            f"{study}outputs.{fmt}",
            views.export_view(views.OutputExportApi, fmt, "output", OutputQuerySerializer),
            name=f"outputs-{fmt}",
        )
        for fmt in ("csv", "jsonl")
    ),
]
