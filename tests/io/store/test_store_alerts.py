"""The alert firings decided, in the store: found after the store is opened again,
remembered once however often, and bounded, the oldest forgotten first."""

from __future__ import annotations

from pathlib import Path

from changeover.store import Store


def key(n: int, status: str = "firing") -> tuple[str, str, str]:
    return f"fp{n}", "2026-12-07T10:00:00Z", status


def test_a_firing_decided_is_known_after_a_restart_and_kept_bounded(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with Store.open(path) as store:
        assert not store.alert_seen(key(1))
        store.remember_alert(key(1), now=1.0, keep=3)
        store.remember_alert(key(1), now=2.0, keep=3)  # again: nothing changes
        assert store.alert_seen(key(1))
        assert not store.alert_seen(key(1, "resolved"))  # another firing
    with Store.open(path) as store:  # the agent restarted
        assert store.alert_seen(key(1))
        for n in (2, 3, 4):
            store.remember_alert(key(n), now=float(n), keep=3)
        assert [store.alert_seen(key(n)) for n in (1, 2, 3, 4)] == [False, True, True, True]
