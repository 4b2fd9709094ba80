"""Message texts: Jinja2 templates in Indonesian (`data/templates/id/`), English where an OPD
inbox asks for it (`data/templates/en/`, falling back to Indonesian). Each template defines three
blocks: `subject` (email subject), `body` (email text) and `short` (SMS / WhatsApp text)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, Template, TemplateNotFound

from sikader_shared.clock import WITA

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "data" / "templates"

BULAN = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(WITA).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        text = value.replace("Z", "+00:00")
        try:
            return _as_date(datetime.fromisoformat(text)) if "T" in text else date.fromisoformat(text)
        except ValueError:
            return None
    return None


def tanggal(value: Any) -> str:
    """'2026-12-05' -> '5 Desember 2026'."""
    d = _as_date(value)
    return f"{d.day} {BULAN[d.month - 1]} {d.year}" if d else str(value or "-")


def date_en(value: Any) -> str:
    d = _as_date(value)
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}" if d else str(value or "-")


def rupiah(value: Any) -> str:
    """250000 -> 'Rp 250.000'."""
    try:
        return "Rp " + f"{int(value):,}".replace(",", ".")
    except (TypeError, ValueError):
        return str(value)


def periode(value: Any, language: str = "id") -> str:
    """'2026-11' -> 'November 2026'."""
    try:
        year, month = str(value).split("-")
        names = BULAN if language == "id" else MONTHS
        return f"{names[int(month) - 1]} {year}"
    except (ValueError, IndexError):
        return str(value)


# Indonesian names of the incentive policy's rules, for a reason that carries no Indonesian
# text (events published before IncentiveEligibilityChanged had `fact_id`).
SYARAT = {
    "cadre_active": "kader berstatus aktif",
    "certificate_valid": "sertifikat kader yang berlaku",
    "posyandu_verified": "Posyandu sudah terverifikasi",
    "posyandu_open": "Posyandu masih aktif",
    "posyandu_cap": "batas jumlah kader berinsentif per Posyandu",
    "budget": "anggaran insentif periode ini",
}


def syarat(rule: Any) -> str:
    """A rule code -> its Indonesian name ('certificate_valid' -> 'sertifikat kader yang berlaku')."""
    return SYARAT.get(str(rule), str(rule).replace("_", " "))


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    short: str


class TemplateError(ValueError):
    pass


class Templates:
    def __init__(self, extra_dir: str | Path | None = None) -> None:
        loaders = [FileSystemLoader(str(extra_dir))] if extra_dir else []
        self.env = Environment(
            loader=ChoiceLoader([*loaders, FileSystemLoader(str(TEMPLATE_DIR))]),
            undefined=StrictUndefined,
            autoescape=False,  # plain-text messages
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(tanggal=tanggal, date_en=date_en, rupiah=rupiah, periode=periode, syarat=syarat)

    def codes(self, language: str = "id") -> list[str]:
        return sorted(
            n.split("/", 1)[1].removesuffix(".j2")
            for n in self.env.list_templates(extensions=["j2"])
            if n.startswith(f"{language}/") and not n.split("/", 1)[1].startswith("_")
        )

    def _template(self, code: str, language: str) -> tuple[Template, str]:
        for lang in dict.fromkeys([language, "id"]):
            try:
                return self.env.get_template(f"{lang}/{code}.j2"), lang
            except TemplateNotFound:
                continue
        raise TemplateError(f"no template {code!r}")

    def render(self, code: str, language: str, context: Mapping[str, Any]) -> Rendered:
        """Render the three blocks; an unsubscribe link (when given) is appended to every
        one of them but the subject, so no cadre message can go out without it."""
        template, lang = self._template(code, language)
        ctx = template.new_context(dict(context))
        try:
            parts = {name: "".join(template.blocks[name](ctx)).strip() for name in ("subject", "body", "short")}
        except KeyError as exc:
            raise TemplateError(f"template {code!r} lacks the block {exc}") from exc
        except Exception as exc:  # a template bug must fail the delivery, not the worker
            raise TemplateError(f"template {code!r} failed: {type(exc).__name__}: {exc}") from exc
        url = context.get("unsubscribe_url")
        if url:
            if lang == "id":
                parts["body"] += f"\n\n--\nBerhenti menerima pesan lewat saluran ini: {url}"
                parts["short"] += f" Berhenti: {url}"
            else:
                parts["body"] += f"\n\n--\nStop receiving messages through this channel: {url}"
                parts["short"] += f" Stop: {url}"
        return Rendered(" ".join(parts["subject"].split()), parts["body"] + "\n", parts["short"])
