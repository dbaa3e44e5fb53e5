"""Seed the database of a test that runs the app as a real server.


Usage: `python -m tests.production.seed RATERS PROMPTS`.
Run with DATABASE_URL pointing at the server's database (migrated). Prints JSON: an open study
with pairs, signed-in raters (session cookies, as after a real login), a draft study ready to
generate, and a researcher's API token.
"""

import json
import os
import sys
from importlib import import_module
from itertools import combinations


def seed(*, raters: int, prompts: int) -> dict:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Permission, User
    from rest_framework.authtoken.models import Token

    from evaluations.models import Candidate, Output, Pair, Prompt, Study
    from raters.models import Membership, Rater

    owner = User.objects.create_user(username="researcher", password=None, is_staff=True)
    owner.user_permissions.add(Permission.objects.get(codename="view_study"))
    study = Study.objects.create(
        name="Fault study", slug="fault", owner=owner, votes_per_pair=3, seed=1
    )
    candidates = [
        Candidate.objects.create(study=study, label=f"m{k}", model=f"demo/m{k}") for k in range(3)
    ]
    for k in range(prompts):
        prompt = Prompt.objects.create(study=study, external_id=f"q{k}", text=f"Question {k}?")
        outputs = [
            Output.objects.create(
                prompt=prompt, candidate=c, status=Output.Status.DONE, text=f"{c.label} says {k}."
            )
            for c in candidates
        ]
        for a, b in combinations(outputs, 2):
            Pair.objects.create(study=study, prompt=prompt, output_a=a, output_b=b)
    study.transition_to(Study.Status.READY)
    study.transition_to(Study.Status.OPEN)

    draft = Study.objects.create(name="To generate", slug="to-generate", owner=owner, seed=2)
    Candidate.objects.create(study=draft, label="demo", model="demo/concise")
    Prompt.objects.create(study=draft, external_id="g1", text="Say hello.")

    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    sessions = {}
    for k in range(raters):
        user = User.objects.create_user(username=f"rater{k}", password=None)
        rater = Rater.objects.create(user=user, display_name=f"Rater {k}")
        Membership.objects.create(rater=rater, study=study)
        session = store_class()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        sessions[rater.pk] = session.session_key
    return {
        "study_id": study.pk,
        "draft_slug": draft.slug,
        "sessions": sessions,
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "token": Token.objects.create(user=owner).key,
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    raters, prompts = (int(x) for x in sys.argv[1:3])
    print(json.dumps(seed(raters=raters, prompts=prompts)))
