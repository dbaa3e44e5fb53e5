from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "tastetest"
admin.site.site_title = "tastetest admin"
admin.site.index_title = "Studies, candidates, prompts and votes"

urlpatterns = [
    path("api/v1/", include("evaluations.api.urls")),
    path("admin/", admin.site.urls),
    path("", include("raters.urls")),
]
