"""What the handlers need besides the unit of work: the wilayah reference data, the NIK
rules of this deployment, and the field ciphers for the private topic."""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.domain.wilayah import Wilayah, load_wilayah
from registry.settings import RegistrySettings
from sikader_shared.crypto import FieldCipher, FieldCipherError
from sikader_shared.errors import ServiceError


class Unavailable(ServiceError):
    status_code = 503
    code = "unavailable"


@dataclass
class RegistryConfig:
    wilayah: Wilayah
    nik_prefixes: tuple[str, ...]
    nik_pepper: str
    contact_key: str
    payment_key: str
    verification_requires_sk: bool = True
    import_max_rows: int = 200_000
    import_max_bytes: int = 64 * 1024 * 1024
    _ciphers: dict[str, FieldCipher] = field(default_factory=dict)

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
            contact_key=settings.contact_key,
            payment_key=settings.payment_key,
            verification_requires_sk=settings.verification_requires_sk,
            import_max_rows=settings.import_max_rows,
            import_max_bytes=settings.import_max_bytes,
        )

    def cipher(self, purpose: str) -> FieldCipher:
        """The contact or payment cipher. Without its key the registry refuses to store such
        details rather than publish them unencrypted."""
        cipher = self._ciphers.get(purpose)
        if cipher is None:
            key = self.contact_key if purpose == "contact" else self.payment_key
            try:
                cipher = FieldCipher(key)
            except FieldCipherError as exc:
                raise Unavailable(
                    f"the {purpose} encryption key is not configured (SIKADER_{purpose.upper()}_KEY): "
                    f"{purpose} details cannot be stored",
                ) from exc
            self._ciphers[purpose] = cipher
        return cipher
