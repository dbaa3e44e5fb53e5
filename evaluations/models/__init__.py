"""The evaluations app's models, one module per concept; everything is importable from here
(`from evaluations.models import Study`), as migrations and the rest of the code expect."""

from evaluations.models.candidates import Candidate, ProviderBatch  # noqa: F401
from evaluations.models.common import IllegalTransition, _study_owner, public_pair_id, random_seed  # noqa: F401
from evaluations.models.connections import ProviderConnection  # noqa: F401
from evaluations.models.decisions import Decision  # noqa: F401
from evaluations.models.judges import Judge, JudgeVote  # noqa: F401
from evaluations.models.outputs import Output  # noqa: F401
from evaluations.models.pairs import Pair  # noqa: F401
from evaluations.models.prompts import Prompt, PromptMedia, prompt_media_path  # noqa: F401
from evaluations.models.snapshots import ResultSnapshot  # noqa: F401
from evaluations.models.study import (  # noqa: F401
    JUDGE_PROMPT_TEMPLATE,
    JUDGE_SYSTEM_PROMPT,
    Study,
    judge_prompt_template_default,
    judge_system_prompt_default,
)
