"""The printable explanation of one cadre's amount: a page that stands alone (inline CSS,
no script, no external asset), in Indonesian or English."""

from __future__ import annotations

from html import escape
from typing import Any

from incentives.domain.rules import rupiah

LABELS: dict[str, dict[str, str]] = {
    "id": {
        "title": "Penjelasan insentif kader",
        "period": "Periode",
        "state": "Status periode",
        "cadre": "Kader",
        "posyandu": "Posyandu",
        "area": "Kelurahan / kecamatan",
        "policy": "Kebijakan",
        "outcome": "Keputusan",
        "eligible": "Berhak menerima insentif",
        "not_eligible": "Tidak berhak menerima insentif",
        "level": "Jenjang",
        "rules": "Aturan dan fakta",
        "rule": "Aturan",
        "result": "Hasil",
        "fact": "Fakta",
        "events": "Peristiwa (id)",
        "passed": "terpenuhi",
        "failed": "tidak terpenuhi",
        "not_held": "tidak berlaku",
        "amounts": "Perhitungan jumlah",
        "for_level": "Jumlah untuk jenjang",
        "before_cap": "Sebelum batas per Posyandu",
        "cap": "Batas kader dibayar per Posyandu",
        "rank": "Peringkat di Posyandu",
        "after_cap": "Sesudah batas",
        "ceiling": "Pagu anggaran",
        "final": "Jumlah akhir",
        "none": "tidak ada",
        "yes": "ya",
        "no": "tidak",
        "cap_applied": "Batas diterapkan pada kader ini",
        "budget_applied": "Pagu anggaran membatasi kader ini",
        "hash": "Sidik keputusan",
    },
    "en": {
        "title": "Cadre incentive explained",
        "period": "Period",
        "state": "Period state",
        "cadre": "Cadre",
        "posyandu": "Posyandu",
        "area": "Kelurahan / kecamatan",
        "policy": "Policy",
        "outcome": "Decision",
        "eligible": "Eligible for the incentive",
        "not_eligible": "Not eligible for the incentive",
        "level": "Level",
        "rules": "Rules and facts",
        "rule": "Rule",
        "result": "Result",
        "fact": "Fact",
        "events": "Events (ids)",
        "passed": "passed",
        "failed": "failed",
        "not_held": "not held",
        "amounts": "How the amount was reached",
        "for_level": "Amount for the level",
        "before_cap": "Before the cap per Posyandu",
        "cap": "Cap of paid cadres per Posyandu",
        "rank": "Rank at the Posyandu",
        "after_cap": "After the cap",
        "ceiling": "Budget ceiling",
        "final": "Final amount",
        "none": "none",
        "yes": "yes",
        "no": "no",
        "cap_applied": "The cap left this cadre out",
        "budget_applied": "The budget ceiling left this cadre out",
        "hash": "Decision hash",
    },
}

STYLE = """
body { font-family: Georgia, 'Times New Roman', serif; color: #111; margin: 2em auto; max-width: 50em; }
h1 { font-size: 1.5em; border-bottom: 2px solid #111; padding-bottom: .3em; }
h2 { font-size: 1.15em; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #555; padding: .35em .5em; text-align: left; vertical-align: top; }
th { background: #eee; }
.failed { color: #8a0000; font-weight: bold; }
.passed { color: #0b5d1e; }
.outcome { font-size: 1.2em; font-weight: bold; }
.ids { font-family: monospace; font-size: .8em; word-break: break-all; }
@media print { body { margin: 0; } }
"""


def explanation_html(x: dict[str, Any], lang: str) -> str:
    t = LABELS[lang]
    outcome = t["eligible"] if x["eligible"] else t["not_eligible"]
    head = [
        (t["period"], x["period"]),
        (t["state"], x["period_state"]),
        (t["cadre"], x["cadre_id"]),
        (t["posyandu"], x["posyandu_name"] or x["posyandu_id"] or t["none"]),
        (t["area"], f"{x['kelurahan_code']} / {x['kecamatan_code']}"),
        (t["policy"], x["policy"]["version"]),
        (t["level"], x["level"] or t["none"]),
    ]
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{escape(t['title'])} {escape(x['period'])}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(t['title'])}</h1>{_table(head)}"
        f'<p class="outcome">{escape(outcome)}: {escape(rupiah(x["amount"]))}</p>'
        f"<h2>{escape(t['rules'])}</h2>{_rules(x['rules'], t, lang)}"
        f"<h2>{escape(t['amounts'])}</h2>{_table(_amount_rows(x['amount_steps'], t))}"
        f'<p class="ids">{escape(t["hash"])}: {escape(x["decision_hash"] or "")}</p>'
        "</body></html>"
    )


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th scope='row'>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _rules(rules: list[dict[str, Any]], t: dict[str, str], lang: str) -> str:
    head = f"<tr><th>{t['rule']}</th><th>{t['result']}</th><th>{t['fact']}</th><th>{t['events']}</th></tr>"
    rows = []
    for r in rules:
        result = t["passed"] if r["passed"] else t["failed"]
        if not r["required"]:
            result += f" ({t['not_held']})"
        css = "passed" if r["passed"] else "failed"
        text = r["text_id"] if lang == "id" else r["text_en"]
        ids = "<br>".join(escape(i) for i in r["source_event_ids"])
        rows.append(
            f"<tr><td>{escape(r['rule'])}</td><td class='{css}'>{escape(result)}</td>"
            f"<td>{escape(text)}</td><td class='ids'>{ids}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _amount_rows(s: dict[str, Any], t: dict[str, str]) -> list[tuple[str, str]]:
    cap = str(s["cap_per_posyandu"]) if s["cap_per_posyandu"] is not None else t["none"]
    ceiling = rupiah(s["budget_ceiling"]) if s["budget_ceiling"] is not None else t["none"]
    return [
        (t["for_level"], rupiah(s["amount_for_level"])),
        (t["before_cap"], rupiah(s["before_cap"])),
        (t["cap"], cap),
        (t["rank"], str(s["posyandu_rank"]) if s["posyandu_rank"] is not None else t["none"]),
        (t["cap_applied"], t["yes"] if s["cap_applied"] else t["no"]),
        (t["after_cap"], rupiah(s["after_cap"])),
        (t["ceiling"], ceiling),
        (t["budget_applied"], t["yes"] if s["budget_applied"] else t["no"]),
        (t["final"], rupiah(s["amount"])),
    ]
