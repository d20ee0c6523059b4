"""Exchange adapters built on zenws.Client: :mod:`.deribit`, :mod:`.binance`."""
