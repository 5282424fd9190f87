"""Provenance and caveats of a data set, shown on the data page, the map and in the report."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from analysis.views.common import (
    dataset_signature,
    refused_frames,
    stale_predictions,
    summary,
    unseen_frames,
)


def provenance_summary(name: str) -> list[tuple[str, str]]:
    """(label, text) pairs saying how data set ``name`` was made, from the provenance keys it has.

    Reference sets built by ``build-reference`` record code, settings, sampler, substitutes,
    spin treatment and compute time; imported sets record their source files. Unknown keys are
    left to the full provenance.
    """
    try:
        prov = summary(name).provenance
    except KeyError:
        return []
    out: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            out.append((label, value if isinstance(value, str) else json.dumps(value, default=str)))

    add("made by", prov.get("generator"))
    add("code", prov.get("code"))
    settings = prov.get("settings") if isinstance(prov.get("settings"), dict) else {}
    dft = settings.get("dft") if isinstance(settings.get("dft"), dict) else {}
    if dft:
        add("DFT", f"{dft.get('xc', '?')}, {dft.get('mode', '?').upper()} {dft.get('ecut_ev', '?')} eV, k-point density "
                   f"≥ {dft.get('kpt_density', '?')} /Å, {dft.get('smearing', '?')} smearing "
                   f"{'at the ionic temperature, at least ' if dft.get('electronic_temperature') == 'ionic' else ''}"
                   f"{dft.get('width_ev', '?')} eV, symmetry {dft.get('symmetry', '?')}")
    if settings:
        add("tier", f"{prov.get('tier', settings.get('tier', '?'))}: {settings.get('n_frames', '?')} frames of "
                    f"{settings.get('n_atoms', '?')} atoms per element and temperature ({settings.get('temperatures', '?')})")
    done, planned = prov.get("frames_done"), prov.get("frames_planned")
    if isinstance(done, int) and isinstance(planned, int):
        add("frames labelled", f"{done} of {planned}")
    sampler = prov.get("sampler")
    add("configurations sampled by", ", ".join(map(str, sampler)) if isinstance(sampler, list) else sampler)
    spin = prov.get("spin")
    add("spin", spin.get("note") if isinstance(spin, dict) else spin)
    subs = prov.get("substitutes")
    if isinstance(subs, dict):
        for element, why in sorted(subs.items()):
            add(f"structure of {element}", why)
    compute = prov.get("compute_s")
    if isinstance(compute, dict) and compute:
        add("compute (wall, summed)", ", ".join(f"{k.removesuffix('_wall_s').upper()} {float(v) / 3600:.2f} h" for k, v in sorted(compute.items())))
    files = prov.get("imported_files") or prov.get("source_files")
    add("source files", ", ".join(map(str, files)) if isinstance(files, list) else files)
    return out


def build_status(name: str) -> str | None:
    """How complete a reference set that is still being built is (from its provenance), or None.

    The embedded default is labelled by DFT over many hours and shipped as it grows; its manifest
    records ``frames_done`` and ``frames_planned``.
    """
    try:
        info = summary(name)
    except KeyError:
        return None
    done, planned = info.provenance.get("frames_done"), info.provenance.get("frames_planned")
    if not isinstance(done, int) or not isinstance(planned, int) or done >= planned:
        return None
    settings = info.provenance.get("settings") or {}
    planned_elements = settings.get("elements") if isinstance(settings, dict) else None
    n_el = len(planned_elements) if isinstance(planned_elements, list) else None
    elements = f" ({len(info.elements)} of {n_el} elements)" if n_el else f" ({len(info.elements)} elements)"
    return (f"Data set {name!r} is still being built: {done} of {planned} planned frames{elements} are labelled so far; "
            "elements not computed yet are grey. See docs/reference_data.md.")


def pending_elements(name: str) -> list[str]:
    """Elements a reference set still being built plans but has no frames of yet (empty once it is complete)."""
    if build_status(name) is None:
        return []
    info = summary(name)
    settings = info.provenance.get("settings") or {}
    planned = settings.get("elements") if isinstance(settings, dict) else None
    have = set(info.elements)
    return [str(e) for e in planned if str(e) not in have] if isinstance(planned, list) else []


def sampler_note(name: str) -> str | None:
    """What sampled the data set's configurations and why that matters, from its provenance (or None).

    A model that generated the configurations (e.g. CHGNet MD for the embedded default) has
    errors biased low on its own samples; the pages show this note beside its numbers.
    """
    try:
        prov = summary(name).provenance
    except KeyError:
        return None
    samplers = [s for s in (prov.get("sampler") or []) if s] if isinstance(prov.get("sampler"), list) else [prov.get("sampler")]
    samplers = [str(s) for s in samplers if s]
    note = prov.get("sampler_note")
    if not samplers and not note:
        return None
    if note and samplers:
        return f"{note} (sampler: {', '.join(samplers)})"
    return str(note) if note else f"Configurations sampled with {', '.join(samplers)}."


@dataclass(frozen=True)
class Caveat:
    """One caveat about a data set's numbers: what it says, how loud, and what a dashboard user can do.

    ``text`` stands on its own (the HTML report prints only it); ``action`` is the dashboard's hint
    (e.g. where to evaluate again), empty where there is nothing to do.
    """

    level: Literal["info", "warning"]
    text: str
    action: str = ""


def _join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def close_contacts(name: str) -> list[tuple[str, str]]:
    """(element, 'T K') of the frames of ``name`` flagged by :mod:`analysis.reference.contacts`, cached per data set state."""
    return list(_close_contacts_cached(name, dataset_signature(name)))


@lru_cache(maxsize=8)
def _close_contacts_cached(name: str, signature: tuple[Any, ...]) -> tuple[tuple[str, str], ...]:
    from analysis.views.common import _summary_cached

    return tuple((str(el), str(t)) for el, t in _summary_cached(name, signature)[1]["close_contacts"])


def caveats(name: str) -> list[Caveat]:
    """Every caveat the map page and the exported report show beside ``name``'s numbers, in one wording.

    In order: the build status of a set still being labelled, the sampler's bias, models whose
    predictions are stale (left out), models missing frames added since they ran (grouped by count),
    and models that refused frames (stored as NaN, named with the model's own message).
    """
    out: list[Caveat] = []
    status = build_status(name)
    if status:
        out.append(Caveat("info", status))
    note = sampler_note(name)
    if note:
        out.append(Caveat("warning", note))
    for model, reason in stale_predictions(name).items():
        out.append(Caveat("warning", f"Predictions of {model} are left out: {reason}.", "Evaluate the model again on the Jobs page."))
    by_count: dict[int, list[str]] = {}
    for model, count in unseen_frames(name).items():
        by_count.setdefault(count, []).append(model)
    for count, group in sorted(by_count.items()):
        verb = "has" if len(group) == 1 else "have"
        out.append(Caveat("info", f"{_join_names(group)} {verb} no predictions for {count} frame(s) added or changed since the last "
                                  "evaluation: they are left out of the errors.",
                          "Evaluate again on the Jobs page (only those frames are computed)."))
    contacts = close_contacts(name)
    if contacts:
        listed = ", ".join(f"{el} {t}" for el, t in contacts[:6]) + (f" and {len(contacts) - 6} more" if len(contacts) > 6 else "")
        from analysis.reference.contacts import CONTACT_RATIO

        out.append(Caveat("info", f"{len(contacts)} frame(s) have a close contact (shortest distance below {CONTACT_RATIO:g} of the "
                                  f"crystal's nearest-neighbour distance at their volume): {listed}. A close contact can carry large "
                                  "repulsive DFT forces that dominate an element's force error.",
                          "See the frame table on each element page."))
    for model, info in refused_frames(name).items():
        out.append(Caveat("info", f"{model} refused {info['count']} frame(s) of {', '.join(info['elements'])}; they are left out of its "
                                  f"errors (elements with none left are grey). The model said: {info['error']}"))
    return out
