"""Verdict reasons a person can act on: the rule, the imitated name, its rank, the change."""

from __future__ import annotations

from policies.typosquat.edits import Edit, Kind
from policies.typosquat.matches import Match, Rule
from policies.typosquat.similarity import Channel


def describe(name: str, match: Match) -> str:
    target = match.target
    edit = match.edit
    if match.rule is Rule.TYPO and edit is not None:
        if edit.kind is Kind.TRANSPOSITION:
            what = f"'{name}' is one transposition away from '{target}'"
        else:
            what = f"'{name}' is '{target}' with {edit_phrase(edit)}"
    elif match.rule is Rule.AFFIX:
        what = f"'{name}' is '{target}' with '{match.affix}' added"
    elif match.rule is Rule.NUMBER:
        what = f"'{name}' is '{target}' with the version-like '{match.affix}' added"
    elif match.rule is Rule.NUMBER_CHANGED:
        numbers = f"'{match.old_number}' changed to '{match.affix}'"
        what = f"'{name}' is '{target}' with its number {numbers}"
    elif match.rule is Rule.REORDERED:
        what = f"'{name}' is '{target}' with its parts reordered"
    elif match.rule is Rule.SEPARATORS:
        what = f"'{name}' differs from '{target}' only in separators"
    elif match.rule is Rule.SOUND:
        what = f"'{name}' sounds like '{target}' (another spelling of the same sounds)"
    else:
        what = f"'{name}' reads like '{target}' (look-alike characters)"
    if edit is not None and match.rule in (Rule.AFFIX, Rule.NUMBER):
        what += f" and {edit_phrase(edit)}"
    origin = f"rank {match.rank} by downloads" if match.rank else "a protected name"
    return (
        f"{what} ({origin}); if you meant '{target}', install that, and if '{name}' is "
        f"genuine, add it to the typosquat policy's allow list"
    )


def edit_phrase(edit: Edit) -> str:
    old, new = edit.old, edit.new
    match edit.kind:
        case Kind.TRANSPOSITION:
            return f"'{old}' swapped to '{new}'"
        case Kind.DOUBLED:
            return f"a doubled '{new}'"
        case Kind.UNDOUBLED:
            return f"the doubled '{old}' written once"
        case Kind.EXTRA_ADJACENT_KEY:
            return f"an extra '{new}' (a neighbouring key)"
        case Kind.OMISSION:
            return f"the '{old}' left out"
        case Kind.PLURAL:
            return f"an '{new}' added at the end" if new else f"the final '{old}' dropped"
        case Kind.INSERTION:
            return f"an extra '{new}'"
        case Kind.SUBSTITUTION:
            return f"'{new}' for '{old}'{_channel_note(edit.channels)}"


def _channel_note(found: tuple[Channel, ...]) -> str:
    labels = [channel.label for channel in found if channel is not Channel.OTHER]
    return f" ({' and '.join(labels)})" if labels else ""
