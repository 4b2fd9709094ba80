"""Printable certificate: HTML (QR as inline SVG) and PDF (QR drawn as vector squares),
both pointing at the public verification URL."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date

import segno
from fpdf import FPDF

MONTHS = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
)  # fmt: skip


@dataclass(frozen=True)
class PrintableCertificate:
    number: str
    holder_name: str
    level: str
    status: str
    issued_on: date
    expires_on: date
    issuer: str
    skills: list[tuple[str, str]]  # (code, Indonesian name)
    verify_url: str


def tanggal(day: date) -> str:
    """20 November 2026 (Indonesian long date)."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def qr_code(url: str) -> segno.QRCode:
    # Error level M and no boost: the same URL always gives the same symbol.
    return segno.make_qr(url, error="m", boost_error=False)


def qr_svg(url: str) -> str:
    return str(qr_code(url).svg_inline(scale=4, border=2, title="Verifikasi sertifikat"))


def qr_matrix(url: str) -> list[list[bool]]:
    return [[bool(cell) for cell in row] for row in qr_code(url).matrix]


def certificate_html(c: PrintableCertificate) -> str:
    e = html.escape
    skills = "\n".join(f"<li><b>{e(code)}</b> {e(name)}</li>" for code, name in c.skills)
    watermark = "" if c.status == "valid" else f'<p class="status">Status: {e(c.status.upper())}</p>'
    return f"""<!doctype html>
<html lang="id"><head><meta charset="utf-8">
<title>Sertifikat Kader {e(c.number)}</title>
<style>
body {{ font-family: Georgia, serif; margin: 2cm; color: #222; }}
.frame {{ border: 6px double #2f5d50; padding: 1.5cm; }}
h1 {{ text-align: center; letter-spacing: .15em; margin: 0 0 .2em; }}
.number {{ text-align: center; font-family: monospace; }}
.name {{ font-size: 2em; text-align: center; margin: .6em 0 .2em; }}
.level {{ text-align: center; font-size: 1.3em; }}
.status {{ color: #a00; text-align: center; font-weight: bold; }}
.qr {{ float: right; text-align: center; font-size: .8em; }}
ul {{ columns: 2; font-size: .85em; }}
@media print {{ body {{ margin: 0; }} }}
</style></head>
<body><div class="frame">
<div class="qr" data-verify-url="{e(c.verify_url)}">{qr_svg(c.verify_url)}<br>Pindai untuk verifikasi</div>
<h1>SERTIFIKAT KADER</h1>
<p class="number">Nomor: {e(c.number)}</p>
<p style="text-align:center">diberikan kepada</p>
<p class="name">{e(c.holder_name)}</p>
<p class="level">Jenjang <b>{e(c.level)}</b></p>
{watermark}
<p>Telah menguasai keterampilan dasar kader berikut:</p>
<ul>
{skills}
</ul>
<p>Diterbitkan tanggal {tanggal(c.issued_on)}, berlaku sampai {tanggal(c.expires_on)}.</p>
<p>{e(c.issuer)}</p>
<p style="font-size:.8em">Verifikasi: <a href="{e(c.verify_url)}">{e(c.verify_url)}</a></p>
</div></body></html>
"""


def _latin1(text: str) -> str:
    # The PDF core fonts cover Latin-1; anything else is replaced rather than failing.
    return text.encode("latin-1", "replace").decode("latin-1")


def certificate_pdf(c: PrintableCertificate) -> bytes:
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_compression(False)  # keeps the text searchable in the raw file (small anyway)
    pdf.set_title(_latin1(f"Sertifikat Kader {c.number}"))
    pdf.set_subject(_latin1(c.verify_url))
    pdf.set_author(_latin1(c.issuer))
    pdf.set_creator("sikader certification")
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    pdf.set_draw_color(47, 93, 80)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, 277, 190)

    pdf.set_font("Helvetica", "B", 28)
    pdf.set_xy(20, 22)
    pdf.cell(200, 12, "SERTIFIKAT KADER", align="L")
    pdf.set_font("Courier", "", 12)
    pdf.set_xy(20, 36)
    pdf.cell(200, 7, _latin1(f"Nomor: {c.number}"))
    pdf.set_font("Helvetica", "", 12)
    pdf.set_xy(20, 50)
    pdf.cell(200, 7, "diberikan kepada")
    pdf.set_font("Helvetica", "B", 22)
    pdf.set_xy(20, 58)
    pdf.cell(200, 12, _latin1(c.holder_name))
    pdf.set_font("Helvetica", "", 14)
    pdf.set_xy(20, 72)
    pdf.cell(200, 8, _latin1(f"Jenjang {c.level}"))
    if c.status != "valid":
        pdf.set_text_color(170, 0, 0)
        pdf.set_xy(20, 81)
        pdf.cell(200, 7, _latin1(f"Status: {c.status.upper()}"))
        pdf.set_text_color(0, 0, 0)

    pdf.set_font("Helvetica", "", 8)
    y = 92.0
    for i, (code, name) in enumerate(c.skills):
        x = 20 if i < 13 else 150
        row = i if i < 13 else i - 13
        pdf.set_xy(x, y + row * 5)
        text = _latin1(f"{code}  {name}")
        if pdf.get_string_width(text) > 126:  # keep the two columns apart
            while text and pdf.get_string_width(text + "...") > 126:
                text = text[:-1]
            text += "..."
        pdf.cell(128, 5, text)

    pdf.set_font("Helvetica", "", 11)
    pdf.set_xy(20, 172)
    pdf.cell(200, 6, _latin1(f"Diterbitkan {tanggal(c.issued_on)}, berlaku sampai {tanggal(c.expires_on)}"))
    pdf.set_xy(20, 180)
    pdf.cell(200, 6, _latin1(c.issuer))

    # QR as filled squares (vector, sharp at any print size), linked to the verify URL.
    matrix = qr_matrix(c.verify_url)
    size, x0, y0 = 50.0, 225.0, 22.0
    module = size / len(matrix)
    pdf.set_fill_color(0, 0, 0)
    for r, cells in enumerate(matrix):
        for k, dark in enumerate(cells):
            if dark:
                pdf.rect(x0 + k * module, y0 + r * module, module, module, style="F")
    pdf.link(x0, y0, size, size, c.verify_url)
    pdf.set_font("Helvetica", "", 7)
    pdf.set_xy(x0 - 5, y0 + size + 2)
    pdf.cell(size + 10, 4, "Pindai untuk verifikasi", align="C")
    return bytes(pdf.output())
