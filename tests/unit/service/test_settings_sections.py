"""Settings in sections: the variables deployments set are still read, choices fail at start naming
the variable, the two Telegram bots are separate with the old single variable as a fallback, and the
README's table is the one the sections generate."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from mcu import settings_doc
from mcu.settings import Role, Settings, SettingsError

# Every variable the flat mcu/settings.py read before the sections (git show 476d2f5:mcu/settings.py).
BEFORE = """
app_id auth_failure_rate_limit author_hmac_key case_link_template clickhouse_cluster clickhouse_dsn
clickhouse_http_port clickhouse_tcp_port commit_interval connector_poll_seconds contacts_file env
events_rate_limit imap_host imap_mailbox imap_password imap_port imap_ssl imap_user incident_push_token
ingest_ack_timeout ingest_rate_limit ingest_token kafka_session_timeout log_level max_json_depth
max_payload_bytes max_record_bytes max_source_id_chars max_text_chars notify_backoff_seconds
notify_max_attempts notify_rate_per_minute notify_timeout_seconds open311_api_key open311_jurisdiction_id
open311_post_rate_limit open311_read_rate_limit open311_service_type open311_services_file
raw_retention_hours reports_rate_limit roles sink_batch_seconds sink_batch_size sla_calendar_overrides_file
sla_digest_cron sla_pending_max_age_hours sla_pending_max_cases sla_policies_file sla_work_hours smtp_host
smtp_password smtp_port smtp_security smtp_sender smtp_username store_read_concurrency
store_read_wait_seconds telegram_api_base telegram_api_url telegram_bot_token telegram_webhook_secret
test_drop_marker test_kill_before_sla_send topic_min_insync_replicas topic_partitions topic_prefix
topic_replication_factor var_dir vk_api_url vk_callback_confirmation vk_callback_group_ids
vk_callback_secret vk_own_posts vk_owner_ids vk_requests_per_second vk_token web_host web_port webhook_secret
kafka_brokers kafka_security_protocol kafka_sasl_mechanism kafka_sasl_username kafka_sasl_password
kafka_ssl_cafile kafka_ssl_certfile kafka_ssl_keyfile kafka_ssl_key_password kafka_allow_sasl_plaintext
"""


def test_every_variable_read_before_the_sections_is_still_read() -> None:
    before = {"MCU_" + name.upper() for name in BEFORE.split()}
    assert before - Settings.variables() == set()


@pytest.mark.parametrize(
    ("variable", "value", "path"),
    [
        ("MCU_KAFKA_BROKERS", "k1:9092,k2:9092", ("kafka", "brokers")),
        ("MCU_KAFKA_SESSION_TIMEOUT", "7", ("kafka", "session_timeout")),
        ("MCU_MAX_RECORD_BYTES", "2048", ("kafka", "max_record_bytes")),
        ("MCU_TOPIC_PREFIX", "env.", ("topics", "prefix")),
        ("MCU_RAW_RETENTION_HOURS", "24", ("topics", "raw_retention_hours")),
        ("MCU_CLICKHOUSE_DSN", "chdb:///tmp/x", ("store", "dsn")),
        ("MCU_SINK_BATCH_SIZE", "10", ("store", "batch_size")),
        ("MCU_INGEST_TOKEN", "tok", ("intake", "token")),
        ("MCU_MAX_TEXT_CHARS", "99", ("intake", "max_text_chars")),
        ("MCU_AUTHOR_HMAC_KEY", "k", ("intake", "author_hmac_key")),
        ("MCU_CONNECTOR_POLL_SECONDS", "5", ("connectors", "poll_seconds")),
        ("MCU_VK_OWNER_IDS", "-1,-2", ("connectors", "vk_owner_ids")),
        ("MCU_SLA_WORK_HOURS", "08:00-17:00", ("sla", "work_hours")),
        ("MCU_CONTACTS_FILE", "/x.yaml", ("notify", "contacts_file")),
        ("MCU_SMTP_HOST", "mail", ("notify", "smtp_host")),
        ("MCU_NOTIFY_MAX_ATTEMPTS", "2", ("notify", "max_attempts")),
        ("MCU_WEB_PORT", "7000", ("web", "port")),
        ("MCU_STORE_READ_CONCURRENCY", "2", ("web", "store_read_concurrency")),
        ("MCU_APP_ID", "other", ("service", "app_id")),
    ],
)
def test_the_process_environment_reaches_its_section(
    variable: str, value: str, path: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    section, field = path
    got = getattr(getattr(Settings.load(), section), field)
    got = got.get_secret_value() if isinstance(got, SecretStr) else got
    assert str(got) == value or got == type(got)(value)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MCU_ROLES", "normalize,sinc", "MCU_ROLES: unknown role(s) ['sinc']"),
        ("MCU_LOG_LEVEL", "loud", "MCU_LOG_LEVEL: Input should be 'crit'"),
        ("MCU_SMTP_SECURITY", "ssl", "MCU_SMTP_SECURITY: Input should be 'none', 'starttls' or 'tls'"),
        ("MCU_OPEN311_SERVICE_TYPE", "sometimes", "MCU_OPEN311_SERVICE_TYPE: Input should be 'realtime' or 'batch'"),
        ("MCU_ENV", "staging", "MCU_ENV: Input should be 'production' or 'development'"),
        ("MCU_KAFKA_SECURITY_PROTOCOL", "TLS", "MCU_KAFKA_SECURITY_PROTOCOL: Input should be"),
        ("MCU_EVENTS_RATE_LIMIT", "lots", "MCU_EVENTS_RATE_LIMIT: 'lots' is not a rate limit"),
        ("MCU_INGEST_RATE_LIMIT", "fast", "MCU_INGEST_RATE_LIMIT: 'fast' is not a rate limit"),
        ("MCU_SINK_BATCH_SIZE", "0", "MCU_SINK_BATCH_SIZE: Input should be greater than or equal to 1"),
        ("MCU_NOTIFY_TELEGRAM_API_URLL", "x", "unknown setting(s): MCU_NOTIFY_TELEGRAM_API_URLL"),
    ],
)
def test_a_bad_choice_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_variables_in_several_sections_are_all_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCU_SMTP_PORT", "mail")
    monkeypatch.setenv("MCU_WEB_PORT", "0")
    with pytest.raises(SettingsError) as caught:
        Settings.load()
    assert "MCU_SMTP_PORT" in str(caught.value) and "MCU_WEB_PORT" in str(caught.value)


def test_roles() -> None:
    assert Settings.from_env(roles="all").service.roles == frozenset(Role)
    s = Settings.from_env(roles=" Sink , normalize", clickhouse_dsn="chdb:///tmp/store")
    assert s.service.roles == {Role.SINK, Role.NORMALIZE}
    assert s.owns_embedded_store
    assert not Settings.from_env(roles="enrich", clickhouse_dsn="chdb:///tmp/store").owns_embedded_store
    assert Settings.from_env(roles="enrich").owns_embedded_store  # a server: every worker may write


def test_one_bot_for_both_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCU_TELEGRAM_BOT_TOKEN", "1:intake")
    monkeypatch.setenv("MCU_TELEGRAM_API_URL", "http://bot-api.local")
    s = Settings.load()
    assert s.connectors.telegram_bot_token == s.notify.telegram_bot_token == SecretStr("1:intake")
    assert s.connectors.telegram_api_url == s.notify.telegram_api_url == "http://bot-api.local"


def test_intake_and_notifications_can_use_different_bots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCU_TELEGRAM_BOT_TOKEN", "1:intake")
    monkeypatch.setenv("MCU_NOTIFY_TELEGRAM_BOT_TOKEN", "2:notify")
    monkeypatch.setenv("MCU_NOTIFY_TELEGRAM_API_URL", "http://notify-api.local")
    s = Settings.load()
    assert s.connectors.telegram_bot_token == SecretStr("1:intake")
    assert s.notify.telegram_bot_token == SecretStr("2:notify")
    assert s.connectors.telegram_api_url == "https://api.telegram.org"
    assert s.notify.telegram_api_url == "http://notify-api.local"


def test_the_old_duplicate_api_url_variable_is_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCU_TELEGRAM_API_BASE", "http://old.local")
    assert Settings.load().notify.telegram_api_url == "http://old.local"


def test_every_field_is_described() -> None:
    missing = [
        f"{name}.{field}"
        for name, section in Settings.sections().items()
        for field, info in section.model_fields.items()
        if not (info.description or "").strip()
    ]
    assert missing == []


def test_readme_settings_table_is_current() -> None:
    readme = settings_doc.README.read_text(encoding="utf-8")
    assert settings_doc.with_table(readme) == readme, "stale: run python -m mcu.settings_doc --write"
    for variable in Settings.variables():
        assert f"`{variable}`" in readme, f"{variable} is missing from README.md"


def test_the_staleness_check_fails_on_a_stale_table() -> None:
    readme = settings_doc.README.read_text(encoding="utf-8")
    stale = readme.replace("`MCU_KAFKA_BROKERS`", "`MCU_KAFKA_BROKER`", 1)
    assert settings_doc.with_table(stale) != stale
