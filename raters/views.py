from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class RaterLoginView(auth_views.LoginView):
    template_name = "raters/login.html"
    redirect_authenticated_user = True


class RaterLogoutView(auth_views.LogoutView):
    pass


@login_required
def home(request: HttpRequest) -> HttpResponse:
    rater = getattr(request.user, "rater", None)
    studies = rater.studies.all() if rater else []
    return render(request, "raters/home.html", {"studies": studies})
