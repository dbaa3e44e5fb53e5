"""The per-criterion and strength parts of an analysis document, for the API and the page."""

from typing import Any


def criteria_agreement(document: dict[str, Any]) -> dict[str, Any]:
    """The agreement endpoint's extra keys: the ordinal alpha and each criterion's agreement."""
    extra: dict[str, Any] = {}
    ordinal = document.get("ordinal") or {}
    if "krippendorff_alpha_ordinal" in ordinal:
        extra["ordinal_agreement"] = ordinal["krippendorff_alpha_ordinal"]
    if document.get("criteria"):
        extra["criteria"] = {
            name: {
                "agreement": block["agreement"],
                "ordinal_agreement": block["ordinal"].get("krippendorff_alpha_ordinal"),
            }
            for name, block in document["criteria"].items()
        }
    return extra


def criteria_bias(document: dict[str, Any]) -> dict[str, Any]:
    if not document.get("criteria"):
        return {}
    return {"criteria": {name: block["bias"] for name, block in document["criteria"].items()}}


def criteria_rows(document: dict[str, Any], questions: dict[str, str]) -> list[dict[str, Any]]:
    """One entry per criterion for the results page: its question, ranking, agreement and
    biases in the numbers the page shows (`questions`: key -> the study's wording)."""
    rows = []
    for name, block in (document.get("criteria") or {}).items():
        agreement = block.get("agreement") or {}
        position = (block.get("bias") or {}).get("position") or {}
        rows.append(
            {
                "key": name,
                "question": questions.get(name, name),
                "votes": block["votes"],
                "models": block["models"],
                "percent_agreement": (agreement.get("percent_agreement") or {}).get("with_ties"),
                "alpha": (agreement.get("krippendorff_alpha") or {}).get("ordinal"),
                "ordinal_alpha": (block.get("ordinal") or {}).get("krippendorff_alpha_ordinal"),
                "left_win_share": position.get("left_win_share"),
                "ordinal": block.get("ordinal") or {},
            }
        )
    return rows
