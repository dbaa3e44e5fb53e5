"""The names by which a model gives itself away, for evaluations/anonymity/scrubbing.py.

How this list is kept
---------------------
- It is data, curated by hand: add a family, a vendor or a phrase here, together with a sentence in
  tests/generation/scrub_corpus.py that uses it (identifying) and, if the name is also an ordinary
  word, one that uses it innocently. The corpus test must stay at 100% recall.
- Entries are regular expressions, matched case-insensitively on the normalized text (NFKC,
  invisible characters removed, dashes unified, spaced letters joined; see anonymizing.py), at
  word boundaries on their Latin, Cyrillic or Greek edges (Chinese and Japanese have no spaces).
- A version suffix after a name (``-4o``, `` 3.5 Sonnet``, ``-72B-Instruct``, `` R1``) is matched by
  the scrubber itself; list the bare family name.
- NAMES almost only ever mean a model or its maker: replaced wherever they appear.
- AMBIGUOUS_NAMES are also ordinary words or people's names (a llama, the mistral wind, Claude
  Monet, phi = 1.618, ozone O3, a command): replaced where the model introduces or credits itself
  (the phrases below), replaced when a version with a digit follows (``Phi-3``, ``Llama 3.1``),
  flagged for the researcher's review when one of the study's own candidates belongs to that
  family, and left alone otherwise. AMBIGUOUS_WORDS are treated the same except that a number
  after them is not a version: vendors whose names are ordinary in answers (Google, Apple, Amazon,
  Meta, ...) and names like Pi (Raspberry Pi 4).
- NOT_MODELS are phrases that contain a name with a version but mean something else.
- The self-descriptions cover English, Chinese, French, German, Spanish, Japanese and Russian, plus
  Italian and Portuguese; for each, how a model introduces itself (INTRODUCTIONS: text before
  the name), credits its maker (CREDITS: before the maker, and CREDITS_AFTER: after it, as in
  Chinese and Japanese), and describes itself after its name (DESCRIPTIONS_AFTER).
"""

from __future__ import annotations

NAMES: tuple[str, ...] = (
    # OpenAI
    r"Chat\s?GPT",
    r"チャットGPT",
    r"ЧатGPT",
    r"Open\s?AI",
    r"オープンAI",
    r"ОпенАИ",
    r"o[1-9]-(?:mini|pro|preview|high|low)",
    r"GPT-?\d",  # GPT-4, GPT4o; a bare "GPT" is ambiguous (the GUID partition table)
    # Anthropic
    r"Anthropic",
    r"Антропик",
    r"アンソロピック",
    # Google
    r"Google\s+DeepMind",
    r"DeepMind",
    r"Google\s+Bard",
    r"Gemini\s+(?:Pro|Ultra|Flash|Nano)",
    # Meta
    r"Meta\s+AI",
    r"Meta\s+Llama",
    r"(?-i:LLaMA)",
    # Mistral
    r"Mistral\s+AI",
    r"Mistral\s+(?:Large|Medium|Small|Nemo)",
    r"Mixtral",
    r"Codestral",
    r"Ministral",
    r"Pixtral",
    r"Magistral",
    r"Devstral",
    # Alibaba
    r"Qwen",
    r"QwQ",
    r"Tongyi\s+Qianwen",
    r"通义千问",
    r"通义",
    r"千问",
    # DeepSeek
    r"DeepSeek",
    r"深度求索",
    # xAI, Cohere, AI21
    r"Command[- ]?R\+?",
    r"Command\s+A",
    r"Cohere\s+For\s+AI",
    r"AI21(?:\s+Labs)?",
    # Chinese and Russian models
    r"ERNIE\s+Bot",
    r"文心一言",
    r"文心",
    r"Moonshot\s+AI",
    r"月之暗面",
    r"ChatGLM",
    r"GLM-?\d",
    r"Zhipu(?:\s+AI)?",
    r"智谱(?:清言)?",
    r"Hunyuan",
    r"混元",
    r"Doubao",
    r"讯飞星火",
    r"SparkDesk",
    r"Baichuan",
    r"百川智能",
    r"01\.AI",
    r"YandexGPT",
    r"ЯндексGPT",
    r"GigaChat",
    r"ГигаЧат",
    # Others
    r"Nemotron",
    r"Perplexity\s+AI",
    r"Inflection\s+AI",
    r"Bing\s+Chat",
    r"StableLM",
    r"Stability\s+AI",
    r"Allen\s+Institute\s+for\s+(?:AI|Artificial\s+Intelligence)",
    r"AI2",
    r"LMSYS",
    r"Technology\s+Innovation\s+Institute",
    r"Amazon\s+(?:Nova|Titan|Q)",
    r"watsonx",
)

AMBIGUOUS_NAMES: tuple[str, ...] = (
    # Model families that are also words or people's names
    r"GPT",
    r"o[1-9]",
    r"Claude",
    r"Клод",
    r"クロード",
    r"Gemini",
    r"ジェミニ",
    r"Джемини",
    r"Gemma",
    r"Bard",
    r"PaLM",
    r"Llama",
    r"Mistral",
    r"Le\s+Chat",
    r"Grok",
    r"Command",
    r"Aya",
    r"Phi",
    r"Falcon",
    r"Vicuna",
    r"Alpaca",
    r"Orca",
    r"Zephyr",
    r"OLMo",
    r"Tulu",
    r"Tülu",
    r"Yi",
    r"Jamba",
    r"Kimi",
    r"ERNIE",
    r"Solar",
    r"豆包",
    r"Алиса",
)

# Ambiguous like AMBIGUOUS_NAMES, but a number after them means something else (Microsoft 365,
# Raspberry Pi 4, Meta 2024): vendors whose names are ordinary in answers, and a few models.
AMBIGUOUS_WORDS: tuple[str, ...] = (
    r"Pi",
    r"Copilot",
    r"Perplexity",
    r"Granite",
    r"Titan",
    r"Nova",
    r"Dolly",
    r"Reka",
    r"Google",
    r"グーグル",
    r"谷歌",
    r"Гугл",
    r"Meta",
    r"Facebook",
    r"Microsoft",
    r"マイクロソフト",
    r"微软",
    r"Майкрософт",
    r"Amazon",
    r"AWS",
    r"Alibaba(?:\s+Cloud)?",
    r"阿里云",
    r"阿里巴巴",
    r"Baidu",
    r"百度",
    r"Tencent",
    r"腾讯",
    r"ByteDance",
    r"字节跳动",
    r"Nvidia",
    r"IBM",
    r"Apple",
    r"Hugging\s?Face",
    r"xAI",
    r"Cohere",
    r"Inflection",
    r"TII",
    r"Yandex",
    r"Яндекс[а-я]{0,2}",
    r"Sber",
    r"Сбер[а-я]{0,2}",
    r"Samsung",
    r"Salesforce",
    r"Databricks",
)

NOT_MODELS: tuple[str, ...] = (
    r"Falcon\s?(?:9|Heavy|1)\b",
    r"Titan\s+(?:I|II|III|IV)\b",
    r"Phi\s+Beta\s+Kappa",
    r"Windows\s+\d+",
)

# Words after which a name is the speaker's own: "I am X", "Je suis X", "我是X", "私はX".
INTRODUCTIONS: tuple[str, ...] = (
    # English
    r"\bI\s+am",
    r"\bI'm",
    r"\bI(?:'m|\s+am)\s+(?:called|named|known\s+as)",
    r"\bmy\s+name\s+is",
    r"\bmy\s+name's",
    r"\bcall\s+me",
    r"\b(?:answer|response|reply|message|greetings|hello|hi|note)\s+from",
    r"\bbrought\s+to\s+you\s+by",
    # French, German, Spanish, Italian, Portuguese
    r"\bje\s+suis",
    r"\bje\s+m'appelle",
    r"\bmoi\s*,\s*c'est",
    r"\bmon\s+nom\s+est",
    r"\ben\s+tant\s+que",
    r"\bich\s+bin",
    r"\bich\s+hei(?:ß|ss)e",
    r"\bmein\s+Name\s+ist",
    r"\bhier\s+ist",
    r"\bsoy",
    r"\bme\s+llamo",
    r"\bmi\s+nombre\s+es",
    r"\bsono",
    r"\bmi\s+chiamo",
    r"\b(?:eu\s+)?sou(?:\s+o|\s+a)?",
    # Chinese, Japanese
    r"我是",
    r"我叫",
    r"我的名字[是叫]",
    r"我名叫",
    r"我就是",
    r"本人是",
    r"作为",
    r"私は",
    r"わたしは",
    r"僕は",
    r"私の名前は",
    # Russian
    r"(?<![а-яё])я\s*-?",
    r"меня\s+зовут",
    r"мо[её]\s+имя",
)

# "As X," / "Als X," / "Como X," introduce the speaker only when a comma follows the name.
INTRODUCTIONS_BEFORE_COMMA: tuple[str, ...] = (r"\bas", r"\bals", r"\bcomo", r"\bcome")

# Words before a maker that credit it with the model: "developed by X", "entwickelt von X".
CREDITS: tuple[str, ...] = (
    r"\b(?:developed|created|trained|built|made|designed|programmed|released|produced|owned"
    r"|provided|engineered|fine-?tuned|powered|brought\s+to\s+you|maintained|operated)\s+by"
    r"(?:\s+(?:the\s+)?(?:team|researchers|engineers|folks|people|company)\s+(?:at|of))?",
    r"\b(?:d[ée]velopp[ée]e?|cr[ée][ée]e?|con[çc]ue?|entra[îi]n[ée]e?|form[ée]e?|construite?)"
    r"\s+par(?:\s+l'[ée]quipe\s+(?:de|d'))?",
    r"\b(?:entwickelt|trainiert|erstellt|erschaffen|gebaut|programmiert)\s+von"
    r"(?:\s+(?:dem\s+)?Team\s+(?:von|bei))?",
    r"\b(?:desarrollad[oa]|cread[oa]|entrenad[oa]|dise[ñn]ad[oa]|construid[oa])\s+por"
    r"(?:\s+el\s+equipo\s+de)?",
    r"\b(?:creat[oa]|sviluppat[oa]|addestrat[oa])\s+da",
    r"\b(?:desenvolvid[oa]|criad[oa]|treinad[oa])\s+pel[oa]",
    r"(?:разработан|создан|обучен|сделан)[а-яё]*\s+(?:компанией\s+|командой\s+)?",
    r"由",
    # "a model by X", "assistant from X", "ein Modell von X", "un modelo de X", "помощник от X"
    r"\b(?:model|assistant|AI|chatbot|LLM|companion|Modell|Sprachmodell|KI-Assistent|Assistent"
    r"|mod[èe]le|modelo|asistente|assistente|IA)(?:\s+[\w-]+){0,2}?\s+(?:by|from|von|de|par|por"
    r"|da)",
    r"(?:модель|помощник|ассистент|нейросеть)[а-яё]*\s+(?:от\s+|компании\s+)?",
)

# After a maker: "X开发的", "Xによって開発", "von X entwickelt".
CREDITS_AFTER: tuple[str, ...] = (
    r"\s*(?:公司|集团|科技有限公司)?\s*(?:开发|训练|研发|打造|创建|推出|旗下|设计)",
    r"\s*(?:社)?\s*(?:によって|により|が)\s*(?:開発|作成|訓練|トレーニング|構築)",
    r"\s+(?:entwickelt|trainiert|erstellt|gebaut)",
    r"'s\s+(?:own\s+)?(?:[\w-]+\s+){0,2}?(?:AI|assistant|(?:language\s+)?model|LLM|chatbot)\b"
    r"(?!\s+(?:research|team|lab|labs|division|policy|policies|ethics|principles|act|regulation))",
    r"\s+(?:AI\s+)?(?:language\s+)?(?:model|assistant|chatbot|LLM)s?\b",
)

# After a name, a description of the speaker: "X, a helpful assistant", "X here", "X模型".
DESCRIPTIONS_AFTER: tuple[str, ...] = (
    r"\s*,\s*(?:an?|the|your)\s+(?:[\w-]+\s+){0,4}?(?:AI|assistant|(?:language\s+)?model|LLM"
    r"|chatbot|companion)\b",
    r"\s*,\s*(?:by|from|made\s+by|created\s+by|developed\s+by)\b",
    r"\s+(?:here|speaking)\b",
    r"\s*(?:大?模型|助手|です|と申します)",
)

# In English and European languages a credit counts only when the sentence is about the speaker
# ("I was made by Apple"), not about a product ("The iPhone is designed by Apple").
SPEAKER_WORDS = (
    r"(?-i:\bI\b)|\b(?:I'm|me|my|model|assistant|AI|chatbot|LLM|je|j'|suis|mod[èe]le|IA|ich|bin"
    r"|mein|Modell|Sprachmodell|Assistent|KI|soy|yo|llamo|fui|modelo|asistente|sono|assistente"
    r"|sou|я|меня|модель|помощник|ассистент|нейросеть|ИИ)\b"
)
