"""The one wiring point of the certification service: settings -> config -> ServiceDefinition
(routes, the consumer's event handlers, the expiry scheduler)."""

from pathlib import Path

from certification.config import CertificationConfig
from certification.entrypoints.consumers import event_handlers
from certification.entrypoints.jobs import JOBS
from certification.entrypoints.routes import ROUTERS
from certification.settings import CertificationSettings
from sikader_shared.service import ServiceWiring

SERVICE_DIR = Path(__file__).resolve().parent.parent

WIRING = ServiceWiring(
    name="certification",
    title="sikader certification",
    description="Skill catalogue, trainings, skill assessments, levels and certificates, "
    "with public certificate verification.",
    service_dir=SERVICE_DIR,
    settings_type=CertificationSettings,
    make_config=CertificationConfig.from_settings,
    routers=ROUTERS,
    event_handlers=event_handlers,
    jobs=JOBS,
)
definition = WIRING.definition
create_app = WIRING.create_app
