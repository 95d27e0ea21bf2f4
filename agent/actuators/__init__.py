"""Things an order can move: the engine relay and the door lock (:mod:`.base`, with ``gpio``
and ``sim`` backends in a plain dict registry), Wi-Fi networks (:mod:`.wifi`) and the box's
reboot (:mod:`.reboot`). Every backend has a simulated twin the vehicle simulator and the
tests read back. See docs/orders.md."""
