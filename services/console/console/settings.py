from pydantic_settings import SettingsConfigDict

from sikader_shared.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    """What an operator sets (SIKADER_CONSOLE_*). The console has no broker: the Kafka settings
    it inherits are unused."""

    model_config = SettingsConfigDict(env_prefix="SIKADER_CONSOLE_", extra="ignore", populate_by_name=True)

    service_name: str = "console"
    http_port: int = 8000
    registry_url: str = "http://127.0.0.1:8001"
    certification_url: str = "http://127.0.0.1:8002"
    incentives_url: str = "http://127.0.0.1:8003"
    notifications_url: str = "http://127.0.0.1:8004"
    # Fernet key that encrypts the API keys held for signed-in people (crypto.new_key()).
    # Without it nobody can sign in (the sign-in page says so).
    session_key: str = ""
    session_idle_minutes: int = 30
    session_absolute_hours: int = 8
    # false only over plain http (make run, tests): the browser would not send a Secure cookie
    secure_cookies: bool = True
    # Map tiles, the only thing a page loads from elsewhere; empty = plain background.
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = "&copy; OpenStreetMap contributors"
    # Seconds to wait for a service's answer.
    service_timeout_s: float = 15.0
