#!/usr/bin/env python3
"""Validates JSON files independently of periop's Rust code, and exits non-zero on any error.

  validate_fhir.py [--strict] FILE...                 each a FHIR R4 resource or Bundle
  validate_fhir.py [--strict] --cds-response FILE...  CDS Hooks 2.0 service responses (cards)
  validate_fhir.py [--strict] --cds-discovery FILE... CDS Hooks 2.0 discovery documents
  validate_fhir.py [--strict] --cds-feedback FILE...  CDS Hooks 2.0 feedback bodies

Prints one line per issue, `FILE: PATH: error|warning: MESSAGE`, then a summary line. Exit 0
when there is no error (and, with --strict, no warning), 1 otherwise, 2 on a usage error or a
file that is not strict JSON. What is checked: validators/fhir_r4.py (FHIR JSON rules,
structure from the fhir.resources R4 models, Bundle identity rules, FHIRPath invariants via
fhirpathpy) and validators/cds_hooks.py (CDS Hooks 2.0 rules and the HL7 CDS Hooks IG
invariants, with every create/update action's resource validated as FHIR R4).
Setup: scripts/validators.sh (a venv with the pinned scripts/requirements-validators.txt).
"""

import argparse
import os
import sys

# Run from the source tree (by tests too): leave no __pycache__ behind in it.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from validators.cds_hooks import CdsValidator  # noqa: E402
from validators.fhir_r4 import FhirValidator  # noqa: E402
from validators.json_rules import Issues, JsonLoadError, load  # noqa: E402


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--cds-response", action="store_true", help="CDS Hooks service responses")
    mode.add_argument("--cds-discovery", action="store_true", help="CDS Hooks discovery documents")
    mode.add_argument("--cds-feedback", action="store_true", help="CDS Hooks feedback bodies")
    parser.add_argument("--strict", action="store_true", help="warnings fail too")
    parser.add_argument("files", nargs="+", metavar="FILE")
    args = parser.parse_args(argv)

    errors = warnings = 0
    unreadable = False
    for name in args.files:
        try:
            document = load(name)
        except (OSError, JsonLoadError) as e:
            print(f"{name}: $: error: not readable as strict JSON: {e}")
            unreadable = True
            continue
        issues = Issues()
        fhir = FhirValidator(issues)
        if args.cds_response:
            CdsValidator(issues, fhir).response(document)
        elif args.cds_discovery:
            CdsValidator(issues, fhir).discovery(document)
        elif args.cds_feedback:
            CdsValidator(issues, fhir).feedback(document)
        else:
            fhir.validate(document)
        for issue in issues:
            print(f"{name}: {issue.path}: {issue.severity}: {issue.message}")
        errors += len(issues.errors())
        warnings += len(issues.warnings())
    print(f"validate_fhir: {len(args.files)} file(s), {errors} error(s), {warnings} warning(s)")
    if unreadable:
        return 2
    return 1 if errors or (args.strict and warnings) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
