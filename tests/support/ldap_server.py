"""A real OpenLDAP server (Debian's slapd) for the tests: its own configuration, data and TLS
certificates in a temporary directory, listening on free loopback ports for ldap:// (StartTLS
offered) and ldaps://, stopped by its process id."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.registry import free_port

BASE = "dc=example,dc=org"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
ROOT_DN = f"cn=admin,{BASE}"
ROOT_PASSWORD = "admin-secret"
READER_DN = f"cn=reader,{BASE}"
READER_PASSWORD = "reader-secret"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")


def person(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


def group(cn: str) -> str:
    return f"cn={cn},{GROUPS}"


# Each person's password is "<uid>-password". Groups: developers (alice, bob), operators (carol),
# registry-admins (carol). dave is in no group; "Eve Smith" has a uid no Portus name can be.
PEOPLE_ENTRIES = {"alice": "alice.mail@corp.example", "bob": "", "carol": "", "dave": "", "Eve Smith": ""}
GROUP_MEMBERS = {"developers": ["alice", "bob"], "operators": ["carol"], "registry-admins": ["carol"]}


def password_of(uid: str) -> str:
    return f"{uid}-password"


def entries_ldif() -> str:
    entries = [
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n",
        f"dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: reader\nuserPassword: {READER_PASSWORD}\n",
    ]
    for uid, mail in PEOPLE_ENTRIES.items():
        entry = f"dn: {person(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n"
        entry += f"userPassword: {password_of(uid)}\n"
        if mail:
            entry += f"mail: {mail}\n"
        entries.append(entry)
    for cn, members in GROUP_MEMBERS.items():
        # groupOfNames needs a member: the service account stays in each, so any person can leave.
        lines = f"member: {READER_DN}\n" + "".join(f"member: {person(uid)}\n" for uid in members)
        entries.append(f"dn: {group(cn)}\nobjectClass: groupOfNames\ncn: {cn}\n{lines}")
    return "\n".join(entries)


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    other_ca_file: Path  # a CA that signed nothing the server shows
    cert_file: Path
    key_file: Path


def _key_and_name(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Name]:
    return ec.generate_private_key(ec.SECP256R1()), x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key, name = _key_and_name(common_name)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_certificates(directory: Path) -> Certificates:
    """A test CA, a server certificate it signed for 127.0.0.1 and localhost, and an unrelated CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca("Portus test CA")
    _, other_cert = _ca("Some other CA")
    key, name = _key_and_name("127.0.0.1")
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    found = Certificates(
        ca_file=directory / "ca.pem",
        other_ca_file=directory / "other-ca.pem",
        cert_file=directory / "server.pem",
        key_file=directory / "server-key.pem",
    )
    found.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    found.other_ca_file.write_bytes(other_cert.public_bytes(serialization.Encoding.PEM))
    found.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    found.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    found.key_file.chmod(0o600)
    return found


def slapd_binary() -> str | None:
    return shutil.which("slapd") or next((path for path in ("/usr/sbin/slapd",) if Path(path).exists()), None)


@dataclass(frozen=True)
class RunningSlapd:
    port: int  # ldap:// (plain, StartTLS offered)
    tls_port: int  # ldaps://
    certificates: Certificates
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _slapd_conf(workdir: Path, certificates: Certificates) -> str:
    includes = "".join(f"include /etc/ldap/schema/{name}.schema\n" for name in SCHEMAS)
    return (
        f"{includes}"
        f"pidfile {workdir / 'slapd.pid'}\n"
        f"argsfile {workdir / 'slapd.args'}\n"
        "modulepath /usr/lib/ldap\n"
        "moduleload back_mdb\n"
        f"TLSCACertificateFile {certificates.ca_file}\n"
        f"TLSCertificateFile {certificates.cert_file}\n"
        f"TLSCertificateKeyFile {certificates.key_file}\n"
        "database mdb\n"
        "maxsize 10485760\n"
        f'suffix "{BASE}"\n'
        f'rootdn "{ROOT_DN}"\n'
        f"rootpw {ROOT_PASSWORD}\n"
        f"directory {workdir / 'data'}\n"
        # Passwords are only ever used to bind; everything else anyone may read (anonymous search).
        "access to attrs=userPassword by anonymous auth by * none\n"
        "access to * by * read\n"
    )


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"slapd did not listen on {port} within {timeout} s:\n{log_path.read_text(errors='replace')}")


@contextmanager
def running_slapd(workdir: Path) -> Iterator[RunningSlapd]:
    """slapd with the test entries (entries_ldif) on two free loopback ports, stopped afterwards."""
    binary = slapd_binary()
    assert binary is not None, "slapd is not installed"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data").mkdir()
    certificates = make_certificates(workdir / "tls")
    conf = workdir / "slapd.conf"
    conf.write_text(_slapd_conf(workdir, certificates))
    ldif = workdir / "entries.ldif"
    ldif.write_text(entries_ldif())
    loaded = subprocess.run(
        [str(Path(binary).with_name("slapadd")), "-f", str(conf), "-l", str(ldif)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.returncode == 0, loaded.stderr
    port, tls_port = free_port(), free_port()
    log_path = workdir / "slapd.log"
    urls = f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, "-f", str(conf), "-h", urls, "-d", "0"], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_for_port(port, process, log_path)
        _wait_for_port(tls_port, process, log_path)
        yield RunningSlapd(port, tls_port, certificates, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
