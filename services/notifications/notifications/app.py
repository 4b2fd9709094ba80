"""The one wiring point of the notifications service: settings -> config -> ServiceDefinition
(routes, the consumer's handler table, the delivery worker)."""

from pathlib import Path

from notifications.config import NotificationsConfig
from notifications.entrypoints.consumers import event_handlers
from notifications.entrypoints.jobs import JOBS
from notifications.entrypoints.routes import ROUTERS
from notifications.settings import NotificationsSettings
from sikader_shared.service import ServiceWiring

SERVICE_DIR = Path(__file__).resolve().parent.parent

WIRING = ServiceWiring(
    name="notifications",
    title="sikader notifications",
    description="Templates, channels (email, signed webhooks, SMS / WhatsApp gateway), outside "
    "subscriptions, deliveries with retries, consent and broadcasts.",
    service_dir=SERVICE_DIR,
    settings_type=NotificationsSettings,
    make_config=NotificationsConfig.from_settings,
    routers=ROUTERS,
    event_handlers=event_handlers,
    jobs=JOBS,
)
definition = WIRING.definition
create_app = WIRING.create_app
