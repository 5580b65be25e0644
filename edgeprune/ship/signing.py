"""Detached ed25519 signatures over a bundle's manifest (``cryptography``).

``manifest.json`` lists the sha256 of every other file, so one signature over
its exact bytes covers the whole bundle. The signature is the raw 64 bytes in
``manifest.json.sig``; OpenSSL checks it independently::

    openssl pkeyutl -verify -pubin -inkey KEY.pub -rawin -in manifest.json -sigfile manifest.json.sig

Keys are PEM: a PKCS#8 private key and a SubjectPublicKeyInfo public key,
as ``edgeprune keygen`` or ``openssl genpkey -algorithm ed25519`` write them.
An encrypted private key is read with the passphrase in
``$EDGEPRUNE_KEY_PASSPHRASE``.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ..errors import EdgepruneError, missing_extra
from ..runio import atomic_write_bytes
from .manifest import MANIFEST

SIGNATURE = MANIFEST + ".sig"
PASSPHRASE_ENV = "EDGEPRUNE_KEY_PASSPHRASE"
KEYGEN_FIX = "Make a key pair with: edgeprune keygen KEY (writes KEY and KEY.pub)."


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise missing_extra("cryptography", "device") from None
    return serialization, ed25519


def _read_key_file(path: str | os.PathLike, kind: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise EdgepruneError(f"{kind} key {p} does not exist.", KEYGEN_FIX)
    return p.read_bytes()


def load_private_key(path: str | os.PathLike) -> Any:
    """An ed25519 private key from a PEM file (one-line error otherwise)."""
    serialization, ed25519 = _crypto()
    data = _read_key_file(path, "Signing")
    pw = os.environ.get(PASSPHRASE_ENV)
    try:
        key = serialization.load_pem_private_key(data, password=pw.encode() if pw else None)
    except TypeError:
        raise EdgepruneError(f"Signing key {path} is encrypted.", f"Put its passphrase in ${PASSPHRASE_ENV}.") from None
    except ValueError as e:
        raise EdgepruneError(f"Signing key {path} is not a readable PEM private key ({str(e).splitlines()[0]}).",
                             KEYGEN_FIX) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise EdgepruneError(f"Signing key {path} is a {type(key).__name__}, not ed25519.", KEYGEN_FIX)
    return key


def load_public_key(path: str | os.PathLike) -> Any:
    """An ed25519 public key from a PEM file (one-line error otherwise)."""
    serialization, ed25519 = _crypto()
    data = _read_key_file(path, "Public")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as e:
        raise EdgepruneError(f"Public key {path} is not a readable PEM public key ({str(e).splitlines()[0]}).",
                             "Give the KEY.pub that 'edgeprune keygen' wrote next to the signing key.") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise EdgepruneError(f"Public key {path} is a {type(key).__name__}, not ed25519.",
                             "Give the KEY.pub that 'edgeprune keygen' wrote next to the signing key.")
    return key


def fingerprint(public_key: Any) -> str:
    """First 16 hex digits of the sha256 of the raw 32-byte public key."""
    serialization, _ = _crypto()
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign_bundle(bundle: Path, private_key: Any) -> Path:
    """Write ``bundle/manifest.json.sig`` over the manifest's exact bytes (deterministic: same key, same bytes)."""
    sig = private_key.sign((bundle / MANIFEST).read_bytes())
    return atomic_write_bytes(bundle / SIGNATURE, sig)


def check_signature(manifest: bytes, signature: bytes, public_key: Any) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(signature, manifest)
        return True
    except InvalidSignature:
        return False


def keygen(out: str | os.PathLike) -> tuple[Path, Path]:
    """Write a new ed25519 key pair: ``out`` (private, mode 0600) and ``out.pub``; never overwrites."""
    serialization, ed25519 = _crypto()
    priv_path, pub_path = Path(out), Path(str(out) + ".pub")
    for p in (priv_path, pub_path):
        if p.exists():
            raise EdgepruneError(f"{p} already exists.", "Choose another name; keys are never overwritten.")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    old = os.umask(0o077)
    try:
        atomic_write_bytes(priv_path, pem)
    finally:
        os.umask(old)
    atomic_write_bytes(pub_path, pub)
    return priv_path, pub_path
