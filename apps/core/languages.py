"""Languages (issue 17 item 3): the languages a bot can have, the PostgreSQL text-search configuration of
each, detection of a text's language, and the few sentences Beacon itself says, per language.

- `LANGUAGES`: ISO 639-1 code -> (English name, built-in PostgreSQL text-search configuration). Every
  language PostgreSQL 13+ ships a Snowball stemmer for (`\\dF` in psql; Estonian, new in PostgreSQL 18,
  is left out while compose runs 17). A bot's language is one of these codes or `auto`.
- `text_language(text)`: the language of a text, detected offline by py3langid (a fork of langid.py:
  a 4.5 MB naive-Bayes model in the wheel, numpy only, about 0.1 ms per kilobyte, deterministic). Chosen
  over lingua-language-detector (more accurate on a few words, but a 100+ MB wheel and seconds to load)
  and langdetect (slow, and random unless seeded); documents and questions are long enough for langid.
- `search_config(code)`: the configuration for a language; `simple` (lower-casing, no stemming, no stop
  words) for a detected language without a stemmer of its own (Polish, Japanese...).
- `question_subject(question)`: the question without the words that only ask for an answer ("Can you tell
  me about decorators?" -> "decorators?"), for the lexical side of search and the offline answerer: those
  words ("tell", "explain") are not what the question is about, and as search terms the documents rarely
  hold they halved a conversational question's lexical score. In the languages Beacon speaks (en, fr, de, es,
  it, nl, pt); other languages as asked. `without_question_words(text, config)`: the same for the question
  words ("comment", "warum") that English's stop list drops and the other configurations' keep.
- `lexemes(texts, config)`: each text's lexemes as the text-search configuration reads it (its Snowball
  stemmer and stop list, in PostgreSQL: one query for all the texts), for the terms the offline answerer and the
  evaluation runs compare in a language other than English.
- `message(code, key)`: Beacon's own sentences (the default fallback and greeting, the model-error note,
  the offline answerer's source label, the model's answer-language instruction) in en, fr, de, es, it,
  nl, pt; English for the rest. A table in code rather than gettext catalogues: seven short strings,
  and no .mo compile step in CI or in the image to keep in sync.
"""

from __future__ import annotations

import functools
import re

from django.conf import settings
from django.db import connection

AUTO = "auto"

LANGUAGES: dict[str, tuple[str, str]] = {
    "ar": ("Arabic", "arabic"),
    "hy": ("Armenian", "armenian"),
    "eu": ("Basque", "basque"),
    "ca": ("Catalan", "catalan"),
    "da": ("Danish", "danish"),
    "nl": ("Dutch", "dutch"),
    "en": ("English", "english"),
    "fi": ("Finnish", "finnish"),
    "fr": ("French", "french"),
    "de": ("German", "german"),
    "el": ("Greek", "greek"),
    "hi": ("Hindi", "hindi"),
    "hu": ("Hungarian", "hungarian"),
    "id": ("Indonesian", "indonesian"),
    "ga": ("Irish", "irish"),
    "it": ("Italian", "italian"),
    "lt": ("Lithuanian", "lithuanian"),
    "ne": ("Nepali", "nepali"),
    "no": ("Norwegian", "norwegian"),
    "pt": ("Portuguese", "portuguese"),
    "ro": ("Romanian", "romanian"),
    "ru": ("Russian", "russian"),
    "sr": ("Serbian", "serbian"),
    "es": ("Spanish", "spanish"),
    "sv": ("Swedish", "swedish"),
    "ta": ("Tamil", "tamil"),
    "tr": ("Turkish", "turkish"),
    "yi": ("Yiddish", "yiddish"),
}
# langid's labels that share a stemmer with a language above.
_ALIASES = {"nn": "no", "nb": "no"}
#: The configuration of a text whose language has no stemmer here (or could not be told).
SIMPLE_CONFIG = "simple"
#: All configurations a document's chunks may be indexed with.
SEARCH_CONFIGS = frozenset({config for _name, config in LANGUAGES.values()} | {SIMPLE_CONFIG})

LANGUAGE_CHOICES = sorted(((code, name) for code, (name, _config) in LANGUAGES.items()), key=lambda c: c[1])
BOT_LANGUAGE_CHOICES = [(AUTO, "Automatic (detected per document)"), *LANGUAGE_CHOICES]

# Below this much text (or this confidence) a detection is a guess: the caller's fallback is used.
DETECT_MIN_CHARS = 20
DETECT_MIN_CONFIDENCE = 0.5
DETECT_SAMPLE_CHARS = 20_000


def bot_language_default() -> str:
    """A new bot's language: the one whose configuration SEARCH_TEXT_CONFIG names (today's behaviour:
    `english` -> en), else English."""
    return config_language(settings.SEARCH_TEXT_CONFIG) or "en"


def config_language(config: str) -> str:
    """The language code of a text-search configuration ('' for `simple` or a custom one)."""
    return next((code for code, (_name, known) in LANGUAGES.items() if known == config), "")


def search_config(language: str) -> str:
    """The text-search configuration of a language code ('' or unknown: `simple`)."""
    entry = LANGUAGES.get(language)
    return entry[1] if entry else SIMPLE_CONFIG


@functools.cache
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def text_language(text: str, *, among: frozenset[str] | None = None) -> str:
    """The ISO 639-1 code of `text`'s language, '' when it cannot be told (too short, not sure). With
    `among`, only those languages are considered (a question: the languages Beacon speaks)."""
    sample = " ".join(text[:DETECT_SAMPLE_CHARS].split())
    if len(sample) < DETECT_MIN_CHARS and among is None:
        return ""
    identifier = _identifier()
    if among is None:
        code, confidence = identifier.classify(sample)
    else:
        ranked = [(label, p) for label, p in identifier.rank(sample) if _ALIASES.get(label, label) in among]
        total = sum(p for _label, p in ranked) or 1.0
        code, confidence = ranked[0][0], ranked[0][1] / total
    if confidence < DETECT_MIN_CONFIDENCE:
        return ""
    return _ALIASES.get(code, code)


def document_language(text: str, *, language: str) -> tuple[str, str]:
    """(language code, text-search configuration) of a document of a bot whose language is `language`:
    the bot's own, or with `auto` the detected one (`simple` for a language without a stemmer; an
    undetectable text gets SEARCH_TEXT_CONFIG's language)."""
    if language != AUTO:
        return language, search_config(language)
    detected = text_language(text)
    if not detected:
        fallback = settings.SEARCH_TEXT_CONFIG
        return config_language(fallback), fallback
    return detected, search_config(detected)


# --------------------------------------------------------------------------- Beacon's own sentences

MESSAGES: dict[str, dict[str, str]] = {
    "fallback": {
        "en": "I'm sorry, I couldn't find that in my documents. Could you rephrase, or ask something else?",
        "fr": "Désolé, je n'ai pas trouvé cela dans mes documents. Pourriez-vous reformuler, ou poser une autre "
        "question ?",
        "de": "Das habe ich in meinen Dokumenten leider nicht gefunden. Könnten Sie die Frage anders stellen oder "
        "etwas anderes fragen?",
        "es": "Lo siento, no lo he encontrado en mis documentos. ¿Podría reformular la pregunta o preguntar otra cosa?",
        "it": "Mi dispiace, non l'ho trovato nei miei documenti. Può riformulare la domanda o chiedere altro?",
        "nl": "Sorry, dat heb ik niet in mijn documenten gevonden. Kunt u het anders formuleren of iets anders vragen?",
        "pt": "Desculpe, não encontrei isso nos meus documentos. Pode reformular ou perguntar outra coisa?",
    },
    "greeting": {
        "en": "Hi! How can I help you?",
        "fr": "Bonjour ! Comment puis-je vous aider ?",
        "de": "Hallo! Wie kann ich Ihnen helfen?",
        "es": "¡Hola! ¿En qué puedo ayudarle?",
        "it": "Ciao! Come posso aiutarla?",
        "nl": "Hallo! Hoe kan ik u helpen?",
        "pt": "Olá! Como posso ajudar?",
    },
    "source": {
        "en": "Source",
        "fr": "Source",
        "de": "Quelle",
        "es": "Fuente",
        "it": "Fonte",
        "nl": "Bron",
        "pt": "Fonte",
    },
    "llm_error": {
        "en": "Sorry, I can't answer right now because the language service is unavailable. Please try again in a "
        "moment.",
        "fr": "Désolé, je ne peux pas répondre pour le moment car le service de langage est indisponible. Veuillez "
        "réessayer dans un instant.",
        "de": "Ich kann gerade leider nicht antworten, weil der Sprachdienst nicht verfügbar ist. Bitte versuchen Sie "
        "es gleich noch einmal.",
        "es": "Lo siento, no puedo responder ahora porque el servicio de lenguaje no está disponible. Vuelva a "
        "intentarlo en un momento.",
        "it": "Mi dispiace, non posso rispondere ora perché il servizio linguistico non è disponibile. Riprovi tra "
        "un momento.",
        "nl": "Sorry, ik kan nu niet antwoorden omdat de taaldienst niet beschikbaar is. Probeer het zo meteen "
        "opnieuw.",
        "pt": "Desculpe, não posso responder agora porque o serviço de linguagem está indisponível. Tente novamente "
        "daqui a pouco.",
    },
}
#: The languages Beacon's own sentences are written in.
MESSAGE_LANGUAGES = frozenset(MESSAGES["fallback"])


def message(language: str, key: str) -> str:
    """Beacon's sentence `key` in `language` (English when there is no translation)."""
    table = MESSAGES[key]
    return table.get(language) or table["en"]


def is_default_message(text: str, key: str) -> bool:
    """True when `text` is Beacon's default sentence `key` in some language (not the owner's own)."""
    return text.strip() in {value for value in MESSAGES[key].values()}


#: A greeting with its punctuation ("Hi," / "Bonjour !" / "Hola,": "Hello world" is a subject), in the
#: languages Beacon speaks (MESSAGE_LANGUAGES), and a leading "please".
_GREETING = re.compile(
    r"""^\s*[¿¡]?\s*(?:(?:hi|hello|hey|bonjour|bonsoir|salut|coucou|hallo|moin|servus|guten\s+(?:tag|morgen|abend)
       |hola|buen[oa]s(?:\s+(?:d[ií]as|tardes|noches))?|ciao|salve|buongiorno|buonasera|hoi|goedemorgen
       |goedemiddag|goedenavond|goedendag|ol[aá]|oi|bom\s+dia|boa\s+(?:tarde|noite))(?:\s+(?:there|à\s+tous))?
       \s*[,!.]+(?!\w)\s*)?[¿¡]?\s*
    (?:(?:please|s'il\s+(?:vous|te)\s+pla[iî]t|svp|bitte|por\s+favor|per\s+(?:favore|piacere)|alstublieft
       |alsjeblieft|aub)\b[\s,]*)?""",
    re.IGNORECASE | re.VERBOSE,
)
#: Per language, the words at the start of a question that ask for an answer rather than name its subject,
#: and (German and Dutch put the verb last: "Kannst du mir X erklären?") the verb they leave at its end.
_FR_OF = r"(?:\s+(?:de|du|des|d'|sur|à\s+propos\s+d(?:e|u|es|')|au\s+sujet\s+d(?:e|u|es|')))?"
_ES_OF = r"(?:\s+(?:sobre|de|del|acerca\s+del?))?"
_IT_OF = r"(?:\s+(?:su|sul|sulla|sui|sugli|sulle|sull'|di|del|della|dei|degli|delle|dello|dell'|riguardo\s+a))?"
_PT_OF = r"(?:\s+(?:sobre|de|do|da|dos|das|acerca\s+d[eoa]s?))?"
_REQUEST_LEADS = {
    "en": r"""(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?)?
        (?:tell\s+me(?:\s+(?:more|something|a\s+bit|a\s+little))?(?:\s+(?:about|on|of))?
          |(?:explain|describe|summari[sz]e)(?:\s+to\s+me)?
          |show\s+me
          |teach\s+me(?:\s+about)?
          |help\s+me\s+(?:understand|with)
          |give\s+me\s+(?:an?\s+|some\s+)?(?:overview|summary|introduction|explanation|rundown|details|information
           |info)\s+(?:of|on|about)
          |i(?:\s+would|'d|\s+want|\s+need)(?:\s+like)?\s+to\s+(?:know|learn|understand)
           (?:\s+(?:more|something))?(?:\s+(?:about|on))?
          |what\s+(?:do|can)\s+you\s+(?:tell\s+me|know|say)\s+about
          |do\s+you\s+know(?:\s+anything)?\s+about)?""",
    "fr": rf"""(?:(?:est-ce\s+que\s+)?(?:tu\s+peux|vous\s+pouvez|tu\s+pourrais|vous\s+pourriez|(?:peux|pourrais)-tu
           |(?:pouvez|pourriez)-vous)\s+(?:s'il\s+(?:vous|te)\s+pla[iî]t\s+)?
           (?:m'(?:expliquer|décrire|présenter|parler|dire|en\s+dire\s+plus|en\s+parler)(?:\s+un\s+peu)?{_FR_OF}
             |(?:expliquer|décrire|présenter))?
          |(?:parle|parlez|dis|dites|raconte|racontez)-moi(?:\s+(?:un\s+peu|plus|davantage|tout))?{_FR_OF}
          |(?:explique|expliquez|décris|décrivez)(?:-moi)?|(?:présente|présentez|montre|montrez)-moi
          |(?:je\s+voudrais|j'aimerais|je\s+veux|je\s+souhaite|je\s+souhaiterais)\s+(?:en\s+)?
           (?:savoir|comprendre|apprendre)(?:\s+(?:plus|davantage))?{_FR_OF}
          |(?:que\s+sais-tu|que\s+savez-vous|qu'est-ce\s+que\s+(?:tu\s+sais|vous\s+savez))(?:\s+(?:sur|de|du|des|d'))?
        )?""",
    "de": r"""(?:(?:kannst\s+du|können\s+sie|könntest\s+du|könnten\s+sie)\s+(?:mir\s+)?(?:bitte\s+)?
           (?:(?:erklären|erzählen|sagen|zeigen|beschreiben)\s*,\s*|(?:(?:etwas|mehr|was)\s+)?(?:(?:über|zu|von)\s+)?))?
        (?:(?:erzähl|erzähle|erzählen\s+sie)\s+(?:mir\s+)?(?:bitte\s+)?(?:(?:etwas|mehr|was)\s+)?(?:über|von|zu)
          |(?:erklär|erkläre|erklären\s+sie|beschreib|beschreibe|beschreiben\s+sie|zeig|zeige|zeigen\s+sie)
           (?:\s+mir)?
          |ich\s+(?:möchte|würde|will)\s+(?:gerne?\s+)?(?:(?:etwas|mehr)\s+)?(?:über|zu)
          |ich\s+(?:möchte|würde|will)\s+(?:gerne?\s+)?(?:wissen|erfahren|verstehen)\s*,\s*
          |was\s+(?:weißt|weisst)\s+du\s+(?:über|zu|von)|was\s+wissen\s+sie\s+(?:über|zu|von))?""",
    "es": rf"""(?:(?:me\s+)?(?:puedes|podrías|puede|podría)(?:\s+usted)?\s+(?:por\s+favor\s+)?
           (?:(?:explicarme|describirme|mostrarme|decirme|hablarme|contarme|explicar|describir|hablar|contar)
              (?:\s+(?:algo|más|un\s+poco))?{_ES_OF})?
          |(?:háblame|hábleme|cuéntame|cuénteme|dime|dígame)(?:\s+(?:algo|más|un\s+poco))?{_ES_OF}
          |(?:explícame|explíqueme|descríbeme|descríbame|muéstrame|muéstreme|explica|explique|describe|describa)
          |(?:me\s+gustaría|quiero|quisiera|necesito)\s+(?:saber|conocer|entender|aprender)(?:\s+(?:algo|más))?{_ES_OF}
          |qué\s+sabes{_ES_OF})?""",
    "it": rf"""(?:(?:mi\s+)?(?:puoi|potresti|può|potrebbe)\s+(?:per\s+favore\s+)?
           (?:(?:parlarmi|dirmi|raccontarmi|spiegarmi|descrivermi|mostrarmi|illustrarmi|spiegare|descrivere|parlare)
              (?:\s+(?:qualcosa|di\s+più|un\s+po'))?{_IT_OF})?
          |(?:parlami|mi\s+parli|dimmi|mi\s+dica|raccontami|spiegami|mi\s+spieghi|descrivimi|mostrami|illustrami)
           (?:\s+(?:qualcosa|di\s+più|un\s+po'))?{_IT_OF}
          |(?:vorrei|voglio)\s+(?:sapere|capire|conoscere|imparare)(?:\s+(?:qualcosa|di\s+più))?{_IT_OF}
          |cosa\s+sai{_IT_OF})?""",
    "nl": r"""(?:(?:kun|kan|kunt|zou)\s+(?:je|jij|u)\s+(?:(?:me|mij)\s+)?(?:(?:alsjeblieft|alstublieft)\s+)?
           (?:(?:iets|meer|wat)\s+)?(?:vertellen\s+)?(?:over\s+)?)?
        (?:vertel\s+(?:(?:me|mij)\s+)?(?:(?:iets|meer|wat)\s+)?over
          |leg\s+(?:(?:me|mij)\s+)?uit|beschrijf|laat\s+(?:me|mij)\s+zien
          |ik\s+(?:wil|zou)\s+(?:graag\s+)?(?:(?:iets|meer|wat)\s+)?(?:willen\s+)?(?:(?:weten|leren)\s+)?over
          |wat\s+weet\s+(?:je|u)\s+over)?""",
    "pt": rf"""(?:(?:você\s+)?(?:pode|podes|poderia|poderias)\s+(?:por\s+favor\s+)?(?:me\s+)?
           (?:(?:explicar|descrever|mostrar|falar|contar|dizer)(?:\s+(?:algo|mais|um\s+pouco))?{_PT_OF})?
          |(?:fale|fala|conte|conta|diga|diz)-me(?:\s+(?:algo|mais|um\s+pouco))?{_PT_OF}
          |(?:fale|conte)\s+(?:(?:algo|mais|um\s+pouco)\s+)?(?:sobre|acerca\s+d[eoa]s?)
          |me\s+(?:fale|conte|diga|explique|descreva|mostre)(?:\s+(?:algo|mais|um\s+pouco))?{_PT_OF}
          |(?:explique|explica|descreva|descreve|mostre|mostra)-me|explique|descreva
          |(?:gostaria\s+de|quero|queria)\s+(?:saber|entender|conhecer|aprender)(?:\s+(?:algo|mais))?{_PT_OF}
          |o\s+que\s+(?:você\s+)?sabe{_PT_OF})?""",
}
_REQUEST_LEAD = {
    # Not when the word goes on with a hyphen or a dot: "describe-instances", "explain.analyze" are names.
    code: re.compile(pattern + r"(?:(?<=')|\b)(?![-.]\w)[\s,:]*", re.IGNORECASE | re.VERBOSE)
    for code, pattern in _REQUEST_LEADS.items()
}
_VERB_LAST = {
    "de": re.compile(
        r"\s+(?:zu\s+)?(?:erklären|erzählen|sagen|beschreiben|zeigen|wissen|erfahren|lernen|verstehen)"
        r"(?:\s+(?:kannst|könntest|können|könnten|würdest|würden)(?:\s+(?:du|sie))?)?\s*(\??)[\s.!]*$",
        re.IGNORECASE,
    ),
    "nl": re.compile(
        r"\s+(?:uitleggen|vertellen|beschrijven|weten|leren|laten\s+zien)(?:\s+willen)?\s*(\??)[\s.!]*$", re.IGNORECASE
    ),
}
#: "please" and "thanks" at the end, in the same languages.
_REQUEST_TAIL = re.compile(
    r"""[\s,]+(?:please|thanks|thank\s+you|s'il\s+(?:vous|te)\s+pla[iî]t|svp|merci(?:\s+d'avance)?|bitte
       |danke(?:\s+schön)?|por\s+favor|gracias|per\s+(?:favore|piacere)|grazie|alstublieft|alsjeblieft|aub
       |bedankt|dank\s+je(?:\s+wel)?|obrigad[oa])\s*(\??)[\s.!]*$""",
    re.IGNORECASE | re.VERBOSE,
)


#: The tails above are looked for in the question's last characters only: a pattern that starts with a run of
#: separators is tried at every position of such a run, quadratic in its length (a search of 5,000 commas took
#: two seconds); the longest tail ("s'il vous plaît" with its punctuation) fits many times over.
_TAIL_WINDOW = 120


def _tail_cut(pattern: re.Pattern, probe: str, text: str) -> tuple[str, str]:
    """(`probe`, `text`) without the tail `pattern` finds at the end of `probe` (`text` with straight quotes)."""
    found = pattern.search(probe, max(len(probe) - _TAIL_WINDOW, 0))
    if found is None:
        return probe, text
    return probe[: found.start()] + found.group(1), text[: found.start()] + found.group(1)


def question_subject(question: str) -> str:
    """`question` without the words that only ask for an answer (a greeting, "please", "can you tell me about",
    "explain", and the same in the other languages Beacon speaks: `_REQUEST_LEADS`): "Could you please tell me
    about the Event Loop?" -> "the Event Loop?", "Kannst du mir bitte Generatoren erklären?" -> "Generatoren?".
    The question itself when that leaves nothing ("Explain."); a request word written in capitals is a command
    and stays ("EXPLAIN ANALYZE output": PostgreSQL's EXPLAIN)."""
    # Matched with straight apostrophes (a phone types U+2019 in "J'aimerais"), cut in the question as asked.
    probe = question.replace("\u2019", "'")
    greeting = _GREETING.match(probe)
    start = greeting.end() if greeting else 0
    # The language whose request words explain the longest start of the question (none: a question that
    # starts with no request word, or with no word at all: "(a) or (b)?", "«...»").
    leads = [(code, found) for code, pattern in _REQUEST_LEAD.items() if (found := pattern.match(probe, start))]
    code, end = max(((code, found.end()) for code, found in leads if found.group(0).strip()), key=lambda c: c[1],
                    default=("", start))  # fmt: skip
    # Written in capitals, a request word is a command the documents are about: "EXPLAIN ANALYZE", "SHOW".
    if re.search(r"\b[A-Z]{3,}\b", probe[:end]) is not None:
        probe, subject = probe, question
    else:
        probe, subject = probe[end:], question[end:]
        if code in _VERB_LAST:
            probe, subject = _tail_cut(_VERB_LAST[code], probe, subject)
    probe, subject = _tail_cut(_REQUEST_TAIL, probe, subject)
    return subject if re.search(r"\w", subject) else question


#: Per text-search configuration, the question words its Snowball stop list keeps while English's drops theirs
#: (PostgreSQL's english.stop holds how, what, why, when, where, which, who; french.stop holds "qui" and "que"
#: but not "comment" or "pourquoi"). Kept, such a word is a search term the documents rarely hold: in BM25's
#: denominator it lowered a French question's lexical score by a third against the same question in English
#: (issue 14). Only words that are question words and nothing else in the language ("cosa" is also "thing",
#: rarely a subject), as written, accents included: questions are typed with them.
QUESTION_WORDS: dict[str, frozenset[str]] = {
    config: frozenset(words.split())
    for config, words in {
        "french": "comment pourquoi quand quel quelle quels quelles où combien quoi lequel laquelle lesquels"
        " lesquelles",
        "german": "warum wann wer wen wem wessen wieso weshalb weswegen wieviel wieviele woher wohin womit wofür wozu",
        "spanish": "cómo cuándo dónde adónde quién quiénes cuál cuáles cuánto cuánta cuántos cuántas porqué",
        "italian": "perche quando quali cosa",
        "dutch": "waarom wanneer waar welke welk hoeveel waarmee waarvoor hoezo",
        "portuguese": "porque porquê onde quais quanto quanta quantos quantas aonde",
    }.items()
}
#: Per configuration, question phrases whose second word only asks: "How long is the warranty?" asks about the
#: warranty. Kept, "long" is a search term the documents rarely hold ("a two-year warranty"): in BM25's
#: denominator it cut the lexical score of a plain support question below a small bot's calibrated cut-off
#: (French's "combien" is one word, in QUESTION_WORDS).
QUESTION_PHRASES: dict[str, re.Pattern] = {
    "english": re.compile(
        r"\b(how)\s+(?:long|much|many|often|far|soon|old|big|large|fast|quickly|frequently)\b", re.IGNORECASE
    ),
}
#: the configurations whose question terms `without_question_words` changes
QUESTION_WORD_CONFIGS = frozenset(QUESTION_WORDS) | frozenset(QUESTION_PHRASES)
_WORD = re.compile(r"\w+")


def without_question_words(text: str, config: str) -> str:
    """`text` without the question words of text-search configuration `config` (`QUESTION_WORDS`,
    `QUESTION_PHRASES`; a configuration without any: `text` unchanged), to parse the question's search terms with
    it: "Comment configurer la réplication ?" -> " configurer la réplication ?" for `french`, "How long is the
    warranty?" -> "How is the warranty?" for `english`; for `english` "comment" is a word ("How do I comment
    code?") and stays."""
    phrases = QUESTION_PHRASES.get(config)
    if phrases is not None:
        text = phrases.sub(r"\1", text)
    words = QUESTION_WORDS.get(config)
    if not words:
        return text
    return _WORD.sub(lambda m: " " if m.group(0).lower() in words else m.group(0), text)


def lexemes(texts: list[str], config: str) -> list[set[str]]:
    """The lexemes of each of `texts` as text-search configuration `config` (one of SEARCH_CONFIGS) reads it:
    stemmed, stop words left out ("Les répertoires sont listés" -> {"répertoir", "list"} for `french`). One
    query for all the texts; what the search's words half compares, so a term means the same in both."""
    if config not in SEARCH_CONFIGS:
        raise ValueError(f"unknown text-search configuration {config!r}")
    if not texts:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce((SELECT array_agg(lexeme) FROM unnest(to_tsvector(%s::regconfig, t))), '{}')"
            " FROM unnest(%s::text[]) WITH ORDINALITY AS given(t, n) ORDER BY n",
            [config, list(texts)],
        )
        return [set(row[0]) for row in cursor.fetchall()]


def reply_language(*, language: str, question: str) -> str:
    """The language a bot answers `question` in: its own, or with `auto` the question's (among the
    languages Beacon speaks; English when it cannot be told)."""
    if language != AUTO:
        return language
    return text_language(question, among=MESSAGE_LANGUAGES) or "en"


def answer_instruction(language: str) -> str:
    """The model's instruction about the answer's language (English prose: models follow it best)."""
    if language == AUTO:
        return "Answer in the language of the user's question."
    name = LANGUAGES.get(language, ("English", ""))[0]
    return f"Answer in {name}."
