"""md and closed bars over NATS JetStream, for feeders and engines on different machines (optional).

Without a bus nothing here is imported and ``nats`` is not needed: the feeder calls the
engines in-process. With one, feeder nodes publish md per symbol and share the symbol
universe through leases, and engine hosts subscribe:

* :mod:`.subjects` — subject scheme ``md.mexc.spot.<BASE>_<QUOTE>``, ``bars.mexc.spot.…`` (pure)
* :mod:`.codec` — versioned wire formats ``md/1`` and ``bar/1`` (pure)
* :mod:`.connection` — NATS connection that survives restarts; the ``LEVIBOT_MD`` and
  ``LEVIBOT_BARS`` streams
* :mod:`.publisher` — ``BusPublisher``: the feeder's md callback and bar listener, never blocking
* :mod:`.subscriber` — ``BusSubscriber``, a feeder (md and bars) for ``EngineManager``
* :mod:`.leases` — symbol leases in the ``levibot_leases`` key-value bucket
* :mod:`.node` — ``FeederNode``: leases + dynamic feeder + publisher
* :mod:`.cli` — ``python -m backend.src.bus feed|engines``

This package's ``__init__`` imports none of them, so importing it (or :mod:`.cli`) does not
import ``nats``. Operating guide: ``docs/BUS.md``.
"""
