"""The registry's one wiring point: settings -> config -> ServiceDefinition (routes, the
consumer's handler table, jobs)."""

from pathlib import Path

from registry.config import RegistryConfig
from registry.entrypoints.consumers import event_handlers
from registry.entrypoints.jobs import JOBS
from registry.entrypoints.routes import ROUTERS
from registry.settings import RegistrySettings
from sikader_shared.service import ServiceWiring

SERVICE_DIR = Path(__file__).resolve().parent.parent

WIRING = ServiceWiring(
    name="registry",
    title="sikader registry",
    description=(
        "Wilayah, Posyandu (institution, facility, verification) and the cadre register. "
        "NIK, contact and payment details are masked unless the key has `registry:pii` "
        "(every unmasked read is logged); they leave the service only encrypted, on "
        "sikader.registry.cadre-private.v1."
    ),
    service_dir=SERVICE_DIR,
    settings_type=RegistrySettings,
    make_config=RegistryConfig.from_settings,
    routers=ROUTERS,
    event_handlers=event_handlers,
    jobs=JOBS,
)
definition = WIRING.definition
create_app = WIRING.create_app
