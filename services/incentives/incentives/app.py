"""The one wiring point of the incentives service: settings -> config -> ServiceDefinition
(routes, the consumer's event handlers, the projector)."""

from pathlib import Path

from incentives.config import IncentivesConfig
from incentives.entrypoints.consumers import event_handlers
from incentives.entrypoints.jobs import JOBS
from incentives.entrypoints.routes import ROUTERS
from incentives.settings import IncentivesSettings
from sikader_shared.service import ServiceWiring

SERVICE_DIR = Path(__file__).resolve().parent.parent

WIRING = ServiceWiring(
    name="incentives",
    title="sikader incentives",
    description="Incentive policy versions, explainable eligibility, monthly periods (calculate, approve, "
    "pay, close), payment files and bank results, fairness report.",
    service_dir=SERVICE_DIR,
    settings_type=IncentivesSettings,
    make_config=IncentivesConfig.from_settings,
    routers=ROUTERS,
    event_handlers=event_handlers,
    jobs=JOBS,
)
definition = WIRING.definition
create_app = WIRING.create_app
