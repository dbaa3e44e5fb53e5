from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import defaults

from config.favicon import favicon
from config.health import healthz

admin.site.site_header = "tastetest"
admin.site.site_title = "tastetest admin"
admin.site.index_title = "Studies, candidates, prompts and votes"

urlpatterns = [
    path("api/v1/", include("research.api.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("", include("raters.urls")),
]


# API clients get JSON errors (as the schema documents) even where no API view answers: an id
# that does not match the URL pattern, or a server error such as the database being down.
def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error; please try again shortly."}, status=500)
    return defaults.server_error(request)
