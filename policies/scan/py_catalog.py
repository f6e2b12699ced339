"""What Python names and strings mean to the scanner: which calls start processes, use the
network, decode data or execute code, and which strings name secrets.

Names are fully qualified after import aliases are resolved (``from os import system as
s; s()`` is ``os.system``). A trailing ``.*`` entry covers every attribute of a module.
"""

from __future__ import annotations

import re

EXEC = frozenset(
    {
        "exec",
        "eval",
        "compile",
        "execfile",
        "builtins.exec",
        "builtins.eval",
        "builtins.compile",
        "types.FunctionType",
        "types.CodeType",
    }
)

_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request")

PROCESS = frozenset(
    {
        "os.system",
        "os.popen",
        "os.startfile",
        "os.execl",
        "os.execle",
        "os.execlp",
        "os.execlpe",
        "os.execv",
        "os.execve",
        "os.execvp",
        "os.execvpe",
        "os.spawnl",
        "os.spawnle",
        "os.spawnlp",
        "os.spawnv",
        "os.spawnve",
        "os.spawnvp",
        "os.posix_spawn",
        "os.posix_spawnp",
        "pty.spawn",
        "subprocess.*",
        "commands.getoutput",
        "commands.getstatusoutput",
        "popen2.*",
        "asyncio.create_subprocess_shell",
        "asyncio.create_subprocess_exec",
        "win32api.ShellExecute",
        "win32process.CreateProcess",
        "ctypes.windll.shell32.ShellExecuteW",
        "ctypes.windll.shell32.ShellExecuteA",
    }
)

NETWORK = frozenset(
    {
        "socket.socket",
        "socket.create_connection",
        "socket.gethostbyname",
        "socket.getaddrinfo",
        "socket.gethostbyname_ex",
        "urllib.request.urlopen",
        "urllib.request.urlretrieve",
        "urllib.request.Request",
        "urllib.request.build_opener",
        "urllib.urlopen",
        "urllib.urlretrieve",
        "urllib2.urlopen",
        "urllib2.Request",
        "six.moves.urllib.request.urlopen",
        *(f"{m}.{f}" for m in ("requests", "httpx") for f in _VERBS),
        "requests.Session",
        "requests.session",
        "httpx.Client",
        "httpx.AsyncClient",
        "httpx.stream",
        "aiohttp.ClientSession",
        "aiohttp.request",
        "urllib3.PoolManager",
        "urllib3.request",
        "http.client.HTTPConnection",
        "http.client.HTTPSConnection",
        "httplib.HTTPConnection",
        "httplib.HTTPSConnection",
        "ftplib.FTP",
        "smtplib.SMTP",
        "smtplib.SMTP_SSL",
        "telnetlib.Telnet",
        "dns.resolver.resolve",
        "dns.resolver.query",
        "websocket.create_connection",
        "websocket.WebSocketApp",
        "pycurl.Curl",
        "discord_webhook.DiscordWebhook",
        "dhooks.Webhook",
        "telebot.TeleBot",
    }
)

DECODE = frozenset(
    {
        "base64.b64decode",
        "base64.b32decode",
        "base64.b16decode",
        "base64.b85decode",
        "base64.a85decode",
        "base64.decodebytes",
        "base64.decodestring",
        "base64.urlsafe_b64decode",
        "base64.standard_b64decode",
        "binascii.unhexlify",
        "binascii.a2b_base64",
        "binascii.a2b_hex",
        "zlib.decompress",
        "gzip.decompress",
        "bz2.decompress",
        "lzma.decompress",
        "marshal.loads",
        "pickle.loads",
        "codecs.decode",
        "bytes.fromhex",
        "cryptography.fernet.Fernet",
        "Crypto.Cipher.AES.new",
        "Cryptodome.Cipher.AES.new",
    }
)

FINGERPRINT = frozenset(
    {
        "socket.gethostname",
        "getpass.getuser",
        "os.getlogin",
        "platform.node",
        "platform.uname",
        "os.uname",
        "os.getcwd",
        "uuid.getnode",
        "platform.platform",
    }
)

CAPTURE = frozenset(
    {
        "pyautogui.screenshot",
        "PIL.ImageGrab.grab",
        "ImageGrab.grab",
        "mss.mss",
        "pynput.keyboard.Listener",
        "keyboard.on_press",
        "keyboard.hook",
        "pyperclip.paste",
        "clipboard.paste",
        "win32clipboard.GetClipboardData",
        "cv2.VideoCapture",
    }
)
"""Screen, camera, keystroke and clipboard capture: what spyware sends."""

COPIES = frozenset({"shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.move", "os.rename"})
REGISTRY_WRITES = frozenset(
    {"winreg.SetValueEx", "winreg.SetValue", "_winreg.SetValueEx", "win32api.RegSetValueEx"}
)

DUP2 = frozenset({"os.dup2"})
SHELL_SPAWN = frozenset({"pty.spawn"})

SECRET_METHODS = frozenset({"CryptUnprotectData"})
"""Method names that unwrap OS-protected secrets (browser keys, saved passwords)."""

DECODE_METHODS = frozenset({"decrypt", "decompress", "b64decode", "fromhex", "unhexlify"})

# Environment variables naming the host or the user.
_IDENTITY_ENV = frozenset(
    {"USERNAME", "USER", "LOGNAME", "COMPUTERNAME", "HOSTNAME", "USERDOMAIN", "USERPROFILE", "HOME"}
)

# Paths and markers of stores of secrets: SSH and cloud keys, package-index and git
# credentials, browser profiles, chat clients' token stores, wallets, cloud metadata.
_SECRET_PATH = re.compile(
    r"\.ssh(?:[/\\]|$)|id_rsa|id_ed25519|id_ecdsa|\.aws[/\\]credentials|\.netrc|\.pypirc|\.npmrc"
    r"|\.git-credentials|\.docker[/\\]config\.json|\.kube[/\\]config|Login Data|Local State"
    r"|Web Data|key[34]\.db|logins\.json|cookies\.sqlite|Network[/\\]Cookies|Local Storage"
    r"|leveldb|discord(?:canary|ptb)?[/\\]|Telegram Desktop|tdata|wallet\.dat|\.wallet\b"
    r"|[/\\]Exodus|Electrum|MetaMask|keystore[/\\]|/etc/shadow|CryptUnprotectData",
    re.I,
)
_CLOUD = re.compile(r"169\.254\.169\.254|metadata\.google\.internal|fd00:ec2::254")
"""Cloud metadata services: where instance credentials are fetched from."""
_URL = re.compile(r"^(?:https?|ftp|wss?)://", re.I)
_BASE64 = re.compile(r"^[A-Za-z0-9+/=_\-\s]+$")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2}|\\x[0-9a-fA-F]{2}|\s)+$")
BLOB_CHARS = 2048
"""Encoded literals at least this long are blobs; review cannot read them."""


def resolve_star(name: str, catalog: frozenset[str]) -> bool:
    if name in catalog:
        return True
    module, _, _ = name.rpartition(".")
    while module:
        if f"{module}.*" in catalog:
            return True
        module, _, _ = module.rpartition(".")
    return False


def is_identity_env(name: str) -> bool:
    return name.upper() in _IDENTITY_ENV


def secret_path(text: str) -> str | None:
    match = _SECRET_PATH.search(text)
    return match.group(0) if match else None


def cloud_metadata(text: str) -> bool:
    return bool(_CLOUD.search(text))


def is_url(text: str) -> bool:
    return bool(_URL.match(text.strip()))


def is_blob(value: str | bytes) -> bool:
    """A long literal of base64 or hex text: encoded data, not prose or code."""
    if len(value) < BLOB_CHARS:
        return False
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    sample = text[:4096]
    if " " in sample.strip()[:200] and sample.count(" ") > len(sample) // 50:
        return False
    return bool(_BASE64.match(sample) or _HEX.match(sample))
