"""CDS Hooks 2.0 payload rules, written from the specification, independently of periop's Rust
code: discovery (`GET /cds-services`), service response (cards, systemActions) and feedback.

Sources: the CDS Hooks 2.0 text (cds-hooks/docs docs/specification/current.md: "JSON attributes
SHALL NOT be null ... OPTIONAL ... omitted rather than having a null or empty value ... objects
SHALL NOT be empty"; card, suggestion, action, link, feedback attribute tables) and the HL7 CDS
Hooks IG logical models and invariants (HL7/cds-hooks input/resources/
StructureDefinition-CDSHooksResponse.json, input/fsh/logicals/CDSHooksResponse.fsh,
CDSHooksServices.fsh, _fsh/logicals/CDSHooksFeedback.fsh, input/fsh/invariants/*.fsh).
Implemented IG invariants:
  cds-resp-1  (selectionBehavior = 'at-most-one') implies suggestions.where(isRecommended).count() <= 1
  cds-resp-2  (type = 'delete') implies (resourceId.exists() and resource.empty())   [warning]
  cds-resp-3  (type != 'smart') implies (appContext.empty())                         [links]
  cds-resp-4  overrideReasons.all(display.exists())
  cds-resp-5  suggestions: actions.all(description.exists())
  cds-resp-6  suggestions.exists() implies selectionBehavior.exists()
  cds-resp-7  actionSelectionBehavior in all | any | at-most-one (3.0, tolerated)
  cds-fb-1    outcome = 'accepted' or outcome = 'overridden'
  cds-fb-2    (outcome = 'accepted') implies acceptedSuggestions.exists()
  cds-fb-3    overrideReason: reason.exists() or userComment.exists()
periop rule beyond the specification (the spec only requires selectionBehavior when there are
suggestions): selectionBehavior without suggestions is an error, since it means nothing.
A `create` or `update` action's resource is validated as FHIR R4 (fhir_r4.FhirValidator).
3.0 fields are tolerated where CDS Hooks 2.0 services are told to ignore unknown ones
(`version` in discovery, `autolaunchable`, `actionSelectionBehavior`); any other unknown
attribute is an error (extensions belong in `extension`).
"""

import re
from urllib.parse import urlparse

from .json_rules import is_empty, json_type

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
UTC_INSTANT = re.compile(
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"([0-5][0-9]|60)(\.[0-9]+)?(Z|\+00:00)"
)
# Prefetch tokens allowed by 2.0 (root-level context fields, the user identity tokens).
PREFETCH_TOKEN = re.compile(
    r"context\.[A-Za-z][A-Za-z0-9]*|userPractitionerId|userPractitionerRoleId|userPatientId"
    r"|userRelatedPersonId"
)

CARD_FIELDS = {"uuid", "summary", "detail", "indicator", "source", "suggestions",
               "selectionBehavior", "overrideReasons", "links", "extension"}
SOURCE_FIELDS = {"label", "url", "icon", "topic", "extension"}
SUGGESTION_FIELDS = {"label", "uuid", "isRecommended", "actions", "actionSelectionBehavior",
                     "extension"}
ACTION_FIELDS = {"type", "description", "resource", "resourceId", "extension"}
LINK_FIELDS = {"label", "url", "type", "appContext", "autolaunchable", "extension"}
CODING_FIELDS = {"system", "code", "display"}
SERVICE_FIELDS = {"hook", "id", "title", "description", "prefetch", "usageRequirements",
                  "version", "extension"}
FEEDBACK_FIELDS = {"card", "outcome", "acceptedSuggestions", "overrideReason",
                   "outcomeTimestamp", "extension"}


class CdsValidator:
    """Validates CDS Hooks 2.0 JSON bodies, appending to an Issues list; FHIR resources inside
    actions go to `fhir` (a FhirValidator)."""

    def __init__(self, issues, fhir):
        self.issues = issues
        self.fhir = fhir

    # ----- generic ----------------------------------------------------------------------------
    def _no_empties(self, value, path, allow_empty_array=()):
        """No null, "", whitespace-only string, [] or {} (except the named empty arrays), not
        descending into FHIR resources (their own rules apply)."""
        if is_empty(value) and not (value == [] and path in allow_empty_array):
            shown = "null" if value is None else repr(value)
            self.issues.error(path, f"{shown} is not allowed: CDS Hooks omits attributes without a value")
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                self._no_empties(item, f"{path}[{i}]", allow_empty_array)
        elif isinstance(value, dict):
            for key, v in value.items():
                if key == "resource" and isinstance(v, dict) and "resourceType" in v:
                    continue
                self._no_empties(v, f"{path}.{key}", allow_empty_array)

    def _object(self, value, path, known):
        if not isinstance(value, dict):
            self.issues.error(path, f"must be a JSON object, not {json_type(value)}")
            return False
        for key in value:
            if key not in known:
                self.issues.error(f"{path}.{key}", f"unknown attribute {key!r} (allowed: {', '.join(sorted(known))})")
        return True

    def _string(self, obj, key, path, required=False):
        value = obj.get(key)
        if value is None:
            if required:
                self.issues.error(f"{path}.{key}", f"required attribute {key} is missing")
            return None
        if not isinstance(value, str):
            self.issues.error(f"{path}.{key}", f"{key} must be a string, not {json_type(value)}")
            return None
        return value

    def _code(self, obj, key, path, allowed, required=False):
        value = self._string(obj, key, path, required)
        if value is not None and value not in allowed:
            self.issues.error(f"{path}.{key}", f"{value!r} is not one of {' | '.join(allowed)}")
        return value

    def _uuid(self, obj, key, path, required=False):
        value = self._string(obj, key, path, required)
        if value is not None and not UUID.fullmatch(value):
            self.issues.error(f"{path}.{key}", f"{value!r} is not a UUID (8-4-4-4-12 hex digits)")
        return value

    def _absolute_url(self, obj, key, path, required=False):
        value = self._string(obj, key, path, required)
        if value is not None:
            u = urlparse(value)
            if u.scheme not in ("http", "https") or not u.netloc or any(c.isspace() for c in value):
                self.issues.error(f"{path}.{key}", f"{value!r} is not an absolute http(s) URL")
        return value

    def _boolean(self, obj, key, path):
        if key in obj and not isinstance(obj[key], bool):
            self.issues.error(f"{path}.{key}", f"{key} must be a boolean, not {json_type(obj[key])}")

    def _array(self, obj, key, path, required=False):
        value = obj.get(key)
        if value is None:
            if required:
                self.issues.error(f"{path}.{key}", f"required attribute {key} is missing")
            return []
        if not isinstance(value, list):
            self.issues.error(f"{path}.{key}", f"{key} must be an array, not {json_type(value)}")
            return []
        return value

    def _coding(self, coding, path, display_required):
        if not self._object(coding, path, CODING_FIELDS):
            return
        self._string(coding, "system", path, required=True)
        self._string(coding, "code", path, required=True)
        if display_required and "display" not in coding:
            self.issues.error(f"{path}.display", "cds-resp-4: the CDS Service MUST populate a display value for each reason's Coding")
        else:
            self._string(coding, "display", path)

    def _extension(self, obj, path):
        if "extension" in obj and not isinstance(obj["extension"], dict):
            self.issues.error(f"{path}.extension", f"extension must be a JSON object, not {json_type(obj['extension'])}")

    # ----- service response -------------------------------------------------------------------
    def response(self, body, path="$"):
        if not self._object(body, path, {"cards", "systemActions", "extension"}):
            return
        self._no_empties(body, path, allow_empty_array=(f"{path}.cards",))
        for i, card in enumerate(self._array(body, "cards", path, required=True)):
            self._card(card, f"{path}.cards[{i}]")
        for i, action in enumerate(self._array(body, "systemActions", path)):
            self._action(action, f"{path}.systemActions[{i}]", description_required=False)
        self._extension(body, path)

    def _card(self, card, path):
        if not self._object(card, path, CARD_FIELDS):
            return
        self._uuid(card, "uuid", path)
        summary = self._string(card, "summary", path, required=True)
        if summary is not None and len(summary) >= 140:
            self.issues.error(f"{path}.summary", f"summary must be shorter than 140 characters, it has {len(summary)}")
        self._string(card, "detail", path)
        self._code(card, "indicator", path, ("info", "warning", "critical"), required=True)
        source = card.get("source")
        if source is None:
            self.issues.error(f"{path}.source", "required attribute source is missing")
        elif self._object(source, f"{path}.source", SOURCE_FIELDS):
            self._string(source, "label", f"{path}.source", required=True)
            self._absolute_url(source, "url", f"{path}.source")
            self._absolute_url(source, "icon", f"{path}.source")
            if "topic" in source:
                self._coding(source["topic"], f"{path}.source.topic", display_required=False)
            self._extension(source, f"{path}.source")
        suggestions = self._array(card, "suggestions", path)
        behavior = self._code(card, "selectionBehavior", path, ("at-most-one", "any"))
        if suggestions and "selectionBehavior" not in card:
            self.issues.error(f"{path}.selectionBehavior", "cds-resp-6: if suggestions are present, selectionBehavior MUST also be provided")
        if "selectionBehavior" in card and "suggestions" not in card:
            self.issues.error(f"{path}.selectionBehavior", "selectionBehavior without suggestions (periop rule: it is present exactly when suggestions are)")
        if behavior == "at-most-one":
            recommended = [s for s in suggestions if isinstance(s, dict) and s.get("isRecommended") is True]
            if len(recommended) > 1:
                self.issues.error(f"{path}.suggestions", f"cds-resp-1: at most one suggestion can be recommended when selectionBehavior = at-most-one ({len(recommended)} are)")
        for i, s in enumerate(suggestions):
            self._suggestion(s, f"{path}.suggestions[{i}]")
        for i, reason in enumerate(self._array(card, "overrideReasons", path)):
            self._coding(reason, f"{path}.overrideReasons[{i}]", display_required=True)
        for i, link in enumerate(self._array(card, "links", path)):
            self._link(link, f"{path}.links[{i}]")
        self._extension(card, path)

    def _suggestion(self, s, path):
        if not self._object(s, path, SUGGESTION_FIELDS):
            return
        self._string(s, "label", path, required=True)
        self._uuid(s, "uuid", path)
        self._boolean(s, "isRecommended", path)
        self._code(s, "actionSelectionBehavior", path, ("all", "any", "at-most-one"))
        for i, action in enumerate(self._array(s, "actions", path)):
            self._action(action, f"{path}.actions[{i}]", description_required=True)
        self._extension(s, path)

    def _action(self, action, path, description_required):
        if not self._object(action, path, ACTION_FIELDS):
            return
        kind = self._code(action, "type", path, ("create", "update", "delete"), required=True)
        if description_required and "description" not in action:
            self.issues.error(f"{path}.description", "cds-resp-5: all suggestion actions must have a description")
        else:
            self._string(action, "description", path)
        resource = action.get("resource")
        if kind in ("create", "update"):
            if resource is None:
                self.issues.error(f"{path}.resource", f"a {kind} action SHALL carry the FHIR resource to {kind}")
            else:
                self.fhir.validate(resource, f"{path}.resource")
        elif kind == "delete":
            if "resourceId" not in action or resource is not None:
                self.issues.warning(path, "cds-resp-2: a resourceId not a resource must be provided when type = delete")
        resource_id = self._string(action, "resourceId", path)
        if resource_id is not None and not re.fullmatch(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-\.]{1,64}", resource_id):
            self.issues.error(f"{path}.resourceId", f"{resource_id!r} is not a relative reference Type/id")
        self._extension(action, path)

    def _link(self, link, path):
        if not self._object(link, path, LINK_FIELDS):
            return
        self._string(link, "label", path, required=True)
        self._absolute_url(link, "url", path, required=True)
        kind = self._code(link, "type", path, ("absolute", "smart"), required=True)
        app_context = self._string(link, "appContext", path)
        if app_context is not None and kind != "smart":
            self.issues.error(f"{path}.appContext", "cds-resp-3: appContext only for smart apps")
        self._boolean(link, "autolaunchable", path)
        self._extension(link, path)

    # ----- discovery --------------------------------------------------------------------------
    def discovery(self, body, path="$"):
        if not self._object(body, path, {"services", "extension"}):
            return
        self._no_empties(body, path, allow_empty_array=(f"{path}.services",))
        ids = set()
        for i, service in enumerate(self._array(body, "services", path, required=True)):
            spath = f"{path}.services[{i}]"
            if not self._object(service, spath, SERVICE_FIELDS):
                continue
            self._string(service, "hook", spath, required=True)
            sid = self._string(service, "id", spath, required=True)
            if sid is not None:
                if not re.fullmatch(r"[A-Za-z0-9\-\._~]+", sid):
                    self.issues.error(f"{spath}.id", f"{sid!r} is not a URL path segment")
                if sid in ids:
                    self.issues.error(f"{spath}.id", f"duplicate service id {sid!r}")
                ids.add(sid)
            self._string(service, "title", spath)
            self._string(service, "description", spath, required=True)
            self._string(service, "usageRequirements", spath)
            self._string(service, "version", spath)
            prefetch = service.get("prefetch")
            if prefetch is not None:
                if not isinstance(prefetch, dict):
                    self.issues.error(f"{spath}.prefetch", f"prefetch must be an object, not {json_type(prefetch)}")
                else:
                    for key, template in prefetch.items():
                        self._prefetch(key, template, f"{spath}.prefetch.{key}")
            self._extension(service, spath)

    def _prefetch(self, key, template, path):
        if not isinstance(template, str):
            self.issues.error(path, f"a prefetch template must be a string, not {json_type(template)}")
            return
        if not re.fullmatch(r"[A-Z][A-Za-z]+(/\S+|\?\S*)?", template):
            self.issues.error(path, f"{template!r} is not a relative FHIR read or search (Type/id or Type?params)")
        for token in re.findall(r"\{\{(.*?)\}\}", template):
            if not PREFETCH_TOKEN.fullmatch(token.strip()):
                self.issues.error(path, f"prefetch token {{{{{token}}}}} is not a CDS Hooks 2.0 token (context.<field>, userPractitionerId, ...)")

    # ----- feedback ---------------------------------------------------------------------------
    def feedback(self, body, path="$"):
        if not self._object(body, path, {"feedback", "extension"}):
            return
        self._no_empties(body, path)
        for i, fb in enumerate(self._array(body, "feedback", path, required=True)):
            fpath = f"{path}.feedback[{i}]"
            if not self._object(fb, fpath, FEEDBACK_FIELDS):
                continue
            self._uuid(fb, "card", fpath, required=True)
            outcome = self._string(fb, "outcome", fpath, required=True)
            if outcome is not None and outcome not in ("accepted", "overridden"):
                self.issues.error(f"{fpath}.outcome", f"cds-fb-1: outcome must be 'accepted' or 'overridden', not {outcome!r}")
            accepted = self._array(fb, "acceptedSuggestions", fpath)
            if outcome == "accepted" and "acceptedSuggestions" not in fb:
                self.issues.error(f"{fpath}.acceptedSuggestions", "cds-fb-2: if outcome is 'accepted', acceptedSuggestions SHALL be provided")
            for j, a in enumerate(accepted):
                if self._object(a, f"{fpath}.acceptedSuggestions[{j}]", {"id"}):
                    self._uuid(a, "id", f"{fpath}.acceptedSuggestions[{j}]", required=True)
            reason = fb.get("overrideReason")
            if reason is not None and self._object(reason, f"{fpath}.overrideReason", {"reason", "userComment"}):
                if "reason" not in reason and "userComment" not in reason:
                    self.issues.error(f"{fpath}.overrideReason", "cds-fb-3: an overrideReason must contain a reason, a userComment, or both")
                if "reason" in reason:
                    self._coding(reason["reason"], f"{fpath}.overrideReason.reason", display_required=False)
                self._string(reason, "userComment", f"{fpath}.overrideReason")
            ts = self._string(fb, "outcomeTimestamp", fpath, required=True)
            if ts is not None and not UTC_INSTANT.fullmatch(ts):
                self.issues.error(f"{fpath}.outcomeTimestamp", f"{ts!r} is not an RFC 3339 date-time in UTC")
            self._extension(fb, fpath)
