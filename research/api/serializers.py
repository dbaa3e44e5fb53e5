"""Input (query) and output shapes of the results API; the output ones also document the
OpenAPI schema of the analysis documents, whose layout `evaluations.analysis.analyze` owns."""

from rest_framework import serializers

from evaluations.analysis.options import BOTH_BAD_OPTIONS, CLUSTER_OPTIONS, TIES_OPTIONS
from evaluations.models import Output, Study
from research.results.aggregation import ResultOptions

# Bootstrap cost grows with rounds x models; beyond this, intervals stop changing anyway.
MAX_BOOTSTRAP = 2000


class ResultQuerySerializer(serializers.Serializer):
    ties = serializers.ChoiceField(
        choices=TIES_OPTIONS,
        default="half",
        help_text="half: Bradley-Terry with a tie as half a win each way; davidson: Davidson's "
        "tie model.",
    )
    both_bad = serializers.ChoiceField(
        choices=BOTH_BAD_OPTIONS,
        default="tie",
        help_text="tie: a both-bad vote counts as a tie; exclude: dropped from the ranking.",
    )
    bootstrap = serializers.IntegerField(
        min_value=0,
        max_value=MAX_BOOTSTRAP,
        default=0,
        help_text="0 for sandwich (or Fisher) intervals; N for percentile intervals from N "
        "bootstrap rounds.",
    )
    seed = serializers.IntegerField(
        min_value=0,
        max_value=2**32 - 1,
        required=False,
        help_text="Seeds the bootstrap: the same seed gives the same intervals.",
    )
    category = serializers.CharField(
        required=False, max_length=100, help_text="Rank only the votes on prompts of this category."
    )
    turn = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=1000,
        help_text="Rank only the votes on this turn of multi-turn conversations (studies voted "
        "turn by turn).",
    )
    anchor = serializers.RegexField(
        r"^.+=[-+0-9.eE]+$",
        required=False,
        max_length=300,
        help_text="MODEL=VALUE: fix that candidate's rating at VALUE instead of centring on 1000.",
    )
    cluster = serializers.ChoiceField(
        choices=CLUSTER_OPTIONS,
        default="auto",
        help_text="Cluster-robust intervals and tests: auto (two-way by rater and prompt), none "
        "(votes independent: about these raters and prompts only), rater, prompt or both.",
    )
    power = serializers.FloatField(
        min_value=0.01,
        max_value=0.99,
        default=0.8,
        help_text="The power votes_needed plans for.",
    )
    exclude_flagged = serializers.BooleanField(
        default=False, help_text="Leave out the votes of raters flagged in this study."
    )
    exclude_gold_failures = serializers.BooleanField(
        default=False,
        help_text="Leave out the votes of raters whose gold-pair accuracy is below the study's "
        "threshold.",
    )
    exclude_raters = serializers.ListField(
        # Bounded to the database's integer: a larger id cannot exist, and SQLite refuses it.
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=10000,
        help_text="Rater ids whose votes to leave out (repeat the parameter).",
    )

    def to_options(self) -> ResultOptions:
        data = self.validated_data
        return ResultOptions(
            ties=data["ties"],
            both_bad=data["both_bad"],
            bootstrap=data["bootstrap"],
            seed=data.get("seed"),
            category=data.get("category"),
            turn=data.get("turn"),
            anchor=data.get("anchor"),
            cluster=data["cluster"],
            power=data["power"],
            exclude_flagged=data["exclude_flagged"],
            exclude_gold_failures=data["exclude_gold_failures"],
            exclude_raters=tuple(sorted(set(data.get("exclude_raters", [])))),
        )


class StudyListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=Study.Status.choices, required=False, help_text="Only studies in this status."
    )
    search = serializers.CharField(
        required=False, max_length=200, help_text="Substring of the name or slug."
    )


class VoteQuerySerializer(serializers.Serializer):
    pseudonymize = serializers.BooleanField(
        default=True,
        help_text="Judges as stable per-study pseudonyms (default); false gives rater-<id>.",
    )
    include_gold = serializers.BooleanField(
        default=True,
        help_text="Include votes on gold pairs (marked in the gold column; analyze skips them).",
    )


class OutputQuerySerializer(serializers.Serializer):
    candidate = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="Only this candidate's outputs."
    )
    status = serializers.ChoiceField(
        choices=Output.Status.choices, required=False, help_text="Only outputs in this status."
    )


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class StudySerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)

    class Meta:
        model = Study
        fields = ["id", "slug", "name", "status", "owner", "question", "created_at", "updated_at"]


class ProgressSerializer(serializers.Serializer):
    prompts = serializers.IntegerField()
    candidates = serializers.IntegerField()
    outputs = serializers.IntegerField()
    outputs_done = serializers.IntegerField()
    outputs_failed = serializers.IntegerField()
    pairs = serializers.IntegerField()
    gold_pairs = serializers.IntegerField()
    votes = serializers.IntegerField()
    raters = serializers.IntegerField(help_text="Raters who joined the study.")
    raters_voted = serializers.IntegerField()
    raters_flagged = serializers.IntegerField()


class StudyDetailSerializer(StudySerializer):
    progress = ProgressSerializer(read_only=True)

    class Meta(StudySerializer.Meta):
        fields = [
            *StudySerializer.Meta.fields,
            "instructions",
            "votes_per_pair",
            "allow_tie",
            "allow_both_bad",
            "seed",
            "pairing_mode",
            "pairs_per_prompt",
            "gold_rate",
            "gold_min_accuracy",
            "adaptive_assignment",
            "vote_each_turn",
            "progress",
        ]


class CandidateStatsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    model = serializers.CharField()
    version = serializers.CharField(allow_blank=True)
    outputs = serializers.IntegerField()
    outputs_done = serializers.IntegerField()
    outputs_failed = serializers.IntegerField()
    total_cost_usd = serializers.FloatField(allow_null=True)
    cost_per_1000_prompts_usd = serializers.FloatField(
        allow_null=True, help_text="Mean cost of a done output times 1,000."
    )
    latency_ms_median = serializers.FloatField(allow_null=True)
    latency_ms_p95 = serializers.FloatField(allow_null=True)
    ttft_ms_median = serializers.FloatField(allow_null=True)
    ttft_ms_p95 = serializers.FloatField(allow_null=True)
    input_tokens_total = serializers.IntegerField()
    output_tokens_total = serializers.IntegerField()
    output_tokens_mean = serializers.FloatField(allow_null=True)


class RankedModelSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="The candidate's label.")
    rating = serializers.FloatField(help_text="Elo scale: 400 log10 strength + 1000.")
    ci_low = serializers.FloatField(allow_null=True, help_text="Null when unbounded.")
    ci_high = serializers.FloatField(allow_null=True)
    se = serializers.FloatField(allow_null=True)
    rank = serializers.IntegerField()
    rank_lower = serializers.IntegerField(help_text="Best rank the intervals allow.")
    rank_upper = serializers.IntegerField(help_text="Worst rank the intervals allow.")
    votes = serializers.IntegerField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    ties = serializers.IntegerField()
    both_bad = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True)
    component = serializers.IntegerField()


class PairwiseSerializer(serializers.Serializer):
    model_a = serializers.CharField()
    model_b = serializers.CharField()
    votes = serializers.IntegerField()
    rating_difference = serializers.FloatField(allow_null=True)
    se = serializers.FloatField(allow_null=True, help_text="Standard error of rating_difference.")
    win_probability = serializers.FloatField(allow_null=True, help_text="P(model_a beats model_b)")
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    p_value_holm = serializers.FloatField(allow_null=True, help_text="Holm-adjusted over pairs.")
    p_value_anytime = serializers.FloatField(
        allow_null=True,
        help_text="Always-valid p-value: stays valid when looked at after every vote.",
    )
    p_value_anytime_holm = serializers.FloatField(allow_null=True)
    cs_low = serializers.FloatField(
        allow_null=True, help_text="Always-valid confidence sequence for win_probability."
    )
    cs_high = serializers.FloatField(allow_null=True)


class RankingSerializer(serializers.Serializer):
    summary = serializers.DictField(help_text="Vote counts and the options used.")
    warnings = serializers.ListField(child=serializers.CharField())
    interval = serializers.DictField(help_text="How the intervals were computed.")
    models = RankedModelSerializer(many=True, help_text="Best first within each component.")
    components = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    pairwise = PairwiseSerializer(many=True)
    equality_test = serializers.JSONField(allow_null=True)
    votes_needed = serializers.ListField(
        child=serializers.DictField(),
        help_text="Extra votes that would separate each adjacent pair of the ranking.",
    )
    categories = serializers.DictField(required=False, help_text="The ranking per category.")
    ordinal = serializers.DictField(
        required=False,
        help_text="With strength (slightly / much better): the cumulative-logit Bradley-Terry "
        "ranking and the ordinal Krippendorff alpha of the five-point answers.",
    )
    criteria = serializers.DictField(
        required=False,
        help_text="Per criterion: votes, ranking, pairwise, agreement, bias and ordinal block.",
    )
    turns = serializers.DictField(
        required=False,
        help_text="The ranking per turn (1, 2, ...) when votes were cast turn by turn.",
    )
    davidson = serializers.JSONField(required=False, help_text="With ties=davidson.")
    style_control = serializers.DictField(
        required=False,
        help_text="The ranking with answer length and Markdown density held equal, with the "
        "style coefficients.",
    )
    judges_ppi = serializers.DictField(
        required=False,
        help_text="Prediction-powered ratings from LLM judges' verdicts plus the human votes.",
    )
    agreement = serializers.DictField()
    gold = serializers.DictField()
    bias = serializers.DictField()


def _matrix(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text=help_text,
    )


class PairwiseMatrixSerializer(serializers.Serializer):
    models = serializers.ListField(child=serializers.CharField(), help_text="Rating order.")
    win_probability = _matrix("[i][j]: P(models[i] beats models[j]); null on the diagonal.")
    ci_low = _matrix("95% interval of the win probability, lower bound.")
    ci_high = _matrix("95% interval of the win probability, upper bound.")
    p_value = _matrix("Two-sided test of equal ratings.")
    p_value_holm = _matrix("p_value adjusted by Holm's method over all pairs.")
    votes = _matrix("Votes between the two models.")
    pairs = PairwiseSerializer(many=True)


class AgreementSerializer(serializers.Serializer):
    summary = serializers.DictField()
    agreement = serializers.DictField(
        help_text="Percent agreement, Cohen's kappa per rater pair, Fleiss' kappa, "
        "Krippendorff's alpha, leave-one-out majority agreement per rater."
    )
    gold = serializers.DictField(help_text="Accuracy on gold pairs, overall and per rater.")
    warnings = serializers.ListField(child=serializers.CharField())
    ordinal_agreement = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="Krippendorff's alpha (ordinal) of the five-point answers, with strength.",
    )
    criteria = serializers.DictField(
        required=False, help_text="Per criterion: agreement and ordinal alpha."
    )


class BiasSerializer(serializers.Serializer):
    summary = serializers.DictField()
    bias = serializers.DictField(help_text="Position (left side) and length bias.")
    warnings = serializers.ListField(child=serializers.CharField())
    criteria = serializers.DictField(required=False, help_text="Per criterion: the same biases.")


class VoteRowSerializer(serializers.Serializer):
    model_a = serializers.CharField()
    model_b = serializers.CharField()
    winner = serializers.ChoiceField(choices=["model_a", "model_b", "tie", "tie (bothbad)"])
    judge = serializers.CharField(help_text="Pseudonymous rater id unless pseudonymize=false.")
    question_id = serializers.CharField()
    category = serializers.CharField(allow_blank=True)
    left = serializers.ChoiceField(choices=["model_a", "model_b"], help_text="Shown on the left.")
    time_spent_ms = serializers.IntegerField(allow_null=True)
    rationale = serializers.CharField(allow_blank=True)
    gold = serializers.CharField(allow_blank=True, help_text="Expected winner of a gold pair.")
    pair = serializers.CharField(help_text="The pair's public id.")
    tstamp = serializers.FloatField(help_text="Unix time of the vote.")
    criterion = serializers.CharField(
        allow_blank=True,
        help_text="The criterion this row answers; empty for the overall question. Studies with "
        "criteria give one row per criterion after each overall row.",
    )
    strength = serializers.IntegerField(
        allow_null=True, help_text="1 slightly, 2 much better (studies asking strength), else null."
    )
    turn = serializers.IntegerField(
        help_text="The turn judged (voting turn by turn), else the conversation's user turns."
    )
    conversation_a = serializers.ListField(
        child=serializers.DictField(),
        help_text="model_a's conversation up to the judged answer (OpenAI messages; images and "
        "documents named sha256:HASH).",
    )
    conversation_b = serializers.ListField(
        child=serializers.DictField(), help_text="model_b's conversation, as conversation_a."
    )
    length_a = serializers.IntegerField(help_text="Characters in model_a's answer.")
    length_b = serializers.IntegerField(help_text="Characters in model_b's answer.")
    headers_a = serializers.IntegerField(help_text="Markdown headers in model_a's answer.")
    headers_b = serializers.IntegerField(help_text="Markdown headers in model_b's answer.")
    lists_a = serializers.IntegerField(help_text="Markdown list items in model_a's answer.")
    lists_b = serializers.IntegerField(help_text="Markdown list items in model_b's answer.")
    bold_a = serializers.IntegerField(help_text="Bold spans in model_a's answer.")
    bold_b = serializers.IntegerField(help_text="Bold spans in model_b's answer.")


class OutputRowSerializer(serializers.Serializer):
    prompt = serializers.CharField(help_text="The prompt's external id.")
    category = serializers.CharField(allow_blank=True)
    prompt_text = serializers.CharField()
    model = serializers.CharField()
    candidate = serializers.CharField()
    status = serializers.ChoiceField(choices=Output.Status.choices)
    text = serializers.CharField(allow_blank=True)
    input_tokens = serializers.IntegerField(allow_null=True)
    output_tokens = serializers.IntegerField(allow_null=True)
    cost_usd = serializers.CharField(allow_null=True, help_text="Decimal string, USD.")
    latency_ms = serializers.FloatField(allow_null=True)
    ttft_ms = serializers.FloatField(allow_null=True)
    served_model = serializers.CharField(allow_blank=True)
    turns = serializers.ListField(
        child=serializers.DictField(),
        help_text="Scripted conversations: each turn's answer, tokens, cost, latency and TTFT.",
    )
    conversation = serializers.ListField(
        child=serializers.DictField(), help_text="The whole conversation (OpenAI messages)."
    )
