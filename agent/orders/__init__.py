"""Orders over MQTT (CONTRACT.md §4–5): the cloud changes a running vehicle, exactly once.

- :mod:`agent.orders.model`: typed order and status messages, parsing, signature, expiry;
- :mod:`agent.orders.keys`: the config keys a ``config`` order may change (the key table);
- :mod:`agent.orders.decide`: the pure decision (validate, wait, execute, reject, expire);
- :mod:`agent.orders.journal`: the SQLite journal (at most once) and the durable status queue;
- :mod:`agent.orders.link`: the MQTT link, the only module importing aiomqtt;
- :mod:`agent.orders.executor`: the component that ties them together through ports.

See docs/orders.md.
"""
