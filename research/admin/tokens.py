"""API tokens in the admin: DRF's token admin with the user taken by id.

DRF's own add and change pages render a <select> of every account; with thousands of raters'
accounts that page took seconds and megabytes.
"""

from django.contrib import admin
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class TokenByUserIdAdmin(TokenAdmin):
    raw_id_fields = ["user"]
