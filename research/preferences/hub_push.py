"""--push-to-hub: the dataset zip's files uploaded to a Hugging Face dataset repo.

huggingface_hub is an optional extra: imported only here, and a clear message when it is not
installed. The token comes from HF_TOKEN (never a command-line argument, which other users of
the machine can read); HF_ENDPOINT points at a private Hub or a test stand-in.
"""

from __future__ import annotations

import io
import os
import zipfile

from evaluations.models import Study
from research.preferences.dataset_zip import preferences_zip
from research.preferences.export import PreferenceExport


class HubPushFailed(Exception):
    pass


def preferences_push_to_hub(
    *, study: Study, export: PreferenceExport, repo: str, private: bool = True
) -> str:
    """Create (or reuse) the dataset repo and commit the Parquet and the card; its URL."""
    try:
        from huggingface_hub import CommitOperationAdd, HfApi
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:
        raise HubPushFailed(
            "--push-to-hub needs huggingface_hub: pip install huggingface_hub"
        ) from None
    token = os.environ.get("HF_TOKEN")
    if not token:
        raise HubPushFailed("--push-to-hub needs a Hugging Face token in HF_TOKEN")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise HubPushFailed(f"--push-to-hub takes OWNER/NAME, not {repo!r}")
    archive = zipfile.ZipFile(io.BytesIO(preferences_zip(study=study, export=export)))
    operations = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=archive.read(name))
        for name in archive.namelist()
    ]
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
    try:
        url = api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        api.create_commit(
            repo,
            operations,
            commit_message=f"tastetest preferences: {study.name} ({export.options.format})",
            repo_type="dataset",
        )
    except HfHubHTTPError as exc:
        raise HubPushFailed(f"the Hub refused the upload: {exc}") from None
    return str(url)
