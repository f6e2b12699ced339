"""What string values point at: stores of other programs' secrets, channels that collect
stolen data, hardcoded remote destinations, autostart locations.

Classes of thing, never a package's name or one sample's string: the path of a browser's
password database, a chat-bot token's shape, the services that exist to receive
out-of-band callbacks. Matched on literal *values* (after escapes are resolved), so prose
in comments never counts.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_STORES = re.compile(
    r"Login Data|Local State|Web Data|Network[/\\]Cookies|User Data[/\\]Default|key[34]\.db"
    r"|logins\.json|cookies\.sqlite|signons\.sqlite|CryptUnprotectData"
    r"|Local Storage[/\\]leveldb|discord(?:canary|ptb)|[/\\]discord[/\\]|Telegram Desktop"
    r"|(?:^|[/\\])tdata(?:$|[/\\])|wallet\.dat|(?i:[/\\]exodus(?:[/\\.]|$))|Electrum|MetaMask"
    r"|Atomic[/\\]Local Storage|nkbihfbeogaeaoehlefnkodbefgpgknn|\.minecraft[/\\]"
    r"|loginusers\.vdf|ssfn\d|FileZilla[/\\](?:recentservers|sitemanager)"
)
"""Other programs' stores of secrets that no library reads to do its own job: browser
password and cookie databases, chat clients' token stores, wallets, game launchers'
account files. SSH keys, cloud and index credentials are not here: their own clients read
them by design (``catalog.secret_path`` covers those for direct flows)."""

_BOT_TOKEN = re.compile(r"\b\d{8,10}:AA[0-9A-Za-z_-]{33}\b")
_WEBHOOK = re.compile(
    r"discord(?:app)?\.com/api/webhooks/\d{16,20}/[\w-]{50,}|hooks\.slack\.com/services/T[A-Z0-9]{8,}/B[A-Z0-9]{8,}/\w{20,}"
)
_COLLECTORS = re.compile(
    r"(?:^|\.)(?:pipedream\.net|oastify\.com|burpcollaborator\.net|interact\.sh"
    r"|oast\.(?:fun|me|site|live|online|pro)|webhook\.site|requestbin\.\w+|ngrok(?:-free)?\.\w+"
    r"|ngrok\.io|canarytokens\.\w+|dnslog\.cn|ceye\.io|trycloudflare\.com|serveo\.net"
    r"|loca\.lt|localtunnel\.me|beeceptor\.com|requestcatcher\.com|hookbin\.com"
    r"|pastebin\.com|paste\.ee|hastebin\.com|transfer\.sh|gofile\.io|anonfiles\.com"
    r"|api\.telegram\.org)$",
    re.I,
)
"""Services that exist to receive callbacks, tunnel to a home machine, or host pasted
payloads: where dependency-confusion probes and droppers talk to."""
_EXECUTABLE_PATH = re.compile(r"\.(?:exe|scr|msi|bat|cmd|ps1|vbs|hta|dll|jar)$", re.I)
_AUTOSTART = re.compile(
    r"Start Menu[/\\]Programs[/\\]Startup|CurrentVersion[/\\]+Run(?:Once)?\b|LaunchAgents"
    r"|LaunchDaemons|/etc/cron|crontab|\.config/autostart|systemd/user|/etc/systemd/system"
    r"|/etc/rc\.local",
    re.I,
)
_RC_FILE = re.compile(r"(?:^|[/\\])\.(?:bashrc|bash_profile|zshrc|zprofile|profile)$")
"""Shell start-up files: autostart only in the user's home (a temporary one is not)."""
_URL = re.compile(r"^(?:https?|ftp|wss?)://", re.I)
_HOST = re.compile(r"^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")


def secret_store(text: str) -> str | None:
    match = _STORES.search(text)
    return match.group(0) if match else None


def channel_credential(text: str) -> str | None:
    """A chat-bot token or a webhook URL with its secret: the keys to a collection channel."""
    match = _BOT_TOKEN.search(text) or _WEBHOOK.search(text)
    return match.group(0) if match else None


def autostart(text: str) -> str | None:
    match = _AUTOSTART.search(text)
    return match.group(0) if match else None


def rc_file(text: str) -> bool:
    return bool(_RC_FILE.search(text))


def destination(text: str, *, bare: bool = False) -> str | None:
    """The host of a URL the text names (or, with ``bare``, a host name or address alone:
    what DNS and socket calls take), when the source fixes it; ``None`` for anything else
    (unknown parts, local or private addresses, no host)."""
    text = text.strip()
    if _URL.match(text):
        try:
            host = urlsplit(text).hostname or ""
        except ValueError:
            return None
    elif bare and _HOST.match(text) and not text.replace(".", "").isdigit():
        host = text
    else:
        return _public_ip(text) if bare else None
    if not host or "{" in host or host in ("localhost",) or host.endswith(".local"):
        return None
    if _public_ip(host) is None and host.replace(".", "").isdigit():
        return None  # a private, loopback or reserved address
    return host.lower()


def _public_ip(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return None if not address.is_global else str(address)


def collector(target: str) -> bool:
    """Whether ``target`` (a URL or a host) is a collection service, or a URL to a bare
    public address (no name to look up, nothing to attribute)."""
    host = destination(target, bare=True) or ""
    if _COLLECTORS.search(host):
        return True
    return bool(_URL.match(target.strip())) and _public_ip(host) is not None


def names_executable(text: str) -> bool:
    """A URL or path whose last segment is a Windows program or script."""
    path = urlsplit(text).path if _URL.match(text.strip()) else text
    return bool(_EXECUTABLE_PATH.search(path.strip()))
