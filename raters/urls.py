from django.urls import path

from raters import views

app_name = "raters"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.RaterLoginView.as_view(), name="login"),
    path("logout/", views.RaterLogoutView.as_view(), name="logout"),
]
