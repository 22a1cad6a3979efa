"""Deterministic demo data shared by the dialects.

Made from fixed word lists and `random.Random` seeded from the dialect and the record count, so the same
`--seed N` gives the same people and companies on every machine and every run (string seeds hash the
same regardless of PYTHONHASHSEED). Each dialect maps these neutral records onto its own shapes.
"""

from __future__ import annotations

import functools
import itertools
import random
import unicodedata
from dataclasses import dataclass

# Seed records are dated before this instant (2026-01-01T00:00:00Z), never "now": a seed is then
# reproducible down to its timestamps, and every later write is newer than all seed data.
SEED_ANCHOR_MS = 1_767_225_600_000
_DAY_MS = 86_400_000

# fmt: off
FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Isabella", "Lucas",
    "Mia", "Mateo", "Charlotte", "Levi", "Harper", "Ethan", "Evelyn", "James", "Aria", "Benjamin",
    "Chloé", "Hugo", "Léa", "Louis", "Manon", "Jules", "Hannah", "Lukas", "Lena", "Felix",
    "Sofía", "Alejandro", "Lucía", "Diego", "Valentina", "Santiago", "Giulia", "Lorenzo", "Chiara",
    "Matteo", "Aiko", "Haruto", "Yui", "Sota", "Priya", "Arjun", "Ananya", "Rohan", "Mei", "Wei",
    "Ji-woo", "Min-jun", "Fatima", "Omar", "Layla", "Yusuf", "Amara", "Kwame", "Zanele", "Thabo",
    "Ingrid", "Lars", "Astrid", "Mikkel", "Saoirse", "Cian", "Niamh", "Tomasz", "Zofia", "João",
    "Beatriz", "Rafael", "Ana", "Dmitri", "Katarina", "Nikolai", "Elif", "Emre", "Zoë", "Ruth",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White",
    "Harris", "Clark", "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker",
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Dubois", "Lefèvre", "Moreau", "Laurent",
    "Rossi", "Russo", "Ferrari", "Esposito", "Fernández", "López", "González", "Pérez", "Sánchez",
    "Silva", "Santos", "Oliveira", "Costa", "Sato", "Suzuki", "Takahashi", "Tanaka", "Kim", "Park",
    "Chen", "Wang", "Li", "Zhang", "Patel", "Sharma", "Gupta", "Singh", "Okafor", "Mensah", "Nkosi",
    "Haddad", "Nowak", "Kowalski", "Johansson", "Nielsen", "Andersen", "O'Brien", "Murphy", "Kelly",
    "Novak", "Ivanova", "Yılmaz", "Demir", "Cohen", "Levi", "Rahman", "Nguyen", "Tran", "Hoang",  # noqa: RUF001 - a real Turkish name
)
JOB_TITLES = (
    "Head of Operations", "Customer Success Manager", "VP Sales", "Account Executive", "CTO",
    "Marketing Manager", "Office Manager", "Procurement Lead", "Data Analyst", "Founder & CEO",
    "IT Administrator", "Finance Director", "Product Manager", "Support Team Lead", "Buyer",
    "Operations Analyst", "Sales Development Rep", "Chief Revenue Officer", "Engineering Manager",
    "Partnerships Manager",
)
COMPANY_WORDS = (
    "Northwind", "Blue Harbor", "Brightwater", "Juniper", "Copperleaf", "Silverline", "Redwood",
    "Granite Peak", "Lakeside", "Ironbridge", "Summit", "Evergreen", "Cobalt", "Harborview", "Kestrel",
    "Meridian", "Oakridge", "Pinecrest", "Quarry Lane", "Riverstone", "Saffron", "Tidewater", "Umber",
    "Vantage", "Willow Creek", "Zephyr", "Aurora", "Beacon", "Cedar Point", "Driftwood", "Ember",
    "Foxglove", "Greyhawk", "Highland", "Indigo", "Jasper", "Larkspur", "Marigold", "Nimbus", "Orchard",
)
COMPANY_KINDS = (
    "Logistics", "Analytics", "Foods", "Robotics", "Health", "Energy", "Software", "Studios", "Labs",
    "Outfitters", "Manufacturing", "Consulting", "Media", "Travel", "Biotech", "Finance", "Retail",
    "Architects", "Systems", "Hospitality",
)
INDUSTRY_BY_KIND = {
    "Logistics": "TRANSPORTATION", "Analytics": "COMPUTER_SOFTWARE", "Foods": "FOOD_PRODUCTION",
    "Robotics": "MACHINERY", "Health": "HOSPITAL_HEALTH_CARE", "Energy": "RENEWABLES_ENVIRONMENT",
    "Software": "COMPUTER_SOFTWARE", "Studios": "MEDIA_PRODUCTION", "Labs": "BIOTECHNOLOGY",
    "Outfitters": "RETAIL", "Manufacturing": "MACHINERY", "Consulting": "MANAGEMENT_CONSULTING",
    "Media": "MEDIA_PRODUCTION", "Travel": "LEISURE_TRAVEL_TOURISM", "Biotech": "BIOTECHNOLOGY",
    "Finance": "FINANCIAL_SERVICES", "Retail": "RETAIL", "Architects": "ARCHITECTURE_PLANNING",
    "Systems": "INFORMATION_TECHNOLOGY_AND_SERVICES", "Hospitality": "HOSPITALITY",
}


@dataclass(frozen=True)
class Place:
    city: str
    country: str
    calling_code: str
    tld: str
    time_zone: str  # the Zendesk (Rails) zone name
    locale: str
    suffix: str  # legal form for company names


PLACES = (
    Place("New York", "United States", "1", "com", "Eastern Time (US & Canada)", "en-US", "Inc."),
    Place("San Francisco", "United States", "1", "com", "Pacific Time (US & Canada)", "en-US", "Inc."),
    Place("Chicago", "United States", "1", "com", "Central Time (US & Canada)", "en-US", "LLC"),
    Place("Austin", "United States", "1", "com", "Central Time (US & Canada)", "en-US", "LLC"),
    Place("Toronto", "Canada", "1", "ca", "Eastern Time (US & Canada)", "en-CA", "Ltd."),
    Place("London", "United Kingdom", "44", "co.uk", "London", "en-GB", "Ltd"),
    Place("Manchester", "United Kingdom", "44", "co.uk", "London", "en-GB", "Ltd"),
    Place("Dublin", "Ireland", "353", "ie", "Dublin", "en-IE", "Ltd"),
    Place("Berlin", "Germany", "49", "de", "Berlin", "de", "GmbH"),
    Place("Munich", "Germany", "49", "de", "Berlin", "de", "GmbH"),
    Place("Paris", "France", "33", "fr", "Paris", "fr", "SAS"),
    Place("Lyon", "France", "33", "fr", "Paris", "fr", "SARL"),
    Place("Madrid", "Spain", "34", "es", "Madrid", "es", "S.L."),
    Place("Milan", "Italy", "39", "it", "Rome", "it", "S.r.l."),
    Place("Amsterdam", "Netherlands", "31", "nl", "Amsterdam", "nl", "B.V."),
    Place("Stockholm", "Sweden", "46", "se", "Stockholm", "sv", "AB"),
    Place("Copenhagen", "Denmark", "45", "dk", "Copenhagen", "da", "ApS"),
    Place("Warsaw", "Poland", "48", "pl", "Warsaw", "pl", "Sp. z o.o."),
    Place("São Paulo", "Brazil", "55", "com.br", "Brasilia", "pt-BR", "Ltda."),
    Place("Mexico City", "Mexico", "52", "mx", "Mexico City", "es", "S.A. de C.V."),
    Place("Tokyo", "Japan", "81", "jp", "Tokyo", "ja", "K.K."),
    Place("Seoul", "South Korea", "82", "kr", "Seoul", "ko", "Co., Ltd."),
    Place("Singapore", "Singapore", "65", "sg", "Singapore", "en-US", "Pte. Ltd."),
    Place("Bengaluru", "India", "91", "in", "Chennai", "en-US", "Pvt. Ltd."),
    Place("Sydney", "Australia", "61", "com.au", "Sydney", "en-AU", "Pty Ltd"),
    Place("Cape Town", "South Africa", "27", "co.za", "Pretoria", "en-US", "(Pty) Ltd"),
    Place("Nairobi", "Kenya", "254", "co.ke", "Nairobi", "en-US", "Ltd"),
)

LIFECYCLE_STAGES = (
    ("subscriber", 8), ("lead", 30), ("marketingqualifiedlead", 15), ("salesqualifiedlead", 10),
    ("opportunity", 10), ("customer", 22), ("evangelist", 3), ("other", 2),
)
LEAD_STATUSES = (
    ("NEW", 25), ("OPEN", 20), ("IN_PROGRESS", 15), ("OPEN_DEAL", 8), ("UNQUALIFIED", 8),
    ("ATTEMPTED_TO_CONTACT", 12), ("CONNECTED", 8), ("BAD_TIMING", 4),
)
TIERS = (("bronze", 40), ("silver", 30), ("gold", 20), ("platinum", 10))
HEALTH = (("green", 60), ("amber", 28), ("red", 12))
SUPPORT_PLANS = (("basic", 50), ("business", 35), ("enterprise", 15))
TAGS = ("vip", "beta_tester", "churn_risk", "reseller", "newsletter", "onboarding", "renewal_q3", "gdpr")
NOTES = (
    "Prefers email over phone.",
    "Met at the spring trade show; follow up on pricing.",
    "Asked about SSO and audit logs.",
    "Renewal due next quarter.",
    "Escalated a billing issue last year, resolved.",
    "Interested in the annual plan.",
    "Champion for the rollout in their team.",
    "Do not call before 10am local time.",
)
# fmt: on


@dataclass(frozen=True)
class DemoCompany:
    name: str
    domain: str
    industry: str
    place: Place
    employees: int
    health: str
    support_plan: str
    created_ms: int
    updated_ms: int


@dataclass(frozen=True)
class DemoPerson:
    first_name: str
    last_name: str
    email: str
    phone: str | None
    company: DemoCompany | None
    job_title: str | None
    place: Place
    lifecycle_stage: str
    lead_status: str | None
    tier: str
    nps: int | None
    newsletter: bool
    notes: str | None
    tags: tuple[str, ...]
    created_ms: int
    updated_ms: int

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class DemoData:
    companies: tuple[DemoCompany, ...]
    people: tuple[DemoPerson, ...]


@functools.lru_cache(maxsize=4096)
def ascii_slug(text: str) -> str:
    """`Lefèvre` -> `lefevre`, `O'Brien` -> `obrien`: what mail systems make of names."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


@functools.lru_cache(maxsize=64)
def _cumulative(table: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    return [v for v, _ in table], list(itertools.accumulate(w for _, w in table))


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    values, cumulative = _cumulative(table)
    return rng.choices(values, cum_weights=cumulative)[0]


def _timestamps(rng: random.Random) -> tuple[int, int]:
    created = SEED_ANCHOR_MS - rng.randrange(30 * _DAY_MS, 730 * _DAY_MS)
    updated = created + rng.randrange(0, SEED_ANCHOR_MS - created)
    return created, updated


def _phone(rng: random.Random, place: Place) -> str:
    if place.calling_code == "1":
        # 555-01xx numbers are reserved for fiction in North America.
        return f"+1 {rng.randrange(201, 990)}-555-01{rng.randrange(0, 100):02d}"
    return (
        f"+{place.calling_code} {rng.randrange(10, 99)} {rng.randrange(1000, 9999)} {rng.randrange(100, 999)}"
    )


def company_count(people: int) -> int:
    """Roughly eight people per company, and at least one company once there are people."""
    return 0 if people <= 0 else max(1, people // 8)


def generate(people: int, namespace: str, companies: int | None = None) -> DemoData:
    """`people` demo people working at `companies` demo companies; same arguments, same data."""
    rng = random.Random(f"integrations-hub-sandbox:{namespace}:{people}")
    n_companies = company_count(people) if companies is None else companies
    made_companies: list[DemoCompany] = []
    used_domains: set[str] = set()
    used_names: set[str] = set()
    for index in range(n_companies):
        place = rng.choice(PLACES)
        kind = rng.choice(COMPANY_KINDS)
        base = f"{rng.choice(COMPANY_WORDS)} {kind}"
        name = f"{base} {place.suffix}"
        if name.lower() in used_names:
            base = f"{base} {index + 1}"
            name = f"{base} {place.suffix}"
        used_names.add(name.lower())
        domain = f"{ascii_slug(base)}.{place.tld}"
        while domain in used_domains:
            domain = f"{ascii_slug(base)}{rng.randrange(2, 1000)}.{place.tld}"
        used_domains.add(domain)
        created, updated = _timestamps(rng)
        made_companies.append(
            DemoCompany(
                name=name,
                domain=domain,
                industry=INDUSTRY_BY_KIND[kind],
                place=place,
                employees=rng.choice((4, 12, 25, 48, 90, 150, 320, 800, 2500, 12000)),
                health=_weighted(rng, HEALTH),
                support_plan=_weighted(rng, SUPPORT_PLANS),
                created_ms=created,
                updated_ms=updated,
            )
        )
    made_people: list[DemoPerson] = []
    used_emails: set[str] = set()
    for _ in range(people):
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        company = rng.choice(made_companies) if made_companies and rng.random() < 0.9 else None
        place = company.place if company and rng.random() < 0.8 else rng.choice(PLACES)
        domain = company.domain if company else rng.choice(("example.com", "example.org", "example.net"))
        local = f"{ascii_slug(first)}.{ascii_slug(last)}"
        email = f"{local}@{domain}"
        suffix = 2
        while email in used_emails:
            email = f"{local}{suffix}@{domain}"
            suffix += 1
        used_emails.add(email)
        created, updated = _timestamps(rng)
        made_people.append(
            DemoPerson(
                first_name=first,
                last_name=last,
                email=email,
                phone=_phone(rng, place) if rng.random() < 0.85 else None,
                company=company,
                job_title=rng.choice(JOB_TITLES) if company and rng.random() < 0.9 else None,
                place=place,
                lifecycle_stage=_weighted(rng, LIFECYCLE_STAGES),
                lead_status=_weighted(rng, LEAD_STATUSES) if rng.random() < 0.7 else None,
                tier=_weighted(rng, TIERS),
                nps=rng.randrange(0, 11) if rng.random() < 0.6 else None,
                newsletter=rng.random() < 0.45,
                notes=rng.choice(NOTES) if rng.random() < 0.3 else None,
                tags=tuple(sorted(rng.sample(TAGS, rng.choice((0, 0, 1, 1, 2))))),
                created_ms=created,
                updated_ms=updated,
            )
        )
    return DemoData(tuple(made_companies), tuple(made_people))
