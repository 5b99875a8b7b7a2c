"""CSV import and export of subscribers.

Import reads ``email`` plus optional ``timezone``, ``locale`` and ``consent_source`` columns;
every other column becomes an attribute. Rows are validated first: a file with bad rows imports
the good ones and reports the bad ones by line number (nothing half-written per row).
Suppressed addresses are imported but stay suppressed: an import never re-subscribes anyone.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from dropkit.core.errors import ValidationError
from dropkit.outreach.addresses import normalise_email
from dropkit.outreach.errors import InvalidEmailError
from dropkit.outreach.lists import Lists
from dropkit.outreach.subscribers import Subscribers, check_timezone

__all__ = ["ImportReport", "export_csv", "import_csv"]

_KNOWN = {"email", "timezone", "locale", "consent_source", "status"}


@dataclass
class ImportReport:
    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


async def import_csv(
    subscribers: Subscribers,
    lists: Lists,
    text: str,
    *,
    list_id: str | None = None,
    consent_source: str = "csv import",
) -> ImportReport:
    """Import subscribers from CSV text (first row: headers, one of them ``email``)."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "email" not in reader.fieldnames:
        raise ValidationError("the CSV needs an 'email' column")
    report = ImportReport()
    added: list[str] = []
    for line, row in enumerate(reader, start=2):
        try:
            email = normalise_email(row.get("email") or "")
            timezone = check_timezone(row.get("timezone") or None)
        except (InvalidEmailError, ValidationError) as exc:
            report.errors.append((line, str(exc)))
            continue
        attributes = {k: v for k, v in row.items() if k and k not in _KNOWN and v not in (None, "")}
        subscriber = await subscribers.add(
            email,
            attributes=attributes,
            timezone=timezone,
            locale=row.get("locale") or None,
            consent_source=row.get("consent_source") or consent_source,
        )
        added.append(subscriber.id)
        report.imported += 1
    if list_id is not None and added:
        await lists.add(list_id, added)
    return report


async def export_csv(subscribers: Subscribers) -> str:
    """Every subscriber as CSV: the fixed columns, then one column per attribute name."""
    rows = await subscribers.all()
    names = sorted({key for s in rows for key in s.attributes})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "status", "timezone", "locale", "consent_source", *names])
    for s in rows:
        writer.writerow(
            [s.email, s.status.value, s.timezone or "", s.locale or "", s.consent_source or ""]
            + [str(s.attributes.get(name, "")) for name in names]
        )
    return out.getvalue()
