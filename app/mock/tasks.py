"""Names the mock survey shares with the rest of Galactive: bands, classes and tasks."""

from storage.ingest.records import TaskSpec

BANDS = ("u", "g", "r", "i", "z")
MORPHOLOGY_CLASSES = ("elliptical", "spiral", "edge_on", "merger", "irregular", "artifact")

MORPHOLOGY_TASK = TaskSpec(name="morphology", kind="classification", classes=MORPHOLOGY_CLASSES)
REDSHIFT_TASK = TaskSpec(name="redshift", kind="regression", target="redshift")
SFR_TASK = TaskSpec(name="sfr", kind="regression", target="log_sfr", unit="log10(Msun/yr)")
