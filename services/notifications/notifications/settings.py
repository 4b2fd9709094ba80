from pydantic import Field
from pydantic_settings import SettingsConfigDict

from notifications.domain.rules import OpdInbox
from notifications.domain.schedule import exponential_schedule
from sikader_shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIKADER_NOTIFICATIONS_", extra="ignore", populate_by_name=True)

    service_name: str = "notifications"
    http_port: int = 8004

    # Links in messages (unsubscribe) point here: the public address of this service.
    public_base_url: str = "http://127.0.0.1:8004"
    # Signs unsubscribe tokens; empty -> derived from the contact key.
    unsubscribe_secret: str = ""
    signature: str = "SIKADER - Pemerintah Kota Balikpapan"

    # Rules and templates as data: another rules file / a directory of templates overriding ours.
    rules_file: str = ""
    templates_dir: str = ""
    # Agency mailboxes (JSON list): [{"id": "dinkes", "email": "...", "language": "en", "events": []}]
    opd_inboxes: list[OpdInbox] = Field(default_factory=list)
    # Puskesmas (name or code, as in the registry's Posyandu events) -> mailbox.
    puskesmas_inboxes: dict[str, str] = Field(default_factory=dict)

    # Email over SMTP. `make run` starts a catcher (python -m sikader_shared.testing.devsmtp) on 1025.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    smtp_from: str = "SIKADER Balikpapan <noreply@sikader.balikpapan.go.id>"
    smtp_timeout_s: float = 15.0

    # SMS / WhatsApp through an HTTP gateway (POST JSON {to, channel, text, reference}).
    sms_gateway_url: str = ""
    whatsapp_gateway_url: str = ""
    gateway_token: str = ""
    gateway_timeout_s: float = 10.0

    webhook_timeout_s: float = 10.0
    # After POST /subscriptions/{id}/secret/rotate, the replaced secret signs too (a second
    # signature in webhook-signature) for this long, while the subscriber switches.
    webhook_secret_grace_s: int = Field(86400, ge=0, le=30 * 86400)
    # Webhooks in flight at once to one subscription, each for another aggregate key (a key's
    # events still go one after another, in order); also its keep-alive connection pool's size.
    webhook_concurrency: int = Field(8, ge=1, le=256)
    # Webhooks go to public internet addresses only (no loopback, private or link-local ones:
    # an OPD key must not make this service call inside the city's network). True for local
    # development and tests, where the receivers run on 127.0.0.1.
    webhook_allow_private_networks: bool = False

    # SMS / WhatsApp wait outside quiet hours (WITA). start == end: no quiet hours.
    quiet_hours_start: str = "21:00"
    quiet_hours_end: str = "07:00"

    # Retries: seconds after the 1st, 2nd ... failed attempt (default about 8.5 hours), +-jitter.
    retry_schedule_s: list[float] = Field(default_factory=exponential_schedule)
    retry_jitter: float = Field(0.2, ge=0, le=1)

    # The delivery worker (a background job); tests switch it off and call one tick directly.
    worker_enabled: bool = True
    worker_poll_s: float = 1.0
    worker_concurrency: int = Field(16, ge=1)
    worker_batch: int = Field(200, ge=1)

    broadcast_default_rate_per_minute: int = Field(60, ge=1)
    broadcast_max_rate_per_minute: int = Field(600, ge=1)
