"""FHIR R4 (4.0.1) invariants evaluated with fhirpathpy on the R4 model.

Each row: (key, severity, contexts, expression, human). A context is a data type name
("Extension", "Reference"), a resource type ("Bundle"), "DomainResource", or an element path
("RiskAssessment.prediction", "Bundle.entry"); the expression is evaluated on every node of that
context with the node's type as the FHIRPath base, and a result other than `true` (false or
empty, as the HL7 Java validator counts it) is an issue.

Source of the expressions: the R4 core StructureDefinitions (hl7.fhir.r4.core#4.0.1,
"Constraints" tables of bundle.html, riskassessment.html, observation.html, element.html,
extension.html, references.html, datatypes.html, domainresource.html). Where R4 published a
wrong expression, the HL7 validator's correction is used (hapifhir/org.hl7.fhir.core,
org.hl7.fhir.validation/.../instance/utils/FHIRPathExpressionFixer.java):
  - ras-2: R4 `probability is decimal implies (probability as decimal) <= 100` is empty, hence
    failing, on a prediction without a probability; corrected to
    `(probability.exists() and (probability is decimal)) implies ((probability as decimal) <= 100)`.
  - ref-1: `reference.exists() implies (reference = '#' or (<R4 expression>))` (R4's fails on a
    display-only Reference).
  - bdl-8: `fullUrl.exists() implies fullUrl.contains('/_history/').not()`.
Rewritten for fhirpathpy 2.2.4, which lacks hasValue() and whose trace() prints to stdout:
  - per-1 and bdl-10 use exists()/empty() for hasValue() (the same on JSON without primitive
    extensions); ref-1 drops its trace() calls.
  - rng-2 compares low.value <= high.value (fhirpathpy cannot compare Quantities with units).
  - dom-3 looks for '#id' among descendants' `reference`s only (R4 also looks among
    canonical/uri/url values, which fhirpathpy's as() cannot select on untyped JSON).
ele-1 (every element has a value or children) is checked on the JSON directly (no null, "",
[] or {}), txt-1/txt-2 (narrative XHTML) by parsing the div: see fhir_r4.py.
"""

R4_INVARIANTS = [
    # Element / Extension / data types.
    ("ext-1", "error", ["Extension"],
     "extension.exists() != value.exists()",
     "Must have either extensions or value[x], not both"),
    ("ref-1", "error", ["Reference"],
     "reference.exists() implies (reference = '#' or (reference.startsWith('#').not() or "
     "(reference.substring(1) in %rootResource.contained.id)))",
     "SHALL have a contained resource if a local reference is provided"),
    ("qty-3", "error", ["Quantity", "Age", "Count", "Distance", "Duration", "Money", "SimpleQuantity"],
     "code.empty() or system.exists()",
     "If a code for the unit is present, the system SHALL also be present"),
    ("per-1", "error", ["Period"],
     "start.empty() or end.empty() or (start <= end)",
     "If present, start SHALL have a lower value than end"),
    ("rng-2", "error", ["Range"],
     "low.empty() or high.empty() or (low.value <= high.value)",
     "If present, low SHALL have a lower value than high"),
    ("sqty-1", "error", ["Range"],
     "low.comparator.empty() and high.comparator.empty()",
     "The comparator is not used on a SimpleQuantity (Range.low/high)"),
    ("cpt-2", "error", ["ContactPoint"],
     "value.empty() or system.exists()",
     "A system is required if a value is provided."),
    ("att-1", "error", ["Attachment"],
     "data.empty() or contentType.exists()",
     "If the Attachment has data, it SHALL have a contentType"),
    ("rat-1", "error", ["Ratio"],
     "(numerator.empty() xor denominator.exists()) and (numerator.exists() or extension.exists())",
     "Numerator and denominator SHALL both be present, or both are absent."),
    ("tim-1", "error", ["Timing.repeat"],
     "duration.empty() or durationUnit.exists()",
     "if there's a duration, there needs to be duration units"),
    ("tim-2", "error", ["Timing.repeat"],
     "period.empty() or periodUnit.exists()",
     "if there's a period, there needs to be period units"),
    ("tim-4", "error", ["Timing.repeat"],
     "duration.exists() implies duration >= 0",
     "duration SHALL be a non-negative value"),
    ("tim-5", "error", ["Timing.repeat"],
     "period.exists() implies period >= 0",
     "period SHALL be a non-negative value"),
    ("tim-6", "error", ["Timing.repeat"],
     "periodMax.empty() or period.exists()",
     "If there's a periodMax, there must be a period"),
    ("tim-7", "error", ["Timing.repeat"],
     "durationMax.empty() or duration.exists()",
     "If there's a durationMax, there must be a duration"),
    ("tim-8", "error", ["Timing.repeat"],
     "countMax.empty() or count.exists()",
     "If there's a countMax, there must be a count"),
    ("tim-9", "error", ["Timing.repeat"],
     "offset.empty() or (when.exists() and ((when in ('C' | 'CM' | 'CD' | 'CV')).not()))",
     "If there's an offset, there must be a when (and not C, CM, CD, CV)"),
    ("tim-10", "error", ["Timing.repeat"],
     "timeOfDay.empty() or when.empty()",
     "If there's a timeOfDay, there cannot be a when, or vice versa"),
    # DomainResource.
    ("dom-2", "error", ["DomainResource"],
     "contained.contained.empty()",
     "If the resource is contained in another resource, it SHALL NOT contain nested Resources"),
    ("dom-3", "error", ["DomainResource"],
     "contained.where((('#'+id in (%resource.descendants().reference)) or "
     "descendants().where(reference = '#').exists()).not()).empty()",
     "If the resource is contained in another resource, it SHALL be referred to from elsewhere "
     "in the resource or SHALL refer to the containing resource"),
    ("dom-4", "error", ["DomainResource"],
     "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()",
     "If a resource is contained in another resource, it SHALL NOT have a meta.versionId or a "
     "meta.lastUpdated"),
    ("dom-5", "error", ["DomainResource"],
     "contained.meta.security.empty()",
     "If a resource is contained in another resource, it SHALL NOT have a security label"),
    ("dom-6", "warning", ["DomainResource"],
     "text.`div`.exists()",
     "A resource should have narrative for robust management"),
    # Bundle.
    ("bdl-1", "error", ["Bundle"],
     "total.empty() or (type = 'searchset') or (type = 'history')",
     "total only when a search or history"),
    ("bdl-2", "error", ["Bundle"],
     "entry.search.empty() or (type = 'searchset')",
     "entry.search only when a search"),
    ("bdl-3", "error", ["Bundle"],
     "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' "
     "or %resource.type = 'history'))",
     "entry.request mandatory for batch/transaction/history, otherwise prohibited"),
    ("bdl-4", "error", ["Bundle"],
     "entry.all(response.exists() = (%resource.type = 'batch-response' or "
     "%resource.type = 'transaction-response' or %resource.type = 'history'))",
     "entry.response mandatory for batch-response/transaction-response/history, otherwise "
     "prohibited"),
    ("bdl-5", "error", ["Bundle.entry"],
     "resource.exists() or request.exists() or response.exists()",
     "must be a resource unless there's a request or response"),
    ("bdl-7", "error", ["Bundle"],
     "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId)"
     ".isDistinct()",
     "FullUrl must be unique in a bundle, or else entries with the same fullUrl must have "
     "different meta.versionId (except in history bundles)"),
    ("bdl-8", "error", ["Bundle.entry"],
     "fullUrl.exists() implies fullUrl.contains('/_history/').not()",
     "fullUrl cannot be a version specific reference"),
    ("bdl-9", "error", ["Bundle"],
     "type = 'document' implies (identifier.system.exists() and identifier.value.exists())",
     "A document must have an identifier with a system and a value"),
    ("bdl-10", "error", ["Bundle"],
     "type = 'document' implies (timestamp.exists())",
     "A document must have a date"),
    ("bdl-11", "error", ["Bundle"],
     "type = 'document' implies entry.first().resource.is(Composition)",
     "A document must have a Composition as the first resource"),
    ("bdl-12", "error", ["Bundle"],
     "type = 'message' implies entry.first().resource.is(MessageHeader)",
     "A message must have a MessageHeader as the first resource"),
    # RiskAssessment.
    ("ras-1", "error", ["RiskAssessment.prediction"],
     "probability.ofType(Range).all((low.empty() or ((low.code = '%') and (low.system = %ucum))) "
     "and (high.empty() or ((high.code = '%') and (high.system = %ucum))))",
     "low and high must be percentages, if present"),
    ("ras-2", "error", ["RiskAssessment.prediction"],
     "(probability.exists() and (probability is decimal)) implies ((probability as decimal) <= 100)",
     "Must be <= 100"),
    # Observation.
    ("obs-3", "error", ["Observation.referenceRange"],
     "low.exists() or high.exists() or text.exists()",
     "Must have at least a low or a high or text"),
    ("obs-6", "error", ["Observation"],
     "dataAbsentReason.empty() or value.empty()",
     "dataAbsentReason SHALL only be present if Observation.value[x] is not present"),
    ("obs-7", "error", ["Observation"],
     "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists())"
     ".empty()",
     "If Observation.code is the same as an Observation.component.code then the value element "
     "associated with the code SHALL NOT be present"),
    # Requests (CDS Hooks draft orders).
    ("prr-1", "error", ["ServiceRequest"],
     "orderDetail.empty() or code.exists()",
     "orderDetail SHALL only be present if code is present"),
    ("pat-1", "error", ["Patient.contact"],
     "name.exists() or telecom.exists() or address.exists() or organization.exists()",
     "SHALL at least contain a contact's details or a reference to an organization"),
]
