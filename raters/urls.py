from django.urls import path

from raters import adjudication_views, media_views, panel_views, training_views, views

app_name = "raters"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.RaterLoginView.as_view(), name="login"),
    path("logout/", views.RaterLogoutView.as_view(), name="logout"),
    path("join/<str:token>/", views.join, name="join"),
    path("studies/<int:study_id>/", views.study, name="study"),
    path("studies/<int:study_id>/vote/", views.vote, name="vote"),
    path("studies/<int:study_id>/skip/", views.skip, name="skip"),
    path("studies/<int:study_id>/undo/", views.undo, name="undo"),
    path("studies/<int:study_id>/training/", training_views.training, name="training"),
    path(
        "studies/<int:study_id>/adjudication/",
        adjudication_views.adjudication,
        name="adjudication",
    ),
    path("panel/<str:key>/", panel_views.panel_enter, name="panel_enter"),
    path("panel/<str:key>/finish/", panel_views.panel_finish, name="panel_finish"),
    path(
        "studies/<int:study_id>/media/<str:digest>",
        media_views.prompt_media,
        name="prompt_media",
    ),
]
