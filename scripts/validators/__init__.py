"""periop's independent validators for its FHIR R4 output and CDS Hooks 2.0 payloads (run by
scripts/validate_fhir.py; packages pinned in scripts/requirements-validators.txt)."""
