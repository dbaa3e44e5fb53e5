"""A stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1: just what creating a dataset
repo and committing small files asks for. It keeps what was committed, and refuses requests
without the expected token, as the Hub does."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

TOKEN = "hf_standin_token"
COMMIT = "c" * 40


class HubStandIn:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.repos: dict[str, dict] = {}  # repo id -> {"private": bool, "files": {path: bytes}}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                owner.requests.append((method, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._reply(401, {"error": "Invalid credentials"})
                path = self.path.split("?")[0]
                parts = path.strip("/").split("/")
                if path == "/api/repos/create":
                    payload = json.loads(body)
                    repo = f"{payload['organization']}/{payload['name']}"
                    private = payload.get("private", payload.get("visibility") == "private")
                    owner.repos.setdefault(repo, {"private": private, "files": {}})
                    base = f"http://{self.headers['Host']}"
                    return self._reply(200, {"url": f"{base}/datasets/{repo}", "name": repo})
                if path == "/api/validate-yaml":
                    # The Hub checks the card's metadata (the YAML between the first two ---
                    # lines of README.md): it must parse and name a licence.
                    content = json.loads(body)["content"]
                    if not content.startswith("---\n") or "\n---\n" not in content[3:]:
                        return self._reply(400, {"error": "no YAML metadata block"})
                    try:
                        metadata = yaml.safe_load(content[4:].split("\n---\n")[0]) or {}
                    except yaml.YAMLError as exc:
                        return self._reply(400, {"error": f"invalid YAML: {exc}"})
                    if not isinstance(metadata.get("license"), str):
                        return self._reply(400, {"error": "license must be a string"})
                    return self._reply(200, {"errors": [], "warnings": []})
                if parts[:2] == ["api", "datasets"] and len(parts) >= 6:
                    repo, action = f"{parts[2]}/{parts[3]}", parts[4]
                    if repo not in owner.repos:
                        return self._reply(404, {"error": "Repository not found"})
                    if action == "preupload":
                        files = json.loads(body)["files"]
                        return self._reply(
                            200,
                            {
                                "files": [
                                    {
                                        "path": f["path"],
                                        "uploadMode": "regular",
                                        "shouldIgnore": False,
                                    }
                                    for f in files
                                ]
                            },
                        )
                    if action == "commit":
                        for line in body.decode().splitlines():
                            item = json.loads(line)
                            if item["key"] == "file":
                                content = base64.b64decode(item["value"]["content"])
                                owner.repos[repo]["files"][item["value"]["path"]] = content
                        base = f"http://{self.headers['Host']}"
                        return self._reply(
                            200,
                            {
                                "commitUrl": f"{base}/datasets/{repo}/commit/{COMMIT}",
                                "commitOid": COMMIT,
                                "pullRequestUrl": None,
                            },
                        )
                return self._reply(404, {"error": f"stand-in has no {method} {path}"})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "HubStandIn":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
