"""The demo study that `make run` sets up: offline models, a small domain test set, a scripted
multi-turn conversation and a prompt with an image (a chart shipped in `demo_media/`)."""

from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from evaluations.models import Candidate, Prompt, Study
from evaluations.studies.conversations import conversation_parse
from evaluations.studies.prompt_media import MediaRefused, media_store

DEMO_ADMIN_USERNAME = "admin"
DEMO_ADMIN_PASSWORD = "tastetest-demo"  # noqa: S105 - printed by `make run`, local demo only
DEMO_STUDY_SLUG = "demo-support-answers"

DEMO_PROMPTS = [
    (
        "billing-1",
        "billing",
        "A customer was charged twice for the same order. What should they do?",
    ),
    ("billing-2", "billing", "Explain the difference between a refund and a chargeback."),
    ("billing-3", "billing", "How do I update the credit card on my subscription?"),
    ("tech-1", "technical", "My laptop will not connect to Wi-Fi after an update. What can I try?"),
    (
        "tech-2",
        "technical",
        "Write a Python function that checks whether a string is a palindrome.",
    ),
    ("tech-3", "technical", "What is the difference between a process and a thread?"),
    ("tech-4", "technical", "How do I undo the last commit in git without losing my changes?"),
    ("policy-1", "policy", "Can I return an opened item after 30 days?"),
    ("policy-2", "policy", "Summarise what personal data a support team should never ask for."),
    ("policy-3", "policy", "Draft a polite reply declining a request for a discount."),
]

DEMO_MEDIA_DIR = Path(__file__).resolve().parent / "demo_media"

# Lines as a researcher would import them (studies/conversations.py): MT-Bench's scripted turns,
# and the OpenAI message format with an image part naming a file beside the JSONL.
DEMO_CONVERSATIONS = [
    {
        "id": "multi-turn-1",
        "category": "conversation",
        "system": "You answer for the support team of an online shop.",
        "turns": [
            "Draft a short reply to a customer whose parcel arrived a week late.",
            "Make it warmer, and offer a 10% discount on their next order.",
            "Now give the reply a subject line.",
        ],
    },
    {
        "id": "image-1",
        "category": "vision",
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "This chart shows our support tickets per month. Which month "
                        "had the most billing tickets, and what should we look into?",
                    },
                    {"type": "image_url", "image_url": {"url": "support_tickets_chart.png"}},
                ],
            }
        ],
    },
]

DEMO_CANDIDATES = [
    # label (researchers only), LiteLLM model string on the offline demo provider, version
    ("Concise (demo)", "demo/concise", "demo-concise-2026-01"),
    ("Thorough (demo)", "demo/thorough", "demo-thorough-2026-01"),
    ("Friendly (demo)", "demo/friendly", "demo-friendly-2026-01"),
]
# Generated through the demo provider's batch API (providers/demo_batches.py), so that `make
# run` shows batch progress and, on the results page, the saving against these notional live
# prices (USD per million tokens; the batch costs half).
DEMO_BATCH_MODEL = "demo/thorough"
DEMO_BATCH_PRICES = (Decimal("1.00"), Decimal("4.00"))


@transaction.atomic
def demo_setup() -> Study:
    """Create (or find) the demo admin and demo study. Safe to run repeatedly."""
    user_model = get_user_model()
    admin, created = user_model.objects.get_or_create(
        username=DEMO_ADMIN_USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        admin.set_password(DEMO_ADMIN_PASSWORD)
        admin.save()
    study, created = Study.objects.get_or_create(
        slug=DEMO_STUDY_SLUG,
        defaults={
            "name": "Demo: customer-support answers",
            "owner": admin,
            "instructions": "Judge accuracy first, then clarity. Length is not a virtue in itself.",
            "votes_per_pair": 2,
            "seed": 20261127,
            "open_when_ready": True,
        },
    )
    if created:
        for label, model, version in DEMO_CANDIDATES:
            batch = model == DEMO_BATCH_MODEL
            price_in, price_out = DEMO_BATCH_PRICES if batch else (0, 0)
            Candidate.objects.create(
                study=study,
                label=label,
                model=model,
                version=version,
                max_tokens=400,
                input_price_per_mtok=price_in,
                output_price_per_mtok=price_out,
                generation_mode=(
                    Candidate.GenerationMode.BATCH if batch else Candidate.GenerationMode.LIVE
                ),
                accepts_images=Candidate.Images.YES,
            )
        Prompt.objects.bulk_create(
            Prompt(study=study, external_id=pid, category=cat, text=text)
            for pid, cat, text in DEMO_PROMPTS
        )
        demo_conversations_create(study)
    return study


def _demo_media_read(name: str) -> bytes:
    path = DEMO_MEDIA_DIR / name
    if path.parent != DEMO_MEDIA_DIR or not path.is_file():
        raise MediaRefused(f"{name!r} is not a file of the demo")
    return path.read_bytes()


def demo_conversations_create(study: Study) -> None:
    """The demo's conversation prompts, through the same parsing and storage as an import."""
    for row in DEMO_CONVERSATIONS:
        conversation, errors = conversation_parse(row, _demo_media_read)
        if errors:
            raise ValueError(f"demo prompt {row['id']}: {'; '.join(errors)}")
        for media in conversation.media:
            media_store(study, media)
        Prompt.objects.create(
            study=study,
            external_id=row["id"],
            category=row["category"],
            text=conversation.text,
            messages=conversation.messages,
            turns=conversation.turns,
        )
