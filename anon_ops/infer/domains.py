"""What each column holds (its data domain) and what that makes it (identifier, QI, sensitive, insensitive).

Detection combines two kinds of evidence, because neither is reliable alone: column names lie or are
cryptic (``c7``), and values are ambiguous (a 5-digit string may be a zip or a product number).

* **values**: regexes and parsers run over a sample of the column's *distinct* values (the share of
  matches is the evidence), plus cardinality (distinct / non-missing), length and word statistics,
  numeric-ness and the dtype;
* **the name**: tokens of the column name (``customerEmail`` → ``customer``, ``email``) matched
  against hint words per domain.

A name hint the values confirm (≥ half of them fit) wins with high confidence; otherwise values
that clearly fit a domain (≥ 80 %) win; a name hint the values do not confirm still decides, with a
low confidence, when it points to a direct identifier (removing too much is the safe error). The
reason of every decision is kept as text; it never quotes a data value.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from anon_ops.config import AttributeType
from anon_ops.engine.hierarchy import values_as_text

__all__ = [
    "COUNTRY_CONTINENT",
    "DIRECT_IDENTIFIER_DOMAINS",
    "QUASI_IDENTIFIER_DOMAINS",
    "ColumnProfile",
    "Domain",
    "continent_of",
    "detect_column",
    "looks_like_email",
    "looks_like_phone",
    "looks_like_ssn",
    "name_hint",
    "profile_columns",
]

SAMPLE_DISTINCT = 500
"""Distinct values the value detectors look at per column (a fixed-seed sample when there are more)."""

_CONFIRMED = 0.5  # share of values that confirms a name hint
_CLEAR = 0.8  # share of values that decides a domain without a name hint
_UNIQUE = 0.95  # distinct / non-missing from which a column identifies its rows
_MIN_ROWS_FOR_UNIQUE = 20  # below this, uniqueness says nothing
_MAX_CATEGORIES = 50  # at most this many distinct values (or ≤ 5 % of rows): a categorical


class Domain(StrEnum):
    """The kind of data a column holds; it decides the classification and the hierarchy."""

    PERSON_NAME = "person_name"
    EMAIL = "email"
    PHONE = "phone"
    NATIONAL_ID = "national_id"
    IP_ADDRESS = "ip_address"
    FREE_TEXT = "free_text"
    RECORD_ID = "record_id"
    AGE = "age"
    DATE = "date"
    DATE_OF_BIRTH = "date_of_birth"
    ZIP_CODE = "zip_code"
    GENDER = "gender"
    COUNTRY = "country"
    REGION = "region"
    CATEGORICAL_CODE = "categorical_code"
    CATEGORICAL = "categorical"
    NUMERIC = "numeric_measure"
    CONSTANT = "constant"


DIRECT_IDENTIFIER_DOMAINS = frozenset({
    Domain.PERSON_NAME, Domain.EMAIL, Domain.PHONE, Domain.NATIONAL_ID, Domain.IP_ADDRESS, Domain.FREE_TEXT,
    Domain.RECORD_ID,
})
"""Domains that single out a person on their own: removed (type identifier)."""

QUASI_IDENTIFIER_DOMAINS = frozenset({
    Domain.AGE, Domain.DATE, Domain.DATE_OF_BIRTH, Domain.ZIP_CODE, Domain.GENDER, Domain.COUNTRY, Domain.REGION,
})
"""Domains that identify in combination (the classic linkage attributes): generalized (quasi_identifier)."""

_LABEL = {
    Domain.PERSON_NAME: "person name", Domain.EMAIL: "e-mail address", Domain.PHONE: "phone number",
    Domain.NATIONAL_ID: "national id number", Domain.IP_ADDRESS: "IP address", Domain.FREE_TEXT: "free text",
    Domain.RECORD_ID: "record id", Domain.AGE: "age", Domain.DATE: "date", Domain.DATE_OF_BIRTH: "date of birth",
    Domain.ZIP_CODE: "zip / postal code", Domain.GENDER: "gender", Domain.COUNTRY: "country",
    Domain.REGION: "region / place", Domain.CATEGORICAL_CODE: "code", Domain.CATEGORICAL: "categorical",
    Domain.NUMERIC: "numeric measure", Domain.CONSTANT: "constant",
}


class ColumnProfile(BaseModel):
    """What inference concluded about one column, with the evidence; JSON-serializable."""

    model_config = ConfigDict(extra="forbid")

    name: str
    domain: Domain
    classification: AttributeType
    confidence: float = Field(ge=0, le=1, description="How sure the classification is (0–1).")
    reason: str = Field(description="Why, in words; never quotes a data value.")
    source: Literal["inferred", "user", "target"] = Field(
        default="inferred", description="user: set in the base configuration; target: the target variable."
    )
    name_hint: Domain | None = Field(default=None, description="The domain the column name suggests, if any.")
    match_share: float | None = Field(default=None, description="Share of sampled values fitting the domain.")
    date_format: str | None = Field(default=None, description="strptime format of date strings, when detected.")
    n_rows: int = 0
    n_distinct: int = 0
    distinct_ratio: float = Field(default=0.0, description="Distinct values / non-missing values.")
    missing_ratio: float = 0.0
    sensitive_hint: bool = Field(default=False, description="The name says the values are sensitive.")
    qi_hint: bool = Field(default=False, description="The name says demographic (a quasi-identifier).")


# --------------------------------------------------------------------------- name hints
_HINT_TOKENS: list[tuple[Domain, frozenset[str], tuple[str, ...]]] = [
    # (domain, whole tokens, substrings of the joined name) — checked in this order
    (Domain.EMAIL, frozenset({"email", "emails", "mail"}), ("email",)),
    (Domain.IP_ADDRESS, frozenset({"ip", "ipv4", "ipv6"}), ("ipaddress", "ipaddr")),
    (Domain.NATIONAL_ID, frozenset({"ssn", "sin", "nino", "passport", "aadhaar", "bsn", "nhs", "cpr", "tin",
                                    "personnummer", "nin", "svnr", "steuerid"}),
     ("socialsecurity", "nationalid", "taxid", "driverlicense", "driverslicense", "insurancenumber")),
    (Domain.PHONE, frozenset({"phone", "telephone", "tel", "mobile", "cell", "cellphone", "fax", "msisdn"}),
     ("phone",)),
    (Domain.DATE_OF_BIRTH, frozenset({"dob", "birth", "birthday", "birthdate", "born", "bday"}), ("birth",)),
    (Domain.AGE, frozenset({"age", "ages"}), ()),
    (Domain.ZIP_CODE, frozenset({"zip", "zipcode", "postcode", "postal", "plz", "postalcode"}),
     ("zip", "postcode", "postal")),
    (Domain.GENDER, frozenset({"gender", "sex"}), ("gender",)),
    (Domain.COUNTRY, frozenset({"country", "countries", "nation"}), ("country",)),
    (Domain.REGION, frozenset({"state", "region", "province", "county", "city", "town", "district",
                               "municipality", "canton", "territory", "place", "residence"}), ()),
    (Domain.FREE_TEXT, frozenset({"note", "notes", "comment", "comments", "description", "desc", "remark",
                                  "remarks", "text", "message", "feedback", "memo", "narrative", "details",
                                  "summary", "body", "freetext", "review"}), ()),
    (Domain.DATE, frozenset({"date", "time", "timestamp", "datetime", "day", "dt", "created", "updated",
                             "visit", "admission", "discharge"}), ()),
]
_NAME_TOKENS = frozenset({"name", "names", "surname", "forename", "firstname", "lastname", "fullname",
                          "username", "nickname", "maidenname", "givenname", "familyname"})
_NOT_A_PERSON = frozenset({"product", "company", "file", "business", "brand", "item", "street", "city", "host",
                           "domain", "table", "column", "field", "store", "shop", "org", "organization",
                           "organisation", "bank", "employer", "event", "campaign", "plan", "segment", "category",
                           "group", "team", "dept", "department", "project", "app", "device", "model", "country",
                           "state", "region", "drug", "medication", "course", "school", "hospital", "tag", "job"})
_ID_TOKENS = frozenset({"id", "uuid", "guid", "identifier", "key", "no", "nr", "number", "num", "pk", "account",
                        "iban", "card", "mrn", "license", "licence"})
_SENSITIVE_TOKENS = frozenset({
    "diagnosis", "diagnoses", "disease", "diseases", "illness", "condition", "conditions", "medical", "health",
    "icd", "medication", "medications", "medicine", "drug", "drugs", "treatment", "therapy", "symptom",
    "symptoms", "hiv", "pregnancy", "pregnant", "disability", "salary", "salaries", "income", "wage", "wages",
    "earnings", "compensation", "credit", "creditscore", "debt", "debts", "religion", "religious", "political",
    "politics", "orientation", "sexuality", "criminal", "conviction", "convictions", "genetic", "biometric",
    "balance",
})
_QI_TOKENS = frozenset({
    "race", "ethnicity", "ethnic", "marital", "education", "occupation", "job", "profession", "language",
    "citizenship", "nationality", "workclass", "employment", "height", "weight", "bmi", "household", "children",
    "dependents", "title", "degree", "industry",
})


def _tokens(name: str) -> list[str]:
    """Lower-case word tokens of a column name: camelCase, snake_case, kebab-case and spaces split."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", name))
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def name_hint(name: str) -> Domain | None:
    """The domain a column name suggests (``customer_email`` → e-mail), or None."""
    tokens = _tokens(name)
    token_set, joined = set(tokens), "".join(tokens)
    for domain, words, parts in _HINT_TOKENS:
        if token_set & words or any(p in joined for p in parts):
            return domain
    if (token_set & _NAME_TOKENS) and not (token_set & _NOT_A_PERSON):
        return Domain.PERSON_NAME
    if token_set & _ID_TOKENS:
        return Domain.RECORD_ID
    return None


def _sensitive_hint(name: str) -> bool:
    tokens = _tokens(name)
    return bool(set(tokens) & _SENSITIVE_TOKENS) or "creditscore" in "".join(tokens)


def _qi_hint(name: str) -> bool:
    return bool(set(_tokens(name)) & _QI_TOKENS)


# --------------------------------------------------------------------------- value detectors
_EMAIL = re.compile(r"^[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
_SSN = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_NINO = re.compile(r"^[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-/]+$")
_ZIP = re.compile(r"^(\d{5}(-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|[A-Z]\d[A-Z] ?\d[A-Z]\d)$")
_NAME_WORD = r"[A-Z][a-zA-Z'\-]*\.?"
_PERSON = re.compile(rf"^{_NAME_WORD}(,? {_NAME_WORD}){{1,3}}$")
_SINGLE_NAME = re.compile(r"^[A-Z][a-zA-Z'\-]+$")
_CODE = re.compile(r"^[A-Za-z0-9]+([\-_/.][A-Za-z0-9]+)*$")
_DATE_FORMATS = (
    "%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%m-%d-%Y", "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%y", "%d/%m/%y", "%d %b %Y", "%b %d, %Y", "%d %B %Y",
    "%B %d, %Y", "%Y-%m",
)
_COMPACT_DATE_FORMATS = ("%Y%m%d",)  # 8-digit numbers are dates only when the name says so
_GENDER_VALUES = frozenset({"m", "f", "male", "female", "man", "woman", "men", "women", "x", "other", "o", "u",
                            "unknown", "non-binary", "nonbinary", "diverse", "d", "nb", "intersex", "w"})
_GENDER_CORE = frozenset({"m", "f", "male", "female", "man", "woman", "w"})

_CONTINENTS: dict[str, tuple[str, ...]] = {
    "Africa": ("Algeria", "Angola", "Benin", "Botswana", "Burkina Faso", "Cameroon", "Congo", "Egypt", "Ethiopia",
               "Ghana", "Ivory Coast", "Kenya", "Libya", "Madagascar", "Mali", "Morocco", "Mozambique", "Namibia",
               "Niger", "Nigeria", "Rwanda", "Senegal", "Somalia", "South Africa", "Sudan", "Tanzania", "Tunisia",
               "Uganda", "Zambia", "Zimbabwe"),
    "Asia": ("Afghanistan", "Bangladesh", "Cambodia", "China", "Hong Kong", "India", "Indonesia", "Iran", "Iraq",
             "Israel", "Japan", "Jordan", "Kazakhstan", "Korea", "South Korea", "North Korea", "Kuwait", "Laos",
             "Lebanon", "Malaysia", "Mongolia", "Myanmar", "Nepal", "Pakistan", "Philippines", "Qatar",
             "Saudi Arabia", "Singapore", "Sri Lanka", "Syria", "Taiwan", "Thailand", "Turkey", "United Arab Emirates",
             "Uzbekistan", "Vietnam", "Yemen"),
    "Europe": ("Albania", "Austria", "Belarus", "Belgium", "Bosnia", "Bulgaria", "Croatia", "Cyprus", "Czechia",
               "Czech Republic", "Denmark", "England", "Estonia", "Finland", "France", "Germany", "Greece",
               "Holand Netherlands", "Hungary", "Iceland", "Ireland", "Italy", "Latvia", "Lithuania", "Luxembourg",
               "Malta", "Netherlands", "Northern Ireland", "Norway", "Poland", "Portugal", "Romania", "Russia",
               "Scotland", "Serbia", "Slovakia", "Slovenia", "Spain", "Sweden", "Switzerland", "Ukraine",
               "United Kingdom", "UK", "Great Britain", "Wales", "Yugoslavia"),
    "North America": ("Canada", "Costa Rica", "Cuba", "Dominican Republic", "El Salvador", "Guatemala", "Haiti",
                      "Honduras", "Jamaica", "Mexico", "Nicaragua", "Panama", "Puerto Rico", "Trinidad and Tobago",
                      "Trinadad&Tobago", "United States", "United States of America", "USA", "US", "America",
                      "Outlying US(Guam USVI etc)"),
    "South America": ("Argentina", "Bolivia", "Brazil", "Chile", "Colombia", "Columbia", "Ecuador", "Paraguay",
                      "Peru", "Uruguay", "Venezuela"),
    "Oceania": ("Australia", "Fiji", "New Zealand", "Papua New Guinea"),
}


def _country_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower())


COUNTRY_CONTINENT: dict[str, str] = {
    _country_key(country): continent for continent, countries in _CONTINENTS.items() for country in countries
}
"""Lower-cased country name (spaces for - and _) → continent: a small built-in map for region grouping."""


def continent_of(value: str) -> str | None:
    """The continent of a country name (``United-States`` → North America), or None when unknown."""
    return COUNTRY_CONTINENT.get(_country_key(value))


def looks_like_email(text: str) -> bool:
    """An address of the form local@domain.tld."""
    return bool(_EMAIL.match(text.strip()))


def looks_like_ssn(text: str) -> bool:
    """A US social security number ddd-dd-dddd or a UK national insurance number."""
    text = text.strip()
    return bool(_SSN.match(text) or _NINO.match(text.upper()))


def looks_like_phone(text: str, digits_only_ok: bool = False) -> bool:
    """10–15 digits (8–15 after a leading +) with phone punctuation. Bare digit strings only count
    when `digits_only_ok` (the name says phone), since they are as likely ids or amounts."""
    text = text.strip()
    if not _PHONE_CHARS.match(text):
        return False
    digits = sum(c.isdigit() for c in text)
    if text.startswith("+"):
        return 8 <= digits <= 15
    if not digits_only_ok and text.isdigit():
        return False
    return 10 <= digits <= 15


def _is_ip(text: str) -> bool:
    if not re.match(r"^[0-9A-Fa-f:.]{3,45}$", text) or ("." not in text and text.count(":") < 2):
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _share(sample: list[str], test: Callable[[str], bool]) -> float:
    if not sample:
        return 0.0
    return sum(1 for v in sample if test(v)) / len(sample)


def _date_share(sample: list[str], formats: tuple[str, ...]) -> tuple[float, str | None]:
    """Best share of values parsing as dates with years 1800–2200, and its strptime format.

    Formats are tried on 50 values first and on the whole sample only when they fit half of those,
    so columns that hold no dates (most of them) cost little."""
    datelike = _share(sample[:50], lambda v: len(v) <= 32 and sum(c.isdigit() for c in v) >= 4)
    if datelike < _CONFIRMED:
        return 0.0, None
    best, best_format = 0.0, None
    for fmt in formats:
        if _parsed_share(sample[:50], fmt) < _CONFIRMED:
            continue
        share = _parsed_share(sample, fmt)
        if share > best + 1e-12:
            best, best_format = share, fmt
        if best == 1.0:
            break
    return best, best_format


def _parsed_share(values: list[str], fmt: str) -> float:
    parsed = pd.to_datetime(pd.Series(values, dtype=object), format=fmt, errors="coerce")
    return float((parsed.notna() & parsed.dt.year.between(1800, 2200)).mean())


# --------------------------------------------------------------------------- the column's facts
class _Facts:
    """Statistics of one column that every rule reads; computed once."""

    def __init__(self, values: pd.Series, name: str) -> None:
        self.name = name
        self.n_rows = len(values)
        texts = values_as_text(values)
        present = texts[texts != ""]
        self.n_present = len(present)
        self.missing_ratio = 1 - self.n_present / self.n_rows if self.n_rows else 0.0
        counts = present.value_counts(sort=False)
        self.n_distinct = len(counts)
        self.distinct_ratio = self.n_distinct / self.n_present if self.n_present else 0.0
        distinct = counts.index.to_numpy(dtype=object)
        if len(distinct) > SAMPLE_DISTINCT:
            pick = np.random.default_rng(0).choice(len(distinct), SAMPLE_DISTINCT, replace=False)
            distinct = distinct[np.sort(pick)]
        self.sample: list[str] = [str(v) for v in distinct]
        dtype = values.dtype
        self.is_bool = pd.api.types.is_bool_dtype(dtype)
        self.is_datetime = pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.infer_dtype(
            values.dropna().head(1000), skipna=True) in ("datetime", "date", "datetime64")
        self.is_numeric = pd.api.types.is_numeric_dtype(dtype) and not self.is_bool
        numbers = pd.to_numeric(pd.Series(self.sample, dtype=object), errors="coerce")
        self.numeric_share = float(numbers.notna().mean()) if self.sample else 0.0
        finite = numbers.dropna().to_numpy(dtype=float)
        self.is_integer = bool(len(finite)) and bool(np.all(np.floor(finite) == finite))
        self.min = float(finite.min()) if len(finite) else math.nan
        self.max = float(finite.max()) if len(finite) else math.nan
        lengths = np.array([len(v) for v in self.sample]) if self.sample else np.zeros(1)
        self.mean_length = float(lengths.mean())
        self.fixed_length = bool(self.sample) and int(lengths.min()) == int(lengths.max())
        self.mean_words = float(np.mean([len(v.split()) for v in self.sample])) if self.sample else 0.0

    @property
    def numeric_like(self) -> bool:
        return self.is_numeric or (self.numeric_share == 1.0 and bool(self.sample))

    @property
    def unique_per_row(self) -> bool:
        return self.n_present >= _MIN_ROWS_FOR_UNIQUE and self.distinct_ratio >= _UNIQUE

    @property
    def few_values(self) -> bool:
        return self.n_distinct <= _MAX_CATEGORIES or self.distinct_ratio <= 0.05

    def evidence(self) -> str:
        return f"{len(self.sample)} sampled distinct value(s)"


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"


# --------------------------------------------------------------------------- decision
def _value_checks(facts: _Facts, hint: Domain | None) -> tuple[dict[Domain, float], str | None]:
    """Share of sampled values fitting each value-checkable domain; the best date format."""
    sample = facts.sample
    shares: dict[Domain, float] = {}
    if facts.is_datetime:
        return {Domain.DATE: 1.0}, None
    formats = _DATE_FORMATS + (_COMPACT_DATE_FORMATS if hint in (Domain.DATE, Domain.DATE_OF_BIRTH) else ())
    if not facts.is_numeric or hint in (Domain.DATE, Domain.DATE_OF_BIRTH):
        shares[Domain.DATE], date_format = _date_share(sample, formats)
    else:
        date_format = None
    if facts.is_numeric:
        return shares, date_format
    shares[Domain.EMAIL] = _share(sample, looks_like_email)
    shares[Domain.IP_ADDRESS] = _share(sample, _is_ip)
    shares[Domain.NATIONAL_ID] = _share(sample, looks_like_ssn)
    phone_digits_ok = hint == Domain.PHONE
    shares[Domain.PHONE] = _share(sample, lambda v: looks_like_phone(v, phone_digits_ok))
    shares[Domain.ZIP_CODE] = _share(sample, lambda v: bool(_ZIP.match(v.strip().upper())))
    lowered = {v.strip().lower() for v in sample}
    if facts.n_distinct <= 8 and lowered & _GENDER_CORE:
        shares[Domain.GENDER] = len(lowered & _GENDER_VALUES) / len(lowered)
    shares[Domain.COUNTRY] = _share(sample, lambda v: continent_of(v) is not None and len(v.strip()) > 3)
    person = _SINGLE_NAME if hint == Domain.PERSON_NAME else None
    shares[Domain.PERSON_NAME] = _share(sample, lambda v: bool(_PERSON.match(v) or (person and person.match(v))))
    shares[Domain.FREE_TEXT] = _share(sample, lambda v: len(v.split()) >= 5 or len(v) >= 60)
    shares[Domain.CATEGORICAL_CODE] = _share(sample, lambda v: bool(_CODE.match(v)) and any(c.isdigit() for c in v))
    return shares, date_format


def detect_column(values: pd.Series, name: str | None = None) -> ColumnProfile:
    """Profile one column: its domain, classification, confidence and the reason."""
    name = str(values.name if name is None else name)
    facts = _Facts(values, name)
    hint = name_hint(name)
    sensitive = _sensitive_hint(name)
    qi = _qi_hint(name) or (hint in QUASI_IDENTIFIER_DOMAINS and hint != Domain.DATE)  # 'age_group' too
    domain, confidence, why, share, date_format = _decide_domain(facts, hint)
    classification, class_confidence, consequence = _classify(domain, sensitive, qi)
    return ColumnProfile(
        name=name, domain=domain, classification=classification,
        confidence=round(min(confidence, class_confidence), 3), reason=f"{why}; {consequence}",
        name_hint=hint, match_share=None if share is None else round(share, 4), date_format=date_format,
        n_rows=facts.n_rows, n_distinct=facts.n_distinct, distinct_ratio=round(facts.distinct_ratio, 4),
        missing_ratio=round(facts.missing_ratio, 4), sensitive_hint=sensitive, qi_hint=qi,
    )


def profile_columns(df: pd.DataFrame) -> list[ColumnProfile]:
    """`detect_column` for every column, in column order."""
    return [detect_column(df[column], str(column)) for column in df.columns]


_VALUE_ORDER = (  # when several domains fit, the more specific wins
    Domain.EMAIL, Domain.IP_ADDRESS, Domain.NATIONAL_ID, Domain.DATE, Domain.PHONE, Domain.GENDER, Domain.COUNTRY,
    Domain.ZIP_CODE, Domain.FREE_TEXT, Domain.PERSON_NAME, Domain.CATEGORICAL_CODE,
)


def _decide_domain(facts: _Facts, hint: Domain | None) -> tuple[Domain, float, str, float | None, str | None]:
    """(domain, confidence, reason, share of matching values, date format)."""
    if facts.n_present == 0:
        return Domain.CONSTANT, 0.95, "constant: the column holds no values", None, None
    shares, date_format = _value_checks(facts, hint)
    if facts.n_distinct == 1:  # one value repeated tells nothing, unless it is one person's e-mail, SSN…
        identifying = [d for d in _VALUE_ORDER if d in DIRECT_IDENTIFIER_DOMAINS and shares.get(d, 0.0) == 1.0
                       and d not in (Domain.FREE_TEXT, Domain.PERSON_NAME)]
        if not identifying:
            return Domain.CONSTANT, 0.95, "constant: the column holds a single distinct value", None, None
        return (identifying[0], 0.8, f"{_LABEL[identifying[0]]}: the single distinct value is one "
                f"(the same person's, repeated)", 1.0, None)
    said = f"the name suggests {_LABEL[hint]}" if hint else ""

    if hint is not None:
        confirmed = _confirm_hint(facts, hint, shares)
        if confirmed is not None:
            domain, share = confirmed
            fits = f"{_pct(share)} of {facts.evidence()} fit" if share is not None else "the values fit"
            if domain == Domain.RECORD_ID:
                fits = f"{_pct(facts.distinct_ratio)} of the values are distinct"
            confidence = 0.6 + 0.4 * (share if share is not None else 0.75)
            fmt = date_format if domain in (Domain.DATE, Domain.DATE_OF_BIRTH) else None
            return domain, confidence, f"{_LABEL[domain]}: {said} and {fits}", share, fmt

    for domain in _VALUE_ORDER:
        share = shares.get(domain, 0.0)
        if share >= _CLEAR and _value_domain_plausible(facts, domain):
            agree = f"; {said}" if hint else ""
            return (domain, 0.85 * share, f"{_LABEL[domain]}: {_pct(share)} of {facts.evidence()} fit{agree}",
                    share, date_format if domain == Domain.DATE else None)

    if hint in DIRECT_IDENTIFIER_DOMAINS and hint not in (Domain.RECORD_ID, Domain.FREE_TEXT):
        share = shares.get(hint)
        fit = f" ({_pct(share)} of {facts.evidence()} fit)" if share is not None else ""
        return hint, 0.5, f"{_LABEL[hint]}: {said}, though the values do not confirm it{fit}", share, None
    return _fallback(facts, hint, said)


def _confirm_hint(facts: _Facts, hint: Domain, shares: dict[Domain, float]) -> tuple[Domain, float | None] | None:
    """The hinted domain when the values are compatible with it (with the share that fits), else None."""
    numeric = facts.numeric_like
    if hint == Domain.AGE:
        ok = numeric and facts.min >= 0 and facts.max <= 130
        return (Domain.AGE, None) if ok else None
    if hint in (Domain.DATE_OF_BIRTH, Domain.DATE):
        share = shares.get(Domain.DATE, 0.0)
        return (hint, share) if share >= _CONFIRMED else None
    if hint == Domain.ZIP_CODE:
        if facts.is_numeric:
            ok = facts.is_integer and facts.min >= 0 and facts.max <= 99999
            return (Domain.ZIP_CODE, None) if ok else None
        share = shares.get(Domain.ZIP_CODE, 0.0)
        code_share = shares.get(Domain.CATEGORICAL_CODE, 0.0)
        return (Domain.ZIP_CODE, max(share, code_share)) if max(share, code_share) >= _CONFIRMED else None
    if hint == Domain.GENDER:
        share = shares.get(Domain.GENDER, 0.0)
        ok = share >= _CONFIRMED or (facts.n_distinct <= 4)
        return (Domain.GENDER, share if share else None) if ok else None
    if hint == Domain.COUNTRY:
        if facts.is_numeric:
            return None
        share = shares.get(Domain.COUNTRY, 0.0)
        return (Domain.COUNTRY, share) if share >= _CONFIRMED or facts.few_values else None
    if hint == Domain.REGION:
        return (Domain.REGION, None) if not facts.is_numeric else None
    if hint == Domain.FREE_TEXT:  # a 'status_text' of three short labels is a categorical, not free text
        if numeric or (facts.distinct_ratio < 0.1 and facts.mean_words < 3):
            return None
        return Domain.FREE_TEXT, shares.get(Domain.FREE_TEXT, 0.0)
    if hint == Domain.PERSON_NAME:
        share = shares.get(Domain.PERSON_NAME, 0.0)
        return (Domain.PERSON_NAME, share) if share >= _CONFIRMED and not numeric else None
    if hint == Domain.RECORD_ID:
        return (Domain.RECORD_ID, facts.distinct_ratio) if facts.distinct_ratio >= 0.9 and facts.n_present >= 2 \
            else None
    if hint in (Domain.EMAIL, Domain.PHONE, Domain.NATIONAL_ID, Domain.IP_ADDRESS):
        share = shares.get(hint)
        if share is None:  # numeric column: a phone or an id stored as a number
            ok = hint in (Domain.PHONE, Domain.NATIONAL_ID) and facts.is_integer and facts.distinct_ratio >= 0.5
            return (hint, None) if ok else None
        if hint == Domain.NATIONAL_ID and share < _CONFIRMED:
            share = max(share, _share(facts.sample, lambda v: bool(re.match(r"^[A-Z0-9][A-Z0-9 \-]{5,19}$", v))))
        return (hint, share) if share >= _CONFIRMED else None
    return None


def _value_domain_plausible(facts: _Facts, domain: Domain) -> bool:
    """Checks that keep weak value patterns from firing on their own."""
    if domain == Domain.PERSON_NAME:  # 'Small Business' is two capitalized words too: names are many
        return facts.distinct_ratio >= 0.1 and facts.n_distinct > 20
    if domain == Domain.ZIP_CODE:  # a 4/5-digit code of many values; few values are rather categories
        return facts.n_distinct > 20 and not facts.unique_per_row
    if domain == Domain.CATEGORICAL_CODE:  # a code of one value per row is an id: left to the fallback
        return facts.fixed_length and not facts.numeric_like and not facts.unique_per_row
    if domain == Domain.FREE_TEXT:
        return facts.distinct_ratio >= 0.2
    if domain == Domain.COUNTRY:
        return facts.few_values
    return True


def _fallback(facts: _Facts, hint: Domain | None, said: str) -> tuple[Domain, float, str, float | None, str | None]:
    """No domain-specific evidence: decide from numeric-ness, cardinality and text length."""
    note = f" ({said}, which the values do not confirm)" if hint else ""
    if facts.is_bool:
        return Domain.CATEGORICAL, 0.9, f"categorical: boolean values{note}", None, None
    if facts.numeric_like:
        if facts.unique_per_row and facts.is_integer and _sequence_like(facts):
            return (Domain.RECORD_ID, 0.7, f"record id: whole numbers, one per row, densely numbered{note}",
                    facts.distinct_ratio, None)
        if facts.is_integer and facts.n_distinct <= 10:
            return (Domain.CATEGORICAL, 0.7, f"categorical: {facts.n_distinct} distinct whole numbers{note}",
                    None, None)
        return Domain.NUMERIC, 0.8, f"numeric measure: numbers with {facts.n_distinct} distinct values{note}", \
            None, None
    if facts.unique_per_row:
        if facts.mean_words >= 3:
            return (Domain.FREE_TEXT, 0.65, f"free text: a different text in almost every row, "
                    f"{facts.mean_words:.1f} words on average{note}", None, None)
        return (Domain.RECORD_ID, 0.7, f"record id: {_pct(facts.distinct_ratio)} of the values are distinct, "
                f"so each identifies its row{note}", facts.distinct_ratio, None)
    if facts.mean_words >= 5 and facts.distinct_ratio >= 0.2:
        return (Domain.FREE_TEXT, 0.6, f"free text: {facts.mean_words:.1f} words per value on average{note}",
                None, None)
    if facts.few_values:
        return Domain.CATEGORICAL, 0.75, f"categorical: {facts.n_distinct} distinct values{note}", None, None
    if facts.fixed_length:
        return (Domain.CATEGORICAL_CODE, 0.6, f"code: values of one length, {facts.n_distinct} distinct{note}",
                None, None)
    return (Domain.CATEGORICAL, 0.5, f"categorical: short texts, {facts.n_distinct} distinct "
            f"({_pct(facts.distinct_ratio)} of the rows){note}", None, None)


def _sequence_like(facts: _Facts) -> bool:
    """Whole numbers that fill their range densely (1, 2, 3, …) are row numbers, not measurements."""
    span = facts.max - facts.min + 1
    return span <= 1.5 * facts.n_present


def _classify(domain: Domain, sensitive: bool, qi: bool) -> tuple[AttributeType, float, str]:
    """(classification, its confidence, the consequence in words)."""
    if domain == Domain.FREE_TEXT:
        return (AttributeType.IDENTIFIER, 0.9, "direct identifier (removed): free text may hold names, contacts or "
                "other identifying details that no hierarchy can generalize")
    if domain in DIRECT_IDENTIFIER_DOMAINS:
        return AttributeType.IDENTIFIER, 1.0, "direct identifier (removed)"
    if domain in QUASI_IDENTIFIER_DOMAINS:
        return (AttributeType.QUASI_IDENTIFIER, 1.0, "quasi-identifier (generalized): it can link records to "
                "people in combination with other attributes")
    if domain == Domain.CONSTANT:
        return AttributeType.INSENSITIVE, 1.0, "insensitive (kept): it tells nothing about a person"
    if sensitive:
        return AttributeType.SENSITIVE, 0.8, "sensitive (kept, protected by the privacy models): the name says so"
    if qi:
        return (AttributeType.QUASI_IDENTIFIER, 0.7, "quasi-identifier (generalized): the name says it is a "
                "demographic attribute")
    return AttributeType.INSENSITIVE, 0.7, "insensitive (kept): no sign that it identifies or is sensitive"
