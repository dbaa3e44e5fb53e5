"""Faults against the real thing: gunicorn in production mode on a private PostgreSQL server
that the test restarts, with the Celery broker unreachable the whole time."""

import re
import threading
import time

import httpx
import psycopg
import pytest

from tests.production.conftest import AppServer, PrivatePostgres, wait_until

pytestmark = pytest.mark.slow

PAIR_RE = re.compile(r'name="pair" value="([^"]+)"')
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def vote_once(client: httpx.Client, study_id: int) -> tuple[str, httpx.Response]:
    """What the page does: load the next pair, then post a vote the way its script does.

    Returns ("voted:<pair id>", response) when the server acknowledged the vote, else
    ("failed", the failing response) or ("empty", page) when nothing is left to vote on.
    """
    page = client.get(f"/studies/{study_id}/")
    if page.status_code != 200:
        return "failed", page
    pair, token = PAIR_RE.search(page.text), CSRF_RE.search(page.text)
    if pair is None or token is None:
        return "empty", page
    response = client.post(
        f"/studies/{study_id}/vote/",
        data={"csrfmiddlewaretoken": token.group(1), "pair": pair.group(1), "choice": "A"},
        headers={"X-Requested-With": "fetch"},
    )
    # "Already recorded": a retry of a vote whose first answer was lost; it counts once.
    acknowledged = ("Vote recorded.", "That vote was already recorded.")
    if response.status_code == 200 and any(text in response.text for text in acknowledged):
        return f"voted:{pair.group(1)}", response
    return "failed", response


def stored_votes(server: PrivatePostgres) -> set[tuple[int, str]]:
    with psycopg.connect(
        server.url.replace("postgres://", "postgresql://"), connect_timeout=10
    ) as c:
        rows = c.execute(
            "SELECT v.rater_id, p.public_id FROM raters_vote v JOIN evaluations_pair p"
            " ON p.id = v.pair_id"
        ).fetchall()
    return {(rater_id, public_id) for rater_id, public_id in rows}


def assert_clean_failure(response: httpx.Response) -> None:
    assert response.status_code in {500, 502, 503}, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text
    assert "psycopg" not in response.text.lower()
    assert "OperationalError" not in response.text


class Voters:
    """One thread per rater voting in a loop, recording what the server acknowledged."""

    def __init__(self, app: AppServer) -> None:
        self.app = app
        self.acked: set[tuple[int, str]] = set()
        self.acked_at: list[tuple[float, int]] = []
        self.failures: list[httpx.Response] = []
        self.transport_errors = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(rater_id,), daemon=True)
            for rater_id in app.seeded["sessions"]
        ]

    def _run(self, rater_id: str) -> None:
        with self.app.client(rater_id) as client:
            while not self.stop.is_set():
                try:
                    outcome, response = vote_once(client, self.app.seeded["study_id"])
                except httpx.TransportError:
                    with self.lock:
                        self.transport_errors += 1
                    time.sleep(0.05)
                    continue
                with self.lock:
                    if outcome.startswith("voted:"):
                        self.acked.add((int(rater_id), outcome.removeprefix("voted:")))
                        self.acked_at.append((time.monotonic(), int(rater_id)))
                    elif outcome == "failed":
                        self.failures.append(response)
                if not outcome.startswith("voted:"):
                    # A failing server answers at once: do not spin on it.
                    time.sleep(0.05)

    def __enter__(self) -> "Voters":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


def test_a_postgres_restart_while_raters_vote_fails_cleanly_and_loses_no_vote(
    app_server: AppServer, private_postgres: PrivatePostgres
) -> None:
    token = {"Authorization": f"Token {app_server.seeded['token']}"}
    with Voters(app_server) as voters:
        wait_until(lambda: voters.count() >= 12, timeout=30, what="votes before the restart")

        private_postgres.stop()
        wait_until(lambda: len(voters.failures) >= 6, timeout=30, what="requests in the outage")
        with app_server.client() as client:
            api_down = client.get("/api/v1/studies/", headers=token)
            health_down = client.get("/healthz")
        restarted_at = time.monotonic()
        private_postgres.start()

        # Every rater gets through again without anyone restarting the app.
        wait_until(
            lambda: (
                {r for t, r in list(voters.acked_at) if t > restarted_at}
                == {int(r) for r in app_server.seeded["sessions"]}
            ),
            timeout=45,
            what="every rater to vote again after the restart",
        )
    assert voters.failures, "the outage produced no failed request: the test tested nothing"
    assert voters.transport_errors == 0, "gunicorn dropped connections instead of answering"
    for response in voters.failures:
        assert_clean_failure(response)
    assert_clean_failure(api_down)
    assert api_down.headers["content-type"] == "application/json"
    # The user saw a plain page; the operator gets the whole story on the process's stdout.
    assert "OperationalError" in app_server.log.read_text(errors="replace")

    stored = stored_votes(private_postgres)
    assert voters.acked <= stored, f"lost votes: {voters.acked - stored}"
    with app_server.client() as client:
        assert client.get("/api/v1/studies/", headers=token).status_code == 200
        health_up = client.get("/healthz")
    # What a load balancer sees: out during the outage, back in after it, with no restart.
    assert health_down.status_code == 503
    assert health_down.json() == {
        "status": "unavailable",
        "checks": {"database": "unavailable", "cache": "ok"},
    }
    assert health_up.status_code == 200 and health_up.json()["status"] == "ok"


def test_voting_does_not_need_the_broker(app_server: AppServer) -> None:
    # The app server's CELERY_BROKER_URL points at a port nothing listens on.
    rater_id = next(iter(app_server.seeded["sessions"]))
    with app_server.client(rater_id) as client:
        outcome, response = vote_once(client, app_server.seeded["study_id"])
    assert outcome.startswith("voted:"), response.text[:500]


def test_starting_generation_with_the_broker_down_reports_it_promptly(
    app_server: AppServer,
) -> None:
    started = time.monotonic()
    result = app_server.manage("generate", app_server.seeded["draft_slug"], timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode != 0, result.stdout
    assert "broker" in result.stderr.lower(), result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert elapsed < 30


def test_gunicorn_serves_hashed_static_files_with_whitenoise_and_locked_down_pages(
    app_server: AppServer,
) -> None:
    with app_server.client() as client:
        page = client.get("/login/")
        assert page.status_code == 200
        stylesheet = re.search(r'href="(/static/raters/raters\.[0-9a-f]{12}\.css)"', page.text)
        assert stylesheet, "production pages must link the hashed (cacheable) static file"
        static = client.get(stylesheet.group(1))
    assert static.status_code == 200
    assert "max-age=315360000" in static.headers["cache-control"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_a_missing_page_in_production_is_the_plain_404_page(app_server: AppServer) -> None:
    with app_server.client() as client:
        response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert "urlpatterns" not in response.text  # the DEBUG page lists them
