"""Shell command lines handed to a process: what they do, by class of behaviour.

Only strings that reach a process call are judged (the analyser passes their literal
parts), so prose and documentation that mention these tools never count. PowerShell's
``-EncodedCommand`` argument (base64 of UTF-16LE) is decoded and judged too.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

_ENCODED_PS = re.compile(
    r"(?:powershell|pwsh)(?:\.exe)?\b.*?\s-(?:e|ec|enc|encodedcommand)\s+([A-Za-z0-9+/=]{16,})",
    re.I | re.S,
)
_HIDDEN_PS = re.compile(r"(?:powershell|pwsh).*-(?:w|win|windowstyle)\s+h(?:idden)?\b", re.I | re.S)
_FETCH = re.compile(
    r"\b(?:curl|wget)\b|Invoke-WebRequest|\biwr\b|Invoke-RestMethod|\birm\b|DownloadString"
    r"|DownloadFile|Net\.WebClient|certutil(?:\.exe)?\s+.*-urlcache|bitsadmin.*?/transfer"
    r"|Start-BitsTransfer",
    re.I | re.S,
)
_DECODE_RUN = re.compile(
    r"base64\s+(?:-d|--decode|-D)\b.*\|\s*(?:ba|z|da)?sh\b|certutil.*-decode|FromBase64String", re.I
)
_RUN_FETCHED = re.compile(
    r"\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b|\|\s*python[0-9.]*\b|\biex\b|Invoke-Expression"
    r"|Start-Process|&&\s*(?:\./|chmod\s+\+x|start\b|sh\b|bash\b)|;\s*(?:\./|chmod\s+\+x)"
    r"|\bmshta\b",
    re.I,
)
_REVERSE = re.compile(
    r"/dev/(?:tcp|udp)/|\bnc(?:at)?\b[^|;&]*\s-e\s|\bsocat\b[^|;&]*exec:|bash\s+-i\s*>&"
    r"|\bmkfifo\b.*\bnc\b|New-Object\s+System\.Net\.Sockets\.TCPClient",
    re.I | re.S,
)
_EXFIL = re.compile(
    r"\b(?:curl|wget)\b.*(?:\$\((?:hostname|whoami|pwd|id|uname)|`(?:hostname|whoami)`"
    r"|-d\s*@|--data[^ ]*\s+@|/etc/passwd|\benv\b\s*\|)",
    re.I | re.S,
)
_PERSIST = re.compile(
    r"\bschtasks\b.*?/create|\breg(?:\.exe)?\s+add\b.*\\Run\b|CurrentVersion\\Run"
    r"|\bcrontab\b|LaunchAgents|systemctl\s+(?:--user\s+)?enable|New-ScheduledTask"
    r"|\\Start Menu\\Programs\\Startup",
    re.I | re.S,
)
_RECON = re.compile(
    r"^\s*(?:whoami(?:\s+/all)?|hostname|id|uname\s+-a|systeminfo|ipconfig(?:\s+/all)?|ifconfig"
    r"|net\s+(?:user|localgroup)\b.*|cat\s+/etc/(?:passwd|shadow|hosts)|printenv|env)\s*$",
    re.I,
)
_DEFENDER = re.compile(r"Add-MpPreference|Set-MpPreference.*Disable", re.I)


@dataclass(frozen=True, slots=True)
class ShellVerdict:
    rule: str
    why: str


def judge_command(text: str, depth: int = 0) -> ShellVerdict | None:
    """The most serious thing ``text`` does, if it is one of the classes below."""
    if _REVERSE.search(text):
        return ShellVerdict("reverse-shell", "the command connects a shell to a remote host")
    if _EXFIL.search(text):
        return ShellVerdict(
            "exfiltration", "the command sends the host's identity or files to a remote host"
        )
    if _FETCH.search(text) and _RUN_FETCHED.search(text):
        return ShellVerdict("download-exec", "the command downloads a program and runs it")
    if _DECODE_RUN.search(text):
        return ShellVerdict("shell-command", "decodes a hidden command and runs it")
    encoded = _ENCODED_PS.search(text)
    if encoded:
        inner = decode_powershell(encoded.group(1))
        found = judge_command(inner, depth + 1) if inner and depth < 2 else None
        if found is not None:
            return ShellVerdict(found.rule, f"encoded PowerShell: {found.why}")
        return ShellVerdict(
            "shell-command", "runs an encoded PowerShell command, hidden from review"
        )
    if _HIDDEN_PS.search(text):
        return ShellVerdict("shell-command", "runs PowerShell in a hidden window")
    if _DEFENDER.search(text):
        return ShellVerdict("shell-command", "weakens the antivirus configuration")
    if _PERSIST.search(text):
        return ShellVerdict("persistence", "registers a program to start again later")
    if any(_RECON.match(part) for part in re.split(r"&&|\|\||[;&|]", text)):
        return ShellVerdict("recon", "runs host-reconnaissance commands (who, where, what host)")
    return None


def decode_powershell(encoded: str) -> str | None:
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-16-le", "replace")
