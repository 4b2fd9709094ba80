from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sikader_shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIKADER_REGISTRY_", extra="ignore", populate_by_name=True)

    service_name: str = "registry"
    http_port: int = 8001

    # Wilayah reference data: a file shipped in registry/data/wilayah (e.g. "6471.json") or
    # a path. Another city is another file, not code.
    wilayah_file: str = "6471.json"
    # Region prefixes a NIK must start with (e.g. "6471"). Empty: the wilayah file's region.
    # "*" accepts a NIK issued anywhere (a national roll-out).
    nik_region_prefixes: list[str] = Field(default_factory=list)
    # Secret mixed into the NIK lookup hash. Set it in production; changing it later needs a
    # re-hash of the stored NIKs.
    nik_pepper: str = "sikader-development-pepper"
    # A verified Posyandu is a kelurahan institution: require its founding decree (SK).
    verification_requires_sk: bool = True
    # Largest CSV accepted in one upload (the CLI splits bigger files into chunks).
    import_max_rows: int = 200_000
    import_max_bytes: int = 64 * 1024 * 1024
    # Asynchronous imports (POST /imports/...): rows per committed chunk, and how often an
    # idle worker looks for queued jobs.
    import_chunk_rows: int = Field(default=1000, ge=1)
    import_poll_s: float = Field(default=1.0, gt=0)
