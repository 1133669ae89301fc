"""The core: the parts that own runs (ledger, intake, admission, dispatch, recovery...)."""
