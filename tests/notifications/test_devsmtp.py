"""The development mail catcher lists messages in arrival order, even many within a second
(the tests read "the newest message to X")."""

from __future__ import annotations

from pathlib import Path

from sikader_shared.testing.devsmtp import MailStore


def raw(subject: str) -> bytes:
    return f"From: a@example.org\r\nTo: b@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n".encode()


def test_messages_and_texts_come_back_in_arrival_order(tmp_path: Path) -> None:
    store = MailStore(tmp_path)
    subjects = [f"message {i:03d}" for i in range(200)]
    for subject in subjects:
        store.save(raw(subject))
        store.save_text("sms", {"text": subject})
    assert [m["Subject"] for m in store.messages()] == subjects
    assert [t["text"] for t in store.texts()] == subjects
    # A second store on the same directory (the HTTP page, a restarted catcher) keeps the order.
    later = MailStore(tmp_path)
    later.save(raw("after restart"))
    assert [m["Subject"] for m in later.messages()][-2:] == ["message 199", "after restart"]
