"""FHIR R4 (4.0.1) validation of one JSON resource (a Bundle's entries included), in layers:

1. FHIR JSON rules (json.html): no null (except as a placeholder in a primitive array that its
   `_name` twin fills), no "", [] or {} (ele-1); `resourceType` names an R4 resource.
2. Structure, from the fhir.resources 6.4.0 models (R4 4.0.1; its pydantic v1 coercion is lax,
   so the model metadata drives a strict walk of our own): unknown elements, arrays vs single
   values, required elements, one value per choice group, the JSON type of every primitive
   (a decimal is a JSON number, never a string) and its R4 regex, required code bindings of the
   elements listed in REQUIRED_BINDINGS, Reference target types (`enum_reference_types`), and
   the narrative XHTML (txt-1, txt-2). The model's own validation runs as well (pydantic errors
   are reported as they come).
3. Bundle rules (bundle.html): every entry of a non-transaction Bundle has an absolute fullUrl
   and a resource, urn:uuid fullUrls are valid UUIDs, a RESTful fullUrl agrees with the
   resource's type and id, and every `urn:uuid:` reference resolves to an entry.
4. The invariants of fhir_invariants.R4_INVARIANTS, evaluated with fhirpathpy on the R4 model.
"""

import contextlib
import functools
import io
import re
import xml.etree.ElementTree as ET

from fhir.resources import construct_fhir_element, fhirtypes, get_fhir_model_class
from fhir.resources.backboneelement import BackboneElement
from fhir.resources.domainresource import DomainResource
from fhir.resources.resource import Resource
from fhirpathpy import apply_parsed_path
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models
from fhirpathpy.parser import parse
from pydantic import ValidationError

from .fhir_invariants import R4_INVARIANTS
from .json_rules import json_type

R4_MODEL = models["r4"]

# R4 primitive regexes (datatypes.html), anchored.
_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_TZ = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
PRIMITIVE_PATTERNS = {
    "Id": r"[A-Za-z0-9\-\.]{1,64}",
    "Code": r"[^\s]+(\s[^\s]+)*",
    "Uri": r"\S*",
    "Url": r"\S*",
    "Canonical": r"\S*",
    "Oid": r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+",
    "Uuid": r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "Date": _YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?",
    "DateTime": _YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T" + _TIME + _TZ
    + r")?)?)?",
    "Instant": _YEAR + r"-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T" + _TIME + _TZ,
    "Time": _TIME,
    "Base64Binary": r"(\s*([0-9a-zA-Z\+/=]){4}\s*)+",
}
UUID_URN = re.compile(PRIMITIVE_PATTERNS["Uuid"])

# Required bindings (the R4 value sets' codes) of the elements periop writes or the CDS Hooks
# drafts carry; keyed by the model class name (or a base class name) and element name.
_OBSERVATION_STATUS = {"registered", "preliminary", "final", "amended", "corrected",
                       "cancelled", "entered-in-error", "unknown"}
_PRIORITY = {"routine", "urgent", "asap", "stat"}
REQUIRED_BINDINGS = {
    ("RiskAssessment", "status"): _OBSERVATION_STATUS,
    ("Observation", "status"): _OBSERVATION_STATUS,
    ("Bundle", "type"): {"document", "message", "transaction", "transaction-response", "batch",
                         "batch-response", "history", "searchset", "collection"},
    ("BundleEntrySearch", "mode"): {"match", "include", "outcome"},
    ("BundleEntryRequest", "method"): {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"},
    ("Device", "status"): {"active", "inactive", "entered-in-error", "unknown"},
    ("DeviceDeviceName", "type"): {"udi-label-name", "user-friendly-name",
                                   "patient-reported-name", "manufacturer-name", "model-name",
                                   "other"},
    ("ProvenanceEntity", "role"): {"derivation", "revision", "quotation", "source", "removal"},
    ("Narrative", "status"): {"generated", "extensions", "additional", "empty"},
    ("Identifier", "use"): {"usual", "official", "temp", "secondary", "old"},
    ("Quantity", "comparator"): {"<", "<=", ">=", ">"},
    ("ContactPoint", "system"): {"phone", "fax", "email", "pager", "url", "sms", "other"},
    ("ContactPoint", "use"): {"home", "work", "temp", "old", "mobile"},
    ("HumanName", "use"): {"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"},
    ("Patient", "gender"): {"male", "female", "other", "unknown"},
    ("ServiceRequest", "status"): {"draft", "active", "on-hold", "revoked", "completed",
                                   "entered-in-error", "unknown"},
    ("ServiceRequest", "intent"): {"proposal", "plan", "directive", "order", "original-order",
                                   "reflex-order", "filler-order", "instance-order", "option"},
    ("ServiceRequest", "priority"): _PRIORITY,
    ("MedicationRequest", "status"): {"active", "on-hold", "cancelled", "completed",
                                      "entered-in-error", "stopped", "draft", "unknown"},
    ("MedicationRequest", "intent"): {"proposal", "plan", "order", "original-order",
                                      "reflex-order", "filler-order", "instance-order", "option"},
    ("MedicationRequest", "priority"): _PRIORITY,
    ("OperationOutcomeIssue", "severity"): {"fatal", "error", "warning", "information"},
}

# Narrative XHTML elements R4 allows (narrative.html, txt-1).
XHTML = "{http://www.w3.org/1999/xhtml}"
NARRATIVE_ELEMENTS = {
    "a", "abbr", "acronym", "b", "big", "blockquote", "br", "caption", "cite", "code", "col",
    "colgroup", "dd", "dfn", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "li", "ol", "p", "pre", "q", "samp", "small", "span", "strong", "sub", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "ul", "var",
}

TRANSACTION_TYPES = {"transaction", "batch", "transaction-response", "batch-response", "history"}


@functools.lru_cache(maxsize=None)
def parsed(expression):
    """An invariant parsed once (parsing dominates fhirpathpy's cost)."""
    return parse(f"iif({expression}, true, false)")


def primitive_kind(t):
    """'boolean' | 'decimal' | 'integer' | 'string' for a primitive field type, else None."""
    if not isinstance(t, type):
        return None
    if t is bool or issubclass(t, fhirtypes.Boolean):
        return "boolean"
    if issubclass(t, fhirtypes.Decimal) or t is float:
        return "decimal"
    if issubclass(t, (fhirtypes.Integer, fhirtypes.PositiveInt, fhirtypes.UnsignedInt)) or t is int:
        return "integer"
    if issubclass(t, fhirtypes.Primitive) or t is str:
        return "string"
    return None


def is_resource_field(t):
    return isinstance(t, type) and t.__name__ == "ResourceType" and issubclass(t, fhirtypes.AbstractBaseType)


def class_names(cls):
    return [c.__name__ for c in cls.__mro__]


def model_class(name):
    try:
        return get_fhir_model_class(name)
    except (KeyError, LookupError, ValueError, AttributeError):
        return None


def resource_class(resource_type):
    """The R4 model class of a resource type name, None when R4 has no such resource."""
    if not isinstance(resource_type, str) or not re.fullmatch(r"[A-Z][A-Za-z]+", resource_type):
        return None
    cls = model_class(resource_type)
    if cls is None or not issubclass(cls, Resource) or cls.__name__ != resource_type:
        return None
    return cls


def literal_type(reference):
    """The resource type of a relative or absolute literal reference, else None."""
    path = re.split(r"[?#]", reference, maxsplit=1)[0]
    path = path.split("/_history/")[0]
    parts = path.split("/")
    if len(parts) < 2 or not parts[-1]:
        return None
    return parts[-2] if re.fullmatch(r"[A-Z][A-Za-z]+", parts[-2]) else None


def _loc(loc):
    out = ""
    for part in loc:
        if part == "__root__":
            continue
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


class FhirValidator:
    """Validates FHIR R4 JSON resources, appending to an Issues list."""

    def __init__(self, issues):
        self.issues = issues

    # ----- entry point ------------------------------------------------------------------------
    def validate(self, resource, path=None, structural=True):
        """Validates one resource (its nested resources included) at `path`."""
        if not isinstance(resource, dict):
            self.issues.error(path or "$", f"a resource must be a JSON object, not {json_type(resource)}")
            return
        rtype = resource.get("resourceType")
        cls = resource_class(rtype)
        path = path or (rtype if isinstance(rtype, str) else "$")
        if cls is None:
            self.issues.error(path, f"resourceType {rtype!r} is not an R4 resource")
            return
        self._empties(resource, path)
        if structural:
            self._pydantic(rtype, resource, path)
        self._resource(resource, cls, path, root=resource, urls=None)

    # ----- layer 1: FHIR JSON -----------------------------------------------------------------
    def _empties(self, value, path):
        if value is None:
            self.issues.error(path, "null is not allowed in FHIR JSON (leave the element out)")
        elif isinstance(value, str):
            if value == "":
                self.issues.error(path, "empty string is not allowed in FHIR JSON (ele-1)")
        elif isinstance(value, list):
            if not value:
                self.issues.error(path, "empty array is not allowed in FHIR JSON (ele-1)")
            for i, item in enumerate(value):
                self._empties(item, f"{path}[{i}]")
        elif isinstance(value, dict):
            if not value:
                self.issues.error(path, "empty object is not allowed in FHIR JSON (ele-1)")
            for key, v in value.items():
                if not isinstance(v, list):
                    self._empties(v, f"{path}.{key}")
                    continue
                if not v:
                    self.issues.error(f"{path}.{key}", "empty array is not allowed in FHIR JSON (ele-1)")
                # A null is a placeholder in a primitive array when its twin (`_name` for
                # `name`, and back) has a value at that index (json.html, primitive elements).
                twin = value.get(key[1:] if key.startswith("_") else "_" + key)
                for i, item in enumerate(v):
                    if item is None and isinstance(twin, list) and i < len(twin) and twin[i] is not None:
                        continue
                    self._empties(item, f"{path}.{key}[{i}]")

    # ----- layer 2: structure -----------------------------------------------------------------
    def _pydantic(self, rtype, resource, path):
        try:
            construct_fhir_element(rtype, resource)
        except ValidationError as e:
            for err in e.errors():
                self.issues.error(path + _loc(err.get("loc", ())), f"fhir.resources (R4): {err.get('msg')}")
        except Exception as e:  # the library raises LookupError etc. on unknown nested types
            self.issues.error(path, f"fhir.resources (R4) could not read the resource: {e}")

    def _resource(self, resource, cls, path, root, urls):
        """One resource root: structure walk, Bundle rules, invariants."""
        nodes = []  # (path, node, base type path, context names)
        rtype = resource["resourceType"]
        contexts = {rtype} | ({"DomainResource"} if issubclass(cls, DomainResource) else set())
        nodes.append((path, resource, rtype, contexts))
        if rtype == "Bundle":
            urls = self._bundle(resource, path)
        self._walk(resource, cls, path, rtype, nodes, root, urls)
        self._invariants(resource, root, nodes)

    def _walk(self, node, cls, path, elem_path, nodes, root, urls):
        fields = {f.alias: f for f in cls.__fields__.values() if f.alias not in ("resource_type", "fhir_comments")}
        groups = {}
        for alias, f in fields.items():
            extra = f.field_info.extra
            if extra.get("one_of_many"):
                g = groups.setdefault(extra["one_of_many"], {"names": [], "required": False})
                g["names"].append(alias)
                g["required"] |= bool(extra.get("one_of_many_required"))
            elif (f.required or extra.get("element_required")) and alias not in node and ("_" + alias) not in node:
                self.issues.error(f"{path}.{alias}", f"required element {alias} is missing")
        for name, g in groups.items():
            present = [n for n in g["names"] if n in node or ("_" + n) in node]
            if len(present) > 1:
                self.issues.error(path, f"{name}[x] has more than one value: {', '.join(present)}")
            if g["required"] and not present:
                self.issues.error(f"{path}.{name}[x]", f"required element {name}[x] is missing")
        for key, value in node.items():
            if key == "resourceType":
                continue
            f = fields.get(key)
            if f is None:
                self.issues.error(f"{path}.{key}", f"unknown element {key!r} in {cls.__name__}")
                continue
            is_list = f.shape != 1
            if is_list and not isinstance(value, list):
                self.issues.error(f"{path}.{key}", f"{key} must be an array, not {json_type(value)}")
                items = [value]
            elif not is_list and isinstance(value, list):
                self.issues.error(f"{path}.{key}", f"{key} must be a single value, not an array")
                continue
            else:
                items = value if is_list else [value]
            for i, item in enumerate(items):
                ipath = f"{path}.{key}[{i}]" if is_list and isinstance(value, list) else f"{path}.{key}"
                if item is None:
                    continue  # the JSON layer decides whether the null is a placeholder
                self._item(key, item, f, cls, ipath, elem_path, nodes, root, urls)

    def _item(self, key, item, f, cls, path, elem_path, nodes, root, urls):
        t = f.type_
        kind = primitive_kind(t)
        if kind is not None:
            self._primitive(kind, t, item, path)
            for name in class_names(cls):
                allowed = REQUIRED_BINDINGS.get((name, key))
                if allowed is not None and isinstance(item, str) and item not in allowed:
                    self.issues.error(path, f"{item!r} is not in the required value set of {name}.{key}: {', '.join(sorted(allowed))}")
                    break
            return
        if is_resource_field(t):
            nested = resource_class(item.get("resourceType")) if isinstance(item, dict) else None
            if nested is None:
                rtype = item.get("resourceType") if isinstance(item, dict) else None
                self.issues.error(path, f"resourceType {rtype!r} is not an R4 resource")
                return
            # A contained resource keeps its container as %rootResource; a Bundle entry is its own.
            own_root = root if key == "contained" else item
            self._resource(item, nested, path, own_root, urls)
            return
        model = model_class(getattr(t, "__resource_type__", "")) if hasattr(t, "__resource_type__") else None
        if model is None:
            return
        if not isinstance(item, dict):
            self.issues.error(path, f"{key} must be a JSON object, not {json_type(item)}")
            return
        if key.startswith("_"):
            self._walk(item, model, path, elem_path, nodes, root, urls)
            return
        if issubclass(model, BackboneElement):
            # A backbone element is typed by its path (RiskAssessment.prediction).
            child = f"{elem_path}.{key}"
            contexts = {child}
        else:
            # A data type by its name; the element path also names it (ras-1 style contexts).
            child = model.__name__
            contexts = set(class_names(model)) | {f"{elem_path}.{key}"}
        nodes.append((path, item, child, contexts))
        if model.__name__ == "Reference":
            self._reference(item, f, path, urls)
        if model.__name__ == "Narrative":
            self._narrative(item, path)
        self._walk(item, model, path, child, nodes, root, urls)

    def _primitive(self, kind, t, value, path):
        if kind == "boolean":
            ok = isinstance(value, bool)
        elif kind == "decimal":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif kind == "integer":
            ok = isinstance(value, int) and not isinstance(value, bool)
            if ok and issubclass(t, fhirtypes.PositiveInt) and value < 1:
                self.issues.error(path, f"positiveInt must be >= 1, not {value}")
            if ok and issubclass(t, fhirtypes.UnsignedInt) and value < 0:
                self.issues.error(path, f"unsignedInt must be >= 0, not {value}")
        else:
            ok = isinstance(value, str)
        if not ok:
            self.issues.error(path, f"{t.__name__} must be a JSON {'number' if kind in ('decimal', 'integer') else kind}, not {json_type(value)} {value!r}")
            return
        if kind == "string":
            pattern = PRIMITIVE_PATTERNS.get(t.__name__)
            if pattern and not re.fullmatch(pattern, value):
                self.issues.error(path, f"{value!r} is not a valid {t.__name__} (R4 regex {pattern})")

    def _reference(self, ref, f, path, urls):
        target = ref.get("reference")
        if not isinstance(target, str):
            return
        allowed = f.field_info.extra.get("enum_reference_types") or ["Resource"]
        kind = None
        if target.startswith("urn:uuid:"):
            if not UUID_URN.fullmatch(target):
                self.issues.error(f"{path}.reference", f"{target!r} is not a valid urn:uuid (lowercase 8-4-4-4-12 hex)")
                return
            if urls is not None:
                if target not in urls:
                    self.issues.error(f"{path}.reference", f"{target} does not resolve to an entry of the Bundle")
                    return
                kind = urls[target]
        elif target.startswith("urn:oid:") or target.startswith("#"):
            return
        else:
            kind = literal_type(target)
            if kind is None:
                self.issues.error(f"{path}.reference", f"{target!r} is not a literal reference (Type/id or an absolute URL ending in Type/id)")
                return
            if resource_class(kind) is None:
                self.issues.error(f"{path}.reference", f"{kind!r} in {target!r} is not an R4 resource type")
                return
        declared = ref.get("type")
        if kind and isinstance(declared, str) and declared != kind:
            self.issues.error(f"{path}.type", f"type {declared!r} disagrees with the referenced {kind}")
        if kind and "Resource" not in allowed and kind not in allowed:
            self.issues.error(f"{path}.reference", f"{kind} is not an allowed target here (allowed: {', '.join(allowed)})")

    def _narrative(self, narrative, path):
        div = narrative.get("div")
        if not isinstance(div, str):
            return
        try:
            root = ET.fromstring(div)
        except ET.ParseError as e:
            self.issues.error(f"{path}.div", f"the narrative is not well-formed XHTML: {e}")
            return
        if root.tag != XHTML + "div":
            self.issues.error(f"{path}.div", "the narrative must be one XHTML <div> in the namespace http://www.w3.org/1999/xhtml")
        for el in root.iter():
            name = el.tag[len(XHTML):] if el.tag.startswith(XHTML) else el.tag
            if name not in NARRATIVE_ELEMENTS:
                self.issues.error(f"{path}.div", f"txt-1: element <{name}> is not allowed in a narrative")
            for attr in el.attrib:
                if attr.lower().startswith("on"):
                    self.issues.error(f"{path}.div", f"txt-1: event attribute {attr} is not allowed in a narrative")
        text = "".join(root.itertext()).strip()
        if not text and root.find(f".//{XHTML}img") is None:
            self.issues.error(f"{path}.div", "txt-2: the narrative has no non-whitespace content")

    # ----- layer 3: Bundle --------------------------------------------------------------------
    def _bundle(self, bundle, path):
        """fullUrl -> resourceType of the entries; checks the entry identity rules."""
        urls = {}
        btype = bundle.get("type")
        entries = bundle.get("entry")
        if not isinstance(entries, list):
            return urls
        for i, e in enumerate(entries):
            if not isinstance(e, dict):
                continue
            epath = f"{path}.entry[{i}]"
            url = e.get("fullUrl")
            res = e.get("resource")
            rtype = res.get("resourceType") if isinstance(res, dict) else None
            if btype not in TRANSACTION_TYPES:
                if url is None:
                    self.issues.error(f"{epath}.fullUrl", "every entry of a non-transaction Bundle must have a fullUrl")
                if res is None:
                    self.issues.error(f"{epath}.resource", f"every entry of a {btype} Bundle must contain a resource")
            if not isinstance(url, str):
                continue
            if url.startswith("urn:uuid:"):
                if not UUID_URN.fullmatch(url):
                    self.issues.error(f"{epath}.fullUrl", f"{url!r} is not a valid urn:uuid (lowercase 8-4-4-4-12 hex)")
            elif not (url.startswith("urn:oid:") or re.match(r"https?://", url)):
                self.issues.error(f"{epath}.fullUrl", f"{url!r} is not an absolute URL or a urn:uuid/urn:oid")
            else:
                kind = literal_type(url)
                rid = res.get("id") if isinstance(res, dict) else None
                if kind and isinstance(rtype, str) and (kind != rtype or (rid is not None and not url.rstrip("/").endswith(f"/{rtype}/{rid}"))):
                    self.issues.error(f"{epath}.fullUrl", f"{url!r} disagrees with the entry's {rtype}/{rid}")
            if isinstance(rtype, str):
                urls[url] = rtype
        return urls

    # ----- layer 4: invariants ----------------------------------------------------------------
    def _invariants(self, resource, root, nodes):
        env = {"resource": resource, "rootResource": root, "ucum": "http://unitsofmeasure.org"}
        for key, severity, contexts, expression, human in R4_INVARIANTS:
            for path, node, base, names in nodes:
                if not names.intersection(contexts):
                    continue
                try:
                    with contextlib.redirect_stdout(io.StringIO()):
                        # What fhirpathpy.evaluate does with {"base", "expression"}, without
                        # parsing again.
                        result = apply_parsed_path(
                            ResourceNode.create_node(node, base), parsed(expression), env, R4_MODEL
                        )
                except Exception as e:  # an invariant that cannot be evaluated is not a pass
                    self.issues.error(path, f"{key}: could not be evaluated ({type(e).__name__}: {e})")
                    continue
                if result != [True]:
                    add = self.issues.error if severity == "error" else self.issues.warning
                    add(path, f"{key}: {human} [{expression}]")
