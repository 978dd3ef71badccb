"""Sample data shipped with anon-ops (the Adult benchmark set and its ARX hierarchies)."""

from pathlib import Path

ADULT_DIR = Path(__file__).parent / "adult"
ADULT_CSV = ADULT_DIR / "adult.csv"
ADULT_JOB = ADULT_DIR / "adult_job.yaml"
ADULT_QIS = [
    "sex", "age", "race", "marital-status", "education",
    "native-country", "workclass", "occupation", "salary-class",
]


def adult_hierarchy(column: str) -> Path:
    """Path of the shipped ARX hierarchy file of one Adult column."""
    return ADULT_DIR / f"adult_hierarchy_{column}.csv"
