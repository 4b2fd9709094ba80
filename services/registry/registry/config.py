"""What the handlers need besides the unit of work, built once from the settings: the wilayah
reference data, the NIK rules of this deployment, and the field ciphers for the private topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from registry.adapters.wilayah_file import load_wilayah
from registry.domain.wilayah import Wilayah
from registry.settings import RegistrySettings
from sikader_shared.crypto import FieldCipher, load_cipher, require_cipher
from sikader_shared.deps import get_config


@dataclass(frozen=True)
class RegistryConfig:
    wilayah: Wilayah
    nik_prefixes: tuple[str, ...]
    nik_pepper: str
    # None when the key is not set: contact / payment details are then refused (503).
    contact_cipher: FieldCipher | None
    payment_cipher: FieldCipher | None
    verification_requires_sk: bool = True
    import_max_rows: int = 200_000
    import_max_bytes: int = 64 * 1024 * 1024
    import_chunk_rows: int = 1000
    import_poll_s: float = 1.0

    @classmethod
    def from_settings(cls, settings: RegistrySettings) -> RegistryConfig:
        wilayah = load_wilayah(settings.wilayah_file)
        prefixes = [p.strip() for p in settings.nik_region_prefixes if p.strip()]
        if "*" in prefixes:
            prefixes = []  # any region (national roll-out)
        elif not prefixes:
            prefixes = [wilayah.nik_prefix]
        return cls(
            wilayah=wilayah,
            nik_prefixes=tuple(prefixes),
            nik_pepper=settings.nik_pepper,
            contact_cipher=load_cipher("contact", settings.contact_key),
            payment_cipher=load_cipher("payment", settings.payment_key),
            verification_requires_sk=settings.verification_requires_sk,
            import_max_rows=settings.import_max_rows,
            import_max_bytes=settings.import_max_bytes,
            import_chunk_rows=settings.import_chunk_rows,
            import_poll_s=settings.import_poll_s,
        )

    def cipher(self, purpose: str) -> FieldCipher:
        """The contact or payment cipher. Without its key the registry refuses to store such
        details (503) rather than publish them unencrypted."""
        return require_cipher(self.contact_cipher if purpose == "contact" else self.payment_cipher, purpose)


ConfigDep = Annotated[RegistryConfig, Depends(get_config)]
