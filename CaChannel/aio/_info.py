"""What the running loop's channel cache holds: ``get_channel_infos``."""

from __future__ import annotations

from typing import List

from ._core import current_state


class ChannelInfo:
    """One cached channel: its name, whether connected, how many open
    subscriptions follow it."""

    __slots__ = ('name', 'connected', 'subscriber_count')

    def __init__(self, name: str, connected: bool, subscriber_count: int) -> None:
        self.name = name
        self.connected = connected
        self.subscriber_count = subscriber_count

    def __repr__(self) -> str:
        return 'ChannelInfo(%r, connected=%s, subscriber_count=%d)' % (
            self.name, self.connected, self.subscriber_count)


def get_channel_infos() -> List[ChannelInfo]:
    """The channels of the running loop's cache, in the order they were made."""
    from ._monitor import Subscription
    return [ChannelInfo(channel.name, channel.connected,
                        sum(1 for s in channel.subscriptions if s.state == Subscription.OPEN))
            for channel in current_state().channels.values()]
